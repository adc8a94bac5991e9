// secrets and configs: the top-level definitions (where the content comes
// from) and a service's references to them (where the file goes). Without
// swarm, Compose binds a file: read-only and writes an environment: or
// content: one into the container before it starts; Berth does the same.
import path from 'node:path';
import type { FileObject, FileReference } from './model.js';
import type { NormaliseContext } from './normalise-service.js';

export type FileObjectKind = 'secrets' | 'configs';

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

const TOP_LEVEL_KEYS: Record<FileObjectKind, Set<string>> = {
  secrets: new Set([
    'name',
    'file',
    'environment',
    'external',
    'labels',
    'driver',
    'driver_opts',
    'template_driver',
  ]),
  configs: new Set(['name', 'file', 'environment', 'content', 'external', 'labels', 'template_driver']),
};

/** One top-level secret or config, as one file defines it. */
export function normaliseFileObject(
  kind: FileObjectKind,
  name: string,
  raw: unknown,
  ctx: NormaliseContext,
): FileObject {
  const at = (...keys: string[]) => [kind, name, ...keys];
  if (!isObject(raw)) ctx.fail(at(), 'must be a mapping');
  for (const key of Object.keys(raw)) {
    if (!key.startsWith('x-') && !TOP_LEVEL_KEYS[kind].has(key)) ctx.fail(at(key), `unknown key "${key}"`);
  }
  for (const key of ['driver', 'template_driver']) {
    if (raw[key] !== undefined)
      ctx.fail(
        at(key),
        `${kind}.*.${key} needs swarm; berth compose supports file, environment${kind === 'configs' ? ', content' : ''}`,
      );
  }
  const external = raw.external === true || isObject(raw.external);
  const sources = ['file', 'environment', 'content'].filter((k) => raw[k] !== undefined && raw[k] !== null);
  if (external) {
    // Compose refuses these when a container uses one: they live in a swarm.
    return { external: true };
  }
  if (sources.length !== 1) {
    const choices = kind === 'configs' ? 'file, environment or content' : 'file or environment';
    ctx.fail(
      at(),
      sources.length
        ? `has ${sources.join(' and ')}: give only one of ${choices}`
        : `needs one of ${choices}`,
    );
  }
  const text = (key: string) => {
    const v = raw[key];
    if (typeof v === 'object') ctx.fail(at(key), 'must be a string');
    return String(v);
  };
  if (raw.file !== undefined && raw.file !== null)
    return { file: path.resolve(ctx.projectDir, text('file')), external: false };
  if (raw.environment !== undefined && raw.environment !== null) {
    const variable = text('environment');
    return { environment: variable, environmentValue: ctx.lookup(variable), external: false };
  }
  return { content: text('content'), external: false };
}

/** A service's secrets: or configs: list, short ("name") or long ({source, target, uid, gid, mode}). */
export function normaliseFileReferences(
  kind: FileObjectKind,
  v: unknown,
  at: (string | number)[],
  ctx: NormaliseContext,
): FileReference[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) ctx.fail(at, `must be a list of ${kind} names or mappings`);
  return v.map((item, i): FileReference => {
    const entry: Raw = isObject(item) ? item : { source: item };
    if (typeof entry.source !== 'string' || entry.source === '')
      ctx.fail([...at, i, 'source'], `must name a top-level ${kind.slice(0, -1)}`);
    for (const key of Object.keys(entry)) {
      if (!['source', 'target', 'uid', 'gid', 'mode'].includes(key) && !key.startsWith('x-'))
        ctx.fail([...at, i, key], `unknown key "${key}"`);
    }
    const source = entry.source;
    const targetText = entry.target === undefined || entry.target === null ? source : String(entry.target);
    // A secret's relative target is under /run/secrets; a config's under /.
    const target = path.posix.isAbsolute(targetText)
      ? targetText
      : `${kind === 'secrets' ? '/run/secrets/' : '/'}${targetText}`;
    const ref: FileReference = { source, target };
    for (const key of ['uid', 'gid'] as const) {
      const id = entry[key];
      if (id === undefined || id === null) continue;
      if (!/^\d+$/.test(String(id))) ctx.fail([...at, i, key], 'must be a numeric id');
      ref[key] = String(id);
    }
    if (entry.mode !== undefined && entry.mode !== null)
      ref.mode = fileMode(entry.mode, [...at, i, 'mode'], ctx);
    return ref;
  });
}

/** A mode as YAML gives it: a number (0440 in YAML 1.1 is octal already) or an octal string. */
function fileMode(v: unknown, at: (string | number)[], ctx: NormaliseContext): number {
  let mode: number;
  if (typeof v === 'number') mode = v;
  else if (typeof v === 'string' && /^0?o?[0-7]{1,4}$/.test(v)) mode = parseInt(v.replace(/^0?o?/, ''), 8);
  else ctx.fail(at, 'must be a file mode such as 0440');
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) ctx.fail(at, 'must be a file mode such as 0440');
  return mode;
}
