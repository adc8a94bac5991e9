// The desktop settings: defaults and the validation both the Settings view and
// the backend apply, so a field shows the same message either side.
import type { Settings } from './desktop-api.js';

export const DEFAULT_SETTINGS: Settings = {
  cpus: 2,
  memoryMiB: 2048,
  diskGiB: 64,
  sharedFolders: [],
  accel: 'auto',
  logDriver: 'json-file',
  logOpts: {},
  daemonJson: '{}\n',
  startAtLogin: false,
  theme: 'system',
};

/** Settings that take effect only when the VM boots again. */
export const RESTART_FIELDS: Array<keyof Settings> = [
  'cpus',
  'memoryMiB',
  'diskGiB',
  'sharedFolders',
  'accel',
  'logDriver',
  'logOpts',
  'daemonJson',
];

/** daemon.json keys the engine reads, with the JSON type each must have. */
const DAEMON_KEYS: Record<string, 'string' | 'boolean' | 'object' | 'string[]'> = {
  'log-driver': 'string',
  'log-opts': 'object',
  'log-level': 'string',
  'insecure-registries': 'string[]',
  dns: 'string[]',
  bip: 'string',
  iptables: 'boolean',
  'userland-proxy': 'boolean',
  'default-runtime': 'string',
  'data-root': 'string',
  'host-gateway-ip': 'string',
};

const LOG_DRIVERS = ['json-file', 'local', 'fluentd', 'none'];

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return v.every((x) => typeof x === 'string') ? 'string[]' : 'array';
  if (v === null) return 'null';
  return typeof v;
}

/** The problems with a daemon.json text, or undefined if it is good. */
export function validateDaemonJson(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not valid JSON: ${(err as Error).message}`;
  }
  if (jsonType(value) !== 'object') return 'must be a JSON object';
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const want = DAEMON_KEYS[key];
    if (!want) return `unknown key "${key}" (known: ${Object.keys(DAEMON_KEYS).join(', ')})`;
    if (jsonType(v) !== want)
      return `"${key}" must be ${want === 'string[]' ? 'a list of strings' : `a ${want}`}`;
    if (key === 'log-driver' && !LOG_DRIVERS.includes(v as string))
      return `"log-driver" must be one of ${LOG_DRIVERS.join(', ')}`;
  }
  return undefined;
}

/** Field → message for every invalid field; empty when all is well. */
export function validateSettings(
  s: Settings,
  limits: { hostCpus: number; hostMemoryMiB: number },
): Record<string, string> {
  const f: Record<string, string> = {};
  if (!Number.isInteger(s.cpus) || s.cpus < 1 || s.cpus > limits.hostCpus)
    f.cpus = `a whole number from 1 to ${limits.hostCpus} (this machine's CPUs)`;
  if (!Number.isInteger(s.memoryMiB) || s.memoryMiB < 512 || s.memoryMiB > limits.hostMemoryMiB)
    f.memoryMiB = `from 512 to ${limits.hostMemoryMiB} MiB (this machine's memory)`;
  if (!Number.isInteger(s.diskGiB) || s.diskGiB < 8 || s.diskGiB > 2048) f.diskGiB = 'from 8 to 2048 GiB';
  const badFolder = s.sharedFolders.find((p) => !p.startsWith('/') && !/^[A-Za-z]:\\/.test(p));
  if (badFolder !== undefined) f.sharedFolders = `not an absolute path: ${badFolder || '(empty)'}`;
  if (!['auto', 'hvf', 'whpx', 'kvm', 'tcg'].includes(s.accel)) f.accel = 'auto, hvf, whpx, kvm or tcg';
  if (!LOG_DRIVERS.includes(s.logDriver)) f.logDriver = `one of ${LOG_DRIVERS.join(', ')}`;
  const badOpt = Object.keys(s.logOpts).find((k) => !/^[a-z][a-z0-9-]*$/.test(k));
  if (badOpt !== undefined) f.logOpts = `not an option name: ${badOpt || '(empty)'}`;
  const daemon = validateDaemonJson(s.daemonJson);
  if (daemon) f.daemonJson = daemon;
  if (!['system', 'light', 'dark'].includes(s.theme)) f.theme = 'system, light or dark';
  return f;
}
