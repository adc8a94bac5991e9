// Linux bridges and veth pairs through iproute2: a bridge per network holding
// the gateway address, and per endpoint a veth whose host end is a bridge port
// and whose peer lives in the container's network namespace.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { EngineError } from '../errors.js';
import { CommandError, run } from '../util/subprocess.js';
import { engineNetnsPath, ipBatchInNetns, removeNetns, type NetnsExtras } from './netns.js';

/** Several `ip` commands in one process (`ip -batch -`), run in `netnsPath` when given. */
async function ipBatch(lines: string[], netnsPath?: string): Promise<void> {
  if (netnsPath) await ipBatchInNetns(netnsPath, lines);
  else await run('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
}

interface IpLink {
  ifname: string;
  master?: string;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

async function links(args: string[] = []): Promise<IpLink[]> {
  const r = await run('ip', ['-j', '-d', 'link', 'show', ...args], { allowFailure: true });
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  return JSON.parse(r.stdout) as IpLink[];
}

export async function linkExists(name: string): Promise<boolean> {
  const r = await run('ip', ['link', 'show', 'dev', name], { allowFailure: true });
  return r.exitCode === 0;
}

/** A locally administered unicast MAC, so the bridge's address does not change as ports come and go. */
function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The bridge exists, is up and carries exactly `gatewayCidr` as its IPv4 address. */
export async function ensureBridge(name: string, gatewayCidr: string, mtu?: number): Promise<void> {
  const existing = (await links(['dev', name]))[0];
  if (existing && existing.linkinfo?.info_kind !== 'bridge') {
    throw new EngineError(
      'conflict',
      `cannot use ${name} as a bridge: an interface of another kind has that name`,
    );
  }
  const cmds: string[] = [];
  if (!existing) cmds.push(`link add name ${name} address ${randomMac()} type bridge`);
  if (mtu) cmds.push(`link set dev ${name} mtu ${mtu}`);
  const addrs = existing ? await ipv4AddressesOf(name) : [];
  for (const a of addrs) if (a !== gatewayCidr) cmds.push(`addr del ${a} dev ${name}`);
  if (!addrs.includes(gatewayCidr)) cmds.push(`addr add ${gatewayCidr} dev ${name}`);
  cmds.push(`link set dev ${name} up`);
  await ipBatch(cmds);
}

async function ipv4AddressesOf(dev: string): Promise<string[]> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', dev], { allowFailure: true });
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  const parsed = JSON.parse(r.stdout) as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>;
  return (parsed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

export async function deleteLink(name: string): Promise<void> {
  const r = await run('ip', ['link', 'del', 'dev', name], { allowFailure: true });
  if (r.exitCode !== 0 && (await linkExists(name))) {
    throw new CommandError(`ip link del dev ${name}`, r.exitCode, r.stderr);
  }
}

/**
 * Waits until no interface `name` is left in the engine's namespace, up to
 * `timeoutMs`. Reads /proc/net/dev (the reader's own namespace; /sys/class/net
 * would show the namespace that mounted sysfs) instead of running `ip`.
 */
export async function linkGone(name: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await fs.readFile('/proc/net/dev', 'utf8').catch(() => '');
    if (!table.split('\n').some((line) => line.trimStart().startsWith(`${name}:`))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Names of the veths attached to any of these bridges. */
export async function portsOf(bridges: readonly string[]): Promise<string[]> {
  const set = new Set(bridges);
  return (await links(['type', 'veth']))
    .filter((l) => l.master !== undefined && set.has(l.master))
    .map((l) => l.ifname);
}

export function randomVethName(): string {
  return `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
}

export interface EndpointSpec {
  bridge: string;
  netnsPath: string;
  hostIf: string;
  containerIf: string;
  mac: string;
  /** "172.18.0.2/16" */
  cidr: string;
  /** Adds the default route via this gateway. */
  defaultGateway?: string;
  mtu?: number;
  /** Lets a container reach itself through a published port when the kernel NAT does it (no userland proxy). */
  hairpin?: boolean;
  /** Done inside the namespace by the same process (the embedded DNS redirect). */
  extras?: NetnsExtras;
}

/** The host-side veth name is in use (names are random: pick another and retry). */
export class LinkNameTaken extends Error {
  constructor(readonly ifName: string) {
    super(`an interface named ${ifName} already exists`);
  }
}

/**
 * Creates the veth pair from inside the container's namespace (its peer born in
 * the engine's), configures it there, then attaches the host end to the bridge:
 * two processes in all, the namespace itself made by the first with `createNetns`.
 */
export async function createEndpoint(spec: EndpointSpec & { createNetns?: boolean }): Promise<void> {
  const mtu = spec.mtu ? ` mtu ${spec.mtu}` : '';
  const inside = [
    `link add name ${spec.containerIf} address ${spec.mac}${mtu} type veth peer name ${spec.hostIf}${mtu} netns ${engineNetnsPath()}`,
    `addr add ${spec.cidr} dev ${spec.containerIf}`,
    `link set dev ${spec.containerIf} up`,
  ];
  if (spec.defaultGateway)
    inside.push(`route replace default via ${spec.defaultGateway} dev ${spec.containerIf}`);
  try {
    await ipBatchInNetns(spec.netnsPath, inside, { create: spec.createNetns, extras: spec.extras });
  } catch (err) {
    // `ip -batch` stops at the first failing line and names it: "Command failed -:N"
    // (a new namespace's batch starts with one more line, for loopback).
    const addLine = spec.createNetns ? 2 : 1;
    const stderr = err instanceof CommandError ? err.stderr : '';
    const failedAdd = new RegExp(`Command failed -:${addLine}\\b`).test(stderr);
    if (failedAdd && /File exists/.test(stderr)) throw new LinkNameTaken(spec.hostIf);
    // A new namespace went away with its links; in an existing one the pair may remain.
    if (!failedAdd && !spec.createNetns) await deleteLink(spec.hostIf).catch(() => undefined);
    throw err;
  }
  try {
    await ipBatch([
      `link set dev ${spec.hostIf} master ${spec.bridge}`,
      ...(spec.hairpin ? [`link set dev ${spec.hostIf} type bridge_slave hairpin on`] : []),
      `link set dev ${spec.hostIf} up`,
    ]);
  } catch (err) {
    await deleteLink(spec.hostIf).catch(() => undefined);
    if (spec.createNetns) await removeNetns(spec.netnsPath).catch(() => undefined);
    throw err;
  }
}

/** Points the namespace's default route at `gateway` through `dev`. */
export async function setDefaultRoute(netnsPath: string, gateway: string, dev: string): Promise<void> {
  await ipBatch([`route replace default via ${gateway} dev ${dev}`], netnsPath);
}

/** Writes a sysctl given as a path under /proc/sys ("net/ipv4/ip_forward"); false when it cannot be written. */
export async function writeSysctl(key: string, value: string): Promise<boolean> {
  try {
    await fs.writeFile(`/proc/sys/${key}`, value);
    return true;
  } catch {
    return false;
  }
}

/** IPv6 is usable when the kernel has it and loopback has ::1. */
export async function ipv6Available(): Promise<boolean> {
  try {
    const text = await fs.readFile('/proc/net/if_inet6', 'utf8');
    return text.split('\n').some((l) => l.startsWith('00000000000000000000000000000001 '));
  } catch {
    return false;
  }
}

/** IPv4 destinations routed through interfaces other than `exclude` (to keep new subnets off them). */
export async function routedSubnets(exclude: ReadonlySet<string>): Promise<string[]> {
  const r = await run('ip', ['-j', '-4', 'route', 'show'], { allowFailure: true });
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  const routes = JSON.parse(r.stdout) as Array<{ dst?: string; dev?: string }>;
  return routes
    .filter((rt) => rt.dst && rt.dst !== 'default' && !(rt.dev && exclude.has(rt.dev)))
    .map((rt) => (rt.dst!.includes('/') ? rt.dst! : `${rt.dst}/32`));
}
