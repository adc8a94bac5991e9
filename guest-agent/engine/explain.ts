// How one container is isolated, gathered from what the engine made for it:
// its namespaces beside the engine's own, its cgroup (limits as the kernel
// holds them, and current use), its overlay layers, mounts, network
// endpoints, published ports, and each variable with the source its client
// recorded (ENV_SOURCES_LABEL). Nothing here is guessed: a variable no label
// names is `image` only when the image's ENV holds the same KEY=value.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  ENV_SOURCES,
  ENV_SOURCES_LABEL,
  LEGACY_COMPOSE_ENV_SOURCES_LABEL,
  type ContainerExplanation,
  type EnvSource,
  type ExplainedCgroup,
  type ExplainedEnvVar,
  type ExplainedNamespace,
  type ExplainedPort,
  type NamespaceType,
} from '../../common/explain.js';
import type { ContainerRecord } from './container-store.js';
import type { EndpointSettings, PortMap } from '../network/network-types.js';
import { cgroupVersionAt, readCgroupStats, type CgroupVersion } from '../runtime/cgroup-stats.js';

export interface ExplainInput {
  record: ContainerRecord;
  /** The image's ENV (KEY=VALUE). */
  imageEnv: string[];
  /** Image layer dirs, lowest first. */
  layerDirs: string[];
  rootfs: { upperDir: string; workDir: string; merged: string };
  endpoints: Record<string, EndpointSettings>;
  interfaces: Record<string, { hostIf: string; bridge: string | null }>;
  ports: PortMap;
  /** Where the cgroup hierarchy is mounted (normally /sys/fs/cgroup). */
  cgroupRoot: string;
  /** The container's cgroup path under it. */
  cgroupPath: string;
}

const NAMESPACES: NamespaceType[] = ['pid', 'net', 'mnt', 'ipc', 'uts', 'user', 'cgroup'];

/** berth compose's first label used its own words for the sources. */
const LEGACY_COMPOSE: Record<string, EnvSource> = {
  environment: 'compose environment',
  env_file: 'compose env_file',
  'environment (interpolated)': 'compose .env interpolation',
  'env_file (interpolated)': 'compose .env interpolation',
  'run -e': 'compose run -e',
};

function labelSources(labels: Record<string, string>): Map<string, EnvSource> {
  const out = new Map<string, EnvSource>();
  const read = (label: string, map: (v: string) => EnvSource | undefined) => {
    const text = labels[label];
    if (!text) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return; // a label that is not JSON says nothing
    }
    if (!parsed || typeof parsed !== 'object') return;
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      const source = typeof v === 'string' ? map(v) : undefined;
      if (source) out.set(k, source);
    }
  };
  read(LEGACY_COMPOSE_ENV_SOURCES_LABEL, (v) => LEGACY_COMPOSE[v]);
  read(ENV_SOURCES_LABEL, (v) =>
    (ENV_SOURCES as readonly string[]).includes(v) ? (v as EnvSource) : undefined,
  );
  return out;
}

const split = (entry: string): [string, string | undefined] => {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, undefined] : [entry.slice(0, eq), entry.slice(eq + 1)];
};

/** Each variable of the container's Config.Env (a later entry wins, as in the process) with its source. */
export function explainEnv(
  containerEnv: readonly string[],
  imageEnv: readonly string[],
  labels: Record<string, string>,
): ExplainedEnvVar[] {
  const sources = labelSources(labels);
  const image = new Map(imageEnv.map(split));
  const values = new Map<string, string>();
  for (const entry of containerEnv) {
    const [k, v] = split(entry);
    values.delete(k);
    if (v !== undefined) values.set(k, v);
  }
  return [...values].map(([key, value]) => {
    const imageValue = image.get(key);
    const source = sources.get(key) ?? (imageValue === value ? 'image' : 'create request');
    const out: ExplainedEnvVar = { key, value, source };
    if (imageValue !== undefined && imageValue !== value) out.imageValue = imageValue;
    return out;
  });
}

async function inode(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).ino;
  } catch {
    return undefined;
  }
}

async function namespaces(pid: number): Promise<ExplainedNamespace[]> {
  if (pid <= 0) return [];
  const out: ExplainedNamespace[] = [];
  for (const type of NAMESPACES) {
    const [container, host] = await Promise.all([
      inode(`/proc/${pid}/ns/${type}`),
      inode(`/proc/self/ns/${type}`),
    ]);
    if (container === undefined || host === undefined) continue;
    out.push({ type, container, host, shared: container === host });
  }
  return out;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** A cgroup number, null for "no limit" (max, -1, or the kernel's page-rounded 2^63). */
function limitOf(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'max' || text === '-1') return null;
  const n = Number(text);
  if (!Number.isFinite(n)) return undefined;
  return n >= 2 ** 62 ? null : n;
}

interface CgroupFiles {
  memoryLimit?: number | null;
  cpuQuota?: number | null;
  cpuPeriod?: number;
  shares?: number | null;
  cpuset?: string;
  pidsLimit?: number | null;
}

async function cgroupFiles(root: string, cgroupPath: string, version: CgroupVersion): Promise<CgroupFiles> {
  if (version === 2) {
    const dir = path.join(root, cgroupPath);
    const [mem, cpuMax, weight, cpuset, pids] = await Promise.all(
      ['memory.max', 'cpu.max', 'cpu.weight', 'cpuset.cpus', 'pids.max'].map((f) =>
        readText(path.join(dir, f)),
      ),
    );
    const [quota, period] = (cpuMax ?? '').split(' ');
    return {
      memoryLimit: limitOf(mem),
      cpuQuota: cpuMax === undefined ? undefined : limitOf(quota),
      cpuPeriod: period ? Number(period) : undefined,
      shares: weight === undefined ? undefined : Number(weight),
      cpuset: cpuset || undefined,
      pidsLimit: limitOf(pids),
    };
  }
  const file = (controller: string, name: string) => readText(path.join(root, controller, cgroupPath, name));
  const [mem, quota, period, shares, cpuset, pids] = await Promise.all([
    file('memory', 'memory.limit_in_bytes'),
    file('cpu', 'cpu.cfs_quota_us'),
    file('cpu', 'cpu.cfs_period_us'),
    file('cpu', 'cpu.shares'),
    file('cpuset', 'cpuset.cpus'),
    file('pids', 'pids.max'),
  ]);
  return {
    memoryLimit: limitOf(mem),
    cpuQuota: limitOf(quota),
    cpuPeriod: period ? Number(period) : undefined,
    shares: shares === undefined ? undefined : Number(shares),
    cpuset: cpuset || undefined,
    pidsLimit: limitOf(pids),
  };
}

async function cgroup(input: ExplainInput): Promise<ExplainedCgroup> {
  const hc = input.record.HostConfig;
  const version = await cgroupVersionAt(input.cgroupRoot);
  const running = input.record.State.Running;
  const files = running ? await cgroupFiles(input.cgroupRoot, input.cgroupPath, version) : {};
  const stats = running ? await readCgroupStats(input.cgroupRoot, input.cgroupPath, version) : undefined;
  // Asked for in the container's config; what the kernel holds wins when the group exists.
  const askedCpus = hc.NanoCpus
    ? hc.NanoCpus / 1e9
    : hc.CpuQuota && hc.CpuQuota > 0
      ? hc.CpuQuota / (hc.CpuPeriod || 100_000)
      : null;
  const cpuLimit =
    files.cpuQuota === undefined
      ? askedCpus
      : files.cpuQuota === null
        ? null
        : files.cpuQuota / (files.cpuPeriod || 100_000);
  const memLimit = files.memoryLimit === undefined ? (hc.Memory ? hc.Memory : null) : files.memoryLimit;
  const pidsLimit =
    files.pidsLimit === undefined
      ? hc.PidsLimit && hc.PidsLimit > 0
        ? hc.PidsLimit
        : null
      : files.pidsLimit;
  return {
    path: input.cgroupPath,
    version,
    memory: {
      limit: memLimit,
      usage: stats?.memory.usage === undefined ? null : Number(stats.memory.usage),
    },
    cpu: {
      limit: cpuLimit,
      shares: files.shares === undefined ? (hc.CpuShares ? hc.CpuShares : null) : files.shares,
      cpuset: files.cpuset ?? (hc.CpusetCpus || null),
      usageNanos: stats ? Number(stats.cpu.usage.total_usage) : null,
    },
    pids: {
      limit: pidsLimit,
      current: stats?.pids.current === undefined ? null : Number(stats.pids.current),
    },
  };
}

function ports(map: PortMap): ExplainedPort[] {
  const out: ExplainedPort[] = [];
  for (const [key, bindings] of Object.entries(map)) {
    const [port, proto = 'tcp'] = key.split('/');
    for (const b of bindings ?? []) {
      out.push({
        containerPort: Number(port),
        protocol: proto as ExplainedPort['protocol'],
        hostIp: b.HostIp,
        hostPort: Number(b.HostPort),
      });
    }
  }
  return out.sort((a, b) => a.containerPort - b.containerPort || (a.hostIp < b.hostIp ? -1 : 1));
}

export async function explainContainer(input: ExplainInput): Promise<ContainerExplanation> {
  const r = input.record;
  const running = r.State.Running;
  return {
    id: r.Id,
    name: r.Name.replace(/^\//, ''),
    image: r.ImageRef,
    running,
    pid: running ? r.State.Pid : 0,
    namespaces: running ? await namespaces(r.State.Pid) : [],
    cgroup: await cgroup(input),
    rootfs: {
      driver: 'overlay',
      lowerDirs: [...input.layerDirs].reverse(),
      upperDir: input.rootfs.upperDir,
      workDir: input.rootfs.workDir,
      merged: input.rootfs.merged,
      readOnly: r.HostConfig.ReadonlyRootfs === true,
    },
    mounts: (r.ResolvedMounts ?? []).map((m) => ({
      type: m.Type,
      source: m.Type === 'volume' ? (m.Name ?? '') : m.Type === 'bind' ? m.Source : '',
      hostPath: m.Type === 'tmpfs' ? '' : m.Source,
      destination: m.Destination,
      readOnly: !m.RW,
    })),
    networkMode: r.HostConfig.NetworkMode ?? 'bridge',
    networks: Object.entries(input.endpoints).map(([name, e]) => ({
      name,
      bridge: input.interfaces[name]?.bridge ?? null,
      vethHost: input.interfaces[name]?.hostIf || null,
      ipAddress: e.IPAddress,
      prefixLen: e.IPPrefixLen,
      macAddress: e.MacAddress,
      gateway: e.Gateway,
      aliases: e.Aliases ?? [],
    })),
    ports: ports(input.ports),
    env: explainEnv(r.Config.Env ?? [], input.imageEnv, r.Config.Labels ?? {}),
  };
}
