// The JSON a client sees of a container: `docker inspect` and `docker ps`.
import { attachedNetworks, type ContainerRecord, type EndpointRequest } from './container-store.js';
import { humanDuration } from './human-time.js';
import { inspectMounts } from '../volumes/mount-spec.js';
import type { EndpointSettings, PortMap } from '../network/network-types.js';

/** A running container's network facts, from the network service. */
export interface NetworkFacts {
  endpoints: Record<string, EndpointSettings>;
  ports: PortMap;
}

export interface InspectExtras {
  graphDriver: { LowerDir?: string; MergedDir: string; UpperDir: string; WorkDir: string };
  execIds: string[];
  netnsPath?: string;
  sizes?: { SizeRw: number; SizeRootFs: number };
  net?: NetworkFacts;
}

function networks(record: ContainerRecord, net?: NetworkFacts): Record<string, unknown> {
  if (net && Object.keys(net.endpoints).length) {
    return Object.fromEntries(
      Object.entries(net.endpoints).map(([n, e]) => [
        n,
        {
          IPAMConfig: null,
          Links: null,
          DriverOpts: null,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          ...e,
        },
      ]),
    );
  }
  // Not running: the networks it will join, with the aliases asked for (host and
  // none are listed under their own names, as dockerd lists them).
  const mode = record.HostConfig.NetworkMode ?? 'bridge';
  const joins = mode === 'host' || mode === 'none' ? [[mode, {}] as const] : attachedNetworks(record);
  return Object.fromEntries(
    joins.map(([name, cfg]: readonly [string, EndpointRequest]) => [
      name,
      {
        IPAMConfig: cfg.IPv4Address ? { IPv4Address: cfg.IPv4Address } : null,
        Links: null,
        Aliases: cfg.Aliases?.length ? cfg.Aliases : null,
        MacAddress: cfg.MacAddress ?? '',
        DriverOpts: null,
        NetworkID: '',
        EndpointID: '',
        Gateway: '',
        IPAddress: '',
        IPPrefixLen: 0,
        IPv6Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        DNSNames: null,
      },
    ]),
  );
}

/** Exposed-only ports are null; published ones list their bindings (HostPort a string). */
function exposedPorts(record: ContainerRecord, net?: NetworkFacts): Record<string, unknown> {
  const out: Record<string, unknown> = Object.fromEntries(
    Object.keys(record.Config.ExposedPorts ?? {}).map((p) => [p, null]),
  );
  for (const [port, bindings] of Object.entries(net?.ports ?? {})) out[port] = bindings;
  return out;
}

export function inspectView(record: ContainerRecord, extras: InspectExtras): Record<string, unknown> {
  return {
    Id: record.Id,
    Created: record.Created,
    Path: record.Path,
    Args: record.Args,
    State: record.State,
    Image: record.Image,
    ResolvConfPath: record.ResolvConfPath,
    HostnamePath: record.HostnamePath,
    HostsPath: record.HostsPath,
    LogPath: record.HostConfig.LogConfig?.Type === 'json-file' ? record.LogPath : '',
    Name: record.Name,
    RestartCount: record.RestartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: extras.execIds.length ? extras.execIds : null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: record.HostConfig.LogConfig,
      NetworkMode: record.HostConfig.NetworkMode,
      PortBindings: {},
      RestartPolicy: record.HostConfig.RestartPolicy,
      AutoRemove: record.HostConfig.AutoRemove ?? false,
      CapAdd: null,
      CapDrop: null,
      Dns: [],
      DnsOptions: [],
      DnsSearch: [],
      ExtraHosts: null,
      Privileged: false,
      ReadonlyRootfs: false,
      ShmSize: 67108864,
      Memory: 0,
      MemorySwap: 0,
      NanoCpus: 0,
      CpuShares: 0,
      PidsLimit: null,
      ...record.HostConfig,
    },
    GraphDriver: { Name: 'overlay2', Data: extras.graphDriver },
    ...(extras.sizes ?? {}),
    Mounts: inspectMounts(record.ResolvedMounts ?? []),
    Config: record.Config,
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      SandboxKey: extras.netnsPath ?? '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: exposedPorts(record, extras.net),
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: extras.net?.endpoints.bridge?.EndpointID ?? '',
      Gateway: extras.net?.endpoints.bridge?.Gateway ?? '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: extras.net?.endpoints.bridge?.IPAddress ?? '',
      IPPrefixLen: extras.net?.endpoints.bridge?.IPPrefixLen ?? 0,
      IPv6Gateway: '',
      MacAddress: extras.net?.endpoints.bridge?.MacAddress ?? '',
      Networks: networks(record, extras.net),
    },
  };
}

/** dockerd's Status column words (container/state.go String()). */
export function statusText(record: ContainerRecord, now = Date.now()): string {
  const s = record.State;
  if (s.Running) {
    const up = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    if (s.Paused) return `${up} (Paused)`;
    if (s.Health) return `${up} (${s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status})`;
    return up;
  }
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  if (s.Status === 'removing') return 'Removal In Progress';
  if (s.Status === 'dead') return 'Dead';
  if (s.Status === 'created' || s.FinishedAt.startsWith('0001-')) return 'Created';
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}

export function summaryView(
  record: ContainerRecord,
  sizes?: { SizeRw: number; SizeRootFs: number },
  net?: NetworkFacts,
): Record<string, unknown> {
  const ports: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  for (const [p, bindings] of Object.entries(net?.ports ?? {})) {
    const [port, proto] = p.split('/');
    seen.add(p);
    for (const b of bindings) {
      ports.push({
        IP: b.HostIp,
        PrivatePort: Number(port),
        PublicPort: Number(b.HostPort),
        Type: proto ?? 'tcp',
      });
    }
  }
  for (const p of Object.keys(record.Config.ExposedPorts ?? {})) {
    if (seen.has(p)) continue;
    const [port, proto] = p.split('/');
    ports.push({ PrivatePort: Number(port), Type: proto ?? 'tcp' });
  }
  return {
    Id: record.Id,
    Names: [record.Name],
    Image: record.ImageRef,
    ImageID: record.Image,
    Command: [record.Path, ...record.Args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '),
    Created: Math.floor(Date.parse(record.Created) / 1000),
    Ports: ports,
    Labels: record.Config.Labels ?? {},
    State: record.State.Status,
    Status: statusText(record),
    ...(sizes ?? {}),
    HostConfig: { NetworkMode: record.HostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: networks(record, net) },
    Mounts: inspectMounts(record.ResolvedMounts ?? []),
  };
}
