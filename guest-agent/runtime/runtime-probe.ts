// Picks the OCI runtime at engine start: crun by default, runc when asked for or
// when crun cannot work on this host. Debian's crun 1.8 refuses the hybrid cgroup
// layout (v1 controllers plus a cgroup2 mount holding one, at /sys/fs/cgroup/unified);
// there it runs in a private mount namespace without that mount, where it sees
// plain cgroup v1, and runc is the fallback when even that fails.
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { readJson, writeJsonAtomic } from '../../common/atomic-file.js';
import { run } from '../util/subprocess.js';
import { OciRuntime, type RuntimeLauncher } from './oci-runtime.js';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable on PATH (or the usual system dirs); undefined when absent. */
export async function findBinary(name: string): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : [...new Set([...(process.env.PATH ?? '').split(':').filter(Boolean), ...SYSTEM_DIRS])].map((d) =>
        path.join(d, name),
      );
  for (const file of candidates) {
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) continue;
      await fs.access(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

export type CgroupLayout = 'v1' | 'v2' | 'hybrid' | 'none';

/** The cgroup layout seen in a mountinfo text (default: this process's). */
export async function cgroupLayout(mountinfo?: string): Promise<CgroupLayout> {
  const text = mountinfo ?? (await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
  let v1 = false;
  let v2Root = false;
  let v2Elsewhere = false;
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep === -1) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (fsType === 'cgroup') v1 = true;
    else if (fsType === 'cgroup2') {
      if (mountPoint === '/sys/fs/cgroup') v2Root = true;
      else v2Elsewhere = true;
    }
  }
  if (v2Root) return 'v2';
  if (v1 && v2Elsewhere) return 'hybrid';
  if (v1) return 'v1';
  return v2Elsewhere ? 'v2' : 'none';
}

/** Where cgroup2 is mounted beside v1 controllers (hybrid layout), from a mountinfo text. */
export function hybridCgroup2Mounts(mountinfo: string): string[] {
  const found: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep === -1) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    if (line.slice(sep + 3).split(' ')[0] === 'cgroup2' && mountPoint && mountPoint !== '/sys/fs/cgroup') {
      found.push(mountPoint);
    }
  }
  return found;
}

/**
 * Runs the runtime in a private mount namespace of its own with the cgroup2
 * mounts removed, so crun sees plain cgroup v1. The namespace is private: the
 * unmount never reaches the host. Each call gets a fresh copy of the engine's
 * mounts, so overlays mounted a moment ago are there. About 3 ms per call.
 */
export function privateCgroupV1Launcher(
  unshare: string,
  cgroup2Mounts: string[],
): RuntimeLauncher | undefined {
  // mountinfo escapes odd characters (\040): such a path is not worth quoting for sh.
  if (cgroup2Mounts.length === 0 || !cgroup2Mounts.every((m) => /^\/[\w./-]+$/.test(m))) return undefined;
  const script = `umount ${cgroup2Mounts.join(' ')} && exec "$0" "$@"`;
  return (binary, args) => ({
    file: unshare,
    args: ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, binary, ...args],
  });
}

/**
 * Runs crun on a throwaway bundle whose command does not exist. Reaching "not
 * found" means crun got past its cgroup setup; any other failure is the reason
 * it cannot run containers here.
 */
async function probeCrun(
  binary: string,
  launcher?: RuntimeLauncher,
): Promise<{ ok: boolean; reason?: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-crun-probe-'));
  const id = `berth-probe-${process.pid}-${Date.now()}`;
  const root = path.join(dir, 'state');
  const crun = (args: string[], opts: Parameters<typeof run>[2]) => {
    const cmd = launcher ? launcher(binary, args) : { file: binary, args };
    return run(cmd.file, cmd.args, opts);
  };
  try {
    await fs.mkdir(path.join(dir, 'rootfs', 'dev'), { recursive: true });
    const config = {
      ociVersion: '1.0.2',
      process: { user: { uid: 0, gid: 0 }, args: ['/berth-probe-no-such-command'], cwd: '/', env: [] },
      root: { path: path.join(dir, 'rootfs') },
      mounts: [],
      linux: {
        namespaces: [{ type: 'mount' }, { type: 'pid' }],
        cgroupsPath: `/${id}`,
        resources: { pids: { limit: 16 } },
      },
    };
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    const r = await crun(['--root', root, 'run', '--bundle', dir, id], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    const out = `${r.stderr}${r.stdout}`.trim();
    if (/berth-probe-no-such-command/.test(out) && /not found|no such file/i.test(out)) return { ok: true };
    if (r.exitCode === 0) return { ok: true };
    return { ok: false, reason: out.split('\n').pop() || `exit code ${r.exitCode}` };
  } finally {
    await crun(['--root', root, 'delete', '--force', id], { allowFailure: true }).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function version(binary: string): Promise<string> {
  const r = await run(binary, ['--version'], { allowFailure: true, timeoutMs: 5000 }).catch(() => undefined);
  return r?.stdout.split('\n')[0]?.trim() || path.basename(binary);
}

function missing(what: string, pkg: string): EngineError {
  return new EngineError(
    'unavailable',
    `${what} not found on PATH: install it with \`apt-get install -y ${pkg}\``,
  );
}

/**
 * Where the probe's verdict is kept until the next boot (the cgroup layout is
 * fixed at boot); BERTH_CRUN_PROBE_CACHE moves it (the test runner does).
 */
const DEFAULT_PROBE_CACHE = process.env.BERTH_CRUN_PROBE_CACHE || '/run/berth/crun-probe.json';

interface ProbeVerdict {
  key: string;
  ok: boolean;
  /** crun works only in the private mount namespace of privateCgroupV1Launcher. */
  wrapped?: boolean;
  reason?: string;
}

/** What the verdict depends on: this boot, the layout, and the crun binary itself. */
async function probeKey(crun: string, layout: CgroupLayout): Promise<string> {
  const boot = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const st = await fs.stat(crun);
  return `${boot}:${layout}:${crun}:${st.size}:${st.mtimeMs}`;
}

/** crun as it is, then (when that fails) in a private mount namespace without the cgroup2 mount. */
async function probeHybrid(
  crun: string,
  launcher: RuntimeLauncher | undefined,
): Promise<Omit<ProbeVerdict, 'key'>> {
  const direct = await probeCrun(crun);
  if (direct.ok) return { ok: true };
  if (!launcher) return direct;
  const wrapped = await probeCrun(crun, launcher);
  if (wrapped.ok) return { ok: true, wrapped: true };
  return { ok: false, reason: `${direct.reason}; without the cgroup2 mount: ${wrapped.reason}` };
}

/** probeHybrid, remembered per boot: the throwaway containers cost ~80 ms at every engine start. */
async function probeHybridCached(
  crun: string,
  launcher: RuntimeLauncher | undefined,
  cacheFile: string | undefined,
): Promise<Omit<ProbeVerdict, 'key'>> {
  const key = await probeKey(crun, 'hybrid');
  if (cacheFile) {
    const cached = await readJson<ProbeVerdict>(cacheFile).catch(() => undefined);
    if (cached?.key === key && (!cached.wrapped || launcher)) {
      return { ok: cached.ok, wrapped: cached.wrapped, reason: cached.reason };
    }
  }
  const verdict = await probeHybrid(crun, launcher);
  if (cacheFile) {
    await fs.mkdir(path.dirname(cacheFile), { recursive: true, mode: 0o755 }).catch(() => undefined);
    // Not being able to remember it only costs the next start another probe.
    await writeJsonAtomic(cacheFile, { key, ...verdict } satisfies ProbeVerdict).catch(() => undefined);
  }
  return verdict;
}

/**
 * crun unless preferred 'runc' or crun cannot work here (then runc, with a note
 * why). On a hybrid cgroup host crun may need a wrapper: that too comes with a note.
 */
export async function chooseRuntime(
  preferred: 'crun' | 'runc' | undefined,
  stateRoot: string,
  opts: { probeCache?: string | null } = {},
): Promise<{ runtime: OciRuntime; note?: string }> {
  const [crun, runc] = await Promise.all([findBinary('crun'), findBinary('runc')]);

  if (preferred === 'runc') {
    if (!runc) throw missing('the runc runtime', 'runc');
    return { runtime: new OciRuntime('runc', runc, stateRoot) };
  }

  let crunProblem: string | undefined;
  let launcher: RuntimeLauncher | undefined;
  if (!crun) {
    crunProblem = 'crun is not installed (`apt-get install -y crun`)';
  } else {
    const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    if ((await cgroupLayout(mountinfo)) === 'hybrid') {
      const unshare = await findBinary('unshare');
      const candidate = unshare
        ? privateCgroupV1Launcher(unshare, hybridCgroup2Mounts(mountinfo))
        : undefined;
      const cacheFile = opts.probeCache === null ? undefined : (opts.probeCache ?? DEFAULT_PROBE_CACHE);
      const probe = await probeHybridCached(crun, candidate, cacheFile);
      if (!probe.ok) {
        crunProblem = `${await version(crun)} cannot run containers on this host's hybrid cgroup v1+v2 layout (${probe.reason})`;
      } else if (probe.wrapped) {
        launcher = candidate;
      }
    }
  }

  if (!crunProblem) {
    const runtime = new OciRuntime('crun', crun as string, stateRoot, { launcher });
    if (!launcher) return { runtime };
    const note =
      `${await version(crun as string)} refuses this host's hybrid cgroup v1+v2 layout; it runs in a private ` +
      'mount namespace without the cgroup2 mount, with cgroup v1 limits';
    return { runtime, note };
  }
  if (preferred === 'crun') {
    if (!crun) throw missing('the crun runtime', 'crun');
    throw new EngineError('unavailable', `${crunProblem}: start the engine with --runtime runc`);
  }
  if (!runc) {
    throw new EngineError(
      'unavailable',
      `no usable OCI runtime: ${crunProblem}, and runc is not installed: install it with \`apt-get install -y runc\``,
    );
  }
  const note = `${crunProblem}; using runc instead`;
  return { runtime: new OciRuntime('runc', runc, stateRoot), note };
}
