// Builds the OCI runtime config.json of a container (and the process.json of an
// exec) the way dockerd's defaults shape them: namespaces, mounts, masked paths,
// device allow-list, capabilities, seccomp, rlimits and cgroup resources.
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { invalid } from '../errors.js';
import { effectiveCapabilities } from './capabilities.js';
import { defaultSeccompProfile } from './seccomp-profile.js';

// ---- OCI runtime spec types (the subset Berth writes; see oci-runtime-spec-config*.md) ----

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface OciMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface OciNamespace {
  type: OciNamespaceType;
  path?: string;
}

export interface OciDevice {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices?: OciDeviceCgroup[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
  };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op:
    | 'SCMP_CMP_NE'
    | 'SCMP_CMP_LT'
    | 'SCMP_CMP_LE'
    | 'SCMP_CMP_EQ'
    | 'SCMP_CMP_GE'
    | 'SCMP_CMP_GT'
    | 'SCMP_CMP_MASKED_EQ';
}

export interface OciSeccompSyscall {
  names: string[];
  action:
    | 'SCMP_ACT_ALLOW'
    | 'SCMP_ACT_ERRNO'
    | 'SCMP_ACT_KILL'
    | 'SCMP_ACT_TRAP'
    | 'SCMP_ACT_LOG'
    | 'SCMP_ACT_TRACE';
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: OciSeccompSyscall['action'];
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: OciSeccompSyscall[];
}

export interface OciLinux {
  namespaces: OciNamespace[];
  devices?: OciDevice[];
  cgroupsPath?: string;
  resources?: OciResources;
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

// ---- input from the engine ----

export interface ContainerSpecInput {
  id: string;
  /** The mounted overlay (merged dir). */
  rootfsPath: string;
  args: string[];
  /** Already merged by the engine ("K=V" list). */
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  hostname: string;
  domainname?: string;
  tty: boolean;
  readonlyRootfs: boolean;
  privileged: boolean;
  /** Names with or without CAP_ prefix, any case; 'ALL' allowed. */
  capAdd: string[];
  capDrop: string[];
  resources: {
    memory?: number;
    memorySwap?: number;
    nanoCpus?: number;
    cpuShares?: number;
    pidsLimit?: number;
    cpusetCpus?: string;
    cpuQuota?: number;
    cpuPeriod?: number;
    memoryReservation?: number;
  };
  /** netns made by the engine before start. */
  /** host; a namespace made by the engine (by path); or 'private': one the runtime makes, loopback only. */
  network: { mode: 'host' } | { mode: 'netns'; path: string } | { mode: 'private' };
  mounts: Array<{ destination: string; source: string; type: 'bind' | 'tmpfs'; options: string[] }>;
  /** e.g. '/berth/<id>' (cgroupfs driver). */
  cgroupsPath: string;
  noNewPrivileges?: boolean;
  /** Bytes; default 64 MiB as dockerd. */
  shmSize?: number;
  oomScoreAdj?: number;
  sysctls?: Record<string, string>;
}

export interface ExecProcessInput {
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges?: boolean;
}

const OCI_VERSION = '1.0.2';
const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
const CPU_PERIOD = 100_000;
/** What Docker hands a container when the engine's own limit allows it. */
const MAX_NOFILE = 1_048_576;

const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** mknod of anything, use of the basic character devices (the runtime creates their nodes). */
const DEFAULT_DEVICE_RULES: OciDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
];

let nofileCache: number | undefined;

/** The engine's own hard RLIMIT_NOFILE: a container never gets more (this cannot be raised past it here). */
export function engineNofileHardLimit(): number {
  if (nofileCache === undefined) {
    nofileCache = MAX_NOFILE;
    try {
      const line = readFileSync('/proc/self/limits', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('Max open files'));
      const hard = line?.trim().split(/\s+/)[4];
      if (hard && /^\d+$/.test(hard)) nofileCache = Math.min(MAX_NOFILE, Number(hard));
    } catch {
      // keep the default
    }
  }
  return nofileCache;
}

function rlimits(): OciRlimit[] {
  const nofile = engineNofileHardLimit();
  return [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }];
}

function capabilitySet(capAdd: string[], capDrop: string[], privileged: boolean): OciCapabilities {
  const caps = effectiveCapabilities(capAdd, capDrop, privileged);
  // Inheritable stays empty (Docker ≥ 23, CVE-2022-24769); no ambient caps.
  return { bounding: [...caps], effective: [...caps], permitted: [...caps] };
}

function checkProcess(args: string[], cwd: string): void {
  if (args.length === 0)
    throw invalid('no command specified: give a command or use an image with an entrypoint or cmd');
  if (!path.posix.isAbsolute(cwd))
    throw invalid(`the working directory "${cwd}" is invalid: it needs to be an absolute path`);
}

function buildProcess(input: ExecProcessInput & { oomScoreAdj?: number }): OciProcess {
  checkProcess(input.args, input.cwd);
  const additionalGids = [...new Set(input.user.additionalGids)];
  const proc: OciProcess = {
    terminal: input.tty,
    user: { uid: input.user.uid, gid: input.user.gid, ...(additionalGids.length ? { additionalGids } : {}) },
    args: [...input.args],
    env: [...input.env],
    cwd: input.cwd,
    capabilities: capabilitySet(input.capAdd, input.capDrop, input.privileged),
    rlimits: rlimits(),
  };
  if (input.noNewPrivileges) proc.noNewPrivileges = true;
  if (input.oomScoreAdj !== undefined) proc.oomScoreAdj = input.oomScoreAdj;
  return proc;
}

/** The process.json of `docker exec` (runc exec --process). */
export function buildExecProcess(input: ExecProcessInput): OciProcess {
  return buildProcess(input);
}

function defaultMounts(privileged: boolean, shmSize: number): OciMount[] {
  const ro = privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', ...ro],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.max(1, Math.floor(shmSize / 1024))}k`],
    },
  ];
}

function userMount(m: ContainerSpecInput['mounts'][number]): OciMount {
  if (!path.posix.isAbsolute(m.destination)) {
    throw invalid(`invalid mount destination "${m.destination}": it must be an absolute path`);
  }
  if (m.type === 'bind') {
    const options = [...m.options];
    if (!options.includes('bind') && !options.includes('rbind')) options.unshift('rbind');
    return { destination: m.destination, type: 'bind', source: m.source, options };
  }
  return { destination: m.destination, type: 'tmpfs', source: m.source || 'tmpfs', options: [...m.options] };
}

/** A user mount replaces the default mount at the same place (or above it, e.g. a volume on /dev). */
function mergeMounts(defaults: OciMount[], user: OciMount[]): OciMount[] {
  const covered = (dest: string) =>
    user.some((u) => {
      const d = path.posix.normalize(u.destination).replace(/\/+$/, '') || '/';
      return dest === d || dest.startsWith(d === '/' ? '/' : `${d}/`);
    });
  return [...defaults.filter((m) => !covered(m.destination)), ...user];
}

function supportsCgroupNamespace(): boolean {
  return existsSync('/proc/self/ns/cgroup');
}

let swapAccountingCache: boolean | undefined;

/** dockerd ignores swap limits when the kernel does not account swap (swapaccount=0). */
function swapAccounting(): boolean {
  if (swapAccountingCache === undefined) {
    swapAccountingCache =
      existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') ||
      existsSync('/sys/fs/cgroup/cgroup.controllers'); // cgroup v2: memory.swap.max per group
  }
  return swapAccountingCache;
}

/** The cgroup limits of a container's HostConfig, as the runtime takes them (create and update). */
export function ociResources(r: ContainerSpecInput['resources']): OciResources {
  const out: OciResources = {};
  if (r.memory !== undefined && r.memory > 0) {
    out.memory = { limit: r.memory };
    if (swapAccounting()) {
      // memorySwap is memory+swap as in dockerd: -1 unlimited, unset/0 → twice the memory.
      if (r.memorySwap === -1) out.memory.swap = -1;
      else if (r.memorySwap !== undefined && r.memorySwap > 0) {
        if (r.memorySwap < r.memory) {
          throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
        }
        out.memory.swap = r.memorySwap;
      } else out.memory.swap = 2 * r.memory;
    }
  } else if (r.memorySwap !== undefined && r.memorySwap > 0) {
    throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  if (r.memoryReservation !== undefined && r.memoryReservation > 0)
    out.memory = { ...out.memory, reservation: r.memoryReservation };
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.nanoCpus !== undefined && r.nanoCpus > 0) {
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.max(1000, Math.round((r.nanoCpus * CPU_PERIOD) / 1e9));
  }
  if (r.cpuQuota !== undefined && r.cpuQuota > 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpuShares !== undefined && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  return out;
}

/** Walks the host's /dev for a privileged container, as `docker run --privileged` does. */
function hostDevices(): OciDevice[] {
  const skipDirs = new Set(['/dev/pts', '/dev/shm', '/dev/fd', '/dev/mqueue', '/dev/.lxc', '/dev/.udev']);
  const out: OciDevice[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = path.join(dir, name);
      // console and ptmx are the container's own (its pty and devpts instance).
      if (skipDirs.has(p) || p === '/dev/console' || p === '/dev/ptmx') continue;
      // lstat: symlinks in /dev (stdin, fd, disk/by-*) are not devices of their own.
      let st;
      try {
        st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st || st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
      if (!type) continue;
      const rdev = st.rdev;
      const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
      const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      const key = `${type}${major}:${minor}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({
        type,
        path: p,
        major,
        minor,
        fileMode: Number(st.mode & 0o777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
      });
    }
  };
  walk('/dev');
  return out;
}

/** config.json for a container; write it into the bundle dir. */
export function buildOciSpec(input: ContainerSpecInput): OciSpec {
  if (!path.posix.isAbsolute(input.rootfsPath))
    throw invalid(`rootfs path "${input.rootfsPath}" must be absolute`);
  if (!input.cgroupsPath.startsWith('/'))
    throw invalid(`cgroups path "${input.cgroupsPath}" must be absolute`);

  const process = buildProcess({ ...input, oomScoreAdj: input.oomScoreAdj });

  const namespaces: OciNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (supportsCgroupNamespace()) namespaces.push({ type: 'cgroup' });
  if (input.network.mode === 'netns') namespaces.push({ type: 'network', path: input.network.path });
  // runc brings loopback up in a network namespace it makes itself.
  else if (input.network.mode === 'private') namespaces.push({ type: 'network' });

  const mounts = mergeMounts(
    defaultMounts(input.privileged, input.shmSize && input.shmSize > 0 ? input.shmSize : DEFAULT_SHM_SIZE),
    input.mounts.map(userMount),
  );

  const res = ociResources(input.resources);
  const linux: OciLinux = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: {
      ...res,
      devices: input.privileged
        ? [{ allow: true, access: 'rwm' }]
        : DEFAULT_DEVICE_RULES.map((d) => ({ ...d })),
    },
  };
  if (input.privileged) {
    linux.devices = hostDevices();
  } else {
    linux.maskedPaths = [...MASKED_PATHS];
    linux.readonlyPaths = [...READONLY_PATHS];
    linux.seccomp = defaultSeccompProfile(process.capabilities?.bounding ?? []);
  }
  if (input.sysctls && Object.keys(input.sysctls).length) linux.sysctl = { ...input.sysctls };

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfsPath, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts,
    linux,
  };
  if (input.domainname) spec.domainname = input.domainname;
  return spec;
}
