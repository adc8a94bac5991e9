// Joins a hijacked exec/attach stream to this process's terminal (or to the
// streams a caller gives): output demultiplexed unless it is a TTY, stdin
// piped and half-closed at its end, the terminal raw while a TTY is attached.
import type { Duplex } from 'node:stream';
import { frameParser } from './stream-frames.js';

export interface StdIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
  stdout: NodeJS.WritableStream & { columns?: number; rows?: number; isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

/** Resolves when the container's side of the stream has ended. */
export function joinStream(stream: Duplex, io: StdIo, tty: boolean, interactive: boolean): Promise<void> {
  const output = tty
    ? (chunk: Buffer) => io.stdout.write(chunk)
    : frameParser((s, data) => (s === 'stderr' ? io.stderr : io.stdout).write(data));
  stream.on('data', (chunk: Buffer) => output(chunk));
  const raw = tty && interactive && io.stdin.isTTY && io.stdin.setRawMode;
  if (raw) io.stdin.setRawMode?.(true);
  const onInput = (chunk: Buffer) => stream.write(chunk);
  const onInputEnd = () => stream.end(); // half-close: the process sees EOF on stdin
  if (interactive) {
    io.stdin.on('data', onInput);
    io.stdin.on('end', onInputEnd);
    io.stdin.resume();
  }
  return new Promise<void>((resolve) => {
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      if (interactive) {
        io.stdin.off('data', onInput);
        io.stdin.off('end', onInputEnd);
        io.stdin.pause();
      }
      if (raw) io.stdin.setRawMode?.(false);
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

export function terminalSize(io: StdIo): { h: number; w: number } | undefined {
  if (!io.stdout.isTTY || !io.stdout.columns || !io.stdout.rows) return undefined;
  return { h: io.stdout.rows, w: io.stdout.columns };
}
