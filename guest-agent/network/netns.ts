// Network namespaces made before a container starts and handed to the runtime by
// path: the namespace lives as long as its bind-mounted file, independent of any
// process, so the engine can wire veths into it first and keep it across restarts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { CommandError, run } from '../util/subprocess.js';

async function isMountPoint(file: string): Promise<boolean> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const target = path.resolve(file);
  // Field 5 is the mount point, with spaces etc. octal-escaped.
  return info.split('\n').some((line) => {
    const mp = line.split(' ')[4];
    return (
      mp !== undefined &&
      mp.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))) === target
    );
  });
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
    await run('unshare', [`--net=${file}`, ...inNetnsCommand(true, opts.extras)], { input });
  } catch (err) {
    await removeNetns(file).catch(() => undefined);
    if (err instanceof CommandError) throw err;
    throw new EngineError('internal', `cannot create network namespace ${file}: ${(err as Error).message}`);
  }
}

/** A path naming the engine's own network namespace from inside another one. */
export function engineNetnsPath(): string {
  return `/proc/${process.pid}/ns/net`;
}

/** Unmounts and deletes the namespace file; fine when it is already gone. */
export async function removeNetns(file: string): Promise<void> {
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
    if (st?.isFile()) out.push(p);
  }
  return out.sort();
}
