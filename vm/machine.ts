// One Berth VM: QEMU, the channel to its guest, the engine socket on the host.
// stopped → starting → running → stopping → stopped, or error with a reason;
// every change is written to the state file.
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AUTHORIZED_KEY_PARAM,
  CONTROL_COMMANDS,
  DAEMON_CONFIG_PARAM,
  GUEST_CONTROL_SOCKET,
  GUEST_ENGINE_SOCKET,
} from '../common/control.js';
import { engineDaemonConfig } from '../common/settings.js';
import { ControlClient, channelAlgorithms } from './channel/control-client.js';
import { EngineSocketForwarder } from './channel/engine-socket.js';
import { PortForwarder } from './ports/port-forwarder.js';
import { PublishedPortsWatcher } from './ports/published-ports.js';
import { HostNetworkPorts } from './ports/host-network-ports.js';
import {
  resolveShares,
  shareKernelParams,
  sharedFolders,
  type Share,
  type ShareType,
} from './shares/shares.js';
import { findVirtiofsd, startVirtiofsd, type VirtiofsDaemon } from './shares/virtiofsd.js';
import { ensureDisk } from './disk.js';
import { findImage, type GuestImage } from './image/build-image.js';
import { ClockJumpWatcher } from './clock-watch.js';
import { readSettingsFile } from './settings.js';
import type { VmSettingsFile } from '../common/vm-settings.js';
import { ensureHostKey } from './keys.js';
import { guestArch, hostArch, vmPaths, type GuestArch, type VmPaths } from './paths.js';
import { accelCandidates, qemuArgv, type Accel, type HostPlatform, type SharedFolder } from './qemu/argv.js';
import { HostForwards } from './qemu/hostfwd.js';
import { QmpClient } from './qemu/qmp.js';
import { explainQemuExit } from './qemu/exit-reason.js';
import { requireQemu } from './qemu/binaries.js';
import { acquireLock, releaseLock, writeState, type VmState, type VmStatus } from './state.js';
import { spawnLongRunning } from './util/exec.js';
import { log } from './util/log.js';

export interface MachineSettings {
  /** The guest's architecture: the host's, or another one emulated under TCG (BERTH_ARCH). */
  arch: GuestArch;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  accel: Accel | 'auto';
  /** How long a boot may take to the engine answering, per accelerator tried. */
  bootTimeoutMs: { accelerated: number; tcg: number };
  /** How long a graceful shutdown may take before QEMU is killed. */
  stopTimeoutMs: number;
  /** Forward ports published on 0.0.0.0/:: to the host's loopback only, not to all its interfaces. */
  portsLoopbackOnly: boolean;
  /** Host folders that appear in the VM at the same paths (default: the user's home). */
  shares: string[];
  /** How they are shared; auto: virtiofs on a Linux host where virtiofsd can run, else 9p. */
  shareType: ShareType | 'auto';
  /** The engine's daemon.json (the desktop's log and daemon.json settings); undefined: its defaults. */
  engineConfig?: Record<string, unknown>;
}

/**
 * The settings a VM starts with: defaults, then the settings file
 * ($BERTH_HOME/settings.json), then the environment (BERTH_ACCEL,
 * BERTH_SHARES, BERTH_SHARE_TYPE), which wins.
 */
export function defaultSettings(
  env: NodeJS.ProcessEnv = process.env,
  file: VmSettingsFile = {},
): MachineSettings {
  const accel = env.BERTH_ACCEL as MachineSettings['accel'] | undefined;
  if (accel && !['auto', 'hvf', 'whpx', 'kvm', 'tcg'].includes(accel))
    throw new Error(`BERTH_ACCEL=${accel}: use auto, hvf, whpx, kvm or tcg`);
  const arch = guestArch(env);
  // Another architecture, emulated instruction by instruction, boots several times slower.
  const tcgBootMs = (file.bootTimeoutSeconds ?? (arch === hostArch() ? 120 : 600)) * 1000;
  return {
    arch,
    cpus: file.cpus ?? Math.max(1, Math.min(4, os.cpus().length)),
    memoryMiB: file.memoryMiB ?? 2048,
    diskGiB: file.diskGiB ?? 64,
    accel: accel ?? file.accel ?? 'auto',
    bootTimeoutMs: { accelerated: Math.min(15_000, tcgBootMs), tcg: tcgBootMs },
    stopTimeoutMs: 30_000,
    portsLoopbackOnly: env.BERTH_PORTS_LOOPBACK_ONLY === '1',
    shares:
      env.BERTH_SHARES !== undefined || !file.sharedFolders
        ? sharedFolders(env, os.homedir())
        : file.sharedFolders,
    shareType: shareTypeSetting(env.BERTH_SHARE_TYPE ?? file.shareType),
    engineConfig: engineDaemonConfig(file as Record<string, unknown>),
  };
}

/** The settings for the VM of a data dir: its settings file (checked) under the environment. */
export async function loadSettings(
  paths: VmPaths,
  env: NodeJS.ProcessEnv = process.env,
): Promise<MachineSettings> {
  const file = await readSettingsFile(paths);
  try {
    return defaultSettings(env, file);
  } catch (err) {
    throw new Error(`${paths.settings}: ${(err as Error).message}`);
  }
}

/** The engine's daemon.json as a kernel parameter (none for the defaults). */
export function daemonConfigParams(config: Record<string, unknown> | undefined): string[] {
  if (!config) return [];
  return [`${DAEMON_CONFIG_PARAM}=${Buffer.from(JSON.stringify(config)).toString('hex')}`];
}

function shareTypeSetting(v: string | undefined): ShareType | 'auto' {
  if (v === undefined || v === 'auto' || v === 'virtiofs' || v === '9p') return v ?? 'auto';
  throw new Error(`BERTH_SHARE_TYPE=${v}: use auto, virtiofs or 9p`);
}

/**
 * virtiofs where it can work: a Linux host, virtiofsd installed, and root
 * (virtiofsd's sandbox needs namespaces and it serves files as their owners).
 * Elsewhere 9p, which QEMU serves itself as the user who runs it.
 */
export function chooseShareType(setting: ShareType | 'auto'): ShareType {
  if (setting !== 'auto') return setting;
  const root = process.getuid?.() === 0;
  return process.platform === 'linux' && root && findVirtiofsd() ? 'virtiofs' : '9p';
}

type QemuProcess = ReturnType<typeof spawnLongRunning>;

export class Machine {
  readonly paths: VmPaths;
  private status: VmStatus = 'stopped';
  private qemu: QemuProcess | undefined;
  private qemuExited: Promise<void> = Promise.resolve();
  private control: ControlClient | undefined;
  private forwarder: EngineSocketForwarder | undefined;
  private shellForwarder: EngineSocketForwarder | undefined;
  private clockWatch: ClockJumpWatcher | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  /** Set while the engine inside does not answer (it died; the guest's supervisor restarts it). */
  private engineProblem: string | undefined;
  private ports: PortForwarder | undefined;
  private portWatcher: PublishedPortsWatcher | undefined;
  private hostNetworkPorts: HostNetworkPorts | undefined;
  private privateKey = '';
  private accel: Accel | undefined;
  private bootMs: number | undefined;
  private stateWrites: Promise<void> = Promise.resolve();
  private failing?: Promise<void>;
  private shares: Share[] = [];
  private shareType: ShareType = '9p';
  private shareProblems: string[] = [];
  private virtiofsd: VirtiofsDaemon[] = [];

  constructor(
    private readonly settings: MachineSettings = defaultSettings(),
    home?: string,
  ) {
    this.paths = vmPaths(home);
  }

  get state(): VmStatus {
    return this.status;
  }

  private async setState(status: VmStatus, reason?: string): Promise<void> {
    this.status = status;
    log.debug('vm state', { status, reason });
    const s: Omit<VmState, 'since'> = {
      status,
      reason,
      pid: process.pid,
      qemuPid: this.qemu?.pid,
      accel: this.accel,
      engineSocket: this.paths.engineSocket,
      bootMs: this.bootMs,
      ports: this.ports?.summary(),
      shares: {
        type: this.shareType,
        folders: this.shares.map((sh) => sh.hostPath),
        problems: this.shareProblems,
      },
      virtiofsdPids: this.virtiofsd.flatMap((d) => (d.pid ? [d.pid] : [])),
      engineProblem: status === 'running' ? this.engineProblem : undefined,
    };
    // One write at a time, in order: the last state asked for is the one on disk.
    const write = this.stateWrites.then(() => writeState(this.paths, s));
    this.stateWrites = write.catch(() => {});
    await write;
  }

  /** Boots the VM and returns once the engine answers through the host socket. */
  async start(): Promise<void> {
    if (this.status !== 'stopped' && this.status !== 'error') throw new Error(`the VM is ${this.status}`);
    // A failure still being recorded would release the lock taken below.
    await this.failing;
    this.failing = undefined;
    await acquireLock(this.paths); // before any state is written: another VM's state is not ours to change
    try {
      await this.setState('starting');
      const arch = this.settings.arch;
      const qemuBin = requireQemu(arch, process.platform as HostPlatform);
      const image = await findImage(arch);
      if (!image)
        throw new Error(
          `no ${arch} guest image: run \`berth vm build-image${arch === hostArch() ? '' : ` --arch ${arch}`}\``,
        );
      await ensureDisk(this.paths.disk, this.settings.diskGiB);
      this.privateKey = (await ensureHostKey(this.paths.hostKey)).privateKey;
      const { shares, problems } = resolveShares(this.settings.shares);
      this.shares = shares;
      this.shareType = chooseShareType(this.settings.shareType);
      this.shareProblems = problems;
      // The VM's log says which folders are left out and why; the status too.
      for (const p of problems) process.stderr.write(`berth vm: ${p}: not shared\n`);
      const platform = process.platform as HostPlatform;
      let lastError: Error | undefined;
      for (const accel of accelCandidates(this.settings.accel, platform, arch !== hostArch())) {
        try {
          await this.boot(qemuBin, accel, image);
          lastError = undefined;
          break;
        } catch (err) {
          lastError = err as Error;
          log.debug('boot failed', { accel, error: lastError.message });
          await this.teardown();
        }
      }
      if (lastError) throw lastError;
      await this.setState('running');
      await this.startPortForwarding();
      this.watchEngine();
      this.clockWatch = new ClockJumpWatcher((gap) => void this.afterHostSleep(gap));
      this.clockWatch.start();
    } catch (err) {
      await this.teardown();
      await this.setState('error', (err as Error).message);
      await releaseLock(this.paths);
      throw err;
    }
  }

  private async boot(qemuBin: string, accel: Accel, image: GuestImage): Promise<void> {
    this.accel = accel;
    const started = Date.now();
    const publicBlob = (await ensureHostKey(this.paths.hostKey)).publicBlob;
    for (const f of [this.paths.qmp, this.paths.control]) await fs.rm(f, { force: true });
    await fs.writeFile(this.paths.serialLog, '');
    const shared: SharedFolder[] = [];
    for (const [i, share] of this.shares.entries()) {
      if (this.shareType === 'virtiofs') {
        const daemon = await startVirtiofsd(
          share.hostPath,
          path.join(this.paths.dir, `virtiofs-${i}.sock`),
          this.paths.supervisorLog,
        );
        this.virtiofsd.push(daemon);
        shared.push({
          type: 'virtiofs',
          tag: share.tag,
          hostPath: share.hostPath,
          socket: daemon.socketPath,
        });
      } else {
        shared.push({ type: '9p', tag: share.tag, hostPath: share.hostPath });
      }
    }
    const argv = qemuArgv({
      arch: this.settings.arch,
      platform: process.platform as HostPlatform,
      accel,
      cpus: this.settings.cpus,
      memoryMiB: this.settings.memoryMiB,
      kernel: image.kernel,
      initramfs: image.initramfs,
      rootDisk: image.rootDisk,
      kernelParams: [
        `${AUTHORIZED_KEY_PARAM}=${publicBlob}`,
        ...shareKernelParams(this.shares, this.shareType),
        ...daemonConfigParams(this.settings.engineConfig),
      ],
      disk: this.paths.disk,
      qmpSocket: this.paths.qmp,
      controlSocket: this.paths.control,
      serialLog: this.paths.serialLog,
      shares: shared,
    });
    const qemuLog = { file: this.paths.supervisorLog, append: true } as const;
    const qemu = spawnLongRunning(qemuBin, argv, {
      stdin: 'ignore',
      stdout: qemuLog,
      stderr: qemuLog,
    });
    this.qemu = qemu;
    let exitReason: string | undefined;
    this.qemuExited = qemu.then((r) => {
      exitReason = `QEMU exited (${r.exitCode ?? r.signal})${r.originalMessage ? `: ${r.originalMessage}` : ''}`;
      this.onQemuExit(exitReason, r);
    });
    await this.setState('starting');
    const timeout =
      accel === 'tcg' ? this.settings.bootTimeoutMs.tcg : this.settings.bootTimeoutMs.accelerated;
    const deadline = started + timeout;
    const alive = () => exitReason === undefined;
    const hung = async (what: string) =>
      new Error(
        `${what} within ${timeout / 1000} s under ${accel}: the guest hangs at boot` +
          `${await consoleTail(this.paths.serialLog)} (\`berth vm logs\` has the console)`,
      );
    await waitFor(() => existsSync(this.paths.control), deadline, alive);
    try {
      this.control = await ControlClient.connect(
        this.paths.control,
        this.privateKey,
        deadline,
        alive,
        channelAlgorithms(accel),
      );
    } catch (err) {
      if (!alive()) throw new Error(exitReason);
      if (Date.now() >= deadline) throw await hung("the guest's control server did not answer");
      throw err;
    }
    this.control.onClose(() => void this.onControlClosed());
    this.forwarder = new EngineSocketForwarder(
      this.paths.engineSocket,
      () => this.control,
      GUEST_ENGINE_SOCKET,
      true,
    );
    await this.forwarder.listen();
    while (!(await pingEngine(this.paths.engineSocket))) {
      if (!alive()) throw new Error(exitReason);
      if (Date.now() > deadline) throw await hung('the engine did not answer');
      await sleep(100);
    }
    this.bootMs = Date.now() - started;
    this.shellForwarder = new EngineSocketForwarder(
      this.paths.shellSocket,
      () => this.control,
      GUEST_CONTROL_SOCKET,
    );
    await this.shellForwarder.listen();
  }

  /** Follows the engine's published ports and opens each on the host. */
  private async startPortForwarding(): Promise<void> {
    this.ports = new PortForwarder({
      uplink: new HostForwards(this.paths.qmp),
      openTcp: (ip, port, fromIp, fromPort) => {
        const control = this.control;
        if (!control) return Promise.reject(new Error('no channel to the guest'));
        return control.openTcp(ip, port, fromIp, fromPort);
      },
      openUdp: (ip, port) => {
        const control = this.control;
        if (!control) return Promise.reject(new Error('no channel to the guest'));
        return control.openExec(`${CONTROL_COMMANDS.udpForward} ${ip} ${port}`);
      },
      loopbackOnly: this.settings.portsLoopbackOnly,
      // The VM process's stderr is the VM's log (vm.log).
      report: (msg) => process.stderr.write(`berth vm: port ${msg}\n`),
      onChange: () => {
        if (this.status === 'running')
          void this.setState('running').catch((err: Error) => log.debug('state', { error: err.message }));
      },
    });
    const ports = this.ports;
    const enginePorts = new Map<string, number>(); // "proto/port" → publications of it
    this.portWatcher = new PublishedPortsWatcher(this.paths.engineSocket, (e) => {
      const key = `${e.proto}/${e.hostPort}`;
      const n = (enginePorts.get(key) ?? 0) + (e.action === 'publish' ? 1 : -1);
      if (n > 0) enginePorts.set(key, n);
      else enginePorts.delete(key);
      ports.apply(e);
    });
    await this.portWatcher.start();
    this.hostNetworkPorts = new HostNetworkPorts(
      () => {
        const control = this.control;
        if (!control) return Promise.reject(new Error('no channel to the guest'));
        return control.openExec(CONTROL_COMMANDS.listeners);
      },
      (e) => ports.apply(e),
      (port, proto) => enginePorts.has(`${proto}/${port}`),
    );
    this.hostNetworkPorts.start();
  }

  /**
   * The host slept: the guest's clock is set to the host's, the engine's
   * publications are read again (its event stream may have dropped) and
   * forwarded listeners that are gone or could not be opened are opened again.
   */
  private async afterHostSleep(gapMs: number): Promise<void> {
    const reopened = this.ports?.refresh() ?? 0;
    if (reopened)
      process.stderr.write(`berth vm: ${reopened} forwarded port(s) opened again after the host slept\n`);
    void this.portWatcher?.sync();
    await this.syncClock(gapMs);
  }

  /** The guest's clock stood still while the host slept: set it to the host's. */
  async syncClock(gapMs?: number): Promise<void> {
    const control = this.control;
    if (!control) return;
    try {
      await control.run(`${CONTROL_COMMANDS.timeSync} ${Date.now()}`);
      process.stderr.write(
        `berth vm: clock synced${gapMs ? ` (the host was away ${Math.round(gapMs / 1000)} s)` : ''}\n`,
      );
    } catch (err) {
      process.stderr.write(`berth vm: clock sync failed: ${(err as Error).message}\n`);
    }
  }

  /**
   * Pings the engine while the VM runs: when the engine dies the guest's
   * supervisor restarts it, and meanwhile the status says so instead of
   * "running" alone.
   */
  private watchEngine(): void {
    let failures = 0;
    const check = async () => {
      if (this.status !== 'running') return;
      const ok = await pingEngine(this.paths.engineSocket);
      if (this.status !== 'running') return;
      failures = ok ? 0 : failures + 1;
      // One miss may be a busy guest; two in a row is an engine that is not there.
      const problem =
        failures >= 2
          ? (this.engineProblem ??
            `the engine in the VM has not answered since ${new Date().toISOString()} (the VM restarts it; \`berth vm logs\` says why)`)
          : ok
            ? undefined
            : this.engineProblem;
      if (problem !== this.engineProblem) {
        this.engineProblem = problem;
        await this.setState('running').catch((err: Error) => log.debug('state', { error: err.message }));
      }
      if (this.status === 'running') this.healthTimer = setTimeout(() => void check(), 2000);
    };
    this.healthTimer = setTimeout(() => void check(), 2000);
  }

  private onQemuExit(reason: string, r: { exitCode?: number; signal?: string }): void {
    this.qemu = undefined;
    if (this.status === 'running')
      void explainQemuExit(r, this.paths.serialLog).then(
        (why) => this.failed(why),
        () => this.failed(reason),
      );
  }

  /** The guest's control server restarts when it dies: reconnect while the VM runs. */
  private async onControlClosed(): Promise<void> {
    // With QEMU gone, its exit (signal, panic) is what the status says.
    const qemuRuns = () => this.status === 'running' && this.qemu !== undefined;
    if (!qemuRuns()) return;
    this.control = undefined;
    try {
      this.control = await ControlClient.connect(
        this.paths.control,
        this.privateKey,
        Date.now() + 60_000,
        qemuRuns,
        channelAlgorithms(this.accel),
      );
      this.control.onClose(() => void this.onControlClosed());
    } catch (err) {
      if (qemuRuns()) await this.failed(`lost the channel to the guest: ${(err as Error).message}`);
    }
  }

  /** The VM ends on its own; the first reason given is the one reported (the teardown's own effects are not). */
  private failed(reason: string): Promise<void> {
    this.failing ??= (async () => {
      await this.teardown();
      await this.setState('error', reason);
      await releaseLock(this.paths);
    })();
    return this.failing;
  }

  /** Resolves once a VM that failed on its own has recorded why and let go of its lock. */
  settled(): Promise<void> {
    return this.failing ?? Promise.resolve();
  }

  /** Graceful shutdown (the guest stops the engine, unmounts the disk, powers off), then QMP quit, then kill. */
  async stop(): Promise<void> {
    if (this.status === 'stopped') return;
    await this.setState('stopping');
    if (this.qemu && this.control) {
      await this.control
        .run(CONTROL_COMMANDS.shutdown)
        .catch((err: Error) => log.debug('shutdown', { error: err.message }));
      await Promise.race([this.qemuExited, sleep(this.settings.stopTimeoutMs)]);
    }
    await this.teardown();
    await this.setState('stopped');
    await releaseLock(this.paths);
  }

  /** Ends QEMU (QMP quit, then SIGKILL by pid) and removes the sockets. */
  private async teardown(): Promise<void> {
    clearTimeout(this.healthTimer);
    this.engineProblem = undefined;
    this.clockWatch?.stop();
    this.clockWatch = undefined;
    await this.shellForwarder?.close();
    this.shellForwarder = undefined;
    this.hostNetworkPorts?.stop();
    this.hostNetworkPorts = undefined;
    this.portWatcher?.stop();
    this.portWatcher = undefined;
    this.ports?.close();
    this.ports = undefined;
    this.control?.close();
    this.control = undefined;
    await this.forwarder?.close();
    this.forwarder = undefined;
    const qemu = this.qemu;
    if (qemu?.pid) {
      try {
        const qmp = await QmpClient.connect(this.paths.qmp);
        await qmp.execute('quit').catch(() => {});
        qmp.close();
      } catch {
        // no QMP: kill below
      }
      await Promise.race([this.qemuExited, sleep(3000)]);
      if (this.qemu?.pid === qemu.pid) {
        process.kill(qemu.pid, 'SIGKILL');
        await this.qemuExited;
      }
    }
    this.qemu = undefined;
    // After QEMU: its vhost-user devices are the daemons' only clients.
    await Promise.all(this.virtiofsd.map((d) => d.stop()));
    this.virtiofsd = [];
    for (const f of [this.paths.qmp, this.paths.control]) await fs.rm(f, { force: true });
  }
}

/** The console's last lines, to say where a boot stopped. */
async function consoleTail(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const lines = text
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1bc/g, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines.at(-1);
  return last
    ? `; the console's last line: ${JSON.stringify(last.slice(0, 200))}`
    : '; nothing on the console';
}

async function waitFor(cond: () => boolean, deadline: number, alive: () => boolean): Promise<void> {
  while (!cond()) {
    if (!alive() || Date.now() > deadline) return;
    await sleep(50);
  }
}

/** True when the engine answers GET /_ping through the socket. */
export function pingEngine(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: '/_ping', timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
