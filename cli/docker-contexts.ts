// The docker CLI's configuration as berth shares it: ~/.docker/config.json
// (or $DOCKER_CONFIG/config.json) with its currentContext, and the context
// store, contexts/meta/<sha256 of the name>/meta.json.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';

export interface ContextMeta {
  Name: string;
  Metadata: Record<string, unknown>;
  Endpoints: { docker?: { Host: string; SkipTLSVerify?: boolean } } & Record<string, unknown>;
}

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

function readJsonFile<T>(file: string, what: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new Error(`${what} ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

export function readDockerConfig(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  return readJsonFile(path.join(dockerConfigDir(env), 'config.json'), 'docker config') ?? {};
}

export function contextMetaPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const digest = createHash('sha256').update(name).digest('hex');
  return path.join(dockerConfigDir(env), 'contexts', 'meta', digest, 'meta.json');
}

/** Where a context's TLS files are: contexts/tls/<digest>/docker/. */
export function contextTlsDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const digest = createHash('sha256').update(name).digest('hex');
  return path.join(dockerConfigDir(env), 'contexts', 'tls', digest, 'docker');
}

export function readContext(name: string, env: NodeJS.ProcessEnv = process.env): ContextMeta | undefined {
  return readJsonFile<ContextMeta>(contextMetaPath(name, env), `docker context "${name}":`);
}

export async function writeContext(meta: ContextMeta, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = contextMetaPath(meta.Name, env);
  await writeFileAtomic(file, JSON.stringify(meta), 0o644, { mkdir: true });
  return file;
}

/** Sets config.json's currentContext, keeping everything else in the file. */
export async function setCurrentContext(name: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = readDockerConfig(env);
  config.currentContext = name;
  await writeFileAtomic(
    path.join(dockerConfigDir(env), 'config.json'),
    JSON.stringify(config, null, '\t') + '\n',
    0o600,
    {
      mkdir: true,
    },
  );
}
