// An interactive shell in a container (exec -it) for the Terminal tab: the
// terminal's bytes both ways, resize, and the exit code at the end.
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { SHELLS } from '../../common/desktop-api.js';
import { DesktopFailure } from '../errors.js';

export interface ExecSession {
  write(data: Buffer | string): void;
  resize(cols: number, rows: number): Promise<void>;
  close(): void;
}

export async function startExecSession(
  docker: Docker,
  id: string,
  opts: { shell: string; cols: number; rows: number },
  onOutput: (data: Buffer) => void,
  onExit: (code: number | null) => void,
): Promise<ExecSession> {
  if (!(SHELLS as readonly string[]).includes(opts.shell))
    throw new DesktopFailure(`shell must be one of ${SHELLS.join(', ')}`, 400);
  const exec = await docker.getContainer(id).exec({
    Cmd: [opts.shell],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    Env: ['TERM=xterm-256color'],
    // The size from the start, as the docker CLI sends it: a shell reads it at once.
    ConsoleSize: [opts.rows, opts.cols],
  } as Docker.ExecCreateOptions);
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as unknown as Duplex;
  await exec.resize({ h: opts.rows, w: opts.cols }).catch(() => undefined);
  stream.on('data', (d: Buffer) => onOutput(d));
  let done = false;
  const finished = () => {
    if (done) return;
    done = true;
    exec.inspect().then(
      (i) => onExit(i.ExitCode ?? null),
      () => onExit(null),
    );
  };
  stream.on('end', finished);
  stream.on('close', finished);
  stream.on('error', finished);
  return {
    write: (data) => {
      if (!done) stream.write(data);
    },
    resize: async (cols, rows) => {
      if (!done) await exec.resize({ h: rows, w: cols });
    },
    close: () => {
      done = true;
      stream.destroy();
    },
  };
}
