// Network namespaces made before a container starts and handed to the runtime by
// path: the namespace lives as long as its bind-mounted file, independent of any
// process, so the engine can wire veths into it first and keep it across restarts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { run } from '../util/subprocess.js';

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
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  if (await isMountPoint(file)) {
    throw new EngineError('conflict', `network namespace ${file} already exists`);
  }
  await fs.writeFile(file, '', { mode: 0o444 });
  try {
    // One process: unshare binds its new net ns onto the file, then brings lo up inside it.
    await run('unshare', [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await removeNetns(file).catch(() => undefined);
    throw new EngineError('internal', `cannot create network namespace ${file}: ${(err as Error).message}`);
  }
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
