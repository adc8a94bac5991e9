// `RUN --mount=…`, BuildKit's Dockerfile syntax, read for Berth's builder:
// cache (a directory kept between builds), tmpfs, bind (from the context, a
// stage or an image; writes are thrown away), and secret/ssh, which only
// BuildKit's session can fill: without one they are left out, as BuildKit
// leaves out a secret that was not given, unless the mount says required.
import path from 'node:path';
import { invalid } from '../../errors.js';

export type RunMount =
  | { type: 'cache'; target: string; id: string; readonly: boolean; mode: number; uid: number; gid: number }
  | { type: 'tmpfs'; target: string; size?: string }
  | { type: 'bind'; target: string; source: string; from: string; readwrite: boolean }
  | { type: 'secret' | 'ssh'; target: string; id: string; required: boolean };

const BOOL_KEYS = new Set(['ro', 'readonly', 'rw', 'readwrite', 'required']);

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'true') return true;
  if (value === 'false') return false;
  throw invalid(`invalid value for ${key}: ${value}`);
}

function absoluteTarget(target: string, workdir: string): string {
  return path.posix.normalize(path.posix.isAbsolute(target) ? target : path.posix.join(workdir, target));
}

/** One `--mount` value ("type=cache,target=/root/.cache"), its values expanded with `expand`. */
export function parseRunMount(spec: string, expand: (word: string) => string, workdir: string): RunMount {
  const fields = new Map<string, string | undefined>();
  for (const part of spec.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : expand(part.slice(eq + 1));
    if (eq < 0 && !BOOL_KEYS.has(key))
      throw invalid(`invalid field '${part}' in --mount: must be a key=value pair`);
    fields.set(key, value);
  }
  const type = fields.get('type') ?? 'bind';
  const get = (key: string) => fields.get(key);
  const targetOf = (fallback?: string) => {
    const t = get('target') ?? get('dst') ?? get('destination') ?? fallback;
    if (!t) throw invalid(`RUN --mount=type=${type} needs a target`);
    return absoluteTarget(t, workdir);
  };
  const flag = (...keys: string[]) => keys.some((k) => fields.has(k) && parseBool(k, fields.get(k)));
  const number = (key: string, fallback: number, base = 10) => {
    const v = get(key);
    if (v === undefined) return fallback;
    const n = parseInt(v, base);
    if (!Number.isInteger(n) || n < 0 || !/^\d+$/.test(v)) throw invalid(`invalid value for ${key}: ${v}`);
    return n;
  };
  switch (type) {
    case 'cache': {
      const target = targetOf();
      return {
        type,
        target,
        id: get('id') || target,
        readonly: flag('ro', 'readonly'),
        mode: number('mode', 0o755, 8),
        uid: number('uid', 0),
        gid: number('gid', 0),
      };
    }
    case 'tmpfs': {
      const size = get('size');
      return { type, target: targetOf(), ...(size ? { size } : {}) };
    }
    case 'bind':
      return {
        type,
        target: targetOf(),
        source: get('source') ?? get('src') ?? '',
        from: get('from') ?? '',
        readwrite: flag('rw', 'readwrite'),
      };
    case 'secret':
    case 'ssh': {
      const id = get('id') || (type === 'ssh' ? 'default' : path.posix.basename(get('target') ?? ''));
      if (!id) throw invalid('RUN --mount=type=secret needs an id or a target');
      const target = targetOf(type === 'secret' ? `/run/secrets/${id}` : '/run/buildkit/ssh_agent.0');
      return { type, target, id, required: flag('required') };
    }
    default:
      throw invalid(`unsupported mount type "${type}": use cache, tmpfs, bind, secret or ssh`);
  }
}
