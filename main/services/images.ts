// Images: list, history, remove, prune, and running a container from one.
import type Docker from 'dockerode';
import type { ImageHistoryRow, ImageRow, RunRequest } from '../../common/desktop-api.js';
import { DesktopFailure } from '../errors.js';
import { splitCommandLine } from './run-line.js';

export class ImagesService {
  constructor(private readonly docker: Docker) {}

  async list(): Promise<ImageRow[]> {
    const [images, containers] = await Promise.all([
      this.docker.listImages({ all: false }),
      this.docker.listContainers({ all: true }),
    ]);
    const uses = new Map<string, number>();
    for (const c of containers) uses.set(c.ImageID, (uses.get(c.ImageID) ?? 0) + 1);
    return images
      .map((i) => ({
        id: i.Id,
        tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
        size: i.Size,
        created: i.Created,
        containers: uses.get(i.Id) ?? 0,
      }))
      .sort((a, b) => b.created - a.created);
  }

  async history(id: string): Promise<ImageHistoryRow[]> {
    const h = (await this.docker.getImage(id).history()) as Array<{
      Id: string;
      Created: number;
      CreatedBy: string;
      Size: number;
      Comment: string;
    }>;
    return h.map((r) => ({
      id: r.Id,
      created: r.Created,
      createdBy: r.CreatedBy,
      size: r.Size,
      comment: r.Comment,
    }));
  }

  async remove(id: string, force = false): Promise<void> {
    await this.docker.getImage(id).remove({ force });
  }

  async prune(all = false): Promise<{ deleted: number; spaceReclaimed: number }> {
    const r = await this.docker.pruneImages(all ? { filters: { dangling: { false: true } } } : {});
    return { deleted: r.ImagesDeleted?.length ?? 0, spaceReclaimed: r.SpaceReclaimed ?? 0 };
  }

  /** docker run -d from the run dialog: create, then start. */
  async run(req: RunRequest): Promise<{ id: string }> {
    const fields = validateRunRequest(req);
    if (Object.keys(fields).length > 0)
      throw new DesktopFailure('the run settings are not valid', 400, fields);
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostPort: string }>> = {};
    for (const p of req.ports) {
      const key = `${p.containerPort}/${p.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostPort: p.hostPort ? String(p.hostPort) : '' });
    }
    const cmd = req.command?.trim() ? splitCommandLine(req.command) : undefined;
    const c = await this.docker.createContainer({
      name: req.name?.trim() || undefined,
      Image: req.image,
      Cmd: cmd,
      Env: req.env.map((e) => `${e.key}=${e.value}`),
      ExposedPorts: exposed,
      HostConfig: {
        PortBindings: bindings,
        Binds: req.volumes.map((v) => `${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`),
      },
    });
    await c.start();
    return { id: c.id };
  }
}

/** The run dialog's rules; the same messages show beside the fields. */
export function validateRunRequest(req: RunRequest): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!req.image?.trim()) fields.image = 'an image is needed';
  if (req.name && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(req.name.trim()))
    fields.name = 'letters, digits, _ . - only, starting with a letter or digit';
  req.ports.forEach((p, i) => {
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535)
      fields[`ports.${i}.containerPort`] = 'a port from 1 to 65535';
    if (p.hostPort !== undefined && (!Number.isInteger(p.hostPort) || p.hostPort < 1 || p.hostPort > 65535))
      fields[`ports.${i}.hostPort`] = 'a port from 1 to 65535, or empty for any';
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') fields[`ports.${i}.protocol`] = 'tcp or udp';
  });
  req.env.forEach((e, i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(e.key))
      fields[`env.${i}.key`] = 'a variable name (letters, digits, _)';
  });
  req.volumes.forEach((v, i) => {
    if (!v.source) fields[`volumes.${i}.source`] = 'a host path or a volume name';
    if (!v.target.startsWith('/')) fields[`volumes.${i}.target`] = 'an absolute path in the container';
  });
  if (req.command) {
    try {
      splitCommandLine(req.command);
    } catch (err) {
      fields.command = (err as Error).message;
    }
  }
  return fields;
}
