// `berth vm …`: start (in the background, or --foreground), stop, status,
// logs, build-image. The VM runs in a process of its own (`vm run`), which
// owns QEMU, the channel and the socket, and records its state on disk.
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage, findImage } from './image/build-image.js';
import { Machine, defaultSettings } from './machine.js';
import { berthHome, hostArch, vmPaths } from './paths.js';
import { processAlive, readState, type VmState } from './state.js';

export const VM_USAGE = `Usage: berth vm COMMAND

Commands:
  start [--foreground]   Boot the VM (building its image first if there is none)
  stop                   Shut the VM down cleanly
  status                 Say whether the VM runs, and where its engine listens
  logs                   Print the VM's console log
  build-image [--force]  Build the guest image from Debian packages

Environment: BERTH_HOME (default ~/.berth), BERTH_CACHE, BERTH_ACCEL (auto|kvm|hvf|whpx|tcg),
  BERTH_PORTS_LOOPBACK_ONLY=1 (forward ports published on 0.0.0.0 to the host's loopback only),
  BERTH_SHARES (folders shared at the same path in the VM, ':'-separated; default your home; none),
  BERTH_SHARE_TYPE (auto|virtiofs|9p)
`;

function out(s: string): void {
  process.stdout.write(s + '\n');
}

function describe(s: VmState): string {
  switch (s.status) {
    case 'running': {
      const lines = [
        `running (${s.accel}, booted in ${((s.bootMs ?? 0) / 1000).toFixed(1)} s): export DOCKER_HOST=unix://${s.engineSocket}`,
      ];
      if (s.ports?.forwarded.length) lines.push(`ports forwarded: ${s.ports.forwarded.join(', ')}`);
      for (const p of s.ports?.problems ?? []) lines.push(`port ${p}`);
      if (s.shares?.folders.length) lines.push(`shared (${s.shares.type}): ${s.shares.folders.join(', ')}`);
      for (const p of s.shares?.problems ?? []) lines.push(`${p}: not shared`);
      return lines.join('\n');
    }
    case 'error':
      return `error: ${s.reason}`;
    default:
      return s.status;
  }
}

async function ensureImage(): Promise<void> {
  if (await findImage(hostArch())) return;
  out('no guest image yet: building it');
  await buildImage({ progress: (m) => out(`build-image: ${m}`) });
}

/** Runs the VM in this process until SIGINT/SIGTERM, then stops it. */
async function runForeground(onReady?: () => void): Promise<number> {
  const machine = new Machine(defaultSettings());
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= machine.stop());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void stop());
  try {
    await machine.start();
  } catch (err) {
    process.stderr.write(`berth vm: ${(err as Error).message}\n`);
    return 1;
  }
  onReady?.();
  // Until told to stop, or until the VM fails on its own.
  while (!stopping && machine.state === 'running') await sleep(200);
  if (stopping) await stopping;
  return machine.state === 'stopped' ? 0 : 1;
}

async function startBackground(): Promise<number> {
  const paths = vmPaths();
  const before = await readState(paths);
  if ((before.status === 'running' || before.status === 'starting') && processAlive(before.pid)) {
    out(describe(before));
    return before.status === 'running' ? 0 : 1;
  }
  await fs.mkdir(paths.dir, { recursive: true });
  const logFd = openSync(paths.supervisorLog, 'a');
  const child = spawn(process.execPath, [process.argv[1], 'vm', 'run'], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: process.env,
  });
  closeSync(logFd);
  child.unref();
  const pid = child.pid;
  out(`starting the VM (pid ${pid}; log ${paths.supervisorLog})`);
  for (;;) {
    await sleep(200);
    const s = await readState(paths);
    if (s.pid === pid && s.status === 'running') {
      out(describe(s));
      return 0;
    }
    if (s.pid === pid && s.status === 'error') {
      out(describe(s));
      return 1;
    }
    if (!processAlive(pid)) {
      out(`the VM process exited: see ${paths.supervisorLog}`);
      return 1;
    }
  }
}

async function stopBackground(): Promise<number> {
  const paths = vmPaths();
  const s = await readState(paths);
  if (!s.pid || !processAlive(s.pid) || s.status === 'stopped') {
    out('stopped');
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  const deadline = Date.now() + defaultSettings().stopTimeoutMs + 15_000;
  while (processAlive(s.pid) && Date.now() < deadline) await sleep(100);
  if (processAlive(s.pid)) {
    out(`the VM process (pid ${s.pid}) did not stop`);
    return 1;
  }
  out(describe(await readState(paths)));
  return 0;
}

export async function vmCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'build-image': {
      const r = await buildImage({
        force: rest.includes('--force'),
        progress: (m) => out(`build-image: ${m}`),
      });
      out(`${r.rebuilt ? 'built' : 'up to date'}: ${r.dir} (content ${r.manifest.contentHash.slice(0, 16)})`);
      return 0;
    }
    case 'start':
      await ensureImage();
      if (rest.includes('--foreground'))
        return runForeground(() => out(`VM ready: export DOCKER_HOST=unix://${vmPaths().engineSocket}`));
      return startBackground();
    case 'run': // the background process `start` spawns
      return runForeground();
    case 'stop':
      return stopBackground();
    case 'status': {
      const s = await readState(vmPaths());
      out(describe(s));
      return s.status === 'running' ? 0 : s.status === 'error' ? 1 : 3;
    }
    case 'logs': {
      const p = vmPaths();
      if (!existsSync(p.serialLog)) {
        out(`no console log yet (${berthHome()})`);
        return 1;
      }
      process.stdout.write(await fs.readFile(p.serialLog));
      return 0;
    }
    default:
      process.stdout.write(VM_USAGE);
      return sub === undefined || sub === 'help' ? 0 : 1;
  }
}
