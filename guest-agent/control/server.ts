// The guest's control server: an ssh2 server on each virtio-port session.
// The host authenticates with its per-install key; it may then tunnel to the
// engine's socket (direct-streamlocal), to ports published in the guest
// (direct-tcpip, to the guest's own addresses only) and run the control commands.
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import {
  CONTROL_COMMANDS,
  CONTROL_COMMAND_PREFIX,
  GUEST_CONTROL_SOCKET,
  GUEST_ENGINE_SOCKET,
} from '../../common/control.js';
import { generateEd25519 } from '../../common/ed25519-keys.js';
import { splice } from '../../common/splice.js';
import { FrameDecoder, encodeFrame } from '../../common/udp-frames.js';
import { runShell, type PtyRequest } from './shell.js';
import { setClock } from './clock.js';
import { listeningPorts } from './listeners.js';

const { Server, utils } = ssh2;

export interface ControlServerOptions {
  /** The host's public key, in OpenSSH format ("ssh-ed25519 AAAA…"). */
  authorizedKey: string;
  /** The engine socket tunnels may reach (default GUEST_ENGINE_SOCKET). */
  engineSocket?: string;
  /** The control server's own socket (default GUEST_CONTROL_SOCKET), which `berth vm ssh` tunnels to. */
  controlSocket?: string;
  /** Called for `shutdown`. */
  onShutdown: () => void;
  log: (msg: string) => void;
}

export class ControlServer {
  private readonly server: InstanceType<typeof Server>;

  constructor(opts: ControlServerOptions) {
    const allowed = utils.parseKey(opts.authorizedKey);
    if (allowed instanceof Error) throw new Error(`bad authorized key: ${allowed.message}`);
    const engineSocket = opts.engineSocket ?? GUEST_ENGINE_SOCKET;
    const controlSocket = opts.controlSocket ?? GUEST_CONTROL_SOCKET;
    // The host key is made fresh at each start: the port is a point-to-point
    // link owned by the host's QEMU, so the host does not pin it.
    const hostKey = generateEd25519().private;
    this.server = new Server({ hostKeys: [hostKey] }, (client) => {
      client.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
        const sameKey =
          ctx.key.algo === allowed.type && Buffer.compare(ctx.key.data, allowed.getPublicSSH()) === 0;
        if (!sameKey) return ctx.reject(['publickey']);
        if (!ctx.signature) return ctx.accept(); // the client asks whether the key would do
        if (allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
        ctx.accept();
      });
      client.on('ready', () => {
        client.on('openssh.streamlocal', (accept, reject, info) => {
          if (info.socketPath !== engineSocket && info.socketPath !== controlSocket) return reject();
          const upstream = net.connect(info.socketPath);
          // Half-closes travel both ways: docker's attach sends EOF on stdin and waits for output.
          upstream.once('connect', () => splice(upstream, accept()));
          upstream.once('error', () => reject());
        });
        // The host's port forwarding: a published port is reached where the engine listens in the guest.
        client.on('tcpip', (accept, reject, info) => {
          if (!isGuestAddress(info.destIP)) return reject();
          const upstream = net.connect({ host: info.destIP, port: info.destPort, noDelay: true });
          upstream.once('connect', () => splice(upstream, accept()));
          upstream.once('error', () => reject());
        });
        client.on('session', (acceptSession) => this.session(acceptSession(), opts));
      });
      client.on('error', (err) => opts.log(`control connection: ${err.message}`));
    });
  }

  /**
   * One session channel: a control command (exec "berth:…"), or a shell or a
   * shell command for `berth vm ssh`, with the pty, env and window-change
   * requests that come with them.
   */
  private session(session: ssh2.Session, opts: ControlServerOptions): void {
    let pty: PtyRequest | undefined;
    const env: Record<string, string> = {};
    let resize: ((cols: number, rows: number) => void) | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term, cols: info.cols, rows: info.rows };
      accept?.();
    });
    session.on('env', (accept, _reject, info) => {
      env[info.key] = info.val;
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows });
      resize?.(info.cols, info.rows);
      accept?.();
    });
    const startShell = (channel: ssh2.ServerChannel, command: string | undefined) => {
      runShell(channel, command, pty, env).then(
        (r) => (resize = r),
        (err: Error) => {
          channel.stderr.write(`berth: ${err.message}\n`);
          channel.exit(126);
          channel.end();
        },
      );
    };
    session.on('shell', (accept) => startShell(accept(), undefined));
    session.on('exec', (accept, _reject, info) => {
      const stream = accept();
      if (!info.command.startsWith(CONTROL_COMMAND_PREFIX)) return startShell(stream, info.command);
      const [command, ...args] = info.command.split(' ');
      switch (command) {
        case CONTROL_COMMANDS.udpForward:
          return relayUdp(stream, args);
        case CONTROL_COMMANDS.ping:
          // The status before the end: a channel that has ended sends nothing more.
          stream.write('ok\n');
          stream.exit(0);
          stream.end();
          break;
        case CONTROL_COMMANDS.listeners:
          return streamListeners(stream);
        case CONTROL_COMMANDS.timeSync:
          setClock(Number(args[0])).then(
            (now) => {
              stream.write(`${now}\n`);
              stream.exit(0);
              stream.end();
            },
            (err: Error) => {
              stream.stderr.write(`time-sync: ${err.message}\n`);
              stream.exit(1);
              stream.end();
            },
          );
          break;
        case CONTROL_COMMANDS.shutdown:
          stream.exit(0);
          stream.end();
          opts.onShutdown();
          break;
        default:
          stream.stderr.write(`unknown command: ${info.command}\n`);
          stream.exit(127);
          stream.end();
      }
    });
  }

  /** Serves one host connection (a virtio-port session or, in tests, a socket). */
  serve(stream: Duplex): void {
    this.server.injectSocket(stream as net.Socket);
  }
}

/** Loopback or an address of one of the guest's own interfaces: the tunnels the host may open go nowhere else. */
export function isGuestAddress(ip: string): boolean {
  if (!net.isIP(ip)) return false;
  if (ip === '::1' || ip.startsWith('127.')) return true;
  return Object.values(os.networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === ip));
}

/** The guest end of a forwarded UDP port: framed datagrams from the channel to IP:PORT, replies back. */
function relayUdp(stream: ssh2.ServerChannel, args: string[]): void {
  const [ip, portText] = args;
  const port = Number(portText);
  if (!ip || !isGuestAddress(ip) || !Number.isInteger(port) || port < 1 || port > 65535) {
    stream.stderr.write(`udp-forward: not a guest address and port: ${args.join(' ')}\n`);
    stream.exit(2);
    stream.end();
    return;
  }
  const sock = dgram.createSocket(net.isIPv6(ip) ? 'udp6' : 'udp4');
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    sock.close();
    if (stream.writable) {
      stream.exit(0);
      stream.end();
    }
  };
  sock.on('error', close);
  sock.on('message', (msg, from) => {
    if (from.port === port) stream.write(encodeFrame(msg)); // replies only, not strays to our port
  });
  const decoder = new FrameDecoder((d) => {
    if (open) sock.send(d, port, ip);
  });
  stream.on('data', (chunk: Buffer) => decoder.push(chunk));
  stream.on('end', close);
  stream.on('close', close);
}

/** The listening TCP and served UDP ports, polled each second, written as a JSON line whenever they change. */
function streamListeners(stream: ssh2.ServerChannel): void {
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    const now = JSON.stringify(await listeningPorts());
    if (!stream.writable) return;
    if (now !== last) stream.write(now + '\n');
    last = now;
    timer = setTimeout(() => void poll(), 1000);
  };
  stream.on('close', () => clearTimeout(timer));
  void poll();
}
