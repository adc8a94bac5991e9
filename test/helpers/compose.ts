// Runs `berth compose` (the bundled CLI) and Debian's docker-compose 1.29 as
// subprocesses against a test engine, in a temp project directory.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { repoRoot } from '../fixtures/image-cache.js';
import { dockerEnv } from './docker.js';
import { recordForSweep } from './leftovers.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ComposeRunOptions {
  cwd: string;
  /** Extra shell variables; undefined removes one from the environment. */
  env?: Record<string, string | undefined>;
  /** Written to stdin; without it stdin is /dev/null. */
  input?: string;
  timeoutMs?: number;
}

/** The variables a test's shell must not pass on by accident. */
const CLEAN: Record<string, undefined> = {
  NODE_ENV: undefined,
  COMPOSE_FILE: undefined,
  COMPOSE_PROJECT_NAME: undefined,
  COMPOSE_PROFILES: undefined,
  NO_COLOR: undefined,
};

export async function berthCompose(
  engine: { host: string },
  args: string[],
  o: ComposeRunOptions,
): Promise<CommandResult> {
  const r = await run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), 'compose', ...args], {
    cwd: o.cwd,
    env: { ...CLEAN, DOCKER_HOST: engine.host, ...o.env },
    input: o.input,
    allowFailure: true,
    timeoutMs: o.timeoutMs ?? 120_000,
  });
  return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
}

export async function dockerCompose(
  engine: { host: string },
  args: string[],
  o: ComposeRunOptions,
): Promise<CommandResult> {
  const r = await run('docker-compose', args, {
    cwd: o.cwd,
    env: { ...CLEAN, ...dockerEnv(engine), ...o.env },
    allowFailure: true,
    timeoutMs: o.timeoutMs ?? 120_000,
  });
  return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
}

/** A temp project directory holding these files (relative paths → contents); removed by the returned cleanup. */
export function projectDir(name: string, files: Record<string, string>): { dir: string; cleanup(): void } {
  const parent = mkdtempSync(path.join(tmpdir(), 'berth-compose-'));
  recordForSweep(parent);
  const dir = path.join(parent, name);
  mkdirSync(dir);
  writeFile(dir, files);
  return { dir, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

export function writeFile(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
}
