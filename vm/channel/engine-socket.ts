// The engine's socket on the host (~/.berth/docker.sock): each connection a
// channel to the guest engine's unix socket. (Also the socket `berth vm ssh`
// uses, to the guest's control server.) Half-closes pass through both
// ways, so hijacked streams (attach, exec) behave as on a local socket.
//
// Opening a channel is most of a short command's cost through the VM (under
// TCG about 15 ms of `docker ps`'s 30: the guest's control server connects to
// the engine before it confirms), so one channel is kept open ahead for the
// next connection, as a connection pool would. A new connection whose
// channel closes before the engine answers anything is given a second
// channel (unanswered-retry.ts).
import { promises as fs } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { GUEST_ENGINE_SOCKET } from '../../common/control.js';
import { splice } from '../../common/splice.js';
import type { ControlClient } from './control-client.js';
import { log } from '../util/log.js';
import { UnansweredRetry } from './unanswered-retry.js';

/**
 * A spare older than this is not handed out (it is closed, and the connection
 * gets a fresh channel): the far end may have dropped an idle connection.
 */
const SPARE_MAX_AGE_MS = 30_000;

interface Spare {
  channel: Duplex;
  client: ControlClient;
  openedAt: number;
  closed: boolean;
  /** Takes off the spare's own listeners, before it is handed out. */
  release?: () => void;
}

export class EngineSocketForwarder {
  private readonly server: net.Server;
  private readonly open = new Set<net.Socket>();
  private spare: Spare | undefined;
  private spareOpening = false;
  private closing = false;

  constructor(
    private readonly socketPath: string,
    private readonly control: () => ControlClient | undefined,
    private readonly guestSocket: string = GUEST_ENGINE_SOCKET,
    /** Keep a channel open ahead for the next connection. */
    private readonly keepSpare = false,
  ) {
    this.server = net.createServer({ allowHalfOpen: true }, (sock) => this.forward(sock));
  }

  private forward(sock: net.Socket): void {
    this.open.add(sock);
    sock.on('close', () => this.open.delete(sock));
    sock.on('error', () => sock.destroy());
    const client = this.control();
    if (!client) {
      sock.destroy();
      return;
    }
    const spare = this.takeSpare(client);
    if (spare) {
      splice(sock, this.retrying(spare, client));
      this.openSpare();
      return;
    }
    sock.pause();
    client.openSocket(this.guestSocket).then(
      (channel) => {
        if (sock.destroyed) return channel.destroy();
        splice(sock, this.retrying(channel, client));
        sock.resume();
        this.openSpare();
      },
      (err: Error) => {
        log.debug('engine channel', { error: err.message });
        sock.destroy();
      },
    );
  }

  /** A connection's channel, opened again should it close unanswered (see unanswered-retry.ts). */
  private retrying(channel: Duplex, client: ControlClient): Duplex {
    return new UnansweredRetry(channel, () => client.openSocket(this.guestSocket));
  }

  /** The spare channel, when it is of this connection to the guest, still open and not too old. */
  private takeSpare(client: ControlClient): Duplex | undefined {
    const spare = this.spare;
    this.spare = undefined;
    if (!spare || spare.closed) return undefined;
    spare.release?.();
    if (spare.client !== client || Date.now() - spare.openedAt > SPARE_MAX_AGE_MS) {
      spare.channel.destroy();
      return undefined;
    }
    return spare.channel;
  }

  /**
   * Opens the next spare, at start and after each connection: never on a
   * timer (an idle VM stays idle), and not again after a failure until a
   * connection succeeds.
   */
  private openSpare(): void {
    if (!this.keepSpare || this.closing || this.spare || this.spareOpening) return;
    const client = this.control();
    if (!client) return;
    this.spareOpening = true;
    client.openSocket(this.guestSocket).then(
      (channel) => {
        this.spareOpening = false;
        if (this.closing || this.spare) return void channel.destroy();
        const spare: Spare = { channel, client, openedAt: Date.now(), closed: false };
        // Until it is handed out: the guest end closing it (the engine restarted) retires it. Its end shows
        // only to a reader: a 'readable' listener sees it without taking any bytes (the engine sends none
        // unasked; were it to, they stay buffered for the connection).
        const retire = () => {
          spare.closed = true;
          if (this.spare === spare) this.spare = undefined;
        };
        const onReadable = () => {
          if (channel.readableLength === 0) channel.read(0);
        };
        channel.on('readable', onReadable);
        channel.once('end', retire);
        channel.once('close', retire);
        channel.on('error', retire);
        spare.release = () => {
          channel.off('readable', onReadable);
          channel.off('end', retire);
          channel.off('close', retire);
          channel.off('error', retire);
        };
        this.spare = spare;
      },
      (err: Error) => {
        this.spareOpening = false;
        log.debug('spare engine channel', { error: err.message });
      },
    );
  }

  async listen(): Promise<void> {
    await fs.rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
    await fs.chmod(this.socketPath, 0o600);
    this.openSpare();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.spare?.channel.destroy();
    this.spare = undefined;
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await fs.rm(this.socketPath, { force: true });
  }
}
