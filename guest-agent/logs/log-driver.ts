// Choosing and configuring a container's log driver from its LogConfig (Type + Config).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { invalid } from '../errors.js';
import { log } from '../util/logger.js';
import { LOG_DRIVERS } from '../../common/daemon-directives.js';
import { FluentdDriver } from './fluentd-driver.js';
import { SyslogDriver } from './syslog-driver.js';
import { parseSyslogOptions } from './syslog-options.js';
import { parseFluentdOptions } from './fluentd-options.js';
import { JsonFileLogger, parseJsonFileOptions, parseSize } from './json-file-writer.js';
import { LocalLogger, localLogPath, parseLocalOptions } from './local-driver.js';
import { CachedDriver, cacheEnabled, cacheLogPath, isCacheOption, parseCacheOptions } from './log-cache.js';
import { extraAttributes, sortedAttrs, type ContainerLogInfo } from './log-info.js';
import { renderLogTag } from './log-tag.js';
import type { LogAttr, LogDriver, LogMessage, RotatedLogFile } from './log-types.js';

// Options dockerd handles itself for every driver (daemon/logger's built-in log opts).
const MODE = 'mode';
const MAX_BUFFER_SIZE = 'max-buffer-size';
const DEFAULT_MAX_BUFFER_SIZE = 1024 * 1024;
const DROP_WARN_INTERVAL_MS = 10_000;

interface CommonOptions {
  nonBlocking: boolean;
  maxBufferSize: number;
  /** The cache-* options (dual logging). */
  cacheOpts: Record<string, string>;
  driverOpts: Record<string, string>;
}

function parseCommonOptions(opts: Record<string, string>): CommonOptions {
  const mode = opts[MODE] ?? '';
  if (mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') {
    throw invalid(`logger: logging mode not supported: ${mode} (use blocking or non-blocking)`);
  }
  let maxBufferSize = DEFAULT_MAX_BUFFER_SIZE;
  const rawSize = opts[MAX_BUFFER_SIZE];
  if (rawSize !== undefined) {
    if (mode !== 'non-blocking') {
      throw invalid(`logger: max-buffer-size option is only supported with 'mode=non-blocking'`);
    }
    const n = parseSize(rawSize, false);
    if (n === undefined) {
      throw invalid(`error parsing option max-buffer-size: invalid size: '${rawSize}' (e.g. 4m or 512k)`);
    }
    maxBufferSize = n;
  }
  const driverOpts: Record<string, string> = {};
  const cacheOpts: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (k === MODE || k === MAX_BUFFER_SIZE) continue;
    if (isCacheOption(k)) cacheOpts[k] = v;
    else driverOpts[k] = v;
  }
  parseCacheOptions(cacheOpts);
  return { nonBlocking: mode === 'non-blocking', maxBufferSize, cacheOpts, driverOpts };
}

class NoneDriver implements LogDriver {
  readonly name = 'none';
  readonly readable = false;
  log(): void {}
  async close(): Promise<void> {}
}

/**
 * mode=non-blocking: the container never waits for its log driver; when more than max-buffer-size bytes
 * are waiting to be stored or sent, new lines are dropped (as dockerd's ring buffer does).
 */
class NonBlockingDriver implements LogDriver {
  private dropped = 0;
  private lastWarnMs = 0;

  constructor(
    private readonly inner: LogDriver,
    private readonly maxBytes: number,
  ) {}

  get name(): string {
    return this.inner.name;
  }
  get readable(): boolean {
    return this.inner.readable;
  }
  get backlogBytes(): number {
    return this.inner.backlogBytes ?? 0;
  }

  start(): Promise<void> {
    return this.inner.start?.() ?? Promise.resolve();
  }

  log(msg: LogMessage): void {
    if (this.backlogBytes + msg.line.length > this.maxBytes) {
      this.dropped++;
      const now = Date.now();
      if (now - this.lastWarnMs >= DROP_WARN_INTERVAL_MS) {
        this.lastWarnMs = now;
        log.warn('log buffer full, dropping container log lines (mode=non-blocking)', {
          driver: this.inner.name,
          dropped: this.dropped,
        });
        this.dropped = 0;
      }
      return;
    }
    this.inner.log(msg);
  }

  onWrite(cb: () => void): () => void {
    return this.inner.onWrite?.(cb) ?? (() => undefined);
  }

  onRotate(cb: (next: RotatedLogFile) => void): () => void {
    return this.inner.onRotate?.(cb) ?? (() => undefined);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function checkType(type: string): void {
  if (!(LOG_DRIVERS as readonly string[]).includes(type))
    throw invalid(`logger: no log driver named '${type}' is registered`);
}

/** At container create (and for the engine's defaults): every check a start would make, opening nothing. */
export function validateLogConfig(type: string, opts: Record<string, string>): void {
  checkType(type);
  // Like dockerd, 'none' takes any options.
  if (type === 'none') return;
  const { driverOpts } = parseCommonOptions(opts);
  if (type === 'json-file') parseJsonFileOptions(driverOpts);
  else if (type === 'local') parseLocalOptions(driverOpts);
  else if (type === 'syslog') parseSyslogOptions(driverOpts, false);
  else parseFluentdOptions(driverOpts);
}

export interface LogDriverContext {
  containerId: string;
  /** json-file's <container dir>/<id>-json.log; the other drivers keep their files beside it. */
  logPath: string;
  /** For attributes, tags and fluentd's records; without it only the id is known. */
  container?: ContainerLogInfo;
}

function containerInfo(ctx: LogDriverContext): ContainerLogInfo {
  return (
    ctx.container ?? {
      id: ctx.containerId,
      name: '',
      imageId: '',
      imageName: '',
      entrypoint: '',
      args: [],
      env: [],
      labels: {},
    }
  );
}

/** The attrs a file driver writes with each entry: labels/env picks and, when asked for, the tag. */
function fileAttrs(opts: Record<string, string>, info: ContainerLogInfo): LogAttr[] {
  const attrs = extraAttributes(opts, info);
  if (opts['tag']) {
    const tag = renderLogTag(opts, info, '');
    if (tag !== '') attrs.set('tag', tag);
  }
  return sortedAttrs(attrs);
}

function openLocalFile(
  file: string,
  opts: ReturnType<typeof parseLocalOptions>,
  attrs: LogAttr[],
): LocalLogger {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  return new LocalLogger(file, { ...opts, attrs });
}

/**
 * The driver for a container start, started (fluentd connected unless fluentd-async). `type` is the
 * container's LogConfig.Type, already resolved to the daemon's default when empty.
 */
export async function createLogDriver(
  type: string,
  opts: Record<string, string>,
  ctx: LogDriverContext,
): Promise<LogDriver> {
  checkType(type);
  if (type === 'none') return new NoneDriver();
  const common = parseCommonOptions(opts);
  const info = containerInfo(ctx);
  const dir = path.dirname(ctx.logPath);
  const attrs = fileAttrs(common.driverOpts, info);
  let driver: LogDriver;
  if (type === 'json-file') {
    driver = new JsonFileLogger(ctx.logPath, { ...parseJsonFileOptions(common.driverOpts), attrs });
  } else if (type === 'local') {
    driver = openLocalFile(localLogPath(dir), parseLocalOptions(common.driverOpts), attrs);
  } else {
    const remote =
      type === 'syslog'
        ? new SyslogDriver(parseSyslogOptions(common.driverOpts), common.driverOpts, info)
        : new FluentdDriver(parseFluentdOptions(common.driverOpts), common.driverOpts, info);
    driver = cacheEnabled(common.cacheOpts)
      ? new CachedDriver(remote, openLocalFile(cacheLogPath(dir), parseCacheOptions(common.cacheOpts), attrs))
      : remote;
  }
  if (common.nonBlocking) driver = new NonBlockingDriver(driver, common.maxBufferSize);
  try {
    await driver.start?.();
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
  return driver;
}

/** The file `docker logs` reads for this LogConfig, or undefined when the driver keeps nothing readable. */
export function readableLogPath(
  type: string,
  opts: Record<string, string>,
  logPath: string,
): string | undefined {
  const dir = path.dirname(logPath);
  if (type === 'json-file') return logPath;
  if (type === 'local') return localLogPath(dir);
  if (type === 'fluentd' || type === 'syslog') {
    try {
      return cacheEnabled(opts) ? cacheLogPath(dir) : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/**
 * A container's LogConfig at create, as dockerd's mergeAndVerifyLogConfig: no type means the engine's
 * default; the default's options apply when the type is the default's, and its cache-* options always.
 */
export function resolveLogConfig(requested: Partial<LogConfig> | undefined, defaults: LogConfig): LogConfig {
  const type = requested?.Type || defaults.Type;
  const config: Record<string, string> = { ...(requested?.Config ?? {}) };
  for (const [k, v] of Object.entries(defaults.Config)) {
    if (k in config) continue;
    if (type === defaults.Type || isCacheOption(k)) config[k] = v;
  }
  validateLogConfig(type, config);
  return { Type: type, Config: config };
}
