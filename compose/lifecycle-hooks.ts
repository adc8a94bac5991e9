// post_start and pre_stop: commands Compose runs in a service's container, as
// execs, right after it starts and right before it is stopped. A hook that
// fails stops the command with its exit status and the end of its output.
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { ComposeError } from './errors.js';
import type { LifecycleHook } from './model.js';
import type { Progress } from './project-resources.js';
import { frameParser } from './stream-frames.js';

/** How much of a failing hook's output its error keeps. */
const TAIL_BYTES = 2048;

export async function runHooks(
  docker: Dockerode,
  containerId: string,
  containerName: string,
  which: 'post_start' | 'pre_stop',
  hooks: LifecycleHook[],
  progress?: Progress,
): Promise<void> {
  for (const hook of hooks) {
    const exec = await docker.getContainer(containerId).exec({
      Cmd: hook.command,
      User: hook.user,
      Privileged: hook.privileged,
      WorkingDir: hook.workingDir,
      Env: Object.entries(hook.environment).map(([k, v]) => `${k}=${v}`),
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
    const output: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    const parse = frameParser((s, data) => {
      output[s].push(data);
      for (const line of data.toString().split('\n').filter(Boolean))
        progress?.(`${containerName} -> ${line}`);
    });
    stream.on('data', parse);
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    const { ExitCode } = await exec.inspect();
    if (ExitCode !== 0) {
      // stderr usually says why; stdout is the fallback.
      const said = Buffer.concat(output.stderr.length ? output.stderr : output.stdout);
      const tail = said
        .subarray(Math.max(0, said.length - TAIL_BYTES))
        .toString()
        .trim();
      throw new ComposeError(
        `${which} hook of ${containerName} exited with status ${ExitCode}${tail ? `: ${tail}` : ''}`,
      );
    }
  }
}
