// A small Fluentd forward-protocol server for tests: it decodes what a client sends (Message, Forward and
// PackedForward modes, EventTime), answers acks when a chunk id asks for one, and can stop and start again
// on the same address, as a restarting fluentd would.
import { decodeMulti, decodeMultiStream, encode, ExtensionCodec } from '@msgpack/msgpack';
import net from 'node:net';

export interface ReceivedRecord {
  tag: string;
  /** Seconds, or { sec, nsec } when sent as EventTime. */
  time: number | { sec: number; nsec: number };
  record: Record<string, unknown>;
  /** The option map of the message (chunk id when an ack was asked for). */
  option?: Record<string, unknown>;
}

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: () => null,
  decode: (data: Uint8Array) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { sec: view.getUint32(0), nsec: view.getUint32(4) };
  },
});

export class FluentdReceiver {
  readonly records: ReceivedRecord[] = [];
  /** Chunk ids acked, in order. */
  readonly acked: string[] = [];
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private waiters: (() => void)[] = [];
  port = 0;

  /** `path`: listen on a unix socket instead of 127.0.0.1. */
  constructor(private readonly path?: string) {}

  get address(): string {
    return this.path ? `unix://${this.path}` : `tcp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (this.path) server.listen(this.path, resolve);
      else server.listen(this.port, '127.0.0.1', resolve);
    });
    if (!this.path) this.port = (server.address() as net.AddressInfo).port;
  }

  /** Closes the listener and every connection, as a fluentd that went away. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once at least n records arrived (rejects after timeoutMs). */
  async waitFor(n: number, timeoutMs = 10_000): Promise<ReceivedRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < n) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`fluentd receiver: ${this.records.length} of ${n} records after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.records;
  }

  /** The `log` values received, in arrival order. */
  lines(): string[] {
    return this.records.map((r) => String(r.record['log']));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    void (async () => {
      try {
        for await (const message of decodeMultiStream(socket, { extensionCodec: codec })) {
          this.handle(socket, message as unknown[]);
        }
      } catch {
        socket.destroy();
      }
    })();
  }

  private handle(socket: net.Socket, message: unknown[]): void {
    const [tag, second, third, fourth] = message as [string, unknown, unknown, unknown];
    let option: Record<string, unknown> | undefined;
    const got: ReceivedRecord[] = [];
    if (typeof second === 'number' || (typeof second === 'object' && second !== null && 'sec' in second)) {
      // Message mode: [tag, time, record, option?]
      got.push({ tag, time: second as ReceivedRecord['time'], record: third as Record<string, unknown> });
      option = fourth as Record<string, unknown> | undefined;
    } else {
      // Forward: [tag, [[time, record], …], option?]; PackedForward: [tag, bytes of entries, option?]
      const entries = Array.isArray(second)
        ? (second as unknown[][])
        : ([...decodeMulti(second as Uint8Array, { extensionCodec: codec })] as unknown[][]);
      for (const [time, record] of entries) {
        got.push({ tag, time: time as ReceivedRecord['time'], record: record as Record<string, unknown> });
      }
      option = third as Record<string, unknown> | undefined;
    }
    for (const r of got) {
      if (option) r.option = option;
      this.records.push(r);
    }
    const chunk = option?.['chunk'];
    if (typeof chunk === 'string') {
      this.acked.push(chunk);
      socket.write(encode({ ack: chunk }));
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
