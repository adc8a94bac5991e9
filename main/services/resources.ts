// Volumes, networks and compose projects: lists and the few actions on them.
import type Docker from 'dockerode';
import type { ComposeProjectRow, NetworkRow, VolumeRow } from '../../common/desktop-api.js';
import { existsSync } from 'node:fs';
import { loadProject, up } from '../../compose/index.js';
import { DesktopFailure } from '../errors.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './container-rows.js';

const COMPOSE_CONFIG_FILES_LABEL = 'com.docker.compose.project.config_files';
const COMPOSE_WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir';

export class VolumesService {
  constructor(private readonly docker: Docker) {}

  async list(): Promise<VolumeRow[]> {
    const [vols, containers, df] = await Promise.all([
      this.docker.listVolumes(),
      this.docker.listContainers({ all: true }),
      this.docker.df().catch(() => undefined) as Promise<
        { Volumes?: Array<{ Name: string; UsageData?: { Size: number } }> } | undefined
      >,
    ]);
    const sizes = new Map((df?.Volumes ?? []).map((v) => [v.Name, v.UsageData?.Size]));
    return (vols.Volumes ?? [])
      .map((v) => ({
        name: v.Name,
        driver: v.Driver,
        mountpoint: v.Mountpoint,
        createdAt: (v as { CreatedAt?: string }).CreatedAt,
        size: sizes.get(v.Name) !== undefined && sizes.get(v.Name)! >= 0 ? sizes.get(v.Name) : undefined,
        usedBy: containers
          .filter((c) => (c.Mounts ?? []).some((m) => m.Type === 'volume' && m.Name === v.Name))
          .map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)),
        mountedAt: containers.flatMap((c) =>
          (c.Mounts ?? [])
            .filter((m) => m.Type === 'volume' && m.Name === v.Name)
            .map((m) => ({
              containerId: c.Id,
              container: c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12),
              destination: m.Destination,
            })),
        ),
        labels: v.Labels ?? {},
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async create(name: string): Promise<void> {
    await this.docker.createVolume({ Name: name });
  }
  async remove(name: string): Promise<void> {
    await this.docker.getVolume(name).remove();
  }
  async prune(): Promise<{ deleted: number; spaceReclaimed: number }> {
    const r = await this.docker.pruneVolumes();
    return { deleted: r.VolumesDeleted?.length ?? 0, spaceReclaimed: r.SpaceReclaimed ?? 0 };
  }
}

export class NetworksService {
  constructor(private readonly docker: Docker) {}

  async list(): Promise<NetworkRow[]> {
    const nets = await this.docker.listNetworks();
    // The list leaves Containers out; inspect each for who is attached.
    const detailed = await Promise.all(
      nets.map(
        (n) =>
          this.docker
            .getNetwork(n.Id)
            .inspect()
            .catch(() => n) as Promise<Docker.NetworkInspectInfo>,
      ),
    );
    return detailed
      .map((n) => ({
        id: n.Id,
        name: n.Name,
        driver: n.Driver,
        scope: n.Scope,
        internal: Boolean(n.Internal),
        subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter(Boolean),
        gateways: (n.IPAM?.Config ?? []).map((c) => c.Gateway ?? '').filter(Boolean),
        containers: Object.values(n.Containers ?? {}).map((c) => c.Name),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async create(name: string): Promise<void> {
    await this.docker.createNetwork({ Name: name });
  }
  async remove(id: string): Promise<void> {
    await this.docker.getNetwork(id).remove();
  }
}

export class ComposeService {
  constructor(private readonly docker: Docker) {}

  private async containersOf(project?: string): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({
      all: true,
      filters: { label: [project ? `${COMPOSE_PROJECT_LABEL}=${project}` : COMPOSE_PROJECT_LABEL] },
    });
  }

  async list(): Promise<ComposeProjectRow[]> {
    const byProject = new Map<string, ComposeProjectRow>();
    for (const c of await this.containersOf()) {
      const name = c.Labels[COMPOSE_PROJECT_LABEL];
      const row = byProject.get(name) ?? {
        name,
        services: [],
        running: 0,
        total: 0,
        workingDir: c.Labels[COMPOSE_WORKING_DIR_LABEL],
        configFiles: c.Labels[COMPOSE_CONFIG_FILES_LABEL],
      };
      const service = c.Labels[COMPOSE_SERVICE_LABEL];
      if (service && !row.services.includes(service)) row.services.push(service);
      row.total++;
      if (c.State === 'running') row.running++;
      byProject.set(name, row);
    }
    return [...byProject.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * up: `compose up -d` from the project's files when they are still where its
   * containers' labels say (a removed service comes back, a changed one is
   * recreated), else a start of what is there. start, stop, restart, down
   * (containers and the project's networks) work from the labels alone.
   */
  async action(project: string, action: 'up' | 'start' | 'stop' | 'restart' | 'down'): Promise<void> {
    const containers = await this.containersOf(project);
    if (containers.length === 0) throw new DesktopFailure(`no compose project named ${project}`, 404);
    if (action === 'up') {
      const labels = containers[0].Labels;
      const files = (labels[COMPOSE_CONFIG_FILES_LABEL] ?? '').split(',').filter(Boolean);
      if (files.length > 0 && files.every((f) => existsSync(f))) {
        const loaded = loadProject({
          files,
          projectName: project,
          projectDir: labels[COMPOSE_WORKING_DIR_LABEL] || undefined,
          cwd: labels[COMPOSE_WORKING_DIR_LABEL] || undefined,
        });
        await up(this.docker, loaded, { progress: () => undefined });
        return;
      }
      action = 'start';
    }
    const verb = action;
    await Promise.all(
      containers.map(async (c) => {
        const ct = this.docker.getContainer(c.Id);
        if (verb === 'start' && c.State !== 'running') await ct.start();
        else if (verb === 'stop' && c.State === 'running') await ct.stop();
        else if (verb === 'restart') await ct.restart();
        else if (verb === 'down') await ct.remove({ force: true });
      }),
    );
    if (verb === 'down') {
      const nets = await this.docker.listNetworks({
        filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] },
      });
      await Promise.all(
        nets.map((n) =>
          this.docker
            .getNetwork(n.Id)
            .remove()
            .catch(() => undefined),
        ),
      );
    }
  }
}
