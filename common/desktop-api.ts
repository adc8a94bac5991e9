// The desktop contract: the one typed API the dashboard (renderer/) uses to
// talk to anything. The Electron preload and the headless server both serve it:
// request/response calls by method name, and streams (live list, logs, exec
// terminal, pull progress) as WebSocket paths with typed messages.
import type { ContainerExplanation } from './explain.js';

/** The VM's state, as vm/state.ts records it. */
export type VmStatus = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';

export type ContainerStateName =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface PortRow {
  privatePort: number;
  publicPort?: number;
  ip?: string;
  type: 'tcp' | 'udp' | 'sctp';
}

export interface ContainerRow {
  id: string;
  name: string;
  image: string;
  state: ContainerStateName;
  /** The engine's human status ("Up 3 minutes", "Exited (0) 2 hours ago"). */
  status: string;
  /** Unix seconds. */
  created: number;
  /** The compose project (label com.docker.compose.project), if any. */
  project?: string;
  service?: string;
  ports: PortRow[];
  command: string;
}

export interface StatsSample {
  id: string;
  /** Milliseconds since the epoch. */
  t: number;
  cpuPercent: number;
  memUsage: number;
  memLimit: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

export interface ImageRow {
  id: string;
  tags: string[];
  size: number;
  /** Unix seconds. */
  created: number;
  /** Containers made from it. */
  containers: number;
}

export interface ImageHistoryRow {
  id: string;
  created: number;
  createdBy: string;
  size: number;
  comment: string;
}

export interface VolumeRow {
  name: string;
  driver: string;
  mountpoint: string;
  createdAt?: string;
  /** Bytes, when the engine reported it (system df). */
  size?: number;
  /** Names of the containers that mount it. */
  usedBy: string[];
  /** Where it is mounted, per container (the Files tab browses it there). */
  mountedAt: Array<{ containerId: string; container: string; destination: string }>;
  labels: Record<string, string>;
}

export interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  scope: string;
  internal: boolean;
  subnets: string[];
  gateways: string[];
  /** Names of the containers attached to it. */
  containers: string[];
}

export interface ComposeProjectRow {
  name: string;
  services: string[];
  running: number;
  total: number;
  workingDir?: string;
  configFiles?: string;
}

export interface FileEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mode: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  linkTarget?: string;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface MachineInfo {
  /** vm: the engine runs in Berth's VM; external: an engine named by DOCKER_HOST or an option. */
  mode: 'vm' | 'external';
  engineSocket: string;
  engineReachable: boolean;
  engineVersion?: string;
  /** What the engine reports: CPUs, memory, containers, images. */
  resources?: { cpus: number; memoryBytes: number; containers: number; running: number; images: number };
  vm: { status: VmStatus; reason?: string; accel?: string; bootMs?: number; since?: string; pid?: number };
}

export type AccelSetting = 'auto' | 'hvf' | 'whpx' | 'kvm' | 'tcg';

/** What the Settings view edits; stored in $BERTH_HOME/settings.json. */
export interface Settings {
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  sharedFolders: string[];
  accel: AccelSetting;
  logDriver: 'json-file' | 'local' | 'fluentd' | 'none';
  logOpts: Record<string, string>;
  /** The engine's daemon.json, as text (validated as JSON with known keys). */
  daemonJson: string;
  startAtLogin: boolean;
  theme: 'system' | 'light' | 'dark';
}

export interface SettingsSaveResult {
  settings: Settings;
  /** The fields changed that take effect only when the VM restarts. */
  needsRestart: string[];
}

export interface PortMapping {
  /** Empty: the engine picks a free host port. */
  hostPort?: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface RunRequest {
  image: string;
  name?: string;
  ports: PortMapping[];
  volumes: Array<{ source: string; target: string; readOnly?: boolean }>;
  env: Array<{ key: string; value: string }>;
  /** A command line, split like a shell would (quotes honoured). */
  command?: string;
}

/** Every request/response method: its params and its result. */
export interface DesktopMethods {
  'containers.list': { params: Record<string, never>; result: ContainerRow[] };
  'containers.inspect': { params: { id: string }; result: unknown };
  'containers.start': { params: { id: string }; result: void };
  'containers.stop': { params: { id: string }; result: void };
  'containers.restart': { params: { id: string }; result: void };
  'containers.pause': { params: { id: string }; result: void };
  'containers.unpause': { params: { id: string }; result: void };
  'containers.kill': { params: { id: string }; result: void };
  'containers.remove': { params: { id: string; force?: boolean }; result: void };
  /** The `docker run …` line that makes this container again. */
  'containers.runLine': { params: { id: string }; result: string };
  'containers.files': { params: { id: string; path: string }; result: FileEntry[] };
  /** How the container is isolated; from: engine (Berth's explain endpoint) or inspect (another engine: no namespaces, no live use). */
  'containers.explain': {
    params: { id: string };
    result: { explanation: ContainerExplanation; from: 'engine' | 'inspect' };
  };
  'images.list': { params: Record<string, never>; result: ImageRow[] };
  'images.history': { params: { id: string }; result: ImageHistoryRow[] };
  'images.remove': { params: { id: string; force?: boolean }; result: void };
  'images.prune': { params: { all?: boolean }; result: { deleted: number; spaceReclaimed: number } };
  'images.run': { params: RunRequest; result: { id: string } };
  'volumes.list': { params: Record<string, never>; result: VolumeRow[] };
  'volumes.create': { params: { name: string }; result: void };
  'volumes.remove': { params: { name: string }; result: void };
  'volumes.prune': { params: Record<string, never>; result: { deleted: number; spaceReclaimed: number } };
  'networks.list': { params: Record<string, never>; result: NetworkRow[] };
  'networks.create': { params: { name: string }; result: void };
  'networks.remove': { params: { id: string }; result: void };
  'compose.list': { params: Record<string, never>; result: ComposeProjectRow[] };
  'compose.action': {
    params: { project: string; action: 'up' | 'start' | 'stop' | 'restart' | 'down' };
    result: void;
  };
  'machine.info': { params: Record<string, never>; result: MachineInfo };
  'machine.logs': { params: { lines?: number }; result: string };
  'machine.doctor': { params: Record<string, never>; result: DoctorCheck[] };
  'machine.action': { params: { action: 'start' | 'stop' | 'restart' }; result: MachineInfo };
  /** Factory defaults: stops the VM and removes its disk, state, logs and the settings. */
  'machine.reset': { params: { confirm: 'reset' }; result: MachineInfo };
  'settings.get': { params: Record<string, never>; result: Settings };
  /** What the settings may ask of this machine: its CPUs and memory. */
  'settings.limits': { params: Record<string, never>; result: { hostCpus: number; hostMemoryMiB: number } };
  'settings.save': { params: { settings: Settings }; result: SettingsSaveResult };
}

export type DesktopMethod = keyof DesktopMethods;
export type ParamsOf<M extends DesktopMethod> = DesktopMethods[M]['params'];
export type ResultOf<M extends DesktopMethod> = DesktopMethods[M]['result'];

/** A failed call: the message for the user and the HTTP-like status. */
export interface DesktopError {
  error: string;
  status: number;
  /** For validation failures: the message per field. */
  fields?: Record<string, string>;
}

// ---- streams (WebSocket paths under /ws/) ----

/** /ws/live: the list of containers and what changed elsewhere, pushed from engine events. */
export type LiveMessage =
  | { type: 'containers'; rows: ContainerRow[] }
  | { type: 'container'; row: ContainerRow }
  | { type: 'container-removed'; id: string }
  | { type: 'stats'; samples: StatsSample[] }
  | { type: 'changed'; what: 'images' | 'volumes' | 'networks' }
  | { type: 'machine'; machine: MachineInfo }
  | { type: 'engine-down'; message: string };

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the engine stamps it. */
  ts: string;
  text: string;
}

/** /ws/logs?id=&tail=: lines as they come, batched. */
export type LogsMessage =
  { type: 'lines'; lines: LogLine[] } | { type: 'end' } | { type: 'error'; message: string };

/**
 * /ws/exec?id=&shell=&cols=&rows=: binary frames both ways are the terminal's
 * bytes; text frames from the client are JSON controls.
 */
export type ExecControl = { type: 'resize'; cols: number; rows: number };
export type ExecServerMessage = { type: 'exit'; code: number | null } | { type: 'error'; message: string };

/** /ws/pull?image=: the engine's progress, per layer; closing the socket cancels. */
export type PullMessage =
  | { type: 'progress'; id?: string; status: string; current?: number; total?: number }
  | { type: 'done' }
  | { type: 'error'; message: string };

/** What the renderer gets from the preload (Electron) or builds for itself (browser). */
export interface DesktopApi {
  call<M extends DesktopMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  /** A WebSocket URL for a stream path (e.g. "/ws/logs?id=…"), with the token. */
  streamUrl(pathAndQuery: string): string;
  /** An HTTP URL for a download or upload path, with the token. */
  httpUrl(pathAndQuery: string): string;
}

export const SHELLS = ['sh', 'bash', 'ash', 'zsh'] as const;
