// Fans a process's output out to attached clients (and the log copier), and
// feeds it stdin from any attached client. Stdin that arrives before the
// process exists (`docker run -i` streams it right after attach, before start)
// is held until the process is connected.
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

export class StdioHub {
  private readonly sinks = new Set<OutputSink>();
  private process?: RuntimeProcess;
  private pendingStdin: Buffer[] = [];
  private pendingEof = false;

  addSink(sink: OutputSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  get hasSinks(): boolean {
    return this.sinks.size > 0;
  }

  writeStdin(data: Buffer): void {
    if (this.process?.stdin) this.process.stdin.write(data);
    else if (!this.process) this.pendingStdin.push(data);
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
    this.pendingEof = false;
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
    for (const sink of this.sinks) sink.end();
    this.sinks.clear();
  }
}
