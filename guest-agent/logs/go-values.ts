// Option values as dockerd parses them (Go's strconv and time packages), with Go's error texts: the log
// options of every driver are written for dockerd, and users search for its messages.

const TRUE_VALUES = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_VALUES = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export class GoValueError extends Error {}

/** strconv.ParseBool. */
export function goParseBool(value: string): boolean {
  if (TRUE_VALUES.has(value)) return true;
  if (FALSE_VALUES.has(value)) return false;
  throw new GoValueError(`strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
}

/** strconv.Atoi. */
export function goAtoi(value: string): number {
  if (!/^[+-]?\d+$/.test(value))
    throw new GoValueError(`strconv.Atoi: parsing ${JSON.stringify(value)}: invalid syntax`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new GoValueError(`strconv.Atoi: parsing ${JSON.stringify(value)}: value out of range`);
  }
  return n;
}

/** strconv.ParseUint(value, 10, bits). */
export function goParseUint(value: string, bits: number): number {
  if (!/^\d+$/.test(value)) {
    throw new GoValueError(`strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`);
  }
  const n = BigInt(value);
  if (n >= 1n << BigInt(bits)) {
    throw new GoValueError(`strconv.ParseUint: parsing ${JSON.stringify(value)}: value out of range`);
  }
  return Number(n);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** time.ParseDuration, in nanoseconds ("1.5s", "100ms", "1h2m", "0"). */
export function goParseDuration(value: string): number {
  const quoted = JSON.stringify(value);
  let s = value;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new GoValueError(`time: invalid duration ${quoted}`);
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]*)/;
  while (s !== '') {
    const m = part.exec(s)!;
    const [all, whole = '', frac, unit = ''] = m;
    if (whole === '' && (frac === undefined || frac === ''))
      throw new GoValueError(`time: invalid duration ${quoted}`);
    if (unit === '') throw new GoValueError(`time: missing unit in duration ${quoted}`);
    const scale = DURATION_UNITS[unit];
    if (scale === undefined)
      throw new GoValueError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    total += Number(`${whole || '0'}.${frac || '0'}`) * scale;
    s = s.slice(all.length);
  }
  return sign * Math.round(total);
}

/** A duration as Go's time.Duration prints it, for the common cases in messages ("100ms", "10s", "1m30s"). */
export function goFormatDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (Math.abs(ns) < 1e3) return `${ns}ns`;
  if (Math.abs(ns) < 1e6) return `${trim(ns / 1e3)}µs`;
  if (Math.abs(ns) < 1e9) return `${trim(ns / 1e6)}ms`;
  const sign = ns < 0 ? '-' : '';
  let rest = Math.abs(ns);
  const h = Math.floor(rest / 3600e9);
  rest -= h * 3600e9;
  const m = Math.floor(rest / 60e9);
  rest -= m * 60e9;
  const sec = `${trim(rest / 1e9)}s`;
  if (h > 0) return `${sign}${h}h${m}m${sec}`;
  if (m > 0) return `${sign}${m}m${sec}`;
  return sign + sec;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** How a failed connect reads in the words of Go's net package (what dockerd users see after "dial tcp …: "). */
export function goDialReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused',
    ENOENT: 'connect: no such file or directory',
    EACCES: 'connect: permission denied',
    EHOSTUNREACH: 'connect: no route to host',
    ENETUNREACH: 'connect: network is unreachable',
    ETIMEDOUT: 'i/o timeout',
    ENOTFOUND: 'no such host',
  };
  return (e.code && reasons[e.code]) ?? e.message ?? String(err);
}
