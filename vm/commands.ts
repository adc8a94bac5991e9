// `berth vm …`: start (in the background, or --foreground), stop, restart,
// status, logs, ssh, reset, settings, build-image. The VM runs in a process of its own (`vm run`), which
// owns QEMU, the channel and the socket, and records its state on disk.
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, promises as fs } from 'node:fs';
import readline from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { VM_SETTING_HELP, VM_SETTING_KEYS, type VmSettingKey } from '../common/vm-settings.js';
import { buildImage, findImage } from './image/build-image.js';
import { Machine, defaultSettings, loadSettings, type MachineSettings } from './machine.js';
import { berthCache, berthHome, guestArch, parseGuestArch, vmPaths } from './paths.js';
import { readSettingsFile, setSettings } from './settings.js';
import { vmSsh } from './ssh.js';
import { processAlive, readState, type VmState } from './state.js';

export const VM_USAGE = `Usage: berth vm COMMAND

Commands:
  start [--foreground]   Boot the VM (building its image first if there is none)
  stop                   Shut the VM down cleanly
  restart                Stop the VM and start it again (settings changes apply)
  status                 Say whether the VM runs, and where its engine listens
  logs                   Print the VM's console log
  ssh [-t] [-- CMD…]     A root shell in the VM, or run CMD there (its exit code is ours)
  reset [--force]        Factory reset: stop the VM and delete its disk (images, containers,
                         volumes) and state; settings, keys and the image cache are kept
  settings               Show the VM settings; \`settings get KEY\`, \`settings set KEY=VALUE…\`
                         (applied at the next start)
  build-image [--force] [--arch x86_64|aarch64]
                         Build the guest image from Debian packages (default: the VM's architecture)

Settings ($BERTH_HOME/settings.json):
${VM_SETTING_KEYS.map((k) => `  ${k.padEnd(20)} ${VM_SETTING_HELP[k]}`).join('\n')}

Environment (wins over the settings): BERTH_HOME (default ~/.berth), BERTH_CACHE, BERTH_ACCEL (auto|kvm|hvf|whpx|tcg),
  BERTH_ARCH (x86_64|aarch64: the VM's architecture; default the host's, another one is emulated),
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
      if (s.engineProblem) lines.push(`engine: ${s.engineProblem}`);
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
  const arch = guestArch();
  if (await findImage(arch)) return;
  out(`no ${arch} guest image yet: building it`);
  await buildImage({ arch, progress: (m) => out(`build-image: ${m}`) });
}

/** Runs the VM in this process until SIGINT/SIGTERM, then stops it. */
async function runForeground(onReady?: () => void): Promise<number> {
  let settings: MachineSettings;
  try {
    settings = await loadSettings(vmPaths());
  } catch (err) {
    process.stderr.write(`berth vm: ${(err as Error).message}\n`);
    return 1;
  }
  const machine = new Machine(settings);
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
  // The exit must wait for the state file to say why: `berth vm status` reads it.
  await (stopping ?? machine.settled());
  return machine.state === 'stopped' ? 0 : 1;
}

async function startBackground(): Promise<number> {
  const paths = vmPaths();
  try {
    await loadSettings(paths); // a bad settings file is said here, not only in the VM process's log
  } catch (err) {
    process.stderr.write(`berth vm: ${(err as Error).message}\n`);
    return 1;
  }
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

/** The settings as the next start will use them, and where each comes from. */
async function showSettings(key: string | undefined): Promise<number> {
  const paths = vmPaths();
  const file = await readSettingsFile(paths);
  const effective = defaultSettings(process.env, file);
  const value = (k: VmSettingKey): unknown =>
    k === 'bootTimeoutSeconds'
      ? effective.bootTimeoutMs.tcg / 1000
      : k === 'sharedFolders'
        ? effective.shares
        : effective[k];
  const envOf: Partial<Record<VmSettingKey, string>> = {
    accel: 'BERTH_ACCEL',
    sharedFolders: 'BERTH_SHARES',
    shareType: 'BERTH_SHARE_TYPE',
  };
  const source = (k: VmSettingKey) => {
    const env = envOf[k];
    if (env && process.env[env] !== undefined) return env;
    return file[k] !== undefined ? 'settings.json' : 'default';
  };
  const show = (v: unknown) => (Array.isArray(v) ? v.join(':') || 'none' : String(v));
  if (key !== undefined) {
    if (!VM_SETTING_KEYS.includes(key as VmSettingKey)) {
      process.stderr.write(
        `berth vm settings: ${key}: not a setting (settings: ${VM_SETTING_KEYS.join(', ')})\n`,
      );
      return 1;
    }
    out(show(value(key as VmSettingKey)));
    return 0;
  }
  for (const k of VM_SETTING_KEYS) out(`${k.padEnd(20)} ${show(value(k)).padEnd(24)} (${source(k)})`);
  return 0;
}

async function settingsCommand(args: string[]): Promise<number> {
  const [op, ...rest] = args;
  try {
    if (op === undefined) return await showSettings(undefined);
    if (op === 'get' && rest.length === 1) return await showSettings(rest[0]);
    if (op === 'set' && rest.length > 0) {
      await setSettings(vmPaths(), rest);
      const s = await readState(vmPaths());
      out(
        s.status === 'running' || s.status === 'starting'
          ? 'saved: applied at the next start (`berth vm restart`)'
          : 'saved',
      );
      return 0;
    }
  } catch (err) {
    process.stderr.write(`berth vm settings: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write('usage: berth vm settings [get KEY | set KEY=VALUE…]\n');
  return 1;
}

/** Asks on the terminal; false when there is none to ask on. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Factory reset: the VM stopped, its folder (disk, state, logs, sockets) deleted. */
async function reset(force: boolean): Promise<number> {
  const paths = vmPaths();
  if (!force) {
    if (!process.stdin.isTTY) {
      process.stderr.write(
        'berth vm reset: this deletes every image, container and volume in the VM; pass --force to do it without a terminal to confirm on\n',
      );
      return 1;
    }
    if (!(await confirm('Delete the VM disk with every image, container and volume in it?'))) {
      out('nothing deleted');
      return 1;
    }
  }
  if ((await stopBackground()) !== 0) return 1;
  // The image cache may live under the VM's folder's parent, never inside it.
  if (berthCache().startsWith(paths.dir + '/'))
    throw new Error(`BERTH_CACHE is inside ${paths.dir}: not resetting`);
  await fs.rm(paths.dir, { recursive: true, force: true });
  out('reset: the VM disk and state are deleted; `berth vm start` makes a new disk');
  return 0;
}

export async function vmCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'build-image': {
      let opts;
      try {
        const { values } = parseArgs({
          args: rest,
          options: { force: { type: 'boolean' }, arch: { type: 'string' } },
        });
        opts = { force: values.force, arch: values.arch ? parseGuestArch(values.arch) : guestArch() };
      } catch (err) {
        process.stderr.write(`berth vm build-image: ${(err as Error).message}\n`);
        return 1;
      }
      const r = await buildImage({ ...opts, progress: (m) => out(`build-image: ${m}`) });
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
    case 'restart': {
      const stopped = await stopBackground();
      if (stopped !== 0) return stopped;
      await ensureImage();
      return startBackground();
    }
    case 'ssh':
      try {
        return await vmSsh(vmPaths(), rest);
      } catch (err) {
        process.stderr.write(`berth vm ssh: ${(err as Error).message}\n`);
        return 255;
      }
    case 'reset':
      return reset(rest.includes('--force') || rest.includes('-f'));
    case 'settings':
      return settingsCommand(rest);
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
