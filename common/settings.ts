// The desktop settings: defaults and the validation both the Settings view and
// the backend apply, so a field shows the same message either side.
import type { Settings } from './desktop-api.js';
import {
  DAEMON_DIRECTIVES,
  LOG_DRIVERS,
  composeDaemonJson,
  directiveValueError,
  isDaemonDirective,
} from './daemon-directives.js';

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

/** The problems with a daemon.json text, or undefined if it is good. */
export function validateDaemonJson(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not valid JSON: ${(err as Error).message}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object';
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!isDaemonDirective(key))
      return `unknown key "${key}" (known: ${Object.keys(DAEMON_DIRECTIVES).join(', ')})`;
    // The Logging fields above are the one place for these: two would contradict each other.
    if (key === 'log-driver' || key === 'log-opts')
      return `"${key}" is set with the log driver and log options fields, not here`;
    const wrong = directiveValueError(key, v);
    if (wrong) return wrong;
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
  if (!(LOG_DRIVERS as readonly string[]).includes(s.logDriver))
    f.logDriver = `one of ${LOG_DRIVERS.join(', ')}`;
  const badOpt = Object.keys(s.logOpts).find((k) => !/^[a-z][a-z0-9-]*$/.test(k));
  if (badOpt !== undefined) f.logOpts = `not an option name: ${badOpt || '(empty)'}`;
  const daemon = validateDaemonJson(s.daemonJson);
  if (daemon) f.daemonJson = daemon;
  if (!['system', 'light', 'dark'].includes(s.theme)) f.theme = 'system, light or dark';
  return f;
}

/**
 * The daemon.json the engine in the VM gets from a settings file (its desktop keys: logDriver,
 * logOpts, daemonJson), or undefined for the engine's defaults. Throws, naming the key, when the
 * file holds what the Settings view would have refused (it was edited by hand).
 */
export function engineDaemonConfig(file: Record<string, unknown>): Record<string, unknown> | undefined {
  const logDriver = file.logDriver ?? DEFAULT_SETTINGS.logDriver;
  if (typeof logDriver !== 'string' || !(LOG_DRIVERS as readonly string[]).includes(logDriver))
    throw new Error(`logDriver: ${JSON.stringify(logDriver)} is not one of ${LOG_DRIVERS.join(', ')}`);
  const logOpts = file.logOpts ?? {};
  if (
    typeof logOpts !== 'object' ||
    logOpts === null ||
    Array.isArray(logOpts) ||
    !Object.values(logOpts).every((v) => typeof v === 'string')
  )
    throw new Error('logOpts: must be an object of strings');
  const daemonJson = file.daemonJson ?? '';
  if (typeof daemonJson !== 'string') throw new Error('daemonJson: must be the text of a JSON object');
  const wrong = daemonJson.trim() ? validateDaemonJson(daemonJson) : undefined;
  if (wrong) throw new Error(`daemonJson: ${wrong}`);
  return composeDaemonJson({ logDriver, logOpts: logOpts as Record<string, string>, daemonJson });
}
