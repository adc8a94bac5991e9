// FIFOs made ahead of need: node cannot mkfifo(2) itself, and running mkfifo costs
// ~8 ms, too much on the path of every container start. One mkfifo call refills
// the pool in the background; a start only takes names from it.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
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
