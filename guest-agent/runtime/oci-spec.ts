// Builds the OCI runtime config.json of a container (and the process.json of an
// exec) the way dockerd's defaults shape them: namespaces, mounts, masked paths,
// device allow-list, capabilities, seccomp, rlimits and cgroup resources.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { invalid } from '../errors.js';
import { ULIMIT_NAMES } from '../../common/engine-api.js';
import { effectiveCapabilities } from './capabilities.js';
import { devicesFromMapping, hostDevices, type DeviceMapping } from './devices.js';
import { seccompFromProfile, type DockerSeccompProfile } from './seccomp-custom.js';
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
  /** RLIM_INFINITY (-1, as the API writes unlimited) becomes 2^64-1 in ociJson. */
  hard: number;
  soft: number;
}

/** A `--ulimit` as HostConfig.Ulimits holds it. */
export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
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
    cpusetMems?: string;
    memorySwappiness?: number;
    oomKillDisable?: boolean;
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
  /** HostConfig.Devices (`--device`). */
  devices?: DeviceMapping[];
  /** HostConfig.Ulimits (`--ulimit`); they replace the engine's defaults of the same name. */
  ulimits?: Ulimit[];
  /** `--pid`: the host's namespace, or another container's (by path); absent: one of its own. */
  pid?: { mode: 'host' } | { mode: 'join'; path: string };
  /**
   * `--ipc`: the host's namespace and /dev/shm; another container's namespace and
   * its /dev/shm; a namespace of its own with a /dev/shm others can bind
   * (shareable); or one without any /dev/shm. Absent: its own of both.
   */
  ipc?:
    | { mode: 'host' }
    | { mode: 'join'; path: string; shm: string }
    | { mode: 'shareable'; shm: string }
    | { mode: 'none' };
  /** `--uts host`: the host's hostname; no hostname is set. */
  utsHost?: boolean;
  /** `--cgroupns host`: no cgroup namespace of its own. */
  cgroupnsHost?: boolean;
  /** `--init`: the static init binary on this machine, run as PID 1 from /sbin/docker-init. */
  initPath?: string;
  /** `--security-opt seccomp=…`: unconfined, or a profile in Docker's format; absent: the default one. */
  seccomp?: 'unconfined' | DockerSeccompProfile;
  /** HostConfig.MaskedPaths / ReadonlyPaths when given (`--security-opt systempaths=unconfined` sends []). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** `--security-opt writable-cgroups=true`. */
  writableCgroups?: boolean;
  /** `--device-cgroup-rule`, already parsed. */
  deviceCgroupRules?: OciDeviceCgroup[];
  /** HostConfig.Annotations: passed to the runtime. */
  annotations?: Record<string, string>;
}

/** Where `--init`'s binary appears inside the container, as with dockerd. */
export const CONTAINER_INIT_PATH = '/sbin/docker-init';

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
  /** The container's ulimits: an exec runs under the same limits as its container. */
  ulimits?: Ulimit[];
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

/** Refuses what setrlimit would: an unknown name, a soft limit above the hard one. */
export function validateUlimits(ulimits: Ulimit[]): void {
  const seen = new Set<string>();
  for (const u of ulimits) {
    if (!u || typeof u.Name !== 'string' || !ULIMIT_NAMES.includes(u.Name))
      throw invalid(`invalid ulimit type: ${String(u?.Name)}`);
    if (seen.has(u.Name)) throw invalid(`ulimit ${u.Name} is given more than once`);
    seen.add(u.Name);
    for (const v of [u.Soft, u.Hard])
      if (!Number.isSafeInteger(v) || v < -1) throw invalid(`invalid ulimit value for ${u.Name}: ${v}`);
    // -1 is unlimited, above everything.
    if (u.Hard !== -1 && (u.Soft === -1 || u.Soft > u.Hard))
      throw invalid(
        `ulimit soft limit must be less than or equal to hard limit: ${u.Name}=${u.Soft}:${u.Hard}`,
      );
  }
}

function rlimits(ulimits: Ulimit[] = []): OciRlimit[] {
  validateUlimits(ulimits);
  const nofile = engineNofileHardLimit();
  const out: OciRlimit[] = [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }];
  for (const u of ulimits) {
    const type = `RLIMIT_${u.Name.toUpperCase()}`;
    const limit = { type, hard: u.Hard, soft: u.Soft };
    const i = out.findIndex((r) => r.type === type);
    if (i >= 0) out[i] = limit;
    else out.push(limit);
  }
  return out;
}

// A string no spec field can hold (NULs), so that only the marked limits are replaced.
const RLIM_INFINITY_MARK = '\u0000rlim-infinity\u0000';

/** The spec as runc reads it: -1 rlimits as RLIM_INFINITY, a uint64 JSON numbers cannot hold. */
export function ociJson(spec: OciSpec | OciProcess): string {
  return JSON.stringify(spec, function (this: unknown, key, value: unknown) {
    if ((key === 'hard' || key === 'soft') && value === -1 && this && 'type' in (this as object))
      return RLIM_INFINITY_MARK;
    return value;
  }).replaceAll(JSON.stringify(RLIM_INFINITY_MARK), '18446744073709551615');
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
    rlimits: rlimits(input.ulimits),
  };
  if (input.noNewPrivileges) proc.noNewPrivileges = true;
  if (input.oomScoreAdj !== undefined) proc.oomScoreAdj = input.oomScoreAdj;
  return proc;
}

/** The process.json of `docker exec` (runc exec --process). */
export function buildExecProcess(input: ExecProcessInput): OciProcess {
  return buildProcess(input);
}

function defaultMounts(
  privileged: boolean,
  shmSize: number,
  opts: { writableCgroups?: boolean; ipc?: ContainerSpecInput['ipc'] },
): OciMount[] {
  const ro = privileged ? [] : ['ro'];
  const cgroupRo = privileged || opts.writableCgroups ? [] : ['ro'];
  const ipc = opts.ipc;
  const shm: OciMount[] =
    ipc?.mode === 'none'
      ? []
      : ipc?.mode === 'host' || ipc?.mode === 'join' || ipc?.mode === 'shareable'
        ? [
            {
              destination: '/dev/shm',
              type: 'bind',
              source: ipc.mode === 'host' ? '/dev/shm' : ipc.shm,
              options: ['rbind', 'nosuid', 'noexec', 'nodev'],
            },
          ]
        : [
            {
              destination: '/dev/shm',
              type: 'tmpfs',
              source: 'shm',
              options: [
                'nosuid',
                'noexec',
                'nodev',
                'mode=1777',
                `size=${Math.max(1, Math.floor(shmSize / 1024))}k`,
              ],
            },
          ];
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
      options: ['nosuid', 'noexec', 'nodev', 'relatime', ...cgroupRo],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...shm,
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
  if (r.memorySwappiness !== undefined) out.memory = { ...out.memory, swappiness: r.memorySwappiness };
  if (r.oomKillDisable) out.memory = { ...out.memory, disableOOMKiller: true };
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.nanoCpus !== undefined && r.nanoCpus > 0) {
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.max(1000, Math.round((r.nanoCpus * CPU_PERIOD) / 1e9));
  }
  if (r.cpuQuota !== undefined && r.cpuQuota > 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpuShares !== undefined && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  return out;
}

/** config.json for a container; write it into the bundle dir. */
export function buildOciSpec(input: ContainerSpecInput): OciSpec {
  if (!path.posix.isAbsolute(input.rootfsPath))
    throw invalid(`rootfs path "${input.rootfsPath}" must be absolute`);
  if (!input.cgroupsPath.startsWith('/'))
    throw invalid(`cgroups path "${input.cgroupsPath}" must be absolute`);

  const process = buildProcess({
    ...input,
    args: input.initPath ? [CONTAINER_INIT_PATH, '--', ...input.args] : input.args,
    oomScoreAdj: input.oomScoreAdj,
  });

  const namespaces: OciNamespace[] = [{ type: 'mount' }];
  if (input.pid?.mode === 'join') namespaces.push({ type: 'pid', path: input.pid.path });
  else if (input.pid?.mode !== 'host') namespaces.push({ type: 'pid' });
  if (input.ipc?.mode === 'join') namespaces.push({ type: 'ipc', path: input.ipc.path });
  else if (input.ipc?.mode !== 'host') namespaces.push({ type: 'ipc' });
  if (!input.utsHost) namespaces.push({ type: 'uts' });
  if (supportsCgroupNamespace() && !input.cgroupnsHost) namespaces.push({ type: 'cgroup' });
  if (input.network.mode === 'netns') namespaces.push({ type: 'network', path: input.network.path });
  // runc brings loopback up in a network namespace it makes itself.
  else if (input.network.mode === 'private') namespaces.push({ type: 'network' });

  const initMount: ContainerSpecInput['mounts'] = input.initPath
    ? [{ destination: CONTAINER_INIT_PATH, source: input.initPath, type: 'bind', options: ['bind', 'ro'] }]
    : [];
  const mounts = mergeMounts(
    defaultMounts(input.privileged, input.shmSize && input.shmSize > 0 ? input.shmSize : DEFAULT_SHM_SIZE, {
      writableCgroups: input.writableCgroups,
      ipc: input.ipc,
    }),
    [...input.mounts, ...initMount].map(userMount),
  );

  const res = ociResources(input.resources);
  // As dockerd: a privileged container has every host device already, so a mapping
  // adds only a new path for one; otherwise each mapping adds its nodes and rules.
  const mapped = (input.devices ?? [])
    .filter((d) => !input.privileged || d.PathOnHost !== (d.PathInContainer || d.PathOnHost))
    .map((d) => devicesFromMapping(input.privileged ? { ...d, CgroupPermissions: 'rwm' } : d));
  const linux: OciLinux = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: {
      ...res,
      devices: input.privileged
        ? [{ allow: true, access: 'rwm' }]
        : [
            ...DEFAULT_DEVICE_RULES.map((d) => ({ ...d })),
            ...mapped.flatMap((m) => m.rules),
            ...(input.deviceCgroupRules ?? []),
          ],
    },
  };
  const mappedNodes = mapped.flatMap((m) => m.devices);
  if (input.privileged) {
    linux.devices = [...hostDevices(), ...mappedNodes];
  } else {
    if (mappedNodes.length) linux.devices = mappedNodes;
    linux.maskedPaths = [...(input.maskedPaths ?? MASKED_PATHS)];
    linux.readonlyPaths = [...(input.readonlyPaths ?? READONLY_PATHS)];
    const bounding = process.capabilities?.bounding ?? [];
    if (input.seccomp !== 'unconfined')
      linux.seccomp = input.seccomp
        ? seccompFromProfile(input.seccomp, bounding)
        : defaultSeccompProfile(bounding);
  }
  if (input.sysctls && Object.keys(input.sysctls).length) linux.sysctl = { ...input.sysctls };

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfsPath, readonly: input.readonlyRootfs },
    // runc refuses a hostname without a UTS namespace of the container's own.
    ...(input.utsHost ? {} : { hostname: input.hostname }),
    mounts,
    linux,
  };
  if (input.domainname && !input.utsHost) spec.domainname = input.domainname;
  if (input.annotations && Object.keys(input.annotations).length) spec.annotations = { ...input.annotations };
  return spec;
}
