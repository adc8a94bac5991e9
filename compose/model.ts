// A loaded, validated, interpolated and merged compose project: what every
// command works from. Paths are absolute; durations are in nanoseconds (as the
// Engine API wants them); sizes in bytes.

export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

/** Where a container variable's value came from, highest precedence first (Compose docs order). */
export type EnvSource =
  'run -e' | 'environment (interpolated)' | 'env_file (interpolated)' | 'environment' | 'env_file';

export interface EnvValue {
  value: string;
  source: EnvSource;
}

export interface PortMapping {
  target: number;
  /** Host port or range ("8080", "8000-8001"); undefined: an ephemeral port. */
  published?: string;
  hostIp?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
}

export interface ServiceMount {
  type: 'volume' | 'bind' | 'tmpfs';
  /** Absolute host path (bind), the top-level volume key (volume), or none (anonymous, tmpfs). */
  source?: string;
  target: string;
  readOnly: boolean;
  /** Short syntax binds create a missing host path, as docker does with -v. */
  createHostPath: boolean;
  noCopy?: boolean;
  tmpfsSize?: number;
}

export interface ServiceNetwork {
  aliases: string[];
  ipv4Address?: string;
  macAddress?: string;
}

export interface Healthcheck {
  /** Absent: the image's HEALTHCHECK test. */
  test?: string[];
  interval?: number;
  timeout?: number;
  retries?: number;
  startPeriod?: number;
  startInterval?: number;
}

/** `build:` of a service: what POST /build gets. */
export interface ServiceBuild {
  /** Absolute folder sent as the context. */
  context: string;
  /** Relative to the context. */
  dockerfile: string;
  args: Record<string, string>;
  target?: string;
  labels: Record<string, string>;
  noCache: boolean;
  /** Pull the base images even when the engine has them. */
  pull: boolean;
  /**
   * The service names its image (image:). Otherwise the image is
   * <project>-<service>, the project's own: down --rmi local removes it.
   */
  imageNamed: boolean;
}

/** A top-level secret or config: where its content comes from. */
export interface FileObject {
  /** The absolute path of file:. */
  file?: string;
  /** environment: the variable's name. */
  environment?: string;
  /** Its value from the shell or .env; undefined when neither has it (an error when a container needs it). */
  environmentValue?: string;
  /** content: (configs only), already interpolated. */
  content?: string;
  external: boolean;
}

/** A service's use of a secret or config (short syntax: the source alone). */
export interface FileReference {
  source: string;
  /** Absolute path in the container: a secret defaults to /run/secrets/<source>, a config to /<source>. */
  target: string;
  uid?: string;
  gid?: string;
  /** File mode (0o444 when unset, as Compose writes it). */
  mode?: number;
}

/** A post_start or pre_stop hook: a command run in the container as an exec. */
export interface LifecycleHook {
  command: string[];
  user?: string;
  privileged: boolean;
  workingDir?: string;
  environment: Record<string, string>;
}

export type PullPolicy = 'always' | 'never' | 'missing' | 'build';

export interface ServiceDependency {
  condition: DependencyCondition;
  required: boolean;
}

export interface Service {
  name: string;
  /** The image to run: `image:`, or for a service with only `build:`, <project>-<service>. */
  image: string;
  build?: ServiceBuild;
  pullPolicy?: PullPolicy;
  command?: string[];
  entrypoint?: string[];
  /** The container's variables after env_file and environment, with where each came from. */
  environment: Record<string, EnvValue>;
  ports: PortMapping[];
  expose: string[];
  volumes: ServiceMount[];
  networks: Record<string, ServiceNetwork>;
  dependsOn: Record<string, ServiceDependency>;
  restart?: string;
  labels: Record<string, string>;
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  containerName?: string;
  tmpfs: string[];
  logging?: { driver?: string; options: Record<string, string> };
  cpus?: number;
  memory?: number;
  healthcheck?: Healthcheck;
  /** From scale or deploy.replicas; undefined: 1. */
  scale?: number;
  tty: boolean;
  stdinOpen: boolean;
  privileged: boolean;
  readOnly: boolean;
  capAdd: string[];
  capDrop: string[];
  extraHosts: string[];
  dns: string[];
  stopSignal?: string;
  /** Seconds. */
  stopGracePeriod?: number;
  init?: boolean;
  networkMode?: string;
  /** pid, ipc: "host", a mode, or "service:<name>" (that service's container); uts; cgroup (namespace mode). */
  pid?: string;
  ipc?: string;
  uts?: string;
  cgroup?: string;
  pidsLimit?: number;
  securityOpt: string[];
  shmSize?: number;
  sysctls: Record<string, string>;
  /** devices: host nodes mapped into the container, as the Engine API's HostConfig.Devices. */
  devices: Array<{ PathOnHost: string; PathInContainer: string; CgroupPermissions: string }>;
  /** ulimits: by name. */
  ulimits: Record<string, { soft: number; hard: number }>;
  /** group_add: group names (of the image) or numbers. */
  groupAdd: string[];
  profiles: string[];
  secrets: FileReference[];
  configs: FileReference[];
  /** links: "service[:alias]" (that service's containers); external_links: "container[:alias]". */
  links: string[];
  externalLinks: string[];
  /** volumes_from: "service:<name>[:ro|rw]", "container:<name>[:ro|rw]", or a service name. */
  volumesFrom: string[];
  postStart: LifecycleHook[];
  preStop: LifecycleHook[];
  /** attach: false keeps the service's output out of `up`'s attached logs. */
  attach: boolean;
  /** Engine settings passed through as they are: HostConfig fields (cpu_shares → CpuShares …). */
  hostOptions: HostOptions;
  /** platform: os/arch[/variant], for pull and create. */
  platform?: string;
  macAddress?: string;
}

/** Service keys that map one to one onto HostConfig fields. */
export interface HostOptions {
  Annotations?: Record<string, string>;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpuCount?: number;
  CpuPercent?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  MemoryReservation?: number;
  MemorySwap?: number;
  MemorySwappiness?: number;
  OomKillDisable?: boolean;
  OomScoreAdj?: number;
  DeviceCgroupRules?: string[];
  DnsOptions?: string[];
  DnsSearch?: string[];
  UsernsMode?: string;
  Runtime?: string;
  CgroupParent?: string;
  StorageOpt?: Record<string, string>;
  Isolation?: string;
  BlkioWeight?: number;
  BlkioWeightDevice?: Array<{ Path: string; Weight: number }>;
  BlkioDeviceReadBps?: Array<{ Path: string; Rate: number }>;
  BlkioDeviceWriteBps?: Array<{ Path: string; Rate: number }>;
  BlkioDeviceReadIOps?: Array<{ Path: string; Rate: number }>;
  BlkioDeviceWriteIOps?: Array<{ Path: string; Rate: number }>;
  DeviceRequests?: Array<{
    Driver: string;
    Count: number;
    DeviceIDs: string[];
    Capabilities: string[][];
    Options: Record<string, string>;
  }>;
}

export interface TopLevelNetwork {
  /** The engine's name of the network. */
  name: string;
  external: boolean;
  driver?: string;
  driverOpts: Record<string, string>;
  labels: Record<string, string>;
  internal: boolean;
  attachable: boolean;
  enableIpv6: boolean;
  /** ipam: the Engine API's IPAM, when the file gives one. */
  ipam?: {
    Driver?: string;
    Config: Array<{
      Subnet?: string;
      IPRange?: string;
      Gateway?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }>;
    Options?: Record<string, string>;
  };
}

export interface TopLevelVolume {
  name: string;
  external: boolean;
  driver?: string;
  driverOpts: Record<string, string>;
  labels: Record<string, string>;
}

export interface Project {
  name: string;
  workingDir: string;
  configFiles: string[];
  /** The env file the interpolation read (.env or --env-file), when there was one. */
  environmentFile?: string;
  services: Record<string, Service>;
  networks: Record<string, TopLevelNetwork>;
  volumes: Record<string, TopLevelVolume>;
  secrets: Record<string, FileObject>;
  configs: Record<string, FileObject>;
  /** Services left out because none of their profiles is enabled (not orphans). */
  disabledServices: string[];
  /** Things the user should hear about (unset variables, ignored keys). */
  warnings: string[];
}
