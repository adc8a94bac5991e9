// Docker Engine API 1.47 shapes shared by the engine and host-side clients.
// Only the fields Berth reads or writes are typed; the rest pass through.

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';
/** The dockerd release whose API level Berth's engine implements (reported as the engine version). */
export const ENGINE_COMPAT_VERSION = '27.5.1';
export const BERTH_VERSION = '0.1.0';

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

export interface HostConfig {
  AutoRemove?: boolean;
  RestartPolicy?: RestartPolicy;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  PidsLimit?: number | null;
  Privileged?: boolean;
  /** "host" opts out of the engine's --userns-remap. */
  UsernsMode?: string;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  ReadonlyRootfs?: boolean;
  NetworkMode?: string;
  LogConfig?: LogConfig;
  ConsoleSize?: [number, number];
  Binds?: string[] | null;
  VolumesFrom?: string[] | null;
  Mounts?: unknown[] | null;
  Tmpfs?: Record<string, string> | null;
  PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  SecurityOpt?: string[] | null;
  ShmSize?: number;
  OomScoreAdj?: number;
  Init?: boolean | null;
  ExtraHosts?: string[] | null;
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  DnsOptions?: string[] | null;
  Sysctls?: Record<string, string> | null;
  Devices?: Array<{ PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }> | null;
  Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> | null;
  GroupAdd?: string[] | null;
  /** "", "host" or "container:<name|id>". */
  PidMode?: string;
  /** "private" (the default), "shareable", "none", "host" or "container:<name|id>". */
  IpcMode?: string;
  /** "" or "host". */
  UTSMode?: string;
  /** "private" (Berth's default) or "host". */
  CgroupnsMode?: string;
  CpusetMems?: string;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  DeviceCgroupRules?: string[] | null;
  DeviceRequests?: unknown[] | null;
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  Annotations?: Record<string, string> | null;
  /** `--link name:alias`; stored as dockerd does, "/name:/parent/alias". */
  Links?: string[] | null;
  [key: string]: unknown;
}

export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Healthcheck?: HealthcheckConfig | null;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
  [key: string]: unknown;
}

export interface ContainerCreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, unknown> | null } | null;
}

export interface ContainerState {
  Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Only for a container with a health check (HEALTHCHECK, --health-cmd). */
  Health?: ContainerHealth;
}

/** Config.Healthcheck; durations in nanoseconds, 0 or absent for the default. */
export interface HealthcheckConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HealthcheckResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface ContainerHealth {
  Status: 'starting' | 'healthy' | 'unhealthy';
  FailingStreak: number;
  /** The last results, oldest first. */
  Log: HealthcheckResult[];
}

export interface EngineEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: 'container' | 'image' | 'network' | 'volume' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The rlimit names `--ulimit` takes (go-units' ulimitNameMapping), for the CLI's check and the engine's. */
export const ULIMIT_NAMES: readonly string[] = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
];
