// The engine's socket on the host (~/.berth/docker.sock): each connection a
// channel to the guest engine's unix socket. (Also the socket `berth vm ssh`
// uses, to the guest's control server.) Half-closes pass through both
// ways, so hijacked streams (attach, exec) behave as on a local socket.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { GUEST_ENGINE_SOCKET } from '../../common/control.js';
import { splice } from '../../common/splice.js';
import type { ControlClient } from './control-client.js';
import { log } from '../util/log.js';

export class EngineSocketForwarder {
  private readonly server: net.Server;
  private readonly open = new Set<net.Socket>();

  constructor(
    private readonly socketPath: string,
    private readonly control: () => ControlClient | undefined,
    private readonly guestSocket: string = GUEST_ENGINE_SOCKET,
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
    sock.pause();
    client.openSocket(this.guestSocket).then(
      (channel) => {
        if (sock.destroyed) return channel.destroy();
        splice(sock, channel);
        sock.resume();
      },
      (err: Error) => {
        log.debug('engine channel', { error: err.message });
        sock.destroy();
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
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await fs.rm(this.socketPath, { force: true });
  }
}
