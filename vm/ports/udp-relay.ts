// One forwarded UDP port on the host: datagrams from each host-side client go
// to the guest on a channel of their own (framed, common/udp-frames.ts), and
// what comes back on that channel goes to that client, as Docker's userland
// proxy does with one socket per client. A client quiet for a minute gives up
// its channel.
import dgram from 'node:dgram';
import type { Duplex } from 'node:stream';
import { FrameDecoder, MAX_DATAGRAM, encodeFrame } from '../../common/udp-frames.js';
import { log } from '../util/log.js';

/** A framed-datagram channel to guestIp:guestPort. */
export type OpenUdp = (guestIp: string, guestPort: number) => Promise<Duplex>;

const IDLE_MS = 60_000;

interface Client {
  channel: Promise<Duplex>;
  timer: NodeJS.Timeout;
}

export class UdpRelay {
  private readonly socket: dgram.Socket;
  private readonly clients = new Map<string, Client>();
  private closed = false;
  /** Bound to its host port and not closed: serving. */
  bound = false;

  constructor(
    private readonly bind: string,
    private readonly port: number,
    private readonly guestIp: string,
    private readonly openUdp: OpenUdp,
  ) {
    const v6 = bind.includes(':');
    this.socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    this.socket.on('message', (msg, from) => this.fromHost(msg, from));
    this.socket.on('close', () => (this.bound = false));
  }

  /** Binds the host port; rejects with the socket's error (EADDRINUSE, …). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ address: this.bind, port: this.port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.socket.on('error', (err) => log.debug('udp relay', { port: this.port, error: err.message }));
        this.bound = !this.closed;
        resolve();
      });
    });
  }

  private fromHost(msg: Buffer, from: dgram.RemoteInfo): void {
    if (this.closed || msg.length > MAX_DATAGRAM) return;
    const key = `${from.address}|${from.port}`;
    let client = this.clients.get(key);
    if (!client) {
      const channel = this.openUdp(this.guestIp, this.port);
      client = { channel, timer: setTimeout(() => this.drop(key), IDLE_MS) };
      this.clients.set(key, client);
      channel.then(
        (ch) => {
          const decoder = new FrameDecoder((d) => {
            if (!this.closed) this.socket.send(d, from.port, from.address);
          });
          ch.on('data', (chunk: Buffer) => decoder.push(chunk));
          ch.on('close', () => this.drop(key));
          ch.on('error', () => this.drop(key));
        },
        (err: Error) => {
          log.debug('udp channel', { port: this.port, error: err.message });
          this.drop(key);
        },
      );
    } else {
      client.timer.refresh();
    }
    void client.channel.then(
      (ch) => ch.writable && ch.write(encodeFrame(msg)),
      () => {},
    );
  }

  private drop(key: string): void {
    const client = this.clients.get(key);
    if (!client) return;
    this.clients.delete(key);
    clearTimeout(client.timer);
    void client.channel.then(
      (ch) => ch.end(),
      () => {},
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bound = false;
    for (const key of [...this.clients.keys()]) this.drop(key);
    this.socket.close();
  }
}
