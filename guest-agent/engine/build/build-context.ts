// The build context: the tar the client sends, unpacked into a work dir under
// the data root. Entries are written one by one through safe-path lookups,
// so "../" names, absolute names and symlinks in the archive cannot place a
// file outside the context; sources are later read the same way, so a
// symlink in the context never reaches the engine's own files.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import { invalid, notFound } from '../../errors.js';
import { archivePath, extractArchive } from '../../volumes/container-archive.js';
import { ContainerFs, fdPath } from '../../volumes/safe-path.js';
import { toReadable } from '../../storage/layer-unpack.js';

const MAX_DOCKERFILE = 16 * 1024 * 1024;

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

/** A context path made relative; "../" leading out of the context is refused as dockerd refuses it. */
export function contextRelative(src: string, instruction: string): string {
  const normalized = path.posix.normalize(`./${src}`);
  if (normalized === '..' || normalized.startsWith('../')) {
    throw invalid(`${instruction} failed: forbidden path outside the build context: ${src} ()`);
  }
  return normalized === '.' ? '' : normalized.replace(/\/+$/, '');
}

export class BuildContext {
  private constructor(readonly root: string) {}

  /** Unpack the client's context tar (plain, gzip, bzip2 or xz) into dir. */
  static async receive(body: NodeJS.ReadableStream, dir: string): Promise<BuildContext> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      await extractArchive(dir, [], '/', body);
    } catch (err) {
      throw invalid(`the build context is not usable: ${(err as Error).message}`);
    }
    return new BuildContext(dir);
  }

  /** The Dockerfile's text; a missing default "Dockerfile" falls back to "dockerfile", as dockerd does. */
  async readDockerfile(name: string): Promise<string> {
    const candidates = [name];
    if (name === 'Dockerfile') candidates.push('dockerfile');
    for (const candidate of candidates) {
      const text = await this.readFile(candidate);
      if (text !== undefined) return text;
    }
    throw notFound(`Cannot locate specified Dockerfile: ${name}`);
  }

  private async readFile(rel: string): Promise<string | undefined> {
    const cfs = await ContainerFs.open(this.root);
    try {
      const lk = await cfs.resolve(rel, { followFinal: true, allowMissing: true });
      try {
        if (!lk.stat?.isFile() || lk.name === null) return undefined;
        if (lk.stat.size > MAX_DOCKERFILE) throw invalid(`the Dockerfile ${rel} is too large`);
        return await fs.readFile(fdPath(lk.dir, lk.name), 'utf8');
      } finally {
        await lk.release();
      }
    } finally {
      await cfs.close();
    }
  }

  /**
   * Honour .dockerignore for the files the CLI sends anyway: a Dockerfile or
   * .dockerignore it names is removed from the context after being read.
   */
  async applyIgnoreFile(dockerfileName: string): Promise<void> {
    const text = await this.readFile('.dockerignore');
    if (text === undefined) return;
    const patterns = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignored = (rel: string) => {
      let out = false;
      for (const p of patterns) {
        const negate = p.startsWith('!');
        const clean = path.posix.normalize((negate ? p.slice(1) : p).replace(/^\/+/, ''));
        let re: RegExp;
        try {
          re = globToRegExp(clean);
        } catch {
          continue;
        }
        if (re.test(rel)) out = !negate;
      }
      return out;
    };
    for (const rel of ['.dockerignore', contextRelative(dockerfileName, 'COPY')]) {
      if (rel && ignored(rel)) await this.removeEntry(rel);
    }
  }

  private async removeEntry(rel: string): Promise<void> {
    const cfs = await ContainerFs.open(this.root);
    try {
      const lk = await cfs.resolve(rel, { followFinal: false, allowMissing: true });
      try {
        if (lk.stat?.isFile() && lk.name !== null) await fs.unlink(fdPath(lk.dir, lk.name));
      } finally {
        await lk.release();
      }
    } finally {
      await cfs.close();
    }
  }

  /** Every path in the context (files, dirs, links), relative, sorted. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string) => {
      const entries = await fs.readdir(rel ? path.join(this.root, rel) : this.root, { withFileTypes: true });
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const child = rel ? `${rel}/${e.name}` : e.name;
        out.push(child);
        if (e.isDirectory()) await walk(child);
      }
    };
    await walk('');
    return out;
  }
}

/**
 * A content hash of a path as a tar would carry it (names, types, modes,
 * owners, link targets and bytes; not times, as dockerd's tarsum leaves
 * them out): the cache key of COPY and ADD sources.
 */
export async function hashPath(root: string, p: string, followLink: boolean): Promise<string> {
  const stream = await archivePath(root, [], p, { followLink });
  const hash = createHash('sha256');
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      hash.update(JSON.stringify([h.name, h.type, (h.mode ?? 0) & 0o7777, h.uid, h.gid, h.linkname]));
      for await (const chunk of entry) hash.update(chunk as Buffer);
    }
  })();
  toReadable(stream).pipe(extract);
  await done;
  return hash.digest('hex');
}
