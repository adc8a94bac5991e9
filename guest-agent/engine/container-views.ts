// The JSON a client sees of a container: `docker inspect` and `docker ps`.
import type { ContainerRecord } from './container-store.js';
import { humanDuration } from './human-time.js';
import { inspectMounts } from '../volumes/mount-spec.js';

export interface InspectExtras {
  graphDriver: { LowerDir?: string; MergedDir: string; UpperDir: string; WorkDir: string };
  execIds: string[];
  netnsPath?: string;
  sizes?: { SizeRw: number; SizeRootFs: number };
}

function networkName(record: ContainerRecord): string {
  const mode = record.HostConfig.NetworkMode ?? 'bridge';
  return mode.startsWith('container:') ? '' : mode;
}

function networks(record: ContainerRecord): Record<string, unknown> {
  const name = networkName(record);
  if (!name) return {};
  return {
    [name]: {
      IPAMConfig: null,
      Links: null,
      Aliases: null,
      MacAddress: '',
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
  };
}

function exposedPorts(record: ContainerRecord): Record<string, null> {
  return Object.fromEntries(Object.keys(record.Config.ExposedPorts ?? {}).map((p) => [p, null]));
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
      Ports: exposedPorts(record),
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      MacAddress: '',
      Networks: networks(record),
    },
  };
}

/** dockerd's Status column words (container/state.go String()). */
export function statusText(record: ContainerRecord, now = Date.now()): string {
  const s = record.State;
  if (s.Running) {
    const up = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    return s.Paused ? `${up} (Paused)` : up;
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
): Record<string, unknown> {
  const ports = Object.keys(record.Config.ExposedPorts ?? {}).map((p) => {
    const [port, proto] = p.split('/');
    return { PrivatePort: Number(port), Type: proto ?? 'tcp' };
  });
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
    NetworkSettings: { Networks: networks(record) },
    Mounts: inspectMounts(record.ResolvedMounts ?? []),
  };
}
