// `compose run`: a one-off container of a service, with its own command and
// `-e` variables over the service's (the top of the precedence list).
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { joinStream, terminalSize, type StdIo } from './attached-io.js';
import { ComposeError } from './errors.js';
import { serviceConfigHash } from './labels.js';
import type { Project } from './model.js';
import { ensureNetworks, ensureVolumes, type Progress } from './project-resources.js';
import { ensureImages } from './service-images.js';
import { createServiceContainer, removeContainer, startContainer } from './service-containers.js';
import { withRunOverrides } from './service-environment.js';
import { up } from './up.js';

export interface RunOptions {
  service: string;
  command?: string[];
  /** -e K=V or -e K (from the shell). */
  env: string[];
  rm: boolean;
  detach: boolean;
  tty: boolean;
  interactive: boolean;
  noDeps: boolean;
  name?: string;
  user?: string;
  workdir?: string;
  entrypoint?: string[];
  /** --service-ports: publish the service's ports (run leaves them out otherwise). */
  servicePorts?: boolean;
  /** --build: build the service's image first, even when it exists. */
  build?: boolean;
  shellEnv: NodeJS.ProcessEnv;
  io: StdIo;
  progress: Progress;
}

/**
 * POST /containers/{id}/attach, upgraded to a raw stream. Not dockerode's
 * container.attach: it also sends its options as a JSON body, which Berth's
 * engine hands to the container's stdin like any other byte after the headers
 * (a shell then reads `{"stream":true,…}` as typed input).
 */
function attachHijacked(docker: Dockerode, id: string, stdin: boolean): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/containers/${id}/attach?`,
        method: 'POST',
        isStream: true,
        hijack: true,
        openStdin: stdin,
        statusCodes: { 101: true, 200: true, 404: 'no such container', 500: 'server error' },
        options: { stream: true, stdin, stdout: true, stderr: true },
        // An empty body instead of the options as JSON: written, it also sends the request's
        // headers at once (Node holds them back until the first write, and stdin may be quiet).
        file: Buffer.alloc(0),
      },
      (err: unknown, stream: unknown) => (err ? reject(err) : resolve(stream as Duplex)),
    );
  });
}

/** The container's exit code (0 with detach, after printing its id). */
export async function runOneOff(docker: Dockerode, project: Project, o: RunOptions): Promise<number> {
  const service = project.services[o.service];
  if (!service) throw new ComposeError(`no such service: ${o.service}`);
  const deps = Object.keys(service.dependsOn);
  if (!o.noDeps && deps.length > 0) await up(docker, project, { services: deps, progress: o.progress });
  await ensureNetworks(docker, project, [service], o.progress);
  await ensureVolumes(docker, project, [service], o.progress);
  const imageId = (
    await ensureImages(docker, project, [service], { build: o.build, progress: o.progress })
  ).get(service.image) as string;
  const slug = randomBytes(32).toString('hex');
  const name = o.name ?? `${project.name}-${service.name}-run-${slug.slice(0, 12)}`;
  const container = await createServiceContainer(
    docker,
    project,
    service,
    { name, oneoff: true, slug, configHash: serviceConfigHash(service), imageId },
    {
      command: o.command?.length ? o.command : undefined,
      entrypoint: o.entrypoint,
      environment: withRunOverrides(service.environment, o.env, o.shellEnv),
      user: o.user,
      workingDir: o.workdir,
      tty: o.tty,
      stdinOpen: o.interactive,
      publishPorts: o.servicePorts ?? false,
    },
  );
  if (o.detach) {
    await startContainer(docker, container.id, name);
    o.io.stdout.write(`${name}\n`);
    return 0;
  }
  try {
    const stream = await attachHijacked(docker, container.id, o.interactive);
    const output = joinStream(stream, o.io, o.tty, o.interactive);
    // next-exit: the default (not-running) would answer at once for a container not started yet.
    const exited = container.wait({ condition: 'next-exit' }) as Promise<{ StatusCode: number }>;
    await startContainer(docker, container.id, name);
    const size = o.tty ? terminalSize(o.io) : undefined;
    if (size) await container.resize(size).catch(() => undefined);
    const { StatusCode } = await exited;
    // The last output may still be on its way when wait answers.
    await Promise.race([output, new Promise((r) => setTimeout(r, 2000))]);
    return StatusCode;
  } finally {
    if (o.rm) await removeContainer(docker, container.id, true);
  }
}
