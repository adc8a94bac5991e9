// What the copier hands to a log driver, and what every driver provides.

/** dockerd's PartialLogMetaData: which piece of a split line a message is (fluentd's partial_* keys). */
export interface PartialMeta {
  /** 64 hex, shared by the pieces of one line. */
  id: string;
  /** 1 for the first piece. */
  ordinal: number;
  /** The piece that ended with the line's '\n'. */
  last: boolean;
}

/** One extra attribute of a log entry (labels, env, tag): what `docker logs --details` prints. */
export interface LogAttr {
  key: string;
  value: string;
}

export interface LogMessage {
  stream: 'stdout' | 'stderr';
  /** The bytes as the container wrote them; a complete line keeps its '\n'. */
  line: Buffer;
  /** Epoch nanoseconds. */
  timeNs: bigint;
  /** A piece of a line longer than the copier's buffer (no '\n' at its end, more of the line follows). */
  partial?: boolean;
  /** Set on every piece of a line that was split (and on an unterminated rest at exit), as dockerd's copier does. */
  partialMeta?: PartialMeta;
  /** Read back from storage: the entry's extra attributes. */
  attrs?: LogAttr[];
}

export interface LogDriver {
  readonly name: string;
  /** false for 'none': `docker logs` then fails with NOT_READABLE_MESSAGE. */
  readonly readable: boolean;
  /** Before the container starts (fluentd connects here; a failure fails the start). */
  start?(): Promise<void>;
  /** Synchronous enqueue; never throws into the copier. */
  log(msg: LogMessage): void;
  /**
   * Optional fast path: a run of complete lines (each ending '\n', none split, so no partial metadata),
   * all stamped `timeNs`; `latin1` is the same bytes read one char per byte. Same contract as log().
   */
  logLines?(stream: 'stdout' | 'stderr', lines: Buffer, latin1: string, timeNs: bigint): void;
  /** Flush everything queued and release the files. */
  close(): Promise<void>;
  /** Called after queued lines reach storage (and after a rotation); returns an unsubscribe function. */
  onWrite?(cb: () => void): () => void;
  /**
   * Called at each rotation with the new file, opened for reading before anything is written to it, so a
   * follower reads every file in turn however fast they rotate; cb owns the fd. Returns an unsubscribe function.
   */
  onRotate?(cb: (next: RotatedLogFile) => void): () => void;
  /** Bytes accepted by log() but not yet stored: lets a copier pause a chatty container's pipe. */
  readonly backlogBytes?: number;
}

/** A log file that has just become the current one: a read-only fd and its inode. */
export interface RotatedLogFile {
  fd: number;
  ino: number;
}

/** dockerd's error text for `docker logs` on a container whose driver cannot be read back. */
export const NOT_READABLE_MESSAGE = 'configured logging driver does not support reading';
