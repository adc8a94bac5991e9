// Where a registry name is reached: Docker Hub's API host for docker.io, and
// for everything else the name itself, over HTTPS with verified certificates
// unless the registry is insecure — listed with --insecure-registry (a host,
// host:port or CIDR) or on loopback, which dockerd also trusts by default.
// Insecure registries are tried over HTTPS without verification first, then
// over plain HTTP, as dockerd does.
import net from 'node:net';
import { invalid } from '../../errors.js';
import { DEFAULT_DOMAIN } from '../reference.js';

export interface Endpoint {
  /** The registry's base URL (no path): https://host[:port] or http://host[:port]. */
  base: URL;
  skipTlsVerify: boolean;
}

export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

interface Cidr {
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
}

function ipBytes(ip: string): Buffer | undefined {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!net.isIPv6(ip)) return undefined;
  const [head, tail = ''] = ip.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  let left = groups(head!);
  let right = groups(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = (list: string[]) => {
    const last = list[list.length - 1];
    if (last && net.isIPv4(last)) {
      const b = last.split('.').map(Number);
      list.splice(-1, 1, ((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16));
    }
  };
  v4(left);
  v4(right);
  if (!ip.includes('::')) right = [];
  const fill = 8 - left.length - right.length;
  left = [...left, ...Array<string>(Math.max(0, fill)).fill('0'), ...right];
  const out = Buffer.alloc(16);
  left.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

function parseCidr(value: string): Cidr | undefined {
  const slash = value.indexOf('/');
  if (slash === -1) return undefined;
  const bytes = ipBytes(value.slice(0, slash));
  const prefix = Number(value.slice(slash + 1));
  if (!bytes || !Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) return undefined;
  return { family: bytes.length === 4 ? 4 : 6, bytes, prefix };
}

function inCidr(ip: Buffer, cidr: Cidr): boolean {
  if (ip.length !== cidr.bytes.length) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((ip[bit >> 3]! & mask) !== (cidr.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}

const LOOPBACK = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];

/** The host part of "host", "host:port", "[v6]:port". */
function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(1, domain.indexOf(']'));
  const colon = domain.lastIndexOf(':');
  return colon === -1 ? domain : domain.slice(0, colon);
}

/** The engine's registry settings (dockerd's --insecure-registry). */
export class RegistryConfig {
  private readonly hosts = new Set<string>();
  private readonly cidrs: Cidr[] = [...LOOPBACK];
  private readonly cidrNames = ['127.0.0.0/8', '::1/128'];

  /** Docker Hub pull-through mirrors, tried before Docker Hub for pulls (daemon.json registry-mirrors). */
  private readonly mirrors: URL[];

  constructor(insecure: string[] = [], mirrors: string[] = []) {
    this.mirrors = mirrors.map((m) => {
      try {
        return new URL(m);
      } catch {
        throw invalid(`invalid registry mirror "${m}": give an http:// or https:// URL`);
      }
    });
    for (const raw of insecure) {
      const value = raw.replace(/^https?:\/\//, '').replace(/\/+$/, '');
      if (!value) throw invalid(`invalid --insecure-registry "${raw}"`);
      const cidr = parseCidr(value);
      if (value.includes('/') && !cidr)
        throw invalid(`invalid --insecure-registry "${raw}": not a valid CIDR`);
      if (cidr) {
        this.cidrs.push(cidr);
        this.cidrNames.push(value);
      } else this.hosts.add(value.toLowerCase());
    }
  }

  /** The CIDRs and names as /info reports them. */
  get insecureList(): { cidrs: string[]; hosts: string[] } {
    return { cidrs: [...this.cidrNames], hosts: [...this.hosts] };
  }

  isInsecure(domain: string): boolean {
    const d = domain.toLowerCase();
    if (this.hosts.has(d) || this.hosts.has(hostOf(d))) return true;
    const host = hostOf(d);
    if (host === 'localhost') return true;
    const ip = ipBytes(host);
    return ip !== undefined && this.cidrs.some((c) => inCidr(ip, c));
  }

  /** The mirrors as /info reports them (RegistryConfig.Mirrors). */
  get mirrorList(): string[] {
    return this.mirrors.map((m) => m.href);
  }

  /** Whether an endpoint is one of the mirrors (a pull falls back from it to the next endpoint). */
  isMirror(endpoint: Endpoint): boolean {
    return this.mirrors.some((m) => m.origin === endpoint.base.origin);
  }

  /** The endpoints to try for a registry domain, in order; a pull from Docker Hub tries its mirrors first. */
  endpoints(domain: string, o: { pull?: boolean } = {}): Endpoint[] {
    if (domain === DEFAULT_DOMAIN) {
      const mirrors = o.pull
        ? this.mirrors.map((m) => ({
            base: new URL(m.origin),
            // An https mirror listed as insecure is reached without verifying its certificate.
            skipTlsVerify: m.protocol === 'https:' && this.isInsecure(m.host),
          }))
        : [];
      return [...mirrors, { base: new URL(`https://${DOCKER_HUB_API_HOST}`), skipTlsVerify: false }];
    }
    const https = new URL(`https://${domain}`);
    if (!this.isInsecure(domain)) return [{ base: https, skipTlsVerify: false }];
    return [
      { base: https, skipTlsVerify: true },
      { base: new URL(`http://${domain}`), skipTlsVerify: false },
    ];
  }
}
