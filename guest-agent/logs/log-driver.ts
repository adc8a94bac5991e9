// Choosing and configuring a container's log driver from its LogConfig (Type + Config).
import { invalid } from '../errors.js';
import { log } from '../util/logger.js';
import { JsonFileLogger, parseJsonFileOptions, parseSize } from './json-file-writer.js';
import type { LogDriver, LogMessage } from './log-types.js';

// Options dockerd handles itself for every driver (daemon/logger's built-in log opts).
const MODE = 'mode';
const MAX_BUFFER_SIZE = 'max-buffer-size';
const DEFAULT_MAX_BUFFER_SIZE = 1024 * 1024;
const DROP_WARN_INTERVAL_MS = 10_000;

interface CommonOptions {
  nonBlocking: boolean;
  maxBufferSize: number;
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
  for (const [k, v] of Object.entries(opts)) if (k !== MODE && k !== MAX_BUFFER_SIZE) driverOpts[k] = v;
  return { nonBlocking: mode === 'non-blocking', maxBufferSize, driverOpts };
}

class NoneDriver implements LogDriver {
  readonly name = 'none';
  readonly readable = false;
  log(): void {}
  async close(): Promise<void> {}
}

/**
 * mode=non-blocking: the container never waits for the log file; when more than max-buffer-size bytes are
 * waiting to be written, new lines are dropped (as dockerd's ring buffer does).
 */
class NonBlockingDriver implements LogDriver {
  private dropped = 0;
  private lastWarnMs = 0;

  constructor(
    private readonly inner: JsonFileLogger,
    private readonly maxBytes: number,
  ) {}

  get name(): string {
    return this.inner.name;
  }
  get readable(): boolean {
    return this.inner.readable;
  }
  get backlogBytes(): number {
    return this.inner.backlogBytes;
  }

  log(msg: LogMessage): void {
    if (this.inner.backlogBytes + msg.line.length > this.maxBytes) {
      this.dropped++;
      const now = Date.now();
      if (now - this.lastWarnMs >= DROP_WARN_INTERVAL_MS) {
        this.lastWarnMs = now;
        log.warn('log buffer full, dropping container log lines (mode=non-blocking)', {
          path: this.inner.logPath,
          dropped: this.dropped,
        });
        this.dropped = 0;
      }
      return;
    }
    this.inner.log(msg);
  }

  onWrite(cb: () => void): () => void {
    return this.inner.onWrite(cb);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function checkType(type: string): void {
  if (type !== 'json-file' && type !== 'none') throw invalid(`logging driver "${type}" is not supported yet`);
}

/** At container create: the same checks as createLogDriver, without opening anything. */
export function validateLogConfig(type: string, opts: Record<string, string>): void {
  checkType(type);
  // Like dockerd, 'none' takes any options.
  if (type === 'none') return;
  const common = parseCommonOptions(opts);
  parseJsonFileOptions(common.driverOpts);
}

/**
 * The driver for a container start. `type` is the container's LogConfig.Type, already resolved to the daemon's
 * default when empty. For json-file the returned driver has onWrite() (for readJsonFileLogs' source).
 */
export function createLogDriver(
  type: string,
  opts: Record<string, string>,
  info: { containerId: string; logPath: string },
): LogDriver {
  checkType(type);
  if (type === 'none') return new NoneDriver();
  const common = parseCommonOptions(opts);
  const logger = new JsonFileLogger(info.logPath, parseJsonFileOptions(common.driverOpts));
  return common.nonBlocking ? new NonBlockingDriver(logger, common.maxBufferSize) : logger;
}
