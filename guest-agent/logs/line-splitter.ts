// The copier's line logic: raw output chunks of one stream → log messages, one per line.
import { randomBytes } from 'node:crypto';
import type { LogMessage, PartialMeta } from './log-types.js';
import { nowNs } from './timestamp.js';

const NEWLINE = 0x0a;

/**
 * Whether `text` holds a line of `maxLine` chars or more without its '\n'. Such a run covers a whole aligned
 * block of half that size, so probing each block for a '\n' (a few native searches per chunk) rules it out;
 * a block without one is measured exactly.
 */
function hasLongLine(text: string, maxLine: number): boolean {
  const block = Math.max(1, maxLine >> 1);
  for (let at = 0; at < text.length; at += block) {
    const nl = text.indexOf('\n', at);
    if (nl !== -1 && nl < at + block) continue;
    const start = text.lastIndexOf('\n', at) + 1;
    const end = nl === -1 ? text.length : nl;
    if (end - start >= maxLine) return true;
  }
  return false;
}

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  // dockerd stamps every piece of a split line with the time of its first piece.
  private partialTimeNs: bigint | undefined;
  // The split line in progress: its id and the ordinal of its last piece (dockerd's PartialLogMetaData).
  private partialId: string | undefined;
  private ordinal = 0;

  /**
   * `emitLines`, when given, takes runs of whole lines at once (a driver's logLines): each chunk's complete
   * lines go there in one call, stamped with one time, unless a split line is in progress or one is too long.
   */
  constructor(
    private readonly stream: 'stdout' | 'stderr',
    private readonly emit: (msg: LogMessage) => void,
    private readonly maxLine = 16 * 1024,
    private readonly emitLines?: (lines: Buffer, latin1: string, timeNs: bigint) => void,
  ) {
    if (!Number.isInteger(maxLine) || maxLine < 1) throw new RangeError(`maxLine must be a positive integer`);
  }

  /** One chunk of the stream, cut at any byte. */
  write(chunk: Buffer): void {
    let start = 0;
    if (this.emitLines) {
      // The line in progress (the previous chunk's tail) is finished line by line, then whole lines go in a run.
      if (this.pendingLen > 0 || this.partialId !== undefined) {
        const nl = chunk.indexOf(NEWLINE);
        if (nl === -1) return this.writeLineByLine(chunk, 0, chunk.length);
        this.writeLineByLine(chunk, 0, nl + 1);
        start = nl + 1;
      }
      const end = chunk.lastIndexOf(NEWLINE) + 1;
      if (end > start && this.pendingLen === 0 && this.partialId === undefined) {
        const lines = start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end);
        const latin1 = lines.toString('latin1');
        if (!hasLongLine(latin1, this.maxLine)) {
          this.emitLines(lines, latin1, nowNs());
          start = end;
        }
      }
    }
    this.writeLineByLine(chunk, start, chunk.length);
  }

  /**
   * Like dockerd's copier, whose buffer holds maxLine bytes: a line whose '\n' falls within the buffer is
   * emitted whole (with its '\n'); otherwise a full buffer's worth is emitted as a partial piece.
   */
  private writeLineByLine(chunk: Buffer, start: number, stop: number): void {
    while (start < stop) {
      const room = this.maxLine - this.pendingLen;
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl !== -1 && nl < stop && nl - start < room) {
        this.send(chunk.subarray(start, nl + 1), false, true);
        start = nl + 1;
      } else if (stop - start >= room) {
        this.send(chunk.subarray(start, start + room), true, false);
        start += room;
      } else {
        // Copy: the caller's chunk may be large and this tail would pin all of it.
        this.pending.push(Buffer.from(chunk.subarray(start, stop)));
        this.pendingLen += stop - start;
        return;
      }
    }
  }

  /** At process exit: what is left, without a '\n' (dockerd marks it as a piece that is not the last). */
  flush(): void {
    if (this.pendingLen > 0) this.send(Buffer.alloc(0), false, false);
  }

  /** `ended`: the piece ends with the line's '\n'. */
  private send(piece: Buffer, partial: boolean, ended: boolean): void {
    const line = this.pendingLen === 0 ? piece : Buffer.concat([...this.pending, piece]);
    this.pending = [];
    this.pendingLen = 0;
    let timeNs: bigint;
    if (partial) {
      this.partialTimeNs ??= nowNs();
      timeNs = this.partialTimeNs;
    } else {
      timeNs = this.partialTimeNs ?? nowNs();
      this.partialTimeNs = undefined;
    }
    const msg: LogMessage = { stream: this.stream, line, timeNs };
    if (partial) msg.partial = true;
    if (!ended || this.partialId !== undefined) msg.partialMeta = this.nextPiece(ended, !partial);
    this.emit(msg);
  }

  /** `lineOver`: the piece ends the line (its '\n', or the rest at exit); the next piece starts a new one. */
  private nextPiece(last: boolean, lineOver: boolean): PartialMeta {
    this.partialId ??= randomBytes(32).toString('hex');
    const meta = { id: this.partialId, ordinal: ++this.ordinal, last };
    if (lineOver) {
      this.partialId = undefined;
      this.ordinal = 0;
    }
    return meta;
  }
}
