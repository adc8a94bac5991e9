// The one way the engine runs external programs: execa, with the command line
// logged at debug level so that `--log-level debug` shows every exec.
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

/** Run a command to completion and capture its output. */
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  log.debug('exec', { cmd: [file, ...args].join(' ') });
  const result = await execa(file, args, {
    input: opts.input,
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    reject: false,
    timeout: opts.timeoutMs,
    stripFinalNewline: false,
  });
  const out: RunResult = {
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    exitCode: result.exitCode ?? (result.timedOut ? 124 : 1),
  };
  if (out.exitCode !== 0 && !opts.allowFailure) {
    throw new CommandError(
      [file, ...args].join(' '),
      result.exitCode,
      out.stderr || String(result.message ?? ''),
    );
  }
  return out;
}

/**
 * Start a long-running child (a container's runtime process) with custom stdio.
 * With `buffer: false`, execa resumes an unread stdout/stderr one tick after
 * spawn: attach consumers (or pipe them) synchronously, or output is lost.
 */
export function spawnProcess(file: string, args: readonly string[], options: Options = {}): ResultPromise {
  log.debug('spawn', { cmd: [file, ...args].join(' ') });
  return execa(file, args, { reject: false, buffer: false, ...options });
}
