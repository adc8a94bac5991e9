// The fluentd log driver: each log line becomes a Fluentd forward-protocol record with dockerd's keys,
// sent by the Fluent project's @fluent-org/logger client.
//
// Why @fluent-org/logger and not the older fluent-logger package: fluent-logger 3.x reports a record as
// sent even when the socket write failed (its write callback ignores the error), drops the record that was
// waiting for an ack when the connection breaks, and bounds its queue only by a message count, silently
// discarding the oldest. "No line lost while the server restarts" and "buffer up to fluentd-buffer-limit
// bytes, then drop and count" cannot be built on that. @fluent-org/logger, the Fluent organisation's
// TypeScript client, settles every emit with a promise (resolved when written, or acked with
// fluentd-request-ack; rejected when the write or the ack fails), reconnects with back-off, and speaks
// EventTime — so Berth keeps each record counted against the buffer until the server has it, and retries
// the ones that failed.
import { EventTime, FluentClient, FluentSocketEvent } from '@fluent-org/logger';
import { EngineError } from '../errors.js';
import { log } from '../util/logger.js';
import { describeAddress, type FluentdConfig } from './fluentd-options.js';
import { goDialReason } from './go-values.js';
import { extraAttributes, type ContainerLogInfo } from './log-info.js';
import { DEFAULT_TAG_TEMPLATE, renderLogTag } from './log-tag.js';
import type { LogDriver, LogMessage } from './log-types.js';

const CONNECT_TIMEOUT_MS = 3000;
/** An ack not back by then: the record is sent again (the connection it went out on is likely gone). */
const DEFAULT_ACK_TIMEOUT_MS = 3000;
const RETRY_BACKOFF = 1.5;
const MAX_RETRY_WAIT_MS = 60_000;
const DROP_WARN_INTERVAL_MS = 10_000;
/** At container exit, how long lines still waiting for the server may hold up the exit. */
const CLOSE_WAIT_MS = 2000;
const SHUTDOWN_WAIT_MS = 500;
// Per-record overhead beyond the keys and values, for the buffer accounting (msgpack framing, tag, time).
const RECORD_OVERHEAD = 32;

interface PendingRecord {
  record: Record<string, string>;
  time: number | EventTime;
  bytes: number;
  failures: number;
}

/** How a failed connect reads, in the words of Go's net package (what dockerd users see). */
function dialError(config: FluentdConfig, err: unknown): string {
  return `dial ${describeAddress(config.address)}: ${goDialReason(err)}`;
}

export class FluentdDriver implements LogDriver {
  readonly name = 'fluentd';
  readonly readable = false;
  private readonly client: FluentClient;
  private readonly tag: string;
  private readonly fixed: Record<string, string>;
  private readonly extra: Record<string, string>;
  private pendingBytes = 0;
  private pendingCount = 0;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private connectingAtStart = false;
  private onSettled: (() => void) | undefined;
  private droppedSinceWarn = 0;
  private droppedTotal = 0;
  private lastWarnMs = 0;
  private lastErrorLogMs = 0;

  constructor(
    private readonly config: FluentdConfig,
    opts: Record<string, string>,
    private readonly info: ContainerLogInfo,
  ) {
    this.tag = renderLogTag(opts, info, DEFAULT_TAG_TEMPLATE);
    this.fixed = { container_id: info.id, container_name: info.name };
    this.extra = Object.fromEntries(extraAttributes(opts, info));
    const a = config.address;
    this.client = new FluentClient(null, {
      eventMode: 'Message',
      disableAutoconnect: true,
      socket: {
        ...(a.protocol === 'unix' ? { path: a.path } : { host: a.host, port: a.port }),
        ...(a.protocol === 'tls' ? { tls: { servername: a.host } } : {}),
        // No idle timeout: the connection stays up between bursts, as fluent-logger-golang's does.
        timeout: -1,
        reconnect: {
          delay: config.retryWaitMs,
          backoff: RETRY_BACKOFF,
          minDelay: Math.min(config.retryWaitMs, 100),
          maxDelay: MAX_RETRY_WAIT_MS,
        },
      },
      ...(config.requestAck
        ? { ack: { ackTimeout: config.readTimeoutMs > 0 ? config.readTimeoutMs : DEFAULT_ACK_TIMEOUT_MS } }
        : {}),
    });
    // Without a listener the socket's 'error' events would be thrown; they are reconnects in progress.
    this.client.socketOn(FluentSocketEvent.ERROR, (err: unknown) => this.connectionError(err));
  }

  get backlogBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Without fluentd-async the server must be there when the container starts (dockerd fails the start);
   * with it, the client connects in the background and lines wait in the buffer meanwhile.
   */
  async start(): Promise<void> {
    if (this.config.async) {
      this.client.connect().catch(() => undefined);
      if (this.config.asyncReconnectIntervalMs > 0) this.scheduleReconnect();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    this.connectingAtStart = true;
    try {
      await Promise.race([
        this.client.connect(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => reject(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      this.closed = true;
      await this.shutdownClient();
      throw new EngineError(
        'internal',
        `failed to initialize logging driver: ${dialError(this.config, err)}`,
      );
    } finally {
      clearTimeout(timer);
      this.connectingAtStart = false;
    }
  }

  log(msg: LogMessage): void {
    if (this.closed) {
      this.drop(1, 'the driver is closed');
      return;
    }
    let text = msg.line.toString('utf8');
    if (text.endsWith('\n')) text = text.slice(0, -1);
    const record: Record<string, string> = { ...this.fixed, source: msg.stream, log: text, ...this.extra };
    const p = msg.partialMeta;
    if (p) {
      record['partial_message'] = 'true';
      record['partial_id'] = p.id;
      record['partial_ordinal'] = String(p.ordinal);
      record['partial_last'] = String(p.last);
    }
    let bytes = RECORD_OVERHEAD + this.tag.length;
    for (const [k, v] of Object.entries(record)) bytes += k.length + Buffer.byteLength(v) + 2;
    if (this.pendingBytes + bytes > this.config.bufferLimit) {
      this.drop(1, 'fluentd-buffer-limit reached');
      return;
    }
    const sec = msg.timeNs / 1_000_000_000n;
    const time = this.config.subSecondPrecision
      ? new EventTime(Number(sec), Number(msg.timeNs % 1_000_000_000n))
      : Number(sec) * 1000; // the client turns milliseconds into whole seconds
    this.pendingBytes += bytes;
    this.pendingCount++;
    this.send({ record, time, bytes, failures: 0 });
  }

  async close(): Promise<void> {
    if (this.closed && this.pendingCount === 0) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    if (this.pendingCount > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onSettled = resolve;
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      });
      clearTimeout(timer);
      this.onSettled = undefined;
    }
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    const left = this.pendingCount;
    if (left > 0) this.drop(left, 'the container stopped before the fluentd server took them');
    this.pendingCount = 0;
    this.pendingBytes = 0;
    await this.shutdownClient();
    if (this.droppedTotal > 0) {
      log.warn('fluentd: container log lines were dropped', {
        container: this.info.id,
        dropped: this.droppedTotal,
      });
    }
  }

  // The client's shutdown waits for its socket's end, which never comes for a socket still connecting to a
  // server that is down: bounded, so that a container's exit never waits on it.
  private async shutdownClient(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.shutdown().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  private send(p: PendingRecord): void {
    this.client.emit(this.tag, p.record, p.time).then(
      () => this.settle(p),
      (err: unknown) => {
        if (this.closed && this.pendingCount === 0) return; // counted at close
        p.failures++;
        if (p.failures > this.config.maxRetries) {
          this.settle(p);
          this.drop(1, `fluentd-max-retries reached: ${String(err)}`);
          return;
        }
        const wait = Math.min(MAX_RETRY_WAIT_MS, this.config.retryWaitMs * RETRY_BACKOFF ** (p.failures - 1));
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.send(p);
        }, wait);
        this.retryTimers.add(timer);
      },
    );
  }

  private settle(p: PendingRecord): void {
    if (this.pendingCount === 0) return; // already given up at close
    this.pendingBytes -= p.bytes;
    this.pendingCount--;
    if (this.pendingCount === 0) this.onSettled?.();
  }

  /** fluentd-async-reconnect-interval: re-establish the connection periodically (a new DNS answer). */
  private scheduleReconnect(): void {
    this.reconnectTimer = setTimeout(() => {
      if (this.closed) return;
      void this.client
        .disconnect()
        .catch(() => undefined)
        .then(() => this.client.connect())
        .catch(() => undefined)
        .finally(() => {
          if (!this.closed) this.scheduleReconnect();
        });
    }, this.config.asyncReconnectIntervalMs);
  }

  private connectionError(err: unknown): void {
    // A synchronous start reports its own failure; an async one keeps trying and says so.
    if (this.connectingAtStart) return;
    const now = Date.now();
    if (now - this.lastErrorLogMs < DROP_WARN_INTERVAL_MS) return;
    this.lastErrorLogMs = now;
    log.warn('fluentd: cannot reach the server; lines wait in the buffer', {
      container: this.info.id,
      address: describeAddress(this.config.address),
      error: dialError(this.config, err),
    });
  }

  // Dropped lines must show in the engine's log, but not one warning per line.
  private drop(count: number, why: string): void {
    this.droppedSinceWarn += count;
    this.droppedTotal += count;
    const now = Date.now();
    if (now - this.lastWarnMs < DROP_WARN_INTERVAL_MS) return;
    this.lastWarnMs = now;
    log.warn('fluentd: dropping container log lines', {
      container: this.info.id,
      dropped: this.droppedSinceWarn,
      reason: why,
    });
    this.droppedSinceWarn = 0;
  }
}
