// `GET /berth/containers/{id}/explain`: how one container is isolated, as the
// engine sees it. A Berth-only, read-only endpoint; `berth explain` and the
// dashboard's Isolation tab both show this shape.

/** The route, relative to the API root (a version prefix such as /v1.47 is accepted too). */
export function explainPath(idOrName: string): string {
  return `/berth/containers/${encodeURIComponent(idOrName)}/explain`;
}

/**
 * The label in which a client records where each variable it put in
 * Config.Env came from: JSON, `{ "KEY": EnvSource, … }`. `berth run/create`
 * set it; `berth compose` sets it with the compose sources. A variable the
 * label does not name is `image` when the image's ENV holds the same
 * KEY=value, else `create request` (a plain docker client cannot tell `-e`
 * from `--env-file`): the engine never guesses beyond that.
 */
export const ENV_SOURCES_LABEL = 'berth.environment-sources';

/**
 * The label berth compose used first, with its own names for the sources
 * (`environment`, `env_file`, `environment (interpolated)`,
 * `env_file (interpolated)`, `run -e`); still read, mapped to EnvSource.
 */
export const LEGACY_COMPOSE_ENV_SOURCES_LABEL = 'berth.compose.environment-sources';

export type EnvSource =
  /** The image's ENV (nothing in the request replaced it). */
  | 'image'
  /** `--env-file` of berth run/create. */
  | 'env-file'
  /** `-e KEY=VALUE` or `-e KEY` of berth run/create. */
  | '-e'
  /** compose `environment:` with a literal value. */
  | 'compose environment'
  /** compose `env_file:`. */
  | 'compose env_file'
  /** compose `environment:`/`env_file:` value interpolated from the shell or the project's `.env`. */
  | 'compose .env interpolation'
  /** `compose run -e`. */
  | 'compose run -e'
  /** In the create request, from a client that did not say where it came from. */
  | 'create request';

export const ENV_SOURCES: readonly EnvSource[] = [
  'image',
  'env-file',
  '-e',
  'compose environment',
  'compose env_file',
  'compose .env interpolation',
  'compose run -e',
  'create request',
];

export interface ExplainedEnvVar {
  key: string;
  value: string;
  source: EnvSource;
  /** Present when the image's ENV had this key with another value (which the request replaced). */
  imageValue?: string;
}

export type NamespaceType = 'pid' | 'net' | 'mnt' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface ExplainedNamespace {
  type: NamespaceType;
  /** Inode of /proc/<container pid>/ns/<type>. */
  container: number;
  /** Inode of the engine's own /proc/self/ns/<type>. */
  host: number;
  /** True when the container shares the engine host's namespace (e.g. --network host, or no user namespace). */
  shared: boolean;
}

export interface ExplainedCgroup {
  /** The container's cgroup path, e.g. /berth/<id>. */
  path: string;
  version: 1 | 2;
  memory: {
    /** Bytes; null when unlimited. */
    limit: number | null;
    /** Bytes in use now; null when the container is not running. */
    usage: number | null;
  };
  cpu: {
    /** CPUs (NanoCpus / 1e9, or quota / period); null when unlimited. */
    limit: number | null;
    shares: number | null;
    cpuset: string | null;
    /** Total CPU time used, nanoseconds; null when not running. */
    usageNanos: number | null;
  };
  pids: {
    /** null when unlimited. */
    limit: number | null;
    current: number | null;
  };
}

export interface ExplainedRootfs {
  driver: 'overlay';
  /** Image layers, read-only, top first (as overlayfs's lowerdir lists them). */
  lowerDirs: string[];
  /** The container's own writable layer. */
  upperDir: string;
  workDir: string;
  /** Where the layers are mounted together: the container's /. */
  merged: string;
  readOnly: boolean;
}

export interface ExplainedMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind), volume name (volume) or '' (tmpfs). */
  source: string;
  /** Where the source lives on the engine host (for a volume, its _data folder). */
  hostPath: string;
  destination: string;
  readOnly: boolean;
}

export interface ExplainedNetwork {
  name: string;
  /** Linux bridge on the engine host, when the network has one. */
  bridge: string | null;
  /** The host-side end of the container's veth pair; null when not running. */
  vethHost: string | null;
  ipAddress: string;
  prefixLen: number;
  macAddress: string;
  gateway: string;
  aliases: string[];
}

export interface ExplainedPort {
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIp: string;
  hostPort: number;
}

export interface ContainerExplanation {
  id: string;
  name: string;
  image: string;
  running: boolean;
  /** The container's init process on the engine host; 0 when not running. */
  pid: number;
  /** Empty when not running (namespaces exist only while it runs). */
  namespaces: ExplainedNamespace[];
  cgroup: ExplainedCgroup;
  rootfs: ExplainedRootfs;
  mounts: ExplainedMount[];
  networkMode: string;
  networks: ExplainedNetwork[];
  ports: ExplainedPort[];
  env: ExplainedEnvVar[];
}
