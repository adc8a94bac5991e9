// The guest's control server: an ssh2 server on each virtio-port session.
// The host authenticates with its per-install key; it may then tunnel to the
// engine's socket (direct-streamlocal), to ports published in the guest
// (direct-tcpip, to the guest's own addresses only) and run the control commands.
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import { CONTROL_COMMANDS, GUEST_ENGINE_SOCKET } from '../../common/control.js';
import { FrameDecoder, encodeFrame } from '../../common/udp-frames.js';

const { Server, utils } = ssh2;

export interface ControlServerOptions {
  /** The host's public key, in OpenSSH format ("ssh-ed25519 AAAA…"). */
  authorizedKey: string;
  /** The engine socket tunnels may reach (default GUEST_ENGINE_SOCKET). */
  engineSocket?: string;
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
    // The host key is made fresh at each start: the port is a point-to-point
    // link owned by the host's QEMU, so the host does not pin it.
    const hostKey = utils.generateKeyPairSync('ed25519').private;
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
          if (info.socketPath !== engineSocket) return reject();
          const upstream = net.connect(info.socketPath);
          upstream.once('connect', () => {
            const channel = accept();
            // Half-closes travel both ways: docker's attach sends EOF on stdin and waits for output.
            channel.pipe(upstream);
            upstream.pipe(channel);
            channel.on('close', () => upstream.destroy());
            upstream.on('close', () => channel.close());
            upstream.on('error', () => channel.close());
          });
          upstream.once('error', () => reject());
        });
        // The host's port forwarding: a published port is reached where the engine listens in the guest.
        client.on('tcpip', (accept, reject, info) => {
          if (!isGuestAddress(info.destIP)) return reject();
          const upstream = net.connect({ host: info.destIP, port: info.destPort });
          upstream.once('connect', () => {
            const channel = accept();
            channel.pipe(upstream);
            upstream.pipe(channel);
            channel.on('close', () => upstream.destroy());
            upstream.on('close', () => channel.close());
            upstream.on('error', () => channel.close());
          });
          upstream.once('error', () => reject());
        });
        client.on('session', (acceptSession) => {
          const session = acceptSession();
          session.on('exec', (acceptExec, _rejectExec, info) => {
            const stream = acceptExec();
            const [command, ...args] = info.command.split(' ');
            if (command === CONTROL_COMMANDS.udpForward) return relayUdp(stream, args);
            switch (info.command) {
              case CONTROL_COMMANDS.ping:
                stream.end('ok\n');
                stream.exit(0);
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
        });
      });
      client.on('error', (err) => opts.log(`control connection: ${err.message}`));
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
