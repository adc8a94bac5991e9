// What the client's build context holds, learned while its tar streams in:
// each entry's type, mode, owner, link target and content digest. A cached
// build answers COPY/ADD source lookups and their cache hashes from it, so the
// context is unpacked only when a step really needs its files.
import { createHash } from 'node:crypto';
import { invalid } from '../../errors.js';
import { entryRel } from '../../volumes/container-archive.js';
import type { TarEntry } from '../../storage/layer-unpack.js';

export interface IndexedEntry {
  /** tar-stream's type ("file", "directory", "symlink", …); a hardlink is recorded as what it names. */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  size: number;
  /** sha256 of a file's bytes. */
  digest?: string;
}

/** How a path resolves with symlinks followed. */
export type Lookup =
  | { kind: 'missing' }
  /** Only the unpacked files can say: a symlink lies on the path, or the index is not reliable. */
  | { kind: 'unsure' }
  | { kind: 'found'; isDir: boolean };

const IMPLIED_DIR: IndexedEntry = { type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 };

/** Paths compared component by component: the order of a depth-first walk with sorted names. */
export function treeOrder(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}

export class ContextIndex {
  private readonly entries = new Map<string, IndexedEntry>();
  private readonly contents = new Map<string, Buffer>();
  /**
   * False once an entry lies below a symlink or a non-directory: what that
   * unpacks to depends on the files, so the context must be unpacked and read.
   */
  reliable = true;

  /** keep: paths whose bytes (up to keepLimit) are held, for the Dockerfile and .dockerignore. */
  constructor(
    private readonly keep: ReadonlySet<string>,
    private readonly keepLimit: number,
  ) {}

  /** Record one entry of the tar, reading its bytes. */
  async add(entry: TarEntry): Promise<void> {
    const h = entry.header as TarEntry['header'] & { pax?: Record<string, string> | null };
    const type: string = h.type ?? 'unknown';
    if (type === 'pax-global-header' || type === 'pax-header') {
      entry.resume();
      return;
    }
    const rel = entryRel(h.name);
    const hash = type === 'file' || type === 'contiguous-file' ? createHash('sha256') : undefined;
    const kept = this.keep.has(rel) && (h.size ?? 0) <= this.keepLimit ? ([] as Buffer[]) : undefined;
    for await (const chunk of entry) {
      hash?.update(chunk as Buffer);
      kept?.push(chunk as Buffer);
    }
    if (rel === '') return; // the context's root itself
    const record: IndexedEntry = {
      type: type === 'contiguous-file' ? 'file' : type,
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: h.pax?.uid !== undefined ? Number(h.pax.uid) : (h.uid ?? 0),
      gid: h.pax?.gid !== undefined ? Number(h.pax.gid) : (h.gid ?? 0),
      size: h.size ?? 0,
      ...(type === 'symlink' ? { linkname: h.linkname ?? '' } : {}),
      ...(hash ? { digest: hash.digest('hex') } : {}),
    };
    if (!this.parentsAreDirs(rel)) {
      this.reliable = false;
      return;
    }
    if (type === 'link') {
      const target = entryRel(h.linkname ?? '', `hardlink target of "${h.name}"`);
      const found = this.lookupNoFollow(target);
      if (found === 'symlink') {
        this.reliable = false;
        return;
      }
      if (!found || found.type === 'directory')
        throw invalid(
          `refusing the archive: hardlink "${h.name}" -> "${h.linkname}" does not point at an existing file`,
        );
      this.set(rel, { ...found });
      return;
    }
    this.set(rel, record);
    if (kept) this.contents.set(rel, Buffer.concat(kept));
  }

  /** Directories implied by a path are made as unpacking makes them; false when a parent is not a directory. */
  private parentsAreDirs(rel: string): boolean {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const e = this.entries.get(parent);
      if (!e) this.entries.set(parent, IMPLIED_DIR);
      else if (e.type !== 'directory') return false;
    }
    return true;
  }

  private set(rel: string, record: IndexedEntry): void {
    const old = this.entries.get(rel);
    if (old?.type === 'directory' && record.type !== 'directory') this.removeBelow(rel);
    this.entries.set(rel, record);
    this.contents.delete(rel);
  }

  private removeBelow(rel: string): void {
    const prefix = `${rel}/`;
    for (const k of [...this.entries.keys()]) {
      if (k.startsWith(prefix)) {
        this.entries.delete(k);
        this.contents.delete(k);
      }
    }
  }

  /** The entry at rel with no symlink followed; 'symlink' when one is a parent. */
  private lookupNoFollow(rel: string): IndexedEntry | 'symlink' | undefined {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const e = this.entries.get(parts.slice(0, i).join('/'));
      if (!e) return undefined;
      if (e.type === 'symlink') return 'symlink';
      if (e.type !== 'directory') return undefined;
    }
    return this.entries.get(rel);
  }

  lookup(rel: string): Lookup {
    if (!this.reliable) return { kind: 'unsure' };
    if (rel === '') return { kind: 'found', isDir: true };
    const e = this.lookupNoFollow(rel);
    if (e === 'symlink' || e?.type === 'symlink') return { kind: 'unsure' };
    return e ? { kind: 'found', isDir: e.type === 'directory' } : { kind: 'missing' };
  }

  /**
   * A regular file's size and, when it was kept (a name asked for, within the
   * limit, not a hardlink's second name), its bytes; undefined when not a file.
   */
  content(rel: string): { bytes?: Buffer; size: number } | undefined {
    const e = this.entries.get(rel);
    if (!e || e.type !== 'file') return undefined;
    return { bytes: this.contents.get(rel), size: e.size };
  }

  remove(rel: string): void {
    this.removeBelow(rel);
    this.entries.delete(rel);
    this.contents.delete(rel);
  }

  /** Every path, in the order of a sorted depth-first walk; undefined when the index is not reliable. */
  list(): Array<{ rel: string; isDir: boolean }> | undefined {
    if (!this.reliable) return undefined;
    return [...this.entries]
      .sort(([a], [b]) => treeOrder(a, b))
      .map(([rel, e]) => ({ rel, isDir: e.type === 'directory' }));
  }

  /** A hash of a path and all below it: names, types, modes, owners, link targets and bytes (no times). */
  hashOf(rel: string): string {
    const prefix = rel ? `${rel}/` : '';
    const below = [...this.entries].filter(([k]) => k === rel || k.startsWith(prefix));
    below.sort(([a], [b]) => treeOrder(a, b));
    const hash = createHash('sha256');
    for (const [k, e] of below) {
      const name = k === rel ? '.' : k.slice(prefix.length);
      hash.update(JSON.stringify([name, e.type, e.mode, e.uid, e.gid, e.linkname ?? '', e.digest ?? '']));
      hash.update('\n');
    }
    return hash.digest('hex');
  }
}
