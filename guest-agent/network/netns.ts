// Network namespaces made before a container starts and handed to the runtime by
// path: the namespace lives as long as its bind-mounted file, independent of any
// process, so the engine can wire veths into it first and keep it across restarts.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { CommandError, run, spawnProcess } from '../util/subprocess.js';
import { idMaps, type IdMapping, type IdMaps } from '../util/id-map.js';
import { mountPoints } from '../util/mountinfo.js';

async function isMountPoint(file: string): Promise<boolean> {
  return (await mountPoints()).includes(path.resolve(file));
}

/** A new network namespace bind-mounted at `file`, with loopback up. */
export async function createNetns(file: string): Promise<void> {
  await ipBatchInNetns(file, [], { create: true });
}

/** More setup inside the namespace after the `ip` lines, by the same process. */
export interface NetnsExtras {
  /** Keys under /proc/sys of the namespace ("net/ipv4/conf/all/route_localnet") and their values. */
  sysctls?: Readonly<Record<string, string>>;
  /** Rules for `iptables-restore --noflush`, loaded into the namespace's own tables. */
  iptablesRestore?: string;
}

/**
 * The command that runs `ip -batch -` (its lines on stdin), then the extras, in
 * one process: without extras `ip` itself, else a shell (its writes to /proc/sys
 * and the iptables-restore need no process of the engine's own).
 */
function inNetnsCommand(hasLines: boolean, extras?: NetnsExtras): string[] {
  const sysctls = Object.entries(extras?.sysctls ?? {});
  if (!sysctls.length && !extras?.iptablesRestore) return ['ip', '-batch', '-'];
  const steps = hasLines ? ['ip -batch -'] : [];
  for (const [key, value] of sysctls) {
    if (!/^[a-z0-9_/.-]+$/.test(key) || !/^[0-9 ]+$/.test(value))
      throw new Error(`bad sysctl ${key}=${value}`);
    steps.push(`echo ${value} > /proc/sys/${key}`);
  }
  // The rules arrive as the shell's $1: stdin belongs to `ip -batch -`.
  if (extras?.iptablesRestore) steps.push(`printf '%s' "$1" | iptables-restore -w --noflush`);
  return ['sh', '-ec', steps.join(' && '), 'sh', extras?.iptablesRestore ?? ''];
}

/**
 * Runs `ip -batch` lines (and `extras`) inside the namespace at `file`, in one
 * process. With `create`, the namespace is made first (by unshare, which binds
 * it onto the file) and loopback brought up, so a new container's whole network
 * setup inside its namespace costs a single process; a failure removes it again.
 */
export async function ipBatchInNetns(
  file: string,
  lines: readonly string[],
  opts: { create?: boolean; extras?: NetnsExtras } = {},
): Promise<void> {
  if (!opts.create) {
    const cmd = inNetnsCommand(lines.length > 0, opts.extras);
    await run('nsenter', [`--net=${file}`, ...cmd], { input: lines.length ? lines.join('\n') + '\n' : '' });
    return;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  if (await isMountPoint(file)) {
    throw new EngineError('conflict', `network namespace ${file} already exists`);
  }
  await fs.writeFile(file, '', { mode: 0o444 });
  try {
    const input = ['link set lo up', ...lines].join('\n') + '\n';
    const maps = idMaps();
    if (maps) {
      await createInUserns(file, maps);
      await run('nsenter', [`--net=${file}`, ...inNetnsCommand(true, opts.extras)], { input });
    } else await run('unshare', [`--net=${file}`, ...inNetnsCommand(true, opts.extras)], { input });
  } catch (err) {
    await removeNetns(file).catch(() => undefined);
    if (err instanceof CommandError) throw err;
    throw new EngineError('internal', `cannot create network namespace ${file}: ${(err as Error).message}`);
  }
}

/** The user namespace that owns the network namespace at `file` (--userns-remap only). */
export function usernsFileOf(netnsFile: string): string {
  return `${netnsFile}.userns`;
}

const mapLines = (maps: IdMapping[]) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');

/**
 * Under --userns-remap, a container's network namespace must belong to its
 * user namespace: `runc exec` joins the user namespace first, and from there
 * it may enter only network namespaces that namespace owns. A holder process
 * makes both at once; the engine writes its id maps (it has no newuidmap to
 * rely on) and binds both namespaces to files, and the holder ends. The
 * container then joins this user namespace by path.
 */
async function createInUserns(file: string, maps: IdMaps): Promise<void> {
  const userFile = usernsFileOf(file);
  await fs.writeFile(userFile, '', { mode: 0o444 });
  // cat holds the namespaces until its stdin closes.
  const holder = spawnProcess('unshare', ['--user', '--net', 'cat'], {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  try {
    const pid = holder.pid;
    if (pid === undefined) throw new Error('unshare did not start');
    // unshare execs cat once the namespaces exist: wait until the process is in them.
    const own = await fs.readlink('/proc/self/ns/user');
    for (let i = 0; ; i++) {
      const ns = await fs.readlink(`/proc/${pid}/ns/user`).catch(() => own);
      if (ns !== own && (await fs.readlink(`/proc/${pid}/exe`).catch(() => '')).endsWith('/cat')) break;
      if (i > 500) throw new Error('unshare did not make the namespaces');
      await new Promise((r) => setTimeout(r, 2));
    }
    await fs.writeFile(`/proc/${pid}/uid_map`, mapLines(maps.uid));
    await fs.writeFile(`/proc/${pid}/gid_map`, mapLines(maps.gid));
    await run('mount', ['--bind', `/proc/${pid}/ns/user`, userFile]);
    await run('mount', ['--bind', `/proc/${pid}/ns/net`, file]);
  } catch (err) {
    await removeNsFile(userFile);
    throw err;
  } finally {
    holder.stdin?.end();
    await holder;
  }
}

/** A path naming the engine's own network namespace from inside another one. */
export function engineNetnsPath(): string {
  return `/proc/${process.pid}/ns/net`;
}

/** Unmounts and deletes the namespace file (and its user namespace's, if any); fine when it is already gone. */
export async function removeNetns(file: string): Promise<void> {
  await removeNsFile(file);
  if (existsSync(usernsFileOf(file))) await removeNsFile(usernsFileOf(file));
}

async function removeNsFile(file: string): Promise<void> {
  if (await isMountPoint(file)) {
    const r = await run('umount', [file], { allowFailure: true });
    if (r.exitCode !== 0 && (await isMountPoint(file))) {
      // Held by a mount namespace peer: detach it so the file can go.
      await run('umount', ['--lazy', file]);
    }
  }
  await fs.rm(file, { force: true });
}

/** Paths of the namespace files in `dir` (mounted or left over), sorted. */
export async function listNetns(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const name of names) {
    const p = path.join(dir, name);
    const st = await fs.lstat(p).catch(() => undefined);
    // A user namespace file goes with its network namespace's.
    if (st?.isFile() && !name.endsWith('.userns')) out.push(p);
  }
  return out.sort();
}
