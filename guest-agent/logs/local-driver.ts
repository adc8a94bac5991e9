// The `local` log driver: dockerd's default-file-driver semantics (rotated, compressed: 20 MiB × 5 files
// by default) in Berth's own storage. Berth stores it in the same line format as json-file — one JSON
// object per line, written by the same batched writer and read back by the same streaming reader, so
// --tail reads a few blocks from the end however large the file — but, as in dockerd, the files are the
// engine's business: they live in <container>/local-logs/ and no LogPath points at them.
import path from 'node:path';
import { invalid } from '../errors.js';
import { goAtoi, goParseBool, GoValueError } from './go-values.js';
import { JsonFileLogger, parseSize, type JsonFileOptions } from './json-file-writer.js';
import { ATTRIBUTE_OPTIONS, validateAttributeOptions } from './log-info.js';
import { validateLogTag } from './log-tag.js';

export const LOCAL_DEFAULT_MAX_SIZE = 20 * 1024 * 1024;
export const LOCAL_DEFAULT_MAX_FILE = 5;

const OPTIONS = new Set(['max-size', 'max-file', 'compress', ...ATTRIBUTE_OPTIONS]);

/** <container dir>/local-logs/container.log, as dockerd. */
export function localLogPath(containerDir: string): string {
  return path.join(containerDir, 'local-logs', 'container.log');
}

/** The rotation settings of a local-driver file (also the dual-logging cache's, from its cache-* options). */
export function parseLocalFileOptions(opts: Record<string, string>, prefix = ''): JsonFileOptions {
  let maxSize = LOCAL_DEFAULT_MAX_SIZE;
  let maxFile = LOCAL_DEFAULT_MAX_FILE;
  let compress = true;
  const size = opts[`${prefix}max-size`];
  if (size !== undefined) {
    const n = parseSize(size, true);
    if (n === undefined)
      throw invalid(`invalid value for ${prefix}max-size: ${size}: invalid size: '${size}'`);
    maxSize = n;
  }
  const files = opts[`${prefix}max-file`];
  if (files !== undefined) {
    try {
      maxFile = goAtoi(files);
    } catch (err) {
      throw invalid(`invalid value for ${prefix}max-file: ${files}: ${(err as GoValueError).message}`);
    }
  }
  const comp = opts[`${prefix}compress`];
  if (comp !== undefined) {
    try {
      compress = goParseBool(comp);
    } catch (err) {
      throw invalid(`invalid boolean value for ${prefix}compress: ${(err as GoValueError).message}`);
    }
  }
  if (maxSize < 0) throw invalid(`${prefix}max-size must not be negative`);
  if (maxFile < 0) throw invalid(`${prefix}max-file must not be negative`);
  if (compress && maxFile <= 1) throw invalid('compression cannot be enabled when max file count is 1');
  // max-size 0 means no rotation by size; max-file 0 keeps the one file.
  return { maxSize: maxSize > 0 ? maxSize : undefined, maxFile: Math.max(1, maxFile), compress };
}

export function parseLocalOptions(opts: Record<string, string>): JsonFileOptions {
  for (const key of Object.keys(opts)) {
    if (!OPTIONS.has(key)) throw invalid(`unknown log opt '${key}' for log driver local`);
  }
  validateAttributeOptions(opts);
  if (opts['tag']) validateLogTag(opts['tag']);
  return parseLocalFileOptions(opts);
}

export class LocalLogger extends JsonFileLogger {
  override readonly name: string = 'local';
}
