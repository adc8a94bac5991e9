// dockerd's network model as a service: named networks (the predefined
// "bridge", "host" and "none", and user bridge networks) persisted as JSON,
// container endpoints (veth + address) and published ports (iptables NAT in
// Berth's own chains plus the in-process userland proxy).
//
// Endpoints and published ports live only in memory: they belong to running
// containers, and every container is stopped when the engine starts, so init()
// removes what a crashed engine left instead of restoring it.
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { EngineError, conflict, forbidden, invalid, notFound } from '../errors.js';
import { writeJsonAtomic, readJson } from '../../common/atomic-file.js';
import { newId, shortId } from '../util/ids.js';
import { log } from '../util/logger.js';
import {
  LinkNameTaken,
  createEndpoint,
  deleteLink,
  ensureBridge,
  ipv6Available,
  linkGone,
  portsOf,
  randomVethName,
  routedSubnets,
  setDefaultRoute,
  writeSysctl,
} from './bridge-driver.js';
import {
  AddressPool,
  formatIPv4,
  macFromIPv4,
  normalizeMac,
  parseCidr,
  parseIPv4,
  parseSubnet,
  pickSubnet,
  poolSubnets,
  DEFAULT_POOLS,
  poolOverlapError,
  poolsExhaustedError,
  resolveUserConfig,
  subnetOf,
  subnetString,
  lastAddress,
  contains,
  overlaps,
  type Subnet,
} from './ipam.js';
import { Iptables, type RuleState } from './iptables.js';
import {
  PortTable,
  ephemeralRange,
  hostPortString,
  normalizeHostIp,
  parseHostPort,
  parsePortKey,
  type HostPortSpec,
  type Proto,
} from './port-mapping.js';
import { listenTcp, listenUdp, type ProxyHandle } from './userland-proxy.js';
import { EmbeddedDns, parseUpstream, type DnsClient, type Upstream } from './embedded-dns.js';
import { DNS_REDIRECT_SYSCTLS, EMBEDDED_DNS_IP, dnsRedirectRules } from './dns-redirect.js';
import { createNetns, ipBatchInNetns, removeNetns } from './netns.js';
import type {
  ConnectOptions,
  SpareEndpoint,
  EndpointSettings,
  NetworkContainerView,
  NetworkCreateRequest,
  NetworkRecord,
  NetworkServiceOptions,
  PortBinding,
  PortEvent,
  PortEventListener,
  NetworkEvent,
  NetworkEventListener,
  PortMap,
} from './network-types.js';

export type * from './network-types.js';

const PREDEFINED = ['bridge', 'host', 'none'];
const DEFAULT_BRIDGE = 'berth0';
/** How long after a spare is taken the next is made. */
const SPARE_DELAY_MS = 200;
/** How long a removed namespace's veths may take to vanish before they are deleted by hand. */
const LINK_GONE_WAIT_MS = 2000;
const DEFAULT_BIP = '172.17.0.1/16';
const OPT = {
  bridgeName: 'com.docker.network.bridge.name',
  icc: 'com.docker.network.bridge.enable_icc',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBinding: 'com.docker.network.bridge.host_binding_ipv4',
  mtu: 'com.docker.network.driver.mtu',
} as const;

interface Endpoint {
  containerId: string;
  containerName: string;
  networkId: string;
  netnsPath: string;
  hostIf: string;
  containerIf: string;
  ip: number;
  /** This endpoint's gateway is the container's default route. */
  defaultRoute: boolean;
  dnsNames: string[];
  /** The container's own resolvers (docker run --dns), for the embedded DNS to forward to. */
  upstreams?: Upstream[];
  settings: EndpointSettings;
}

interface Publication {
  containerId: string;
  proto: Proto;
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  bridge: string;
  /** Covered by an iptables DNAT rule (IPv4 host address, iptables on). */
  nat: boolean;
  handle: ProxyHandle;
}

/** Settings a network's options imply, checked when it is created. */
interface BridgeSettings {
  icc: boolean;
  masquerade: boolean;
  mtu?: number;
  hostBindingIp?: string;
}

function parseBool(key: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw invalid(`invalid value "${value}" for option ${key}: use true or false`);
}

function bridgeSettings(options: Record<string, string>): BridgeSettings {
  const mtuText = options[OPT.mtu];
  let mtu: number | undefined;
  if (mtuText !== undefined && mtuText !== '' && mtuText !== '0') {
    mtu = Number(mtuText);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
      throw invalid(`invalid MTU "${mtuText}" in option ${OPT.mtu}: use a number between 68 and 65535`);
  }
  const hostBindingIp = options[OPT.hostBinding];
  if (hostBindingIp && net.isIP(hostBindingIp) === 0)
    throw invalid(`invalid address "${hostBindingIp}" in option ${OPT.hostBinding}`);
  return {
    icc: parseBool(OPT.icc, options[OPT.icc], true),
    masquerade: parseBool(OPT.masquerade, options[OPT.masquerade], true),
    mtu,
    hostBindingIp: hostBindingIp || undefined,
  };
}

/** The message dockerd gives when a host port cannot be bound. */
function bindErrorText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EADDRNOTAVAIL':
      return 'cannot assign requested address';
    case 'EACCES':
      return 'permission denied';
    default:
      return err.message;
  }
}

class PortUnavailable extends Error {
  constructor(
    readonly kind: 'allocated' | 'bind',
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export class NetworkService {
  private readonly stateDir: string;
  /** Undefined until init when it comes from the address pools. */
  private bip: string | undefined;
  private readonly addressPools?: { base: string; size: number }[];
  private readonly mtu: number;
  private readonly useIptables: boolean;
  private readonly userlandProxy: boolean;
  private readonly forwardIface?: string;
  private readonly hostGateway?: string;
  private readonly dns: EmbeddedDns;
  private readonly records = new Map<string, NetworkRecord>();
  /** Networks being created: taken (name, subnet) but not yet visible. */
  private readonly creating = new Set<string>();
  private readonly pools = new Map<string, AddressPool>();
  private readonly settings = new Map<string, BridgeSettings>();
  /** containerId → networkId → endpoint */
  private readonly endpoints = new Map<string, Map<string, Endpoint>>();
  private readonly publications = new Map<string, Publication[]>();
  private readonly spareDir?: string;
  /** The spare endpoint ready to hand out, and whether one is being made. */
  private spareReady?: SpareEndpoint;
  private spareMaking?: Promise<void>;
  /** The same for --network none: a namespace with loopback only. */
  private loopbackReady?: string;
  private loopbackMaking?: Promise<void>;
  private stopping = false;
  /** containerId → the gateway its 127.0.0.11 goes to (undefined: redirect installed, pointing nowhere). */
  private readonly dnsRedirects = new Map<string, string | undefined>();
  private readonly ports = new PortTable();
  private readonly listeners = new Set<PortEventListener>();
  private readonly networkListeners = new Set<NetworkEventListener>();
  private iptables?: Iptables;
  private ipv6 = false;
  private nextRandomPort = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private syncChain: Promise<void> = Promise.resolve();
  private syncQueued?: Promise<void>;

  constructor(opts: NetworkServiceOptions) {
    this.stateDir = opts.stateDir;
    this.addressPools = opts.addressPools;
    this.bip = opts.bip ?? (opts.addressPools ? undefined : DEFAULT_BIP);
    this.mtu = opts.mtu ?? 1500;
    this.useIptables = opts.iptables ?? true;
    this.userlandProxy = opts.userlandProxy ?? true;
    this.forwardIface = opts.forwardIface;
    this.hostGateway = opts.hostGatewayIp;
    this.spareDir = opts.spareNetnsDir;
    this.dns = new EmbeddedDns({
      clientOf: (networkId, ip) => this.dnsClient(networkId, ip),
      upstreams: opts.dns?.map((d) => parseUpstream(d)).filter((u): u is Upstream => !!u),
    });
  }

  // ---- start and stop ------------------------------------------------------

  /** Where new networks' subnets are taken from. */
  private subnetPools(): Iterable<Subnet> {
    return this.addressPools ? poolSubnets(this.addressPools) : DEFAULT_POOLS;
  }

  /**
   * The default bridge's gateway/prefix when it comes from the address pools (no bip): the
   * subnet it has when that is in a pool, else the first free one, as dockerd picks it.
   */
  private async bipFromPools(): Promise<string> {
    const others = this.bridgeRecords().filter((r) => r.Name !== 'bridge');
    const used = others.map((r) => parseSubnet(r.IPAM.Config[0].Subnet)!);
    const current = this.findByName('bridge')?.IPAM.Config[0];
    const currentSubnet = current && parseSubnet(current.Subnet);
    const inPool = (sub: Subnet) =>
      this.addressPools!.some((p) => {
        const base = parseSubnet(p.base);
        return !!base && sub.prefix >= base.prefix && overlaps(base, sub);
      });
    if (currentSubnet && inPool(currentSubnet)) return `${current.Gateway}/${currentSubnet.prefix}`;
    const routed = (await routedSubnets(new Set(others.map((r) => r.bridgeName!).concat(DEFAULT_BRIDGE))))
      .map((s) => parseSubnet(s))
      .filter((s): s is Subnet => !!s);
    const picked = pickSubnet([...used, ...routed], this.subnetPools());
    if (!picked) throw poolsExhaustedError();
    return `${formatIPv4(picked.base + 1)}/${picked.prefix}`;
  }

  async init(): Promise<void> {
    if (this.bip === undefined) {
      await this.loadRecords();
      this.bip = await this.bipFromPools();
    }
    const bip = parseCidr(this.bip);
    const bipSubnet = bip && subnetOf(bip.addr, bip.prefix);
    if (
      !bip ||
      !bipSubnet ||
      bip.prefix > 30 ||
      bip.addr === bipSubnet.base ||
      bip.addr === lastAddress(bipSubnet)
    )
      throw invalid(
        `invalid bip ${this.bip}: give the default bridge's gateway address and prefix, such as 172.17.0.1/16`,
      );

    if (this.spareDir) {
      // A previous run's spares: their addresses are not taken in this run's pools.
      await fs.mkdir(this.spareDir, { recursive: true, mode: 0o700 });
      for (const file of await fs.readdir(this.spareDir)) await removeNetns(path.join(this.spareDir, file));
    }
    await this.loadRecords();
    await this.ensurePredefined(formatIPv4(bip.addr), bipSubnet);

    this.ipv6 = await ipv6Available();
    const bridges = this.bridgeRecords();
    for (const rec of bridges) {
      const cfg = rec.IPAM.Config[0];
      const subnet = parseSubnet(cfg.Subnet)!;
      const gateway = parseIPv4(cfg.Gateway)!;
      const range = cfg.IPRange ? parseSubnet(cfg.IPRange) : undefined;
      const pool = new AddressPool(subnet, gateway, rec.Name, range);
      for (const text of Object.values(cfg.AuxiliaryAddresses ?? {})) {
        const ip = parseIPv4(text);
        if (ip !== undefined) pool.reserve(ip);
      }
      this.pools.set(rec.Id, pool);
      const s = bridgeSettings(rec.Options);
      this.settings.set(rec.Id, s);
      await ensureBridge(rec.bridgeName!, `${cfg.Gateway}/${subnet.prefix}`, s.mtu);
      await this.startDns(rec);
    }
    // A crashed engine's endpoints: their containers are gone, so are they.
    for (const veth of await portsOf(bridges.map((r) => r.bridgeName!))) {
      log.info('removing a stale container interface', { veth });
      await deleteLink(veth).catch((err: Error) =>
        log.warn('cannot remove interface', { veth, error: err.message }),
      );
    }
    if (this.useIptables) {
      this.iptables = new Iptables(this.userlandProxy, this.forwardIface);
      try {
        await this.iptables.setup();
      } catch (err) {
        throw new EngineError(
          'internal',
          `cannot set up iptables rules (${(err as Error).message}): start the engine with iptables disabled, or fix iptables`,
        );
      }
      if (!(await writeSysctl('net/ipv4/ip_forward', '1')))
        log.warn('cannot enable IP forwarding: containers will not reach other networks');
      for (const rec of bridges) await this.prepareBridgeSysctls(rec.bridgeName!, this.settings.get(rec.Id)!);
      await this.syncRules();
    }
  }

  private async loadRecords(): Promise<void> {
    await fs.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    for (const file of await fs.readdir(this.stateDir)) {
      if (file.startsWith('.') || !file.endsWith('.json')) continue;
      const rec = await readJson<NetworkRecord>(path.join(this.stateDir, file)).catch((err: Error) => {
        log.warn('ignoring an unreadable network record', { file, error: err.message });
        return undefined;
      });
      if (rec?.Id && rec.Name) this.records.set(rec.Id, rec);
    }
  }

  private async ensurePredefined(gateway: string, subnet: Subnet): Promise<void> {
    const bridgeCfg = { Subnet: subnetString(subnet), Gateway: gateway };
    const existing = this.findByName('bridge');
    const clash = this.bridgeRecords().find(
      (r) => r !== existing && overlaps(parseSubnet(r.IPAM.Config[0].Subnet)!, subnet),
    );
    if (clash)
      throw invalid(
        `invalid bip ${this.bip}: it overlaps network ${clash.Name} (${clash.IPAM.Config[0].Subnet}); choose another bip or remove that network`,
      );
    if (existing) {
      const cfg = existing.IPAM.Config[0];
      const mtu = String(this.mtu);
      if (
        !cfg ||
        cfg.Subnet !== bridgeCfg.Subnet ||
        cfg.Gateway !== bridgeCfg.Gateway ||
        existing.Options?.[OPT.mtu] !== mtu
      ) {
        existing.IPAM.Config = [bridgeCfg];
        existing.Options = { ...existing.Options, [OPT.mtu]: mtu };
        await this.persist(existing);
      }
    } else {
      await this.addPredefined({
        Name: 'bridge',
        Driver: 'bridge',
        bridgeName: DEFAULT_BRIDGE,
        IPAM: { Driver: 'default', Config: [bridgeCfg] },
        Options: {
          'com.docker.network.bridge.default_bridge': 'true',
          [OPT.icc]: 'true',
          [OPT.masquerade]: 'true',
          [OPT.hostBinding]: '0.0.0.0',
          [OPT.bridgeName]: DEFAULT_BRIDGE,
          [OPT.mtu]: String(this.mtu),
        },
      });
    }
    if (!this.findByName('host')) await this.addPredefined({ Name: 'host', Driver: 'host' });
    if (!this.findByName('none')) await this.addPredefined({ Name: 'none', Driver: 'null' });
  }

  private async addPredefined(
    r: Pick<NetworkRecord, 'Name' | 'Driver'> &
      Partial<Pick<NetworkRecord, 'IPAM' | 'Options' | 'bridgeName'>>,
  ): Promise<void> {
    const rec: NetworkRecord = {
      Id: newId(),
      Name: r.Name,
      Driver: r.Driver,
      Created: new Date().toISOString(),
      Internal: false,
      Labels: {},
      Options: r.Options ?? {},
      IPAM: r.IPAM ?? { Driver: 'default', Config: [] },
      ...(r.bridgeName ? { bridgeName: r.bridgeName } : {}),
    };
    await this.persist(rec);
    this.records.set(rec.Id, rec);
  }

  /** Closes the proxies and removes Berth's iptables rules; bridges stay, as dockerd keeps docker0. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all([this.spareMaking, this.loopbackMaking]);
    if (this.spareReady) await removeNetns(this.spareReady.netnsPath).catch(() => undefined);
    this.spareReady = undefined;
    if (this.loopbackReady) await removeNetns(this.loopbackReady).catch(() => undefined);
    this.loopbackReady = undefined;
    for (const id of [...this.publications.keys()]) await this.unpublish(id).catch(() => undefined);
    await this.dns.closeAll();
    await this.syncChain.catch(() => undefined);
    if (this.iptables) {
      const ipt = this.iptables;
      this.iptables = undefined;
      await ipt
        .teardown()
        .catch((err: Error) => log.warn('cannot remove iptables rules', { error: err.message }));
    }
  }

  // ---- networks --------------------------------------------------------------

  list(): NetworkRecord[] {
    return [...this.records.values()].filter((r) => !this.creating.has(r.Id));
  }

  /** By full ID, name, or unique ID prefix, as dockerd looks networks up. */
  get(idOrName: string): NetworkRecord {
    const all = this.list();
    const exact = all.find((r) => r.Id === idOrName) ?? all.find((r) => r.Name === idOrName);
    if (exact) return exact;
    const byPrefix = idOrName ? all.filter((r) => r.Id.startsWith(idOrName)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1)
      throw invalid(`network ${idOrName} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
    throw notFound(`network ${idOrName} not found`);
  }

  private findByName(name: string): NetworkRecord | undefined {
    return [...this.records.values()].find((r) => r.Name === name);
  }

  private bridgeRecords(): NetworkRecord[] {
    return [...this.records.values()].filter((r) => r.Driver === 'bridge' && r.bridgeName);
  }

  private isDefaultBridge(rec: NetworkRecord): boolean {
    return rec.Name === 'bridge' && rec.bridgeName === DEFAULT_BRIDGE;
  }

  async create(req: NetworkCreateRequest): Promise<NetworkRecord> {
    return this.locked(() => this.createLocked(req));
  }

  private async createLocked(req: NetworkCreateRequest): Promise<NetworkRecord> {
    const name = req.Name ?? '';
    if (!name.trim()) throw invalid('a network needs a name');
    if (PREDEFINED.includes(name)) throw forbidden(`${name} is a pre-defined network and cannot be created`);
    if (this.findByName(name)) throw conflict(`network with name ${name} already exists`);
    const driver = req.Driver || 'bridge';
    if (driver === 'host' || driver === 'null')
      throw forbidden(`only one instance of "${driver}" network is allowed`);
    if (['overlay', 'macvlan', 'ipvlan'].includes(driver))
      throw new EngineError(
        'not-implemented',
        `the ${driver} network driver is not supported by Berth: use bridge`,
      );
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    if (req.Scope === 'swarm' || req.Scope === 'global')
      throw forbidden(`cannot create a ${req.Scope} scoped network when swarm is not active`);
    if (req.ConfigOnly || req.ConfigFrom?.Network)
      throw new EngineError(
        'not-implemented',
        'config-only networks (and --config-from) are not supported by Berth: they configure macvlan, ipvlan and swarm networks, which it has not got',
      );
    if (req.EnableIPv6)
      throw new EngineError('not-implemented', 'IPv6 networks are not supported by Berth yet');
    if (req.IPAM?.Driver && req.IPAM.Driver !== 'default')
      throw new EngineError(
        'not-implemented',
        `IPAM driver "${req.IPAM.Driver}" is not supported: use default`,
      );
    const configs = req.IPAM?.Config ?? [];
    if (configs.length > 1)
      throw new EngineError('not-implemented', 'Berth supports one IPv4 subnet per network');
    const options = { ...(req.Options ?? {}) };
    const settings = bridgeSettings(options);

    const id = newId();
    const bridgeName = options[OPT.bridgeName] || `br-${id.slice(0, 12)}`;
    if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridgeName))
      throw invalid(`invalid bridge name "${bridgeName}": use at most 15 letters, digits, '.', '-' or '_'`);
    if (this.bridgeRecords().some((r) => r.bridgeName === bridgeName))
      throw conflict(`bridge name ${bridgeName} is already used by another network`);

    const used = this.bridgeRecords().map((r) => parseSubnet(r.IPAM.Config[0].Subnet)!);
    const requested = resolveUserConfig(configs[0]?.Subnet, configs[0]?.Gateway);
    let subnet: Subnet;
    let gateway: number;
    if (requested.subnet) {
      if (used.some((u) => overlaps(u, requested.subnet))) throw poolOverlapError();
      subnet = requested.subnet;
      gateway = requested.gateway;
    } else {
      const bridges = new Set(this.bridgeRecords().map((r) => r.bridgeName!));
      const routed = (await routedSubnets(bridges))
        .map((s) => parseSubnet(s))
        .filter((s): s is Subnet => !!s);
      const picked = pickSubnet([...used, ...routed], this.subnetPools());
      if (!picked) throw poolsExhaustedError();
      subnet = picked;
      gateway = picked.base + 1;
    }

    const rangeText = configs[0]?.IPRange;
    let range: Subnet | undefined;
    if (rangeText) {
      if (!requested.subnet) throw invalid(`--ip-range ${rangeText} needs the network's --subnet`);
      range = parseSubnet(rangeText);
      if (!range || !overlaps(range, subnet) || range.prefix < subnet.prefix)
        throw invalid(
          `invalid --ip-range ${rangeText}: give a CIDR inside the subnet ${subnetString(subnet)}`,
        );
    }

    const aux = configs[0]?.AuxiliaryAddresses ?? {};
    const reserved = Object.entries(aux).map(([host, text]) => {
      const ip = parseIPv4(text);
      if (ip === undefined || !contains(subnet, ip))
        throw invalid(
          `invalid auxiliary address ${host}=${text}: give an address of the subnet ${subnetString(subnet)}`,
        );
      return ip;
    });

    const rec: NetworkRecord = {
      Id: id,
      Name: name,
      Driver: 'bridge',
      Created: new Date().toISOString(),
      Internal: req.Internal ?? false,
      ...(req.Attachable ? { Attachable: true } : {}),
      Labels: { ...(req.Labels ?? {}) },
      Options: options,
      IPAM: {
        Driver: 'default',
        ...(req.IPAM?.Options && Object.keys(req.IPAM.Options).length ? { Options: req.IPAM.Options } : {}),
        Config: [
          {
            Subnet: subnetString(subnet),
            ...(range ? { IPRange: subnetString(range) } : {}),
            Gateway: formatIPv4(gateway),
            ...(reserved.length ? { AuxiliaryAddresses: aux } : {}),
          },
        ],
      },
      bridgeName,
    };
    this.records.set(id, rec);
    this.creating.add(id);
    try {
      // The record first: a crash after it leaves a network whose bridge init() makes.
      await this.persist(rec);
      await ensureBridge(bridgeName, `${formatIPv4(gateway)}/${subnet.prefix}`, settings.mtu);
      await this.prepareBridgeSysctls(bridgeName, settings);
      const pool = new AddressPool(subnet, gateway, name, range);
      for (const ip of reserved) pool.reserve(ip);
      this.pools.set(id, pool);
      this.settings.set(id, settings);
      await this.startDns(rec);
      await this.syncRules();
    } catch (err) {
      await this.dns.close(id);
      this.records.delete(id);
      this.pools.delete(id);
      this.settings.delete(id);
      await fs.rm(this.recordPath(id), { force: true });
      await deleteLink(bridgeName).catch(() => undefined);
      await this.syncRules().catch(() => undefined);
      throw err;
    } finally {
      this.creating.delete(id);
    }
    this.emitNetworkEvent('create', rec);
    return rec;
  }

  async remove(idOrName: string): Promise<void> {
    return this.locked(async () => {
      const rec = this.get(idOrName);
      if (PREDEFINED.includes(rec.Name))
        throw forbidden(`${rec.Name} is a pre-defined network and cannot be removed`);
      if (this.endpointsOn(rec.Id).length > 0)
        throw conflict(`error while removing network: network ${rec.Name} id ${rec.Id} has active endpoints`);
      // Gone from the maps before the first await, so a concurrent connect cannot find it.
      const pool = this.pools.get(rec.Id);
      const settings = this.settings.get(rec.Id);
      this.records.delete(rec.Id);
      this.pools.delete(rec.Id);
      this.settings.delete(rec.Id);
      try {
        await fs.rm(this.recordPath(rec.Id), { force: true });
      } catch (err) {
        this.records.set(rec.Id, rec);
        if (pool) this.pools.set(rec.Id, pool);
        if (settings) this.settings.set(rec.Id, settings);
        throw err;
      }
      await this.dns.close(rec.Id);
      if (rec.bridgeName) {
        await deleteLink(rec.bridgeName).catch((err: Error) =>
          log.warn('cannot remove bridge', { bridge: rec.bridgeName, error: err.message }),
        );
      }
      await this.syncRules();
      this.emitNetworkEvent('destroy', rec);
    });
  }

  // ---- endpoints -------------------------------------------------------------

  async connect(
    containerId: string,
    netnsPath: string,
    network: string,
    opts: ConnectOptions = {},
  ): Promise<EndpointSettings> {
    const rec = this.get(network);
    if (rec.Driver === 'host')
      throw forbidden('container cannot be disconnected from host network or connected to host network');
    if (rec.Driver === 'null')
      throw forbidden(
        'container cannot be connected to the none network: it gives a container no interfaces',
      );
    const pool = this.pools.get(rec.Id)!;
    const settings = this.settings.get(rec.Id)!;
    const containerName = (opts.containerName ?? containerId.slice(0, 12)).replace(/^\//, '');
    let eps = this.endpoints.get(containerId);
    if (eps?.has(rec.Id))
      throw forbidden(`endpoint with name ${containerName} already exists in network ${rec.Name}`);

    let requested: number | undefined;
    if (opts.ipv4) {
      if (this.isDefaultBridge(rec))
        throw invalid('user specified IP address is supported on user defined networks only');
      requested = parseIPv4(opts.ipv4);
      if (requested === undefined) throw invalid(`invalid IPv4 address: ${opts.ipv4}`);
    }
    let mac: string | undefined;
    if (opts.mac) {
      mac = normalizeMac(opts.mac);
      if (!mac) throw invalid(`invalid MAC address: ${opts.mac}`);
    }

    const spare = opts.spare;
    if (spare && (!this.isDefaultBridge(rec) || requested !== undefined || mac || eps))
      throw new Error('a spare endpoint is for a container whose only network is the default bridge');
    // Everything up to here is synchronous with the reservation below, so concurrent connects cannot collide.
    const ip = spare ? spare.ip : pool.allocate(requested);
    if (!eps) {
      eps = new Map();
      this.endpoints.set(containerId, eps);
    }
    const usedIfs = new Set([...eps.values()].map((e) => e.containerIf));
    let n = 0;
    while (usedIfs.has(`eth${n}`)) n++;
    const defaultRoute = !rec.Internal && ![...eps.values()].some((e) => e.defaultRoute);
    const userNetwork = !this.isDefaultBridge(rec);
    const aliases = opts.aliases?.length ? [...opts.aliases] : null;
    const dnsNames = userNetwork
      ? [
          ...new Set([
            containerName,
            ...(aliases ?? []),
            shortId(containerId),
            ...(opts.hostname ? [opts.hostname] : []),
          ]),
        ]
      : [];
    const gateway = formatIPv4(pool.gateway);
    const ep: Endpoint = {
      containerId,
      containerName,
      networkId: rec.Id,
      netnsPath,
      hostIf: '',
      containerIf: `eth${n}`,
      ip,
      defaultRoute,
      dnsNames,
      upstreams: opts.dns?.map((d) => parseUpstream(d)).filter((u): u is Upstream => !!u),
      settings: {
        NetworkID: rec.Id,
        EndpointID: newId(),
        Gateway: rec.Internal ? '' : gateway,
        IPAddress: formatIPv4(ip),
        IPPrefixLen: pool.subnet.prefix,
        MacAddress: mac ?? macFromIPv4(ip),
        Aliases: userNetwork ? aliases : null,
        DNSNames: userNetwork ? dnsNames : null,
      },
    };
    eps.set(rec.Id, ep);
    // A new namespace whose first network has an embedded DNS gets its 127.0.0.11
    // redirect from the process that makes it; later changes go through syncDnsRedirect.
    const redirectTo =
      opts.createNetns && this.useIptables && userNetwork && this.dns.portOf(rec.Id) !== undefined
        ? gateway
        : undefined;

    try {
      if (spare) ep.hostIf = spare.hostIf;
      for (let attempt = 0; !spare; attempt++) {
        ep.hostIf = randomVethName();
        try {
          await createEndpoint({
            bridge: rec.bridgeName!,
            netnsPath,
            hostIf: ep.hostIf,
            containerIf: ep.containerIf,
            mac: ep.settings.MacAddress,
            cidr: `${ep.settings.IPAddress}/${pool.subnet.prefix}`,
            defaultGateway: defaultRoute ? gateway : undefined,
            mtu: settings.mtu,
            hairpin: this.useIptables && !this.userlandProxy,
            createNetns: opts.createNetns,
            extras: redirectTo
              ? { sysctls: DNS_REDIRECT_SYSCTLS, iptablesRestore: dnsRedirectRules(redirectTo, true) }
              : undefined,
          });
          if (redirectTo) this.dnsRedirects.set(containerId, redirectTo);
          break;
        } catch (err) {
          if (!(err instanceof LinkNameTaken) || attempt >= 4) throw err;
        }
      }
    } catch (err) {
      pool.release(ip);
      eps.delete(rec.Id);
      if (eps.size === 0) this.endpoints.delete(containerId);
      if (err instanceof EngineError) throw err;
      throw new EngineError(
        'internal',
        `failed to connect container ${containerName} to network ${rec.Name}: ${(err as Error).message}`,
      );
    }
    if (!this.records.has(rec.Id)) {
      // Cannot happen while remove() refuses networks with endpoints; kept as a guard.
      await this.dropEndpoint(ep);
      throw notFound(`network ${network} not found`);
    }
    this.emitNetworkEvent('connect', rec, containerId);
    return { ...ep.settings };
  }

  async disconnect(containerId: string, network: string): Promise<void> {
    const rec = this.get(network);
    if (rec.Driver === 'host')
      throw forbidden('container cannot be disconnected from host network or connected to host network');
    const ep = this.endpoints.get(containerId)?.get(rec.Id);
    if (!ep) throw forbidden(`container ${containerId} is not connected to network ${rec.Name}`);
    await this.dropPublications(containerId, (p) => p.containerIp === ep.settings.IPAddress);
    await this.dropEndpoint(ep);
    this.emitNetworkEvent('disconnect', rec, containerId);
    if (ep.defaultRoute) {
      // The container keeps a way out through another network, as dockerd moves the gateway.
      const next = [...(this.endpoints.get(containerId)?.values() ?? [])].find(
        (e) => !this.records.get(e.networkId)?.Internal,
      );
      if (next) {
        next.defaultRoute = true;
        await setDefaultRoute(next.netnsPath, next.settings.Gateway, next.containerIf).catch((err: Error) =>
          log.warn('cannot move the default route', { container: containerId, error: err.message }),
        );
      }
    }
  }

  // ---- spare endpoints for the default bridge ---------------------------------

  /**
   * A spare endpoint for a container whose only network is the default bridge (no --ip or --mac-address of
   * its own), or undefined. Making a namespace and its veth takes two processes; with a spare made while the
   * engine was otherwise idle, a `docker run` on the default bridge starts with no network process at all.
   * Taking one starts making the next.
   */
  takeSpare(network: string, wants: { ipv4?: string; mac?: string }): SpareEndpoint | undefined {
    if (!this.spareDir || this.stopping) return undefined;
    const rec = this.findByName(network) ?? this.records.get(network);
    if (!rec || !this.isDefaultBridge(rec) || wants.ipv4 || wants.mac) return undefined;
    const spare = this.spareReady;
    this.spareReady = undefined;
    this.spareMaking ??= this.makeSpare().finally(() => (this.spareMaking = undefined));
    return spare;
  }

  private async makeSpare(): Promise<void> {
    // After the container that took the last one has started, not in its way.
    await new Promise((resolve) => setTimeout(resolve, SPARE_DELAY_MS));
    const rec = [...this.records.values()].find((r) => this.isDefaultBridge(r));
    if (!rec || !this.spareDir || this.stopping) return;
    const pool = this.pools.get(rec.Id)!;
    let ip: number;
    try {
      ip = pool.allocate(undefined);
    } catch {
      return; // the bridge is full: containers take the slow path
    }
    const spare: SpareEndpoint = {
      netnsPath: path.join(this.spareDir, `spare-${newId().slice(0, 12)}`),
      hostIf: randomVethName(),
      ip,
    };
    try {
      await createEndpoint({
        bridge: rec.bridgeName!,
        netnsPath: spare.netnsPath,
        hostIf: spare.hostIf,
        containerIf: 'eth0',
        mac: macFromIPv4(ip),
        cidr: `${formatIPv4(ip)}/${pool.subnet.prefix}`,
        defaultGateway: formatIPv4(pool.gateway),
        mtu: this.settings.get(rec.Id)?.mtu,
        hairpin: this.useIptables && !this.userlandProxy,
        createNetns: true,
      });
    } catch (err) {
      pool.release(ip);
      log.debug('no spare endpoint', { error: (err as Error).message });
      return;
    }
    if (this.stopping) {
      await removeNetns(spare.netnsPath).catch(() => undefined);
      return;
    }
    this.spareReady = spare;
  }

  /**
   * For --network none: a namespace with only loopback, up, made while the engine was idle (the kernel's
   * making of a network namespace costs tens of ms in the way of a start), or undefined. Taking one starts
   * making the next.
   */
  takeLoopbackSpare(): string | undefined {
    if (!this.spareDir || this.stopping) return undefined;
    const spare = this.loopbackReady;
    this.loopbackReady = undefined;
    this.loopbackMaking ??= this.makeLoopbackSpare().finally(() => (this.loopbackMaking = undefined));
    return spare;
  }

  private async makeLoopbackSpare(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, SPARE_DELAY_MS));
    if (!this.spareDir || this.stopping) return;
    const file = path.join(this.spareDir, `lo-${newId().slice(0, 12)}`);
    try {
      await createNetns(file);
    } catch (err) {
      log.debug('no spare loopback namespace', { error: (err as Error).message });
      return;
    }
    if (this.stopping) {
      await removeNetns(file).catch(() => undefined);
      return;
    }
    this.loopbackReady = file;
  }

  /** At container exit: unpublish its ports and remove all its endpoints. */
  async releaseAll(containerId: string, opts: { removeNetns?: () => Promise<void> } = {}): Promise<void> {
    await this.unpublish(containerId);
    this.dnsRedirects.delete(containerId);
    const eps = [...(this.endpoints.get(containerId)?.values() ?? [])];
    const announce = () => {
      for (const ep of eps) {
        const rec = this.records.get(ep.networkId);
        if (rec) this.emitNetworkEvent('disconnect', rec, containerId);
      }
    };
    if (!opts.removeNetns) {
      await Promise.all(eps.map((ep) => this.dropEndpoint(ep)));
      announce();
      return;
    }
    // The namespace takes its veths along when it goes: no `ip link del` on the
    // way out of every container. Its addresses are reused only once the kernel
    // has really removed the host ends, so no new container meets a stale port.
    for (const ep of eps) this.forgetEndpoint(ep);
    await opts.removeNetns();
    announce();
    void Promise.all(
      eps.map(async (ep) => {
        if (!(await linkGone(ep.hostIf, LINK_GONE_WAIT_MS))) await deleteLink(ep.hostIf).catch(() => {});
        this.pools.get(ep.networkId)?.release(ep.ip);
      }),
    ).catch((err: Error) =>
      log.warn('releasing endpoints failed', { container: containerId, error: err.message }),
    );
  }

  private forgetEndpoint(ep: Endpoint): void {
    const eps = this.endpoints.get(ep.containerId);
    if (eps?.get(ep.networkId) === ep) eps.delete(ep.networkId);
    if (eps && eps.size === 0) this.endpoints.delete(ep.containerId);
  }

  private async dropEndpoint(ep: Endpoint): Promise<void> {
    this.forgetEndpoint(ep);
    try {
      await deleteLink(ep.hostIf);
    } finally {
      this.pools.get(ep.networkId)?.release(ep.ip);
    }
  }

  private endpointsOn(networkId: string): Endpoint[] {
    const out: Endpoint[] = [];
    for (const eps of this.endpoints.values()) {
      const ep = eps.get(networkId);
      if (ep) out.push(ep);
    }
    return out;
  }

  /** The container's endpoints by network name (NetworkSettings.Networks). */
  endpointsOf(containerId: string): Record<string, EndpointSettings> {
    const out: Record<string, EndpointSettings> = {};
    for (const ep of this.endpoints.get(containerId)?.values() ?? []) {
      const rec = this.records.get(ep.networkId);
      if (rec) out[rec.Name] = { ...ep.settings };
    }
    return out;
  }

  /** The host side of each of the container's endpoints, by network name (for berth explain). */
  interfacesOf(containerId: string): Record<string, { hostIf: string; bridge: string | null }> {
    const out: Record<string, { hostIf: string; bridge: string | null }> = {};
    for (const ep of this.endpoints.get(containerId)?.values() ?? []) {
      const rec = this.records.get(ep.networkId);
      if (rec) out[rec.Name] = { hostIf: ep.hostIf, bridge: rec.bridgeName ?? null };
    }
    return out;
  }

  /** `docker network inspect` → Containers. */
  containersOf(idOrName: string): Record<string, NetworkContainerView> {
    const rec = this.get(idOrName);
    const out: Record<string, NetworkContainerView> = {};
    for (const ep of this.endpointsOn(rec.Id)) {
      out[ep.containerId] = {
        Name: ep.containerName,
        EndpointID: ep.settings.EndpointID,
        MacAddress: ep.settings.MacAddress,
        IPv4Address: `${ep.settings.IPAddress}/${ep.settings.IPPrefixLen}`,
        IPv6Address: '',
      };
    }
    return out;
  }

  /**
   * The addresses a name resolves to on a user network: container names, aliases,
   * short IDs and hostnames, as dockerd's embedded DNS answers them.
   */
  resolve(network: string, name: string): string[] {
    const rec = this.get(network);
    if (this.isDefaultBridge(rec)) return [];
    const wanted = name.toLowerCase().replace(/\.$/, '');
    return this.endpointsOn(rec.Id)
      .filter((ep) => ep.dnsNames.some((d) => d.toLowerCase() === wanted))
      .map((ep) => ep.settings.IPAddress);
  }

  // ---- embedded DNS (embedded-dns.ts says where it listens and why) ------------

  /** One listener per user network on its gateway; without one, the network's containers use the host's resolvers. */
  private async startDns(rec: NetworkRecord): Promise<void> {
    if (this.isDefaultBridge(rec)) return; // no name resolution on the default bridge, as dockerd
    const gateway = rec.IPAM.Config[0].Gateway;
    // With iptables a DNAT rule brings <gateway>:53 to a free port; without, port 53 itself.
    await this.dns.listen(rec.Id, gateway, this.useIptables ? 0 : 53).catch((err: Error) =>
      log.warn('cannot start the embedded DNS: containers on this network will not resolve names', {
        network: rec.Name,
        address: gateway,
        error: err.message,
      }),
    );
  }

  /** The container that sent a DNS query from `ip` on the network `networkId`. */
  private dnsClient(networkId: string, ip: string): DnsClient | undefined {
    const asker = this.endpointsOn(networkId).find((ep) => ep.settings.IPAddress === ip);
    if (!asker) return undefined;
    const own = [...(this.endpoints.get(asker.containerId)?.values() ?? [])];
    const userNetworks = [asker, ...own.filter((ep) => ep !== asker)]
      .map((ep) => this.records.get(ep.networkId))
      .filter((rec): rec is NetworkRecord => !!rec && !this.isDefaultBridge(rec));
    return {
      networks: userNetworks.map((rec) => ({
        name: rec.Name,
        subnet: rec.IPAM.Config[0].Subnet,
        endpoints: this.endpointsOn(rec.Id).map((ep) => ({
          ip: ep.settings.IPAddress,
          containerName: ep.containerName,
          names: ep.dnsNames,
        })),
      })),
      upstreams: asker.upstreams,
      external: own.some((ep) => !this.records.get(ep.networkId)?.Internal),
    };
  }

  /** The gateway of the container's first user network with a DNS listener. */
  private embeddedDnsGateway(containerId: string): string | undefined {
    for (const ep of this.endpoints.get(containerId)?.values() ?? []) {
      const rec = this.records.get(ep.networkId);
      if (rec && this.dns.portOf(rec.Id) !== undefined) return rec.IPAM.Config[0].Gateway;
    }
    return undefined;
  }

  /**
   * The nameserver for the container's resolv.conf: 127.0.0.11 (redirected to the
   * embedded DNS, as dockerd's), or without iptables that DNS's gateway address;
   * undefined (the host's resolvers) when no user network of its has one.
   */
  embeddedDnsAddress(containerId: string): string | undefined {
    const gateway = this.embeddedDnsGateway(containerId);
    if (!gateway) return undefined;
    return this.useIptables ? EMBEDDED_DNS_IP : gateway;
  }

  /**
   * Points the container's 127.0.0.11 at the embedded DNS it should ask now, after
   * a connect or disconnect (or a start whose first network had none). No process
   * when nothing changes.
   */
  async syncDnsRedirect(containerId: string): Promise<void> {
    if (!this.useIptables) return;
    const want = this.embeddedDnsGateway(containerId);
    const installed = this.dnsRedirects.has(containerId);
    if (installed ? this.dnsRedirects.get(containerId) === want : !want) return;
    const netnsPath = [...(this.endpoints.get(containerId)?.values() ?? [])][0]?.netnsPath;
    if (!netnsPath) return;
    await ipBatchInNetns(netnsPath, [], {
      extras: {
        sysctls: installed ? undefined : DNS_REDIRECT_SYSCTLS,
        iptablesRestore: dnsRedirectRules(want, !installed),
      },
    });
    this.dnsRedirects.set(containerId, want);
  }

  /** What `--add-host name:host-gateway` means: the engine's --host-gateway-ip, else the default bridge's gateway. */
  hostGatewayIp(): string {
    return (
      this.hostGateway ?? this.findByName('bridge')?.IPAM.Config[0]?.Gateway ?? DEFAULT_BIP.split('/')[0]
    );
  }

  // ---- published ports -------------------------------------------------------

  async publish(containerId: string, target: { ip: string }, bindings: PortMap): Promise<PortMap> {
    const ep = [...(this.endpoints.get(containerId)?.values() ?? [])].find(
      (e) => e.settings.IPAddress === target.ip,
    );
    if (!ep)
      throw invalid(
        `cannot publish ports: container ${containerId} has no endpoint with address ${target.ip}`,
      );
    const rec = this.records.get(ep.networkId)!;
    // Containers only on an internal network have no external connectivity, hence no published ports.
    if (rec.Internal) return {};
    const settings = this.settings.get(rec.Id)!;
    const made: Publication[] = [];
    const result: PortMap = {};
    try {
      for (const [key, list] of Object.entries(bindings)) {
        const { containerPort, proto } = parsePortKey(key);
        for (const b of list ?? []) {
          const hostIp = normalizeHostIp(b.HostIp);
          const spec = parseHostPort(b.HostPort);
          let ips: string[];
          if (hostIp !== '') ips = [hostIp];
          else if (settings.hostBindingIp && settings.hostBindingIp !== '0.0.0.0')
            ips = [settings.hostBindingIp];
          else ips = ['0.0.0.0', ...(this.ipv6 && this.userlandProxy ? ['::'] : [])];
          if (!this.userlandProxy && ips.some((ip) => net.isIPv6(ip)))
            throw invalid(`cannot publish on ${hostIp}: IPv6 host addresses need the userland proxy`);
          const group = await this.bindGroup(ep, proto, ips, spec, containerPort);
          made.push(...group);
          const out: PortBinding[] = (result[`${containerPort}/${proto}`] ??= []);
          for (const p of group) out.push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
        }
      }
      const all = [...(this.publications.get(containerId) ?? []), ...made];
      this.publications.set(containerId, all);
      if (made.some((p) => p.nat)) await this.syncRules();
    } catch (err) {
      const mine = new Set(made);
      const rest = (this.publications.get(containerId) ?? []).filter((p) => !mine.has(p));
      if (rest.length) this.publications.set(containerId, rest);
      else this.publications.delete(containerId);
      await Promise.all(made.map((p) => this.closePublication(p)));
      if (made.some((p) => p.nat)) await this.syncRules().catch(() => undefined);
      throw err;
    }
    for (const p of made) this.emit('publish', p);
    return result;
  }

  /** Binds one requested host port on every address of `ips` (one port for all of them). */
  private async bindGroup(
    ep: Endpoint,
    proto: Proto,
    ips: string[],
    spec: HostPortSpec,
    containerPort: number,
  ): Promise<Publication[]> {
    const fail = (err: PortUnavailable): never => {
      const prefix = `driver failed programming external connectivity on endpoint ${ep.containerName} (${ep.settings.EndpointID})`;
      const kind =
        err.kind === 'allocated' || err.code === 'EADDRINUSE'
          ? 'conflict'
          : err.code === 'EADDRNOTAVAIL'
            ? 'invalid'
            : 'internal';
      throw new EngineError(kind, `${prefix}: ${err.message}`);
    };
    if (spec.kind === 'range') {
      let last: PortUnavailable | undefined;
      for (let port = spec.start; port <= spec.end; port++) {
        try {
          return await this.bindAll(ep, proto, ips, port, containerPort);
        } catch (err) {
          if (!(err instanceof PortUnavailable)) throw err;
          last = err;
        }
      }
      return fail(last!);
    }
    const range = await ephemeralRange();
    const size = range.end - range.start + 1;
    if (this.nextRandomPort < range.start || this.nextRandomPort > range.end)
      this.nextRandomPort = range.start;
    for (let i = 0; i < size; i++) {
      const port = this.nextRandomPort;
      this.nextRandomPort = port >= range.end ? range.start : port + 1;
      if (ips.some((ip) => this.ports.ownerOf(proto, ip, port))) continue;
      try {
        return await this.bindAll(ep, proto, ips, port, containerPort);
      } catch (err) {
        // Taken by someone else: try the next one.
        if (err instanceof PortUnavailable && (err.kind === 'allocated' || err.code === 'EADDRINUSE'))
          continue;
        if (err instanceof PortUnavailable) fail(err);
        throw err;
      }
    }
    throw new EngineError(
      'conflict',
      `driver failed programming external connectivity on endpoint ${ep.containerName}: all ports in ${range.start}-${range.end} are allocated`,
    );
  }

  private async bindAll(
    ep: Endpoint,
    proto: Proto,
    ips: string[],
    port: number,
    containerPort: number,
  ): Promise<Publication[]> {
    for (const ip of ips) {
      if (this.ports.ownerOf(proto, ip, port))
        throw new PortUnavailable(
          'allocated',
          `Bind for ${hostPortString(ip, port)} failed: port is already allocated`,
        );
    }
    const bridge = this.records.get(ep.networkId)!.bridgeName!;
    const target = this.userlandProxy ? { ip: ep.settings.IPAddress, port: containerPort } : undefined;
    // Reserved before the first await, so a concurrent publish sees the port as allocated.
    for (const ip of ips) this.ports.add(proto, ip, port, ep.containerId);
    const out: Publication[] = [];
    for (const ip of ips) {
      try {
        const handle = await (proto === 'tcp' ? listenTcp : listenUdp)(ip, port, target);
        out.push({
          containerId: ep.containerId,
          proto,
          hostIp: ip,
          hostPort: port,
          containerIp: ep.settings.IPAddress,
          containerPort,
          bridge,
          nat: this.useIptables && net.isIPv4(ip),
          handle,
        });
      } catch (err) {
        await Promise.all(out.map((p) => p.handle.close().catch(() => undefined)));
        for (const i of ips) this.ports.remove(proto, i, port);
        const e = err as NodeJS.ErrnoException;
        const fam = net.isIPv6(ip) ? '6' : '4';
        throw new PortUnavailable(
          'bind',
          `Error starting userland proxy: listen ${proto}${fam} ${hostPortString(ip, port)}: bind: ${bindErrorText(e)}`,
          e.code,
        );
      }
    }
    return out;
  }

  private async closePublication(p: Publication): Promise<void> {
    this.ports.remove(p.proto, p.hostIp, p.hostPort);
    await p.handle.close().catch(() => undefined);
  }

  async unpublish(containerId: string): Promise<void> {
    await this.dropPublications(containerId, () => true);
  }

  private async dropPublications(containerId: string, which: (p: Publication) => boolean): Promise<void> {
    const all = this.publications.get(containerId) ?? [];
    const gone = all.filter(which);
    if (gone.length === 0) return;
    const rest = all.filter((p) => !which(p));
    if (rest.length) this.publications.set(containerId, rest);
    else this.publications.delete(containerId);
    await Promise.all(gone.map((p) => this.closePublication(p)));
    if (gone.some((p) => p.nat)) await this.syncRules();
    for (const p of gone) this.emit('unpublish', p);
  }

  /** The container's published ports as NetworkSettings.Ports shows them (bound ones only). */
  portsOf(containerId: string): PortMap {
    const out: PortMap = {};
    for (const p of this.publications.get(containerId) ?? []) {
      (out[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
    }
    return out;
  }

  /** Networks created and removed, containers connected and disconnected (`docker events`). */
  onNetworkEvent(listener: NetworkEventListener): () => void {
    this.networkListeners.add(listener);
    return () => this.networkListeners.delete(listener);
  }

  private emitNetworkEvent(action: NetworkEvent['action'], rec: NetworkRecord, containerId?: string): void {
    const e: NetworkEvent = { action, networkId: rec.Id, name: rec.Name, driver: rec.Driver, containerId };
    for (const l of this.networkListeners) {
      try {
        l(e);
      } catch (err) {
        log.warn('network event listener failed', { error: (err as Error).message });
      }
    }
  }

  onPortEvent(listener: PortEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(action: PortEvent['action'], p: Publication): void {
    const e: PortEvent = {
      action,
      containerId: p.containerId,
      proto: p.proto,
      hostIp: p.hostIp,
      hostPort: p.hostPort,
      containerPort: p.containerPort,
    };
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        log.warn('port event listener failed', { error: (err as Error).message });
      }
    }
  }

  // ---- helpers -----------------------------------------------------------------

  private recordPath(id: string): string {
    return path.join(this.stateDir, `${id}.json`);
  }

  private async persist(rec: NetworkRecord): Promise<void> {
    await writeJsonAtomic(this.recordPath(rec.Id), rec);
  }

  private async prepareBridgeSysctls(bridge: string, settings: BridgeSettings): Promise<void> {
    if (!this.useIptables) return;
    // Traffic between ports of one bridge meets iptables only with bridge-nf-call-iptables:
    // needed for enable_icc=false, and for hairpin NAT without the proxy (as dockerd sets it).
    if (
      (!settings.icc || !this.userlandProxy) &&
      existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')
    ) {
      if (!(await writeSysctl('net/bridge/bridge-nf-call-iptables', '1')))
        log.warn('cannot enable bridge-nf-call-iptables: enable_icc=false will not isolate containers', {
          bridge,
        });
    }
    if (this.userlandProxy) return;
    // Without the proxy, loopback connections are NATed into the bridge: the kernel must route 127/8 there.
    if (!(await writeSysctl(`net/ipv4/conf/${bridge}/route_localnet`, '1')))
      log.warn('cannot enable route_localnet: published ports will not answer on 127.0.0.1', { bridge });
  }

  private ruleState(): RuleState {
    const networks = this.bridgeRecords()
      .filter((r) => this.settings.has(r.Id))
      .map((r) => {
        const s = this.settings.get(r.Id)!;
        const dnsPort = this.dns.portOf(r.Id);
        return {
          bridge: r.bridgeName!,
          subnet: r.IPAM.Config[0].Subnet,
          internal: r.Internal,
          masquerade: s.masquerade,
          icc: s.icc,
          ...(dnsPort !== undefined ? { dns: { gateway: r.IPAM.Config[0].Gateway, port: dnsPort } } : {}),
        };
      });
    const mappings = [...this.publications.values()].flat().filter((p) => p.nat);
    return { networks, mappings };
  }

  /** Loads the rules for the current state; concurrent requests share one run. */
  private syncRules(): Promise<void> {
    if (!this.iptables) return Promise.resolve();
    if (this.syncQueued) return this.syncQueued;
    const run = this.syncChain
      .catch(() => undefined)
      .then(() => {
        this.syncQueued = undefined;
        // The state is read when the run starts, so it includes every change made before.
        return this.iptables ? this.iptables.apply(this.ruleState()) : undefined;
      });
    this.syncQueued = run;
    this.syncChain = run;
    return run;
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.lock.catch(() => undefined).then(fn);
    this.lock = result;
    return result;
  }
}
