// The engine's embedded DNS server: containers on a user network find each other
// by container name, alias and short ID, as with dockerd's 127.0.0.11; every
// other name is forwarded to the upstream resolvers.
//
// Where it listens, and why. dockerd runs its resolver inside each container's
// network namespace (127.0.0.11 plus DNAT rules there). Node cannot enter another
// namespace (no setns), so doing the same would take a helper process per
// container, 5–10 ms per spawn against a budget of 30 ms for all of a container's
// network setup. Instead the engine listens once per user network, in its own
// namespace, on that network's gateway address (each container's resolv.conf
// names 127.0.0.11, or the gateway when the engine runs without iptables). Starting a container costs no process or socket: the
// server finds the asker from the query's source address among the endpoints the
// network service keeps anyway. Inside the container, 127.0.0.11 is sent here by
// a DNAT rule in its namespace (dns-redirect.ts), loaded by the same process that
// makes the namespace, so it costs no process either.
//
// The listener takes a free port on the gateway address, and a DNAT rule per
// network (iptables.ts) sends <gateway>:53 from that network's bridge to it, so
// port 53 stays free for a container that publishes it (a DNS server run with
// `-p 53:53/udp`). Without iptables it binds <gateway>:53 itself.
//
// Queries to the gateway are addressed to the engine's own host: they cross INPUT,
// not FORWARD, so the BERTH isolation chains (which filter forwarded traffic)
// leave them alone, and --internal networks resolve their own names too.
//
// A query from an address that is no container on that network gets no answer at
// all: the server is no open resolver for whoever can route to a gateway.
import dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import { contains, parseIPv4, parseSubnet } from './ipam.js';
import { log } from '../util/logger.js';

export interface Upstream {
  address: string;
  port: number;
}

/** A user network as the resolver sees it. */
export interface DnsNetwork {
  name: string;
  /** "172.18.0.0/16": reverse lookups inside it are answered here, never forwarded. */
  subnet: string;
  endpoints: Array<{ ip: string; containerName: string; names: readonly string[] }>;
}

/** The container that sent a query. */
export interface DnsClient {
  /** Its user networks, the one the query arrived on first (its names win). */
  networks: DnsNetwork[];
  /** Its own resolvers (`docker run --dns`); undefined: the engine's. */
  upstreams?: Upstream[];
  /** It has a way out (a network that is not --internal): other names are forwarded. */
  external: boolean;
}

/** Who sent a query from `sourceIp` to the listener `key`; undefined: nobody to answer. */
export type DnsClientLookup = (key: string, sourceIp: string) => DnsClient | undefined;

export interface EmbeddedDnsOptions {
  clientOf: DnsClientLookup;
  /** The engine's --dns; without it, the nameservers of the host's resolv.conf. */
  upstreams?: Upstream[];
  /** Where the host's resolvers are read from (tests point elsewhere). */
  resolvConfPath?: string;
  /** How long one upstream gets to answer. */
  upstreamTimeoutMs?: number;
}

/** dockerd's TTL for container records. */
const TTL = 600;
/** dockerd's cap on queries being forwarded at once; beyond it, SERVFAIL. */
const MAX_FORWARDS = 100;
const UPSTREAM_TIMEOUT_MS = 4000;
const TCP_IDLE_MS = 10_000;
const RESOLV_CONF_TTL_MS = 5000;
const CLASSIC_UDP_SIZE = 512;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
type Rcode = keyof typeof RCODE;

/** What the engine answers itself; undefined from answerLocally means "forward it". */
export interface LocalAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN';
  answers: Answer[];
}

/** A resolver's address (dockerd's --dns takes addresses only, port 53). */
export function parseUpstream(text: string): Upstream | undefined {
  return net.isIP(text) ? { address: text, port: 53 } : undefined;
}

/** The nameservers of a resolv.conf text. */
export function nameserversOf(resolvConf: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const up = m && parseUpstream(m[1]);
    if (up) out.push(up);
  }
  return out;
}

function bare(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; undefined for anything else. */
function ptrAddress(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return undefined;
  const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
  return parseIPv4(ip) === undefined ? undefined : ip;
}

/**
 * The addresses of a name on the client's networks: "name" or "name.network",
 * where name is a container's name, alias, short ID or hostname. The first
 * network that knows the name answers, as in dockerd.
 */
function addressesOf(name: string, client: DnsClient): string[] | undefined {
  for (const n of client.networks) {
    const network = n.name.toLowerCase();
    const local = name.endsWith(`.${network}`) ? name.slice(0, -network.length - 1) : undefined;
    const ips = n.endpoints
      .filter((e) => e.names.some((d) => d.toLowerCase() === name || d.toLowerCase() === local))
      .map((e) => e.ip);
    if (ips.length) return [...new Set(ips)];
  }
  return undefined;
}

/** The engine's answer to one question, or undefined when it is for the upstream resolvers. */
export function answerLocally(q: Question, client: DnsClient): LocalAnswer | undefined {
  if (q.class && q.class !== 'IN') return undefined;
  const name = bare(q.name);
  // dns-packet's types leave out ANY (255), which it does decode.
  const type: string = q.type;
  if (type === 'PTR') {
    const ip = ptrAddress(name);
    if (!ip) return undefined;
    for (const n of client.networks) {
      const e = n.endpoints.find((x) => x.ip === ip);
      if (e) {
        return {
          rcode: 'NOERROR',
          answers: [
            { type: 'PTR', name: q.name, ttl: TTL, class: 'IN', data: `${e.containerName}.${n.name}` },
          ],
        };
      }
    }
    // An address of one of the client's networks that no container holds: nobody outside knows it better.
    const addr = parseIPv4(ip)!;
    const inside = client.networks.some((n) => {
      const s = parseSubnet(n.subnet);
      return s !== undefined && contains(s, addr);
    });
    return inside ? { rcode: 'NXDOMAIN', answers: [] } : undefined;
  }
  const ips = addressesOf(name, client);
  if (ips) {
    // Containers have IPv4 addresses only: AAAA and other types get an empty NOERROR (the name exists).
    const answers: Answer[] =
      type === 'A' || type === 'ANY'
        ? ips
            .filter((ip) => net.isIPv4(ip))
            .map((ip) => ({ type: 'A', name: q.name, ttl: TTL, class: 'IN', data: ip }))
        : type === 'AAAA'
          ? ips
              .filter((ip) => net.isIPv6(ip))
              .map((ip) => ({ type: 'AAAA', name: q.name, ttl: TTL, class: 'IN', data: ip }))
          : [];
    return { rcode: 'NOERROR', answers };
  }
  // Names the engine owns and does not know: a single label (a container name that
  // is not there, or not yet) and anything under a network's name. Answered at once
  // rather than asked of upstream resolvers that cannot know them (and should not
  // hear container names). dockerd forwards single labels; a divergence on purpose.
  const addressQuery = type === 'A' || type === 'AAAA' || type === 'ANY';
  const singleLabel = name !== '' && !name.includes('.');
  const underNetwork = client.networks.some((n) => name.endsWith(`.${n.name.toLowerCase()}`));
  if ((addressQuery && singleLabel) || underNetwork) return { rcode: 'NXDOMAIN', answers: [] };
  return undefined;
}

function header(query: DecodedPacket, rcode: Rcode, authoritative: boolean): number {
  const opcode = (query.flags ?? 0) & 0x7800;
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  return (
    opcode |
    rd |
    dnsPacket.RECURSION_AVAILABLE |
    (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    RCODE[rcode]
  );
}

/** The UDP payload size the client accepts (EDNS0), at least the classic 512. */
function udpLimit(query: DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  const size = opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : 0;
  return Math.max(CLASSIC_UDP_SIZE, Math.min(size, 4096));
}

function reply(
  query: DecodedPacket,
  rcode: Rcode,
  answers: Answer[] = [],
  opts: { authoritative?: boolean; maxSize?: number } = {},
): Buffer {
  const packet: Packet = {
    type: 'response',
    id: query.id,
    flags: header(query, rcode, opts.authoritative ?? false),
    questions: query.questions ?? [],
    answers,
  };
  const out = dnsPacket.encode(packet);
  if (opts.maxSize === undefined || out.length <= opts.maxSize) return out;
  // Too big for UDP: the truncated flag sends the client to TCP.
  return dnsPacket.encode({ ...packet, answers: [], flags: packet.flags! | dnsPacket.TRUNCATED_RESPONSE });
}

function withId(msg: Buffer, id: number): Buffer {
  const out = Buffer.from(msg);
  out.writeUInt16BE(id, 0);
  return out;
}

/** One UDP exchange with an upstream, from a fresh socket (random source port) with a fresh ID. */
function udpExchange(up: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0x10000);
    const sock = dgram.createSocket(net.isIPv6(up.address) ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err?: Error, answer?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(withId(answer!, msg.readUInt16BE(0)));
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${up.address} in time`)), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('message', (answer, from) => {
      // Only the upstream's answer to this very query counts.
      if (from.address !== up.address || from.port !== up.port) return;
      if (answer.length < 12 || answer.readUInt16BE(0) !== id || !(answer[2] & 0x80)) return;
      finish(undefined, answer);
    });
    sock.send(withId(msg, id), up.port, up.address, (err) => err && finish(err));
  });
}

/** One TCP exchange with an upstream (length-prefixed messages, RFC 1035 4.2.2). */
function tcpExchange(up: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0x10000);
    const sock = net.connect({ host: up.address, port: up.port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err?: Error, answer?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(withId(answer!, msg.readUInt16BE(0)));
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${up.address} in time`)), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`${up.address} closed the connection`)));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([len, withId(msg, id)]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const answer = buf.subarray(2, 2 + len);
      if (answer.length < 12 || answer.readUInt16BE(0) !== id)
        finish(new Error(`bad answer from ${up.address}`));
      else finish(undefined, answer);
    });
  });
}

interface Listener {
  address: string;
  port: number;
  udp: dgram.Socket;
  tcp: net.Server;
  connections: Set<net.Socket>;
}

function bindUdp(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    sock.once('error', reject);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve(sock);
    });
  });
}

function listenTcp(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export class EmbeddedDns {
  private readonly listeners = new Map<string, Listener>();
  private readonly clientOf: DnsClientLookup;
  private readonly upstreams?: Upstream[];
  private readonly resolvConfPath: string;
  private readonly timeoutMs: number;
  private hostResolvers?: { read: number; list: Upstream[] };
  private forwarding = 0;

  constructor(opts: EmbeddedDnsOptions) {
    this.clientOf = opts.clientOf;
    this.upstreams = opts.upstreams?.length ? opts.upstreams : undefined;
    this.resolvConfPath = opts.resolvConfPath ?? '/etc/resolv.conf';
    this.timeoutMs = opts.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS;
  }

  /**
   * Serves DNS over UDP and TCP on `address`, for the clients `key` stands for.
   * Port 0 takes a free port (the same for both protocols); returns the port.
   */
  async listen(key: string, address: string, port: number): Promise<number> {
    if (this.listeners.has(key)) throw new Error(`DNS listener ${key} exists`);
    for (let attempt = 0; ; attempt++) {
      const udp = await bindUdp(address, port);
      const bound = udp.address().port;
      const connections = new Set<net.Socket>();
      const tcp = net.createServer((socket) => this.serveTcp(key, socket, connections));
      try {
        await listenTcp(tcp, address, bound);
      } catch (err) {
        udp.close();
        // The free UDP port may be taken for TCP: try another.
        if (port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
        throw err;
      }
      udp.on('message', (msg, from) => void this.serveUdp(key, udp, msg, from));
      udp.on('error', (err) => log.warn('DNS listener error', { address, error: err.message }));
      tcp.on('error', (err) => log.warn('DNS listener error', { address, error: err.message }));
      this.listeners.set(key, { address, port: bound, udp, tcp, connections });
      log.debug('embedded DNS listening', { address, port: bound });
      return bound;
    }
  }

  /** The port `key`'s listener has, if it has one. */
  portOf(key: string): number | undefined {
    return this.listeners.get(key)?.port;
  }

  async close(key: string): Promise<void> {
    const l = this.listeners.get(key);
    if (!l) return;
    this.listeners.delete(key);
    for (const c of l.connections) c.destroy();
    await Promise.all([
      new Promise<void>((r) => l.udp.close(() => r())),
      new Promise<void>((r) => l.tcp.close(() => r())),
    ]);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((k) => this.close(k)));
  }

  private async serveUdp(
    key: string,
    sock: dgram.Socket,
    msg: Buffer,
    from: dgram.RemoteInfo,
  ): Promise<void> {
    const out = await this.answer(key, from.address, msg, 'udp').catch((err: Error) => {
      log.warn('DNS query failed', { from: from.address, error: err.message });
      return undefined;
    });
    if (out && this.listeners.get(key)?.udp === sock) sock.send(out, from.port, from.address);
  }

  private serveTcp(key: string, socket: net.Socket, connections: Set<net.Socket>): void {
    const source = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!this.clientOf(key, source)) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      // Each complete message is answered as soon as it is ready; RFC 7766 lets answers come out of order.
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.answer(key, source, msg, 'tcp')
          .catch((err: Error) => {
            log.warn('DNS query failed', { from: source, error: err.message });
            return undefined;
          })
          .then((out) => {
            if (!out || socket.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            socket.write(Buffer.concat([len, out]));
          });
      }
    });
  }

  /** The answer to one query (a message to send back), or undefined to stay silent. */
  async answer(
    key: string,
    source: string,
    msg: Buffer,
    transport: 'udp' | 'tcp',
  ): Promise<Buffer | undefined> {
    const client = this.clientOf(key, source);
    if (!client) return undefined;
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (query.flag_qr) return undefined;
    if (((query.flags ?? 0) & 0x7800) !== 0) return reply(query, 'NOTIMP');
    if (query.questions?.length !== 1) return reply(query, 'FORMERR');
    const maxSize = transport === 'udp' ? udpLimit(query) : undefined;
    const local = answerLocally(query.questions[0], client);
    if (local) return reply(query, local.rcode, local.answers, { authoritative: true, maxSize });
    // Containers only on --internal networks have no way out, their names none either (as dockerd).
    if (!client.external) return reply(query, 'SERVFAIL');
    const upstreams = client.upstreams?.length ? client.upstreams : await this.defaultUpstreams();
    if (upstreams.length === 0 || this.forwarding >= MAX_FORWARDS) return reply(query, 'SERVFAIL');
    this.forwarding++;
    try {
      for (const up of upstreams) {
        try {
          return await (transport === 'udp' ? udpExchange : tcpExchange)(up, msg, this.timeoutMs);
        } catch (err) {
          log.debug('upstream DNS server failed', { upstream: up.address, error: (err as Error).message });
        }
      }
    } finally {
      this.forwarding--;
    }
    return reply(query, 'SERVFAIL');
  }

  /** The engine's --dns, or the host's nameservers (re-read every few seconds: it may change). */
  private async defaultUpstreams(): Promise<Upstream[]> {
    if (this.upstreams) return this.upstreams;
    const now = Date.now();
    if (!this.hostResolvers || now - this.hostResolvers.read > RESOLV_CONF_TTL_MS) {
      const text = await fs.readFile(this.resolvConfPath, 'utf8').catch(() => '');
      this.hostResolvers = { read: now, list: nameserversOf(text) };
    }
    return this.hostResolvers.list;
  }
}
