// A container's Healthcheck: checked at create as dockerd checks it, merged
// with the image's HEALTHCHECK, and turned into the probe's command line.
import type { HealthcheckConfig } from '../../common/engine-api.js';
import { invalid } from '../errors.js';

/** dockerd's MinimumDuration for the health check's times: 1 ms. */
const MIN_DURATION_NS = 1_000_000;
const DURATIONS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;

/** Type and range checks of a create request's Healthcheck (400 on bad input). */
export function validateHealthcheck(value: unknown): HealthcheckConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalid('invalid type for Healthcheck: expected an object');
  const h = value as Record<string, unknown>;
  if (
    h.Test !== undefined &&
    h.Test !== null &&
    (!Array.isArray(h.Test) || h.Test.some((t) => typeof t !== 'string'))
  )
    throw invalid('invalid type for Healthcheck.Test: expected an array of strings');
  for (const field of [...DURATIONS, 'Retries'] as const) {
    const v = h[field];
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isInteger(v)))
      throw invalid(`invalid type for Healthcheck.${field}: expected an integer`);
  }
  for (const field of DURATIONS) {
    const v = h[field] as number | undefined;
    if (v && v < MIN_DURATION_NS) throw invalid(`${field} in Healthcheck cannot be less than 1ms`);
  }
  if (((h.Retries as number | undefined) ?? 0) < 0)
    throw invalid('Retries in Healthcheck cannot be negative');
  return h as HealthcheckConfig;
}

/** dockerd's merge: what the request leaves out (empty Test, zero times) comes from the image. */
export function mergeHealthcheck(
  user: HealthcheckConfig | undefined,
  image: HealthcheckConfig | undefined,
): HealthcheckConfig | undefined {
  if (!user) return image;
  if (!image) return user;
  return {
    ...user,
    Test: user.Test?.length ? user.Test : image.Test,
    Interval: user.Interval || image.Interval,
    Timeout: user.Timeout || image.Timeout,
    StartPeriod: user.StartPeriod || image.StartPeriod,
    StartInterval: user.StartInterval || image.StartInterval,
    Retries: user.Retries || image.Retries,
  };
}

/**
 * The probe's argv: CMD runs its arguments, CMD-SHELL its string through the
 * container's shell (SHELL, or /bin/sh -c). NONE, an empty test or an unknown
 * kind: no health check.
 */
export function probeCommand(
  config: HealthcheckConfig | undefined,
  shell: string[] | null | undefined,
): string[] | undefined {
  const [kind, ...rest] = config?.Test ?? [];
  if (kind === 'CMD' && rest.length) return rest;
  if (kind === 'CMD-SHELL' && rest.length) return [...(shell?.length ? shell : ['/bin/sh', '-c']), ...rest];
  return undefined;
}
