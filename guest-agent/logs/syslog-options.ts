// The syslog driver's options, checked and read as dockerd's syslog driver
// (daemon/logger/syslog) reads them, with its defaults and messages. One
// difference: a local unixgram socket (dockerd's default, /dev/log) needs a
// datagram unix socket, which Node has not got; an address must be given.
import { readFileSync } from 'node:fs';
import { invalid } from '../errors.js';
import { goParseBool, goParseUint, GoValueError } from './go-values.js';
import { ATTRIBUTE_OPTIONS, validateAttributeOptions } from './log-info.js';
import { validateLogTag } from './log-tag.js';

export type SyslogAddress =
  { protocol: 'udp' | 'tcp' | 'tcp+tls'; host: string; port: number } | { protocol: 'unix'; path: string };

export type SyslogFormat = '' | 'rfc3164' | 'rfc5424' | 'rfc5424micro';

export interface SyslogConfig {
  address: SyslogAddress;
  /** 0–23 (daemon by default). */
  facility: number;
  format: SyslogFormat;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; skipVerify: boolean };
}

const OPTIONS = new Set([
  ...ATTRIBUTE_OPTIONS,
  'syslog-address',
  'syslog-facility',
  'syslog-tls-ca-cert',
  'syslog-tls-cert',
  'syslog-tls-key',
  'syslog-tls-skip-verify',
  'syslog-format',
]);

/** The facilities by name, as RFC 5424 numbers them. */
const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

const DEFAULT_PORT = { udp: 514, tcp: 514, 'tcp+tls': 6514 };

/** `udp://host[:port]`, `tcp://…`, `tcp+tls://…` or `unix:///path`. */
export function parseSyslogAddress(raw: string | undefined): SyslogAddress {
  if (!raw)
    throw invalid(
      'syslog-address is required: udp://HOST[:PORT], tcp://HOST[:PORT], tcp+tls://HOST[:PORT] or unix:///PATH (Berth cannot write to a local unixgram syslog socket)',
    );
  const m = /^([a-z+]+):\/\/(.*)$/i.exec(raw);
  if (!m) throw invalid(`syslog-address should be in form proto://address, got ${JSON.stringify(raw)}`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw invalid(`invalid syslog-address ${raw}: give unix:///an/absolute/path`);
    return { protocol: 'unix', path: rest };
  }
  if (scheme === 'unixgram')
    throw invalid(
      `syslog-address ${raw}: a unixgram socket is not supported by Berth; give unix:// (a stream socket), udp://, tcp:// or tcp+tls://`,
    );
  if (scheme !== 'udp' && scheme !== 'tcp' && scheme !== 'tcp+tls')
    throw invalid(`unsupported syslog-address protocol: ${scheme} (use udp, tcp, tcp+tls or unix)`);
  if (/[/?#]/.test(rest)) throw invalid(`invalid syslog-address ${raw}: give no path`);
  const v6 = /^\[([^\]]+)\](?::(\d*))?$/.exec(rest);
  const [host, port] = v6
    ? [v6[1]!, v6[2] ?? '']
    : rest.includes(':')
      ? [rest.slice(0, rest.lastIndexOf(':')), rest.slice(rest.lastIndexOf(':') + 1)]
      : [rest, ''];
  if (!host) throw invalid(`invalid syslog-address ${raw}: no host`);
  let portNum: number = DEFAULT_PORT[scheme];
  if (port !== '') {
    try {
      portNum = goParseUint(port, 16);
    } catch (err) {
      throw invalid(`invalid syslog-address ${raw}: invalid port: ${(err as Error).message}`);
    }
  }
  return { protocol: scheme, host, port: portNum };
}

function facility(raw: string | undefined): number {
  if (!raw) return FACILITIES.daemon!;
  if (raw in FACILITIES) return FACILITIES[raw]!;
  if (/^\d+$/.test(raw) && Number(raw) <= 23) return Number(raw);
  throw invalid(`invalid syslog facility value: ${raw} (use kern, user, daemon, …, local0–local7, or 0–23)`);
}

function format(raw: string | undefined): SyslogFormat {
  const f = raw ?? '';
  if (f === '' || f === 'rfc3164' || f === 'rfc5424' || f === 'rfc5424micro') return f;
  throw invalid(`Invalid syslog format: ${f} (use rfc3164, rfc5424 or rfc5424micro)`);
}

/** Checks every option (unknown keys refused with dockerd's message) and returns the configuration. */
export function parseSyslogOptions(opts: Record<string, string>, readFiles = true): SyslogConfig {
  for (const key of Object.keys(opts)) {
    if (!OPTIONS.has(key)) throw invalid(`unknown log opt '${key}' for syslog log driver`);
  }
  validateAttributeOptions(opts);
  if (opts['tag']) validateLogTag(opts['tag']);
  const address = parseSyslogAddress(opts['syslog-address']);
  const config: SyslogConfig = {
    address,
    facility: facility(opts['syslog-facility']),
    format: format(opts['syslog-format']),
  };
  if (address.protocol === 'tcp+tls') {
    let skipVerify = false;
    const skip = opts['syslog-tls-skip-verify'];
    if (skip) {
      try {
        skipVerify = goParseBool(skip);
      } catch (err) {
        if (err instanceof GoValueError)
          throw invalid(`invalid value for syslog-tls-skip-verify: ${err.message}`);
        throw err;
      }
    }
    const file = (key: string) => {
      const path = opts[key];
      if (!path || !readFiles) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw invalid(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    };
    config.tls = {
      ca: file('syslog-tls-ca-cert'),
      cert: file('syslog-tls-cert'),
      key: file('syslog-tls-key'),
      skipVerify,
    };
  }
  return config;
}
