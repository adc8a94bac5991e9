// The json-file log driver's reading side: `docker logs` (all, --tail, --since/--until, -f) over the current
// file and its rotated (possibly gzipped) predecessors.
import * as fs from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { basename, dirname } from 'node:path';
import { createGunzip } from 'node:zlib';
import { invalid } from '../errors.js';
import { log } from '../util/logger.js';
import type { LogMessage, RotatedLogFile } from './log-types.js';
import { nowNs, parseRfc3339Nano } from './timestamp.js';

export interface ReadOptions {
  stdout: boolean;
  stderr: boolean;
  /** Last N lines (counted over both streams, before since/until, as dockerd does); undefined or < 0 = all. */
  tail?: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  follow: boolean;
  /** The client went away. */
  signal?: AbortSignal;
}

export interface LogWriteSource {
  /** Must turn false only once everything the container wrote is in the file (the driver was closed). */
  isRunning(): boolean;
  /** e.g. JsonFileLogger.onWrite; returns the unsubscribe function. */
  onWrite(cb: () => void): () => void;
  /** e.g. JsonFileLogger.onRotate: each new file as it becomes current; returns the unsubscribe function. */
  onRotate?(cb: (next: RotatedLogFile) => void): () => void;
}

const CHUNK = 64 * 1024;
// dockerd's entries are at most ~100 KiB (a 16 KiB line, escaped); anything far longer is not a log entry.
const MAX_LINE = 4 * 1024 * 1024;
const POLL_MS = 250;
const NEWLINE = 0x0a;

// ---- lines ------------------------------------------------------------------------------------------------

/** Splits a byte stream into '\n'-terminated lines, carrying an unfinished line over to the next chunk. */
class LineCollector {
  private carry: Buffer[] = [];
  private carryLen = 0;
  private skipping = false; // inside an over-long line: drop it

  push(data: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let s = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, s)) {
      if (this.skipping) {
        this.skipping = false;
      } else if (this.carryLen > 0) {
        lines.push(Buffer.concat([...this.carry, data.subarray(s, nl)]));
        this.carry = [];
        this.carryLen = 0;
      } else {
        lines.push(data.subarray(s, nl));
      }
      s = nl + 1;
    }
    if (s < data.length && !this.skipping) {
      this.carryLen += data.length - s;
      this.carry.push(data.subarray(s));
      if (this.carryLen > MAX_LINE) {
        this.carry = [];
        this.carryLen = 0;
        this.skipping = true;
      }
    }
    return lines;
  }

  /** The unterminated rest, at the end of a file. */
  end(): Buffer[] {
    const rest = this.carryLen > 0 ? [Buffer.concat(this.carry)] : [];
    this.carry = [];
    this.carryLen = 0;
    this.skipping = false;
    return rest;
  }
}

/** What reading a log file forward needs: a FileHandle, or a bare fd handed over by the writer. */
interface LogFileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

const readFd = promisify(fs.read);
const fstatFd = promisify(fs.fstat);
const closeFd = promisify(fs.close);

function fdHandle(fd: number): LogFileHandle {
  return {
    read: async (buffer, offset, length, position) => ({
      bytesRead: (await readFd(fd, buffer, offset, length, position)).bytesRead,
    }),
    stat: () => fstatFd(fd),
    close: () => closeFd(fd),
  };
}

/** An open log file read forward from pos. */
class OpenLogFile {
  readonly lines = new LineCollector();

  constructor(
    readonly fh: LogFileHandle,
    readonly ino: number,
    public pos: number,
  ) {}

  /** The complete lines of the next chunk before `end`, or undefined when pos has reached end. */
  async next(end: number): Promise<Buffer[] | undefined> {
    if (this.pos >= end) return undefined;
    const len = Math.min(CHUNK, end - this.pos);
    const buf = Buffer.allocUnsafe(len);
    const { bytesRead } = await this.fh.read(buf, 0, len, this.pos);
    if (bytesRead === 0) return undefined;
    this.pos += bytesRead;
    return this.lines.push(buf.subarray(0, bytesRead));
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  restart(): void {
    this.pos = 0;
    this.lines.end();
  }
}

async function openLogFile(path: string): Promise<OpenLogFile | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return new OpenLogFile(fh, (await fh.stat()).ino, 0);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Reads backwards from `end` in blocks to where the last n lines start, so --tail costs a few blocks however
 * big the file. Returns that offset and how many lines (≤ n) lie after it.
 */
async function findTailStart(
  fh: LogFileHandle,
  end: number,
  n: number,
): Promise<{ start: number; lines: number }> {
  if (n <= 0 || end === 0) return { start: end, lines: 0 };
  const buf = Buffer.allocUnsafe(CHUNK);
  let found = 0;
  let pos = end;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    if (bytesRead < len) throw new Error('log file shrank while reading it');
    // The newline ending the last line does not separate it from a later one.
    let i = pos + len === end ? len - 2 : len - 1;
    while (i >= 0) {
      const nl = buf.lastIndexOf(NEWLINE, i);
      if (nl === -1 || nl >= len) break;
      if (++found === n) return { start: pos + nl + 1, lines: n };
      i = nl - 1;
    }
  }
  return { start: 0, lines: found + 1 };
}

async function readRange(fh: LogFileHandle, start: number, end: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(end - start);
  const { bytesRead } = await fh.read(buf, 0, buf.length, start);
  return buf.subarray(0, bytesRead);
}

// ---- entries ----------------------------------------------------------------------------------------------

/** The entry's time without parsing the whole line: dockerd writes "time" last. */
function quickTime(s: string): bigint | undefined {
  if (!s.endsWith('"}')) return undefined;
  const i = s.lastIndexOf('"time":"');
  if (i === -1) return undefined;
  try {
    return parseRfc3339Nano(s.slice(i + 8, -2));
  } catch {
    return undefined;
  }
}

function decodeEntry(s: string, timeNs: bigint | undefined): LogMessage | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (typeof obj !== 'object' || obj === null) return undefined;
  const { log: text, stream, time, attrs } = obj as Record<string, unknown>;
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  if (text !== undefined && typeof text !== 'string') return undefined;
  if (timeNs === undefined) {
    if (typeof time !== 'string') return undefined;
    try {
      timeNs = parseRfc3339Nano(time);
    } catch {
      return undefined;
    }
  }
  const msg: LogMessage = { stream, line: Buffer.from(text ?? '', 'utf8'), timeNs };
  if (typeof attrs === 'object' && attrs !== null) {
    msg.attrs = Object.entries(attrs as Record<string, unknown>)
      .filter((kv): kv is [string, string] => typeof kv[1] === 'string')
      .map(([key, value]) => ({ key, value }));
  }
  return msg;
}

function lineTime(line: Buffer): bigint | undefined {
  const s = line.toString('utf8');
  return quickTime(s) ?? decodeEntry(s, undefined)?.timeNs;
}

/** since/until/stream selection; malformed lines are skipped. */
class EntryFilter {
  /** An entry after `until` was seen: dockerd stops reading there. */
  stopped = false;

  constructor(private readonly opts: ReadOptions) {}

  *accept(lines: Iterable<Buffer>): Generator<LogMessage> {
    const { sinceNs, untilNs } = this.opts;
    for (const line of lines) {
      if (line.length === 0) continue;
      const s = line.toString('utf8');
      const quick = quickTime(s);
      if (quick !== undefined && sinceNs !== undefined && quick < sinceNs) continue;
      const msg = decodeEntry(s, quick);
      if (!msg) continue;
      if (sinceNs !== undefined && msg.timeNs < sinceNs) continue;
      if (untilNs !== undefined && msg.timeNs > untilNs) {
        this.stopped = true;
        return;
      }
      if (msg.stream === 'stdout' ? this.opts.stdout : this.opts.stderr) yield msg;
    }
  }
}

// ---- rotated files ----------------------------------------------------------------------------------------

interface RotatedFile {
  index: number;
  fh: FileHandle;
  gz: boolean;
  size: number;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Opens <log>.N[.gz] oldest first; a plain file wins over its .gz (the writer may be compressing it). The inode
 * of each plain one is added to `listed`.
 */
async function openRotatedFiles(
  logPath: string,
  currentIno: number | undefined,
  listed: Set<number>,
): Promise<RotatedFile[]> {
  const re = new RegExp(`^${escapeRegExp(basename(logPath))}\\.(\\d+)(\\.gz)?$`);
  let names: string[];
  try {
    names = await readdir(dirname(logPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const indexes = [...new Set(names.map((n) => re.exec(n)?.[1]).filter((x) => x !== undefined))]
    .map(Number)
    .sort((a, b) => b - a);
  const files: RotatedFile[] = [];
  try {
    for (const index of indexes) {
      for (const gz of [false, true]) {
        let fh: FileHandle;
        try {
          fh = await open(`${logPath}.${index}${gz ? '.gz' : ''}`, 'r');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        const st = await fh.stat();
        // Rotated between opening the current file and listing: its lines are read through the current file.
        if (!gz && st.ino === currentIno) {
          await fh.close();
          break;
        }
        if (!gz) listed.add(st.ino);
        files.push({ index, fh, gz, size: st.size });
        break;
      }
    }
  } catch (err) {
    await Promise.all(files.map((f) => f.fh.close()));
    throw err;
  }
  return files;
}

/** The {"lastTime":…} dockerd (and our writer) puts in a rotated file's gzip header Extra field. */
async function gzipLastTime(fh: FileHandle): Promise<bigint | undefined> {
  const head = await readRange(fh, 0, 12 + 1024);
  if (head.length < 12 || head[0] !== 0x1f || head[1] !== 0x8b || (head[3]! & 0x04) === 0) return undefined;
  const xlen = head.readUInt16LE(10);
  if (12 + xlen > head.length) return undefined;
  try {
    const extra = JSON.parse(head.subarray(12, 12 + xlen).toString('utf8')) as { lastTime?: unknown };
    if (typeof extra.lastTime !== 'string' || extra.lastTime.startsWith('0001-01-01T')) return undefined;
    return parseRfc3339Nano(extra.lastTime);
  } catch {
    return undefined;
  }
}

async function lastEntryTime(f: RotatedFile): Promise<bigint | undefined> {
  if (f.gz) return gzipLastTime(f.fh);
  const { start } = await findTailStart(f.fh, f.size, 1);
  if (f.size - start > MAX_LINE) return undefined;
  let line = await readRange(f.fh, start, f.size);
  if (line.at(-1) === NEWLINE) line = line.subarray(0, -1);
  return lineTime(line);
}

async function* gzipLines(fh: FileHandle): AsyncGenerator<Buffer[]> {
  const input = fh.createReadStream({ start: 0, autoClose: false });
  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  const lines = new LineCollector();
  try {
    for await (const chunk of gunzip) yield lines.push(chunk as Buffer);
    yield lines.end();
  } finally {
    input.unpipe(gunzip);
    input.destroy();
    gunzip.destroy();
  }
}

async function* plainLines(fh: FileHandle, start: number, end: number): AsyncGenerator<Buffer[]> {
  const f = new OpenLogFile(fh, 0, start);
  for (let lines = await f.next(end); lines; lines = await f.next(end)) yield lines;
  yield f.lines.end();
}

async function* wholeFile(f: RotatedFile): AsyncGenerator<Buffer[]> {
  try {
    yield* f.gz ? gzipLines(f.fh) : plainLines(f.fh, 0, f.size);
  } catch (err) {
    // A damaged rotated file must not hide the newer logs.
    log.warn('cannot read rotated log file', { index: f.index, error: String(err) });
  }
}

/** The last n lines of a rotated file (a .gz is decompressed as a stream, keeping only n lines). */
async function tailOf(f: RotatedFile, n: number): Promise<Buffer[]> {
  if (!f.gz) {
    const { start } = await findTailStart(f.fh, f.size, n);
    const out: Buffer[] = [];
    for await (const lines of plainLines(f.fh, start, f.size)) out.push(...lines);
    return out;
  }
  let keep: Buffer[] = [];
  for await (const lines of wholeFile(f)) {
    // Copy: a line may be a view of a large decompressed chunk.
    for (const l of lines) keep.push(Buffer.from(l));
    if (keep.length > 2 * n) keep = keep.slice(-n);
  }
  return keep.slice(-n);
}

async function* fromArray(lines: Buffer[]): AsyncGenerator<Buffer[]> {
  yield lines;
}

// ---- the reader -------------------------------------------------------------------------------------------

async function statIno(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * After a rotation: the followed file (by inode) is now <log>.k; if k > 1 the writer rotated more than once
 * before we looked, and <log>.k-1 … <log>.1 hold lines we have not read.
 */
async function* rotatedSince(logPath: string, ino: number): AsyncGenerator<Buffer[]> {
  let k = 0;
  for (let i = 1; k === 0; i++) {
    const plain = await statIno(`${logPath}.${i}`);
    if (plain === ino) k = i;
    else if (plain === undefined && (await statIno(`${logPath}.${i}.gz`)) === undefined) break;
  }
  for (let j = k - 1; j >= 1; j--) {
    const files = await openRotatedFilesAt(logPath, j);
    for (const f of files) {
      try {
        yield* wholeFile(f);
      } finally {
        await f.fh.close();
      }
    }
  }
}

async function openRotatedFilesAt(logPath: string, index: number): Promise<RotatedFile[]> {
  for (const gz of [false, true]) {
    try {
      const fh = await open(`${logPath}.${index}${gz ? '.gz' : ''}`, 'r');
      return [{ index, fh, gz, size: (await fh.stat()).size }];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return [];
}

export async function* readJsonFileLogs(
  logPath: string,
  opts: ReadOptions,
  source: LogWriteSource,
): AsyncGenerator<LogMessage> {
  if (!opts.stdout && !opts.stderr) throw invalid('You must choose at least one stream');
  const filter = new EntryFilter(opts);
  const aborted = () => opts.signal?.aborted === true;
  const state: FollowState & { rotated: RotatedFile[] } = {
    current: undefined,
    rotated: [],
    handed: [],
    listed: new Set(),
  };
  // Subscribed before the current file is opened: every file that becomes current after it is handed over.
  const unsubscribeRotate = opts.follow ? source.onRotate?.((f) => state.handed.push(f)) : undefined;
  try {
    // The current file first: the position read up to here is where following continues.
    state.current = await openLogFile(logPath);
    const current = state.current;
    const end = current ? await current.size() : 0;
    state.rotated = await openRotatedFiles(logPath, current?.ino, state.listed);
    const { sinceNs, tail } = opts;
    const history: AsyncIterable<Buffer[]>[] = [];

    if (tail === undefined || tail < 0) {
      for (const f of state.rotated) {
        if (sinceNs !== undefined) {
          const last = await lastEntryTime(f);
          if (last !== undefined && last < sinceNs) continue;
        }
        history.push(wholeFile(f));
      }
    } else if (tail > 0) {
      let need = tail;
      if (current) {
        const t = await findTailStart(current.fh, end, need);
        current.pos = t.start;
        need -= t.lines;
      }
      // Newest rotated file first, until enough lines; files wholly before --since end the walk.
      for (let i = state.rotated.length - 1; i >= 0 && need > 0; i--) {
        const f = state.rotated[i]!;
        if (sinceNs !== undefined) {
          const last = await lastEntryTime(f);
          if (last !== undefined && last < sinceNs) break;
        }
        const lines = await tailOf(f, need);
        need -= lines.length;
        history.unshift(fromArray(lines));
      }
    } else if (current) {
      current.pos = end;
    }

    for (const src of history) {
      for await (const lines of src) {
        yield* filter.accept(lines);
        if (filter.stopped || aborted()) return;
      }
    }
    if (current) {
      for (let lines = await current.next(end); lines; lines = await current.next(end)) {
        yield* filter.accept(lines);
        if (filter.stopped || aborted()) return;
      }
    }
    if (!opts.follow) {
      if (current) yield* filter.accept(current.lines.end());
      return;
    }
    yield* follow(logPath, state, filter, opts, source);
  } finally {
    unsubscribeRotate?.();
    for (const f of state.handed.splice(0)) fs.close(f.fd, () => undefined);
    await Promise.all(state.rotated.map((f) => f.fh.close().catch(() => undefined)));
    await state.current?.fh.close().catch(() => undefined);
  }
}

interface FollowState {
  current: OpenLogFile | undefined;
  /** Files the writer made current since following began, in order (JsonFileLogger.onRotate). */
  handed: RotatedLogFile[];
  /** Inodes of the uncompressed rotated files read before following. */
  listed: Set<number>;
}

/** The file that became current after the one with inode `ino`, from those handed over; earlier ones are closed. */
function successorOf(handed: RotatedLogFile[], ino: number): RotatedLogFile | undefined {
  const at = handed.findIndex((f) => f.ino === ino);
  for (const f of handed.splice(0, at + 1)) fs.close(f.fd, () => undefined);
  return handed.shift();
}

async function* follow(
  logPath: string,
  state: FollowState,
  filter: EntryFilter,
  opts: ReadOptions,
  source: LogWriteSource,
): AsyncGenerator<LogMessage> {
  let signalled = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    signalled = true;
    wake?.();
  };
  const unsubscribe = source.onWrite(poke);
  opts.signal?.addEventListener('abort', poke);
  const { untilNs } = opts;
  try {
    for (;;) {
      if (opts.signal?.aborted) return;
      signalled = false;
      // Sampled before reading: whatever was written before the container stopped is read below.
      const running = source.isRunning();
      let cur = state.current;
      if (cur) {
        const end = await cur.size();
        // Truncated in place (a rotation whose rename failed): start over from its beginning.
        if (end < cur.pos) cur.restart();
        for (let lines = await cur.next(end); lines; lines = await cur.next(end)) {
          yield* filter.accept(lines);
          if (filter.stopped || opts.signal?.aborted) return;
        }
      }
      const ino = await statIno(logPath);
      if (cur && ino !== cur.ino) {
        // Rotated (renamed or unlinked). The writer closes a file before that, so its content is final.
        const end = await cur.size();
        for (let lines = await cur.next(end); lines; lines = await cur.next(end)) {
          yield* filter.accept(lines);
          if (filter.stopped) return;
        }
        yield* filter.accept(cur.lines.end());
        if (filter.stopped) return;
        // The writer handed over the file that came next, before it held a byte: read every file in turn,
        // however many rotations happened meanwhile (by path, one deleted or compressed would be skipped).
        const next = successorOf(state.handed, cur.ino);
        state.current = next ? new OpenLogFile(fdHandle(next.fd), next.ino, 0) : undefined;
        await cur.fh.close();
        if (state.current) continue;
        for await (const lines of rotatedSince(logPath, cur.ino)) {
          yield* filter.accept(lines);
          if (filter.stopped) return;
        }
        if (filter.stopped) return;
        cur = undefined;
      }
      if (!cur) {
        // No file yet (we looked while a rotation had moved it away): the files the writer handed over come
        // first, but for those already read as rotated files; then whatever the path holds now.
        let next = state.handed.shift();
        while (next && state.listed.has(next.ino)) {
          fs.close(next.fd, () => undefined);
          next = state.handed.shift();
        }
        if (next) {
          state.current = new OpenLogFile(fdHandle(next.fd), next.ino, 0);
          continue;
        }
        if (ino !== undefined) {
          state.current = await openLogFile(logPath);
          if (state.current) continue;
        }
      }
      if (!running) {
        if (cur) yield* filter.accept(cur.lines.end());
        return;
      }
      let waitMs = POLL_MS;
      if (untilNs !== undefined) {
        const left = untilNs - nowNs();
        if (left < 0n) return;
        waitMs = Math.min(waitMs, Math.ceil(Number(left) / 1e6));
      }
      if (!signalled) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, waitMs);
          function done() {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        });
      }
    }
  } finally {
    unsubscribe();
    opts.signal?.removeEventListener('abort', poke);
  }
}
