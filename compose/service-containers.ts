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
import { injectFileObjects } from './service-file-objects.js';
import { runHooks } from './lifecycle-hooks.js';
import type { Progress } from './project-resources.js';

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
  o.links = await links(docker, project, service);
  o.volumesFrom = await volumesFrom(docker, project, service);
  let container: Dockerode.Container;
  try {
    container = await docker.createContainer(containerCreateOptions(project, service, id, o));
  } catch (err) {
    throw new ComposeError(`creating container ${id.name}: ${engineMessage(err)}`);
  }
  try {
    await injectFileObjects(docker, project, service, container.id);
  } catch (err) {
    await removeContainer(docker, container.id, true);
    throw err;
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

/**
 * links: each container of the linked service under the alias, <service>-<n> and
 * <project>-<service>-<n>, as Compose links them; external_links as they are.
 */
async function links(docker: Dockerode, project: Project, service: Service): Promise<string[]> {
  const out: string[] = [];
  for (const link of service.links) {
    const [target, alias = target] = link.split(':');
    for (const c of await projectContainers(docker, project.name, { services: [target], oneoff: false })) {
      out.push(`${c.name}:${alias}`);
      if (c.number !== undefined)
        out.push(`${c.name}:${target}-${c.number}`, `${c.name}:${project.name}-${target}-${c.number}`);
    }
  }
  for (const link of service.externalLinks) out.push(link.includes(':') ? link : `${link}:${link}`);
  return out;
}

/** volumes_from: a service is its first container; container:<name> is that container. */
async function volumesFrom(docker: Dockerode, project: Project, service: Service): Promise<string[]> {
  const out: string[] = [];
  for (const spec of service.volumesFrom) {
    const parts = spec.split(':');
    if (parts[0] === 'container') {
      out.push(parts.slice(1).join(':'));
      continue;
    }
    const target = parts[0] === 'service' ? parts[1] : parts[0];
    const mode = parts[0] === 'service' ? parts.slice(2) : parts.slice(1);
    const [c] = await projectContainers(docker, project.name, { services: [target], oneoff: false });
    if (!c)
      throw new ComposeError(`volumes_from ${spec}: service ${target} has no container`, {
        key: `services.${service.name}.volumes_from`,
      });
    out.push([c.id, ...mode].join(':'));
  }
  return out;
}

/** undefined: the engine's choice, i.e. the container's own StopTimeout (set from stop_grace_period at create), else 10 s. */
export function stopSeconds(service: Service | undefined, override?: number): number | undefined {
  return override ?? service?.stopGracePeriod;
}

/** Starts a container, then runs the service's post_start hooks in it (not when it was already running). */
export async function startContainer(
  docker: Dockerode,
  id: string,
  name: string,
  service?: Service,
  progress?: Progress,
): Promise<void> {
  try {
    await docker.getContainer(id).start();
  } catch (err) {
    // 304: already running.
    if ((err as { statusCode?: number }).statusCode === 304) return;
    throw new ComposeError(`starting container ${name}: ${engineMessage(err)}`);
  }
  if (service?.postStart.length) await runHooks(docker, id, name, 'post_start', service.postStart, progress);
}

/** Stops a container; a running one first runs the service's pre_stop hooks. */
export async function stopContainer(
  docker: Dockerode,
  id: string,
  seconds: number | undefined,
  preStop?: { name: string; service: Service | undefined; progress?: Progress },
): Promise<void> {
  const hooks = preStop?.service?.preStop ?? [];
  if (hooks.length) {
    const running = await docker
      .getContainer(id)
      .inspect()
      .then((c) => c.State.Running && !c.State.Paused)
      .catch(() => false);
    if (running) await runHooks(docker, id, preStop!.name, 'pre_stop', hooks, preStop!.progress);
  }
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
