// COPY and ADD: which files a source list names (wildcards, directories,
// symlinks followed inside their own root), their cache hash, and writing
// them into a step's root filesystem. Every read goes through archivePath
// and every write through extractArchive, both of which resolve each path
// component inside its root: a symlink in the context or in the image can
// only ever lead to another place in that same root.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import tar from 'tar-stream';
import { invalid } from '../../errors.js';
import { archivePath, extractArchive } from '../../volumes/container-archive.js';
import { ContainerFs } from '../../volumes/safe-path.js';
import { writeTarEntry } from '../../storage/layer-diff.js';
import { decompress, toReadable } from '../../storage/layer-unpack.js';
import { contextRelative, globToRegExp, hasWildcard } from './source-paths.js';
import { hostOwner } from '../../util/id-map.js';

/** One thing to copy: a path inside a trusted root (the context, an image's rootfs, a download dir). */
export interface CopySource {
  root: string;
  rel: string;
  isDir: boolean;
  /** A downloaded URL: never unpacked, named after the URL. */
  fromUrl?: boolean;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/**
 * Where COPY/ADD sources are looked up: a directory on disk (an image's root
 * filesystem, a download), or the build context, which can answer from its
 * index before it is unpacked.
 */
export interface SourceTree {
  readonly root: string;
  /** Every path, relative, in the order of a sorted depth-first walk; symlinks are not followed. */
  list(): Promise<Array<{ rel: string; isDir: boolean }>>;
  /** What a path is, symlinks followed inside the root; undefined when missing. */
  stat(rel: string): Promise<{ isDir: boolean } | undefined>;
  /** The cache hash of one source's content. */
  hash(source: CopySource): Promise<string>;
  /** Make the files readable at root before they are copied. */
  prepare(): Promise<void>;
}

async function walk(root: string): Promise<Array<{ rel: string; isDir: boolean }>> {
  const out: Array<{ rel: string; isDir: boolean }> = [];
  const visit = async (rel: string) => {
    const entries = await fs.readdir(rel ? path.join(root, rel) : root, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      out.push({ rel: child, isDir: e.isDirectory() });
      if (e.isDirectory()) await visit(child);
    }
  };
  await visit('');
  return out;
}

async function statIn(root: string, rel: string): Promise<{ isDir: boolean } | undefined> {
  const cfs = await ContainerFs.open(root);
  try {
    const lk = await cfs.resolve(rel || '/', { followFinal: true, allowMissing: true });
    try {
      return lk.stat ? { isDir: lk.stat.isDirectory() } : undefined;
    } finally {
      await lk.release();
    }
  } finally {
    await cfs.close();
  }
}

/**
 * A content hash of a path as a tar would carry it (names, types, modes,
 * owners, link targets and bytes; not times, as dockerd's tarsum leaves
 * them out): the cache key of COPY and ADD sources.
 */
async function hashPath(root: string, p: string, followLink: boolean): Promise<string> {
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

/** A source's content hash, read from its files. */
export function hashOnDisk(source: CopySource): Promise<string> {
  return hashPath(source.root, source.rel || '/', true);
}

/** Sources in a directory on disk. */
export function diskTree(root: string): SourceTree {
  return {
    root,
    list: () => walk(root),
    stat: (rel) => statIn(root, rel),
    hash: hashOnDisk,
    prepare: async () => {},
  };
}

/** The sources a COPY/ADD names in the tree, in order; URLs are left to the caller (ADD downloads them). */
export async function resolveSources(
  tree: SourceTree,
  sources: string[],
  instruction: 'COPY' | 'ADD',
  download: (url: string) => Promise<CopySource>,
): Promise<CopySource[]> {
  const out: CopySource[] = [];
  const root = tree.root;
  let listing: Array<{ rel: string; isDir: boolean }> | undefined;
  for (const src of sources) {
    if (isUrl(src)) {
      if (instruction === 'COPY') throw invalid("COPY failed: source can't be a URL for COPY");
      out.push(await download(src));
      continue;
    }
    const rel = contextRelative(src, instruction);
    if (hasWildcard(rel)) {
      listing ??= await tree.list();
      const re = globToRegExp(rel);
      const matched: string[] = [];
      for (const entry of listing) {
        // A matched directory is copied whole; nothing below it is matched again.
        if (matched.some((m) => entry.rel.startsWith(`${m}/`))) continue;
        if (!re.test(entry.rel)) continue;
        matched.push(entry.rel);
        out.push({ root, rel: entry.rel, isDir: entry.isDir });
      }
      if (matched.length === 0) throw invalid(`${instruction} failed: no source files were specified`);
      continue;
    }
    const st = await tree.stat(rel);
    if (!st)
      throw invalid(
        `${instruction} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`,
      );
    out.push({ root, rel, isDir: st.isDir });
  }
  return out;
}

/** What goes into the cache key: every source's content, in order. */
export async function sourcesHash(sources: CopySource[], tree: SourceTree): Promise<string> {
  const hash = createHash('sha256');
  for (const s of sources) {
    hash.update(`${s.rel}\0${s.isDir ? 'dir' : 'file'}\0`);
    hash.update(await tree.hash(s));
  }
  return `${sources.length === 1 ? (sources[0]!.isDir ? 'dir' : 'file') : 'multi'}:${hash.digest('hex')}`;
}

/** A local file ADD unpacks: a tar, plain or compressed (the first 512 bytes, decompressed, tell). */
async function isArchive(src: CopySource): Promise<boolean> {
  let stream: Readable;
  try {
    stream = await decompress(await openInRoot(src.root, src.rel));
  } catch {
    return false;
  }
  let block = Buffer.alloc(0);
  try {
    for await (const chunk of stream) {
      block = Buffer.concat([block, chunk as Buffer]);
      if (block.length >= 512) break;
    }
  } catch {
    return false;
  } finally {
    stream.destroy();
  }
  if (block.length < 512) return false;
  if (block.subarray(257, 262).toString('latin1') === 'ustar') return true;
  // Old (v7) tars: the header checksum is the proof.
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return stored === sum;
}

/** mkdir -p inside the root, new directories owned by `owner`. */
async function mkdirAll(rootfs: string, dir: string, owner: { uid: number; gid: number }): Promise<void> {
  const cfs = await ContainerFs.open(rootfs);
  try {
    const lk = await cfs.resolve(path.posix.join(dir, '.berth-probe'), {
      followFinal: false,
      // Container ids, stored as the host's (they differ under --userns-remap).
      mkdirParents: { mode: 0o755, owner: hostOwner(owner.uid, owner.gid) },
    });
    await lk.release();
  } finally {
    await cfs.close();
  }
}

interface EntryRewrite {
  /** New name for an entry, or undefined to leave it out. */
  rename(name: string): string | undefined;
  owner?: { uid: number; gid: number };
  chmod?: number;
}

/** The source tar rewritten: names placed, owners and modes set as the instruction says. */
function rewrite(input: NodeJS.ReadableStream, how: EntryRewrite): NodeJS.ReadableStream {
  const extract = tar.extract();
  const pack = tar.pack();
  void (async () => {
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = how.rename(h.name.replace(/\/+$/, ''));
        if (name === undefined || name === '') {
          entry.resume();
          continue;
        }
        const header = {
          ...h,
          name: h.type === 'directory' ? `${name}/` : name,
          ...(how.owner ? { uid: how.owner.uid, gid: how.owner.gid } : {}),
          ...(how.chmod !== undefined ? { mode: how.chmod } : {}),
        };
        if (h.type === 'link' && h.linkname) {
          const target = how.rename(h.linkname.replace(/\/+$/, ''));
          if (target === undefined) {
            entry.resume();
            continue;
          }
          header.linkname = target;
        }
        await writeTarEntry(pack, header, h.type === 'file' ? Readable.from(entry) : undefined);
        if (h.type !== 'file') entry.resume();
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  toReadable(input).pipe(extract);
  return Readable.from(pack, { objectMode: false });
}

export interface CopyOptions {
  instruction: 'COPY' | 'ADD';
  /** Absolute container path; a trailing "/" means a directory. */
  dest: string;
  owner: { uid: number; gid: number };
  /** Keep the sources' own owners (COPY --from without --chown). */
  keepOwners: boolean;
  chmod?: number;
  /** ADD unpacks local tar archives. */
  unpack: boolean;
}

/** Is this container path a directory in the rootfs (symlinks followed inside it)? */
async function isDirIn(rootfs: string, p: string): Promise<boolean> {
  return (await statIn(rootfs, p))?.isDir ?? false;
}

/** Write the sources into a mounted step rootfs, as dockerd's COPY/ADD place them. */
export async function copyInto(rootfs: string, sources: CopySource[], opts: CopyOptions): Promise<void> {
  const destDir = opts.dest.endsWith('/') || opts.dest.endsWith('/.');
  if (sources.length > 1 && !destDir) {
    throw invalid(
      `When using ${opts.instruction} with more than one source file, the destination must be a directory and end with a /`,
    );
  }
  const dest = path.posix.normalize(opts.dest);
  const owner = opts.keepOwners ? undefined : opts.owner;
  for (const src of sources) {
    if (src.isDir) {
      await mkdirAll(rootfs, dest, opts.owner);
      // The directory's contents go into dest; the directory itself does not.
      const stream = await archivePath(src.root, [], src.rel || '/', { followLink: true });
      const rename = (name: string) => {
        const slash = name.indexOf('/');
        return slash < 0 ? undefined : name.slice(slash + 1);
      };
      const rootPrefixed = !src.rel; // the root archives as "/…"
      await extractArchive(
        rootfs,
        [],
        dest,
        rewrite(stream, {
          rename: rootPrefixed ? (n) => n.replace(/^\/+/, '') || undefined : rename,
          owner,
          chmod: opts.chmod,
        }),
      );
      continue;
    }
    const base = path.posix.basename(src.rel);
    if (opts.unpack && !src.fromUrl && (await isArchive(src))) {
      await mkdirAll(rootfs, dest, opts.owner);
      const fh = await openInRoot(src.root, src.rel);
      await extractArchive(rootfs, [], dest, fh);
      continue;
    }
    const target = destDir || (await isDirIn(rootfs, dest)) ? path.posix.join(dest, base) : dest;
    const parent = path.posix.dirname(target);
    await mkdirAll(rootfs, parent, opts.owner);
    const stream = await archivePath(src.root, [], src.rel, { followLink: true });
    await extractArchive(
      rootfs,
      [],
      parent,
      rewrite(stream, {
        rename: (n) => (n === base || n === path.posix.basename(n) ? path.posix.basename(target) : undefined),
        owner,
        chmod: opts.chmod,
      }),
    );
  }
}

/** A file's bytes, read through safe lookups. */
async function openInRoot(root: string, rel: string): Promise<NodeJS.ReadableStream> {
  const stream = await archivePath(root, [], rel, { followLink: true });
  const extract = tar.extract();
  const out = new PassThrough();
  void (async () => {
    try {
      for await (const entry of extract) {
        for await (const c of entry)
          if (!out.write(c as Buffer)) await new Promise((r) => out.once('drain', r));
      }
      out.end();
    } catch (err) {
      out.destroy(err as Error);
    }
  })();
  toReadable(stream).pipe(extract);
  return out;
}
