// Source paths in COPY/ADD and .dockerignore: Go's filepath.Match patterns and
// context-relative names, as dockerd reads them.
import path from 'node:path';
import { invalid } from '../../errors.js';

/** Go's filepath.Match on a whole path: "*" and "?" stay within one component. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw invalid(`syntax error in pattern: ${pattern}`);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('^')) body = `!${body.slice(1)}`;
      re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (ch === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += ch.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function hasWildcard(p: string): boolean {
  return /[*?[]/.test(p);
}

/** A path made relative to the context ("" for its root), or undefined when it leads out of it. */
export function insideContext(p: string): string | undefined {
  const normalized = path.posix.normalize(`./${p}`);
  if (normalized === '..' || normalized.startsWith('../')) return undefined;
  return normalized === '.' ? '' : normalized.replace(/\/+$/, '');
}

/** A context path made relative; "../" leading out of the context is refused as dockerd refuses it. */
export function contextRelative(src: string, instruction: string): string {
  const rel = insideContext(src);
  if (rel === undefined)
    throw invalid(`${instruction} failed: forbidden path outside the build context: ${src} ()`);
  return rel;
}
