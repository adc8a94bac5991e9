// The part of Go's text/template the docker CLI's --format users rely on:
// {{.Field.Sub}}, {{.}}, {{json X}}, {{index X "key"}}, {{join X ","}},
// {{upper X}}, {{lower X}}, {{title X}}, {{println X}}, method-like fields
// ({{.Label "k"}}), and a leading `table` (handled by the caller). Values
// print as Go prints them (maps as map[k:v], lists as [a b]).
import { UsageError } from '../flag-parser.js';

type Value = unknown;
type Token = { kind: 'text'; text: string } | { kind: 'action'; words: string[] };

/** Go's json.Marshal: <, > and & escaped for HTML, as the docker CLI prints them. */
export function goJson(v: Value): string {
  return (JSON.stringify(v ?? null) ?? 'null')
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026');
}

/** fmt.Sprint of a decoded JSON value. */
export function goPrint(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object);
    // Go prints a struct as {v1 v2}, a map as map[k:v]; the Engine API's structs
    // have exported (capitalised) field names, its maps (labels, ports) rarely do.
    if (keys.length && keys.every((k) => /^[A-Z]/.test(k)) && !keys.some((k) => /[^A-Za-z0-9]/.test(k)))
      return `{${keys.map((k) => goPrint((v as Record<string, Value>)[k])).join(' ')}}`;
    keys.sort();
    return `map[${keys.map((k) => `${k}:${goPrint((v as Record<string, Value>)[k])}`).join(' ')}]`;
  }
  return String(v);
}

function tokenize(source: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) out.push({ kind: 'text', text: source.slice(i, open) });
    const close = source.indexOf('}}', open);
    if (close < 0)
      throw new UsageError(`template parsing error: unclosed action in ${JSON.stringify(source)}`);
    let inner = source.slice(open + 2, close);
    // {{- and -}} trim the text beside them.
    if (inner.startsWith('-')) {
      inner = inner.slice(1);
      const last = out[out.length - 1];
      if (last?.kind === 'text') last.text = last.text.trimEnd();
    }
    let trimAfter = false;
    if (inner.endsWith('-')) {
      inner = inner.slice(0, -1);
      trimAfter = true;
    }
    const words = inner.trim().match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
    out.push({ kind: 'action', words });
    i = close + 2;
    if (trimAfter) while (i < source.length && /\s/.test(source[i])) i++;
  }
  return out;
}

function field(root: Value, path: string, args: Value[]): Value {
  if (path === '.') return root;
  let v: Value = root;
  for (const name of path.slice(1).split('.')) {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'object')
      throw new UsageError(`template: can't evaluate field ${name} in type ${typeof v}`);
    v = (v as Record<string, Value>)[name];
    if (typeof v === 'function') v = (v as (...a: Value[]) => Value)(...args);
  }
  return v;
}

const FUNCTIONS: Record<string, (...args: Value[]) => Value> = {
  json: (v) => goJson(v),
  index: (v, ...keys) =>
    keys.reduce((acc: Value, k) => (acc as Record<string, Value> | null)?.[String(k)], v),
  join: (v, sep) => (Array.isArray(v) ? v.map(goPrint).join(String(sep)) : goPrint(v)),
  upper: (v) => goPrint(v).toUpperCase(),
  lower: (v) => goPrint(v).toLowerCase(),
  title: (v) => goPrint(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  println: (...v) => v.map(goPrint).join(' ') + '\n',
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : Object.keys(v ?? {}).length),
};

function evaluate(words: string[], root: Value): Value {
  const arg = (w: string): Value => {
    if (w.startsWith('"')) return JSON.parse(w) as string;
    if (/^-?\d+$/.test(w)) return Number(w);
    if (w.startsWith('.')) return field(root, w, []);
    throw new UsageError(`template: function "${w}" not defined`);
  };
  const [head, ...rest] = words;
  if (head === undefined) throw new UsageError('template: missing value for command');
  if (head.startsWith('.')) return field(root, head, rest.map(arg));
  const fn = FUNCTIONS[head];
  if (!fn) throw new UsageError(`template: function "${head}" not defined`);
  return fn(...rest.map(arg));
}

export interface Template {
  execute(root: Value): string;
}

export function parseTemplate(source: string): Template {
  // The docker CLI reads \t and \n in a --format as tab and newline.
  const tokens = tokenize(source.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
  for (const t of tokens) {
    if (
      t.kind === 'action' &&
      ['range', 'if', 'with', 'end', 'else', 'define', 'template'].includes(t.words[0])
    )
      throw new UsageError(`template: {{${t.words[0]}}} is not supported by berth's --format`);
  }
  return {
    execute(root) {
      return tokens
        .map((t) => {
          if (t.kind === 'text') return t.text;
          const v = evaluate(t.words, root);
          return typeof v === 'string' ? v : goPrint(v);
        })
        .join('');
    },
  };
}
