// IPv4 address management: subnets from dockerd's default pools without
// overlaps, and the addresses inside one subnet (lowest free first, as dockerd
// hands them out on local networks). Addresses are unsigned 32-bit numbers.
import { conflict, forbidden, invalid, EngineError } from '../errors.js';

export interface Subnet {
  /** The network address (host bits zero). */
  base: number;
  prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.1.2.3/16" → the address and the prefix length, or undefined when malformed. */
export function parseCidr(text: string): { addr: number; prefix: number } | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const addr = parseIPv4(m[1]);
  const prefix = Number(m[2]);
  if (addr === undefined || prefix > 32) return undefined;
  return { addr, prefix };
}

export function subnetOf(addr: number, prefix: number): Subnet {
  return { base: (addr & mask(prefix)) >>> 0, prefix };
}

export function subnetString(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function parseSubnet(text: string): Subnet | undefined {
  const c = parseCidr(text);
  return c ? subnetOf(c.addr, c.prefix) : undefined;
}

export function lastAddress(s: Subnet): number {
  return (s.base | (~mask(s.prefix) >>> 0)) >>> 0;
}

export function contains(s: Subnet, ip: number): boolean {
  return (ip & mask(s.prefix)) >>> 0 === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

/** dockerd's local default pools: 172.17–31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export const DEFAULT_POOLS: readonly Subnet[] = (() => {
  const out: Subnet[] = [];
  for (let second = 17; second <= 31; second++)
    out.push({ base: parseIPv4(`172.${second}.0.0`)!, prefix: 16 });
  for (let third = 0; third < 256; third += 16)
    out.push({ base: parseIPv4(`192.168.${third}.0`)!, prefix: 20 });
  return out;
})();

/** Subnets of each pool's size cut from its base, in order (daemon.json default-address-pools). */
export function* poolSubnets(pools: readonly { base: string; size: number }[]): Generator<Subnet> {
  for (const pool of pools) {
    const base = parseSubnet(pool.base);
    if (!base) continue;
    const step = 2 ** (32 - pool.size);
    const count = 2 ** (pool.size - base.prefix);
    for (let i = 0; i < count; i++) yield { base: (base.base + i * step) >>> 0, prefix: pool.size };
  }
}

/** The first subnet of the pools (dockerd's defaults unless given) that overlaps none of `used`. */
export function pickSubnet(
  used: readonly Subnet[],
  pools: Iterable<Subnet> = DEFAULT_POOLS,
): Subnet | undefined {
  for (const p of pools) if (!used.some((u) => overlaps(p, u))) return p;
  return undefined;
}

/** dockerd's MAC for an address: 02:42 and the four address bytes. */
export function macFromIPv4(ip: number): string {
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function normalizeMac(text: string): string | undefined {
  const m = /^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$/.test(text);
  if (!m) return undefined;
  const mac = text.toLowerCase().replace(/-/g, ':');
  // A multicast MAC (low bit of the first byte) cannot be an interface address.
  if (parseInt(mac.slice(0, 2), 16) & 1) return undefined;
  return mac;
}

/**
 * The subnet and gateway a network gets from its IPAM request: validated when
 * given, the gateway defaulting to the subnet's first address.
 */
export function resolveUserConfig(
  subnetText: string | undefined,
  gatewayText: string | undefined,
): { subnet: Subnet; gateway: number } | { subnet: undefined; gateway: undefined } {
  if (!subnetText) {
    if (gatewayText) throw invalid(`invalid network config: a gateway (${gatewayText}) needs a subnet`);
    return { subnet: undefined, gateway: undefined };
  }
  if (subnetText.includes(':'))
    throw new EngineError('not-implemented', `IPv6 subnets (${subnetText}) are not supported by Berth yet`);
  const cidr = parseCidr(subnetText);
  if (!cidr) throw invalid(`invalid subnet ${subnetText}: use an IPv4 CIDR such as 172.20.0.0/16`);
  const subnet = subnetOf(cidr.addr, cidr.prefix);
  if (subnet.base !== cidr.addr)
    throw invalid(`invalid subnet ${subnetText}: it should be ${subnetString(subnet)}`);
  if (cidr.prefix > 30 || cidr.prefix < 8)
    throw invalid(`invalid subnet ${subnetText}: the prefix length must be between 8 and 30`);
  let gateway = subnet.base + 1;
  if (gatewayText) {
    const gw = parseIPv4(gatewayText);
    if (gw === undefined) throw invalid(`invalid gateway address ${gatewayText}: not an IPv4 address`);
    if (!contains(subnet, gw) || gw === subnet.base || gw === lastAddress(subnet))
      throw invalid(
        `invalid gateway ${gatewayText}: it must be a host address in subnet ${subnetString(subnet)}`,
      );
    gateway = gw;
  }
  return { subnet, gateway };
}

/** The addresses handed out in one subnet; the gateway is never handed out. */
export class AddressPool {
  private readonly taken = new Set<number>();

  constructor(
    readonly subnet: Subnet,
    readonly gateway: number,
    /** For messages: the network's name. */
    private readonly label: string,
    /** --ip-range: where addresses are given out from, unless one is asked for (anywhere in the subnet). */
    readonly range?: Subnet,
  ) {}

  isTaken(ip: number): boolean {
    return this.taken.has(ip);
  }

  /** The requested address, or the lowest free one. */
  allocate(requested?: number): number {
    const first = this.subnet.base + 1;
    const last = lastAddress(this.subnet) - 1;
    if (requested !== undefined) {
      if (!contains(this.subnet, requested) || requested < first || requested > last)
        throw invalid(
          `invalid endpoint settings: ${formatIPv4(requested)} is not a host address of network ${this.label} (${subnetString(this.subnet)})`,
        );
      if (requested === this.gateway || this.taken.has(requested))
        throw conflict(
          `Address already in use: ${formatIPv4(requested)} is taken on network ${this.label}; choose another --ip or leave it out`,
        );
      this.taken.add(requested);
      return requested;
    }
    const [from, to] = this.range
      ? [Math.max(first, this.range.base), Math.min(last, lastAddress(this.range))]
      : [first, last];
    for (let ip = from; ip <= to; ip++) {
      if (ip !== this.gateway && !this.taken.has(ip)) {
        this.taken.add(ip);
        return ip;
      }
    }
    throw new EngineError(
      'unavailable',
      `no available IPv4 addresses on network ${this.label} (${subnetString(this.range ?? this.subnet)}): disconnect some containers or use a network with a larger ${this.range ? 'ip-range' : 'subnet'}`,
    );
  }

  release(ip: number): void {
    this.taken.delete(ip);
  }

  /** An auxiliary address: never given out, nor asked for. */
  reserve(ip: number): void {
    this.taken.add(ip);
  }

  get size(): number {
    return this.taken.size;
  }
}

export function poolOverlapError(): EngineError {
  return forbidden('Pool overlaps with other one on this address space');
}

export function poolsExhaustedError(): EngineError {
  return forbidden(
    'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network: remove unused networks or give --subnet',
  );
}
