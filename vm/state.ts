// The VM's state on disk, for `berth vm status` and the app: one JSON file
// written atomically by the process that runs the VM, plus a lock file so
// that only one VM runs per data dir.
import { promises as fs } from 'node:fs';
import type { VmPaths } from './paths.js';
import { readJson, writeFileAtomic } from '../common/atomic-file.js';

export type VmStatus = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';

export interface VmState {
  status: VmStatus;
  /** Why the VM is in error (or why it stopped). */
  reason?: string;
  /** The process that runs the VM (owns QEMU, the channel, the socket). */
  pid?: number;
  qemuPid?: number;
  accel?: string;
  engineSocket?: string;
  /** Milliseconds from QEMU's start to the engine answering. */
  bootMs?: number;
  /** Published ports forwarded to the host, and those that could not be (with why). */
  ports?: { forwarded: string[]; problems: string[] };
  /** Host folders shared into the VM (at the same paths), how, and those left out (with why). */
  shares?: { type: string; folders: string[]; problems: string[] };
  /** While running: the engine inside does not answer (and since when). */
  engineProblem?: string;
  /** The virtiofsd daemons serving the shares (ended with QEMU). */
  virtiofsdPids?: number[];
  since: string;
}

export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function writeState(paths: VmPaths, state: Omit<VmState, 'since'>): Promise<void> {
  await writeFileAtomic(
    paths.state,
    JSON.stringify({ ...state, since: new Date().toISOString() }, null, 2) + '\n',
    0o644,
    { mkdir: true },
  );
}

/** The state as recorded, corrected when the process that wrote it is gone. */
export async function readState(paths: VmPaths): Promise<VmState> {
  const s = await readJson<VmState>(paths.state, { ignoreCorrupt: true });
  if (!s) return { status: 'stopped', since: new Date(0).toISOString() };
  if (
    (s.status === 'starting' || s.status === 'running' || s.status === 'stopping') &&
    !processAlive(s.pid)
  ) {
    return { ...s, status: 'error', reason: `the VM process (pid ${s.pid}) is gone` };
  }
  return s;
}

/** Takes the data dir's VM lock, or says who holds it. */
export async function acquireLock(paths: VmPaths): Promise<void> {
  await fs.mkdir(paths.dir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const h = await fs.open(paths.lock, 'wx', 0o644);
      await h.writeFile(String(process.pid));
      await h.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await fs.readFile(paths.lock, 'utf8').catch(() => '')).trim());
      if (holder && holder !== process.pid && processAlive(holder))
        throw new Error(`a VM already runs for ${paths.home} (pid ${holder})`);
      await fs.rm(paths.lock, { force: true }); // left by a process that died
    }
  }
  throw new Error(`cannot take the VM lock ${paths.lock}`);
}

export async function releaseLock(paths: VmPaths): Promise<void> {
  const holder = Number((await fs.readFile(paths.lock, 'utf8').catch(() => '')).trim());
  if (holder === process.pid) await fs.rm(paths.lock, { force: true });
}
