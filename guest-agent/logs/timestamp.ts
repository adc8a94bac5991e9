// Nanosecond wall-clock time and the timestamp formats dockerd's log code uses.
import { invalid } from '../errors.js';

const NS_PER_SEC = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;
// Re-anchor to the wall clock when the monotonic estimate strays this far from it
// (clock set, NTP step, VM suspend: the monotonic clock does not count suspend time).
const RESYNC_NS = 5n * NS_PER_MS;

let anchorWallNs: bigint | undefined;
let anchorMono = 0n;
let lastNs = 0n;

/**
 * Epoch nanoseconds. Date.now() only has millisecond resolution, so the sub-millisecond part comes from the
 * monotonic clock; results never go backwards within the process (strictly increasing, so log lines keep
 * their order when sorted by time).
 */
export function nowNs(): bigint {
  const mono = process.hrtime.bigint();
  const wallNs = BigInt(Date.now()) * NS_PER_MS;
  if (anchorWallNs === undefined) {
    anchorWallNs = wallNs;
    anchorMono = mono;
  }
  let t = anchorWallNs + (mono - anchorMono);
  const drift = t - wallNs;
  if (drift > RESYNC_NS || drift < -RESYNC_NS) {
    anchorWallNs = wallNs;
    anchorMono = mono;
    t = wallNs;
  }
  if (t <= lastNs) t = lastNs + 1n;
  lastNs = t;
  return t;
}

function splitNs(ns: bigint): { sec: bigint; frac: bigint } {
  let sec = ns / NS_PER_SEC;
  let frac = ns % NS_PER_SEC;
  if (frac < 0n) {
    frac += NS_PER_SEC;
    sec -= 1n;
  }
  return { sec, frac };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

// Days since 1970-01-01 ↔ proleptic Gregorian date (H. Hinnant's algorithms), valid for any year.
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

// Log lines come in bursts within the same second: remember the last second's text.
let cachedSec: bigint | undefined;
let cachedSecText = '';

function formatSeconds(sec: bigint): string {
  if (sec === cachedSec) return cachedSecText;
  const days = Number(sec / 86400n) - (sec % 86400n < 0n ? 1 : 0);
  let rem = Number(sec - BigInt(days) * 86400n);
  const [y, m, d] = civilFromDays(days);
  const hh = Math.floor(rem / 3600);
  rem -= hh * 3600;
  const mm = Math.floor(rem / 60);
  const ss = rem - mm * 60;
  const text = `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}`;
  cachedSec = sec;
  cachedSecText = text;
  return text;
}

/** Go's time.RFC3339Nano in UTC, as json-file's "time": trailing zeros trimmed, no fraction on whole seconds. */
export function formatRfc3339Nano(ns: bigint): string {
  const { sec, frac } = splitNs(ns);
  if (frac === 0n) return `${formatSeconds(sec)}Z`;
  return `${formatSeconds(sec)}.${pad(Number(frac), 9).replace(/0+$/, '')}Z`;
}

/** The `docker logs --timestamps` prefix: always nine fraction digits. */
export function formatTimestamp9(ns: bigint): string {
  const { sec, frac } = splitNs(ns);
  return `${formatSeconds(sec)}.${pad(Number(frac), 9)}Z`;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

let cachedPrefix = '';
let cachedPrefixSec = 0n;

/** RFC 3339 with an optional fraction of any length (digits past nanoseconds are dropped) → epoch ns. */
export function parseRfc3339Nano(s: string): bigint {
  const m = RFC3339.exec(s);
  if (!m) throw invalid(`invalid timestamp "${s}": expected RFC 3339, e.g. 2024-05-01T12:34:56.123456789Z`);
  // The date-and-time part repeats from line to line in a log file; parse it once.
  const prefix = s.slice(0, 19);
  let sec: bigint;
  if (prefix === cachedPrefix) {
    sec = cachedPrefixSec;
  } else {
    const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
    const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
    const dim = mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1];
    if (mo < 1 || mo > 12 || d < 1 || d > (dim ?? 0) || h > 23 || mi > 59 || se > 59) {
      throw invalid(`invalid timestamp "${s}": a date or time field is out of range`);
    }
    sec = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + se);
    cachedPrefix = prefix;
    cachedPrefixSec = sec;
  }
  if (m[9] !== undefined) {
    const offset = (Number(m[10]) * 3600 + Number(m[11]) * 60) * (m[9] === '-' ? -1 : 1);
    sec -= BigInt(offset);
  }
  const frac = m[7] === undefined ? 0n : BigInt(m[7].slice(0, 9).padEnd(9, '0'));
  return sec * NS_PER_SEC + frac;
}

const UNIX_TIMESTAMP = /^(-?\d+)(?:\.(\d+))?$/;

/**
 * The logs endpoint's since/until. The CLI sends "seconds.nanoseconds"; a bare seconds value and RFC 3339 are
 * accepted too. '' and 0 mean "not set".
 */
export function parseSinceUntil(value: string): bigint | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  let ns: bigint;
  const m = UNIX_TIMESTAMP.exec(v);
  if (m) {
    // Like dockerd, a fraction shorter than 9 digits is scaled: "5.5" is 5 s + 500 ms.
    const frac = m[2] === undefined ? 0n : BigInt(m[2].slice(0, 9).padEnd(9, '0'));
    ns = BigInt(m[1]) * NS_PER_SEC + frac;
  } else if (RFC3339.test(v)) {
    ns = parseRfc3339Nano(v);
  } else {
    throw invalid(
      `invalid timestamp "${value}": use seconds since the epoch ("1700000000" or "1700000000.123456789") or RFC 3339`,
    );
  }
  return ns === 0n ? undefined : ns;
}
