// Removes what a test's engine may leave on the host when it crashed or was
// killed: container processes (in their own mount namespaces), their cgroups,
// and mounts under the test's temp dir. Used by TestEngine.cleanup(); storage and
// runtime tests that mount things themselves can call unmountUnder() directly.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';

export interface MountEntry {
  id: number;
  parentId: number;
  /** Path inside the filesystem that is mounted (a bind mount's source). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (right === undefined) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      root: unescapeMountField(f[3]),
      mountPoint: unescapeMountField(f[4]),
      fsType: r[0],
      source: unescapeMountField(r[1] ?? ''),
      superOptions: r[2] ?? '',
    });
  }
  return out;
}

export async function readMounts(pid: number | 'self' = 'self'): Promise<MountEntry[]> {
  return parseMountInfo(await fs.readFile(`/proc/${pid}/mountinfo`, 'utf8'));
}

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

async function canonical(dir: string): Promise<string> {
  return fs.realpath(dir).catch(() => path.resolve(dir));
}

/**
 * Unmounts every mount at or below dir in this mount namespace, deepest first;
 * a mount that will not go (busy) is detached with `umount -l`. Returns the
 * mount points that are still there afterwards.
 */
export async function unmountUnder(dir: string): Promise<string[]> {
  const base = await canonical(dir);
  for (let round = 0; round < 8; round++) {
    const mounts = (await readMounts()).filter((m) => isUnder(m.mountPoint, base));
    if (mounts.length === 0) return [];
    // Deepest path first; among mounts stacked on one path, the newest (highest id) first.
    mounts.sort((a, b) => b.mountPoint.split('/').length - a.mountPoint.split('/').length || b.id - a.id);
    for (const m of mounts) {
      const r = await run('umount', [m.mountPoint], { allowFailure: true });
      if (r.exitCode !== 0) await run('umount', ['-l', m.mountPoint], { allowFailure: true });
    }
  }
  return (await readMounts()).filter((m) => isUnder(m.mountPoint, base)).map((m) => m.mountPoint);
}

async function readText(file: string): Promise<string | undefined> {
  return fs.readFile(file, 'utf8').catch(() => undefined);
}

async function isGone(pid: number): Promise<boolean> {
  const stat = await readText(`/proc/${pid}/stat`);
  if (stat === undefined) return true;
  // Field 3 (after the parenthesised command) is the state; a zombie has exited.
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

interface CgroupLine {
  controllers: string;
  path: string;
}

function parseCgroupFile(text: string): CgroupLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, controllers, ...rest] = l.split(':');
      return { controllers, path: rest.join(':') };
    });
}

const NON_CONTROLLER_OPTIONS = new Set([
  'rw',
  'ro',
  'xattr',
  'noprefix',
  'clone_children',
  'cpuset_v2_mode',
  'nsdelegate',
]);

/** Where each cgroup hierarchy is mounted, keyed by the controller list as /proc/pid/cgroup writes it. */
async function cgroupMountPoints(): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const m of await readMounts()) {
    if (m.fsType === 'cgroup2') map.set('', m.mountPoint);
    if (m.fsType !== 'cgroup') continue;
    const known = m.superOptions
      .split(',')
      .filter((o) => !NON_CONTROLLER_OPTIONS.has(o) && !o.startsWith('release_agent='));
    // /proc/pid/cgroup lists the same controllers, in the kernel's order; match as a set.
    map.set(known.sort().join(','), m.mountPoint);
  }
  return map;
}

/**
 * SIGKILLs every process that belongs to dir: one whose command line names a
 * path under it (an engine or runc left behind), or one in another mount
 * namespace whose mounts reference it (a container started from an engine under
 * dir). Waits for them to go, then removes the emptied cgroups they were in.
 * Returns the pids killed.
 */
export async function killProcessesUsing(dir: string): Promise<number[]> {
  const base = await canonical(dir);
  const ownNs = await fs.readlink('/proc/self/ns/mnt');
  const ownCgroups = parseCgroupFile((await readText('/proc/self/cgroup')) ?? '');
  const victims: number[] = [];
  const cgroups: CgroupLine[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || pid === process.ppid) continue;
    const cmdline = (await readText(`/proc/${pid}/cmdline`)) ?? '';
    let belongs = cmdline.includes(base + '/');
    if (!belongs) {
      const ns = await fs.readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
      if (ns === undefined || ns === ownNs) continue;
      const info = await readText(`/proc/${pid}/mountinfo`);
      belongs = !!info && info.includes(base + '/');
    }
    if (!belongs) continue;
    cgroups.push(...parseCgroupFile((await readText(`/proc/${pid}/cgroup`)) ?? ''));
    try {
      process.kill(pid, 'SIGKILL');
      victims.push(pid);
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + 5000;
  for (const pid of victims) {
    while (!(await isGone(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
  if (cgroups.length > 0) {
    const mounts = await cgroupMountPoints();
    const seen = new Set<string>();
    for (const cg of cgroups) {
      if (cg.path === '/' || cg.path.split('/').length < 3) continue; // never a top-level slice
      // Never touch a cgroup that this process (or an ancestor of it) lives in.
      if (ownCgroups.some((o) => o.controllers === cg.controllers && isUnder(o.path, cg.path))) continue;
      const key = cg.controllers.startsWith('name=')
        ? cg.controllers
        : cg.controllers.split(',').sort().join(',');
      const mount = mounts.get(key);
      if (!mount) continue;
      const full = path.join(mount, cg.path);
      if (seen.has(full)) continue;
      seen.add(full);
      await fs.rmdir(full).catch(() => undefined); // fails harmlessly while still in use
    }
  }
  return victims;
}
