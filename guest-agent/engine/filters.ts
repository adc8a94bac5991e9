// The `filters` query parameter: JSON in either the map form the docker CLI
// sends ({"status":{"running":true}}) or the list form of docker-py/dockerode
// ({"label":["a=b"]}). Normalised to key → values.
import { invalid } from '../errors.js';
import { goParseDuration } from '../logs/go-values.js';

export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | undefined | null): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter: filters must be JSON, got ${JSON.stringify(raw)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid('invalid filter: filters must be a JSON object');
  }
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) out.set(key, value.map(String));
    else if (value && typeof value === 'object') {
      out.set(
        key,
        Object.entries(value as Record<string, unknown>)
          .filter(([, on]) => on === true)
          .map(([v]) => v),
      );
    } else throw invalid(`invalid filter '${key}': values must be a list or a map`);
  }
  return out;
}

/** Refuse filter keys a list does not support, as dockerd does. */
export function checkFilterKeys(filters: Filters, allowed: readonly string[]): void {
  for (const key of filters.keys()) {
    if (!allowed.includes(key)) throw invalid(`invalid filter '${key}'`);
  }
}

/** `label` filter values: "key" (present) or "key=value". */
export function matchLabels(
  labels: Record<string, string> | null | undefined,
  wanted: string[] | undefined,
): boolean {
  if (!wanted || wanted.length === 0) return true;
  const have = labels ?? {};
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return Object.prototype.hasOwnProperty.call(have, w);
    return have[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Prune's label filters, as dockerd: every `label` must match, and not every `label!` may. */
export function matchPruneLabels(
  labels: Record<string, string> | null | undefined,
  filters: Filters,
): boolean {
  if (!matchLabels(labels, filters.get('label'))) return false;
  const not = filters.get('label!');
  return !(not?.length && matchLabels(labels, not));
}

/**
 * A prune's `until`, in ms since the epoch, as dockerd reads it: a Go duration
 * before now ("24h", "1h30m"), seconds since the epoch, or a date and time.
 */
export function pruneUntilMs(value: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  try {
    return Date.now() - goParseDuration(value) / 1e6;
  } catch {
    const t = Date.parse(value);
    if (Number.isNaN(t))
      throw invalid(
        `invalid until filter "${value}": give a duration such as 24h, a date, or seconds since the epoch`,
      );
    return t;
  }
}
