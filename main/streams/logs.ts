// A container's logs as lines (stream, timestamp, text), demultiplexed and
// batched, for the Logs tab's WebSocket and for downloads.
import type Docker from 'dockerode';
import { PassThrough, Readable, type Writable } from 'node:stream';
import type { LogLine } from '../../common/desktop-api.js';

export interface LogsOptions {
  follow: boolean;
  /** Lines from the end to start with; 'all' for everything. */
  tail: number | 'all';
}

/** Splits "2024-01-01T00:00:00.000000000Z text" chunks into lines; a chunk may end mid-line. */
export class LineSplitter {
  private rest = '';
  constructor(
    private readonly stream: LogLine['stream'],
    private readonly emit: (l: LogLine) => void,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.rest + chunk.toString();
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.line(p);
  }

  end(): void {
    if (this.rest) this.line(this.rest);
    this.rest = '';
  }

  private line(raw: string): void {
    const sp = raw.indexOf(' ');
    const looksStamped = sp > 0 && /^\d{4}-\d\d-\d\dT/.test(raw);
    this.emit({
      stream: this.stream,
      ts: looksStamped ? raw.slice(0, sp) : '',
      text: (looksStamped ? raw.slice(sp + 1) : raw).replace(/\r$/, ''),
    });
  }
}

export interface LogsFollower {
  /** Stops reading (the client went away). */
  close(): void;
  pause(): void;
  resume(): void;
}

/**
 * Reads the container's logs and calls onLines with batches (every 50 ms, or
 * sooner past 2,000 lines) and onEnd once the engine closes the stream.
 */
export async function followLogs(
  docker: Docker,
  id: string,
  opts: LogsOptions,
  onLines: (lines: LogLine[]) => void,
  onEnd: (err?: Error) => void,
): Promise<LogsFollower> {
  const container = docker.getContainer(id);
  const info = await container.inspect();
  const answer = (await container.logs({
    follow: opts.follow as true,
    stdout: true,
    stderr: true,
    timestamps: true,
    // 'all' as the API spells it: an undefined tail goes out as tail= (no lines).
    tail: opts.tail as number,
  })) as unknown as Readable | Buffer;
  // Without follow, dockerode hands over the whole answer as one Buffer.
  const raw = Buffer.isBuffer(answer) ? Readable.from([answer]) : answer;
  let batch: LogLine[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0) return;
    const out = batch;
    batch = [];
    onLines(out);
  };
  const emit = (l: LogLine) => {
    batch.push(l);
    if (batch.length >= 2000) flush();
    else timer ??= setTimeout(flush, 50);
  };
  const out = new LineSplitter('stdout', emit);
  const err = new LineSplitter('stderr', emit);
  let ended = false;
  const finish = (e?: Error) => {
    if (ended) return;
    ended = true;
    out.end();
    err.end();
    flush();
    onEnd(e);
  };
  if (info.Config.Tty) {
    raw.on('data', (c: Buffer) => out.push(c));
  } else {
    const o = new PassThrough();
    const e = new PassThrough();
    o.on('data', (c: Buffer) => out.push(c));
    e.on('data', (c: Buffer) => err.push(c));
    docker.modem.demuxStream(raw, o, e);
  }
  raw.on('end', () => finish());
  raw.on('close', () => finish());
  raw.on('error', (e) => finish(e));
  return {
    close() {
      ended = true;
      clearTimeout(timer);
      raw.destroy();
    },
    pause: () => raw.pause(),
    resume: () => raw.resume(),
  };
}

/** The whole log as text (with timestamps when asked), written to out. */
export async function writeLogsText(
  docker: Docker,
  id: string,
  out: Writable,
  timestamps: boolean,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    void followLogs(
      docker,
      id,
      { follow: false, tail: 'all' },
      (lines) => {
        for (const l of lines) out.write(`${timestamps && l.ts ? `${l.ts} ` : ''}${l.text}\n`);
      },
      (err) => (err ? reject(err) : resolve()),
    ).catch(reject);
  });
}
