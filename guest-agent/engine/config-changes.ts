// `docker commit --change` / `docker import --change`: the Dockerfile
// instructions that only touch the image config.
import type { ImageConfig } from '../storage/image-types.js';
import { invalid } from '../errors.js';

type Cfg = NonNullable<ImageConfig['config']>;

const ALLOWED = [
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'LABEL',
  'ONBUILD',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
];

function jsonOrShell(rest: string): string[] {
  const trimmed = rest.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) return parsed as string[];
    } catch {
      // not JSON: shell form below, as the Dockerfile parser does
    }
  }
  return ['/bin/sh', '-c', trimmed];
}

function unquote(value: string): string {
  if (
    value.length >= 2 &&
    ((value[0] === '"' && value.endsWith('"')) || (value[0] === "'" && value.endsWith("'")))
  ) {
    return value.slice(1, -1);
  }
  return value;
}

/** Key/value pairs of ENV and LABEL: `K=V K2="v 2"` or the legacy `K V`. */
function pairs(rest: string, instruction: string): Array<[string, string]> {
  const text = rest.trim();
  const firstToken = text.split(/\s/, 1)[0];
  if (!firstToken.includes('=')) {
    const at = text.search(/\s/);
    if (at < 0) throw invalid(`${instruction} requires a value: ${text}`);
    return [[text.slice(0, at), text.slice(at).trim()]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  for (const m of text.matchAll(re)) out.push([m[1], unquote(m[2])]);
  return out;
}

export function applyChanges(config: Cfg, changes: string[]): Cfg {
  const out: Cfg = { ...config };
  for (const change of changes) {
    const line = change.trim();
    if (!line) continue;
    const [word] = line.split(/\s+/, 1);
    const instruction = word.toUpperCase();
    const rest = line.slice(word.length).trim();
    if (!ALLOWED.includes(instruction)) {
      throw invalid(`${instruction} is not a valid change command`);
    }
    switch (instruction) {
      case 'CMD':
        out.Cmd = jsonOrShell(rest);
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = jsonOrShell(rest);
        break;
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of pairs(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=', 1)[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(pairs(rest, 'LABEL')) };
        break;
      case 'EXPOSE': {
        const ports = { ...(out.ExposedPorts ?? {}) };
        for (const p of rest.split(/\s+/).filter(Boolean)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        out.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(out.Volumes ?? {}) };
        const list = rest.startsWith('[')
          ? (JSON.parse(rest) as string[])
          : rest.split(/\s+/).filter(Boolean);
        for (const v of list) vols[v] = {};
        out.Volumes = vols;
        break;
      }
      case 'USER':
        out.User = rest;
        break;
      case 'WORKDIR':
        out.WorkingDir = rest.startsWith('/')
          ? rest
          : `${out.WorkingDir || '/'}${out.WorkingDir?.endsWith('/') ? '' : '/'}${rest}`;
        break;
      case 'STOPSIGNAL':
        out.StopSignal = rest;
        break;
      case 'ONBUILD':
        out.OnBuild = [...(out.OnBuild ?? []), rest];
        break;
    }
  }
  return out;
}
