// Dual logging (dockerd ≥ 20.10): a driver that cannot be read back (fluentd) also writes to a local-driver
// cache, so `docker logs` keeps working. Options: cache-disabled, cache-max-size, cache-max-file,
// cache-compress (defaults as the local driver: 20 MiB, 5 files, compressed).
import path from 'node:path';
import { invalid } from '../errors.js';
import { goParseBool, GoValueError } from './go-values.js';
import type { JsonFileOptions } from './json-file-writer.js';
import { parseLocalFileOptions } from './local-driver.js';
import type { LogDriver, LogMessage, RotatedLogFile } from './log-types.js';

export const CACHE_PREFIX = 'cache-';
const CACHE_OPTIONS = new Set(['cache-disabled', 'cache-max-size', 'cache-max-file', 'cache-compress']);

export function isCacheOption(key: string): boolean {
  return CACHE_OPTIONS.has(key);
}

/** <container dir>/container-cached.log, as dockerd. */
export function cacheLogPath(containerDir: string): string {
  return path.join(containerDir, 'container-cached.log');
}

/** Whether the cache is on (it is unless cache-disabled is true); throws on values dockerd refuses. */
export function cacheEnabled(opts: Record<string, string>): boolean {
  const v = opts['cache-disabled'];
  if (!v) return true;
  try {
    return !goParseBool(v);
  } catch (err) {
    if (err instanceof GoValueError) throw invalid(`invalid value for option cache-disabled: ${v}`);
    throw err;
  }
}

/** The cache file's rotation, from the cache-* options. */
export function parseCacheOptions(opts: Record<string, string>): JsonFileOptions {
  cacheEnabled(opts);
  return parseLocalFileOptions(opts, CACHE_PREFIX);
}

/** Every line goes to the remote driver and to the local cache; `docker logs` reads the cache. */
export class CachedDriver implements LogDriver {
  readonly readable = true;

  constructor(
    private readonly remote: LogDriver,
    private readonly cache: LogDriver,
  ) {}

  get name(): string {
    return this.remote.name;
  }

  get backlogBytes(): number {
    return (this.remote.backlogBytes ?? 0) + (this.cache.backlogBytes ?? 0);
  }

  start(): Promise<void> {
    return this.remote.start?.() ?? Promise.resolve();
  }

  log(msg: LogMessage): void {
    this.remote.log(msg);
    this.cache.log(msg);
  }

  onWrite(cb: () => void): () => void {
    return this.cache.onWrite?.(cb) ?? (() => undefined);
  }

  onRotate(cb: (next: RotatedLogFile) => void): () => void {
    return this.cache.onRotate?.(cb) ?? (() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.remote.close(), this.cache.close()]);
  }
}
