// A service's secrets and configs in its containers, as Docker Compose puts
// them there without swarm: a file: one is bound read-only at its target; an
// environment: or content: one is written into the container (with its uid,
// gid and mode) after create, before the first start.
import { existsSync } from 'node:fs';
import type Dockerode from 'dockerode';
import { pack } from 'tar-stream';
import { ComposeError } from './errors.js';
import { engineMessage } from './engine-errors.js';
import type { FileObject, FileReference, Project, Service } from './model.js';

const KINDS = ['secrets', 'configs'] as const;
type Kind = (typeof KINDS)[number];
const singular = (kind: Kind) => kind.slice(0, -1);

function definition(project: Project, service: Service, kind: Kind, ref: FileReference): FileObject {
  const where = { key: `services.${service.name}.${kind}` };
  const def = project[kind][ref.source];
  if (def.external)
    throw new ComposeError(
      `unsupported external ${singular(kind)} ${ref.source}: external ${kind} live in a swarm; give it a file or environment`,
      where,
    );
  return def;
}

/** The read-only binds of file: secrets and configs (Engine API Mounts). */
export function fileObjectMounts(project: Project, service: Service): Record<string, unknown>[] {
  const mounts: Record<string, unknown>[] = [];
  for (const kind of KINDS) {
    for (const ref of service[kind]) {
      const def = definition(project, service, kind, ref);
      if (def.file === undefined) continue;
      if (!existsSync(def.file))
        throw new ComposeError(`${singular(kind)} "${ref.source}": file ${def.file} not found`, {
          key: `${kind}.${ref.source}.file`,
        });
      mounts.push({ Type: 'bind', Source: def.file, Target: ref.target, ReadOnly: true });
    }
  }
  return mounts;
}

/** Writes the environment: and content: secrets and configs into a created container. */
export async function injectFileObjects(
  docker: Dockerode,
  project: Project,
  service: Service,
  containerId: string,
): Promise<void> {
  for (const kind of KINDS) {
    for (const ref of service[kind]) {
      const def = definition(project, service, kind, ref);
      if (def.file !== undefined) continue;
      if (def.environment !== undefined && def.environmentValue === undefined)
        throw new ComposeError(
          `environment variable "${def.environment}" required by ${singular(kind)} "${ref.source}" is not set`,
        );
      if (service.readOnly)
        throw new ComposeError(
          `cannot create ${singular(kind)} "${ref.source}" in read-only service ${service.name}: \`file\` is the sole supported option`,
        );
      const content = Buffer.from(def.environmentValue ?? def.content ?? '');
      const archive = pack();
      archive.entry(
        {
          name: ref.target.replace(/^\/+/, ''),
          size: content.length,
          mode: ref.mode ?? 0o444,
          uid: Number(ref.uid ?? 0),
          gid: Number(ref.gid ?? 0),
          mtime: new Date(),
        },
        content,
      );
      archive.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of archive) chunks.push(chunk as Buffer);
      try {
        await docker.getContainer(containerId).putArchive(Buffer.concat(chunks), {
          path: '/',
          copyUIDGID: ref.uid !== undefined || ref.gid !== undefined,
        });
      } catch (err) {
        throw new ComposeError(
          `writing ${singular(kind)} "${ref.source}" to ${ref.target}: ${engineMessage(err)}`,
        );
      }
    }
  }
}
