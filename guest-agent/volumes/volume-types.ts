// Types shared by the volume store, the mount parser and `docker cp`: what the
// engine stores, what the CLI sends, what inspect shows, what the runtime gets.

/** A volume as `GET /volumes/{name}` shows it, plus whether it was made anonymously. */
export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  /** The `_data` directory: the host path bound into containers. */
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  /** Driver options (`type`, `o`, `device`) as given at create. */
  Options: Record<string, string>;
  /** Engine-only: strip before answering the API. */
  anonymous: boolean;
}

export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** Answer of a volume prune, as dockerd shapes it. */
export interface VolumePruneReport {
  VolumesDeleted: string[];
  SpaceReclaimed: number;
}

/**
 * Whether a volume is referenced: `false`/`[]` when free, the ids of the
 * containers that use it (for the conflict message), or `true` when unknown.
 */
/** A change `docker events` reports for a volume (Type "volume"), with dockerd's attributes. */
export interface VolumeEvent {
  action: 'create' | 'destroy' | 'mount' | 'unmount';
  name: string;
  attributes: Record<string, string>;
}

export type VolumeEventListener = (event: VolumeEvent) => void;

/** Who mounts a volume where, for its mount event. */
export interface VolumeUse {
  containerId: string;
  destination: string;
  rw: boolean;
  propagation: string;
}

export type InUse = (name: string) => boolean | string[];

// ---- mounts ------------------------------------------------------------------

export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';

export interface ParsedBind {
  kind: 'bind';
  /** Absolute, cleaned host path. */
  source: string;
  destination: string;
  ro: boolean;
  propagation: Propagation;
  /** `-v` creates a missing host directory at start; `--mount` refuses it at create. */
  createMissing: boolean;
  /** `bind-nonrecursive` / `BindOptions.NonRecursive`: plain `bind`, not `rbind`. */
  nonRecursive: boolean;
  /**
   * Read-only for the mounts below it too (dockerd ≥ 25): `auto` where the kernel can (plain `ro`), `force`
   * (`ro-force-recursive`, `BindOptions.ReadOnlyForceRecursive`: an error where it cannot), `off`
   * (`ro-non-recursive`, `BindOptions.ReadOnlyNonRecursive`). Absent on records made before it existed: `off`.
   */
  recursiveRo?: 'auto' | 'force' | 'off';
  /** The `-v` mode string (`ro`, `z`, …) for inspect; '' for `--mount`. */
  mode: string;
}

export interface ParsedVolume {
  kind: 'volume';
  /** undefined = anonymous (a 64-hex name is made at create). */
  name?: string;
  destination: string;
  ro: boolean;
  /** `nocopy` / `VolumeOptions.NoCopy`: skip copying the image's content into a new volume. */
  nocopy: boolean;
  /** `VolumeOptions.DriverConfig.Name` or HostConfig.VolumeDriver; undefined = local. */
  driver?: string;
  driverOpts?: Record<string, string>;
  labels?: Record<string, string>;
  /** `VolumeOptions.Subpath`: a relative path inside the volume to mount instead of its root. */
  subpath?: string;
  mode: string;
  /** Came from the image's VOLUME list rather than from the user. */
  fromImage: boolean;
}

export interface ParsedTmpfs {
  kind: 'tmpfs';
  destination: string;
  /** OCI options, defaults included: `noexec,nosuid,nodev`, `size=<bytes>`, `mode=<octal>`. */
  options: string[];
  ro: boolean;
  /** HostConfig.Tmpfs (`--tmpfs`) mounts are not listed in inspect's Mounts; `--mount type=tmpfs` ones are. */
  listed: boolean;
}

export type ParsedMount = ParsedBind | ParsedVolume | ParsedTmpfs;

/** One mount of the OCI config, as `buildOciSpec({ mounts })` takes it. */
export interface OciMountInput {
  destination: string;
  source: string;
  type: 'bind' | 'tmpfs';
  options: string[];
}

/** A mount with its source decided: what inspect's `Mounts` shows, and the OCI mount. */
export interface ResolvedMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  Name?: string;
  Driver?: string;
  /** False for `--tmpfs` mounts, which dockerd leaves out of inspect's `Mounts`. */
  listed: boolean;
  oci: OciMountInput;
}

/** A mount as `docker cp` sees it: a container path backed by a host path. */
export interface ContainerMount {
  destination: string;
  source: string;
  /** A read-only mount refuses extraction ("mounted volume is marked read-only"). */
  readOnly?: boolean;
}

/** X-Docker-Container-Path-Stat, base64 JSON of this (field names as the CLI decodes them). */
export interface PathStat {
  name: string;
  size: number;
  /** Go os.FileMode bits (ModeDir = 1<<31, ModeSymlink = 1<<27, …), not st_mode. */
  mode: number;
  /** RFC 3339 with nanoseconds, UTC. */
  mtime: string;
  /** For a symlink: its target fully resolved inside the container ('' otherwise). */
  linkTarget: string;
}
