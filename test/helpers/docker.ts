// Runs the real docker CLI against a test engine, the way a user would, with
// nothing of this machine's docker configuration leaking in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { recordForSweep } from './leftovers.js';

export interface DockerResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface DockerOptions {
  /** Written to the CLI's stdin; without it stdin is empty (closed at once). */
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Default 120 s; a timed-out command resolves with code 124. */
  timeoutMs?: number;
}

let configDir: string | undefined;

/** One empty DOCKER_CONFIG per test process, removed when it exits. */
function dockerConfigDir(): string {
  if (!configDir) {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-docker-config-'));
    configDir = dir;
    recordForSweep(dir); // a test process killed by a signal skips 'exit'
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return configDir;
}

/** The environment the docker CLI runs with: only this engine, no contexts, no hints. */
export function dockerEnv(
  engine: { host: string },
  extra: Record<string, string> = {},
): Record<string, string | undefined> {
  return {
    DOCKER_HOST: engine.host,
    DOCKER_CONFIG: dockerConfigDir(),
    DOCKER_CONTEXT: undefined,
    DOCKER_TLS_VERIFY: undefined,
    DOCKER_CERT_PATH: undefined,
    DOCKER_API_VERSION: undefined,
    DOCKER_DEFAULT_PLATFORM: undefined,
    DOCKER_CLI_HINTS: 'false',
    ...extra,
  };
}

export async function docker(
  engine: { host: string },
  args: string[],
  opts: DockerOptions = {},
): Promise<DockerResult> {
  const r = await run('docker', args, {
    input: opts.input ?? '',
    env: dockerEnv(engine, opts.env),
    allowFailure: true,
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
}
