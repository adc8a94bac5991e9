// Runs the bundled `berth` CLI as a user would, against a test engine, with the
// same clean environment the docker CLI gets (test/helpers/docker.ts).
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { repoRoot } from '../fixtures/image-cache.js';
import { dockerEnv, type DockerOptions, type DockerResult } from './docker.js';
import { dockerPty, type DockerPty } from './pty.js';

export const BERTH_BIN = path.join(repoRoot, 'bin', 'berth');

/** berth with DOCKER_HOST set to the engine (opts.env may replace or unset any variable). */
export async function berth(
  engine: { host: string },
  args: string[],
  opts: Omit<DockerOptions, 'env'> & { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<DockerResult> {
  const r = await run(process.execPath, [BERTH_BIN, ...args], {
    input: opts.input ?? '',
    env: { ...dockerEnv(engine), ...opts.env },
    cwd: opts.cwd,
    allowFailure: true,
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
}

/** berth in a real pseudo-terminal (for -it). */
export function berthPty(
  engine: { host: string },
  args: string[],
  opts: { cols?: number; rows?: number } = {},
): DockerPty {
  return dockerPty(engine, args, { ...opts, command: [process.execPath, BERTH_BIN] });
}
