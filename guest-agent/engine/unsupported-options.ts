// HostConfig fields Berth does not carry out. dockerd would act on them, so a
// request that sets one is refused with what to do instead, rather than run
// a container that silently lacks what was asked for. Zero values (which the
// docker CLI always sends) pass.
import { invalid } from '../errors.js';

const isSet = (v: unknown): boolean =>
  v !== undefined &&
  v !== null &&
  v !== 0 &&
  v !== '' &&
  !(Array.isArray(v) && v.length === 0) &&
  !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

const REFUSED: Array<[field: string, message: string]> = [
  ['BlkioWeight', '--blkio-weight is not supported by Berth'],
  ['BlkioWeightDevice', '--blkio-weight-device is not supported by Berth'],
  ['BlkioDeviceReadBps', '--device-read-bps is not supported by Berth'],
  ['BlkioDeviceWriteBps', '--device-write-bps is not supported by Berth'],
  ['BlkioDeviceReadIOps', '--device-read-iops is not supported by Berth'],
  ['BlkioDeviceWriteIOps', '--device-write-iops is not supported by Berth'],
  ['CpuRealtimePeriod', '--cpu-rt-period is not supported by Berth'],
  ['CpuRealtimeRuntime', '--cpu-rt-runtime is not supported by Berth'],
  ['CgroupParent', '--cgroup-parent is not supported by Berth: its containers live under the cgroup /berth'],
  ['StorageOpt', "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"],
  ['CpuCount', '--cpu-count is for Windows containers; use --cpus'],
  ['CpuPercent', '--cpu-percent is for Windows containers; use --cpus'],
  ['IOMaximumIOps', '--io-maxiops is for Windows containers'],
  ['IOMaximumBandwidth', '--io-maxbandwidth is for Windows containers'],
];

/** Go's %v of a [][]string, as dockerd prints a device request's capabilities. */
function goList(caps: unknown): string {
  if (!Array.isArray(caps)) return '[]';
  return `[${caps.map((c) => (Array.isArray(c) ? `[${c.join(' ')}]` : String(c))).join(' ')}]`;
}

export function rejectUnsupported(hc: Record<string, unknown>): void {
  for (const [field, message] of REFUSED) if (isSet(hc[field])) throw invalid(message);
  if (hc.Isolation && hc.Isolation !== 'default')
    throw invalid(`Invalid isolation: ${JSON.stringify(hc.Isolation)} - linux only supports 'default'`);
  // `--gpus`: there is no GPU driver in Berth's VM, so no device request can be met.
  const requests = hc.DeviceRequests;
  if (Array.isArray(requests) && requests.length) {
    const first = (requests[0] ?? {}) as { Driver?: unknown; Capabilities?: unknown };
    throw invalid(
      `could not select device driver ${JSON.stringify(String(first.Driver ?? ''))} with capabilities: ${goList(first.Capabilities)}`,
    );
  }
}

/** dockerd ignores kernel memory limits (cgroup v2 has none) and says so. */
export function createWarnings(hc: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  if (isSet(hc.KernelMemory))
    warnings.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
  if (hc.OomKillDisable === true && !isSet(hc.Memory))
    warnings.push(
      'OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    );
  return warnings;
}
