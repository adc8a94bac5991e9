// A virtio-serial port (/dev/virtio-ports/NAME) as a series of Duplex streams,
// one per host connection.
//
// Why it is read this way: the guest's virtio_console driver hands out at most
// one 4 KiB receive buffer per read(2), and under TCG every hand-off costs: a
// thread-pool read per 4 KiB carried 2 MB/s, a libuv stream with a JS callback
// per 4 KiB about 6, a helper process copying into a pipe about 7. So the port
// is opened non-blocking and watched by a libuv stream (epoll: no thread, no
// polling), and each wake-up drains everything the port holds with readv(2),
// whose 4 KiB slots the kernel fills one buffer each in a single call.
//
// A read of 0 bytes means the host side is not connected: the session ends,
// the port is closed (nothing is lost: QEMU holds the host's bytes until the
// guest opens the port again) and reopened a moment later.
import fs from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** The kernel's receive buffer for a port: a page. */
const SLOT = 4096;
/** Up to this much is drained per wake-up (64 slots, one readv). */
const SLOTS = 64;

interface PipeHandle {
  open(fd: number): number;
}
type PipeConstructor = new (type: number) => PipeHandle;

/**
 * A libuv stream over an open, non-blocking, pollable fd. Node's public API
 * refuses a character device (net.Socket takes sockets and pipes only), but
 * libuv's uv_pipe_open takes any fd epoll can watch, which a virtio port is.
 */
function streamOnFd(fd: number): net.Socket {
  const binding = (process as unknown as { binding(name: string): unknown }).binding('pipe_wrap') as {
    Pipe: PipeConstructor;
    constants: { SOCKET: number };
  };
  const handle = new binding.Pipe(binding.constants.SOCKET);
  const err = handle.open(fd);
  if (err) throw new Error(`cannot watch the port (uv error ${err})`);
  return new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
}

/**
 * Reads what the port holds now without blocking, into a block that later
 * reads go on filling: the chunks handed on are views of it, never copies.
 */
class PortDrain {
  private block = Buffer.allocUnsafe(SLOT * SLOTS);
  private used = 0;

  constructor(private readonly fd: number) {}

  /** The bytes waiting (empty: none); hostGone when a read found the host disconnected. */
  read(): { data: Buffer; hostGone: boolean } {
    if (this.block.length - this.used < SLOT * 8) {
      this.block = Buffer.allocUnsafe(SLOT * SLOTS);
      this.used = 0;
    }
    const start = this.used;
    const slots: Buffer[] = [];
    let hostGone = false;
    while (this.used + SLOT <= this.block.length) {
      slots.length = 0;
      for (let off = this.used; off + SLOT <= this.block.length; off += SLOT)
        slots.push(this.block.subarray(off, off + SLOT));
      let n: number;
      try {
        n = fs.readvSync(this.fd, slots);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw err;
      }
      if (n === 0) {
        hostGone = true;
        break;
      }
      // A short read (a buffer the host did not fill) ends the readv mid-slot:
      // the next one starts right after it, so the bytes stay contiguous.
      this.used += n;
    }
    return { data: this.block.subarray(start, this.used), hostGone };
  }
}

/** One host connection on the port. */
class PortSession extends Duplex {
  private readonly drain: PortDrain;
  private ended = false;

  constructor(
    private readonly port: net.Socket,
    fd: number,
    first: Buffer,
  ) {
    super({ allowHalfOpen: false, readableHighWaterMark: SLOT * SLOTS });
    this.drain = new PortDrain(fd);
    this.received(first);
    port.on('data', (d: Buffer) => this.received(d));
    port.on('end', () => this.hostDisconnected());
    port.on('error', (err) => this.destroy(err));
    port.on('close', () => this.destroy());
  }

  /** libuv read one buffer; the rest the port holds is drained behind it. */
  private received(head: Buffer): void {
    if (this.destroyed) return;
    let more: ReturnType<PortDrain['read']>;
    try {
      more = this.drain.read();
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    // Two pushes, not a copy into one: the reader (ssh2) takes a packet across chunks.
    let room = this.push(head);
    if (more.data.length) room = this.push(more.data);
    if (!room) this.port.pause();
    if (more.hostGone) this.hostDisconnected();
  }

  /** The host disconnected: the readable side ends (once, whether a drain or libuv saw it first). */
  private hostDisconnected(): void {
    if (this.ended) return;
    this.ended = true;
    this.push(null);
  }

  override _read(): void {
    this.port.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.port.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.port.destroy();
    cb(err);
  }
}

/** Opens the port and waits for the host's first bytes: a session, or undefined when the host is not connected. */
async function nextSession(path: string, greeting: string | undefined): Promise<PortSession | undefined> {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  let port: net.Socket;
  try {
    port = streamOnFd(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (greeting) port.write(greeting);
  return new Promise((resolve) => {
    const onData = (d: Buffer) => {
      port.off('end', onEnd);
      port.off('error', onEnd);
      port.off('data', onData);
      resolve(new PortSession(port, fd, d));
    };
    const onEnd = () => {
      port.destroy(); // closes the fd
      resolve(undefined);
    };
    port.on('data', onData);
    port.once('end', onEnd);
    port.once('error', onEnd);
  });
}

/**
 * Serves the port forever, calling onSession with a stream for each host
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
  let hello = greeting ? `${greeting}\r\n` : undefined;
  for (;;) {
    const session = await nextSession(path, hello);
    hello = undefined;
    if (!session) {
      await sleep(100); // the host is not connected: look again soon
      continue;
    }
    const ended = new Promise<void>((resolve) => session.once('close', resolve));
    onSession(session);
    await ended;
  }
}
