// A new connection's channel to the guest engine that, should it close before
// the guest has sent a single byte back, is opened once more and given again
// what the client had sent. A channel can die between its opening and its
// first request (the spare kept ahead, an upstream dropped as the engine
// restarts), and the docker CLI, which sends `start` and other POSTs on a new
// connection, would report a bare EOF. Once any byte has come back, closes
// and errors pass through as they are: nothing answered is ever sent twice.
import { Duplex } from 'node:stream';

/** What is kept for a second try: more than this (a `docker load` body) and the channel is not retried. */
const MAX_REPLAY_BYTES = 1 << 20;

export class UnansweredRetry extends Duplex {
  private current: Duplex;
  private sent: Buffer[] = [];
  private sentBytes = 0;
  private answered = false;
  private retried = false;
  private reopening = false;
  private writerEnded = false;
  /** A write waiting for the current channel's drain (or for the new channel). */
  private waiting?: () => void;

  constructor(
    channel: Duplex,
    private readonly reopen: () => Promise<Duplex>,
  ) {
    super({ allowHalfOpen: true });
    this.current = channel;
    this.attach(channel);
  }

  private canRetry(): boolean {
    return !this.answered && !this.retried && !this.destroyed && this.sentBytes <= MAX_REPLAY_BYTES;
  }

  /** Whether what the client sends is still kept, for a retry that may yet come or is under way. */
  private keeping(): boolean {
    return !this.answered && this.sentBytes <= MAX_REPLAY_BYTES && (this.reopening || !this.retried);
  }

  private attach(ch: Duplex): void {
    let ended = false;
    // Events of a channel given up (or being given up) for another are not this stream's.
    const gone = () => ch !== this.current || this.reopening;
    ch.on('data', (d: Buffer) => {
      if (gone()) return;
      this.answered = true;
      this.sent = [];
      if (!this.push(d)) ch.pause();
    });
    ch.on('error', () => ch.destroy()); // its close follows
    ch.once('end', () => {
      if (gone()) return;
      ended = true;
      if (this.canRetry()) return this.retry();
      this.push(null);
    });
    ch.once('close', () => {
      if (gone()) return;
      if (this.canRetry()) return this.retry();
      if (!ended) return void this.destroy();
      // Closed after its end: once the end has been read here too.
      if (this.readableEnded) this.destroy();
      else this.once('end', () => this.destroy());
    });
  }

  private retry(): void {
    this.retried = true;
    this.reopening = true;
    const old = this.current;
    old.destroy();
    this.reopen().then(
      (ch) => {
        this.reopening = false;
        if (this.destroyed) return void ch.destroy();
        this.current = ch;
        this.attach(ch);
        for (const b of this.sent) ch.write(b);
        this.sent = [];
        if (this.writerEnded) ch.end();
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting?.();
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.keeping()) {
      this.sentBytes += chunk.length;
      if (this.sentBytes <= MAX_REPLAY_BYTES) this.sent.push(chunk);
      else this.sent = [];
    }
    // While a new channel opens, the chunk waits in `sent` and goes out with the rest.
    if (this.reopening) {
      this.waiting = cb;
      return;
    }
    const ch = this.current;
    if (ch.write(chunk)) return cb();
    this.waiting = cb;
    ch.once('drain', () => {
      if (ch !== this.current || this.reopening) return;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.();
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.writerEnded = true;
    if (!this.reopening) this.current.end();
    cb();
  }

  override _read(): void {
    this.current.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.current.destroy();
    cb(err);
  }
}
