// The json-file log driver's writing side, in dockerd's on-disk format: one JSON object per line in
// <id>-json.log, rotated by size into <id>-json.log.1 … (optionally gzipped to .N.gz).
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  constants as fsc,
  openSync,
} from 'node:fs';
import { isUtf8 } from 'node:buffer';
import * as fs from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { invalid } from '../errors.js';
import { log } from '../util/logger.js';
import { goJsonObject } from './go-json.js';
import { ATTRIBUTE_OPTIONS, validateAttributeOptions } from './log-info.js';
import { validateLogTag } from './log-tag.js';
import type { LogAttr, LogDriver, LogMessage, RotatedLogFile } from './log-types.js';
import { formatRfc3339Nano } from './timestamp.js';
import { unwritten } from '../util/unwritten.js';

const fsWritev = promisify(fs.writev);
const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);

export interface JsonFileOptions {
  maxSize?: number;
  maxFile?: number;
  compress?: boolean;
  /** Written as every entry's "attrs" (labels, env, tag), sorted by key. */
  attrs?: LogAttr[];
}

const SIZE = /^(\d+(?:\.\d*)?|\.\d+) ?([kmgtp](?:b|ib)?|b)?$/i;
const UNIT_POWER: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/**
 * A human size as docker's go-units reads it: "10m", "1.5 GB", "512kib", "100". decimal=true is FromHumanSize
 * (k = 1000, what max-size uses), false is RAMInBytes (k = 1024). The "i" never changes the base.
 */
export function parseSize(value: string, decimal: boolean): number | undefined {
  const m = SIZE.exec(value);
  if (!m) return undefined;
  const num = Number(m[1]);
  const unit = m[2]?.[0]?.toLowerCase();
  const power = unit === undefined || unit === 'b' ? 0 : (UNIT_POWER[unit] ?? 0);
  return Math.trunc(num * (decimal ? 1000 : 1024) ** power);
}

const TRUE_VALUES = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_VALUES = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool. */
export function parseGoBool(value: string): boolean | undefined {
  if (TRUE_VALUES.has(value)) return true;
  if (FALSE_VALUES.has(value)) return false;
  return undefined;
}

export function parseJsonFileOptions(opts: Record<string, string>): JsonFileOptions {
  for (const k of Object.keys(opts)) {
    if (k === 'max-size' || k === 'max-file' || k === 'compress' || ATTRIBUTE_OPTIONS.includes(k)) continue;
    throw invalid(`unknown log opt '${k}' for json-file log driver`);
  }
  validateAttributeOptions(opts);
  if (opts['tag']) validateLogTag(opts['tag']);
  const out: JsonFileOptions = {};
  const maxSize = opts['max-size'];
  if (maxSize !== undefined) {
    const n = parseSize(maxSize, true);
    if (n === undefined) {
      throw invalid(
        `invalid value for max-size: invalid size: '${maxSize}' (use a number with an optional unit k, m or g, e.g. 10m)`,
      );
    }
    if (n <= 0) throw invalid('invalid value for max-size: max-size must be a positive number');
    out.maxSize = n;
  }
  const maxFile = opts['max-file'];
  if (maxFile !== undefined) {
    if (!/^[+-]?\d+$/.test(maxFile))
      throw invalid(`invalid value for max-file: '${maxFile}' is not a whole number`);
    const n = Number(maxFile);
    if (n < 1) throw invalid('invalid value for max-file: max-file cannot be less than 1');
    out.maxFile = n;
  }
  const compress = opts['compress'];
  if (compress !== undefined) {
    const b = parseGoBool(compress);
    if (b === undefined) throw invalid(`invalid value for compress: '${compress}' (use true or false)`);
    if (b && ((out.maxFile ?? 1) < 2 || out.maxSize === undefined)) {
      throw invalid('compress cannot be true when max-file is less than 2 or max-size is not set');
    }
    out.compress = b;
  }
  return out;
}

// ---- the line format --------------------------------------------------------------------------------

// JSON escapes for ASCII bytes, as dockerd writes them (Go's encoding/json with HTML escaping; only \n and \r
// get short forms, so a tab is \u0009).
const ASCII_ESCAPES: (Buffer | undefined)[] = [];
for (let b = 0; b < 0x80; b++) {
  let e: string | undefined;
  if (b === 0x22) e = '\\"';
  else if (b === 0x5c) e = '\\\\';
  else if (b === 0x0a) e = '\\n';
  else if (b === 0x0d) e = '\\r';
  else if (b < 0x20 || b === 0x3c || b === 0x3e || b === 0x26) e = `\\u00${b.toString(16).padStart(2, '0')}`;
  ASCII_ESCAPES.push(e === undefined ? undefined : Buffer.from(e));
}
const REPLACEMENT = Buffer.from('\\ufffd');
const LINE_SEP = Buffer.from('\\u2028');
const PARA_SEP = Buffer.from('\\u2029');
const HEAD_LOG = Buffer.from('{"log":"');
const HEAD_STREAM = Buffer.from('{"stream":"');
const LOG_TO_STREAM = Buffer.from('","stream":"');
const PLAIN_STREAM_PARTS = { stdout: Buffer.from('stdout",'), stderr: Buffer.from('stderr",') };

/** What follows "stream":" up to "time": the stream's name, and the attrs when there are any. */
export type StreamParts = Record<'stdout' | 'stderr', Buffer>;

/** The stream parts for entries carrying `attrs` ({"log":…,"stream":…,"attrs":{…},"time":…} as dockerd). */
export function streamPartsWithAttrs(attrs: LogAttr[] | undefined): StreamParts {
  if (!attrs || attrs.length === 0) return PLAIN_STREAM_PARTS;
  const json = goJsonObject(attrs);
  return {
    stdout: Buffer.from(`stdout","attrs":${json},`),
    stderr: Buffer.from(`stderr","attrs":${json},`),
  };
}

/** Length of the valid UTF-8 sequence starting at s[i] (a non-ASCII byte), or 0 if it is invalid (Go's rules). */
function utf8SeqLen(s: Buffer, i: number): number {
  const b0 = s[i]!;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < s.length && s[j]! >= lo && s[j]! <= hi;
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  if (b0 < 0xe0) return cont(i + 1) ? 2 : 0;
  if (b0 < 0xf0) {
    const ok = cont(i + 1, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf) && cont(i + 2);
    return ok ? 3 : 0;
  }
  const ok = cont(i + 1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf) && cont(i + 2) && cont(i + 3);
  return ok ? 4 : 0;
}

// Bytes that may need an escape; the scan runs natively over the line read as latin1 (one char per byte).
const MAYBE_ESCAPED = /[\x00-\x1f"\\<>&\x80-\xff]/g;

/**
 * One json-file line: {"log":"…","stream":"stdout","time":"…"}\n ("log" omitted when empty, like dockerd),
 * with "attrs" before "time" when `streamParts` carry them.
 */
export function encodeJsonLogEntry(msg: LogMessage, streamParts: StreamParts = PLAIN_STREAM_PARTS): Buffer {
  const line = msg.line;
  const streamPart = streamParts[msg.stream];
  const tail = `"time":"${formatRfc3339Nano(msg.timeNs)}"}\n`;
  if (line.length === 0) {
    const out = Buffer.allocUnsafe(HEAD_STREAM.length + streamPart.length + tail.length);
    let o = HEAD_STREAM.copy(out, 0);
    o += streamPart.copy(out, o);
    out.write(tail, o, 'latin1');
    return out;
  }
  // Where escapes go: at cuts[2k] an escape replaces cuts[2k+1] input bytes with escapes[k].
  const cuts: number[] = [];
  const escapes: Buffer[] = [];
  let growth = 0;
  const text = line.toString('latin1');
  MAYBE_ESCAPED.lastIndex = 0;
  for (let m = MAYBE_ESCAPED.exec(text); m !== null; m = MAYBE_ESCAPED.exec(text)) {
    const i = m.index;
    const b = line[i]!;
    let esc: Buffer | undefined;
    let size = 1;
    if (b < 0x80) {
      esc = ASCII_ESCAPES[b];
    } else {
      // Each invalid UTF-8 byte becomes \ufffd, as in dockerd; U+2028/U+2029 are escaped.
      size = utf8SeqLen(line, i);
      if (size === 0) {
        esc = REPLACEMENT;
        size = 1;
      } else if (
        size === 3 &&
        b === 0xe2 &&
        line[i + 1] === 0x80 &&
        (line[i + 2] === 0xa8 || line[i + 2] === 0xa9)
      ) {
        esc = line[i + 2] === 0xa8 ? LINE_SEP : PARA_SEP;
      }
    }
    if (esc !== undefined) {
      cuts.push(i, size);
      escapes.push(esc);
      growth += esc.length - size;
    }
    MAYBE_ESCAPED.lastIndex = i + size;
  }
  const out = Buffer.allocUnsafe(
    HEAD_LOG.length + line.length + growth + LOG_TO_STREAM.length + streamPart.length + tail.length,
  );
  let o = HEAD_LOG.copy(out, 0);
  let start = 0;
  for (let k = 0; k < escapes.length; k++) {
    const at = cuts[2 * k]!;
    o += line.copy(out, o, start, at);
    o += escapes[k]!.copy(out, o);
    start = at + cuts[2 * k + 1]!;
  }
  o += line.copy(out, o, start);
  o += LOG_TO_STREAM.copy(out, o);
  o += streamPart.copy(out, o);
  out.write(tail, o, 'latin1');
  return out;
}

// ---- many lines at once -------------------------------------------------------------------------------

// The log path must cost per chunk, not per line or per byte of JavaScript: the engine runs V8 without its
// optimizing tiers (bin/berth-engine), where even a regular expression runs in an interpreter. So a run of
// lines is encoded by native string operations: JSON.stringify does the escapes it shares with dockerd's
// writer; what dockerd writes differently (\u0009 for a tab, HTML characters, U+2028/9) and the line ends are
// swapped for sentinels first, characters above U+00FF that a one-char-per-byte string cannot otherwise hold
// and that JSON.stringify leaves alone.
const LINE_END_SENTINEL = '\uffff';
/** What dockerd escapes otherwise than JSON.stringify: the raw text, its sentinel, dockerd's escape, and
 * what JSON.stringify makes of it. */
const DOCKERD_ESCAPES: ReadonlyArray<
  readonly [raw: string, sentinel: string, escape: string, stringified: string]
> = [
  ['\t', '\ufff0', '\\u0009', '\\t'],
  ['\b', '\ufff1', '\\u0008', '\\b'],
  ['\f', '\ufff2', '\\u000c', '\\f'],
  ['<', '\ufff3', '\\u003c', '<'],
  ['>', '\ufff4', '\\u003e', '>'],
  ['&', '\ufff5', '\\u0026', '&'],
  ['\xe2\x80\xa8', '\ufff6', '\\u2028', '\xe2\x80\xa8'],
  ['\xe2\x80\xa9', '\ufff7', '\\u2029', '\xe2\x80\xa9'],
];

// Invalid UTF-8 (rare): every byte that may need an escape, a whole valid sequence matching as one (kept,
// unless U+2028/U+2029) and an invalid byte alone (→ \ufffd), by Go's rules.
const ESCAPE_IN_LINES =
  /[\x00-\x09\x0b-\x1f"\\<>&]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}|[\x80-\xff]/g;
const ASCII_ESCAPE_TEXT = ASCII_ESCAPES.map((e) => e?.toString('latin1'));

function escapeInLines(m: string): string {
  if (m.length > 1) return m === '\xe2\x80\xa8' ? '\\u2028' : m === '\xe2\x80\xa9' ? '\\u2029' : m;
  const b = m.charCodeAt(0);
  return b < 0x80 ? ASCII_ESCAPE_TEXT[b]! : '\\ufffd';
}

/** The escaped content of the lines, and what each line's '\n' became in it. */
function escapeLines(lines: Buffer, latin1: string): [text: string, lineEnd: string] {
  if (!isUtf8(lines)) {
    ESCAPE_IN_LINES.lastIndex = 0;
    return [latin1.replace(ESCAPE_IN_LINES, escapeInLines), '\n'];
  }
  const used = DOCKERD_ESCAPES.filter(([raw]) => latin1.includes(raw));
  if (!latin1.includes('\\')) {
    // No backslash in the content: every backslash JSON.stringify writes starts an escape of its own, so its
    // \n, \t, \b, \f can be found and changed afterwards, and the string stays one byte per char (faster).
    let text = JSON.stringify(latin1).slice(1, -1);
    for (const [, , escape, stringified] of used) text = text.replaceAll(stringified, escape);
    return [text, '\\n'];
  }
  let text = latin1.replaceAll('\n', LINE_END_SENTINEL);
  for (const [raw, sentinel] of used) text = text.replaceAll(raw, sentinel);
  text = JSON.stringify(text).slice(1, -1);
  for (const [, sentinel, escape] of used) text = text.replaceAll(sentinel, escape);
  return [text, LINE_END_SENTINEL];
}

/**
 * json-file entries for a run of complete lines (each ending '\n', none split), all stamped `timeNs`: the same
 * bytes as encodeJsonLogEntry line by line. `latin1` is `lines` read one char per byte.
 */
export function encodeJsonLogLines(
  lines: Buffer,
  latin1: string,
  stream: 'stdout' | 'stderr',
  timeNs: bigint,
  streamParts: StreamParts = PLAIN_STREAM_PARTS,
): Buffer {
  const tail = `\\n","stream":"${streamParts[stream].toString('latin1')}"time":"${formatRfc3339Nano(timeNs)}"}\n`;
  const [text, lineEnd] = escapeLines(lines, latin1);
  const body = text.replaceAll(lineEnd, `${tail}{"log":"`);
  // Every line end closes an entry and opens the next; the last opens nothing.
  return Buffer.from(`{"log":"${body.slice(0, body.length - '{"log":"'.length)}`, 'latin1');
}

// ---- gzip of rotated files ----------------------------------------------------------------------------

/**
 * Rewrites a gzip stream's 10-byte header to carry an Extra field, as Go's gzip writer does for dockerd's
 * {"lastTime":…}: readers skip whole files older than --since without decompressing them.
 */
function gzipHeaderExtra(extra: Buffer): Transform {
  let head: Buffer | undefined = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (head === undefined) return cb(null, chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < 10) return cb();
      const out = Buffer.alloc(head.length + 2 + extra.length);
      head.copy(out, 0, 0, 10);
      out[3] = out[3]! | 0x04; // FLG.FEXTRA
      out[9] = 0xff; // OS "unknown", as Go writes
      out.writeUInt16LE(extra.length, 10);
      extra.copy(out, 12);
      head.copy(out, 12 + extra.length, 10);
      head = undefined;
      cb(null, out);
    },
    flush(cb) {
      cb(head !== undefined && head.length > 0 ? new Error('gzip stream ended inside its header') : null);
    },
  });
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** file → file.gz (mode 0640), then file is removed; a failed attempt leaves file and no .gz. */
async function compressRotatedFile(file: string, lastTimeNs: bigint | undefined): Promise<void> {
  const extra = Buffer.from(
    JSON.stringify({ lastTime: lastTimeNs === undefined ? ZERO_TIME : formatRfc3339Nano(lastTimeNs) }),
  );
  try {
    await pipeline(
      createReadStream(file),
      createGzip(),
      gzipHeaderExtra(extra),
      createWriteStream(`${file}.gz`, { mode: 0o640 }),
    );
  } catch (err) {
    await unlink(`${file}.gz`).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await unlink(file);
}

// ---- the logger -------------------------------------------------------------------------------------------

const MAX_WRITE = 1 << 20;
const MAX_WRITE_ENTRIES = 1024; // below IOV_MAX
const WARN_INTERVAL_MS = 10_000;

interface Entry {
  data: Buffer;
  timeNs: bigint;
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export class JsonFileLogger implements LogDriver {
  readonly name: string = 'json-file';
  readonly readable = true;
  private readonly streamParts: StreamParts;
  private readonly maxSize: number | undefined;
  private readonly maxFile: number;
  private readonly compress: boolean;
  private fd: number | undefined;
  private size: number;
  private queue: Entry[] = [];
  private queued = 0;
  private draining: Promise<void> | undefined;
  private compressing: Promise<void> | undefined;
  private lastWrittenNs: bigint | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly rotationListeners = new Set<(next: RotatedLogFile) => void>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private dropped = 0;
  private lastWarnMs = 0;

  /** Opens (creating, mode 0640) and appends to logPath; throws if it cannot be opened. */
  constructor(
    readonly logPath: string,
    opts: JsonFileOptions,
  ) {
    this.maxSize = opts.maxSize;
    this.maxFile = Math.max(1, opts.maxFile ?? 1);
    this.compress = (opts.compress ?? false) && this.maxFile > 1 && this.maxSize !== undefined;
    this.streamParts = streamPartsWithAttrs(opts.attrs);
    this.fd = openSync(logPath, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Bytes accepted but not yet written. */
  get backlogBytes(): number {
    return this.queued;
  }

  log(msg: LogMessage): void {
    if (this.closed) {
      this.drop(1, new Error('the log file is closed'));
      return;
    }
    try {
      const data = encodeJsonLogEntry(msg, this.streamParts);
      this.queue.push({ data, timeNs: msg.timeNs });
      this.queued += data.length;
      this.draining ??= this.drain();
    } catch (err) {
      this.drop(1, err);
    }
  }

  logLines(stream: 'stdout' | 'stderr', lines: Buffer, latin1: string, timeNs: bigint): void {
    if (this.closed) {
      this.drop(1, new Error('the log file is closed'));
      return;
    }
    try {
      const data = encodeJsonLogLines(lines, latin1, stream, timeNs, this.streamParts);
      this.queue.push({ data, timeNs });
      this.queued += data.length;
      this.draining ??= this.drain();
    } catch (err) {
      this.drop(1, err);
    }
  }

  /** cb runs after lines reach the file and after each rotation; returns the unsubscribe function. */
  onWrite(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  onRotate(cb: (next: RotatedLogFile) => void): () => void {
    this.rotationListeners.add(cb);
    return () => this.rotationListeners.delete(cb);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await this.draining;
      await this.compressing;
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      this.notify();
    })();
    return this.closing;
  }

  // One writer loop at a time; `draining` is cleared in the same tick as the last empty-queue check, so a
  // log() right after always starts a new loop.
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        let i = 0;
        while (i < batch.length) {
          // dockerd's rule: before a write, rotate if the file has reached max-size.
          if (this.maxSize !== undefined && this.size >= this.maxSize) await this.rotate();
          const parts: Buffer[] = [];
          let n = 0;
          let lastNs: bigint | undefined;
          while (
            i < batch.length &&
            (parts.length === 0 ||
              ((this.maxSize === undefined || this.size + n < this.maxSize) &&
                n < MAX_WRITE &&
                parts.length < MAX_WRITE_ENTRIES))
          ) {
            let e = batch[i++]!;
            if (this.maxSize !== undefined && this.size + n + e.data.length > this.maxSize) {
              // Entries of several lines: up to the line that reaches max-size, the rest after the
              // rotation, so files end where line-by-line writing would have rotated them.
              const cut = e.data.indexOf(0x0a, Math.max(0, this.maxSize - this.size - n - 1)) + 1;
              if (cut > 0 && cut < e.data.length) {
                batch[--i] = { data: e.data.subarray(cut), timeNs: e.timeNs };
                e = { data: e.data.subarray(0, cut), timeNs: e.timeNs };
              }
            }
            parts.push(e.data);
            n += e.data.length;
            lastNs = e.timeNs;
          }
          try {
            await this.writeAll(parts, n);
            this.size += n;
            this.lastWrittenNs = lastNs;
          } catch (err) {
            this.drop(parts.length, err);
          }
          this.queued -= n;
          this.notify();
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  private async writeAll(parts: Buffer[], total: number): Promise<void> {
    if (this.fd === undefined) await this.reopen(false);
    let bufs = parts;
    for (;;) {
      const { bytesWritten } = await fsWritev(this.fd!, bufs);
      total -= bytesWritten;
      if (total <= 0) return;
      // Short write: continue after the bytes that made it.
      bufs = unwritten(bufs, bytesWritten);
    }
  }

  private async reopen(truncate: boolean): Promise<void> {
    const flags = fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | (truncate ? fsc.O_TRUNC : 0);
    this.fd = await fsOpen(this.logPath, flags, 0o640);
    this.size = truncate ? 0 : fstatSync(this.fd).size;
  }

  private async rotate(): Promise<void> {
    // Like dockerd, the next rotation waits for the previous file's compression (it renames .gz files).
    await this.compressing;
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      await fsClose(fd).catch(() => undefined);
    }
    const p = this.logPath;
    let rotated = false;
    try {
      if (this.maxFile < 2) {
        // Readers may still be reading the old file, so it is unlinked, not truncated.
        await unlinkIfExists(p);
      } else {
        const ext = this.compress ? '.gz' : '';
        await unlinkIfExists(`${p}.${this.maxFile - 1}${ext}`);
        for (let i = this.maxFile - 1; i > 1; i--)
          await renameIfExists(`${p}.${i - 1}${ext}`, `${p}.${i}${ext}`);
        await renameIfExists(p, `${p}.1`);
        rotated = true;
      }
    } catch (err) {
      log.warn('error rotating log file, log data may have been lost', { path: p, error: String(err) });
    }
    // Truncate anyway in case the rotation did not go as planned: the size limit holds regardless.
    try {
      await this.reopen(true);
      this.handOver(p);
    } catch (err) {
      log.error('cannot reopen the container log file after rotation', { path: p, error: String(err) });
    }
    if (rotated && this.compress) {
      this.compressing = compressRotatedFile(`${p}.1`, this.lastWrittenNs).catch((err: unknown) => {
        log.error('error compressing log file after rotation', { path: `${p}.1`, error: String(err) });
      });
    }
    this.lastWrittenNs = undefined;
    this.notify();
  }

  /** Followers get the new file before it holds a byte (synchronously: no write can come first). */
  private handOver(file: string): void {
    for (const cb of this.rotationListeners) {
      let fd: number | undefined;
      try {
        fd = openSync(file, fsc.O_RDONLY);
        cb({ fd, ino: fstatSync(fd).ino });
      } catch (err) {
        if (fd !== undefined) closeSync(fd);
        log.warn('cannot hand the new log file to a follower', { path: file, error: String(err) });
      }
    }
  }

  private notify(): void {
    for (const cb of this.listeners) {
      try {
        cb();
      } catch (err) {
        log.warn('log write listener failed', { error: String(err) });
      }
    }
  }

  // Losing log lines must be visible in the engine's log, but not one warning per line.
  private drop(count: number, err: unknown): void {
    this.dropped += count;
    const now = Date.now();
    if (now - this.lastWarnMs < WARN_INTERVAL_MS) return;
    this.lastWarnMs = now;
    log.warn('container log lines dropped', {
      path: this.logPath,
      dropped: this.dropped,
      error: String(err),
    });
    this.dropped = 0;
  }
}
