// JSON text exactly as Go's encoding/json writes it (json.Marshal, HTML escaping on): what dockerd puts in
// a json-file entry's "attrs".
import type { LogAttr } from './log-types.js';

const SHORT: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

// Controls, the HTML-sensitive <, > and &, the JS line terminators U+2028/U+2029, and lone surrogates
// (Go sees those as invalid UTF-8 and writes U+FFFD).
const NEEDS_ESCAPE =
  /["\\\x00-\x1f<>&\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function goJsonString(s: string): string {
  const body = s.replace(NEEDS_ESCAPE, (c) => {
    const short = SHORT[c];
    if (short) return short;
    const code = c.charCodeAt(0);
    if (code >= 0xd800 && code <= 0xdfff) return '\\ufffd';
    return `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return `"${body}"`;
}

/** A map[string]string marshalled by Go: keys sorted, no spaces. `attrs` must already be sorted. */
export function goJsonObject(attrs: LogAttr[]): string {
  return `{${attrs.map((a) => `${goJsonString(a.key)}:${goJsonString(a.value)}`).join(',')}}`;
}
