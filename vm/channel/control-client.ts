// The host's end of the host↔guest channel: one ssh2 connection over the
// VM's virtio-serial port (QEMU exposes it as a unix socket on the host).
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';
import { CONTROL_USER } from '../../common/control.js';
import { log } from '../util/log.js';

/**
 * The channel's cipher and MAC. ssh2's default, AES-GCM, is the fastest where
 * the guest runs on the CPU (AES-NI, PCLMUL). Under TCG every instruction of
 * the guest is emulated and its decryption was the largest cost of a port
 * tunnel: AES-CTR with HMAC-SHA1 (encrypt-then-MAC) measured ~15% more
 * throughput there (16.5 against 14.5 MB/s into the guest). All of these are
 * in ssh2's defaults, so the guest's server needs no change.
 */
export function channelAlgorithms(accel: string | undefined): ssh2.Algorithms | undefined {
  if (accel !== 'tcg') return undefined;
  return {
    cipher: ['aes128-ctr', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes256-ctr'],
    hmac: ['hmac-sha1-etm@openssh.com', 'hmac-sha2-256-etm@openssh.com', 'hmac-sha2-256'],
  };
}

export class ControlClient {
  /** The cipher and MAC the connection uses (client to server). */
  cipher = '';

  private constructor(private readonly conn: ssh2.Client) {}

  /** One attempt: connect and authenticate, or throw. */
  static connectOnce(
    socketPath: string,
    privateKey: string,
    timeoutMs: number,
    algorithms?: ssh2.Algorithms,
  ): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(socketPath);
      const conn = new ssh2.Client();
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return log.debug('control connection', { error: err.message });
        settled = true;
        conn.end();
        sock.destroy();
        reject(err);
      };
      sock.on('error', fail);
      conn.on('error', fail);
      let cipher = '';
      conn.on('handshake', (n: ssh2.NegotiatedAlgorithms) => {
        cipher = n.cs.mac ? `${n.cs.cipher} ${n.cs.mac}` : n.cs.cipher;
      });
      sock.once('connect', () => {
        conn.once('ready', () => {
          settled = true;
          const client = new ControlClient(conn);
          client.cipher = cipher;
          resolve(client);
        });
        conn.connect({
          sock,
          username: CONTROL_USER,
          privateKey,
          readyTimeout: timeoutMs,
          // A guest that stops answering (its control server gone) ends the connection, and the machine reconnects.
          keepaliveInterval: 15_000,
          keepaliveCountMax: 4,
          // The other end is the guest on a point-to-point port QEMU gives only to us; its key is made per boot.
          hostVerifier: () => true,
          ...(algorithms ? { algorithms } : {}),
        });
      });
    });
  }

  /** Connects, retrying until the guest's control server answers or the deadline passes. */
  static async connect(
    socketPath: string,
    privateKey: string,
    deadline: number,
    alive: () => boolean,
    algorithms?: ssh2.Algorithms,
  ): Promise<ControlClient> {
    let last: Error | undefined;
    while (Date.now() < deadline && alive()) {
      try {
        return await ControlClient.connectOnce(
          socketPath,
          privateKey,
          Math.max(1000, Math.min(10_000, deadline - Date.now())),
          algorithms,
        );
      } catch (err) {
        last = err as Error;
        log.debug('control connect', { error: last.message });
        await sleep(250);
      }
    }
    throw new Error(`the guest's control server did not answer${last ? ` (${last.message})` : ''}`);
  }

  /** A stream to a unix socket inside the guest. */
  openSocket(guestPath: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.conn.openssh_forwardOutStreamLocal(guestPath, (err, channel) =>
        err ? reject(err) : resolve(channel),
      );
    });
  }

  /** A TCP stream to an address of the guest (where the engine publishes a port). */
  openTcp(guestIp: string, guestPort: number, fromIp: string, fromPort: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.conn.forwardOut(fromIp, fromPort, guestIp, guestPort, (err, channel) =>
        err ? reject(err) : resolve(channel),
      );
    });
  }

  /** A control command's channel, left open for the caller (udp-forward's framed datagrams). */
  openExec(command: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.conn.exec(command, (err, stream) => (err ? reject(err) : resolve(stream)));
    });
  }

  /**
   * A shell (command undefined) or a shell command in the guest, as root, on a
   * channel left to the caller, with its exit status once it has closed (255
   * when it closed without one: the connection dropped).
   */
  openShell(
    command: string | undefined,
    pty?: { term: string; cols: number; rows: number },
  ): Promise<{ channel: ssh2.ClientChannel; exitCode: Promise<number> }> {
    const options: ssh2.PseudoTtyOptions | false = pty
      ? { term: pty.term, cols: pty.cols, rows: pty.rows }
      : false;
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, channel: ssh2.ClientChannel) => {
        if (err) return reject(err);
        // Listened to here, not by the caller: the status may come in the same
        // read as the channel's confirmation, before a promise continuation runs.
        const exitCode = new Promise<number>((resolveExit) => {
          let status = 255;
          channel.on('exit', (code: number | null, signal?: string) => {
            status = code ?? 128 + (signal ? (os.constants.signals[signal as NodeJS.Signals] ?? 0) : 0);
          });
          channel.on('close', () => resolveExit(status));
        });
        resolve({ channel, exitCode });
      };
      if (command === undefined) this.conn.shell(options, done);
      else this.conn.exec(command, { pty: options }, done);
    });
  }

  /** Runs a control command; resolves with its output. */
  run(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.conn.exec(command, (err, stream) => {
        if (err) return reject(err);
        let out = '';
        stream.on('data', (d: Buffer) => (out += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (out += d.toString()));
        stream.on('close', (code: number | null) =>
          code === 0 || code === null ? resolve(out) : reject(new Error(out.trim())),
        );
      });
    });
  }

  onClose(cb: () => void): void {
    this.conn.once('close', cb);
  }

  close(): void {
    this.conn.end();
  }
}
