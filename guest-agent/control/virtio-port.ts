// A virtio-serial port (/dev/virtio-ports/NAME) as a series of Duplex streams,
// one per host connection. A char device is not a socket libuv can poll, so
// reads block in the thread pool; a read of 0 bytes means the host side is not
// connected (any session in progress has ended). The fd stays open for the
// life of the process: the port allows one opener, and closing it under a
// blocked read would hold the port busy until the next byte arrives.
import { promises as fs } from 'node:fs';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

class PortSession extends Duplex {
  private wantMore: (() => void) | undefined;

  constructor(private readonly handle: fs.FileHandle) {
    super({ allowHalfOpen: false });
  }

  /** Resolves once the consumer wants more data (backpressure for the reader loop). */
  demand(): Promise<void> {
    return new Promise((resolve) => (this.wantMore = resolve));
  }

  override _read(): void {
    const resume = this.wantMore;
    this.wantMore = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.destroyed) return cb();
    this.handle.write(chunk).then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this._read(); // unblock the reader loop
    cb(err);
  }
}

/**
 * Reads the port forever, calling onSession with a stream for each host
 * connection. First it writes greeting, a line before any SSH ident (which
 * RFC 4253 lets a server send): a host still connected to the server this one
 * replaces reads it as garbage in its encrypted stream, drops the connection
 * and reconnects; a host that connects afresh skips it.
 */
export async function servePort(
  path: string,
  onSession: (stream: Duplex) => void,
  greeting?: string,
): Promise<never> {
  const handle = await fs.open(path, 'r+');
  // Not awaited: with no host connected the write waits (in the thread pool) until one is.
  if (greeting) handle.write(`${greeting}\r\n`).catch(() => {});
  let session: PortSession | undefined;
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, null);
    if (bytesRead === 0) {
      if (session && !session.destroyed) session.push(null);
      session = undefined;
      await sleep(100); // the host is not connected: look again soon
      continue;
    }
    if (!session || session.destroyed) {
      session = new PortSession(handle);
      onSession(session);
    }
    if (!session.push(buf.subarray(0, bytesRead))) await session.demand();
  }
}
