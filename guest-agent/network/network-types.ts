// The network service's records and request shapes, close to what dockerd shows
// in `docker network inspect` and a container's NetworkSettings.
export type { PortEvent, PortEventListener } from '../../common/port-events.js';

export type NetworkDriver = 'bridge' | 'host' | 'null';

/** A change `docker events` reports for a network (Type "network"), with what dockerd puts in its attributes. */
export interface NetworkEvent {
  action: 'create' | 'destroy' | 'connect' | 'disconnect';
  networkId: string;
  name: string;
  driver: string;
  /** For connect and disconnect. */
  containerId?: string;
}

export type NetworkEventListener = (event: NetworkEvent) => void;

/** Persisted, one JSON file per network. */
export interface NetworkRecord {
  Id: string;
  Name: string;
  Driver: NetworkDriver;
  Created: string;
  Internal: boolean;
  /** Stored and shown as dockerd does (it means something for swarm networks only). */
  Attachable?: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  IPAM: {
    Driver: 'default';
    /** --ipam-opt: kept and shown (the default IPAM driver has none of its own to act on). */
    Options?: Record<string, string>;
    Config: Array<{
      Subnet: string;
      IPRange?: string;
      Gateway: string;
      /** Addresses kept out of the network's allocation (name → address). */
      AuxiliaryAddresses?: Record<string, string>;
    }>;
  };
  /** berth0 for the default "bridge", br-<12 hex id> for user networks. */
  bridgeName?: string;
}

/** What inspect shows under NetworkSettings.Networks.<name>. */
export interface EndpointSettings {
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  Aliases: string[] | null;
  DNSNames: string[] | null;
}

/** HostPort is a string, as in the API: "" or "0" asks for a free port. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** "80/tcp" → bindings, as HostConfig.PortBindings and NetworkSettings.Ports. */
export type PortMap = Record<string, PortBinding[]>;

export interface NetworkCreateRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Labels?: Record<string, string>;
  Options?: Record<string, string>;
  IPAM?: {
    Driver?: string;
    Options?: Record<string, string>;
    Config?: Array<{
      Subnet?: string;
      Gateway?: string;
      IPRange?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }>;
  };
  EnableIPv6?: boolean;
  Attachable?: boolean;
  Scope?: string;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network?: string };
}

export interface ConnectOptions {
  ipv4?: string;
  mac?: string;
  aliases?: string[];
  hostname?: string;
  containerName?: string;
  /** The container's own resolvers (docker run --dns): the embedded DNS forwards to them. */
  dns?: string[];
  /** Make the namespace at netnsPath in the same step (a container's first network). */
  createNetns?: boolean;
  /** A spare endpoint from takeSpare(): netnsPath is its namespace, already wired to the default bridge. */
  spare?: SpareEndpoint;
}

/** A network namespace made ahead of time with its veth on the default bridge, address and route set. */
export interface SpareEndpoint {
  netnsPath: string;
  hostIf: string;
  /** Its address, already taken from the default bridge's pool. */
  ip: number;
}

export interface NetworkServiceOptions {
  stateDir: string;
  /** The default bridge's gateway and prefix; default 172.17.0.1/16. */
  bip?: string;
  /** Manage NAT and forwarding rules with iptables; default true. */
  iptables?: boolean;
  /** Forward published ports with the in-process proxy too; default true. */
  userlandProxy?: boolean;
  /**
   * Connections arriving on this interface at a published port reach its container, whatever host
   * address it was published on: the VM's uplink, where the user's machine forwards published ports.
   */
  forwardIface?: string;
  /** Resolvers the embedded DNS forwards to (dockerd's --dns); default: the host's resolv.conf. */
  dns?: string[];
  /** The address `host-gateway` stands for in --add-host; default: the default bridge's gateway. */
  hostGatewayIp?: string;
  /** Where networks' subnets come from, the default bridge's too when there is no bip; default dockerd's pools. */
  addressPools?: { base: string; size: number }[];
  /** The default bridge's MTU (default 1500). */
  mtu?: number;
  /** Where spare namespaces for the default bridge are kept (emptied at init); none: no spares. */
  spareNetnsDir?: string;
}

/** One container's entry in `docker network inspect` → Containers. */
export interface NetworkContainerView {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}
