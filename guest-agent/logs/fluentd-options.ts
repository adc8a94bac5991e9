// The fluentd driver's options, checked and read as dockerd's fluentd driver (daemon/logger/fluentd) does,
// with its defaults and its messages.
import { invalid } from '../errors.js';
import { goFormatDuration, goParseBool, goParseDuration, goParseUint, GoValueError } from './go-values.js';
import { ATTRIBUTE_OPTIONS, validateAttributeOptions } from './log-info.js';
import { validateLogTag } from './log-tag.js';
import { parseSize } from './json-file-writer.js';

export type FluentdAddress =
  { protocol: 'tcp' | 'tls'; host: string; port: number } | { protocol: 'unix'; path: string };

export interface FluentdConfig {
  address: FluentdAddress;
  /** Bytes of records waiting for the server before new lines are dropped. */
  bufferLimit: number;
  /** Wait before the first retry, in ms; later ones back off by 1.5× (fluent-logger-golang's rate). */
  retryWaitMs: number;
  maxRetries: number;
  async: boolean;
  /** 0: keep the connection as long as it works. */
  asyncReconnectIntervalMs: number;
  subSecondPrecision: boolean;
  requestAck: boolean;
  /** 0: none. */
  writeTimeoutMs: number;
  readTimeoutMs: number;
}

const DEFAULT_BUFFER_LIMIT = 1024 * 1024;
const DEFAULT_RETRY_WAIT_MS = 1000;
const MAX_INT32 = 2 ** 31 - 1;
const MIN_RECONNECT_INTERVAL_NS = 100e6;
const MAX_RECONNECT_INTERVAL_NS = 10e9;

const OPTIONS = new Set([
  ...ATTRIBUTE_OPTIONS,
  'fluentd-address',
  'fluentd-async',
  'fluentd-async-reconnect-interval',
  'fluentd-buffer-limit',
  'fluentd-max-retries',
  'fluentd-request-ack',
  'fluentd-retry-wait',
  'fluentd-sub-second-precision',
  'fluentd-write-timeout',
  'fluentd-read-timeout',
]);

function goValue<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof GoValueError) throw invalid(`invalid value for ${key}: ${err.message}`);
    throw err;
  }
}

function splitHostPort(authority: string): { host: string; port: string } {
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(authority);
  if (v6) return { host: v6[1]!, port: v6[2] ?? '' };
  const colon = authority.lastIndexOf(':');
  if (colon === -1) return { host: authority, port: '' };
  return { host: authority.slice(0, colon), port: authority.slice(colon + 1) };
}

/** dockerd's parseAddress: `host:port`, `tcp://host:port`, `tls://host:port` or `unix:///path`. */
export function parseFluentdAddress(raw: string | undefined): FluentdAddress {
  if (!raw) return { protocol: 'tcp', host: '127.0.0.1', port: 24224 };
  const fail = (why: string) => invalid(`invalid fluentd-address (${raw}): ${why}`);
  const address = raw.includes('://') ? raw : `tcp://${raw}`;
  const sep = address.indexOf('://');
  const scheme = address.slice(0, sep).toLowerCase();
  const rest = address.slice(sep + 3);
  if (scheme === 'unix') {
    const slash = rest.indexOf('/');
    const path = slash === -1 ? '' : rest.slice(slash);
    if (path.replace(/^\/+/, '') === '') throw fail('path is empty');
    return { protocol: 'unix', path };
  }
  if (scheme !== 'tcp' && scheme !== 'tls') throw fail(`unsupported scheme: '${scheme}'`);
  const slash = rest.search(/[/?#]/);
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  if (slash !== -1 && rest[slash] === '/') throw fail('should not contain a path element');
  const { host, port } = splitHostPort(authority.replace(/^[^@]*@/, ''));
  let portNum = 24224;
  if (port !== '') {
    try {
      portNum = goParseUint(port, 16);
    } catch (err) {
      throw fail(`invalid port: ${(err as Error).message}`);
    }
  }
  return { protocol: scheme, host: host || '127.0.0.1', port: portNum };
}

/** `dial tcp 127.0.0.1:24224` / `dial unix /path`: how errors name the server, as Go's net package does. */
export function describeAddress(a: FluentdAddress): string {
  if (a.protocol === 'unix') return `unix ${a.path}`;
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.protocol === 'tls' ? 'tcp' : a.protocol} ${host}:${a.port}`;
}

function durationMs(
  key: string,
  value: string | undefined,
  wrap: (err: string) => string,
): number | undefined {
  if (!value) return undefined;
  try {
    return goParseDuration(value) / 1e6;
  } catch (err) {
    throw invalid(wrap((err as Error).message));
  }
}

/** Checks every option (unknown keys refused with dockerd's message) and returns the configuration. */
export function parseFluentdOptions(opts: Record<string, string>): FluentdConfig {
  for (const key of Object.keys(opts)) {
    if (!OPTIONS.has(key)) throw invalid(`unknown log opt '${key}' for fluentd log driver`);
  }
  validateAttributeOptions(opts);
  if (opts['tag']) validateLogTag(opts['tag']);
  const address = parseFluentdAddress(opts['fluentd-address']);

  let bufferLimit = DEFAULT_BUFFER_LIMIT;
  const rawLimit = opts['fluentd-buffer-limit'];
  if (rawLimit) {
    const n = parseSize(rawLimit, false);
    if (n === undefined) throw invalid(`invalid value for fluentd-buffer-limit: invalid size: '${rawLimit}'`);
    bufferLimit = n;
  }

  const retryWaitMs =
    durationMs(
      'fluentd-retry-wait',
      opts['fluentd-retry-wait'],
      (e) => `invalid value for fluentd-retry-wait: ${e}`,
    ) ?? DEFAULT_RETRY_WAIT_MS;

  let maxRetries = MAX_INT32;
  const rawRetries = opts['fluentd-max-retries'];
  if (rawRetries) {
    const n = goValue('fluentd-max-retries', () => goParseUint(rawRetries, 32));
    if (n > MAX_INT32) throw invalid('invalid fluentd-max-retries: value out of range');
    maxRetries = n;
  }

  const bool = (key: string) => {
    const v = opts[key];
    return v ? goValue(key, () => goParseBool(v)) : false;
  };
  const async = bool('fluentd-async');

  let asyncReconnectIntervalMs = 0;
  const rawInterval = opts['fluentd-async-reconnect-interval'];
  if (rawInterval) {
    const ns = goValue('fluentd-async-reconnect-interval', () => goParseDuration(rawInterval));
    if (ns !== 0) {
      if (ns < MIN_RECONNECT_INTERVAL_NS || ns > MAX_RECONNECT_INTERVAL_NS) {
        throw invalid(
          `invalid value for fluentd-async-reconnect-interval: value ("${goFormatDuration(ns)}") must be between ${goFormatDuration(MIN_RECONNECT_INTERVAL_NS)} and ${goFormatDuration(MAX_RECONNECT_INTERVAL_NS)}`,
        );
      }
      asyncReconnectIntervalMs = ns / 1e6;
    }
  }

  const timeout = (key: string) => {
    const ms =
      durationMs(key, opts[key], (e) => `invalid value for ${key}: value must be a duration: ${e}`) ?? 0;
    if (ms < 0) throw invalid(`invalid value for ${key}: value must be a duration that is non-negative`);
    return ms;
  };

  return {
    address,
    bufferLimit,
    retryWaitMs,
    maxRetries,
    async,
    asyncReconnectIntervalMs,
    subSecondPrecision: bool('fluentd-sub-second-precision'),
    requestAck: bool('fluentd-request-ack'),
    writeTimeoutMs: timeout('fluentd-write-timeout'),
    readTimeoutMs: timeout('fluentd-read-timeout'),
  };
}
