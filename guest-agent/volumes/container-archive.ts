// `docker cp`: HEAD/GET/PUT /containers/{id}/archive. Paths are container
// paths: resolved inside the container's root with its mounts honoured and
// symlinks never leaving it (CVE-2018-15664, CVE-2019-14271), and every file
// is touched through descriptors of safe-path.ts, so a container that plants
// `ln -s /etc x`, or swaps a directory for a symlink while the copy runs,
// still only reaches its own files.
import { promises as fs, constants as fsc, type BigIntStats, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { EngineError, invalid } from '../errors.js';
import { log } from '../util/logger.js';
import { run } from '../util/subprocess.js';
import { writeTarEntry, type EntryHeader } from '../storage/layer-diff.js';
import { eachTarEntry, writeAll, type TarEntry } from '../storage/layer-unpack.js';
import { hostOwner, idMaps, remappedRoot } from '../util/id-map.js';
import { ContainerFs, O_PATH, PathNotFoundError, fdPath, type Lookup } from './safe-path.js';
import type { ContainerMount, PathStat } from './volume-types.js';

export { PathNotFoundError } from './safe-path.js';

const DIR_PATH = O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;
const DIR_READ = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;
const errCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;
const RACED = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

// ---- stat ------------------------------------------------------------------------

/** Go's os.FileMode of a stat (the CLI decodes PathStat.mode as one). */
export function goFileMode(st: Stats | BigIntStats): number {
  const mode = Number(st.mode);
  let m = mode & 0o777;
  if (mode & 0o4000) m += 2 ** 23; // ModeSetuid
  if (mode & 0o2000) m += 2 ** 22; // ModeSetgid
  if (mode & 0o1000) m += 2 ** 20; // ModeSticky
  if (st.isDirectory()) m += 2 ** 31;
  else if (st.isSymbolicLink()) m += 2 ** 27;
  else if (st.isFIFO()) m += 2 ** 25;
  else if (st.isSocket()) m += 2 ** 24;
  else if (st.isCharacterDevice()) m += 2 ** 26 + 2 ** 21;
  else if (st.isBlockDevice()) m += 2 ** 26;
  return m;
}

/** Go's RFC3339Nano in UTC: fraction without trailing zeros. */
export function rfc3339Nano(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(sec) * 1000).toISOString().replace(/\.\d+Z$/, '');
  const f = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${f}Z`;
}

/** Go's filepath.Base. */
function goBase(p: string): string {
  if (p === '') return '.';
  const s = p.replace(/\/+$/, '');
  if (s === '') return '/';
  return s.slice(s.lastIndexOf('/') + 1);
}

async function bigStatOf(lk: Lookup): Promise<BigIntStats> {
  if (lk.name === null) return lk.dir.stat({ bigint: true });
  if (lk.fileMount) return fs.stat(lk.host, { bigint: true });
  return fs.lstat(fdPath(lk.dir, lk.name), { bigint: true });
}

/**
 * The X-Docker-Container-Path-Stat of a container path: lstat of it (a
 * final symlink is described, with its target resolved inside the container).
 */
export async function statPath(root: string, mounts: ContainerMount[], p: string): Promise<PathStat> {
  const cfs = await ContainerFs.open(root, mounts);
  try {
    const lk = await cfs.resolve(p, { followFinal: false });
    try {
      if (!lk.stat) throw new PathNotFoundError(p);
      const big = await bigStatOf(lk);
      let linkTarget = '';
      if (lk.stat.isSymbolicLink()) {
        const target = await cfs.resolve(p, { followFinal: true, allowMissing: true });
        linkTarget = target.logical;
        await target.release();
      }
      return {
        name: goBase(p),
        size: Number(big.size),
        mode: goFileMode(big),
        mtime: rfc3339Nano(big.mtimeNs),
        linkTarget,
      };
    } finally {
      await lk.release();
    }
  } finally {
    await cfs.close();
  }
}

// ---- archive (GET) ------------------------------------------------------------------

function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  return { devmajor: Math.floor(rdev / 256) & 0xfff, devminor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}

/** Exactly `size` bytes of an open file: a file that shrank is padded, one that grew is cut. */
async function* exactly(handle: FileHandle, size: number): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const want = Math.min(64 * 1024, size - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buf, 0, want, pos);
    if (bytesRead === 0) {
      yield Buffer.alloc(size - pos);
      return;
    }
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

class Archiver {
  private readonly links = new Map<string, string>();

  constructor(
    private readonly cfs: ContainerFs,
    private readonly pack: tar.Pack,
    /** Name the root's children "bin/…", without a "/" entry for the root itself (docker export). */
    private readonly bareRoot = false,
  ) {}

  private base(st: Stats): Partial<EntryHeader> {
    // Full st_mode: tar-stream masks the type bits, and would turn a bare 0 into 0644.
    return { mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime };
  }

  /** A directory (open handle) and everything below it. */
  async dir(handle: FileHandle, logical: string, entryName: string, st: Stats): Promise<void> {
    const bare = this.bareRoot && entryName === '';
    if (!bare) await writeTarEntry(this.pack, { ...this.base(st), name: `${entryName}/`, type: 'directory' });
    const names = new Set(await fs.readdir(fdPath(handle)));
    // A mount destination that the root filesystem does not have yet is still a child.
    for (const m of this.cfs.mountsBelow(logical)) {
      names.add(m.destination.slice(logical === '/' ? 1 : logical.length + 1).split('/')[0]!);
    }
    for (const name of [...names].sort()) {
      const childLogical = logical === '/' ? `/${name}` : `${logical}/${name}`;
      await this.child(handle, name, childLogical, bare ? name : `${entryName}/${name}`);
    }
  }

  private async child(parent: FileHandle, name: string, logical: string, entryName: string): Promise<void> {
    const mount = this.cfs.mountAt(logical);
    if (mount) {
      const st = await fs.stat(mount.source);
      if (st.isDirectory()) {
        const h = await fs.open(mount.source, O_PATH | fsc.O_DIRECTORY);
        try {
          await this.dir(h, logical, entryName, st);
        } finally {
          await h.close();
        }
      } else if (st.isFile()) {
        const h = await fs.open(mount.source, fsc.O_RDONLY | fsc.O_NONBLOCK);
        try {
          await this.fileFrom(h, entryName);
        } finally {
          await h.close();
        }
      }
      return;
    }
    if (this.cfs.isMountAncestor(logical)) {
      // Through resolve, which makes a missing mountpoint parent as the runtime would.
      const lk = await this.cfs.resolve(logical, { followFinal: false });
      try {
        if (lk.stat && lk.name !== null) await this.entry(lk.dir, lk.name, logical, entryName, lk.stat);
      } finally {
        await lk.release();
      }
      return;
    }
    let st: Stats;
    try {
      st = await fs.lstat(fdPath(parent, name));
    } catch (err) {
      if (RACED.has(errCode(err) ?? '')) return; // gone while we looked
      throw err;
    }
    await this.entry(parent, name, logical, entryName, st);
  }

  /** One entry found in `parent` (not a mount). */
  async entry(
    parent: FileHandle,
    name: string,
    logical: string,
    entryName: string,
    st: Stats,
  ): Promise<void> {
    const at = fdPath(parent, name);
    if (st.isDirectory()) {
      let h: FileHandle;
      try {
        h = await fs.open(at, DIR_PATH);
      } catch (err) {
        if (RACED.has(errCode(err) ?? '')) return; // replaced by a non-directory meanwhile
        throw err;
      }
      try {
        await this.dir(h, logical, entryName, st);
      } finally {
        await h.close();
      }
    } else if (st.isFile()) {
      let h: FileHandle;
      try {
        // O_NONBLOCK: if a FIFO took its place, the open must not hang.
        h = await fs.open(at, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
      } catch (err) {
        if (RACED.has(errCode(err) ?? '')) return;
        throw err;
      }
      try {
        await this.fileFrom(h, entryName);
      } finally {
        await h.close();
      }
    } else if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await fs.readlink(at);
      } catch (err) {
        if (RACED.has(errCode(err) ?? '') || errCode(err) === 'EINVAL') return;
        throw err;
      }
      await writeTarEntry(this.pack, {
        ...this.base(st),
        name: entryName,
        type: 'symlink',
        linkname: target,
        size: 0,
      });
    } else if (st.isFIFO()) {
      await writeTarEntry(this.pack, { ...this.base(st), name: entryName, type: 'fifo', size: 0 });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      await writeTarEntry(this.pack, {
        ...this.base(st),
        name: entryName,
        type,
        size: 0,
        ...deviceNumbers(st.rdev),
      });
    }
    // Sockets cannot be stored in a tar; dockerd skips them too.
  }

  /** A regular file from an open handle; a second name of a hard-linked inode becomes a link entry. */
  async fileFrom(h: FileHandle, entryName: string): Promise<void> {
    const st = await h.stat();
    if (!st.isFile()) return;
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? this.links.get(key) : undefined;
    if (first !== undefined) {
      await writeTarEntry(this.pack, {
        ...this.base(st),
        name: entryName,
        type: 'link',
        linkname: first,
        size: 0,
      });
      return;
    }
    if (st.nlink > 1) this.links.set(key, entryName);
    await writeTarEntry(
      this.pack,
      { ...this.base(st), name: entryName, type: 'file', size: st.size },
      Readable.from(exactly(h, st.size), { objectMode: false }),
    );
  }
}

/**
 * A tar of a container path, named as dockerd names it: a directory /a/b
 * gives "b/", "b/…"; "/a/b/." gives "./", "./…"; a file gives its base name.
 * With followLink a final symlink is archived as what it points to (under
 * the link's name); without, the link itself.
 */
export async function archivePath(
  root: string,
  mounts: ContainerMount[],
  p: string,
  opts: { followLink?: boolean; bareRoot?: boolean } = {},
): Promise<NodeJS.ReadableStream> {
  const cfs = await ContainerFs.open(root, mounts);
  let lk: Lookup;
  try {
    lk = await cfs.resolve(p, { followFinal: opts.followLink ?? false });
    if (!lk.stat) {
      await lk.release();
      throw new PathNotFoundError(p);
    }
  } catch (err) {
    await cfs.close();
    throw err;
  }
  const st = lk.stat;
  const trailingDot = /(^|\/)\.$/.test(p);
  const base = trailingDot ? '.' : goBase(path.posix.join('/', p));
  const pack = tar.pack();
  const archiver = new Archiver(cfs, pack, opts.bareRoot);
  const produce = async (): Promise<void> => {
    try {
      if (st.isDirectory()) {
        const entryName = base === '/' ? '' : base;
        if (lk.name === null) await archiver.dir(lk.dir, lk.logical, entryName, st);
        else if (lk.fileMount) throw invalid(`cannot archive ${p}: not a directory`);
        else await archiver.entry(lk.dir, lk.name, lk.logical, entryName, st);
      } else if (lk.fileMount) {
        const h = await fs.open(lk.host, fsc.O_RDONLY | fsc.O_NONBLOCK);
        try {
          await archiver.fileFrom(h, base);
        } finally {
          await h.close();
        }
      } else {
        await archiver.entry(lk.dir, lk.name!, lk.logical, base, st);
      }
      pack.finalize();
    } finally {
      await lk.release().catch(() => {});
      await cfs.close().catch(() => {});
    }
  };
  produce().catch((err: Error) => pack.destroy(err));
  return Readable.from(pack, { objectMode: false });
}

// ---- extract (PUT) ------------------------------------------------------------------

export interface ExtractOptions {
  /** Refuse to replace a directory by a non-directory or the reverse (the API's noOverwriteDirNonDir). */
  noOverwriteDirNonDir?: boolean;
  /** `docker cp -a`: everything is owned by `chown` (the container's user) instead of the tar's ids. */
  copyUIDGID?: boolean;
  /** The container user's uid/gid, resolved by the engine; used with copyUIDGID. */
  chown?: { uid: number; gid: number };
  /** The container's root filesystem is read-only (--read-only): only writable mounts take files. */
  readonlyRootfs?: boolean;
}

type PaxHeaders = Omit<Header, 'pax'> & { pax?: Record<string, string> | null };

/** A tar entry name made relative; absolute names and ".." components are refused. */
export function entryRel(name: string, what = 'entry'): string {
  if (name.startsWith('/'))
    throw invalid(`refusing the archive: ${what} "${name}" has an absolute path; entries must be relative`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..'))
    throw invalid(`refusing the archive: ${what} "${name}" contains a ".." component`);
  return parts.join('/');
}

class Extractor {
  private readonly dirTimes: Array<{ logical: string; mtime: Date }> = [];

  constructor(
    private readonly cfs: ContainerFs,
    private readonly destLogical: string,
    private readonly dest: string,
    private readonly opts: ExtractOptions,
  ) {}

  checkWritable(mount: ContainerMount | undefined): void {
    if (mount?.readOnly) throw invalid('mounted volume is marked read-only');
    if (!mount && this.opts.readonlyRootfs) throw invalid('container rootfs is marked read-only');
  }

  private logicalOf(rel: string): string {
    return this.destLogical === '/' ? `/${rel}` : `${this.destLogical}/${rel}`;
  }

  async entry(entry: TarEntry): Promise<void> {
    const h = entry.header as PaxHeaders;
    const type: string = h.type ?? 'unknown';
    try {
      if (type === 'pax-global-header' || type === 'pax-header') return;
      const rel = entryRel(h.name);
      if (rel === '') return; // the extraction point itself
      const uid = h.pax?.uid !== undefined ? Number(h.pax.uid) : (h.uid ?? 0);
      const gid = h.pax?.gid !== undefined ? Number(h.pax.gid) : (h.gid ?? 0);
      const mtime =
        h.pax?.mtime !== undefined ? new Date(Number(h.pax.mtime) * 1000) : (h.mtime ?? new Date());
      const mode = (h.mode ?? 0o644) & 0o7777;
      const named = this.opts.copyUIDGID && this.opts.chown ? this.opts.chown : { uid, gid };
      // Container ids, stored as the host's (they differ under --userns-remap).
      const owner = hostOwner(named.uid, named.gid);
      const logical = this.logicalOf(rel);

      const lk = await this.cfs.resolve(logical, {
        followFinal: false,
        mkdirParents: {
          mode: 0o755,
          owner: this.opts.copyUIDGID && this.opts.chown ? owner : idMaps() ? remappedRoot() : undefined,
          check: (mount) => this.checkWritable(mount),
        },
      });
      try {
        if (lk.fileMount || lk.name === null) {
          // A mount's root: a directory entry may set its metadata, nothing may replace it.
          if (type === 'directory' && !lk.fileMount) {
            this.checkWritable(lk.mount);
            await this.setDirMeta(fdPath(lk.dir), owner, mode);
            this.dirTimes.push({ logical: lk.logical, mtime });
            return;
          }
          throw invalid(`cannot overwrite ${lk.logical} with "${h.name}": a volume or bind mount is there`);
        }
        this.checkWritable(lk.mount);
        const at = fdPath(lk.dir, lk.name);
        const existing = lk.stat;
        if (existing) {
          const isDir = existing.isDirectory();
          if (this.opts.noOverwriteDirNonDir && isDir && type !== 'directory')
            throw invalid(`cannot overwrite directory "${rel}" with non-directory "${this.dest}"`);
          if (this.opts.noOverwriteDirNonDir && !isDir && type === 'directory')
            throw invalid(`cannot overwrite non-directory "${rel}" with directory "${this.dest}"`);
          if (!(isDir && type === 'directory')) await this.remove(lk);
        }
        switch (type) {
          case 'directory':
            if (!existing?.isDirectory()) await fs.mkdir(at, 0o700);
            await this.setDirMeta(at, owner, mode);
            this.dirTimes.push({ logical: lk.logical, mtime });
            return;
          case 'file':
          case 'contiguous-file': {
            const fh = await fs.open(at, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
            try {
              await writeAll(entry, fh);
              await fh.chown(owner.uid, owner.gid);
              await fh.chmod(mode); // after chown, which clears set-id bits
              await fh.utimes(mtime, mtime);
            } finally {
              await fh.close();
            }
            return;
          }
          case 'symlink': {
            if (!h.linkname) throw invalid(`refusing the archive: symlink "${h.name}" has an empty target`);
            // Stored as is: it is only ever followed inside the container.
            await fs.symlink(h.linkname, at);
            await fs.lchown(at, owner.uid, owner.gid);
            await fs.lutimes(at, mtime, mtime);
            return;
          }
          case 'link': {
            const targetRel = entryRel(h.linkname ?? '', `hardlink target of "${h.name}"`);
            const target = await this.cfs.resolve(this.logicalOf(targetRel), {
              followFinal: false,
              allowMissing: true,
            });
            try {
              if (!target.stat || target.stat.isDirectory() || target.name === null || target.fileMount) {
                throw invalid(
                  `refusing the archive: hardlink "${h.name}" -> "${h.linkname}" does not point at an existing file`,
                );
              }
              await fs.link(fdPath(target.dir, target.name), at);
            } finally {
              await target.release();
            }
            return;
          }
          case 'fifo':
          case 'character-device':
          case 'block-device': {
            const kind =
              type === 'fifo'
                ? ['p']
                : [type === 'character-device' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
            await run('mknod', ['-m', mode.toString(8), at, ...kind]);
            await fs.lchown(at, owner.uid, owner.gid);
            await fs.lutimes(at, mtime, mtime);
            return;
          }
          default:
            log.debug('docker cp: skipping unsupported tar entry', { name: h.name, type });
            return;
        }
      } finally {
        await lk.release();
      }
    } finally {
      // Whatever was not read (skipped entries) must still be drained.
      entry.resume();
    }
  }

  private async setDirMeta(at: string, owner: { uid: number; gid: number }, mode: number): Promise<void> {
    const dh = await fs.open(at, DIR_READ);
    try {
      await dh.chown(owner.uid, owner.gid);
      await dh.chmod(mode);
    } finally {
      await dh.close();
    }
  }

  /** Delete what an entry replaces, through descriptors, never below a mount. */
  private async remove(lk: Lookup): Promise<void> {
    const below = this.cfs.mountsBelow(lk.logical);
    if (below.length > 0)
      throw invalid(`cannot replace ${lk.logical}: ${below[0]!.destination} is mounted below it`);
    await this.cfs.invalidate(lk.logical);
    await removeAt(lk.dir, lk.name!);
  }

  /** Directory times last: creating entries inside a directory changes its mtime. */
  async finish(): Promise<void> {
    for (const { logical, mtime } of this.dirTimes.reverse()) {
      const lk = await this.cfs.resolve(logical, { followFinal: false });
      try {
        if (!lk.stat?.isDirectory()) continue;
        const dh = await fs.open(lk.name === null ? fdPath(lk.dir) : fdPath(lk.dir, lk.name), DIR_READ);
        try {
          await dh.utimes(mtime, mtime);
        } finally {
          await dh.close();
        }
      } finally {
        await lk.release();
      }
    }
  }
}

/** rm -rf of `name` in an open directory, without following any symlink. */
async function removeAt(dir: FileHandle, name: string): Promise<void> {
  const at = fdPath(dir, name);
  let st: Stats;
  try {
    st = await fs.lstat(at);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!st.isDirectory()) {
    await fs.unlink(at);
    return;
  }
  let h: FileHandle;
  try {
    h = await fs.open(at, DIR_PATH);
  } catch (err) {
    if (errCode(err) === 'ENOTDIR' || errCode(err) === 'ELOOP') return removeAt(dir, name); // swapped: look again
    throw err;
  }
  try {
    for (const child of await fs.readdir(fdPath(h))) await removeAt(h, child);
  } finally {
    await h.close();
  }
  await fs.rmdir(at);
}

/** The client's fault (not a tar, bad gzip) is invalid; system errors (ENOSPC, EROFS) stay what they are. */
function asArchiveError(err: unknown): Error {
  if (err instanceof EngineError) return err;
  const code = errCode(err);
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return err as Error;
  return invalid(`the archive is not a valid tar: ${(err as Error)?.message ?? String(err)}`);
}

/**
 * Unpack a tar (plain, gzip, bzip2 or xz) into the container directory `p`
 * (symlinks followed, also the last; it must be a directory). Each entry is
 * resolved on its own inside the container, so a symlink in the archive or in
 * the container can redirect it only to another place in the container.
 */
export async function extractArchive(
  root: string,
  mounts: ContainerMount[],
  p: string,
  input: NodeJS.ReadableStream,
  opts: ExtractOptions = {},
): Promise<void> {
  const cfs = await ContainerFs.open(root, mounts);
  try {
    // Cached from the start, so the destination's directories stay open: every
    // entry lands in the directory resolved here (as dockerd extracts in a
    // chroot of it), even if the container renames or replaces it meanwhile.
    cfs.enableCache();
    const dest = await cfs.resolve(p, { followFinal: true });
    let destLogical: string;
    try {
      if (!dest.stat) throw new PathNotFoundError(p);
      if (!dest.stat.isDirectory()) throw invalid('extraction point is not a directory');
      destLogical = dest.logical;
    } finally {
      await dest.release();
    }
    const x = new Extractor(cfs, destLogical, p, opts);
    x.checkWritable(cfs.mountOf(destLogical));

    await eachTarEntry(input, async (entry) => {
      await x.entry(entry);
      await cfs.trimCache();
    }).catch((err: unknown) => {
      throw asArchiveError(err);
    });
    await x.finish();
  } finally {
    await cfs.close();
  }
}
