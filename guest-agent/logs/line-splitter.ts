// The copier's line logic: raw output chunks of one stream → log messages, one per line.
import { randomBytes } from 'node:crypto';
import type { LogMessage, PartialMeta } from './log-types.js';
import { nowNs } from './timestamp.js';

const NEWLINE = 0x0a;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  // dockerd stamps every piece of a split line with the time of its first piece.
  private partialTimeNs: bigint | undefined;
  // The split line in progress: its id and the ordinal of its last piece (dockerd's PartialLogMetaData).
  private partialId: string | undefined;
  private ordinal = 0;

  constructor(
    private readonly stream: 'stdout' | 'stderr',
    private readonly emit: (msg: LogMessage) => void,
    private readonly maxLine = 16 * 1024,
  ) {
    if (!Number.isInteger(maxLine) || maxLine < 1) throw new RangeError(`maxLine must be a positive integer`);
  }

  /**
   * Like dockerd's copier, whose buffer holds maxLine bytes: a line whose '\n' falls within the buffer is
   * emitted whole (with its '\n'); otherwise a full buffer's worth is emitted as a partial piece.
   */
  write(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const room = this.maxLine - this.pendingLen;
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl !== -1 && nl - start < room) {
        this.send(chunk.subarray(start, nl + 1), false, true);
        start = nl + 1;
      } else if (chunk.length - start >= room) {
        this.send(chunk.subarray(start, start + room), true, false);
        start += room;
      } else {
        // Copy: the caller's chunk may be large and this tail would pin all of it.
        this.pending.push(Buffer.from(chunk.subarray(start)));
        this.pendingLen += chunk.length - start;
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
