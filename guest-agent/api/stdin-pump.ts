// Feeds a hijacked connection's input to a process's stdin with backpressure:
// the socket is paused while the process does not keep up, so a client that
// streams gigabytes into `docker run -i` costs the engine no more than a pipe.
import type { Readable } from 'node:stream';

export interface StdinTarget {
  /** False when the caller should wait for whenDrained() before writing more. */
  write(data: Buffer): boolean;
  whenDrained(resume: () => void): void;
}

/**
 * Pumps `input` into `target`. `filter` may rewrite each chunk (detach keys)
 * and ask to stop; `onEnd` runs at the client's half-close.
 */
export function pumpStdin(
  input: Readable,
  target: StdinTarget,
  opts: {
    filter?: (chunk: Buffer) => { data: Buffer; stop: boolean };
    onStop?: () => void;
    onEnd?: () => void;
  } = {},
): void {
  let stopped = false;
  input.on('data', (chunk: Buffer) => {
    if (stopped) return;
    let data = chunk;
    if (opts.filter) {
      const r = opts.filter(chunk);
      data = r.data;
      if (r.stop) stopped = true;
    }
    if (data.length && !target.write(data) && !stopped) {
      input.pause();
      target.whenDrained(() => input.resume());
    }
    if (stopped) opts.onStop?.();
  });
  input.on('end', () => {
    if (!stopped) opts.onEnd?.();
  });
  // Reading the upgrade request's body may have left the socket paused (so early input waits for this
  // pump); a 'data' listener alone does not restart a stream paused that way.
  input.resume();
}
