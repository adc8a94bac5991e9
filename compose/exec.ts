// `compose exec`: a command in a running container of a service.
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { joinStream, terminalSize, type StdIo } from './attached-io.js';
import { ComposeError } from './errors.js';
import type { Project } from './model.js';
import { projectContainers } from './project-containers.js';

export interface ExecOptions {
  service: string;
  command: string[];
  /** Which container of the service (default 1). */
  index?: number;
  tty: boolean;
  interactive: boolean;
  detach?: boolean;
  env?: string[];
  user?: string;
  workdir?: string;
  privileged?: boolean;
  io: StdIo;
}

/** The command's exit code. */
export async function execInService(docker: Dockerode, project: Project, o: ExecOptions): Promise<number> {
  if (!project.services[o.service]) throw new ComposeError(`no such service: ${o.service}`);
  const index = o.index ?? 1;
  const containers = await projectContainers(docker, project.name, { services: [o.service], oneoff: false });
  const target =
    containers.find((c) => c.number === index) ?? (o.index === undefined ? containers[0] : undefined);
  if (!target || target.state !== 'running') {
    throw new ComposeError(
      `service "${o.service}" is not running${o.index !== undefined ? ` (container number ${index})` : ''}`,
    );
  }
  const exec = await docker.getContainer(target.id).exec({
    Cmd: o.command,
    AttachStdin: o.interactive && !o.detach,
    AttachStdout: !o.detach,
    AttachStderr: !o.detach,
    Tty: o.tty,
    Env: o.env,
    User: o.user,
    WorkingDir: o.workdir,
    Privileged: o.privileged,
  });
  if (o.detach) {
    await exec.start({ Detach: true });
    return 0;
  }
  const stream = (await exec.start({ hijack: true, stdin: o.interactive, Tty: o.tty })) as Duplex;
  const size = o.tty ? terminalSize(o.io) : undefined;
  if (size) await exec.resize(size).catch(() => undefined);
  await joinStream(stream, o.io, o.tty, o.interactive);
  const info = await exec.inspect();
  return info.ExitCode ?? 0;
}
