// Service keys that are each one HostConfig field (cpu_shares → CpuShares,
// dns_search → DnsSearch …): read, checked, and passed to the engine as they
// are. The engine carries them out, or refuses the ones it cannot (blkio, gpus,
// cgroup_parent) with its own clear error, as dockerd would.
import type { HostOptions } from './model.js';
import type { NormaliseContext } from './normalise-service.js';
import { parseDuration, parseSize } from './units.js';

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export const HOST_OPTION_KEYS = [
  'annotations',
  'blkio_config',
  'cgroup_parent',
  'cpu_count',
  'cpu_percent',
  'cpu_period',
  'cpu_quota',
  'cpu_rt_period',
  'cpu_rt_runtime',
  'cpu_shares',
  'cpuset',
  'device_cgroup_rules',
  'dns_opt',
  'dns_search',
  'gpus',
  'isolation',
  'mem_reservation',
  'mem_swappiness',
  'memswap_limit',
  'oom_kill_disable',
  'oom_score_adj',
  'runtime',
  'storage_opt',
  'userns_mode',
] as const;

export function normaliseHostOptions(
  raw: Raw,
  at: (...keys: (string | number)[]) => (string | number)[],
  ctx: NormaliseContext,
): HostOptions | undefined {
  const out: HostOptions = {};
  const has = (key: string) => raw[key] !== undefined && raw[key] !== null;
  const int = (key: string, min: number, max: number, v: unknown = raw[key], keyPath = at(key)): number => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      ctx.fail(keyPath, `must be a whole number from ${min} to ${max}`);
    return n;
  };
  const text = (key: string): string => {
    if (typeof raw[key] === 'object') ctx.fail(at(key), 'must be a string');
    return String(raw[key]);
  };
  const list = (key: string): string[] => {
    const v = raw[key];
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x === 'object'))
      ctx.fail(at(key), 'must be a list of strings');
    return v.map(String);
  };
  const map = (key: string): Record<string, string> => {
    const v = raw[key];
    if (Array.isArray(v)) {
      return Object.fromEntries(
        v
          .map(String)
          .map((s) =>
            s.includes('=') ? [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)] : [s, ''],
          ),
      );
    }
    if (!isObject(v)) ctx.fail(at(key), 'must be a mapping or a list of KEY=VALUE');
    return Object.fromEntries(Object.entries(v).map(([k, val]) => [k, val === null ? '' : String(val)]));
  };
  const size = (key: string, v: unknown = raw[key], keyPath = at(key)): number => {
    if (v === -1 || v === '-1') return -1;
    try {
      return parseSize(v);
    } catch (err) {
      ctx.fail(keyPath, (err as Error).message);
    }
  };
  /** Microseconds: a number as it is, or a duration such as 100ms. */
  const micros = (key: string): number => {
    const v = raw[key];
    if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v)))
      return int(key, 0, Number.MAX_SAFE_INTEGER);
    try {
      return Math.round(parseDuration(v) / 1000);
    } catch (err) {
      ctx.fail(at(key), (err as Error).message);
    }
  };

  if (has('annotations')) out.Annotations = map('annotations');
  if (has('cpu_shares')) out.CpuShares = int('cpu_shares', 0, Number.MAX_SAFE_INTEGER);
  if (has('cpu_period')) out.CpuPeriod = micros('cpu_period');
  if (has('cpu_quota')) out.CpuQuota = micros('cpu_quota');
  if (has('cpu_rt_period')) out.CpuRealtimePeriod = micros('cpu_rt_period');
  if (has('cpu_rt_runtime')) out.CpuRealtimeRuntime = micros('cpu_rt_runtime');
  if (has('cpu_count')) out.CpuCount = int('cpu_count', 0, 1024);
  if (has('cpu_percent')) out.CpuPercent = int('cpu_percent', 0, 100);
  if (has('cpuset')) out.CpusetCpus = text('cpuset');
  if (has('mem_reservation')) out.MemoryReservation = size('mem_reservation');
  if (has('memswap_limit')) out.MemorySwap = size('memswap_limit');
  if (has('mem_swappiness')) out.MemorySwappiness = int('mem_swappiness', 0, 100);
  if (has('oom_kill_disable')) {
    const v = raw.oom_kill_disable;
    if (typeof v !== 'boolean' && v !== 'true' && v !== 'false')
      ctx.fail(at('oom_kill_disable'), 'must be true or false');
    out.OomKillDisable = v === true || v === 'true';
  }
  if (has('oom_score_adj')) out.OomScoreAdj = int('oom_score_adj', -1000, 1000);
  if (has('device_cgroup_rules')) out.DeviceCgroupRules = list('device_cgroup_rules');
  if (has('dns_opt')) out.DnsOptions = list('dns_opt');
  if (has('dns_search')) out.DnsSearch = list('dns_search');
  if (has('userns_mode')) out.UsernsMode = text('userns_mode');
  if (has('runtime')) out.Runtime = text('runtime');
  if (has('cgroup_parent')) out.CgroupParent = text('cgroup_parent');
  if (has('isolation')) out.Isolation = text('isolation');
  if (has('storage_opt')) out.StorageOpt = map('storage_opt');
  if (has('blkio_config')) Object.assign(out, blkio(raw.blkio_config, at('blkio_config'), ctx, int, size));
  if (has('gpus')) out.DeviceRequests = gpus(raw.gpus, at('gpus'), ctx);

  const reservations = ((raw.deploy as Raw | undefined)?.resources as Raw | undefined)?.reservations;
  if (isObject(reservations)) {
    const keyPath = at('deploy', 'resources', 'reservations');
    if (reservations.memory !== undefined)
      out.MemoryReservation = size('memory', reservations.memory, [...keyPath, 'memory']);
    if (reservations.devices !== undefined)
      out.DeviceRequests = gpus(reservations.devices, [...keyPath, 'devices'], ctx);
  }
  return Object.keys(out).length ? out : undefined;
}

function blkio(
  v: unknown,
  keyPath: (string | number)[],
  ctx: NormaliseContext,
  int: (key: string, min: number, max: number, v: unknown, keyPath: (string | number)[]) => number,
  size: (key: string, v: unknown, keyPath: (string | number)[]) => number,
): HostOptions {
  if (!isObject(v)) ctx.fail(keyPath, 'must be a mapping');
  const out: HostOptions = {};
  if (v.weight !== undefined) out.BlkioWeight = int('weight', 10, 1000, v.weight, [...keyPath, 'weight']);
  const devices = (key: string): Raw[] => {
    const list = v[key];
    if (!Array.isArray(list) || list.some((d) => !isObject(d) || typeof d.path !== 'string'))
      ctx.fail([...keyPath, key], 'must be a list of {path, …}');
    return list as Raw[];
  };
  if (v.weight_device !== undefined) {
    out.BlkioWeightDevice = devices('weight_device').map((d, i) => ({
      Path: d.path as string,
      Weight: int('weight', 10, 1000, d.weight, [...keyPath, 'weight_device', i, 'weight']),
    }));
  }
  const rates = [
    ['device_read_bps', 'BlkioDeviceReadBps', true],
    ['device_write_bps', 'BlkioDeviceWriteBps', true],
    ['device_read_iops', 'BlkioDeviceReadIOps', false],
    ['device_write_iops', 'BlkioDeviceWriteIOps', false],
  ] as const;
  for (const [key, field, bytes] of rates) {
    if (v[key] === undefined) continue;
    out[field] = devices(key).map((d, i) => {
      const at = [...keyPath, key, i, 'rate'];
      return {
        Path: d.path as string,
        Rate: bytes ? size('rate', d.rate, at) : int('rate', 0, Number.MAX_SAFE_INTEGER, d.rate, at),
      };
    });
  }
  return out;
}

/** gpus: all, or device requests; also deploy.resources.reservations.devices. */
function gpus(
  v: unknown,
  keyPath: (string | number)[],
  ctx: NormaliseContext,
): HostOptions['DeviceRequests'] {
  if (v === 'all') return [{ Driver: '', Count: -1, DeviceIDs: [], Capabilities: [['gpu']], Options: {} }];
  if (!Array.isArray(v)) ctx.fail(keyPath, 'must be "all" or a list of device requests');
  return v.map((d, i) => {
    if (!isObject(d)) ctx.fail([...keyPath, i], 'must be a mapping');
    const strings = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
    const count = d.count === 'all' ? -1 : d.count === undefined ? (d.device_ids ? 0 : -1) : Number(d.count);
    return {
      Driver: d.driver === undefined ? '' : String(d.driver),
      Count: count,
      DeviceIDs: strings(d.device_ids),
      Capabilities: [strings(d.capabilities).length ? strings(d.capabilities) : ['gpu']],
      Options: Object.fromEntries(
        Object.entries(isObject(d.options) ? d.options : {}).map(([k, x]) => [k, String(x)]),
      ),
    };
  });
}
