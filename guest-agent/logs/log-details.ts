// `docker logs --details`: each line is prefixed with its entry's attributes, as dockerd writes them —
// key=value pairs sorted by key, query-escaped, comma-separated, then a space (just the space when an
// entry has none).
import type { LogAttr } from './log-types.js';

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** Go's url.QueryEscape: bytes outside [A-Za-z0-9-_.~] as %XX, a space as '+'. */
export function goQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (b < 0x80 && UNRESERVED.test(c)) out += c;
    else if (b === 0x20) out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function detailsPrefix(attrs: LogAttr[] | undefined): Buffer {
  const sorted = [...(attrs ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  return Buffer.from(`${sorted.map((a) => `${goQueryEscape(a.key)}=${goQueryEscape(a.value)}`).join(',')} `);
}
