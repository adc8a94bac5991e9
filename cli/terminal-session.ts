// Joins a hijacked attach/exec stream to berth's own stdio the way the docker
// CLI does: output demultiplexed unless TTY; stdin forwarded (only with -i)
// and half-closed at its end; with a TTY the terminal goes raw, follows the
// window size (SIGWINCH → resize), and the detach keys (ctrl-p ctrl-q by
// default) end the session while the container keeps running.
import type { Duplex } from 'node:stream';
import type { StdIo } from '../compose/attached-io.js';
import { frameParser } from '../compose/stream-frames.js';
import { UsageError } from './flag-parser.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** "ctrl-p,ctrl-q" → the bytes typed, as the docker CLI reads --detach-keys. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes = spec.split(',').map((key) => {
    const k = key.trim().toLowerCase();
    if (k.length === 1) return k.charCodeAt(0);
    const ctrl = /^ctrl-(.)$/.exec(k);
    if (ctrl) {
      const c = ctrl[1];
      if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 96;
      const special: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };
      if (c in special) return special[c];
    }
    throw new UsageError(`Invalid detach keys (${spec}) provided`);
  });
  return Buffer.from(bytes);
}

/** Passes input through, holding back a partial detach sequence; says when the whole one was typed. */
export class DetachScanner {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  feed(chunk: Buffer): { data: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.held]) {
        this.held++;
        // The keys go on too: the engine, told the same keys, detaches its end
        // without closing the container's stdin (a closed connection would).
        if (this.held === this.keys.length)
          return { data: Buffer.concat([Buffer.from(out), this.keys]), detached: true };
        continue;
      }
      // Not the sequence after all: what was held goes through.
      out.push(...this.keys.subarray(0, this.held));
      this.held = 0;
      if (byte === this.keys[0]) this.held = 1;
      else out.push(byte);
    }
    return { data: Buffer.from(out), detached: false };
  }
}

export interface SessionOptions {
  tty: boolean;
  /** Forward berth's stdin (-i). */
  stdin: boolean;
  detachKeys?: string;
  /** Called with the terminal's size at start and on every change (TTY only). */
  resize?: (size: { h: number; w: number }) => Promise<unknown>;
}

export type SessionEnd = 'ended' | 'detached';

export function joinSession(stream: Duplex, io: StdIo, o: SessionOptions): Promise<SessionEnd> {
  const output = o.tty
    ? (chunk: Buffer) => io.stdout.write(chunk)
    : frameParser((s, data) => (s === 'stderr' ? io.stderr : io.stdout).write(data));
  stream.on('data', (chunk: Buffer) => output(chunk));

  const raw = o.tty && o.stdin && io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
  if (raw) io.stdin.setRawMode?.(true);
  const scanner =
    o.tty && o.stdin ? new DetachScanner(parseDetachKeys(o.detachKeys || DEFAULT_DETACH_KEYS)) : undefined;

  const out = io.stdout as StdIo['stdout'] & NodeJS.EventEmitter;
  const sendSize = () => {
    if (out.columns && out.rows) void o.resize?.({ h: out.rows, w: out.columns }).catch(() => undefined);
  };
  if (o.tty && o.resize && out.isTTY) {
    sendSize();
    out.on('resize', sendSize);
  }

  return new Promise<SessionEnd>((resolve) => {
    let finished = false;
    let detaching = false;
    const finish = (how: SessionEnd) => {
      if (finished) return;
      finished = true;
      if (o.stdin) {
        io.stdin.off('data', onInput);
        io.stdin.off('end', onInputEnd);
        io.stdin.pause();
      }
      out.off?.('resize', sendSize);
      if (raw) io.stdin.setRawMode?.(false);
      if (how === 'detached') stream.destroy();
      resolve(how);
    };
    const onInput = (chunk: Buffer) => {
      if (!scanner) {
        stream.write(chunk);
        return;
      }
      const { data, detached } = scanner.feed(chunk);
      if (data.length) stream.write(data);
      if (detached) {
        detaching = true;
        // The engine ends the stream on the keys; an engine that does not is left after a moment.
        setTimeout(() => finish('detached'), 1000).unref();
      }
    };
    const onInputEnd = () => stream.end(); // half-close: the process sees EOF on its stdin
    if (o.stdin) {
      io.stdin.on('data', onInput);
      io.stdin.on('end', onInputEnd);
      io.stdin.resume();
    }
    const ended = () => finish(detaching ? 'detached' : 'ended');
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', ended);
  });
}
