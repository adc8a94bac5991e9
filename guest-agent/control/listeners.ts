// The ports open in the VM's own network namespace, read from /proc/net/tcp,
// tcp6, udp and udp6: how the host finds ports opened by `--network host`
// containers, which the engine publishes no event for. (The engine's own
// published ports are open here too, through its userland proxy; the host
// leaves those to the engine's events.)
import { promises as fs } from 'node:fs';

export interface ListeningPort {
  ip: string;
  port: number;
  /** Absent in the TCP-only lists of earlier guests: tcp. */
  proto?: 'tcp' | 'udp';
}

const TCP_LISTEN = '0A';
/** A UDP socket that is not connected to one peer: how a UDP server waits. */
const UDP_UNCONNECTED = '07';

/** An address from /proc/net/tcp ("0100007F:1F90") or tcp6 (32 hex digits, 4-byte words in host order). */
function decodeAddress(hex: string): ListeningPort {
  const [ipHex, portHex] = hex.split(':');
  const port = parseInt(portHex, 16);
  if (ipHex.length === 8) {
    const ip = [3, 2, 1, 0].map((i) => parseInt(ipHex.slice(i * 2, i * 2 + 2), 16)).join('.');
    return { ip, port };
  }
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = ipHex.slice(w * 8, w * 8 + 8);
    for (const i of [3, 2, 1, 0]) bytes.push(parseInt(word.slice(i * 2, i * 2 + 2), 16));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // The compressed form, as the host's listeners and the engine's events write it.
  let ip = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  if (ip.startsWith('0:0:0:0:0:ffff:')) ip = `::ffff:${ip.slice(15)}`;
  return { ip, port };
}

/** The listening sockets in a /proc/net/tcp or tcp6 text. */
export function parseProcNetTcp(text: string): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== TCP_LISTEN) continue;
    out.push(decodeAddress(f[1]));
  }
  return out;
}

/**
 * The UDP servers in a /proc/net/udp or udp6 text: bound, not connected, and
 * on a port outside the ephemeral range [lo, hi] (a client's unconnected socket
 * gets its port from there, and is no service to forward).
 */
export function parseProcNetUdp(text: string, ephemeral: [number, number]): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== UDP_UNCONNECTED || !/^0+:0000$/.test(f[2])) continue;
    const l = decodeAddress(f[1]);
    if (l.port === 0 || (l.port >= ephemeral[0] && l.port <= ephemeral[1])) continue;
    out.push({ ...l, proto: 'udp' });
  }
  return out;
}

async function ephemeralPorts(): Promise<[number, number]> {
  const text = await fs.readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const [lo, hi] = text.trim().split(/\s+/).map(Number);
  return Number.isInteger(lo) && Number.isInteger(hi) ? [lo, hi] : [32768, 60999];
}

/** The TCP ports listening and the UDP ports served now, sorted and without repeats. */
export async function listeningPorts(): Promise<ListeningPort[]> {
  const seen = new Map<string, ListeningPort>();
  const read = (file: string) => fs.readFile(file, 'utf8').catch(() => '');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6'])
    for (const l of parseProcNetTcp(await read(file)))
      seen.set(`tcp ${l.ip} ${l.port}`, { ...l, proto: 'tcp' });
  const ephemeral = await ephemeralPorts();
  for (const file of ['/proc/net/udp', '/proc/net/udp6'])
    for (const l of parseProcNetUdp(await read(file), ephemeral)) seen.set(`udp ${l.ip} ${l.port}`, l);
  return [...seen.values()].sort(
    (a, b) => a.port - b.port || a.proto!.localeCompare(b.proto!) || a.ip.localeCompare(b.ip),
  );
}
