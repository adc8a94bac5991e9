// Creating, starting and taking away one service's containers.
import type Dockerode from 'dockerode';
import {
  containerCreateOptions,
  endpointConfig,
  serviceNetworkOrder,
  type ContainerIdentity,
  type CreateOverrides,
} from './container-config.js';
import { ComposeError } from './errors.js';
import { engineMessage } from './engine-errors.js';
import type { Project, Service } from './model.js';
import { projectContainers } from './project-containers.js';

export async function createServiceContainer(
  docker: Dockerode,
  project: Project,
  service: Service,
  id: ContainerIdentity,
  overrides: CreateOverrides = {},
): Promise<Dockerode.Container> {
  const o = { ...overrides };
  // network_mode, pid and ipc of "service:<name>": the namespace of that service's container.
  const containerOf = async (key: string, mode: string | undefined): Promise<string | undefined> => {
    if (!mode?.startsWith('service:')) return undefined;
    const target = mode.slice('service:'.length);
    const [c] = await projectContainers(docker, project.name, { services: [target], oneoff: false });
    if (!c)
      throw new ComposeError(`${key} service:${target}: service ${target} has no container`, {
        key: `services.${service.name}.${key}`,
      });
    return c.id;
  };
  o.networkModeContainer = (await containerOf('network_mode', service.networkMode)) ?? o.networkModeContainer;
  o.pidModeContainer = await containerOf('pid', service.pid);
  o.ipcModeContainer = await containerOf('ipc', service.ipc);
  let container: Dockerode.Container;
  try {
    container = await docker.createContainer(containerCreateOptions(project, service, id, o));
  } catch (err) {
    throw new ComposeError(`creating container ${id.name}: ${engineMessage(err)}`);
  }
  // The create body carries the first network; the others are connected one by one.
  if (!service.networkMode) {
    for (const key of serviceNetworkOrder(service).slice(1)) {
      await docker
        .getNetwork(project.networks[key].name)
        .connect({ Container: container.id, EndpointConfig: endpointConfig(service, key) });
    }
  }
  return container;
}

/** undefined: the engine's choice, i.e. the container's own StopTimeout (set from stop_grace_period at create), else 10 s. */
export function stopSeconds(service: Service | undefined, override?: number): number | undefined {
  return override ?? service?.stopGracePeriod;
}

export async function startContainer(docker: Dockerode, id: string, name: string): Promise<void> {
  try {
    await docker.getContainer(id).start();
  } catch (err) {
    // 304: already running.
    if ((err as { statusCode?: number }).statusCode === 304) return;
    throw new ComposeError(`starting container ${name}: ${engineMessage(err)}`);
  }
}

export async function stopContainer(
  docker: Dockerode,
  id: string,
  seconds: number | undefined,
): Promise<void> {
  try {
    await docker.getContainer(id).stop(seconds === undefined ? {} : { t: seconds });
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode;
    if (code !== 304 && code !== 404) throw err;
  }
}

export async function removeContainer(docker: Dockerode, id: string, volumes: boolean): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: volumes });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
}
