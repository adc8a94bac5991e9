// The syslog log driver: each line a syslog message, as dockerd's driver
// writes them (srslog's formats): stdout at severity info, stderr at err, the
// tag as the program name. Over UDP a message is one datagram; over a stream
// (tcp, tcp+tls, unix) it ends with a newline, or for RFC 5424 over TLS it is
// octet-counted (RFC 5425). A lost stream connection is made again; lines
// wait meanwhile, up to a bound, then are dropped and counted.
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { EngineError } from '../errors.js';
import { log } from '../util/logger.js';
import { goDialReason } from './go-values.js';
import type { ContainerLogInfo } from './log-info.js';
import { DEFAULT_TAG_TEMPLATE, renderLogTag } from './log-tag.js';
import type { LogDriver, LogMessage } from './log-types.js';
import type { SyslogAddress, SyslogConfig } from './syslog-options.js';

const CONNECT_TIMEOUT_MS = 3000;
/** Bytes waiting for a lost connection to come back before new lines are dropped. */
const BUFFER_LIMIT = 1024 * 1024;
const RETRY_MS = 1000;
const CLOSE_WAIT_MS = 2000;
const DROP_WARN_INTERVAL_MS = 10_000;
const SEVERITY = { stdout: 6, stderr: 3 } as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (n: number) => String(n).padStart(2, '0');

/** Go's time.Stamp ("Jan _2 15:04:05"), local time. */
function stamp(d: Date): string {
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** RFC 3339 in local time with its offset, to the second or the microsecond. */
function rfc3339(d: Date, micro: boolean, ns: bigint): string {
  const off = -d.getTimezoneOffset();
  const zone =
    off === 0
      ? 'Z'
      : `${off > 0 ? '+' : '-'}${two(Math.floor(Math.abs(off) / 60))}:${two(Math.abs(off) % 60)}`;
  const frac = micro ? `.${String((ns / 1000n) % 1_000_000n).padStart(6, '0')}` : '';
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}${frac}${zone}`;
}

/** `dial tcp 127.0.0.1:514` / `dial unix /path`, as Go's net package names the server in errors. */
function describe(a: SyslogAddress): string {
  if (a.protocol === 'unix') return `unix ${a.path}`;
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.protocol === 'udp' ? 'udp' : 'tcp'} ${host}:${a.port}`;
}

export class SyslogDriver implements LogDriver {
  readonly name = 'syslog';
  readonly readable = false;
  private readonly tag: string;
  private readonly hostname = os.hostname();
  private udp?: { socket: dgram.Socket; host: string; port: number };
  private stream?: net.Socket;
  private connected = false;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  private dropped = 0;
  private lastWarnMs = 0;

  constructor(
    private readonly config: SyslogConfig,
    opts: Record<string, string>,
    private readonly info: ContainerLogInfo,
  ) {
    this.tag = renderLogTag(opts, info, DEFAULT_TAG_TEMPLATE);
  }

  get backlogBytes(): number {
    return this.queuedBytes;
  }

  /** As dockerd: the server must be reachable when the container starts, or the start fails. */
  async start(): Promise<void> {
    try {
      const a = this.config.address;
      if (a.protocol === 'udp') {
        const { address, family } = await lookup(a.host);
        const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
        socket.on('error', (err) => this.warn('cannot send to the syslog server', err));
        socket.unref();
        this.udp = { socket, host: address, port: a.port };
        this.connected = true;
      } else {
        await this.connect();
      }
    } catch (err) {
      this.closed = true;
      throw new EngineError(
        'internal',
        `failed to initialize logging driver: dial ${describe(this.config.address)}: ${goDialReason(err)}`,
      );
    }
  }

  log(msg: LogMessage): void {
    if (this.closed) return;
    let text = msg.line.toString('utf8');
    if (text.endsWith('\n')) text = text.slice(0, -1);
    this.send(this.format(msg.stream, text, msg.timeNs));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const stream = this.stream;
    if (stream && this.connected && this.queue.length === 0) {
      // What was written goes out before the end.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_WAIT_MS);
        stream.end(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    stream?.destroy();
    this.udp?.socket.close();
    if (this.queue.length)
      this.drop(this.queue.length, 'the container stopped before the syslog server took them');
    this.queue = [];
    this.queuedBytes = 0;
    if (this.dropped > 0)
      log.warn('syslog: container log lines were dropped', {
        container: this.info.id,
        dropped: this.dropped,
      });
  }

  /** One message in the configured format, framed for the transport. */
  private format(stream: 'stdout' | 'stderr', text: string, timeNs: bigint): Buffer {
    const pri = this.config.facility * 8 + SEVERITY[stream];
    const d = new Date(Number(timeNs / 1_000_000n));
    const pid = process.pid;
    let body: string;
    switch (this.config.format) {
      case 'rfc3164':
        body = `<${pri}>${stamp(d)} ${this.hostname} ${this.tag}[${pid}]: ${text}`;
        break;
      case 'rfc5424':
      case 'rfc5424micro':
        body = `<${pri}>1 ${rfc3339(d, this.config.format === 'rfc5424micro', timeNs)} ${this.hostname} ${this.tag} ${pid} ${this.tag} - ${text}`;
        break;
      default:
        body = `<${pri}>${stamp(d)} ${this.tag}[${pid}]: ${text}`;
    }
    const a = this.config.address;
    if (a.protocol === 'udp') return Buffer.from(body);
    if (a.protocol === 'tcp+tls' && this.config.format.startsWith('rfc5424'))
      return Buffer.from(`${Buffer.byteLength(body)} ${body}`);
    return Buffer.from(`${body}\n`);
  }

  private send(message: Buffer): void {
    if (this.udp) {
      this.udp.socket.send(message, this.udp.port, this.udp.host);
      return;
    }
    if (this.connected && this.stream) {
      this.stream.write(message);
      return;
    }
    if (this.queuedBytes + message.length > BUFFER_LIMIT) {
      this.drop(1, 'the syslog server is unreachable and the buffer is full');
      return;
    }
    this.queue.push(message);
    this.queuedBytes += message.length;
  }

  private connect(): Promise<void> {
    const a = this.config.address;
    return new Promise<void>((resolve, reject) => {
      let socket: net.Socket;
      const onConnected = () => {
        clearTimeout(timer);
        this.stream = socket;
        this.connected = true;
        for (const m of this.queue) socket.write(m);
        this.queue = [];
        this.queuedBytes = 0;
        resolve();
      };
      if (a.protocol === 'unix') socket = net.connect(a.path, onConnected);
      else if (a.protocol === 'tcp') socket = net.connect(a.port, a.host, onConnected);
      else {
        const t = this.config.tls!;
        socket = tls.connect(
          {
            host: a.host,
            port: a.port,
            servername: net.isIP(a.host) ? undefined : a.host,
            ca: t.ca,
            cert: t.cert,
            key: t.key,
            rejectUnauthorized: !t.skipVerify,
          },
          onConnected,
        );
      }
      const timer = setTimeout(() => socket.destroy(new Error('i/o timeout')), CONNECT_TIMEOUT_MS);
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (!this.connected) reject(err);
        else this.warn('lost the connection to the syslog server; lines wait while it comes back', err);
      });
      socket.on('close', () => {
        if (this.stream !== socket) return;
        this.connected = false;
        this.stream = undefined;
        if (!this.closed) this.retryLater();
      });
    });
  }

  private retryLater(): void {
    this.retryTimer = setTimeout(() => {
      if (this.closed) return;
      this.connect().catch(() => this.retryLater());
    }, RETRY_MS);
  }

  private warn(what: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarnMs < DROP_WARN_INTERVAL_MS) return;
    this.lastWarnMs = now;
    log.warn(`syslog: ${what}`, {
      container: this.info.id,
      address: describe(this.config.address),
      error: (err as Error).message,
    });
  }

  private drop(count: number, why: string): void {
    this.dropped += count;
    this.warn(`dropping container log lines (${why})`, new Error(`${this.dropped} dropped so far`));
  }
}
