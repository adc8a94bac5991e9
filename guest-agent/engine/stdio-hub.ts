// Fans a process's output out to attached clients (and the log copier), and
// feeds it stdin from any attached client. Stdin that arrives before the
// process exists (`docker run -i` streams it right after attach, before start)
// is held until the process is connected. Writers are told to wait when the
// process does not keep up, so a fast client cannot fill the engine's memory.
import type { RuntimeProcess } from '../runtime/oci-runtime.js';

export type StreamName = 'stdout' | 'stderr';

/** Where an attached client receives output; the API layer frames it. */
export interface OutputSink {
  readonly stdout: boolean;
  readonly stderr: boolean;
  write(stream: StreamName, data: Buffer): void;
  /** The process is gone and everything it wrote was delivered. */
  end(): void;
}

/** Input held before the process starts, beyond which the client is paused. */
const PENDING_STDIN_LIMIT = 1 << 20;

export class StdioHub {
  private readonly sinks = new Set<OutputSink>();
  private process?: RuntimeProcess;
  private pendingStdin: Buffer[] = [];
  private pendingBytes = 0;
  private pendingEof = false;
  private drainWaiters: Array<() => void> = [];

  addSink(sink: OutputSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  get hasSinks(): boolean {
    return this.sinks.size > 0;
  }

  /** False when the writer should wait for whenStdinDrained() before writing more. */
  writeStdin(data: Buffer): boolean {
    if (this.process?.stdin) return this.process.stdin.write(data);
    if (this.process) return true; // opened without stdin: dropped, as dockerd does
    this.pendingStdin.push(data);
    this.pendingBytes += data.length;
    return this.pendingBytes < PENDING_STDIN_LIMIT;
  }

  /** Calls `resume` once the process can take more input (or will never take it). */
  whenStdinDrained(resume: () => void): void {
    if (!this.process) {
      this.drainWaiters.push(resume);
      return;
    }
    const stdin = this.process.stdin;
    if (!stdin?.writableNeedDrain) {
      resume();
      return;
    }
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resume();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  }

  endStdin(): void {
    if (this.process) this.process.closeStdin();
    else this.pendingEof = true;
  }

  /**
   * Wire a started process. Resolves once its output streams have ended, so
   * that every byte reached the sinks and `onOutput` before exit is reported.
   */
  connect(proc: RuntimeProcess, onOutput?: (stream: StreamName, data: Buffer) => void): Promise<void> {
    this.process = proc;
    if (proc.stdin) {
      // A client that goes away must not crash the engine with EPIPE.
      proc.stdin.on('error', () => {});
      for (const chunk of this.pendingStdin) proc.stdin.write(chunk);
      if (this.pendingEof) proc.closeStdin();
    }
    this.pendingStdin = [];
    this.pendingBytes = 0;
    this.pendingEof = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resume of waiters) this.whenStdinDrained(resume);
    const pump = (stream: StreamName, source: NodeJS.ReadableStream | null): Promise<void> => {
      if (!source) return Promise.resolve();
      return new Promise((resolve) => {
        source.on('data', (chunk: Buffer | string) => {
          const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          onOutput?.(stream, data);
          for (const sink of this.sinks) if (sink[stream]) sink.write(stream, data);
        });
        source.on('end', resolve);
        source.on('close', resolve);
        source.on('error', () => resolve());
      });
    };
    return Promise.all([pump('stdout', proc.stdout), pump('stderr', proc.stderr)]).then(() => undefined);
  }

  /** End every attached client; the hub is ready for the next run. */
  finish(): void {
    this.process = undefined;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resume of waiters) resume();
    for (const sink of this.sinks) sink.end();
    this.sinks.clear();
  }
}
