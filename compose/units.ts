// Compose's duration ("1m30s", "500ms") and size ("512m", "1gb") notations.
const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Nanoseconds; throws on anything else than Go's duration syntax or a plain number of seconds. */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') return value * 1e9;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1e9;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    at = re.lastIndex;
  }
  if (at === 0 || at !== text.length) throw new Error(`"${text}" is not a duration (like 10s, 1m30s, 500ms)`);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes. */
export function parseSize(value: unknown): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt])?b?$/i.exec(String(value).trim());
  if (!m) throw new Error(`"${String(value)}" is not a size (like 512m, 1g, 1048576)`);
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]);
}

/** Nanoseconds → Go's duration text (1m30s, 500ms), as docker compose config prints them. */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns % 1e9 !== 0) return ns % 1e6 === 0 ? `${ns / 1e6}ms` : `${ns}ns`;
  let s = ns / 1e9;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
