// The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf that the
// engine writes beside the container's record and bind-mounts into it.
import { promises as fs } from 'node:fs';

const LOOPBACK_NAMESERVER = /^\s*nameserver\s+(127\.\S*|::1)\s*$/;
// dockerd's fallback when only loopback resolvers remain after filtering.
const FALLBACK_NAMESERVERS = ['nameserver 8.8.8.8', 'nameserver 8.8.4.4'];

export interface EtcFilesInput {
  hostname: string;
  domainname?: string;
  hostNetwork: boolean;
  extraHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /**
   * The embedded DNS server's address, the only nameserver when set: the
   * container's own --dns servers are then the ones it forwards to (as dockerd's).
   */
  embeddedDns?: string;
  /** What `host-gateway` in --add-host stands for. */
  hostGatewayIp?: string;
}

/** dockerd's placeholder in --add-host for the host's address as containers reach it. */
const HOST_GATEWAY = 'host-gateway';

export function hostsFile(input: EtcFilesInput, hostHosts: string): string {
  if (input.hostNetwork) return hostHosts;
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const entry of input.extraHosts ?? []) {
    // "host:ip" or "host=ip"; an IPv6 address has colons, so split at the first separator.
    const at = entry.includes('=') ? entry.indexOf('=') : entry.indexOf(':');
    if (at <= 0) continue;
    let ip = entry.slice(at + 1);
    if (ip === HOST_GATEWAY && input.hostGatewayIp) ip = input.hostGatewayIp;
    lines.push(`${ip}\t${entry.slice(0, at)}`);
  }
  return lines.join('\n') + '\n';
}

export function resolvConf(input: EtcFilesInput, hostResolv: string): string {
  // Trailing blank lines would otherwise end up between the host's lines and ours.
  let lines = hostResolv.trimEnd() ? hostResolv.trimEnd().split('\n') : [];
  if (!input.hostNetwork) lines = lines.filter((l) => !LOOPBACK_NAMESERVER.test(l));
  const nameservers = input.embeddedDns ? [input.embeddedDns] : input.dns;
  if (nameservers?.length) {
    lines = lines.filter((l) => !/^\s*nameserver\s/.test(l));
    lines.push(...nameservers.map((d) => `nameserver ${d}`));
  }
  if (input.dnsSearch?.length) {
    lines = lines.filter((l) => !/^\s*(search|domain)\s/.test(l));
    lines.push(`search ${input.dnsSearch.join(' ')}`);
  }
  if (input.dnsOptions?.length) {
    lines = lines.filter((l) => !/^\s*options\s/.test(l));
    lines.push(`options ${input.dnsOptions.join(' ')}`);
  }
  // As dockerd with its embedded DNS: a bare name is tried as it is before the search domains.
  if (input.embeddedDns && !lines.some((l) => /^\s*options\s.*\bndots:/.test(l)))
    lines.push('options ndots:0');
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push(...FALLBACK_NAMESERVERS);
  return (
    lines
      .filter((l, i, all) => l.trim() !== '' || i < all.length - 1)
      .join('\n')
      .trimEnd() + '\n'
  );
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Writes the three files; returns their paths. */
/**
 * Rewrites a running container's resolv.conf in place (it is bind-mounted: a
 * new file would not reach the container), when its networks change which
 * resolver it should ask, as dockerd does on connect and disconnect.
 */
export async function rewriteResolvConf(resolvPath: string, input: EtcFilesInput): Promise<void> {
  const hostResolv = await readOr('/etc/resolv.conf', '');
  await fs.writeFile(resolvPath, resolvConf(input, hostResolv), { mode: 0o644 });
}

export async function writeEtcFiles(
  paths: { hostname: string; hosts: string; resolv: string },
  input: EtcFilesInput,
): Promise<void> {
  const [hostHosts, hostResolv] = await Promise.all([
    readOr('/etc/hosts', ''),
    readOr('/etc/resolv.conf', ''),
  ]);
  await Promise.all([
    fs.writeFile(paths.hostname, `${input.hostname}\n`, { mode: 0o644 }),
    fs.writeFile(paths.hosts, hostsFile(input, hostHosts), { mode: 0o644 }),
    fs.writeFile(paths.resolv, resolvConf(input, hostResolv), { mode: 0o644 }),
  ]);
}
