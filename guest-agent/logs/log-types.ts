// What the copier hands to a log driver, and what every driver provides.

export interface LogMessage {
  stream: 'stdout' | 'stderr';
  /** The bytes as the container wrote them; a complete line keeps its '\n'. */
  line: Buffer;
  /** Epoch nanoseconds. */
  timeNs: bigint;
  /** A piece of a line longer than the copier's buffer (no '\n' at its end). */
  partial?: boolean;
}

export interface LogDriver {
  readonly name: string;
  /** false for 'none': `docker logs` then fails with NOT_READABLE_MESSAGE. */
  readonly readable: boolean;
  /** Synchronous enqueue; never throws into the copier. */
  log(msg: LogMessage): void;
  /** Flush everything queued and release the files. */
  close(): Promise<void>;
  /** Called after queued lines reach storage (and after a rotation); returns an unsubscribe function. */
  onWrite?(cb: () => void): () => void;
  /** Bytes accepted by log() but not yet stored: lets a copier pause a chatty container's pipe. */
  readonly backlogBytes?: number;
}

/** dockerd's error text for `docker logs` on a container whose driver cannot be read back. */
export const NOT_READABLE_MESSAGE = 'configured logging driver does not support reading';
