// `compose up`: networks, volumes and images first, then each service in
// dependency order, converging its containers on the configuration: a
// container whose config hash (or image) changed is recreated, one that still
// matches is left alone (started if it was stopped), surplus numbers go.
import type Dockerode from 'dockerode';
import { withDependencies } from './dependency-order.js';
import { ComposeError } from './errors.js';
import { waitCompleted, waitHealthy, waitRunningOrHealthy } from './dependency-wait.js';
import { serviceConfigHash } from './labels.js';
import type { Project, PullPolicy, Service } from './model.js';
import { projectContainers, serviceContainerName, type ProjectContainer } from './project-containers.js';
import { ensureNetworks, ensureVolumes, type Progress } from './project-resources.js';
import { ensureImages } from './service-images.js';
import {
  createServiceContainer,
  removeContainer,
  startContainer,
  stopContainer,
  stopSeconds,
} from './service-containers.js';

export interface UpOptions {
  /** Only these services (and, unless noDeps, what they depend on). */
  services?: string[];
  forceRecreate?: boolean;
  noDeps?: boolean;
  /** --scale svc=N. */
  scale?: Record<string, number>;
  /** Remove containers of services the files no longer have (otherwise they are only reported). */
  removeOrphans?: boolean;
  /** --build: build images even when they exist. */
  build?: boolean;
  /** --no-build: never build; a service whose image is missing is an error. */
  noBuild?: boolean;
  /** --pull: a pull policy for every service, over their pull_policy. */
  pull?: PullPolicy;
  /** --wait: return once every container runs (and is healthy where it has a healthcheck). */
  wait?: boolean;
  /** --wait-timeout, seconds: give up waiting after this long. */
  waitTimeout?: number;
  progress: Progress;
  /** The builder's output, when up builds. */
  buildOutput?: (text: string) => void;
}

export async function up(docker: Dockerode, project: Project, o: UpOptions): Promise<ProjectContainer[]> {
  const order = withDependencies(project.services, o.services ?? [], o.noDeps ?? false);
  for (const name of Object.keys(o.scale ?? {})) {
    if (!project.services[name]) throw new Error(`--scale: no such service: ${name}`);
  }
  const services = order.map((n) => project.services[n]);
  await ensureNetworks(docker, project, services, o.progress);
  await ensureVolumes(docker, project, services, o.progress);
  const imageIds = await ensureImages(docker, project, services, {
    build: o.build,
    noBuild: o.noBuild,
    pullPolicy: o.pull,
    progress: o.progress,
    output: o.buildOutput,
  });
  await handleOrphans(docker, project, o);
  const started = new Set<string>();
  for (const service of services) {
    if (!o.noDeps) await waitForDependencies(docker, project, service, started, o.progress);
    const scale = o.scale?.[service.name] ?? service.scale ?? 1;
    await converge(docker, project, service, scale, imageIds.get(service.image) as string, o);
    started.add(service.name);
  }
  const containers = await projectContainers(docker, project.name, { services: order, oneoff: false });
  if (o.wait) {
    const waits = Promise.all(
      containers.map(async (c) => {
        o.progress(`Container ${c.name}  Waiting`);
        const reached = await waitRunningOrHealthy(docker, c.id, c.name);
        o.progress(`Container ${c.name}  ${reached === 'healthy' ? 'Healthy' : 'Running'}`);
      }),
    );
    if (o.waitTimeout === undefined) await waits;
    else await withTimeout(waits, o.waitTimeout);
  }
  return containers;
}

async function withTimeout(p: Promise<unknown>, seconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ComposeError(`the services were not running and healthy within --wait-timeout ${seconds} s`),
        ),
      seconds * 1000,
    );
  });
  try {
    await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function handleOrphans(docker: Dockerode, project: Project, o: UpOptions): Promise<void> {
  const orphans = (await projectContainers(docker, project.name, { oneoff: false })).filter(
    (c) => !project.services[c.service] && !project.disabledServices.includes(c.service),
  );
  if (orphans.length === 0) return;
  if (!o.removeOrphans) {
    o.progress(
      `Found orphan containers (${orphans.map((c) => c.name).join(', ')}) for this project; if you removed or renamed their service, run up with --remove-orphans to clean them up`,
    );
    return;
  }
  for (const c of orphans) {
    await stopContainer(docker, c.id, stopSeconds(undefined));
    await removeContainer(docker, c.id, false);
    o.progress(`Container ${c.name}  Removed`);
  }
}

async function converge(
  docker: Dockerode,
  project: Project,
  service: Service,
  scale: number,
  imageId: string,
  o: UpOptions,
): Promise<void> {
  const configHash = serviceConfigHash(service);
  const existing = await projectContainers(docker, project.name, { services: [service.name], oneoff: false });
  for (const c of existing) {
    if (c.number === undefined || c.number > scale) {
      await stopContainer(docker, c.id, stopSeconds(service), {
        name: c.name,
        service,
        progress: o.progress,
      });
      await removeContainer(docker, c.id, false);
      o.progress(`Container ${c.name}  Removed`);
    }
  }
  if (scale > 1 && service.containerName) {
    throw new Error(
      `service ${service.name} has container_name ${service.containerName}, so it cannot be scaled to ${scale}`,
    );
  }
  for (let n = 1; n <= scale; n++) {
    const name = service.containerName ?? serviceContainerName(project.name, service.name, n);
    let current = existing.find((c) => c.number === n);
    const stale =
      current && (o.forceRecreate || current.configHash !== configHash || current.imageId !== imageId);
    if (current && stale) {
      await stopContainer(docker, current.id, stopSeconds(service), {
        name,
        service,
        progress: o.progress,
      });
      await removeContainer(docker, current.id, false);
      current = undefined;
      o.progress(`Container ${name}  Recreate`);
    }
    if (!current) {
      const created = await createServiceContainer(docker, project, service, {
        name,
        number: n,
        oneoff: false,
        configHash,
        imageId,
      });
      o.progress(`Container ${name}  ${stale ? 'Recreated' : 'Created'}`);
      await startContainer(docker, created.id, name, service, o.progress);
      o.progress(`Container ${name}  Started`);
    } else if (current.state !== 'running') {
      await startContainer(docker, current.id, name, service, o.progress);
      o.progress(`Container ${name}  Started`);
    } else {
      o.progress(`Container ${name}  Running`);
    }
  }
}

async function waitForDependencies(
  docker: Dockerode,
  project: Project,
  service: Service,
  started: Set<string>,
  progress: Progress,
): Promise<void> {
  for (const [dep, d] of Object.entries(service.dependsOn)) {
    if (d.condition === 'service_started') continue;
    const containers = await projectContainers(docker, project.name, { services: [dep], oneoff: false });
    if (containers.length === 0) {
      if (!d.required || !started.has(dep)) continue;
    }
    for (const c of containers) {
      progress(`Container ${c.name}  Waiting`);
      if (d.condition === 'service_healthy') {
        await waitHealthy(docker, c.id, c.name);
        progress(`Container ${c.name}  Healthy`);
      } else {
        await waitCompleted(docker, c.id, c.name);
        progress(`Container ${c.name}  Exited`);
      }
    }
  }
}
