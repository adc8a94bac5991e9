// Published ports: parsing the API's port keys and host ports, and the table of
// host ports Berth has handed out (to refuse a second binding with dockerd's
// "port is already allocated" before the kernel is asked).
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { invalid } from '../errors.js';

export type Proto = 'tcp' | 'udp';

/** "80/tcp", "53/udp", "80" (tcp) → the container port and protocol. */
export function parsePortKey(key: string): { containerPort: number; proto: Proto } {
  const m = /^(\d+)(?:\/(\w+))?$/.exec(key.trim());
  const proto = (m?.[2] ?? 'tcp').toLowerCase();
  const port = m ? Number(m[1]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535)
    throw invalid(`invalid port specification: "${key}": use <port>/<protocol> such as 80/tcp`);
  if (proto !== 'tcp' && proto !== 'udp')
    throw invalid(`invalid protocol "${proto}" in port ${key}: Berth publishes tcp and udp ports`);
  return { containerPort: port, proto };
}

export type HostPortSpec = { kind: 'random' } | { kind: 'range'; start: number; end: number };

/** "" or "0" → any free port; "8080" → that port; "8000-8010" → the first free one of the range. */
export function parseHostPort(text: string | undefined): HostPortSpec {
  const t = (text ?? '').trim();
  if (t === '' || t === '0') return { kind: 'random' };
  const m = /^(\d+)(?:-(\d+))?$/.exec(t);
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || end > 65535 || end < start)
    throw invalid(
      `invalid host port "${text}": use a number between 1 and 65535, or a range such as 8000-8010`,
    );
  return { kind: 'range', start, end };
}

/** "" stays "" (every address); "[::1]" → "::1"; anything else must be an IP address. */
export function normalizeHostIp(text: string | undefined): string {
  const t = (text ?? '').trim().replace(/^\[(.*)\]$/, '$1');
  if (t === '') return '';
  if (net.isIP(t) === 0)
    throw invalid(`invalid host IP address "${text}" in port binding: use an IPv4 or IPv6 address`);
  return t;
}

export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** How dockerd writes an address in "Bind for …" messages. */
export function hostPortString(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The ephemeral port range, where random host ports come from. */
export async function ephemeralRange(): Promise<{ start: number; end: number }> {
  try {
    const [a, b] = (await fs.readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/);
    const start = Number(a);
    const end = Number(b);
    if (start > 0 && end >= start && end <= 65535) return { start, end };
  } catch {
    // fall through to Linux's default range
  }
  return { start: 32768, end: 60999 };
}

interface Allocation {
  proto: Proto;
  ip: string;
  port: number;
  owner: string;
}

/** The host ports in use by Berth's containers. A wildcard address overlaps every address of its family. */
export class PortTable {
  private readonly entries: Allocation[] = [];

  /** The owner of a binding that overlaps (proto, ip, port), if any. */
  ownerOf(proto: Proto, ip: string, port: number): string | undefined {
    const family = net.isIP(ip);
    return this.entries.find(
      (e) =>
        e.proto === proto &&
        e.port === port &&
        net.isIP(e.ip) === family &&
        (e.ip === ip || isWildcard(e.ip) || isWildcard(ip)),
    )?.owner;
  }

  add(proto: Proto, ip: string, port: number, owner: string): void {
    this.entries.push({ proto, ip, port, owner });
  }

  remove(proto: Proto, ip: string, port: number): void {
    const i = this.entries.findIndex((e) => e.proto === proto && e.ip === ip && e.port === port);
    if (i >= 0) this.entries.splice(i, 1);
  }
}
