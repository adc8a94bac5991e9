// extends: a service starts from another service (of the same file, or of
// another file whose relative paths stay relative to that file), then its own
// keys are merged on top by the same rules as a later -f file's. Chains are
// followed; a cycle is an error naming it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { mergeServiceDrafts } from './merge-services.js';
import { normaliseService, type NormaliseContext } from './normalise-service.js';
import type { ServiceDraft } from './service-draft.js';

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A compose file read, checked and interpolated, with the context its services are normalised in. */
export interface LoadedFile {
  data: Raw;
  ctx: NormaliseContext;
}

/**
 * The draft of services.<name> of a file, with what it extends merged under it.
 * `load` reads another file (checked and interpolated) when an extends names one.
 */
export function serviceWithExtends(
  file: string,
  name: string,
  load: (file: string) => LoadedFile,
  chain: string[] = [],
): ServiceDraft {
  const { data } = load(file);
  // Typed here so that ctx.fail() narrows (TypeScript needs the annotation to treat it as never-returning).
  const ctx: NormaliseContext = load(file).ctx;
  const raw = (data.services as Raw | undefined)?.[name];
  const draft = normaliseService(name, raw, ctx);
  if (!isObject(raw) || raw.extends === undefined || raw.extends === null) return draft;
  const at = ['services', name, 'extends'];
  const given: unknown = typeof raw.extends === 'string' ? { service: raw.extends } : raw.extends;
  if (!isObject(given) || typeof given.service !== 'string' || given.service === '')
    ctx.fail(at, 'must be a service name or {service, file}');
  for (const key of Object.keys(given)) {
    if (key !== 'service' && key !== 'file') ctx.fail([...at, key], `unknown key "${key}"`);
  }
  const spec = {
    service: given.service as string,
    file: given.file === undefined ? undefined : String(given.file),
  };
  const baseFile = spec.file === undefined ? file : path.resolve(path.dirname(file), spec.file);
  const link = `${baseFile}:${spec.service}`;
  if (chain.includes(link) || link === `${file}:${name}`) {
    ctx.fail(
      at,
      `extends makes a cycle: ${[...chain, `${file}:${name}`, link].map((l) => path.basename(l)).join(' → ')}`,
    );
  }
  const base = ((): LoadedFile => {
    try {
      return load(baseFile);
    } catch (err) {
      // A broken base file's own error names its file and line; a missing one is this key's.
      if (spec.file !== undefined && !existsSync(baseFile))
        ctx.fail([...at, 'file'], `${baseFile} not found`);
      throw err;
    }
  })();
  const baseServices = base.data.services as Raw | undefined;
  if (!baseServices || !(spec.service in baseServices))
    ctx.fail([...at, 'service'], `no service "${spec.service}" in ${baseFile}`);
  const inherited = serviceWithExtends(baseFile, spec.service, load, [...chain, `${file}:${name}`]);
  return mergeServiceDrafts({ ...inherited, name }, draft);
}
