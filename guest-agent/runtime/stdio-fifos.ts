// FIFOs for the stdio of crun's processes. runc copies between its stdio and pipes
// of its own; crun hands its stdio to the container as they are, and node's are
// sockets, which `echo … > /proc/1/fd/1` cannot open and on which busybox cat's
// splice never sees the end of stdin.
//
// They are made ahead of need: node cannot mkfifo(2) itself, and running mkfifo
// costs ~8 ms, too much on the path of every container start. One mkfifo call
// refills the pool in the background; a start only takes names from it.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync, promises as fs } from 'node:fs';
import { Socket } from 'node:net';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { run } from '../util/subprocess.js';

const BATCH = 8;

export class FifoPool {
  private readonly ready: string[] = [];
  private refilling: Promise<void> | undefined;
  private cleared = false;

  constructor(private readonly dir: string) {}

  /** The path of a new FIFO, now the caller's (to open and unlink). */
  async take(): Promise<string> {
    while (this.ready.length === 0) await this.refill();
    const fifo = this.ready.pop()!;
    if (this.ready.length < BATCH / 2) void this.refill().catch(() => undefined);
    return fifo;
  }

  private refill(): Promise<void> {
    this.refilling ??= (async () => {
      try {
        if (!this.cleared) {
          // What an earlier engine left unused is of no use to anyone.
          await fs.rm(this.dir, { recursive: true, force: true });
          this.cleared = true;
        }
        await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
        const names = Array.from({ length: BATCH }, () =>
          path.join(this.dir, randomBytes(8).toString('hex')),
        );
        await run('mkfifo', ['-m', '600', ...names]);
        this.ready.push(...names);
      } finally {
        this.refilling = undefined;
      }
    })();
    return this.refilling;
  }
}

export interface StdioFifos {
  /** The process's stdin (read end, or 'ignore'), stdout and stderr (write ends): blocking, as a process expects. */
  childEnds: [number | 'ignore', number, number];
  /** The engine's end of stdin (null without stdin); end() gives the process EOF. */
  stdin: Writable | null;
  readers: [Readable, Readable];
  /** The engine's copies of the child's ends go once the child has its own. */
  closeChildEnds(): void;
}

/** FIFOs for a process's stdio, unlinked once open. */
export async function openStdioFifos(pool: FifoPool, withStdin: boolean): Promise<StdioFifos> {
  const [inName, outName, errName] = await Promise.all([
    withStdin ? pool.take() : undefined,
    pool.take(),
    pool.take(),
  ]);
  const opened: number[] = [];
  const open = (name: string, flags: number) => {
    const fd = openSync(name, flags);
    opened.push(fd);
    return fd;
  };
  const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fsConstants;
  try {
    // Each reader first, non-blocking, so that opening its writer does not wait;
    // then the child's own ends, blocking.
    const outRead = open(outName, O_RDONLY | O_NONBLOCK);
    const errRead = open(errName, O_RDONLY | O_NONBLOCK);
    const childEnds: StdioFifos['childEnds'] = ['ignore', open(outName, O_WRONLY), open(errName, O_WRONLY)];
    let stdin: Writable | null = null;
    if (inName) {
      const probe = open(inName, O_RDONLY | O_NONBLOCK);
      const inWrite = open(inName, O_WRONLY | O_NONBLOCK);
      childEnds[0] = open(inName, O_RDONLY);
      closeSync(probe);
      opened.splice(opened.indexOf(probe), 1);
      stdin = new Socket({ fd: inWrite, readable: false, writable: true });
    }
    // libuv opens with O_CLOEXEC: only the ends handed over as stdio reach the child.
    const reader = (fd: number): Readable => new Socket({ fd, readable: true, writable: false });
    return {
      childEnds,
      stdin,
      readers: [reader(outRead), reader(errRead)],
      closeChildEnds: () => childEnds.forEach((fd) => typeof fd === 'number' && closeSync(fd)),
    };
  } catch (err) {
    opened.forEach((fd) => closeSync(fd));
    throw err;
  } finally {
    await Promise.all([inName, outName, errName].map((n) => n && fs.rm(n, { force: true })));
  }
}
