// A build context folder as the tar the engine's POST /build takes, filtered
// by its .dockerignore as the docker CLI filters it (moby's patternmatcher:
// "**" spans folders, a pattern that matches a folder excludes what is in it,
// "!" brings paths back, the last matching pattern wins). The Dockerfile and
// .dockerignore always go, as the CLI sends them: the engine reads them, then
// drops the ones the file excludes.
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

interface IgnorePattern {
  re: RegExp;
  negate: boolean;
}

function patternRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`.dockerignore: syntax error in pattern: ${pattern}`);
      const body = pattern.slice(i + 1, end);
      re += `[${body.startsWith('^') || body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (ch === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += ch.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): IgnorePattern[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const clean = path.posix.normalize((negate ? l.slice(1).trim() : l).replace(/^\/+/, ''));
      return { re: patternRegExp(clean), negate };
    });
}

/** True when the last pattern matching the path, or one of its parent folders, excludes it. */
export function isIgnored(patterns: IgnorePattern[], rel: string): boolean {
  const parents: string[] = [];
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let out = false;
  for (const p of patterns) {
    if (parents.some((candidate) => p.re.test(candidate))) out = !p.negate;
  }
  return out;
}

/** The context folder as a tar stream; `dockerfile` is relative to the folder. */
export async function contextTar(dir: string, dockerfile = 'Dockerfile'): Promise<Readable> {
  const ignoreText = await fs.readFile(path.join(dir, '.dockerignore'), 'utf8').catch(() => '');
  const patterns = parseDockerignore(ignoreText);
  const hasNegation = patterns.some((p) => p.negate);
  const alwaysSent = new Set(['.dockerignore', path.posix.normalize(dockerfile)]);
  const pack = tar.pack();
  const add = async (rel: string): Promise<void> => {
    const abs = path.join(dir, rel);
    const st = await fs.lstat(abs);
    const ignored = rel !== '' && !alwaysSent.has(rel) && isIgnored(patterns, rel);
    // A folder that is left out is not even read, unless a "!" pattern may bring part of it back.
    if (ignored && (!st.isDirectory() || !hasNegation)) return;
    const header = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      if (rel && !ignored) pack.entry({ ...header, type: 'directory' });
      for (const name of (await fs.readdir(abs)).sort()) await add(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...header, type: 'symlink', linkname: await fs.readlink(abs) });
    } else if (st.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ ...header, size: st.size }, (err) => (err ? reject(err) : resolve()));
        createReadStream(abs).on('error', reject).pipe(entry);
      });
    }
  };
  void add('').then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  return pack as unknown as Readable;
}
