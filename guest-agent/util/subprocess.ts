// The one way the engine runs external programs, with the command line logged
// at debug level so that `--log-level debug` shows every exec: short commands
// through node's child_process, long-running children through execa.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { execa, type ResultPromise, type Options } from 'execa';
import { log } from './logger.js';

export interface RunOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Resolve with the exit code instead of throwing on failure. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(`${command}: ${stderr.trim() || `exited with code ${exitCode}`}`);
  }
}

/**
 * Run a command to completion and capture its output. Short commands are on
 * the hot path of `docker run` (mount, umount, ip …): a bare child_process
 * spawn costs ~6 ms less per call than execa here, so this one uses it.
 */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = [file, ...args].join(' ');
  log.debug('exec', { cmd: command });
  return new Promise((resolve, reject) => {
    const env = opts.env
      ? Object.fromEntries(
          Object.entries({ ...process.env, ...opts.env }).filter(([, v]) => v !== undefined) as [
            string,
            string,
          ][],
        )
      : process.env;
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => stdout.push(c));
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? `${file}: command not found` : err.message;
      if (opts.allowFailure) resolve({ stdout: '', stderr: why, exitCode: 127 });
      else reject(new CommandError(command, undefined, why));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        exitCode: timedOut ? 124 : (code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)),
      };
      if (result.exitCode !== 0 && !opts.allowFailure) {
        reject(new CommandError(command, result.exitCode, result.stderr || (timedOut ? 'timed out' : '')));
      } else resolve(result);
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // a command that exits without reading its input
      child.stdin!.end(opts.input);
    }
  });
}

/**
 * Start a long-running child on the hot path (a container's `runc run`) with
 * plain child_process (execa adds ~6 ms a call). Attach readers to its output
 * in the same tick: node discards what is unread when the child exits.
 */
export function spawnChild(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; stdio: StdioOptions },
): ChildProcess {
  log.debug('spawn', { cmd: [file, ...args].join(' ') });
  return spawn(file, args, { cwd: opts.cwd, stdio: opts.stdio });
}

/**
 * Start a long-running child (an external decompressor) with custom stdio.
 * With `buffer: false`, execa resumes an unread stdout/stderr one tick after
 * spawn: attach consumers (or pipe them) synchronously, or output is lost.
 */
export function spawnProcess(file: string, args: readonly string[], options: Options = {}): ResultPromise {
  log.debug('spawn', { cmd: [file, ...args].join(' ') });
  return execa(file, args, { reject: false, buffer: false, ...options });
}
