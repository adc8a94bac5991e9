// `berth run/create` flags → an Engine API create request, as the docker CLI
// builds it (cli/command/container/opts.go): ports, volumes, mounts, limits,
// restart policy, network, logging, healthcheck. Variables keep their sources
// in the ENV_SOURCES_LABEL label for `berth explain`.
import path from 'node:path';
import { ULIMIT_NAMES, type ContainerCreateRequest, type RestartPolicy } from '../common/engine-api.js';
import { ENV_SOURCES_LABEL } from '../common/explain.js';
import { parseDuration, parseSize } from '../compose/units.js';
import { resolveEnv, readEnvFile } from './env-options.js';
import { UsageError, type FlagSpec, type ParsedFlags } from './flag-parser.js';

const V = { value: true } as const;
const M = { value: true, multiple: true } as const;

export const CONTAINER_FLAGS: Record<string, FlagSpec> = {
  name: V,
  env: { short: 'e', ...M },
  'env-file': M,
  publish: { short: 'p', ...M },
  'publish-all': { short: 'P' },
  expose: M,
  volume: { short: 'v', ...M },
  mount: M,
  tmpfs: M,
  'volumes-from': M,
  workdir: { short: 'w', ...V },
  user: { short: 'u', ...V },
  entrypoint: V,
  interactive: { short: 'i' },
  tty: { short: 't' },
  attach: { short: 'a', ...M },
  rm: {},
  restart: V,
  memory: { short: 'm', ...V },
  'memory-swap': V,
  'memory-reservation': V,
  cpus: V,
  'cpu-shares': { short: 'c', ...V },
  'cpu-period': V,
  'cpu-quota': V,
  'cpuset-cpus': V,
  'pids-limit': V,
  privileged: {},
  'cap-add': M,
  'cap-drop': M,
  device: M,
  ulimit: M,
  'group-add': M,
  'read-only': {},
  network: V,
  net: V,
  'network-alias': M,
  ip: V,
  'mac-address': V,
  hostname: { short: 'h', ...V },
  domainname: V,
  label: { short: 'l', ...M },
  'label-file': M,
  'log-driver': V,
  'log-opt': M,
  'stop-signal': V,
  'stop-timeout': V,
  'security-opt': M,
  'shm-size': V,
  'oom-score-adj': V,
  init: {},
  pid: V,
  ipc: V,
  uts: V,
  cgroupns: V,
  'add-host': M,
  dns: M,
  'dns-search': M,
  'dns-option': M,
  sysctl: M,
  'health-cmd': V,
  'health-interval': V,
  'health-timeout': V,
  'health-retries': V,
  'health-start-period': V,
  'no-healthcheck': {},
  pull: V,
  platform: V,
  quiet: { short: 'q' },
  'detach-keys': V,
  cidfile: V,
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

function num(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n))
    throw new UsageError(`invalid argument "${String(v)}" for "--${flag}" flag: not a number`);
  return n;
}

function bytes(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (v === '-1') return -1;
  try {
    return parseSize(v);
  } catch {
    throw new UsageError(
      `invalid argument "${String(v)}" for "--${flag}" flag: invalid size: '${String(v)}'`,
    );
  }
}

function durationNs(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  try {
    // A health duration needs a unit (Go's time.ParseDuration), as the docker CLI reads it.
    if (/^\d+(\.\d+)?$/.test(String(v)) && String(v) !== '0') throw new Error();
    return parseDuration(v);
  } catch {
    throw new UsageError(
      `invalid argument "${String(v)}" for "--${flag}" flag: time: missing unit in duration "${String(v)}"`,
    );
  }
}

type PortBindings = Record<string, Array<{ HostIp: string; HostPort: string }>>;

function range(text: string, spec: string): [number, number] {
  const [a, b = a] = text.split('-');
  const lo = Number(a);
  const hi = Number(b);
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b) || lo < 1 || hi > 65535 || hi < lo)
    throw new UsageError(`invalid containerPort: ${text} in "${spec}"`);
  return [lo, hi];
}

/** One -p value: [ip:][hostPort:]containerPort[/proto], ranges allowed. */
export function parsePublish(spec: string, exposed: Record<string, object>, bindings: PortBindings): void {
  const slash = spec.lastIndexOf('/');
  const proto = slash > 0 ? spec.slice(slash + 1) : 'tcp';
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new UsageError(`invalid proto: ${proto}`);
  let rest = slash > 0 ? spec.slice(0, slash) : spec;
  let ip = '';
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1];
    rest = v6[2];
  }
  const parts = rest.split(':');
  if (parts.length > 3 || (v6 && parts.length > 2)) throw new UsageError(`invalid port format: ${spec}`);
  const container = parts[parts.length - 1];
  const host = parts.length >= 2 ? parts[parts.length - 2] : '';
  if (parts.length === 3) ip = parts[0];
  const [clo, chi] = range(container, spec);
  let hlo = 0;
  let hhi = 0;
  if (host) [hlo, hhi] = range(host, spec);
  if (host && hhi - hlo !== chi - clo && hlo !== hhi)
    throw new UsageError(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
  for (let p = clo; p <= chi; p++) {
    const key = `${p}/${proto}`;
    exposed[key] = {};
    const hostPort = !host ? '' : hlo === hhi ? String(hlo) : String(hlo + (p - clo));
    (bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
  }
}

/** --mount type=bind,source=…,target=…,readonly → an API Mount. */
export function parseMount(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  const volumeOptions: Record<string, unknown> = {};
  const tmpfsOptions: Record<string, unknown> = {};
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    switch (key) {
      case 'type':
        m.Type = value;
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m.Target = value;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = value === undefined || value === 'true' || value === '1';
        break;
      case 'volume-nocopy':
        volumeOptions.NoCopy = value === undefined || value === 'true';
        break;
      case 'tmpfs-size':
        tmpfsOptions.SizeBytes = parseSize(value);
        break;
      case 'tmpfs-mode':
        tmpfsOptions.Mode = parseInt(value ?? '', 8);
        break;
      case 'bind-propagation':
        m.BindOptions = { Propagation: value };
        break;
      default:
        throw new UsageError(`invalid field '${key}' must be a key=value pair`);
    }
  }
  if (!m.Target) throw new UsageError('target is required');
  if (Object.keys(volumeOptions).length) m.VolumeOptions = volumeOptions;
  if (Object.keys(tmpfsOptions).length) m.TmpfsOptions = tmpfsOptions;
  if (m.Type === 'bind' && typeof m.Source === 'string') m.Source = path.resolve(m.Source);
  return m;
}

/** r, w and m, each at most once (the docker CLI's validDeviceMode). */
function validDeviceMode(mode: string): boolean {
  return /^[rwm]{1,3}$/.test(mode) && new Set(mode).size === mode.length;
}

/** One --device value, host[:container][:permissions], as the docker CLI splits and checks it. */
export function parseDevice(spec: string): {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
} {
  // The docker CLI checks a device when it builds the request, not as a flag value: no flag prefix.
  const bad = (why: string) => new UsageError(why);
  const parts = spec.split(':');
  if (parts.length > 3 || parts[0] === '') throw bad(`bad format for path: ${spec}`);
  const [src] = parts;
  let dst = src;
  let permissions = 'rwm';
  if (parts.length === 2) {
    if (validDeviceMode(parts[1])) permissions = parts[1];
    else dst = parts[1];
  } else if (parts.length === 3) {
    if (!validDeviceMode(parts[2])) throw bad(`bad mode specified: ${parts[2]}`);
    dst = parts[1];
    permissions = parts[2];
  }
  if (!path.posix.isAbsolute(dst)) throw bad(`${dst} is not an absolute path`);
  return { PathOnHost: src, PathInContainer: path.posix.normalize(dst), CgroupPermissions: permissions };
}

/** --ulimit name=soft[:hard] values as go-units' ParseUlimit reads them; a later one of a name wins. */
export function parseUlimits(specs: string[]): Array<{ Name: string; Soft: number; Hard: number }> {
  const byName = new Map<string, { Name: string; Soft: number; Hard: number }>();
  for (const spec of specs) {
    const bad = (why: string) => new UsageError(`invalid argument "${spec}" for "--ulimit" flag: ${why}`);
    const eq = spec.indexOf('=');
    if (eq < 0) throw bad(`invalid ulimit argument: ${spec}`);
    const name = spec.slice(0, eq);
    if (!ULIMIT_NAMES.includes(name)) throw bad(`invalid ulimit type: ${name}`);
    const values = spec.slice(eq + 1).split(':');
    if (values.length > 2)
      throw bad(
        `too many limit value arguments - ${spec.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``,
      );
    const int = (v: string) => {
      if (!/^[+-]?\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
        throw bad(`strconv.ParseInt: parsing "${v}": invalid syntax`);
      return Number(v);
    };
    const soft = int(values[0]);
    const hard = values.length === 2 ? int(values[1]) : soft;
    if (hard !== -1) {
      if (soft === -1)
        throw bad(
          `ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${hard}`,
        );
      if (soft > hard)
        throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
    }
    byName.set(name, { Name: name, Soft: soft, Hard: hard });
  }
  return [...byName.values()];
}

function restartPolicy(v: string | undefined): RestartPolicy | undefined {
  if (v === undefined) return undefined;
  const [name, count] = v.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name))
    throw new UsageError(`invalid restart policy format: ${v}`);
  if (count !== undefined && name !== 'on-failure')
    throw new UsageError(
      `invalid restart policy format: maximum retry count can only be used with 'on-failure'`,
    );
  const Name = name as RestartPolicy['Name'];
  return count === undefined ? { Name } : { Name, MaximumRetryCount: Number(count) };
}

function keyValues(entries: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0 && flag !== 'label')
      throw new UsageError(`invalid argument "${e}" for "--${flag}" flag: expected KEY=VALUE`);
    out[eq < 0 ? e : e.slice(0, eq)] = eq < 0 ? '' : e.slice(eq + 1);
  }
  return out;
}

export interface CreateRequest {
  name?: string;
  body: ContainerCreateRequest;
}

/** The create request for `berth run/create FLAGS IMAGE [COMMAND…]`. */
export function createRequest(
  parsed: ParsedFlags,
  opts: { detach: boolean; env?: NodeJS.ProcessEnv },
): CreateRequest {
  const f = parsed.flags;
  const [image, ...command] = parsed.positionals;
  if (!image) throw new UsageError('requires at least 1 argument');
  const { env, sources } = resolveEnv(list(f['env-file']), list(f.env), opts.env);
  const interactive = f.interactive === true;
  const tty = f.tty === true;
  const attach = list(f.attach).map((s) => s.toLowerCase());
  for (const a of attach)
    if (!['stdin', 'stdout', 'stderr'].includes(a))
      throw new UsageError(
        `invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`,
      );
  if (opts.detach && attach.length)
    throw new UsageError('conflicting options: cannot specify both --attach and --detach');

  const exposed: Record<string, object> = {};
  const bindings: PortBindings = {};
  for (const p of list(f.publish)) parsePublish(p, exposed, bindings);
  for (const e of list(f.expose)) {
    const [ports, proto = 'tcp'] = e.split('/');
    const [lo, hi] = range(ports, e);
    for (let p = lo; p <= hi; p++) exposed[`${p}/${proto}`] = {};
  }

  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of list(f.volume)) {
    const parts = v.split(':');
    if (parts.length === 1) volumes[v] = {};
    else {
      // As the docker CLI: a relative host path is taken from the current folder.
      if (parts[0].startsWith('.')) parts[0] = path.resolve(parts[0]);
      binds.push(parts.join(':'));
    }
  }
  const tmpfs: Record<string, string> = {};
  for (const t of list(f.tmpfs)) {
    const colon = t.indexOf(':');
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? '' : t.slice(colon + 1);
  }

  const labels: Record<string, string> = {};
  for (const file of list(f['label-file'])) Object.assign(labels, keyValues(readEnvFile(file), 'label'));
  Object.assign(labels, keyValues(list(f.label), 'label'));
  if (Object.keys(sources).length) labels[ENV_SOURCES_LABEL] = JSON.stringify(sources);

  const network = str(f.network) ?? str(f.net);
  const aliases = list(f['network-alias']);
  const ip = str(f.ip);
  const mac = str(f['mac-address']);
  const endpoint: Record<string, unknown> = {};
  if (aliases.length) endpoint.Aliases = aliases;
  if (ip) endpoint.IPAMConfig = { IPv4Address: ip };
  if (mac) endpoint.MacAddress = mac;

  let healthcheck: Record<string, unknown> | undefined;
  if (f['no-healthcheck'] === true) healthcheck = { Test: ['NONE'] };
  else if (
    ['health-cmd', 'health-interval', 'health-timeout', 'health-retries', 'health-start-period'].some(
      (k) => f[k] !== undefined,
    )
  ) {
    healthcheck = {};
    if (str(f['health-cmd'])) healthcheck.Test = ['CMD-SHELL', str(f['health-cmd'])];
    if (f['health-interval'] !== undefined)
      healthcheck.Interval = durationNs('health-interval', f['health-interval']);
    if (f['health-timeout'] !== undefined)
      healthcheck.Timeout = durationNs('health-timeout', f['health-timeout']);
    if (f['health-start-period'] !== undefined)
      healthcheck.StartPeriod = durationNs('health-start-period', f['health-start-period']);
    if (f['health-retries'] !== undefined) healthcheck.Retries = num('health-retries', f['health-retries']);
  }

  const cpus = num('cpus', f.cpus);
  const entrypoint = str(f.entrypoint);
  const attachStdin = opts.detach ? false : attach.length ? attach.includes('stdin') : interactive;
  const body: ContainerCreateRequest = {
    Image: image,
    Cmd: command.length ? command : undefined,
    Entrypoint: entrypoint === undefined ? undefined : entrypoint === '' ? [''] : [entrypoint],
    Env: env,
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && attachStdin,
    AttachStdin: attachStdin,
    AttachStdout: opts.detach ? false : attach.length ? attach.includes('stdout') : true,
    AttachStderr: opts.detach ? false : attach.length ? attach.includes('stderr') : true,
    WorkingDir: str(f.workdir),
    User: str(f.user),
    Hostname: str(f.hostname),
    Domainname: str(f.domainname),
    Labels: labels,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Volumes: Object.keys(volumes).length ? volumes : undefined,
    StopSignal: str(f['stop-signal']),
    StopTimeout: num('stop-timeout', f['stop-timeout']),
    Healthcheck: healthcheck,
    HostConfig: {
      Binds: binds.length ? binds : undefined,
      Mounts: list(f.mount).length ? list(f.mount).map(parseMount) : undefined,
      Tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
      VolumesFrom: list(f['volumes-from']).length ? list(f['volumes-from']) : undefined,
      PortBindings: Object.keys(bindings).length ? bindings : undefined,
      PublishAllPorts: f['publish-all'] === true,
      AutoRemove: f.rm === true,
      RestartPolicy: restartPolicy(str(f.restart)),
      Memory: bytes('memory', f.memory),
      MemorySwap: bytes('memory-swap', f['memory-swap']),
      MemoryReservation: bytes('memory-reservation', f['memory-reservation']),
      NanoCpus: cpus === undefined ? undefined : Math.round(cpus * 1e9),
      CpuShares: num('cpu-shares', f['cpu-shares']),
      CpuPeriod: num('cpu-period', f['cpu-period']),
      CpuQuota: num('cpu-quota', f['cpu-quota']),
      CpusetCpus: str(f['cpuset-cpus']),
      PidsLimit: num('pids-limit', f['pids-limit']),
      Privileged: f.privileged === true,
      CapAdd: list(f['cap-add']).length ? list(f['cap-add']) : undefined,
      CapDrop: list(f['cap-drop']).length ? list(f['cap-drop']) : undefined,
      Devices: list(f.device).length ? list(f.device).map(parseDevice) : undefined,
      Ulimits: list(f.ulimit).length ? parseUlimits(list(f.ulimit)) : undefined,
      GroupAdd: list(f['group-add']).length ? list(f['group-add']) : undefined,
      ReadonlyRootfs: f['read-only'] === true,
      NetworkMode: network ?? 'default',
      LogConfig:
        str(f['log-driver']) || list(f['log-opt']).length
          ? { Type: str(f['log-driver']) ?? '', Config: keyValues(list(f['log-opt']), 'log-opt') }
          : undefined,
      SecurityOpt: list(f['security-opt']).length ? list(f['security-opt']) : undefined,
      ShmSize: bytes('shm-size', f['shm-size']),
      OomScoreAdj: num('oom-score-adj', f['oom-score-adj']),
      Init: f.init === true ? true : undefined,
      PidMode: str(f.pid),
      IpcMode: str(f.ipc),
      UTSMode: str(f.uts),
      CgroupnsMode: str(f.cgroupns),
      ExtraHosts: list(f['add-host']).length ? list(f['add-host']) : undefined,
      Dns: list(f.dns).length ? list(f.dns) : undefined,
      DnsSearch: list(f['dns-search']).length ? list(f['dns-search']) : undefined,
      DnsOptions: list(f['dns-option']).length ? list(f['dns-option']) : undefined,
      Sysctls: list(f.sysctl).length ? keyValues(list(f.sysctl), 'sysctl') : undefined,
    },
    NetworkingConfig:
      network && Object.keys(endpoint).length ? { EndpointsConfig: { [network]: endpoint } } : undefined,
  };
  if (tty && opts.detach === false) {
    const out = process.stdout;
    if (out.isTTY && out.rows && out.columns) body.HostConfig!.ConsoleSize = [out.rows, out.columns];
  }
  return { name: str(f.name), body };
}
