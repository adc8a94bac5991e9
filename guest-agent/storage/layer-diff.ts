// What a container changed: read from its overlay upper dir. Gives dockerd's
// /containers/{id}/changes list, the layer tar for `docker commit`, and SizeRw.
import { promises as fs, createReadStream, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { EngineError } from '../errors.js';
import { run } from '../util/subprocess.js';
import { containerOwner, idMaps } from '../util/id-map.js';

export type ChangeKind = 0 | 1 | 2;
export const CHANGE_MODIFIED = 0;
export const CHANGE_ADDED = 1;
export const CHANGE_DELETED = 2;

export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

interface WalkEntry {
  rel: string;
  st: Stats;
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Every entry below root, parents before children, names sorted, whiteouts
 * before their siblings. Entries that vanish meanwhile (running container) are skipped.
 */
/**
 * Mountpoints the runtime makes in a container's root filesystem: empty files
 * at the bind-mounted /etc paths, and the directories holding them. dockerd
 * keeps these in an "init" layer, so they are in no diff and no commit.
 */
export const RUNTIME_STUB_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf', '.dockerenv'];
export const RUNTIME_STUB_DIRS = ['dev/pts', 'dev/shm', 'dev/mqueue', 'dev', 'proc', 'sys', 'etc'];

/** The upper dir's entries that are nothing but the runtime's stubs (directories: unless opaque). */
function runtimeStubs(upperDir: string, entries: WalkEntry[], opaque: Set<string>): Set<string> {
  const stubs = new Set<string>();
  for (const e of entries) {
    if (RUNTIME_STUB_FILES.includes(e.rel) && e.st.isFile() && e.st.size === 0) stubs.add(e.rel);
  }
  const dirs = new Map(entries.filter((e) => e.st.isDirectory()).map((e) => [e.rel, e]));
  // Deepest first: dev/pts can make dev a stub too.
  for (const rel of [...RUNTIME_STUB_DIRS].sort((a, b) => b.length - a.length)) {
    if (!dirs.has(rel) || opaque.has(path.join(upperDir, rel))) continue;
    const prefix = `${rel}/`;
    if (entries.every((e) => !e.rel.startsWith(prefix) || stubs.has(e.rel))) stubs.add(rel);
  }
  return stubs;
}

async function walk(root: string): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  async function visit(rel: string): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(rel === '' ? root : path.join(root, rel));
    } catch (err) {
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return;
      throw err;
    }
    const children: WalkEntry[] = [];
    for (const name of names.sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      try {
        children.push({ rel: childRel, st: await fs.lstat(path.join(root, childRel)) });
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
    }
    children.sort((a, b) => Number(isWhiteout(b.st)) - Number(isWhiteout(a.st)));
    for (const c of children) {
      out.push(c);
      if (c.st.isDirectory()) await visit(c.rel);
    }
  }
  await visit('');
  return out;
}

function unescapeGetfattr(s: string): string {
  return s.replace(/\\([0-7]{3}|\\)/g, (_m, g: string) =>
    g === '\\' ? '\\' : String.fromCharCode(parseInt(g, 8)),
  );
}

/** Which of these directories carry trusted.overlay.opaque=y (getfattr, from Debian "attr"). */
export async function readOpaque(dirs: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < dirs.length; i += 500) {
    const batch = dirs.slice(i, i + 500);
    const r = await run('getfattr', ['--absolute-names', '-h', '-n', 'trusted.overlay.opaque', ...batch], {
      allowFailure: true,
    });
    const unexpected = r.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/No such attribute|Operation not supported/.test(l));
    if (r.exitCode !== 0 && unexpected.length) {
      throw new EngineError(
        'internal',
        `cannot read overlay opaque markers (is "attr" installed?): ${unexpected.join('; ')}`,
      );
    }
    let current: string | undefined;
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('# file: ')) current = unescapeGetfattr(line.slice(8));
      else if (current && line === 'trusted.overlay.opaque="y"') found.add(current);
    }
  }
  return found;
}

/** The union of read-only layers as overlayfs shows it, for "did this exist before?" questions. */
class LowerView {
  private readonly layers: string[];
  private readonly stats = new Map<string, Stats | null>();
  private readonly opaque = new Map<string, boolean>();

  /** lowerDirs lowest first, as the mount takes them. */
  constructor(lowerDirs: string[]) {
    this.layers = [...lowerDirs].reverse();
  }

  private async lstat(layer: number, rel: string): Promise<Stats | null> {
    const key = `${layer}\0${rel}`;
    let st = this.stats.get(key);
    if (st === undefined) {
      st = await fs.lstat(path.join(this.layers[layer]!, rel)).catch((err) => {
        if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return null;
        throw err;
      });
      this.stats.set(key, st);
    }
    return st;
  }

  private async isOpaque(layer: number, rel: string): Promise<boolean> {
    const key = `${layer}\0${rel}`;
    let v = this.opaque.get(key);
    if (v === undefined) {
      v = (await readOpaque([path.join(this.layers[layer]!, rel)])).size > 0;
      this.opaque.set(key, v);
    }
    return v;
  }

  /** Read the opaque markers of these dirs in every layer in one batch per layer. */
  async prefetch(dirRels: Iterable<string>): Promise<void> {
    const rels = [...dirRels];
    for (let layer = 0; layer < this.layers.length; layer++) {
      const present: string[] = [];
      for (const rel of rels) {
        const st = await this.lstat(layer, rel);
        if (st?.isDirectory()) present.push(rel);
        else this.opaque.set(`${layer}\0${rel}`, false);
      }
      const abs = present.map((r) => path.join(this.layers[layer]!, r));
      const opaque = await readOpaque(abs);
      present.forEach((r, i) => this.opaque.set(`${layer}\0${r}`, opaque.has(abs[i]!)));
    }
  }

  /** The visible entry at rel, or undefined when no layer shows one. */
  async lookup(rel: string): Promise<Stats | undefined> {
    const parts = rel.split('/');
    for (let layer = 0; layer < this.layers.length; layer++) {
      let stopBelow = false;
      let prefix = '';
      for (let i = 0; i < parts.length; i++) {
        prefix = i === 0 ? parts[0]! : `${prefix}/${parts[i]}`;
        const st = await this.lstat(layer, prefix);
        if (!st) break;
        if (isWhiteout(st)) return undefined;
        if (i === parts.length - 1) return st;
        if (!st.isDirectory()) return undefined;
        if (await this.isOpaque(layer, prefix)) stopBelow = true;
      }
      if (stopBelow) return undefined;
    }
    return undefined;
  }

  /** Names visible in the directory rel. */
  async list(rel: string): Promise<string[]> {
    const names = new Set<string>();
    for (const layer of this.layers) {
      for (const n of await fs.readdir(path.join(layer, rel)).catch(() => [] as string[])) names.add(n);
    }
    const visible: string[] = [];
    for (const n of names) if (await this.lookup(`${rel}/${n}`)) visible.push(n);
    return visible;
  }
}

function sameDirMeta(a: Stats, b: Stats): boolean {
  return (
    a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && Math.floor(a.mtimeMs) === Math.floor(b.mtimeMs)
  );
}

/**
 * dockerd's container changes: 0 modified, 1 added, 2 deleted, sorted by path.
 * lowerDirs lowest first. Every parent directory of a change counts as modified.
 */
export async function changes(
  upperDir: string,
  lowerDirs: string[],
): Promise<Array<{ Path: string; Kind: ChangeKind }>> {
  const walked = await walk(upperDir);
  const upperOpaque = await readOpaque(
    walked.filter((e) => e.st.isDirectory()).map((e) => path.join(upperDir, e.rel)),
  );
  const stubs = runtimeStubs(upperDir, walked, upperOpaque);
  const entries = walked.filter((e) => !stubs.has(e.rel));
  const dirs = entries.filter((e) => e.st.isDirectory());
  const lower = new LowerView(lowerDirs);
  // Lookups ask about every proper prefix of an upper path: exactly the upper's directories.
  await lower.prefetch(dirs.map((e) => e.rel));
  const upperRels = new Set(entries.map((e) => e.rel));

  const result = new Map<string, ChangeKind>();
  for (const e of entries) {
    const p = `/${e.rel}`;
    if (isWhiteout(e.st)) {
      result.set(p, CHANGE_DELETED);
      continue;
    }
    const before = await lower.lookup(e.rel);
    if (!before) {
      result.set(p, CHANGE_ADDED);
    } else if (e.st.isDirectory() && before.isDirectory()) {
      if (upperOpaque.has(path.join(upperDir, e.rel))) {
        // Recreated directory: what the lower layers had in it is gone unless the upper has it again.
        result.set(p, CHANGE_MODIFIED);
        for (const name of await lower.list(e.rel)) {
          const child = `${e.rel}/${name}`;
          if (!upperRels.has(child)) result.set(`/${child}`, CHANGE_DELETED);
        }
      } else if (!sameDirMeta(e.st, before)) {
        result.set(p, CHANGE_MODIFIED);
      }
    } else {
      result.set(p, CHANGE_MODIFIED);
    }
  }
  for (const p of [...result.keys()]) {
    for (let dir = path.posix.dirname(p); dir !== '/'; dir = path.posix.dirname(dir)) {
      if (!result.has(dir)) result.set(dir, CHANGE_MODIFIED);
    }
  }
  return [...result.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([Path, Kind]) => ({ Path, Kind }));
}

function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  // Linux's encoding of dev_t (glibc gnu_dev_major/minor), for 32-bit safe numbers.
  const lo = rdev % 0x100000000;
  const hi = Math.floor(rdev / 0x100000000);
  return {
    devmajor: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0),
    devminor: (lo & 0xff) | ((lo >>> 12) & 0xfff00),
  };
}

export type EntryHeader = Partial<Header> & { name: string };

/** Resolve on 'drain'; reject when the sink or the whole pack goes away first. */
function drained(sink: NodeJS.EventEmitter, pack: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      sink.off('drain', onDrain);
      sink.off('error', onError);
      pack.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the tar stream was closed'));
    };
    sink.once('drain', onDrain);
    sink.once('error', onError);
    pack.once('close', onClose);
  });
}

/** Add one entry to a tar pack; a file's content comes from `source`, with backpressure. */
export async function writeTarEntry(
  pack: tar.Pack,
  header: EntryHeader,
  source?: Readable | Buffer,
): Promise<void> {
  if (pack.destroyed) throw new Error('the tar stream was closed');
  // Files on disk are owned by host ids; a tar names the container's (they differ under --userns-remap).
  if (header.uid !== undefined && header.gid !== undefined && idMaps())
    header = { ...header, ...containerOwner(header.uid, header.gid) };
  await new Promise<void>((resolve, reject) => {
    const onClose = () => reject(new Error('the tar stream was closed'));
    pack.once('close', onClose);
    const done = (err?: Error | null) => {
      pack.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    if (header.type !== 'file') {
      pack.entry(header, done);
      return;
    }
    if (source === undefined || Buffer.isBuffer(source)) {
      pack.entry(header, source ?? Buffer.alloc(0), done);
      return;
    }
    const sink = pack.entry(header, done);
    void (async () => {
      try {
        for await (const chunk of source) {
          if (!sink.write(chunk as Buffer)) {
            await drained(sink as unknown as NodeJS.EventEmitter, pack as unknown as NodeJS.EventEmitter);
          }
        }
        sink.end(undefined);
      } catch (err) {
        sink.destroy(err as Error);
        reject(err as Error);
      }
    })();
  });
}

/**
 * The upper dir as an OCI layer tar (uncompressed): overlay whiteouts become
 * '.wh.<name>', opaque directories get '<dir>/.wh..wh..opq'.
 */
export function diffTar(upperDir: string): NodeJS.ReadableStream {
  const pack = tar.pack();
  const produce = async (): Promise<void> => {
    const walked = await walk(upperDir);
    const opaque = await readOpaque(
      walked.filter((e) => e.st.isDirectory()).map((e) => path.join(upperDir, e.rel)),
    );
    const stubs = runtimeStubs(upperDir, walked, opaque);
    const entries = walked.filter((e) => !stubs.has(e.rel));
    const firstPath = new Map<string, string>();
    for (const { rel, st } of entries) {
      const abs = path.join(upperDir, rel);
      // Full st_mode: tar-stream masks the type bits, and would turn a bare 0 into 0644.
      const base = { uid: st.uid, gid: st.gid, mtime: st.mtime, mode: st.mode };
      if (isWhiteout(st)) {
        const dir = path.posix.dirname(rel);
        const name = `${dir === '.' ? '' : `${dir}/`}.wh.${path.posix.basename(rel)}`;
        await writeTarEntry(pack, { name, type: 'file', size: 0, mode: 0o644, mtime: st.mtime });
      } else if (st.isDirectory()) {
        await writeTarEntry(pack, { ...base, name: `${rel}/`, type: 'directory' });
        if (opaque.has(abs)) {
          await writeTarEntry(pack, {
            name: `${rel}/.wh..wh..opq`,
            type: 'file',
            size: 0,
            mode: 0o644,
            mtime: st.mtime,
          });
        }
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? firstPath.get(key) : undefined;
        if (first !== undefined) {
          await writeTarEntry(pack, { ...base, name: rel, type: 'link', linkname: first, size: 0 });
        } else {
          if (st.nlink > 1) firstPath.set(key, rel);
          await writeTarEntry(
            pack,
            { ...base, name: rel, type: 'file', size: st.size },
            createReadStream(abs),
          );
        }
      } else if (st.isSymbolicLink()) {
        await writeTarEntry(pack, {
          ...base,
          name: rel,
          type: 'symlink',
          linkname: await fs.readlink(abs),
          size: 0,
        });
      } else if (st.isFIFO()) {
        await writeTarEntry(pack, { ...base, name: rel, type: 'fifo', size: 0 });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
        await writeTarEntry(pack, { ...base, name: rel, type, size: 0, ...deviceNumbers(st.rdev) });
      }
      // Sockets cannot be stored in a tar; dockerd skips them too.
    }
    pack.finalize();
  };
  produce().catch((err: Error) => pack.destroy(err));
  return Readable.from(pack, { objectMode: false });
}

/** Bytes of files below dir (each inode once), as dockerd's SizeRw. */
export async function dirSize(dir: string): Promise<number> {
  let entries: WalkEntry[];
  try {
    entries = await walk(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return 0;
    throw err;
  }
  const seen = new Set<string>();
  let total = 0;
  for (const { st } of entries) {
    if (!st.isFile() && !st.isSymbolicLink()) continue;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    total += st.size;
  }
  return total;
}
