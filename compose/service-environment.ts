// A container's variables from env_file and environment, by the precedence the
// Compose docs state (highest first): `run -e`; environment or env_file values
// interpolated from the shell or .env; plain environment; env_file; the image's
// ENV (the engine applies that last one: a variable set here replaces it).
import { readFileSync } from 'node:fs';
import { EnvFileSyntaxError, parseEnvFile } from './dotenv.js';
import { ComposeError } from './errors.js';
import type { Lookup } from './interpolate.js';
import type { EnvSource, EnvValue } from './model.js';
import type { ServiceDraft } from './service-draft.js';

const RANK: Record<EnvSource, number> = {
  'run -e': 5,
  'environment (interpolated)': 4,
  'env_file (interpolated)': 3,
  environment: 2,
  env_file: 1,
};

export function resolveServiceEnvironment(draft: ServiceDraft, lookup: Lookup): Record<string, EnvValue> {
  const result: Record<string, EnvValue> = {};
  const offer = (key: string, value: string | undefined, source: EnvSource) => {
    if (value === undefined) return; // a bare KEY nobody set leaves lower sources in charge
    const have = result[key];
    // Equal rank: a later env_file replaces an earlier one.
    if (!have || RANK[source] >= RANK[have.source]) result[key] = { value, source };
  };
  for (const ref of draft.envFiles) {
    let text: string;
    try {
      text = readFileSync(ref.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !ref.required) continue;
      throw new ComposeError(
        `env file ${ref.path} not found${ref.required ? ' (set required: false to make it optional)' : ''}`,
        {
          file: draft.file,
          key: `services.${draft.name}.env_file`,
        },
      );
    }
    let entries;
    try {
      entries = parseEnvFile(text, lookup);
    } catch (err) {
      if (err instanceof EnvFileSyntaxError)
        throw new ComposeError(err.message, { file: ref.path, line: err.line });
      throw err;
    }
    for (const e of entries) offer(e.key, e.value, e.usedVariables ? 'env_file (interpolated)' : 'env_file');
  }
  for (const [key, e] of Object.entries(draft.environmentEntries)) {
    offer(key, e.value, e.usedVariables ? 'environment (interpolated)' : 'environment');
  }
  return result;
}

/** `compose run -e K=V` / `-e K` (the latter from the shell; left out when unset) over the service's own. */
export function withRunOverrides(
  env: Record<string, EnvValue>,
  overrides: string[],
  shell: NodeJS.ProcessEnv,
): Record<string, EnvValue> {
  const out = { ...env };
  for (const o of overrides) {
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const value = eq < 0 ? shell[key] : o.slice(eq + 1);
    if (value !== undefined) out[key] = { value, source: 'run -e' };
  }
  return out;
}
