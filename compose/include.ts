// include: other compose applications pulled into this one. Each is read as
// its own project (its folder, its .env or env_file for interpolation, its
// relative paths), then its services, networks, volumes, secrets and configs
// join this project's; a name both define differently is an error.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readEnvFile } from './dotenv.js';
import type { Lookup } from './interpolate.js';
import type { NormaliseContext } from './normalise-service.js';

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface IncludedApplication {
  /** Its compose files, merged in order as -f files are. */
  files: string[];
  /** Its project directory: the first file's folder unless project_directory says. */
  projectDir: string;
  /** Its interpolation: the shell, then its env files (default its folder's .env). */
  lookup: Lookup;
}

/** The include: list of one file, as `include: [path]` or `[{path, project_directory, env_file}]`. */
export function includedApplications(
  v: unknown,
  parentDir: string,
  shell: NodeJS.ProcessEnv,
  ctx: Pick<NormaliseContext, 'fail'>,
): IncludedApplication[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) ctx.fail(['include'], 'must be a list of compose files');
  return v.map((entry, i): IncludedApplication => {
    const at = ['include', i];
    const spec: Raw = typeof entry === 'string' ? { path: entry } : isObject(entry) ? entry : {};
    for (const key of Object.keys(spec)) {
      if (!['path', 'project_directory', 'env_file'].includes(key))
        ctx.fail([...at, key], `unknown key "${key}"`);
    }
    const strings = (x: unknown, key: string): string[] => {
      const list = Array.isArray(x) ? x : [x];
      if (list.length === 0 || list.some((p) => typeof p !== 'string' || p === ''))
        ctx.fail([...at, key], 'must be a path or a list of paths');
      return (list as string[]).map((p) => path.resolve(parentDir, p));
    };
    if (spec.path === undefined) ctx.fail(at, 'needs a path (a compose file)');
    const files = strings(spec.path, 'path');
    for (const f of files) if (!existsSync(f)) ctx.fail([...at, 'path'], `${f} not found`);
    const projectDir =
      spec.project_directory === undefined
        ? path.dirname(files[0])
        : path.resolve(parentDir, String(spec.project_directory));
    const envFiles =
      spec.env_file === undefined ? [path.join(projectDir, '.env')] : strings(spec.env_file, 'env_file');
    const values = new Map<string, string>();
    for (const file of envFiles) {
      if (!existsSync(file)) {
        if (spec.env_file !== undefined) ctx.fail([...at, 'env_file'], `${file} not found`);
        continue;
      }
      for (const e of readEnvFile(file, (n) => shell[n] ?? values.get(n)))
        if (e.value !== undefined) values.set(e.key, e.value);
    }
    return { files, projectDir, lookup: (n) => shell[n] ?? values.get(n) };
  });
}
