// Per-container root filesystems: an overlay of the image's layer directories
// (read-only, lowest first) under a private upper dir, mounted at
// <dataRoot>/overlay/<id>/merged.
//
// The kernel takes overlay options in one page (4096 bytes). Long absolute
// layer paths would cap an image at ~50 layers, so each container gets a
// directory of short symlinks (l/0, l/1, …) to its layers and the mount runs
// with that container's directory as cwd: every option path stays tiny.
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { EngineError, invalid } from '../errors.js';
import { run } from '../util/subprocess.js';
import { log } from '../util/logger.js';
import { giveToRemappedRoot } from '../util/id-map.js';
import { mountPoints } from '../util/mountinfo.js';

const PAGE = 4096;
const internalError = (message: string) => new EngineError('internal', message);
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Kernel overlay features that would change what the upper dir contains; switched off where known. */
function featureOptions(): string[] {
  const opts: string[] = [];
  for (const [param, opt] of [
    ['redirect_dir', 'redirect_dir=off'],
    ['metacopy', 'metacopy=off'],
    ['index', 'index=off'],
  ] as const) {
    if (existsSync(`/sys/module/overlay/parameters/${param}`)) opts.push(opt);
  }
  return opts;
}

export class RootfsManager {
  private readonly base: string;

  constructor(dataRoot: string) {
    this.base = path.join(path.resolve(dataRoot), 'overlay');
  }

  /** Where every container's root filesystem is mounted, below. */
  get mountRoot(): string {
    return this.base;
  }

  private dir(id: string): string {
    if (!ID_RE.test(id)) throw invalid(`invalid container id "${id}" for a root filesystem`);
    return path.join(this.base, id);
  }

  upperDir(id: string): string {
    return path.join(this.dir(id), 'upper');
  }

  mergedDir(id: string): string {
    return path.join(this.dir(id), 'merged');
  }

  async prepare(id: string): Promise<void> {
    const d = this.dir(id);
    for (const sub of ['upper', 'work', 'merged'])
      await fs.mkdir(path.join(d, sub), { recursive: true, mode: 0o755 });
    // The upper dir's root is the container's "/": container root must own it.
    await giveToRemappedRoot(path.join(d, 'upper'));
  }

  async isMounted(id: string): Promise<boolean> {
    const merged = this.mergedDir(id);
    let real: string;
    try {
      real = await fs.realpath(merged);
    } catch {
      return false;
    }
    return (await mountPoints()).includes(real);
  }

  /** Mounts under way: a second mount of the same container joins the first (see ContainerService.attach). */
  private readonly mounting = new Map<string, Promise<string>>();

  mount(id: string, lowerDirs: string[]): Promise<string> {
    const under = this.mounting.get(id);
    if (under) return under;
    const mounted = this.mountOnce(id, lowerDirs).finally(() => this.mounting.delete(id));
    this.mounting.set(id, mounted);
    return mounted;
  }

  private async mountOnce(id: string, lowerDirs: string[]): Promise<string> {
    const d = this.dir(id);
    const merged = this.mergedDir(id);
    if (await this.isMounted(id)) return merged;
    await this.prepare(id);

    // Fresh links each mount: the image's layers are whatever the engine says now.
    const links = path.join(d, 'l');
    await fs.rm(links, { recursive: true, force: true });
    await fs.mkdir(links, { mode: 0o700 });
    const lowers: string[] = [];
    if (lowerDirs.length === 0) {
      // overlayfs needs at least one lower layer.
      await fs.mkdir(path.join(d, 'empty'), { recursive: true, mode: 0o755 });
      lowers.push('empty');
    }
    for (let i = 0; i < lowerDirs.length; i++) {
      const target = path.resolve(lowerDirs[i]!);
      const st = await fs.stat(target).catch(() => undefined);
      if (!st?.isDirectory()) {
        throw internalError(
          `layer directory ${target} of container ${id} is missing: remove and re-load the image`,
        );
      }
      await fs.symlink(target, path.join(links, String(i)));
      lowers.push(`l/${i}`);
    }
    // overlayfs lists the top layer first.
    lowers.reverse();
    const options = [
      `lowerdir=${lowers.join(':')}`,
      'upperdir=upper',
      'workdir=work',
      ...featureOptions(),
    ].join(',');
    if (options.length >= PAGE) {
      throw invalid(`the image has too many layers (${lowerDirs.length}) to mount as one overlay`);
    }
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, 'merged'], { cwd: d });
    log.debug('rootfs mounted', { id, layers: lowerDirs.length });
    return merged;
  }

  /**
   * /dev/shm of a container others may join (`--ipc shareable`): a tmpfs the
   * engine mounts here, so that each joiner binds the same one. A container's
   * own tmpfs would live only in its mount namespace, out of a bind's reach.
   */
  shmDir(id: string): string {
    return path.join(this.dir(id), 'shm');
  }

  async mountShm(id: string, sizeBytes: number): Promise<string> {
    const dir = this.shmDir(id);
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    if (!(await mountPoints()).includes(await fs.realpath(dir))) {
      const size = `size=${Math.max(1, Math.floor(sizeBytes / 1024))}k`;
      await run('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,${size}`, 'shm', dir]);
    }
    return dir;
  }

  private async unmountShm(id: string): Promise<void> {
    const dir = await fs.realpath(this.shmDir(id)).catch(() => undefined);
    // Lazily: the containers that joined this one's IPC keep their binds of it.
    if (dir && (await mountPoints()).includes(dir)) await run('umount', ['-l', dir], { allowFailure: true });
  }

  async unmount(id: string): Promise<void> {
    await this.unmountShm(id);
    const merged = this.mergedDir(id);
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!(await this.isMounted(id))) return;
      const r = await run('umount', [merged], { allowFailure: true });
      if (r.exitCode === 0) continue;
      log.debug('rootfs unmount failed, retrying', { id, stderr: r.stderr.trim() });
      await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
    }
    if (await this.isMounted(id)) {
      log.warn('rootfs busy, detaching lazily', { id });
      await run('umount', ['-l', merged]);
    }
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    await this.mounting.get(id)?.catch(() => undefined);
    await this.unmount(id);
    // Never recurse into something still mounted below the container dir
    // (a bind mount would have its source deleted).
    const prefix = `${await fs.realpath(d).catch(() => d)}/`;
    const below = (await mountPoints())
      .filter((m) => m.startsWith(prefix))
      .sort((a, b) => b.length - a.length);
    for (const m of below) await run('umount', ['-l', m], { allowFailure: true });
    const left = (await mountPoints()).filter((m) => m.startsWith(prefix));
    if (left.length)
      throw internalError(`cannot remove the root filesystem of ${id}: ${left.join(', ')} is still mounted`);
    // Moved aside in one rename and deleted after: the removal (and `docker run --rm`) need not wait for the
    // files to go. What a crash leaves in the trash goes at the next start (emptyTrash).
    const doomed = path.join(this.trashDir(), `${id}-${Date.now()}`);
    try {
      await fs.rename(d, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The container's dir is gone already (nothing to do), or the trash is not made yet.
      if (!existsSync(d)) return;
      await fs.mkdir(this.trashDir(), { recursive: true, mode: 0o700 });
      await fs.rename(d, doomed);
    }
    void fs
      .rm(doomed, { recursive: true, force: true })
      .catch((err: unknown) =>
        log.warn('cannot delete a removed root filesystem', { id, error: String(err) }),
      );
  }

  private trashDir(): string {
    return path.join(this.base, '.trash');
  }

  /** At start: what removals left behind when the engine stopped or crashed before deleting it. */
  async emptyTrash(): Promise<void> {
    await fs.rm(this.trashDir(), { recursive: true, force: true });
  }

  async listIds(): Promise<string[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(this.base, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return entries.filter((e) => e.isDirectory() && ID_RE.test(e.name)).map((e) => e.name);
  }
}
