// Resolving container paths from the host without ever leaving the container.
//
// A container controls its own files, so any symlink in them may point at
// /etc or climb with "..". Every lookup here walks one component at a time
// through directory file descriptors (O_PATH, O_NOFOLLOW) and names the next
// component as /proc/<pid>/fd/<fd>/<name>: the kernel resolves that through the
// already-open directory object, so a directory swapped for a symlink between
// two steps is noticed (the O_NOFOLLOW open fails) instead of followed.
// Symlinks are interpreted as the container would: absolute targets restart at
// the container's root, ".." never climbs above it, and a path that reaches a
// mount's destination continues inside that mount's host source.
import { promises as fs, constants as fsc, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { EngineError, invalid } from '../errors.js';
import type { ContainerMount } from './volume-types.js';

/** Linux O_PATH (same value on x86_64 and arm64); Node does not export it. */
export const O_PATH = 0o10000000;
const DIR_FLAGS = O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;
/** As Linux's own limit on symlinks followed in one lookup. */
const MAX_LINKS = 40;
/** A component that keeps changing under us is given up on after this many tries. */
const MAX_RETRIES = 16;

/** A path naming `name` inside an open directory, resolved by the kernel through the fd. */
export function fdPath(handle: FileHandle, name?: string): string {
  const base = `/proc/${process.pid}/fd/${handle.fd}`;
  return name === undefined ? base : `${base}/${name}`;
}

/** The components of a path, without empty and "." ones (".." kept). */
export function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** A container path, cleaned, absolute, without a trailing slash. */
export function cleanContainerPath(p: string): string {
  const n = path.posix.normalize(`/${p}`);
  return n.length > 1 ? n.replace(/\/+$/, '') : '/';
}

/** A path that does not exist in the container. The engine words it with the container's name. */
export class PathNotFoundError extends EngineError {
  constructor(readonly path: string) {
    super('not-found', `Could not find the file ${path} in container`);
  }
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

interface Level {
  handle: FileHandle;
  logical: string[];
  host: string;
  mount?: ContainerMount;
  /** The root level belongs to the ContainerFs, every other to the lookup that opened it. */
  owned: boolean;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component (stat vs lstat). */
  followFinal: boolean;
  /** Missing intermediate components are appended lexically instead of failing (securejoin). */
  allowMissing?: boolean;
  /** Create missing intermediate directories (tar extraction's implied parents). */
  mkdirParents?: {
    mode: number;
    owner?: { uid: number; gid: number };
    /** Called before creating a directory: throw to refuse (read-only mounts). */
    check?: (mount: ContainerMount | undefined, logical: string) => void;
  };
}

/** Where a container path landed. Release it when done. */
export interface Lookup {
  /** The directory holding the target, or the target itself when `name` is null. */
  dir: FileHandle;
  name: string | null;
  /** The container path of the target after resolution ("/usr/lib/x"). */
  logical: string;
  /** The host path of the target; informational (use `dir`/`name` for anything that touches files). */
  host: string;
  /** The mount the target lies on; undefined for the container's own root filesystem. */
  mount?: ContainerMount;
  /** lstat of the target (stat for a mount root); undefined when it does not exist. */
  stat?: Stats;
  /** The target is a single file bind-mounted from the host (e.g. /etc/hosts). */
  fileMount: boolean;
  /** Trailing components that did not exist (only with allowMissing). */
  missing: string[];
  release(): Promise<void>;
}

/** A container's filesystem as seen from the host: its root plus the mounts over it. */
export class ContainerFs {
  /**
   * Directories already walked, by container path (only paths reached without
   * following a symlink, so the key is what a later lookup spells). Opt-in for
   * sequential bulk work; the handles stay valid directory objects inside the
   * container whatever happens to their names, so a stale entry can misplace
   * a file only inside the container, never outside it.
   */
  private cache?: Map<string, Level>;

  private constructor(
    private readonly rootLevel: Level,
    private readonly mounts: Map<string, ContainerMount>,
  ) {}

  /** Keep walked directories open for later lookups (see `cache`); bounded by trimCache(). */
  enableCache(): void {
    this.cache ??= new Map();
  }

  /** Forget cached directories at or below a container path (after removing or replacing it). */
  async invalidate(logical: string): Promise<void> {
    if (!this.cache) return;
    const prefix = logical === '/' ? '/' : `${logical}/`;
    for (const [key, level] of this.cache) {
      if (key === logical || key.startsWith(prefix)) {
        this.cache.delete(key);
        await level.handle.close().catch(() => {});
      }
    }
  }

  /** Bound the cache; call only while no Lookup is held (its dir may be a cached handle). */
  async trimCache(max = 512): Promise<void> {
    if (!this.cache || this.cache.size <= max) return;
    for (const level of this.cache.values()) await level.handle.close().catch(() => {});
    this.cache.clear();
  }

  /** `root` and the mount sources are trusted host paths (the engine's own). */
  static async open(root: string, mounts: ContainerMount[] = []): Promise<ContainerFs> {
    const table = new Map<string, ContainerMount>();
    for (const m of mounts) {
      const dest = cleanContainerPath(m.destination);
      if (dest === '/') throw invalid('a mount over the container root "/" is not supported');
      table.set(dest, { ...m, destination: dest });
    }
    const handle = await fs.open(root, O_PATH | fsc.O_DIRECTORY);
    return new ContainerFs({ handle, logical: [], host: path.resolve(root), owned: false }, table);
  }

  async close(): Promise<void> {
    if (this.cache) {
      for (const level of this.cache.values()) await level.handle.close().catch(() => {});
      this.cache.clear();
    }
    await this.rootLevel.handle.close();
  }

  get rootHandle(): FileHandle {
    return this.rootLevel.handle;
  }

  /** The mount whose destination is exactly this container path. */
  mountAt(logical: string): ContainerMount | undefined {
    return this.mounts.get(logical);
  }

  /** The mount a container path lies on: the deepest destination at or above it. */
  mountOf(logical: string): ContainerMount | undefined {
    let best: ContainerMount | undefined;
    for (const [dest, m] of this.mounts) {
      if (
        (logical === dest || logical.startsWith(`${dest}/`)) &&
        (!best || dest.length > best.destination.length)
      )
        best = m;
    }
    return best;
  }

  /** Whether some mount destination lies strictly below this container path. */
  isMountAncestor(logical: string): boolean {
    return this.mountsBelow(logical).length > 0;
  }

  /** Mount destinations strictly below a container path. */
  mountsBelow(logical: string): ContainerMount[] {
    const prefix = logical === '/' ? '/' : `${logical}/`;
    return [...this.mounts.values()].filter((m) => m.destination.startsWith(prefix));
  }

  /** Resolve a container path (relative paths start at "/"). */
  async resolve(p: string, opts: ResolveOptions): Promise<Lookup> {
    const stack: Level[] = [this.rootLevel];
    const pending: string[] = [];
    let parts = splitPath(p);
    // Start from the deepest cached directory the path spells out, with all its
    // ancestors on the stack so that a ".." in a symlink met later climbs correctly.
    if (this.cache && this.cache.size > 0 && !parts.includes('..')) {
      const hits: Level[] = [];
      for (let k = 1; k < parts.length; k++) {
        const hit = this.cache.get(`/${parts.slice(0, k).join('/')}`);
        if (!hit) break;
        hits.push(hit);
      }
      stack.push(...hits);
      parts = parts.slice(hits.length);
    }
    let followed = false;
    const push = (level: Level) => {
      const key = `/${level.logical.join('/')}`;
      if (this.cache && !followed && !this.cache.has(key)) {
        this.cache.set(key, { ...level, owned: false });
        stack.push({ ...level, owned: false });
      } else stack.push(level);
    };
    let links = 0;
    let retries = 0;
    let lastMade: string | undefined;
    let keep: FileHandle | undefined;

    const popTo = async (n: number) => {
      while (stack.length > n) {
        const l = stack.pop()!;
        if (l.owned) await l.handle.close();
      }
    };
    const result = async (level: Level, name: string | null, stat: Stats | undefined): Promise<Lookup> => {
      keep = level.handle;
      const logicalParts = [...level.logical, ...(name === null ? [] : [name]), ...pending];
      const owned = level.owned;
      return {
        dir: level.handle,
        name,
        logical: `/${logicalParts.join('/')}`,
        host: path.join(level.host, ...(name === null ? [] : [name]), ...pending),
        mount: level.mount,
        stat,
        fileMount: false,
        missing: [...pending],
        release: async () => {
          if (owned) await level.handle.close();
        },
      };
    };

    try {
      while (parts.length > 0) {
        const c = parts.shift()!;
        if (c === '..') {
          if (pending.length > 0) pending.pop();
          else if (stack.length > 1) await popTo(stack.length - 1);
          continue;
        }
        if (pending.length > 0) {
          pending.push(c);
          continue;
        }
        const last = parts.length === 0;
        const cur = stack[stack.length - 1]!;
        const logicalParts = [...cur.logical, c];
        const logical = `/${logicalParts.join('/')}`;

        const mount = this.mounts.get(logical);
        if (mount) {
          let st: Stats;
          try {
            st = await fs.stat(mount.source);
          } catch (err) {
            if (errCode(err) === 'ENOENT')
              throw new EngineError(
                'internal',
                `the source ${mount.source} of the mount at ${logical} is missing`,
              );
            throw err;
          }
          if (st.isDirectory()) {
            const handle = await fs.open(mount.source, O_PATH | fsc.O_DIRECTORY);
            push({ handle, logical: logicalParts, host: mount.source, mount, owned: true });
            continue;
          }
          if (!last) throw notADirectory(p, logical);
          const handle = await fs.open(path.dirname(mount.source), O_PATH | fsc.O_DIRECTORY);
          keep = handle;
          return {
            dir: handle,
            name: path.basename(mount.source),
            logical,
            host: mount.source,
            mount,
            stat: st,
            fileMount: true,
            missing: [],
            release: () => handle.close(),
          };
        }

        let st: Stats | undefined;
        try {
          st = await fs.lstat(fdPath(cur.handle, c));
        } catch (err) {
          if (errCode(err) !== 'ENOENT') throw err;
        }
        if ((!st && this.isMountAncestor(logical)) || (!st && !last && opts.mkdirParents)) {
          if (lastMade === logical) throw new PathNotFoundError(p); // made, yet still missing
          lastMade = logical;
          // A mountpoint's missing parent is made as runc and dockerd make mountpoints;
          // with mkdirParents, any missing parent (tar's implied directories).
          const how = opts.mkdirParents ?? { mode: 0o755 };
          await this.mkdirAt(cur, c, logical, how);
          parts.unshift(c);
          continue;
        }
        if (!st) {
          if (last) return await result(cur, c, undefined);
          if (opts.allowMissing) {
            pending.push(c);
            continue;
          }
          throw new PathNotFoundError(p);
        }
        if (st.isSymbolicLink() && (!last || opts.followFinal)) {
          if (++links > MAX_LINKS)
            throw invalid(`cannot resolve "${p}" in the container: too many levels of symbolic links`);
          const target = await fs.readlink(fdPath(cur.handle, c));
          followed = true;
          if (target.startsWith('/')) await popTo(1);
          parts = [...splitPath(target), ...parts];
          continue;
        }
        if (last) return await result(cur, c, st);
        if (!st.isDirectory()) throw notADirectory(p, logical);
        let handle: FileHandle;
        try {
          handle = await fs.open(fdPath(cur.handle, c), DIR_FLAGS);
        } catch (err) {
          // Replaced between lstat and open (by a symlink, a file, or nothing): look again.
          if (['ENOTDIR', 'ELOOP', 'ENOENT'].includes(errCode(err) ?? '') && ++retries <= MAX_RETRIES) {
            parts.unshift(c);
            continue;
          }
          throw err;
        }
        push({ handle, logical: logicalParts, host: path.join(cur.host, c), mount: cur.mount, owned: true });
      }
      // The path ended on a directory level itself: "/", a mount root, "x/..", a link to a directory.
      const top = stack[stack.length - 1]!;
      return await result(top, null, pending.length > 0 ? undefined : await top.handle.stat());
    } finally {
      for (const l of stack) if (l.owned && l.handle !== keep) await l.handle.close().catch(() => {});
    }
  }

  private async mkdirAt(
    cur: Level,
    name: string,
    logical: string,
    how: NonNullable<ResolveOptions['mkdirParents']>,
  ): Promise<void> {
    how.check?.(cur.mount, logical);
    try {
      await fs.mkdir(fdPath(cur.handle, name), how.mode);
    } catch (err) {
      if (errCode(err) === 'EEXIST') return; // made meanwhile: the caller looks again
      throw err;
    }
    // mkdir honours the umask; chmod through a no-follow descriptor sets the exact mode.
    const h = await fs.open(fdPath(cur.handle, name), fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      if (how.owner) await h.chown(how.owner.uid, how.owner.gid);
      await h.chmod(how.mode);
    } finally {
      await h.close();
    }
  }
}

function notADirectory(p: string, at: string): EngineError {
  return invalid(`cannot resolve "${p}" in the container: "${at}" is not a directory`);
}

/**
 * The host path of `p` inside `root`, with symlinks interpreted relative to
 * root (never escaping it) and mounts honoured, like securejoin. Missing
 * components are appended as they are. A symlink loop is an error.
 *
 * The answer is a string: good for the engine's own use on a container that
 * is not running; for anything a running container could race, use
 * ContainerFs.resolve and work through the returned descriptor.
 */
export async function resolveInRoot(
  root: string,
  p: string,
  opts: { followFinal?: boolean; mounts?: ContainerMount[] } = {},
): Promise<string> {
  const cfs = await ContainerFs.open(root, opts.mounts ?? []);
  try {
    const lk = await cfs.resolve(p, { followFinal: opts.followFinal ?? true, allowMissing: true });
    await lk.release();
    return lk.host;
  } finally {
    await cfs.close();
  }
}
