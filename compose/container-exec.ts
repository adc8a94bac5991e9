// Runs a command in a running container and collects its output and exit code
// (health probes, tests of what compose made).
import type Dockerode from 'dockerode';
import { frameParser } from './stream-frames.js';

export interface ExecCapture {
  exitCode: number | undefined;
  output: string;
  timedOut: boolean;
}

export async function execCapture(
  docker: Dockerode,
  containerId: string,
  cmd: string[],
  timeoutMs: number,
): Promise<ExecCapture> {
  const exec = await docker
    .getContainer(containerId)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const parse = frameParser((_s, data) => chunks.push(Buffer.from(data)));
  stream.on('data', (c: Buffer) => parse(c));
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    new Promise<boolean>((resolve) => {
      stream.on('end', () => resolve(true));
      stream.on('close', () => resolve(true));
      stream.on('error', () => resolve(true));
    }),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (!finished) {
    stream.destroy();
    return { exitCode: undefined, output: Buffer.concat(chunks).toString(), timedOut: true };
  }
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? undefined, output: Buffer.concat(chunks).toString(), timedOut: false };
}
