// A container's terminal, received from crun over --console-socket
// (guest-agent/native/terminal.c) and held by the engine: its output is read
// to its end, also after crun exits, and resizes go straight to it.
import { createRequire } from 'node:module';
import { closeSync, existsSync, openSync, write as fsWrite } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import tty from 'node:tty';
import { PassThrough, Writable } from 'node:stream';

interface ConsoleAddon {
  listen(path: string): number;
  receive(listenFd: number, timeoutMs: number): Promise<[number, number]>;
  resize(fd: number, cols: number, rows: number): void;
}

let addon: ConsoleAddon | undefined;
/** sun_path's size: longer socket paths cannot be connected to directly. */
const SUN_PATH_MAX = 108;

/**
 * The addon: beside the engine's bundle (dist/berth-terminal.node); under tsx
 * (the tests) this file is in guest-agent/runtime/, two levels below dist/.
 */
function loadAddon(): ConsoleAddon {
  if (addon) return addon;
  const here = import.meta.url;
  const candidates = [
    new URL('./berth-terminal.node', here),
    new URL('../../dist/berth-terminal.node', here),
  ];
  const file = candidates.map((u) => fileURLToPath(u)).find((f) => existsSync(f));
  if (!file)
    throw new Error(
      'dist/berth-terminal.node is missing, so containers with a terminal cannot run: build it with `npm run build` (it needs gcc)',
    );
  addon = createRequire(here)(file) as ConsoleAddon;
  return addon;
}

export interface ConsoleListener {
  /** Pass to the runtime as --console-socket. */
  readonly path: string;
  /** The terminal's master, once the runtime sent it. */
  readonly received: Promise<Terminal>;
  /** Ends the wait (the runtime exited without sending a terminal). */
  cancel(): void;
}

/** A socket at `socketPath` that takes one terminal from the runtime. */
export function listenForConsole(socketPath: string, timeoutMs = 60_000): ConsoleListener {
  const native = loadAddon();
  const listenFd = native.listen(socketPath);
  let settled = false;
  const received = native
    .receive(listenFd, timeoutMs)
    .then(([fd, writeFd]) => new Terminal(fd, writeFd, native));
  void received.then(
    () => (settled = true),
    () => (settled = true),
  );
  return {
    path: socketPath,
    received,
    cancel: () => {
      if (settled) return;
      // An empty connection wakes the receiving thread: it finds no terminal and gives up.
      // A path too long for a socket address is reached through its directory's fd.
      let dirFd: number | undefined;
      let target = socketPath;
      if (Buffer.byteLength(socketPath) >= SUN_PATH_MAX) {
        dirFd = openSync(path.dirname(socketPath), 'r');
        target = `/proc/self/fd/${dirFd}/${path.basename(socketPath)}`;
      }
      const s = net.connect(target);
      const done = () => {
        if (dirFd !== undefined) closeSync(dirFd);
        dirFd = undefined;
      };
      s.on('error', done);
      s.on('connect', () => {
        done();
        s.end();
      });
    },
  };
}

const WRITE_RETRY_MS = 5;

/** A terminal master: output as a stream, input with backpressure, resize. */
export class Terminal {
  readonly output = new PassThrough();
  private readonly reader: tty.ReadStream;
  private closed = false;
  private writing = 0;
  private writeFdOpen = true;

  /** fd: read by Node's reader, which closes it when it ends; writeFd: a duplicate for input and resizes. */
  constructor(
    fd: number,
    private readonly writeFd: number,
    private readonly native: ConsoleAddon,
  ) {
    this.reader = new tty.ReadStream(fd);
    // EIO: every process holding the other end has closed it, after their output was read.
    this.reader.on('error', () => this.finish());
    this.reader.on('end', () => this.finish());
    this.reader.on('close', () => this.finish());
    this.reader.pipe(this.output, { end: false });
  }

  private markEnded!: () => void;
  /** Resolves once all output was read from the terminal (every writer gone) or close() was called. */
  readonly ended = new Promise<void>((resolve) => (this.markEnded = resolve));

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.unpipe(this.output);
    this.output.end();
    // The reader's handle owns its fd: destroying it closes it.
    this.reader.destroy();
    this.closeWriteFd();
    this.markEnded();
  }

  /** Once no write is under way: a write in flight must never meet a reused number. */
  private closeWriteFd(): void {
    if (!this.closed || this.writing > 0 || !this.writeFdOpen) return;
    this.writeFdOpen = false;
    try {
      closeSync(this.writeFd);
    } catch {
      // already closed
    }
  }

  /** Stops reading and closes the master (a process still holding the other end then sees a hangup). */
  close(): void {
    this.finish();
  }

  resize(cols: number, rows: number): void {
    if (this.closed) return;
    try {
      this.native.resize(this.writeFd, Math.floor(cols), Math.floor(rows));
    } catch {
      // the terminal went away meanwhile
    }
  }

  /** Bytes for the process's input; a full terminal buffer is retried, never spun on. */
  write(data: Buffer, cb: (err?: Error | null) => void): void {
    let offset = 0;
    const finished = () => {
      this.writing--;
      this.closeWriteFd();
      cb();
    };
    const step = () => {
      // Closed: the process is gone, and the exit code tells the story.
      if (this.closed) return finished();
      fsWrite(this.writeFd, data, offset, data.length - offset, null, (err, n) => {
        if (err && err.code === 'EAGAIN') return void setTimeout(step, WRITE_RETRY_MS);
        if (err) return finished();
        offset += n;
        if (offset < data.length) step();
        else finished();
      });
    };
    this.writing++;
    step();
  }

  /** A Writable for the process's stdin; its end sends the terminal's EOF (^D). */
  input(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => this.write(chunk, cb),
      final: (cb) => this.write(Buffer.from('\x04'), cb),
    });
  }
}
