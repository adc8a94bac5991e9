import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';

/**
 * One engine per data root: a lock file naming its owner. A pid alone is not
 * enough: after a crash or a guest kernel panic the file survives on disk, and
 * a VM boots the same way each time, so the old pid often names some other live
 * process of the new boot. The owner is therefore the pid together with the
 * boot it ran in and its start time, and only a live process matching all three
 * holds the lock.
 */
interface LockOwner {
  pid: number;
  bootId: string;
  startTime: string;
}

export async function acquireDataRootLock(dataRoot: string): Promise<string> {
  const lockFile = path.join(dataRoot, 'engine.pid');
  const me = await ownerOf(process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await fs.open(lockFile, 'wx', 0o644);
      await handle.writeFile(JSON.stringify(me));
      await handle.sync();
      await handle.close();
      return lockFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = parseOwner(await fs.readFile(lockFile, 'utf8').catch(() => ''));
      if (holder && holder.pid !== process.pid && (await stillHolds(holder))) {
        throw new EngineError(
          'conflict',
          `another Berth engine (pid ${holder.pid}) is already using the data root ${dataRoot}: stop it first, or start this one with a different --data-root`,
        );
      }
      await fs.rm(lockFile, { force: true }); // stale: its owner is gone
    }
  }
  throw new EngineError('conflict', `could not lock the data root ${dataRoot}`);
}

async function ownerOf(pid: number): Promise<LockOwner> {
  return { pid, bootId: await bootId(), startTime: (await startTimeOf(pid)) ?? '' };
}

/** The lock's text: this module's JSON, or a bare pid as older engines wrote it. */
function parseOwner(text: string): (Partial<LockOwner> & { pid: number }) | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const parsed = JSON.parse(trimmed) as Partial<LockOwner>;
    return typeof parsed.pid === 'number' && parsed.pid > 0 ? (parsed as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

async function stillHolds(holder: Partial<LockOwner> & { pid: number }): Promise<boolean> {
  if (!isAlive(holder.pid)) return false;
  if (holder.bootId !== undefined && holder.bootId !== (await bootId())) return false;
  if (holder.startTime && holder.startTime !== (await startTimeOf(holder.pid))) return false;
  if (holder.bootId === undefined) {
    // A bare pid (older engines): held only if that process is an engine at all (a kernel thread's
    // command line is empty).
    const cmdline = await fs.readFile(`/proc/${holder.pid}/cmdline`, 'utf8').catch(() => '');
    return cmdline.includes('berth');
  }
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function bootId(): Promise<string> {
  return (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

/** Field 22 of /proc/PID/stat: clock ticks after boot at which the process started. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count from its end.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}
