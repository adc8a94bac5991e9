// daemon.json, as dockerd reads it (--config-file): the engine-wide log defaults and log level. A setting
// given both as a flag and in the file is an error, with dockerd's message. Berth's default file is
// <data-root>/daemon.json, used only when it exists: /etc/docker/daemon.json belongs to a dockerd that
// may run beside Berth on the same machine.
import { promises as fs } from 'node:fs';

export interface DaemonSettings {
  logDriver?: string;
  logOpts?: Record<string, string>;
  logLevel?: string;
}

// The directives Berth reads, by their daemon.json names.
const DIRECTIVES = ['log-driver', 'log-opts', 'log-level'] as const;

class DaemonConfigError extends Error {}

function typeError(key: string, want: string, value: unknown): DaemonConfigError {
  const got = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  return new DaemonConfigError(
    `invalid JSON: json: cannot unmarshal ${got} into Go struct field Config.${key} of type ${want}`,
  );
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
  const unknown = Object.keys(obj).filter((k) => !(DIRECTIVES as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new DaemonConfigError(
      `the following directives don't match any configuration option: ${unknown.join(', ')} (Berth reads ${DIRECTIVES.join(', ')})`,
    );
  }
  const out: DaemonSettings = {};
  const driver = obj['log-driver'];
  if (driver !== undefined) {
    if (typeof driver !== 'string') throw typeError('log-driver', 'string', driver);
    out.logDriver = driver;
  }
  const level = obj['log-level'];
  if (level !== undefined) {
    if (typeof level !== 'string') throw typeError('log-level', 'string', level);
    out.logLevel = level;
  }
  const opts = obj['log-opts'];
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
      throw typeError('log-opts', 'map[string]string', opts);
    }
    out.logOpts = {};
    for (const [k, v] of Object.entries(opts as Record<string, unknown>)) {
      if (typeof v !== 'string') throw typeError('log-opts', 'string', v);
      out.logOpts[k] = v;
    }
  }
  return out;
}

/** Go's %v of a map[string]string: map[k1:v1 k2:v2], keys sorted. */
function goMap(m: Record<string, string>): string {
  const keys = Object.keys(m).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `map[${keys.map((k) => `${k}:${m[k]}`).join(' ')}]`;
}

function conflicts(flags: DaemonSettings, file: DaemonSettings): string[] {
  const out: string[] = [];
  if (flags.logDriver !== undefined && file.logDriver !== undefined) {
    out.push(`log-driver: (from flag: ${flags.logDriver}, from file: ${file.logDriver})`);
  }
  if (flags.logOpts !== undefined && file.logOpts !== undefined) {
    out.push(`log-opts: (from flag: ${goMap(flags.logOpts)}, from file: ${goMap(file.logOpts)})`);
  }
  if (flags.logLevel !== undefined && file.logLevel !== undefined) {
    out.push(`log-level: (from flag: ${flags.logLevel}, from file: ${file.logLevel})`);
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
    return {
      logDriver: flags.logDriver ?? fromFile.logDriver,
      logOpts: flags.logOpts ?? fromFile.logOpts,
      logLevel: flags.logLevel ?? fromFile.logLevel,
    };
  } catch (err) {
    if (err instanceof DaemonConfigError) {
      throw new Error(`unable to configure the Docker daemon with file ${file}: ${err.message}`);
    }
    throw err;
  }
}
