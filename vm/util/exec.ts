// The one way vm/ runs external programs (apt-get, dpkg, qemu-img, qemu…):
// execa, with the command line logged at debug level.
import { execa, type Options, type ResultPromise } from 'execa';
import { log } from './log.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export class ExecError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(`${command}: ${stderr.trim().split('\n').slice(-5).join(' | ') || `exited with code ${exitCode}`}`);
  }
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /** Resolve with the exit code instead of throwing. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

/** Runs a command to completion and captures its output. */
export async function exec(
  file: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const command = [file, ...args].join(' ');
  log.debug('exec', { cmd: command });
  const r = await execa(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  const result = {
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    exitCode: r.exitCode ?? -1,
  };
  if (r.failed && !opts.allowFailure) {
    throw new ExecError(command, r.exitCode, result.stderr || (r.originalMessage ?? r.shortMessage ?? ''));
  }
  return result;
}

/** Starts a long-running child (QEMU); the caller owns it and must end it by its pid. */
export function spawnLongRunning(file: string, args: readonly string[], opts: Options = {}): ResultPromise {
  log.debug('spawn', { cmd: [file, ...args].join(' ') });
  return execa(file, args, { reject: false, ...opts });
}
