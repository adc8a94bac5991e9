// A container's resource counters read from its cgroup, cgroup v1 (one
// hierarchy per controller) or v2 (one unified tree), shaped as dockerd's
// stats API reports them (moby daemon/stats_unix.go statsV1/statsV2 over
// containerd's cgroups readers). Counters are uint64 in the kernel and in
// dockerd, so they are bigints here: limits such as 9223372036854771712 and
// a long-lived host's CPU time do not fit a double.
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface BlkioEntry {
  major: bigint;
  minor: bigint;
  op: string;
  value: bigint;
}

/** dockerd's blkio_stats; `null` lists are the ones the cgroup version cannot fill. */
export interface BlkioStats {
  io_service_bytes_recursive: BlkioEntry[] | null;
  io_serviced_recursive: BlkioEntry[] | null;
  io_queue_recursive: BlkioEntry[] | null;
  io_service_time_recursive: BlkioEntry[] | null;
  io_wait_time_recursive: BlkioEntry[] | null;
  io_merged_recursive: BlkioEntry[] | null;
  io_time_recursive: BlkioEntry[] | null;
  sectors_recursive: BlkioEntry[] | null;
}

export interface CpuUsage {
  total_usage: bigint;
  percpu_usage?: bigint[];
  usage_in_kernelmode: bigint;
  usage_in_usermode: bigint;
}

export interface ThrottlingData {
  periods: bigint;
  throttled_periods: bigint;
  throttled_time: bigint;
}

export interface CgroupMemory {
  usage?: bigint;
  max_usage?: bigint;
  stats: Record<string, bigint>;
  failcnt?: bigint;
  /** The cgroup's own limit; unlimited reads as a huge number (the caller caps it at the machine's memory). */
  limit: bigint;
}

export interface CgroupStats {
  cpu: { usage: CpuUsage; throttling: ThrottlingData };
  memory: CgroupMemory;
  blkio: BlkioStats;
  pids: { current?: bigint; limit?: bigint };
}

export type CgroupVersion = 1 | 2;

const MAX_UINT64 = 2n ** 64n - 1n;
/** USER_HZ: the unit of cpuacct.stat. */
const CLOCK_TICKS_PER_SECOND = 100n;
const NS_PER_TICK = 1_000_000_000n / CLOCK_TICKS_PER_SECOND;

/** The memory.stat keys dockerd reports on cgroup v1, in containerd's naming. */
const V1_MEMORY_KEYS = [
  'cache',
  'rss',
  'rss_huge',
  'mapped_file',
  'dirty',
  'writeback',
  'pgpgin',
  'pgpgout',
  'pgfault',
  'pgmajfault',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'hierarchical_memory_limit',
  'hierarchical_memsw_limit',
  'total_cache',
  'total_rss',
  'total_rss_huge',
  'total_mapped_file',
  'total_dirty',
  'total_writeback',
  'total_pgpgin',
  'total_pgpgout',
  'total_pgfault',
  'total_pgmajfault',
  'total_inactive_anon',
  'total_active_anon',
  'total_inactive_file',
  'total_active_file',
  'total_unevictable',
];

/** The memory.stat keys dockerd reports on cgroup v2 ("not compatible with v1", as moby says). */
const V2_MEMORY_KEYS = [
  'anon',
  'file',
  'kernel_stack',
  'slab',
  'sock',
  'shmem',
  'file_mapped',
  'file_dirty',
  'file_writeback',
  'anon_thp',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'slab_reclaimable',
  'slab_unreclaimable',
  'pgfault',
  'pgmajfault',
  'workingset_refault',
  'workingset_activate',
  'workingset_nodereclaim',
  'pgrefill',
  'pgscan',
  'pgsteal',
  'pgactivate',
  'pgdeactivate',
  'pglazyfree',
  'pglazyfreed',
  'thp_fault_alloc',
  'thp_collapse_alloc',
];

/** v2 when the root is the unified hierarchy itself; v1 (or hybrid, whose v2 mount has no controllers) otherwise. */
export async function cgroupVersionAt(root: string): Promise<CgroupVersion> {
  return (await exists(path.join(root, 'cgroup.controllers'))) ? 2 : 1;
}

/**
 * The stats of the cgroup at `cgroupPath` (e.g. "/berth/<id>") under the
 * cgroup mount `root` (normally /sys/fs/cgroup), or undefined when the group
 * is gone (the container stopped meanwhile).
 */
export async function readCgroupStats(
  root: string,
  cgroupPath: string,
  version?: CgroupVersion,
): Promise<CgroupStats | undefined> {
  const v = version ?? (await cgroupVersionAt(root));
  try {
    return v === 2 ? await readV2(path.join(root, cgroupPath)) : await readV1(root, cgroupPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// ---- cgroup v1 ---------------------------------------------------------------

async function readV1(root: string, cgroupPath: string): Promise<CgroupStats> {
  const dir = (controller: string) => path.join(root, controller, cgroupPath);
  const cpuacct = dir('cpuacct');
  // The memory controller must be there; the others are read when present.
  const usage = await readUint(path.join(dir('memory'), 'memory.usage_in_bytes'));
  const [total, percpu, cpuacctStat, cpuStat, memStat, maxUsage, failcnt, limit, blkio, pids] =
    await Promise.all([
      readUint(path.join(cpuacct, 'cpuacct.usage')).catch(() => 0n),
      readOptional(path.join(cpuacct, 'cpuacct.usage_percpu')),
      readOptional(path.join(cpuacct, 'cpuacct.stat')),
      readOptional(path.join(dir('cpu'), 'cpu.stat')),
      readOptional(path.join(dir('memory'), 'memory.stat')),
      readUint(path.join(dir('memory'), 'memory.max_usage_in_bytes')).catch(() => 0n),
      readUint(path.join(dir('memory'), 'memory.failcnt')).catch(() => 0n),
      readUint(path.join(dir('memory'), 'memory.limit_in_bytes')).catch(() => MAX_UINT64),
      readBlkioV1(dir('blkio')),
      readPids(dir('pids')),
    ]);
  const acct = parseFlatKeyed(cpuacctStat ?? '');
  const throttle = parseFlatKeyed(cpuStat ?? '');
  const mem = parseFlatKeyed(memStat ?? '');
  const percpuList = (percpu ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((n) => BigInt(n));
  return {
    cpu: {
      usage: {
        total_usage: total,
        percpu_usage: percpuList.length ? percpuList : undefined,
        usage_in_kernelmode: (acct.get('system') ?? 0n) * NS_PER_TICK,
        usage_in_usermode: (acct.get('user') ?? 0n) * NS_PER_TICK,
      },
      throttling: {
        periods: throttle.get('nr_periods') ?? 0n,
        throttled_periods: throttle.get('nr_throttled') ?? 0n,
        throttled_time: throttle.get('throttled_time') ?? 0n,
      },
    },
    memory: {
      usage,
      max_usage: maxUsage,
      stats: pick(mem, V1_MEMORY_KEYS),
      failcnt,
      limit,
    },
    blkio,
    pids,
  };
}

/**
 * containerd reads the CFQ files first and falls back to the throttle files
 * when those are missing or empty (a device without the CFQ scheduler).
 */
async function readBlkioV1(dir: string): Promise<BlkioStats> {
  const out: BlkioStats = {
    io_service_bytes_recursive: [],
    io_serviced_recursive: [],
    io_queue_recursive: [],
    io_service_time_recursive: [],
    io_wait_time_recursive: [],
    io_merged_recursive: [],
    io_time_recursive: [],
    sectors_recursive: [],
  };
  if (await exists(path.join(dir, 'blkio.io_serviced_recursive'))) {
    const cfq: Array<[keyof BlkioStats, string]> = [
      ['sectors_recursive', 'sectors_recursive'],
      ['io_service_bytes_recursive', 'io_service_bytes_recursive'],
      ['io_serviced_recursive', 'io_serviced_recursive'],
      ['io_queue_recursive', 'io_queued_recursive'],
      ['io_service_time_recursive', 'io_service_time_recursive'],
      ['io_wait_time_recursive', 'io_wait_time_recursive'],
      ['io_merged_recursive', 'io_merged_recursive'],
      ['io_time_recursive', 'time_recursive'],
    ];
    let size = 0;
    for (const [key, file] of cfq) {
      out[key] = parseBlkioV1((await readOptional(path.join(dir, `blkio.${file}`))) ?? '');
      size += out[key]!.length;
    }
    if (size > 0) return out;
  }
  out.io_serviced_recursive = parseBlkioV1(
    (await readOptional(path.join(dir, 'blkio.throttle.io_serviced_recursive'))) ?? '',
  );
  out.io_service_bytes_recursive = parseBlkioV1(
    (await readOptional(path.join(dir, 'blkio.throttle.io_service_bytes_recursive'))) ?? '',
  );
  return out;
}

/** "8:0 Read 4096" (or "8:0 4096" for the op-less files); the grand "Total N" line is skipped. */
export function parseBlkioV1(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(/[\s:]+/).filter(Boolean);
    if (fields.length < 3) continue;
    const [major, minor] = [fields[0], fields[1]];
    if (!/^\d+$/.test(major) || !/^\d+$/.test(minor)) continue;
    const op = fields.length >= 4 ? fields[2] : '';
    const value = fields.length >= 4 ? fields[3] : fields[2];
    if (!/^\d+$/.test(value)) continue;
    out.push({ major: BigInt(major), minor: BigInt(minor), op, value: BigInt(value) });
  }
  return out;
}

// ---- cgroup v2 ---------------------------------------------------------------

async function readV2(dir: string): Promise<CgroupStats> {
  const current = await readUint(path.join(dir, 'memory.current'));
  const [cpuStat, memStat, memMax, memEvents, ioStat, pids] = await Promise.all([
    readOptional(path.join(dir, 'cpu.stat')),
    readOptional(path.join(dir, 'memory.stat')),
    readOptional(path.join(dir, 'memory.max')),
    readOptional(path.join(dir, 'memory.events')),
    readOptional(path.join(dir, 'io.stat')),
    readPids(dir),
  ]);
  const cpu = parseFlatKeyed(cpuStat ?? '');
  const mem = parseFlatKeyed(memStat ?? '');
  const events = parseFlatKeyed(memEvents ?? '');
  const usec = (key: string) => (cpu.get(key) ?? 0n) * 1000n;
  return {
    cpu: {
      usage: {
        total_usage: usec('usage_usec'),
        usage_in_kernelmode: usec('system_usec'),
        usage_in_usermode: usec('user_usec'),
      },
      throttling: {
        periods: cpu.get('nr_periods') ?? 0n,
        throttled_periods: cpu.get('nr_throttled') ?? 0n,
        throttled_time: usec('throttled_usec'),
      },
    },
    memory: {
      usage: current,
      stats: pick(mem, V2_MEMORY_KEYS),
      // memory.events "oom" stands in for v1's failcnt, as dockerd does.
      failcnt: memEvents === undefined ? undefined : (events.get('oom') ?? 0n),
      limit: parseMax(memMax, MAX_UINT64),
    },
    blkio: {
      io_service_bytes_recursive: parseIoStatV2(ioStat ?? ''),
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    pids,
  };
}

/** io.stat "8:0 rbytes=1 wbytes=2 rios=…" → a read and a write entry per device; null without devices, as dockerd. */
export function parseIoStatV2(text: string): BlkioEntry[] | null {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = new Map(pairs.map((p) => p.split('=') as [string, string]));
    const num = (k: string) => (/^\d+$/.test(kv.get(k) ?? '') ? BigInt(kv.get(k)!) : 0n);
    const major = BigInt(m[1]);
    const minor = BigInt(m[2]);
    out.push({ major, minor, op: 'read', value: num('rbytes') });
    out.push({ major, minor, op: 'write', value: num('wbytes') });
  }
  return out.length ? out : null;
}

// ---- shared ------------------------------------------------------------------

async function readPids(dir: string): Promise<{ current?: bigint; limit?: bigint }> {
  const [current, max] = await Promise.all([
    readOptional(path.join(dir, 'pids.current')),
    readOptional(path.join(dir, 'pids.max')),
  ]);
  if (current === undefined) return {};
  // "max" (no limit) reads as 0, which dockerd then leaves out.
  return { current: BigInt(current.trim() || '0'), limit: parseMax(max, 0n) };
}

function parseMax(text: string | undefined, unlimited: bigint): bigint {
  const t = (text ?? 'max').trim();
  return /^\d+$/.test(t) ? BigInt(t) : unlimited;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events). */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value && /^\d+$/.test(value)) out.set(key, BigInt(value));
  }
  return out;
}

function pick(values: Map<string, bigint>, keys: string[]): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const k of keys) out[k] = values.get(k) ?? 0n;
  return out;
}

async function readUint(file: string): Promise<bigint> {
  const text = (await fs.readFile(file, 'utf8')).trim();
  return /^\d+$/.test(text) ? BigInt(text) : 0n;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
