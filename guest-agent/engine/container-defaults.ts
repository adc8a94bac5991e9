// What a container gets from the engine's settings (daemon.json, flags) where
// its own configuration says nothing, as dockerd applies them: IPC and cgroup
// namespace modes and the /dev/shm size are filled in at create (and so shown
// by inspect); init, ulimits, no-new-privileges and resolver settings at start.

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface ContainerDefaults {
  /** daemon.json "init": tini as PID 1 unless the container says Init: false. */
  init: boolean;
  ipcMode?: string;
  cgroupnsMode?: string;
  shmSize?: number;
  /** Under the container's own ulimits (which win by name). */
  ulimits: Ulimit[];
  /** Unless the container says no-new-privileges=false. */
  noNewPrivileges: boolean;
  /** For containers that give no --dns-search / --dns-option of their own. */
  dnsSearch: string[];
  dnsOptions: string[];
}

export const NO_DEFAULTS: ContainerDefaults = {
  init: false,
  ulimits: [],
  noNewPrivileges: false,
  dnsSearch: [],
  dnsOptions: [],
};

/** The container's ulimits with the engine's defaults for the ones it does not set. */
export function withDefaultUlimits(own: Ulimit[] | null | undefined, d: ContainerDefaults): Ulimit[] {
  const mine = own ?? [];
  const named = new Set(mine.map((u) => u.Name));
  return [...d.ulimits.filter((u) => !named.has(u.Name)), ...mine];
}
