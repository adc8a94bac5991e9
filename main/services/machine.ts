// The machine: the VM's state (vm/state.ts), its logs, doctor, and starting or
// stopping it through the `berth vm` commands (the same code path as the CLI).
import { spawn } from 'node:child_process';
import { existsSync, watch, type FSWatcher, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import type { DoctorCheck, MachineInfo } from '../../common/desktop-api.js';
import { engineChecks, hostChecks } from '../../vm/doctor.js';
import { vmPaths, type VmPaths } from '../../vm/paths.js';
import { readState } from '../../vm/state.js';
import type { EngineConnection } from '../engine-connection.js';

/** bin/berth, found upward from this file (sources: main/services/, bundle: dist/). */
export function findBerthCli(from = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'bin', 'berth');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

async function tail(file: string, lines: number): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

export class MachineService {
  readonly paths: VmPaths;
  private readonly docker: Docker;

  constructor(
    private readonly engine: EngineConnection,
    home?: string,
    private readonly berthCli = findBerthCli(),
  ) {
    this.paths = vmPaths(home);
    this.docker = engine.docker;
  }

  async info(): Promise<MachineInfo> {
    const s = await readState(this.paths);
    const info: MachineInfo = {
      mode: this.engine.mode,
      engineSocket: this.engine.socket,
      engineReachable: false,
      vm: {
        status: s.status,
        reason: s.reason,
        accel: s.accel,
        bootMs: s.bootMs,
        since: s.since,
        pid: s.pid,
      },
    };
    try {
      const [version, e] = await Promise.all([this.docker.version(), this.docker.info()]);
      info.engineReachable = true;
      info.engineVersion = `${version.Version} (API ${version.ApiVersion})`;
      info.resources = {
        cpus: e.NCPU,
        memoryBytes: e.MemTotal,
        containers: e.Containers,
        running: e.ContainersRunning,
        images: e.Images,
      };
    } catch {
      // not reachable: the view says so
    }
    return info;
  }

  async logs(lines = 300): Promise<string> {
    const [supervisor, console] = await Promise.all([
      tail(this.paths.supervisorLog, lines),
      tail(this.paths.serialLog, lines),
    ]);
    if (!supervisor && !console) return `no VM logs yet in ${this.paths.dir}`;
    return `== ${this.paths.supervisorLog}\n${supervisor}\n== ${this.paths.serialLog}\n${console}`;
  }

  async doctor(): Promise<DoctorCheck[]> {
    return [...hostChecks(), ...(await engineChecks(this.docker, this.engine.socket))];
  }

  /** Runs `berth vm start|stop` and waits for it; restart is stop then start. */
  async action(action: 'start' | 'stop' | 'restart'): Promise<MachineInfo> {
    if (this.engine.mode !== 'vm')
      throw Object.assign(
        new Error(`the engine at ${this.engine.socket} is not Berth's VM; start and stop it yourself`),
        {
          statusCode: 409,
        },
      );
    if (action === 'restart') {
      await this.runVm('stop');
      await this.runVm('start');
    } else await this.runVm(action);
    return this.info();
  }

  /**
   * Factory defaults: the VM is stopped, then its disk (every image, container
   * and volume in it), state and logs, and the settings file are removed. The
   * keys and the built guest image stay; the next start makes a fresh disk.
   */
  async reset(settingsFile: string): Promise<MachineInfo> {
    if (this.engine.mode !== 'vm')
      throw Object.assign(
        new Error(`the engine at ${this.engine.socket} is not Berth's VM; nothing to reset`),
        {
          statusCode: 409,
        },
      );
    // The CLI's own reset (it stops the VM first and never touches the image cache); the dashboard asked already.
    await this.runVm('reset', ['--force']);
    await fs.rm(settingsFile, { force: true });
    return this.info();
  }

  private runVm(sub: 'start' | 'stop' | 'reset', extra: string[] = []): Promise<void> {
    const cli = this.berthCli;
    if (!cli) return Promise.reject(new Error('bin/berth was not found next to the dashboard'));
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, 'vm', sub, ...extra], {
        env: { ...process.env, BERTH_HOME: this.paths.home },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`berth vm ${sub} failed (exit ${code}): ${out.trim()}`)),
      );
    });
  }

  /** Calls back when the VM's state file changes (written by rename, so the folder is watched). */
  watchState(onChange: () => void): FSWatcher | undefined {
    try {
      return watch(this.paths.dir, (_event, file) => {
        if (file === path.basename(this.paths.state)) onChange();
      });
    } catch {
      return undefined; // no VM folder yet: nothing to watch
    }
  }
}
