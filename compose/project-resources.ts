// The networks and volumes a project's services need, made before any
// container is created (images: service-images.ts).
import type Dockerode from 'dockerode';
import { ComposeError } from './errors.js';
import { unlessNotFound } from './engine-errors.js';
import { COMPOSE_LABEL_VERSION, LABEL } from './labels.js';
import type { Project, Service } from './model.js';

export type Progress = (line: string) => void;

export async function ensureNetworks(
  docker: Dockerode,
  project: Project,
  services: Service[],
  progress: Progress,
): Promise<void> {
  const used = new Set(services.flatMap((s) => Object.keys(s.networks)));
  for (const key of [...used].sort()) {
    const net = project.networks[key];
    const existing = await unlessNotFound(docker.getNetwork(net.name).inspect());
    if (existing) continue;
    if (net.external)
      throw new ComposeError(
        `external network "${net.name}" not found; create it first (docker network create ${net.name})`,
        { key: `networks.${key}` },
      );
    await docker.createNetwork({
      Name: net.name,
      Driver: net.driver ?? 'bridge',
      Options: net.driverOpts,
      Internal: net.internal,
      Attachable: net.attachable,
      EnableIPv6: net.enableIpv6,
      ...(net.ipam ? { IPAM: net.ipam } : {}),
      CheckDuplicate: true,
      Labels: {
        ...net.labels,
        [LABEL.project]: project.name,
        [LABEL.network]: key,
        [LABEL.version]: COMPOSE_LABEL_VERSION,
      },
    });
    progress(`Network ${net.name}  Created`);
  }
}

export async function ensureVolumes(
  docker: Dockerode,
  project: Project,
  services: Service[],
  progress: Progress,
): Promise<void> {
  const used = new Set(
    services.flatMap((s) =>
      s.volumes.filter((v) => v.type === 'volume' && v.source).map((v) => v.source as string),
    ),
  );
  for (const key of [...used].sort()) {
    const vol = project.volumes[key];
    const existing = await unlessNotFound(docker.getVolume(vol.name).inspect());
    if (existing) continue;
    if (vol.external)
      throw new ComposeError(
        `external volume "${vol.name}" not found; create it first (docker volume create ${vol.name})`,
        { key: `volumes.${key}` },
      );
    await docker.createVolume({
      Name: vol.name,
      Driver: vol.driver ?? 'local',
      DriverOpts: vol.driverOpts,
      Labels: {
        ...vol.labels,
        [LABEL.project]: project.name,
        [LABEL.volume]: key,
        [LABEL.version]: COMPOSE_LABEL_VERSION,
      },
    });
    progress(`Volume ${vol.name}  Created`);
  }
}
