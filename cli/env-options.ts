// A container's variables from `--env-file` and `-e`, as the docker CLI reads
// them: env files first, then -e, a later value replacing an earlier one;
// `KEY` alone takes berth's own value or is left out when berth has none; an
// env file's lines are taken literally (no quotes, no interpolation), `#`
// lines and blank lines skipped. Each variable keeps where it came from.
import { readFileSync } from 'node:fs';
import type { EnvSource } from '../common/explain.js';
import { UsageError } from './flag-parser.js';

export interface ResolvedEnv {
  /** KEY=VALUE, in the order first set. */
  env: string[];
  sources: Record<string, EnvSource>;
}

/** The entries of one env file, KEY=VALUE or KEY (bare keys resolved by the caller). */
export function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    // As docker's opts.ParseEnvFile: leading whitespace dropped, the rest literal.
    const line = raw.replace(/\r$/, '').replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new UsageError(`invalid environment variable: ${line} (${file} line ${i + 1})`);
    if (/\s/.test(key))
      throw new UsageError(`variable '${key}' contains whitespaces (${file} line ${i + 1})`);
    out.push(line);
  });
  return out;
}

export function resolveEnv(
  envFiles: string[],
  envFlags: string[],
  shell: NodeJS.ProcessEnv = process.env,
): ResolvedEnv {
  const values = new Map<string, string>();
  const sources: Record<string, EnvSource> = {};
  const take = (entry: string, source: EnvSource) => {
    const eq = entry.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid environment variable: ${entry}`);
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const value = eq < 0 ? shell[key] : entry.slice(eq + 1);
    if (value === undefined) return; // `-e KEY` with KEY unset: left out, as docker does
    values.set(key, value);
    sources[key] = source;
  };
  for (const file of envFiles) for (const entry of readEnvFile(file)) take(entry, 'env-file');
  for (const entry of envFlags) take(entry, '-e');
  return { env: [...values].map(([k, v]) => `${k}=${v}`), sources };
}
