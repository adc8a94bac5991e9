// Automatic port forwarding: a port the engine publishes in the guest is
// opened at the same address and port on the host. A TCP port on an IPv4
// address is forwarded by QEMU itself when it can (hostfwd.ts: several times
// the throughput under TCG, no process of ours copies the bytes); otherwise
// each TCP connection is tunnelled over the ssh2 channel (direct-tcpip) to
// where the engine listens in the guest, and UDP datagrams go through
// udp-relay.ts. 127.0.0.1 stays loopback-only; 0.0.0.0 and :: are all of the
// host's interfaces, as Docker Desktop does (loopbackOnly, for tests and for
// users who want nothing reachable from outside, keeps them on loopback). A
// port the host cannot open is reported, never fatal: the container still
// runs and is reachable inside the VM.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PortEvent } from '../../common/port-events.js';
import { splice } from '../../common/splice.js';
import { log } from '../util/log.js';
import { HOST_NETWORK } from './host-network-ports.js';
import { UdpRelay, type OpenUdp } from './udp-relay.js';

export type OpenTcp = (
  guestIp: string,
  guestPort: number,
  fromIp: string,
  fromPort: number,
) => Promise<Duplex>;

/**
 * The VM's own forwarding of a host port to the same port at the guest's uplink
 * (QEMU's hostfwd), where the engine's NAT delivers it (its --forward-iface).
 */
export interface UplinkForward {
  add(proto: 'tcp', bind: string, port: number): Promise<void>;
  remove(proto: 'tcp', bind: string, port: number): Promise<void>;
}

export interface PortForwarderOptions {
  /** Tried first for TCP on IPv4; a port it refuses is tunnelled instead. */
  uplink?: UplinkForward;
  /** A stream to an address and port in the guest (the channel's direct-tcpip). */
  openTcp: OpenTcp;
  /** A framed-datagram channel to an address and port in the guest (udp-forward). */
  openUdp: OpenUdp;
  /** Open 0.0.0.0 and :: publications on the host's loopback only. */
  loopbackOnly: boolean;
  /** One line for the VM's log: a port that could not be forwarded, and why. */
  report: (msg: string) => void;
  /** The set of forwarded or failed ports changed (to refresh the VM's status). */
  onChange: () => void;
}

/** Where the host listens for a publication made in the guest at hostIp. */
export function hostBindAddress(hostIp: string, loopbackOnly: boolean): string {
  const ip = hostIp || '0.0.0.0';
  if (!loopbackOnly) return ip;
  if (ip === '::' || ip === '::1') return '::1';
  return ip.startsWith('127.') ? ip : '127.0.0.1';
}

/** Where, in the guest, a connection for a publication at hostIp goes: the engine listens there. */
export function guestTargetAddress(hostIp: string): string {
  if (!hostIp || hostIp === '0.0.0.0') return '127.0.0.1';
  if (hostIp === '::') return '::1';
  return hostIp;
}

function label(e: Pick<PortEvent, 'hostIp' | 'hostPort' | 'proto'>, bind?: string): string {
  const ip = bind ?? e.hostIp;
  return `${ip.includes(':') ? `[${ip}]` : ip}:${e.hostPort}/${e.proto}`;
}

interface Listener {
  close(): void;
  closed: boolean;
  /** Opening, or bound and serving (false once its socket failed or closed on its own). */
  alive(): boolean;
  settled: boolean;
  /** Forwarded by the uplink (QEMU), not tunnelled. */
  viaUplink: boolean;
}

/** Two publications of one TCP or UDP port on IPv4 addresses. */
function samePort(a: PortEvent, b: PortEvent): boolean {
  return (
    a.proto === b.proto &&
    a.hostPort === b.hostPort &&
    net.isIPv4(a.hostIp || '0.0.0.0') &&
    net.isIPv4(b.hostIp || '0.0.0.0')
  );
}

function why(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'the port is already in use on the host';
    case 'EACCES':
      return 'not allowed to open it on the host';
    case 'EADDRNOTAVAIL':
      return 'the host has no such address';
    default:
      return err.message;
  }
}

export class PortForwarder {
  private readonly listeners = new Map<string, Listener>();
  /** key → why the port is not forwarded. */
  private readonly problems = new Map<string, string>();
  private readonly forwarded = new Map<string, string>();
  /** key → the publication, to open again on refresh(). */
  private readonly publications = new Map<string, PortEvent>();
  /** host port → QEMU's removal of its rule, until done: a listener of ours for that port waits for it. */
  private readonly uplinkRemovals = new Map<number, Promise<void>>();

  constructor(private readonly opts: PortForwarderOptions) {}

  apply(e: PortEvent): void {
    const key = `${e.proto}/${e.hostIp}/${e.hostPort}`;
    if (e.action === 'unpublish') {
      this.unpublish(key);
      return;
    }
    this.unpublish(key); // a publication that changed container: open afresh
    this.publications.set(key, e);
    // The uplink has one port for every address: a port published on two is tunnelled on both.
    for (const [k, other] of this.publications) {
      if (k !== key && this.listeners.get(k)?.viaUplink && samePort(other, e)) this.reopen(k, other);
    }
    this.open(key, e);
  }

  private reopen(key: string, e: PortEvent): void {
    const entry = this.listeners.get(key);
    if (entry) {
      entry.closed = true;
      entry.close();
      this.listeners.delete(key);
    }
    this.forwarded.delete(key);
    this.problems.delete(key);
    this.open(key, e);
  }

  /**
   * The uplink reaches it: an IPv4 TCP publication whose port is published on
   * no other address, by the engine (whose NAT takes the uplink's arrivals to
   * it) or by a host-network container listening on every address.
   */
  private uplinkReaches(e: PortEvent, bind: string): boolean {
    if (!this.opts.uplink || e.proto !== 'tcp' || !net.isIPv4(bind) || !net.isIPv4(e.hostIp || '0.0.0.0'))
      return false;
    if (e.containerId === HOST_NETWORK && (e.hostIp || '0.0.0.0') !== '0.0.0.0') return false;
    for (const other of this.publications.values()) if (other !== e && samePort(other, e)) return false;
    return true;
  }

  /**
   * Opens again every publication whose host listener is gone or could not be
   * opened: after the host slept (its network may have changed, a port may
   * have been freed), and whenever the machine asks. Working listeners and
   * their connections are left alone. Returns how many were opened again.
   */
  refresh(): number {
    let reopened = 0;
    for (const [key, e] of this.publications) {
      if (this.listeners.get(key)?.alive()) continue;
      this.reopen(key, e);
      reopened++;
    }
    if (reopened) this.opts.onChange();
    return reopened;
  }

  private open(key: string, e: PortEvent): void {
    const bind = hostBindAddress(e.hostIp, this.opts.loopbackOnly);
    const target = guestTargetAddress(e.hostIp);
    const uplink = this.opts.uplink;
    if (!uplink || !this.uplinkReaches(e, bind)) {
      this.openTunnelled(key, e, bind, target);
      return;
    }
    const entry = this.newEntry(key);
    entry.viaUplink = true;
    // QEMU keeps its listener across the host's sleep: alive for as long as the publication.
    entry.alive = () => true;
    entry.close = () => {
      const removed = uplink
        .remove('tcp', bind, e.hostPort)
        .catch((err: Error) => log.debug('uplink forward removal', { error: err.message }));
      this.uplinkRemovals.set(e.hostPort, removed);
      void removed.then(() => {
        if (this.uplinkRemovals.get(e.hostPort) === removed) this.uplinkRemovals.delete(e.hostPort);
      });
    };
    const { opened } = this.outcome(key, e, bind, 'the uplink', entry);
    uplink.add('tcp', bind, e.hostPort).then(opened, (err: Error) => {
      entry.settled = true;
      if (entry.closed) return;
      // A port taken on the host is then reported by the tunnel's own listener, in the host's words.
      log.debug('QEMU cannot forward the port; tunnelling it', { port: label(e, bind), error: err.message });
      entry.closed = true;
      this.listeners.delete(key);
      this.openTunnelled(key, e, bind, target);
    });
  }

  private newEntry(key: string): Listener {
    const entry: Listener = {
      close: () => {},
      closed: false,
      alive: () => false,
      settled: false,
      viaUplink: false,
    };
    this.listeners.set(key, entry);
    return entry;
  }

  /** What becomes of the publication when its listener opens, or fails to. */
  private outcome(key: string, e: PortEvent, bind: string, to: string, entry: Listener) {
    const opened = () => {
      entry.settled = true;
      if (entry.closed) return;
      this.forwarded.set(key, label(e, bind));
      log.debug('port forwarded', { port: label(e, bind), to });
      this.opts.onChange();
    };
    const failed = (err: NodeJS.ErrnoException) => {
      entry.settled = true;
      if (entry.closed) return;
      this.listeners.delete(key);
      entry.close();
      this.fail(
        key,
        `${label(e, bind)}: not forwarded to the host: ${why(err)} (the container is reachable inside the VM only)`,
      );
    };
    return { opened, failed };
  }

  private openTunnelled(key: string, e: PortEvent, bind: string, target: string): void {
    const entry = this.newEntry(key);
    const { opened, failed } = this.outcome(key, e, bind, `${target}:${e.hostPort}`, entry);
    if (e.proto === 'udp') {
      const relay = new UdpRelay(bind, e.hostPort, target, this.opts.openUdp);
      entry.close = () => relay.close();
      entry.alive = () => !entry.settled || relay.bound;
      relay.listen().then(opened, failed);
      return;
    }
    // No Nagle delay, as Docker's proxy: request/response protocols would stall on it.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    const sockets = new Set<net.Socket>();
    entry.close = () => {
      server.close();
      for (const s of sockets) s.destroy();
    };
    entry.alive = () => !entry.settled || server.listening;
    server.on('connection', (sock) => this.tunnel(sockets, sock, target, e.hostPort));
    server.once('error', failed);
    const listen = () => {
      if (!entry.closed)
        server.listen({ host: bind, port: e.hostPort, ipv6Only: bind.includes(':') }, opened);
    };
    // QEMU may still hold the port for a publication moved off the uplink.
    const removal = this.uplinkRemovals.get(e.hostPort);
    if (removal) void removal.then(listen);
    else listen();
  }

  private fail(key: string, msg: string): void {
    this.problems.set(key, msg);
    this.opts.report(msg);
    this.opts.onChange();
  }

  private unpublish(key: string): void {
    this.publications.delete(key);
    const entry = this.listeners.get(key);
    const wasForwarded = this.forwarded.delete(key);
    const hadProblem = this.problems.delete(key);
    if (entry) {
      this.listeners.delete(key);
      entry.closed = true;
      entry.close();
    }
    if (wasForwarded || hadProblem) this.opts.onChange();
  }

  private tunnel(sockets: Set<net.Socket>, sock: net.Socket, guestIp: string, guestPort: number): void {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.pause();
    this.opts.openTcp(guestIp, guestPort, sock.remoteAddress ?? '127.0.0.1', sock.remotePort ?? 0).then(
      (channel) => {
        if (sock.destroyed) return channel.destroy();
        splice(sock, channel);
        sock.resume();
      },
      (err: Error) => {
        log.debug('port tunnel', { to: `${guestIp}:${guestPort}`, error: err.message });
        sock.destroy();
      },
    );
  }

  /** The ports forwarded now, and those that could not be, with why. */
  summary(): { forwarded: string[]; problems: string[] } {
    return { forwarded: [...this.forwarded.values()].sort(), problems: [...this.problems.values()] };
  }

  /** Closes every listener and connection. */
  close(): void {
    for (const key of [...this.listeners.keys()]) this.unpublish(key);
    this.forwarded.clear();
    this.problems.clear();
  }
}
