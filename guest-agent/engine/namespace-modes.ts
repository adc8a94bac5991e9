// --pid, --ipc, --uts and --cgroupns: whether a container gets a namespace of
// its own, shares the host's, or joins another container's. The values and
// the errors are dockerd's; the namespace paths come from the running target.
import { invalid } from '../errors.js';

export type PidMode = { kind: 'private' } | { kind: 'host' } | { kind: 'container'; ref: string };

export type IpcMode =
  { kind: 'private' | 'shareable' | 'none' | 'host' } | { kind: 'container'; ref: string };

/** dockerd stores these when the client leaves them empty. */
export const DEFAULT_IPC_MODE = 'private';
/** Berth gives each container a cgroup namespace where the kernel has them (dockerd does on cgroup v2). */
export const DEFAULT_CGROUPNS_MODE = 'private';

function containerRef(mode: string): string | undefined {
  if (!mode.startsWith('container:')) return undefined;
  return mode.slice('container:'.length);
}

export function parsePidMode(mode: string | undefined): PidMode {
  if (!mode) return { kind: 'private' };
  if (mode === 'host') return { kind: 'host' };
  const ref = containerRef(mode);
  if (ref) return { kind: 'container', ref };
  throw invalid(`invalid PID mode: ${mode}`);
}

export function parseIpcMode(mode: string | undefined): IpcMode {
  if (!mode) return { kind: 'private' };
  if (mode === 'private' || mode === 'shareable' || mode === 'none' || mode === 'host') return { kind: mode };
  const ref = containerRef(mode);
  if (ref) return { kind: 'container', ref };
  throw invalid(`invalid IPC mode: ${mode}`);
}

/** true: the host's UTS namespace (hostname). */
export function parseUtsMode(mode: string | undefined): boolean {
  if (!mode) return false;
  if (mode === 'host') return true;
  throw invalid(`invalid UTS mode: ${mode}`);
}

/** true: a cgroup namespace of its own. */
export function parseCgroupnsMode(mode: string | undefined): boolean {
  if (!mode || mode === 'private') return true;
  if (mode === 'host') return false;
  throw invalid(`invalid cgroup namespace mode: ${mode}`);
}

/** Whether other containers may join this one's IPC namespace (dockerd's "non-shareable" check). */
export function ipcShareable(mode: string | undefined): boolean {
  return mode === 'shareable' || mode === 'host';
}

/**
 * Checks a create request's modes (their types are checked already, in
 * create-validation) and fills dockerd's defaults in place. The containers
 * named must exist now; they must run when this one starts.
 */
export function normalizeNamespaceModes(
  hc: { PidMode?: string; IpcMode?: string; UTSMode?: string; CgroupnsMode?: string },
  hostnameGiven: boolean,
  requireContainer: (ref: string) => void,
): void {
  const pid = parsePidMode(hc.PidMode);
  const ipc = parseIpcMode(hc.IpcMode);
  const utsHost = parseUtsMode(hc.UTSMode);
  parseCgroupnsMode(hc.CgroupnsMode);
  if (utsHost && hostnameGiven) throw invalid('conflicting options: hostname and the UTS mode');
  if (pid.kind === 'container') requireContainer(pid.ref);
  if (ipc.kind === 'container') requireContainer(ipc.ref);
  hc.PidMode = hc.PidMode || '';
  hc.UTSMode = hc.UTSMode || '';
  hc.IpcMode = hc.IpcMode || DEFAULT_IPC_MODE;
  hc.CgroupnsMode = hc.CgroupnsMode || DEFAULT_CGROUPNS_MODE;
}
