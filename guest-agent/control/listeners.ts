// The TCP ports listening in the VM's own network namespace, read from
// /proc/net/tcp and tcp6: how the host finds ports opened by `--network host`
// containers, which the engine publishes no event for. (The engine's own
// published ports listen here too, through its userland proxy; the host
// leaves those to the engine's events.)
import { promises as fs } from 'node:fs';

export interface ListeningPort {
  ip: string;
  port: number;
}

const TCP_LISTEN = '0A';

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

/** The TCP ports listening now, sorted and without repeats ("ip port" keys). */
export async function listeningTcp(): Promise<ListeningPort[]> {
  const seen = new Map<string, ListeningPort>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    for (const l of parseProcNetTcp(text)) seen.set(`${l.ip} ${l.port}`, l);
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.ip.localeCompare(b.ip));
}
