// `compose down`: the project's containers (one-off ones too), then its
// networks, with --rmi the services' images, and with -v its named volumes
// and the containers' anonymous ones.
import type Dockerode from 'dockerode';
import { engineMessage, statusOf, unlessNotFound } from './engine-errors.js';
import { LABEL } from './labels.js';
import type { Project } from './model.js';
import { projectContainers } from './project-containers.js';
import type { Progress } from './project-resources.js';
import { removeContainer, stopContainer, stopSeconds } from './service-containers.js';

export interface DownOptions {
  volumes?: boolean;
  /** --rmi: all the services' images, or only the project's own (built without an image: name). */
  rmi?: 'all' | 'local';
  /** Seconds to wait for a stop before the kill; default each service's stop_grace_period. */
  timeout?: number;
  progress: Progress;
}

export async function down(docker: Dockerode, project: Project, o: DownOptions): Promise<void> {
  const containers = await projectContainers(docker, project.name);
  await Promise.all(
    containers.map(async (c) => {
      if (c.state === 'running' || c.state === 'paused' || c.state === 'restarting') {
        const service = project.services[c.service];
        await stopContainer(docker, c.id, stopSeconds(service, o.timeout), {
          name: c.name,
          service,
          progress: o.progress,
        });
        o.progress(`Container ${c.name}  Stopped`);
      }
      await removeContainer(docker, c.id, o.volumes ?? false);
      o.progress(`Container ${c.name}  Removed`);
    }),
  );
  // The file's networks, and any other network labelled as this project's (made by another compose).
  const byLabel = await docker.listNetworks({
    filters: JSON.stringify({ label: [`${LABEL.project}=${project.name}`] }),
  });
  const networks = new Set([
    ...Object.values(project.networks)
      .filter((n) => !n.external)
      .map((n) => n.name),
    ...byLabel.map((n) => n.Name),
  ]);
  for (const name of [...networks].sort()) {
    const net = await unlessNotFound(docker.getNetwork(name).inspect());
    if (!net) continue;
    await docker.getNetwork(name).remove();
    o.progress(`Network ${name}  Removed`);
  }
  if (o.rmi) await removeImages(docker, project, o.rmi, o.progress);
  if (!o.volumes) return;
  const labelled = await docker.listVolumes({
    filters: JSON.stringify({ label: [`${LABEL.project}=${project.name}`] }),
  });
  const volumes = new Set([
    ...Object.values(project.volumes)
      .filter((v) => !v.external)
      .map((v) => v.name),
    ...(labelled.Volumes ?? []).map((v) => v.Name),
  ]);
  for (const name of [...volumes].sort()) {
    const vol = await unlessNotFound(docker.getVolume(name).inspect());
    if (!vol) continue;
    await docker.getVolume(name).remove();
    o.progress(`Volume ${name}  Removed`);
  }
}

async function removeImages(
  docker: Dockerode,
  project: Project,
  which: 'all' | 'local',
  progress: Progress,
): Promise<void> {
  const images = new Set(
    Object.values(project.services)
      .filter((s) => which === 'all' || (s.build && !s.build.imageNamed))
      .map((s) => s.image),
  );
  for (const image of [...images].sort()) {
    try {
      await docker.getImage(image).remove();
      progress(`Image ${image}  Removed`);
    } catch (err) {
      if (statusOf(err) === 404) continue;
      // In use by a container of another project, say: down goes on, as docker compose does.
      progress(`Image ${image}  Not removed: ${engineMessage(err)}`);
    }
  }
}
