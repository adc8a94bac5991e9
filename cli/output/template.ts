// The part of Go's text/template the docker CLI's --format users rely on:
// {{.Field.Sub}}, {{.}}, {{$}}, {{json X}}, {{index X "key"}}, {{join X ","}},
// {{upper X}}, {{lower X}}, {{title X}}, {{println X}}, {{len X}},
// method-like fields ({{.Label "k"}}), {{range}}, {{if}}, {{with}} (with
// {{else}}), and a leading `table` (handled by the caller). Values print as
// Go prints them (maps as map[k:v], lists as [a b]). Not there: variables
// ($x := …), parentheses and pipes.
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

function evaluate(words: string[], dot: Value, root: Value): Value {
  const arg = (w: string): Value => {
    if (w.startsWith('"')) return JSON.parse(w) as string;
    if (/^-?\d+$/.test(w)) return Number(w);
    if (w === 'true' || w === 'false') return w === 'true';
    if (w === '$') return root;
    if (w.startsWith('$.')) return field(root, w.slice(1), []);
    if (w.startsWith('.')) return field(dot, w, []);
    throw new UsageError(`template: function "${w}" not defined`);
  };
  const [head, ...rest] = words;
  if (head === undefined) throw new UsageError('template: missing value for command');
  if (head.startsWith('.')) return field(dot, head, rest.map(arg));
  if (head === '$' || head.startsWith('$.')) return arg(head);
  const fn = FUNCTIONS[head];
  if (!fn) throw new UsageError(`template: function "${head}" not defined`);
  return fn(...rest.map(arg));
}

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'print'; words: string[] }
  | { kind: 'range' | 'if' | 'with'; words: string[]; body: Node[]; otherwise: Node[] };

/** Nodes up to one of `until` ({{end}} or {{else}}); returns them and the token index after it. */
function parseNodes(
  tokens: Token[],
  at: number,
  until: string[],
): { nodes: Node[]; next: number; stop?: string } {
  const nodes: Node[] = [];
  let i = at;
  while (i < tokens.length) {
    const t = tokens[i];
    if (t.kind === 'text') {
      nodes.push({ kind: 'text', text: t.text });
      i++;
      continue;
    }
    const [head, ...rest] = t.words;
    if (until.includes(head)) return { nodes, next: i + 1, stop: head };
    if (head === 'range' || head === 'if' || head === 'with') {
      const body = parseNodes(tokens, i + 1, ['end', 'else']);
      let otherwise: Node[] = [];
      let next = body.next;
      if (body.stop === 'else') {
        const alt = parseNodes(tokens, next, ['end']);
        if (alt.stop !== 'end') throw new UsageError(`template: unexpected EOF: {{${head}}} has no {{end}}`);
        otherwise = alt.nodes;
        next = alt.next;
      } else if (body.stop !== 'end')
        throw new UsageError(`template: unexpected EOF: {{${head}}} has no {{end}}`);
      if (!rest.length) throw new UsageError(`template: missing value for ${head}`);
      nodes.push({ kind: head, words: rest, body: body.nodes, otherwise });
      i = next;
      continue;
    }
    if (['end', 'else', 'define', 'template', 'block'].includes(head))
      throw new UsageError(`template: unexpected {{${head}}}`);
    nodes.push({ kind: 'print', words: t.words });
    i++;
  }
  if (until.length) throw new UsageError(`template: unexpected EOF: missing {{end}}`);
  return { nodes, next: i };
}

function run(nodes: Node[], dot: Value, root: Value): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'print') {
      const v = evaluate(n.words, dot, root);
      out += typeof v === 'string' ? v : goPrint(v);
    } else {
      const v = evaluate(n.words, dot, root);
      if (n.kind === 'range') {
        // Go ranges over a map in key order, with the value as the dot.
        const items = Array.isArray(v)
          ? v
          : v && typeof v === 'object'
            ? Object.keys(v)
                .sort()
                .map((k) => (v as Record<string, Value>)[k])
            : [];
        out += items.length
          ? items.map((item) => run(n.body, item, root)).join('')
          : run(n.otherwise, dot, root);
      } else if (truthy(v)) out += run(n.body, n.kind === 'with' ? v : dot, root);
      else out += run(n.otherwise, dot, root);
    }
  }
  return out;
}

export interface Template {
  execute(root: Value): string;
}

export function parseTemplate(source: string): Template {
  // The docker CLI reads \t and \n in a --format as tab and newline.
  const { nodes } = parseNodes(tokenize(source.replace(/\\t/g, '\t').replace(/\\n/g, '\n')), 0, []);
  return { execute: (root) => run(nodes, root, root) };
}
