// A service (and one container number of it) → the Engine API's create body.
import type Dockerode from 'dockerode';
import { environmentSourcesLabel, LABEL, projectLabels } from './labels.js';
import type { EnvValue, Project, Service } from './model.js';
import { fileObjectMounts } from './service-file-objects.js';

export interface ContainerIdentity {
  name: string;
  number?: number;
  oneoff: boolean;
  slug?: string;
  configHash: string;
  imageId: string;
}

export interface CreateOverrides {
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, EnvValue>;
  user?: string;
  workingDir?: string;
  tty?: boolean;
  stdinOpen?: boolean;
  /** compose run leaves the service's ports unpublished (as docker compose does without --service-ports). */
  publishPorts?: boolean;
  /** The engine's container ids for network_mode, pid and ipc: service:<name>. */
  networkModeContainer?: string;
  pidModeContainer?: string;
  ipcModeContainer?: string;
  /** links and external_links as the engine takes them ("container:alias"). */
  links?: string[];
  /** volumes_from with services resolved to their containers ("container[:ro|rw]"). */
  volumesFrom?: string[];
}

/** The service's networks with the one the container is created on first (then connected to the rest). */
export function serviceNetworkOrder(service: Service): string[] {
  return Object.keys(service.networks).sort();
}

export function containerCreateOptions(
  project: Project,
  service: Service,
  id: ContainerIdentity,
  o: CreateOverrides = {},
): Dockerode.ContainerCreateOptions {
  const env = o.environment ?? service.environment;
  const labels: Record<string, string> = {
    ...service.labels,
    ...projectLabels(project),
    [LABEL.service]: service.name,
    [LABEL.oneoff]: id.oneoff ? 'True' : 'False',
    [LABEL.configHash]: id.configHash,
    [LABEL.image]: id.imageId,
  };
  labels[LABEL.environmentSources] = environmentSourcesLabel(env);
  if (id.number !== undefined) labels[LABEL.containerNumber] = String(id.number);
  if (id.slug) labels[LABEL.slug] = id.slug;
  const depends = Object.entries(service.dependsOn).map(([n, d]) => `${n}:${d.condition}:${d.required}`);
  if (depends.length) labels[LABEL.dependsOn] = depends.join(',');

  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const e of service.expose) {
    const [ports, proto = 'tcp'] = e.split('/');
    const [a, b = a] = ports.split('-').map(Number);
    for (let p = a; p <= b; p++) exposed[`${p}/${proto}`] = {};
  }
  for (const p of service.ports) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    if (o.publishPorts === false) continue;
    (bindings[key] ??= []).push({ HostIp: p.hostIp ?? '', HostPort: p.published ?? '' });
  }

  const binds: string[] = [];
  // The Engine API's Mount, with its optional parts optional (dockerode's type has them required).
  const mounts: Record<string, unknown>[] = [];
  for (const v of service.volumes) {
    if (v.type === 'bind' && v.createHostPath) {
      binds.push(`${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`);
    } else if (v.type === 'bind') {
      mounts.push({ Type: 'bind', Source: v.source as string, Target: v.target, ReadOnly: v.readOnly });
    } else if (v.type === 'volume') {
      const m: Record<string, unknown> = { Type: 'volume', Target: v.target, ReadOnly: v.readOnly };
      if (v.source) m.Source = project.volumes[v.source].name;
      if (v.noCopy) m.VolumeOptions = { NoCopy: true };
      mounts.push(m);
    } else {
      const m: Record<string, unknown> = { Type: 'tmpfs', Target: v.target };
      if (v.tmpfsSize !== undefined) m.TmpfsOptions = { SizeBytes: v.tmpfsSize };
      mounts.push(m);
    }
  }
  // Volumes come first: a volume at a secret's or config's target wins, as in Compose.
  const taken = new Set([...mounts.map((m) => m.Target), ...binds.map((b) => b.split(':')[1])]);
  for (const m of fileObjectMounts(project, service)) if (!taken.has(m.Target as string)) mounts.push(m);
  const tmpfs: Record<string, string> = {};
  for (const t of service.tmpfs) {
    const colon = t.indexOf(':');
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? '' : t.slice(colon + 1);
  }

  const restart = service.restart ?? 'no';
  const [restartName, retries] = restart.split(':');
  const networks = serviceNetworkOrder(service);
  const first = networks[0];
  let networkMode = first ? project.networks[first].name : undefined;
  if (service.networkMode) {
    networkMode = service.networkMode.startsWith('service:')
      ? `container:${o.networkModeContainer}`
      : service.networkMode;
  }

  const hostConfig: Dockerode.HostConfig = {
    // Engine fields given as they are (cpu_shares, dns_search, blkio_config …); dockerode's type lacks some.
    ...(service.hostOptions as Dockerode.HostConfig),
    Binds: binds,
    Mounts: mounts as unknown as Dockerode.MountSettings[],
    PortBindings: bindings,
    RestartPolicy: { Name: restartName, MaximumRetryCount: retries ? Number(retries) : 0 },
    Tmpfs: tmpfs,
    NetworkMode: networkMode,
    Privileged: service.privileged,
    ReadonlyRootfs: service.readOnly,
    CapAdd: service.capAdd,
    CapDrop: service.capDrop,
    ExtraHosts: service.extraHosts,
    Dns: service.dns,
    SecurityOpt: service.securityOpt,
    Sysctls: service.sysctls,
  };
  if (service.devices.length) hostConfig.Devices = service.devices;
  if (o.links?.length) hostConfig.Links = o.links;
  if (o.volumesFrom?.length) hostConfig.VolumesFrom = o.volumesFrom;
  if (service.groupAdd.length) hostConfig.GroupAdd = service.groupAdd;
  const ulimits = Object.entries(service.ulimits);
  if (ulimits.length) hostConfig.Ulimits = ulimits.map(([Name, l]) => ({ Name, Soft: l.soft, Hard: l.hard }));
  if (service.logging)
    hostConfig.LogConfig = { Type: service.logging.driver ?? 'json-file', Config: service.logging.options };
  if (service.cpus !== undefined) hostConfig.NanoCpus = Math.round(service.cpus * 1e9);
  if (service.memory !== undefined) hostConfig.Memory = service.memory;
  if (service.pidsLimit !== undefined) hostConfig.PidsLimit = service.pidsLimit;
  if (service.shmSize !== undefined) hostConfig.ShmSize = service.shmSize;
  if (service.init !== undefined) hostConfig.Init = service.init;
  const shared = (mode: string | undefined, container: string | undefined) =>
    mode?.startsWith('service:') ? `container:${container}` : mode;
  if (service.pid) hostConfig.PidMode = shared(service.pid, o.pidModeContainer);
  if (service.ipc) hostConfig.IpcMode = shared(service.ipc, o.ipcModeContainer);
  if (service.uts) hostConfig.UTSMode = service.uts;
  // dockerode's types predate CgroupnsMode (API 1.41).
  if (service.cgroup) Object.assign(hostConfig, { CgroupnsMode: service.cgroup });

  const options: Dockerode.ContainerCreateOptions = {
    name: id.name,
    Image: service.image,
    Env: Object.entries(env)
      .map(([k, v]) => `${k}=${v.value}`)
      .sort(),
    Labels: labels,
    ExposedPorts: exposed,
    Tty: o.tty ?? service.tty,
    OpenStdin: o.stdinOpen ?? service.stdinOpen,
    StdinOnce: o.stdinOpen ?? false,
    AttachStdin: o.stdinOpen ?? false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: hostConfig,
  };
  const cmd = o.command ?? service.command;
  if (cmd) options.Cmd = cmd;
  const entrypoint = o.entrypoint ?? service.entrypoint;
  if (entrypoint) options.Entrypoint = entrypoint;
  const workingDir = o.workingDir ?? service.workingDir;
  if (workingDir) options.WorkingDir = workingDir;
  const user = o.user ?? service.user;
  if (user) options.User = user;
  if (service.hostname) options.Hostname = service.hostname;
  if (service.domainname) options.Domainname = service.domainname;
  if (service.stopSignal) options.StopSignal = service.stopSignal;
  if (service.platform) Object.assign(options, { platform: service.platform });
  if (service.macAddress && service.networkMode) options.MacAddress = service.macAddress;
  if (service.stopGracePeriod !== undefined) options.StopTimeout = Math.round(service.stopGracePeriod);
  if (service.healthcheck) {
    const h = service.healthcheck;
    options.Healthcheck = {
      Test: h.test,
      Interval: h.interval,
      Timeout: h.timeout,
      Retries: h.retries,
      StartPeriod: h.startPeriod,
      StartInterval: h.startInterval,
    } as Dockerode.ContainerCreateOptions['Healthcheck'];
  }
  if (first && !service.networkMode) {
    options.NetworkingConfig = {
      EndpointsConfig: { [project.networks[first].name]: endpointConfig(service, first) },
    };
  }
  return options;
}

export function endpointConfig(service: Service, network: string): Dockerode.EndpointSettings {
  const n = service.networks[network];
  const e: Dockerode.EndpointSettings = { Aliases: [service.name, ...n.aliases] };
  if (n.ipv4Address) e.IPAMConfig = { IPv4Address: n.ipv4Address };
  // mac_address of the service is its first network's, as Compose sets it (API 1.44+).
  const mac = n.macAddress ?? (network === serviceNetworkOrder(service)[0] ? service.macAddress : undefined);
  if (mac) e.MacAddress = mac;
  return e;
}
