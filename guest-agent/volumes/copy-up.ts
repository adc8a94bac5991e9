// Filling a new volume from the image: when an empty volume is mounted over an
// image directory that has content, the container first sees that content in
// the volume (dockerd's "copy data", turned off by `nocopy`).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from '../util/subprocess.js';
import { syncDir } from '../../common/atomic-file.js';
import { resolveInRoot } from './safe-path.js';
import type { ContainerMount } from './volume-types.js';

const errCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * The mark of a copy in progress, beside the volume's data dir (in the
 * volume's own dir, never inside what containers see): a copy cut short by a
 * crash left it, so the half-filled volume is emptied and filled again rather
 * than taken as the user's data.
 */
export function copyUpMarker(volumeDir: string): string {
  return path.join(path.dirname(volumeDir), '.copy-up-incomplete');
}

/**
 * Copy the content of `imageDir` (a real directory inside the mounted
 * rootfs, already resolved) into `volumeDir`, if the volume is empty (or
 * holds only a copy cut short, see copyUpMarker). The
 * volume's root takes the image directory's owner and mode; files keep
 * theirs, symlinks are copied as symlinks (never followed), hard links stay
 * linked, xattrs (file capabilities) are kept where the filesystem allows.
 * Returns whether anything was copied.
 */
export async function copyUp(imageDir: string, volumeDir: string): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(imageDir);
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return false;
    throw err;
  }
  // A symlink here was not resolved inside the container: never follow it from the host.
  if (!st.isDirectory()) return false;
  const marker = copyUpMarker(volumeDir);
  const resumed = await fs
    .access(marker)
    .then(() => true)
    .catch(() => false);
  const entries = await fs.readdir(volumeDir);
  if (entries.length > 0 && !resumed) return false;
  if (!resumed) {
    await fs.writeFile(marker, '');
    await syncDir(path.dirname(marker));
  }
  for (const name of entries) await fs.rm(path.join(volumeDir, name), { recursive: true, force: true });
  // -a: recursive, no dereferencing, ownership/modes/times/links/xattrs kept;
  // -T: volumeDir is the copy of imageDir itself (so it gets its owner and mode);
  // -x: stay on the image's filesystem.
  await run('cp', ['-a', '-x', '-T', '--', imageDir, volumeDir]);
  // Like layer unpacking, the copied files are not fsynced one by one: a kill
  // cannot lose them (the page cache outlives the engine), a power cut may.
  await fs.rm(marker);
  await syncDir(path.dirname(marker));
  return true;
}

/**
 * copyUp for a container path: resolved inside the container's root (symlinks
 * cannot lead out of it), then copied if it is a directory.
 */
export async function copyUpFromRoot(
  root: string,
  containerPath: string,
  volumeDir: string,
  mounts: ContainerMount[] = [],
): Promise<boolean> {
  const imageDir = await resolveInRoot(root, containerPath, { followFinal: true, mounts });
  return copyUp(imageDir, volumeDir);
}
