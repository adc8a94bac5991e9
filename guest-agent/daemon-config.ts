// daemon.json, as dockerd reads it (--config-file): every directive that has an engine flag. A setting
// given both as a flag and in the file is an error, with dockerd's message. Berth's default file is
// <data-root>/daemon.json, used only when it exists: /etc/docker/daemon.json belongs to a dockerd that
// may run beside Berth on the same machine. In the VM the host passes the desktop's settings this way.
import { promises as fs } from 'node:fs';
import {
  DAEMON_DIRECTIVES,
  directiveValueError,
  isDaemonDirective,
  type DaemonDirective,
  type DirectiveKind,
} from '../common/daemon-directives.js';

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface AddressPool {
  base: string;
  size: number;
}

export interface DaemonSettings {
  logDriver?: string;
  logOpts?: Record<string, string>;
  logLevel?: string;
  debug?: boolean;
  bip?: string;
  iptables?: boolean;
  userlandProxy?: boolean;
  insecureRegistries?: string[];
  registryMirrors?: string[];
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  hostGatewayIp?: string;
  defaultAddressPools?: AddressPool[];
  mtu?: number;
  ipv6?: boolean;
  runtime?: string;
  group?: string;
  usernsRemap?: string;
  storageDriver?: string;
  defaultUlimits?: Record<string, Ulimit>;
  defaultShmSize?: string;
  defaultIpcMode?: string;
  defaultCgroupnsMode?: string;
  init?: boolean;
  noNewPrivileges?: boolean;
  shutdownTimeout?: number;
  liveRestore?: boolean;
  labels?: string[];
  experimental?: boolean;
  features?: Record<string, boolean>;
  builder?: Record<string, unknown>;
}

/** daemon.json name → the setting it fills. */
const FIELDS: Record<DaemonDirective, keyof DaemonSettings> = {
  'log-driver': 'logDriver',
  'log-opts': 'logOpts',
  'log-level': 'logLevel',
  debug: 'debug',
  bip: 'bip',
  iptables: 'iptables',
  'userland-proxy': 'userlandProxy',
  'insecure-registries': 'insecureRegistries',
  'registry-mirrors': 'registryMirrors',
  'max-concurrent-downloads': 'maxConcurrentDownloads',
  'max-concurrent-uploads': 'maxConcurrentUploads',
  dns: 'dns',
  'dns-search': 'dnsSearch',
  'dns-opts': 'dnsOptions',
  'host-gateway-ip': 'hostGatewayIp',
  'default-address-pools': 'defaultAddressPools',
  mtu: 'mtu',
  ipv6: 'ipv6',
  'default-runtime': 'runtime',
  group: 'group',
  'userns-remap': 'usernsRemap',
  'storage-driver': 'storageDriver',
  'default-ulimits': 'defaultUlimits',
  'default-shm-size': 'defaultShmSize',
  'default-ipc-mode': 'defaultIpcMode',
  'default-cgroupns-mode': 'defaultCgroupnsMode',
  init: 'init',
  'no-new-privileges': 'noNewPrivileges',
  'shutdown-timeout': 'shutdownTimeout',
  'live-restore': 'liveRestore',
  labels: 'labels',
  experimental: 'experimental',
  features: 'features',
  builder: 'builder',
};

class DaemonConfigError extends Error {}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'boolean' ? 'bool' : typeof value;
}

function typeError(key: string, want: string, value: unknown): DaemonConfigError {
  return new DaemonConfigError(
    `invalid JSON: json: cannot unmarshal ${jsonKind(value)} into Go struct field Config.${key} of type ${want}`,
  );
}

function readValue(key: DaemonDirective, kind: DirectiveKind, value: unknown): unknown {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw typeError(key, 'string', value);
      break;
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(key, 'bool', value);
      break;
    case 'int':
      if (!Number.isInteger(value)) throw typeError(key, 'int', value);
      break;
    case 'strings':
      if (!Array.isArray(value)) throw typeError(key, '[]string', value);
      for (const v of value) if (typeof v !== 'string') throw typeError(key, 'string', v);
      break;
    case 'map':
    case 'boolMap': {
      const want = kind === 'map' ? 'string' : 'bool';
      if (!isObject) throw typeError(key, `map[string]${want}`, value);
      for (const v of Object.values(value as Record<string, unknown>))
        if (typeof v !== (kind === 'map' ? 'string' : 'boolean')) throw typeError(key, want, v);
      break;
    }
    case 'object':
    case 'ulimits':
      if (!isObject) throw typeError(key, 'map[string]interface {}', value);
      break;
    case 'addressPools':
      if (!Array.isArray(value)) throw typeError(key, '[]*ipamutils.NetworkToSplit', value);
      break;
  }
  const wrong = directiveValueError(key, value);
  if (wrong) throw new DaemonConfigError(wrong);
  return value;
}

function parse(text: string): DaemonSettings {
  // As dockerd: a UTF-8 byte order mark is allowed, and an empty file is an empty configuration.
  const body = text.replace(/^\uFEFF/, '').trim();
  if (body === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new DaemonConfigError(`invalid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DaemonConfigError(
      'invalid JSON: json: cannot unmarshal non-object into Go value of type config.Config',
    );
  }
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !isDaemonDirective(k));
  if (unknown.length > 0) {
    throw new DaemonConfigError(
      `the following directives don't match any configuration option: ${unknown.join(', ')} (Berth reads ${Object.keys(DAEMON_DIRECTIVES).join(', ')})`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const directive = key as DaemonDirective;
    out[FIELDS[directive]] = readValue(directive, DAEMON_DIRECTIVES[directive], value);
  }
  return out as DaemonSettings;
}

/** Go's %v of a value: map[k1:v1 k2:v2] with sorted keys, [a b] for a list. */
function goValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.join(' ')}]`;
  if (typeof v === 'object' && v !== null) {
    const m = v as Record<string, string>;
    const keys = Object.keys(m).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return `map[${keys.map((k) => `${k}:${m[k]}`).join(' ')}]`;
  }
  return String(v);
}

function conflicts(flags: DaemonSettings, file: DaemonSettings): string[] {
  const out: string[] = [];
  for (const [key, field] of Object.entries(FIELDS)) {
    if (flags[field] !== undefined && file[field] !== undefined)
      out.push(`${key}: (from flag: ${goValue(flags[field])}, from file: ${goValue(file[field])})`);
  }
  return out;
}

/**
 * The settings from the flags and the file. `explicit`: the file was named with --config-file, so it must
 * exist; the default one is skipped when missing. Throws with dockerd's message on a bad file or a conflict.
 */
export async function loadDaemonSettings(
  file: string,
  explicit: boolean,
  flags: DaemonSettings,
): Promise<DaemonSettings> {
  // Flags take the values their directives take.
  for (const [key, field] of Object.entries(FIELDS)) {
    const value = flags[field];
    const wrong = value === undefined ? undefined : directiveValueError(key as DaemonDirective, value);
    if (wrong) throw new Error(`invalid flag value: ${wrong.replace(/^"([^"]+)"/, '--$1')}`);
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && !explicit) return flags;
    const reason = e.code === 'ENOENT' ? 'no such file or directory' : e.message;
    throw new Error(`unable to configure the Docker daemon with file ${file}: open ${file}: ${reason}`);
  }
  try {
    const fromFile = parse(text);
    const clash = conflicts(flags, fromFile);
    if (clash.length > 0) {
      throw new DaemonConfigError(
        `the following directives are specified both as a flag and in the configuration file: ${clash.join(', ')}`,
      );
    }
    const merged: Record<string, unknown> = { ...fromFile };
    for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
    return merged as DaemonSettings;
  } catch (err) {
    if (err instanceof DaemonConfigError) {
      throw new Error(`unable to configure the Docker daemon with file ${file}: ${err.message}`);
    }
    throw err;
  }
}
