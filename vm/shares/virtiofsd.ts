// virtiofsd: the vhost-user daemon that serves one shared folder to QEMU's
// vhost-user-fs device. One per share, started before QEMU (which connects to
// its socket), ended by its pid with the VM.
import { existsSync, promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnLongRunning } from '../util/exec.js';
import { log } from '../util/log.js';

/**
 * Where virtiofsd is: Debian's virtiofsd package (the Rust daemon) puts it in
 * /usr/libexec; QEMU up to 7.2 (Debian 12's qemu-system-common) shipped its
 * own C daemon in /usr/lib/qemu.
 */
const CANDIDATES = [
  { path: '/usr/libexec/virtiofsd', flavour: 'rust' },
  { path: '/usr/lib/qemu/virtiofsd', flavour: 'c' },
] as const;

export function findVirtiofsd(): (typeof CANDIDATES)[number] | undefined {
  return CANDIDATES.find((c) => existsSync(c.path));
}

/** The command line for one share; both daemons serve it as root with their sandbox on. */
export function virtiofsdArgs(flavour: 'rust' | 'c', socketPath: string, folder: string): string[] {
  if (flavour === 'rust')
    return [`--socket-path=${socketPath}`, `--shared-dir=${folder}`, '--cache=auto', '--sandbox=namespace'];
  return [
    `--socket-path=${socketPath}`,
    '-o',
    `source=${folder}`,
    '-o',
    'cache=auto',
    '-o',
    'sandbox=namespace',
  ];
}

export interface VirtiofsDaemon {
  pid: number | undefined;
  socketPath: string;
  stop(): Promise<void>;
}

/** Starts virtiofsd for a folder and resolves once its socket is there for QEMU. */
export async function startVirtiofsd(
  folder: string,
  socketPath: string,
  logFile: string,
): Promise<VirtiofsDaemon> {
  const bin = findVirtiofsd();
  if (!bin)
    throw new Error('virtiofsd is not installed (Debian: virtiofsd, or qemu-system-common up to QEMU 7.2)');
  await fs.rm(socketPath, { force: true });
  const out = { file: logFile, append: true } as const;
  const child = spawnLongRunning(bin.path, virtiofsdArgs(bin.flavour, socketPath, folder), {
    stdin: 'ignore',
    stdout: out,
    stderr: out,
  });
  let exited = false;
  const done = child.then((r) => {
    exited = true;
    log.debug('virtiofsd exited', { folder, code: r.exitCode ?? r.signal });
  });
  const stop = async () => {
    if (!exited && child.pid) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([done, sleep(2000)]);
      if (!exited) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await done;
      }
    }
    await fs.rm(socketPath, { force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!existsSync(socketPath)) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`virtiofsd for ${folder} did not start (see ${logFile})`);
    }
    await sleep(20);
  }
  return { pid: child.pid, socketPath, stop };
}
