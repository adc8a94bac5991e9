// `docker stats`: per-container samples as dockerd's stats collector makes
// them (moby daemon/stats.go, daemon/stats/collector*.go): the cgroup's
// counters, the host's CPU time and online CPUs read next to them, the
// container's interfaces from its network namespace, and the previous
// sample's CPU as precpu_stats. A sample a second; `stream=false` waits for
// the second one so the CPU percentage has a base, unless `one-shot`.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../errors.js';
import { formatRfc3339Nano, nowNs } from '../logs/timestamp.js';
import {
  readCgroupStats,
  type BlkioStats,
  type CgroupStats,
  type CgroupVersion,
  type CpuUsage,
  type ThrottlingData,
} from '../runtime/cgroup-stats.js';
import { cgroupVersionAt } from '../runtime/cgroup-stats.js';
import type { ContainerRecord } from './container-store.js';

export const STATS_INTERVAL_MS = 1000;
const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface CpuStats {
  cpu_usage: CpuUsage;
  system_cpu_usage?: bigint;
  online_cpus?: number;
  throttling_data: ThrottlingData;
}

export interface NetworkStats {
  rx_bytes: bigint;
  rx_packets: bigint;
  rx_errors: bigint;
  rx_dropped: bigint;
  tx_bytes: bigint;
  tx_packets: bigint;
  tx_errors: bigint;
  tx_dropped: bigint;
}

/** The body of GET /containers/{id}/stats, fields in dockerd's order. */
export interface StatsResponse {
  read: string;
  preread: string;
  pids_stats: { current?: bigint; limit?: bigint };
  blkio_stats: BlkioStats;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: {
    usage?: bigint;
    max_usage?: bigint;
    stats?: Record<string, bigint>;
    failcnt?: bigint;
    limit?: bigint;
  };
  name?: string;
  id?: string;
  networks?: Record<string, NetworkStats>;
}

export interface StatsSource {
  /** The container's record as it is now; throws not-found once it is removed. */
  get(ref: string): ContainerRecord;
}

export interface StatsOptions {
  stream: boolean;
  oneShot: boolean;
  signal?: AbortSignal;
}

export class StatsSampler {
  private version?: Promise<CgroupVersion>;

  constructor(
    private readonly containers: StatsSource,
    private readonly opts: {
      cgroupRoot?: string;
      /** The cgroup of a container under each controller (the runtime is given `/berth/<id>`). */
      cgroupPathOf?: (id: string) => string;
      procRoot?: string;
      machineMemory?: bigint;
      intervalMs?: number;
    } = {},
  ) {}

  /**
   * The samples the API sends for one request. A container that is not
   * running gives dockerd's empty sample (only name and id set): once without
   * `stream`, every interval with it. Ends when the container is removed.
   */
  async *samples(ref: string, opts: StatsOptions): AsyncGenerator<StatsResponse> {
    const first = this.containers.get(ref);
    const interval = this.opts.intervalMs ?? STATS_INTERVAL_MS;
    if (!opts.stream && !isRunning(first)) {
      yield emptySample(first);
      return;
    }
    if (!opts.stream && opts.oneShot) {
      yield (await this.sample(first)) ?? emptySample(first);
      return;
    }
    let previous: StatsResponse | undefined;
    let primed = opts.stream; // without stream, the first sample only primes precpu_stats
    // A fixed cadence: the time a sample takes (slow under load) does not push every later one back;
    // having fallen behind, it goes on from now rather than in a burst.
    let due = performance.now();
    for (let tick = 0; !opts.signal?.aborted; tick++) {
      if (tick > 0) {
        const now = performance.now();
        due = Math.max(due + interval, now);
        try {
          await sleep(due - now, undefined, { signal: opts.signal });
        } catch {
          return; // aborted
        }
      }
      let record: ContainerRecord;
      try {
        record = this.containers.get(first.Id);
      } catch (err) {
        if (err instanceof EngineError && err.kind === 'not-found') return;
        throw err;
      }
      const current = (isRunning(record) ? await this.sample(record) : undefined) ?? emptySample(record);
      current.precpu_stats = previous?.cpu_stats ?? emptyCpu();
      current.preread = previous?.read ?? ZERO_TIME;
      previous = current;
      if (!primed) {
        primed = true;
        continue;
      }
      yield current;
      if (!opts.stream) return;
    }
  }

  /** One reading of a running container, or undefined if its cgroup is already gone. */
  async sample(record: ContainerRecord): Promise<StatsResponse | undefined> {
    const root = this.opts.cgroupRoot ?? '/sys/fs/cgroup';
    this.version ??= cgroupVersionAt(root);
    const cgroupPath = (this.opts.cgroupPathOf ?? defaultCgroupPath)(record.Id);
    const [cg, system, networks] = await Promise.all([
      readCgroupStats(root, cgroupPath, await this.version),
      this.systemCpuUsage(),
      this.networkStats(record),
    ]);
    if (!cg) return undefined;
    const read = formatRfc3339Nano(nowNs());
    return {
      read,
      preread: ZERO_TIME,
      pids_stats: cg.pids,
      blkio_stats: cg.blkio,
      num_procs: 0,
      storage_stats: {},
      cpu_stats: {
        cpu_usage: cg.cpu.usage,
        system_cpu_usage: system,
        online_cpus: os.cpus().length || undefined,
        throttling_data: cg.cpu.throttling,
      },
      precpu_stats: emptyCpu(),
      memory_stats: this.memory(cg),
      name: record.Name,
      id: record.Id,
      networks,
    };
  }

  private memory(cg: CgroupStats): StatsResponse['memory_stats'] {
    const machine = this.opts.machineMemory ?? BigInt(os.totalmem());
    const { usage, max_usage, stats, failcnt, limit } = cg.memory;
    // No limit of its own: the machine's memory is the limit, as dockerd reports it.
    return { usage, max_usage, stats, failcnt, limit: limit > machine && machine > 0n ? machine : limit };
  }

  /** The host's CPU time in ns: the first seven fields of /proc/stat's "cpu" line, as dockerd sums them. */
  private async systemCpuUsage(): Promise<bigint | undefined> {
    const text = await fs.readFile(`${this.opts.procRoot ?? '/proc'}/stat`, 'utf8').catch(() => '');
    const line = text.split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return undefined;
    const ticks = line
      .trim()
      .split(/\s+/)
      .slice(1, 8)
      .reduce((sum, v) => sum + BigInt(/^\d+$/.test(v) ? v : '0'), 0n);
    return (ticks * 1_000_000_000n) / 100n;
  }

  /** The container's own interfaces (its namespace's /proc/<pid>/net/dev, loopback left out). */
  private async networkStats(record: ContainerRecord): Promise<Record<string, NetworkStats> | undefined> {
    const mode = record.HostConfig.NetworkMode ?? 'bridge';
    if (mode === 'host' || record.State.Pid <= 0) return undefined;
    const text = await fs
      .readFile(`${this.opts.procRoot ?? '/proc'}/${record.State.Pid}/net/dev`, 'utf8')
      .catch(() => '');
    const out = parseNetDev(text);
    return Object.keys(out).length ? out : undefined;
  }
}

/** /proc/net/dev: two header lines, then "iface: rx(8 fields) tx(8 fields)". */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (!name || name === 'lo' || f.length < 16 || !f.every((v) => /^\d+$/.test(v))) continue;
    const n = f.map((v) => BigInt(v));
    out[name] = {
      rx_bytes: n[0],
      rx_packets: n[1],
      rx_errors: n[2],
      rx_dropped: n[3],
      tx_bytes: n[8],
      tx_packets: n[9],
      tx_errors: n[10],
      tx_dropped: n[11],
    };
  }
  return out;
}

function isRunning(record: ContainerRecord): boolean {
  return record.State.Running && !record.State.Restarting;
}

function defaultCgroupPath(id: string): string {
  return `/berth/${id}`;
}

function emptyCpu(): CpuStats {
  return {
    cpu_usage: { total_usage: 0n, usage_in_kernelmode: 0n, usage_in_usermode: 0n },
    throttling_data: { periods: 0n, throttled_periods: 0n, throttled_time: 0n },
  };
}

/** What dockerd sends for a container that is not running: zero values, only name and id. */
export function emptySample(record: ContainerRecord): StatsResponse {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpu(),
    precpu_stats: emptyCpu(),
    memory_stats: {},
    name: record.Name,
    id: record.Id,
  };
}

/**
 * JSON as Go's encoder writes the response: uint64 counters as exact
 * integers, omitempty fields (zero counters, absent lists) left out.
 */
export function encodeStats(s: StatsResponse): string {
  const omitZero = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== 0n && v !== 0));
  const shaped = {
    ...s,
    pids_stats: omitZero(s.pids_stats),
    cpu_stats: cpuJson(s.cpu_stats),
    precpu_stats: cpuJson(s.precpu_stats),
    memory_stats: omitZero(s.memory_stats),
  };
  return JSON.stringify(shaped, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v}` : v)).replace(
    /"\\u0000(\d+)"/g,
    '$1',
  );
}

function cpuJson(c: CpuStats): Record<string, unknown> {
  const usage: Record<string, unknown> = { total_usage: c.cpu_usage.total_usage };
  if (c.cpu_usage.percpu_usage?.length) usage.percpu_usage = c.cpu_usage.percpu_usage;
  usage.usage_in_kernelmode = c.cpu_usage.usage_in_kernelmode;
  usage.usage_in_usermode = c.cpu_usage.usage_in_usermode;
  const out: Record<string, unknown> = { cpu_usage: usage };
  if (c.system_cpu_usage) out.system_cpu_usage = c.system_cpu_usage;
  if (c.online_cpus) out.online_cpus = c.online_cpus;
  out.throttling_data = c.throttling_data;
  return out;
}
