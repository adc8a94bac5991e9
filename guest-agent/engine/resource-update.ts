// `docker update`: which limits change, checked as dockerd checks them. The
// CLI sends every field, zero meaning "leave as is" (PidsLimit: null), so only
// non-zero values are applied; the result is the container's new HostConfig.
import os from 'node:os';
import type { HostConfig, RestartPolicy } from '../../common/engine-api.js';
import { conflict, invalid } from '../errors.js';

const MIN_MEMORY = 6 * 1024 * 1024;

function num(body: Record<string, unknown>, key: string): number {
  const v = body[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw invalid(
      `json: cannot unmarshal ${typeof v} into Go struct field UpdateConfig.${key} of type int64`,
    );
  return v;
}

/** The HostConfig after `body` is applied to `current`; throws on a conflicting or invalid change. */
export function applyUpdate(current: HostConfig, rawBody: unknown): HostConfig {
  if (rawBody === null || typeof rawBody !== 'object' || Array.isArray(rawBody))
    throw invalid('update config must be a JSON object');
  const body = rawBody as Record<string, unknown>;
  const next: HostConfig = { ...current };

  const memory = num(body, 'Memory');
  const swap = num(body, 'MemorySwap');
  const reservation = num(body, 'MemoryReservation');
  if (memory < 0 || (memory > 0 && memory < MIN_MEMORY)) throw invalid('Minimum memory limit allowed is 6MB');
  if (memory > 0) {
    // dockerd's rule: a memory limit above the memory+swap limit in force needs a new swap limit too.
    const swapInForce = current.MemorySwap ?? 0;
    if (swap === 0 && swapInForce !== -1 && memory > swapInForce)
      throw conflict(
        'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
      );
    next.Memory = memory;
  }
  if (swap !== 0) {
    const mem = next.Memory ?? 0;
    if (swap > 0 && mem === 0)
      throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (swap > 0 && swap < mem)
      throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
    next.MemorySwap = swap;
  }
  if (reservation > 0) {
    if ((next.Memory ?? 0) > 0 && reservation > next.Memory!)
      throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
    next.MemoryReservation = reservation;
  }

  const nano = num(body, 'NanoCpus');
  const period = num(body, 'CpuPeriod');
  const quota = num(body, 'CpuQuota');
  const ncpu = os.cpus().length;
  if (nano < 0 || nano > ncpu * 1e9)
    throw invalid(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  if (nano > 0) {
    if ((current.CpuQuota ?? 0) > 0 || quota > 0)
      throw conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
    next.NanoCpus = nano;
  }
  if (quota > 0 || period > 0) {
    if ((current.NanoCpus ?? 0) > 0 && nano === 0)
      throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
    if (quota > 0) next.CpuQuota = quota;
    if (period > 0) next.CpuPeriod = period;
  }
  const shares = num(body, 'CpuShares');
  if (shares < 0) throw invalid('invalid CPU shares: must not be negative');
  if (shares > 0) next.CpuShares = shares;
  if (typeof body.CpusetCpus === 'string' && body.CpusetCpus) next.CpusetCpus = body.CpusetCpus;
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) {
    const pids = num(body, 'PidsLimit');
    next.PidsLimit = pids > 0 ? pids : 0; // 0 or -1: unlimited
  }

  const policy = body.RestartPolicy as RestartPolicy | undefined;
  if (policy && policy.Name) {
    if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(policy.Name))
      throw invalid(`invalid restart policy '${policy.Name}'`);
    if (current.AutoRemove && policy.Name !== 'no')
      throw invalid('Restart policy cannot be updated because AutoRemove is enabled for the container');
    next.RestartPolicy = { Name: policy.Name, MaximumRetryCount: policy.MaximumRetryCount ?? 0 };
  }
  return next;
}
