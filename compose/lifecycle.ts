// `compose stop|start|restart|rm` on a project's service containers. Start
// and stop go in dependency order (stop in reverse), as docker compose does.
import type Dockerode from 'dockerode';
import { startOrder } from './dependency-order.js';
import type { Project } from './model.js';
import { projectContainers, type ProjectContainer } from './project-containers.js';
import type { Progress } from './project-resources.js';
import { removeContainer, startContainer, stopContainer, stopSeconds } from './service-containers.js';

export interface LifecycleOptions {
  services?: string[];
  /** Seconds before the kill. */
  timeout?: number;
  progress: Progress;
}

function byOrder(project: Project, containers: ProjectContainer[]): ProjectContainer[] {
  const order = startOrder(project.services);
  const rank = (s: string) => (order.indexOf(s) < 0 ? order.length : order.indexOf(s));
  return [...containers].sort(
    (a, b) => rank(a.service) - rank(b.service) || (a.number ?? 0) - (b.number ?? 0),
  );
}

export async function stopServices(docker: Dockerode, project: Project, o: LifecycleOptions): Promise<void> {
  const containers = byOrder(
    project,
    await projectContainers(docker, project.name, { services: o.services, oneoff: false }),
  ).reverse();
  for (const c of containers) {
    if (c.state !== 'running' && c.state !== 'paused' && c.state !== 'restarting') continue;
    const service = project.services[c.service];
    await stopContainer(docker, c.id, stopSeconds(service, o.timeout), {
      name: c.name,
      service,
      progress: o.progress,
    });
    o.progress(`Container ${c.name}  Stopped`);
  }
}

export async function startServices(docker: Dockerode, project: Project, o: LifecycleOptions): Promise<void> {
  const containers = byOrder(
    project,
    await projectContainers(docker, project.name, { services: o.services, oneoff: false }),
  );
  if (containers.length === 0) throw new Error('no containers to start (run `berth compose up` first)');
  for (const c of containers) {
    if (c.state === 'running') continue;
    await startContainer(docker, c.id, c.name, project.services[c.service], o.progress);
    o.progress(`Container ${c.name}  Started`);
  }
}

export async function restartServices(
  docker: Dockerode,
  project: Project,
  o: LifecycleOptions,
): Promise<void> {
  const containers = byOrder(
    project,
    await projectContainers(docker, project.name, { services: o.services, oneoff: false }),
  );
  for (const c of containers) {
    const service = project.services[c.service];
    const t = stopSeconds(service, o.timeout);
    if (service?.preStop.length || service?.postStart.length) {
      // Hooks run around a restart as around a stop and a start.
      await stopContainer(docker, c.id, t, { name: c.name, service, progress: o.progress });
      await startContainer(docker, c.id, c.name, service, o.progress);
    } else await docker.getContainer(c.id).restart(t === undefined ? {} : { t });
    o.progress(`Container ${c.name}  Restarted`);
  }
}

export interface RemoveOptions extends LifecycleOptions {
  /** -s: stop running ones first; without it, running containers are left alone. */
  stop?: boolean;
  /** -v: their anonymous volumes too. */
  volumes?: boolean;
}

/** Removes stopped service containers; returns the names removed. */
export async function removeServiceContainers(
  docker: Dockerode,
  project: Project,
  o: RemoveOptions,
): Promise<string[]> {
  if (o.stop) await stopServices(docker, project, o);
  const containers = await projectContainers(docker, project.name, { services: o.services, oneoff: false });
  const removed: string[] = [];
  for (const c of containers) {
    if (c.state === 'running' || c.state === 'paused' || c.state === 'restarting') continue;
    await removeContainer(docker, c.id, o.volumes ?? false);
    o.progress(`Container ${c.name}  Removed`);
    removed.push(c.name);
  }
  return removed;
}
