// The part of Go's text/template the docker CLI's --format users rely on:
// fields ({{.A.B}}, method-like {{.Label "k"}}), variables ({{$v := …}},
// {{$v = …}}, {{$}}, {{range $i, $e := …}}), pipes ({{.Names | upper}}),
// parentheses ((index .X 0).Y), {{range}}/{{if}}/{{with}} with {{else}},
// {{else if}}, {{else with}}, {{break}}/{{continue}}, Go's builtins (and, or,
// not, eq, ne, lt, le, gt, ge, len, index, slice, print, printf, println) and
// the docker CLI's own (json, split, join, title, lower, upper, pad,
// truncate). A leading `table` is handled by the caller. Values print as Go
// prints them (maps as map[k:v], lists as [a b]). Not there: define, template,
// block (docker's --format has no use for them).
import { CliError } from '../command-context.js';

/** Marks an object whose {{json}} escapes <, > and & as Go's json.Marshal does (docker's list rows). */
export const MARSHALS_ESCAPED = Symbol('marshals escaped json');

type Value = unknown;

/** Go's json.Marshal: <, > and & escaped for HTML, as `docker inspect` prints them. */
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

// ---- lexing ----

type Lexeme =
  | { t: 'lit'; v: Value }
  | { t: 'field'; path: string[] }
  | { t: 'var'; name: string; path: string[] }
  | { t: 'ident'; name: string }
  | { t: '|' | '(' | ')' | ':=' | '=' | ',' };

type Token = { kind: 'text'; text: string } | { kind: 'action'; lexemes: Lexeme[]; source: string };

// The docker CLI exits 64 on a template it cannot parse.
const parseError = (why: string) => new CliError(`template parsing error: template: :1: ${why}`, 64);

/** The words of one action: literals, .fields, $variables, function names and punctuation. */
function lexAction(src: string): Lexeme[] {
  const out: Lexeme[] = [];
  let i = 0;
  const fieldPath = (): string[] => {
    const path: string[] = [];
    while (src[i] === '.') {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*)?/.exec(src.slice(i)) as RegExpExecArray;
      i += m[0].length;
      if (m[1] === undefined) break; // a lone "."
      path.push(m[1]);
    }
    return path;
  };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(src.slice(i));
      if (!m) throw parseError('unterminated quoted string');
      out.push({ t: 'lit', v: JSON.parse(m[0]) as string });
      i += m[0].length;
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw parseError('unterminated raw quoted string');
      out.push({ t: 'lit', v: src.slice(i + 1, end) });
      i = end + 1;
    } else if (c === "'") {
      const m = /^'(\\.|[^'\\])'/.exec(src.slice(i));
      if (!m) throw parseError('unterminated character constant');
      out.push({ t: 'lit', v: (JSON.parse(`"${m[1]}"`) as string).codePointAt(0) });
      i += m[0].length;
    } else if (c === '|' || c === '(' || c === ')' || c === ',') {
      out.push({ t: c });
      i++;
    } else if (src.startsWith(':=', i)) {
      out.push({ t: ':=' });
      i += 2;
    } else if (c === '=') {
      out.push({ t: '=' });
      i++;
    } else if (c === '.') {
      const path = fieldPath();
      out.push({ t: 'field', path });
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i)) as RegExpExecArray;
      i += m[0].length;
      out.push({ t: 'var', name: m[0], path: fieldPath() });
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][-+]?\d+)?)/.exec(src.slice(i));
      if (!m) throw parseError(`bad number syntax: "${src.slice(i, i + 10)}"`);
      out.push({ t: 'lit', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i)) as RegExpExecArray;
      i += m[0].length;
      const w = m[0];
      if (w === 'true' || w === 'false') out.push({ t: 'lit', v: w === 'true' });
      else if (w === 'nil') out.push({ t: 'lit', v: null });
      else out.push({ t: 'ident', name: w });
      // A field chain right after a name is an error in Go ("unexpected . after term").
    } else throw parseError(`unexpected "${c}" in command`);
  }
  return out;
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
    if (close < 0) throw parseError('unclosed action');
    let inner = source.slice(open + 2, close);
    // {{- and -}} (with a space) trim the text beside them.
    if (/^-\s/.test(inner)) {
      inner = inner.slice(1);
      const last = out[out.length - 1];
      if (last?.kind === 'text') last.text = last.text.trimEnd();
    }
    let trimAfter = false;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      trimAfter = true;
    }
    i = close + 2;
    if (trimAfter) while (i < source.length && /\s/.test(source[i])) i++;
    // Comments print nothing.
    if (/^\s*\/\*[\s\S]*\*\/\s*$/.test(inner)) continue;
    out.push({ kind: 'action', lexemes: lexAction(inner), source: inner.trim() });
  }
  return out;
}

// ---- parsing ----

type Expr =
  | { k: 'lit'; v: Value }
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'fn'; name: string }
  | { k: 'chain'; base: Expr; path: string[] }
  | { k: 'pipe'; pipe: Pipeline };

interface Pipeline {
  /** $x := … (declare) or $x = … (assign); two names in a range. */
  decl?: { names: string[]; assign: boolean };
  cmds: Expr[][];
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'print'; pipe: Pipeline }
  | { kind: 'break' }
  | { kind: 'continue' }
  | { kind: 'range' | 'if' | 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

const KEYWORDS = new Set([
  'range',
  'if',
  'with',
  'else',
  'end',
  'define',
  'template',
  'block',
  'break',
  'continue',
]);

/** A pipeline from lexemes, starting at `at`; stops at an unmatched ')'. */
function parsePipeline(lx: Lexeme[], at: number, allowTwoVars: boolean): { pipe: Pipeline; next: number } {
  let i = at;
  let decl: Pipeline['decl'];
  const v0 = lx[i];
  if (v0?.t === 'var' && !v0.path.length) {
    const after = lx[i + 1];
    if (after?.t === ':=' || after?.t === '=') {
      decl = { names: [v0.name], assign: after.t === '=' };
      i += 2;
    } else if (after?.t === ',' && allowTwoVars) {
      const v1 = lx[i + 2];
      const op = lx[i + 3];
      if (v1?.t !== 'var' || op?.t !== ':=') throw parseError('range can only initialize variables');
      decl = { names: [v0.name, v1.name], assign: false };
      i += 4;
    }
  }
  const cmds: Expr[][] = [];
  let cmd: Expr[] = [];
  for (; i < lx.length; i++) {
    const l = lx[i];
    if (l.t === ')') break;
    if (l.t === '|') {
      if (!cmd.length) throw parseError('missing command');
      cmds.push(cmd);
      cmd = [];
      continue;
    }
    let term: Expr;
    switch (l.t) {
      case 'lit':
        term = { k: 'lit', v: l.v };
        break;
      case 'field':
        term = { k: 'field', path: l.path };
        break;
      case 'var':
        term = { k: 'var', name: l.name, path: l.path };
        break;
      case 'ident':
        if (KEYWORDS.has(l.name)) throw parseError(`unexpected <${l.name}> in command`);
        if (!(l.name in FUNCTIONS)) throw parseError(`function "${l.name}" not defined`);
        term = { k: 'fn', name: l.name };
        break;
      case '(': {
        const inner = parsePipeline(lx, i + 1, false);
        if (lx[inner.next]?.t !== ')') throw parseError('unclosed left paren');
        i = inner.next;
        term = { k: 'pipe', pipe: inner.pipe };
        // (…).Field
        const chained = lx[i + 1];
        if (chained?.t === 'field' && chained.path.length) {
          term = { k: 'chain', base: term, path: chained.path };
          i++;
        }
        break;
      }
      default:
        throw parseError(`unexpected "${l.t}" in command`);
    }
    cmd.push(term);
  }
  if (!cmd.length) throw parseError(cmds.length ? 'missing command' : 'missing value for command');
  cmds.push(cmd);
  return { pipe: { decl, cmds }, next: i };
}

function parseFullPipeline(lx: Lexeme[], allowTwoVars = false): Pipeline {
  const { pipe, next } = parsePipeline(lx, 0, allowTwoVars);
  if (next < lx.length) throw parseError('unexpected right paren');
  return pipe;
}

/** Nodes up to {{end}} or {{else …}}; returns them, the token index after it and the stop's lexemes. */
function parseNodes(
  tokens: Token[],
  at: number,
  inBlock: boolean,
): { nodes: Node[]; next: number; stop?: 'end' | 'else'; elseRest?: Lexeme[] } {
  const nodes: Node[] = [];
  let i = at;
  while (i < tokens.length) {
    const t = tokens[i];
    if (t.kind === 'text') {
      nodes.push({ kind: 'text', text: t.text });
      i++;
      continue;
    }
    const [head, ...rest] = t.lexemes;
    const keyword = head?.t === 'ident' && KEYWORDS.has(head.name) ? head.name : undefined;
    if (keyword === 'end' || keyword === 'else') {
      if (!inBlock) throw parseError(`unexpected {{${keyword}}}`);
      return { nodes, next: i + 1, stop: keyword, elseRest: rest };
    }
    if (keyword === 'range' || keyword === 'if' || keyword === 'with') {
      const parsed = parseBlock(tokens, i + 1, keyword, rest);
      nodes.push(parsed.node);
      i = parsed.next;
      continue;
    }
    if (keyword === 'break' || keyword === 'continue') {
      nodes.push(keyword === 'break' ? { kind: 'break' } : { kind: 'continue' });
      i++;
      continue;
    }
    if (keyword) throw parseError(`{{${keyword}}} is not supported in --format`);
    nodes.push({ kind: 'print', pipe: parseFullPipeline(t.lexemes) });
    i++;
  }
  if (inBlock) throw parseError('unexpected EOF');
  return { nodes, next: i };
}

/** A range/if/with whose opening action held `rest`; its body starts at token `at`. */
function parseBlock(
  tokens: Token[],
  at: number,
  kind: 'range' | 'if' | 'with',
  rest: Lexeme[],
): { node: Node; next: number } {
  if (!rest.length) throw parseError(`missing value for ${kind}`);
  const pipe = parseFullPipeline(rest, kind === 'range');
  const body = parseNodes(tokens, at, true);
  let otherwise: Node[] = [];
  let next = body.next;
  if (body.stop === 'else') {
    const elseRest = body.elseRest ?? [];
    const chained = elseRest[0];
    if (chained?.t === 'ident' && (chained.name === 'if' || chained.name === 'with')) {
      // {{else if x}}…{{end}} is {{else}}{{if x}}…{{end}}{{end}} with one shared {{end}}.
      const nested = parseBlock(tokens, next, chained.name, elseRest.slice(1));
      otherwise = [nested.node];
      next = nested.next;
    } else {
      if (elseRest.length) throw parseError('unexpected words after {{else}}');
      const alt = parseNodes(tokens, next, true);
      if (alt.stop !== 'end') throw parseError('expected end; found {{else}}');
      otherwise = alt.nodes;
      next = alt.next;
    }
  }
  return { node: { kind, pipe, body: body.nodes, otherwise }, next };
}

// ---- running ----

const execError = (why: string) => new CliError(`template: :1: executing "" ${why}`);

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const str = (v: Value): string => (typeof v === 'string' ? v : goPrint(v));

/** fmt.Sprint: a space between operands when neither is a string. */
function sprint(args: Value[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += str(a);
  });
  return out;
}

/** fmt.Sprintf for the verbs a --format uses: %s %v %d %q %t %x %%, with widths. */
function sprintf(format: Value, ...args: Value[]): string {
  let n = 0;
  return str(format).replace(
    /%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqtxX%])/g,
    (_m, flags: string, width, prec, verb) => {
      if (verb === '%') return '%';
      if (n >= args.length) return `%!${verb}(MISSING)`;
      const a = args[n++];
      let s: string;
      if (verb === 'q') s = JSON.stringify(str(a));
      else if (verb === 'd') s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${str(a)})`;
      else if (verb === 'x' || verb === 'X') {
        s = typeof a === 'number' ? a.toString(16) : Buffer.from(str(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
      } else s = str(a);
      if (prec !== undefined && (verb === 's' || verb === 'v')) s = s.slice(0, Number(prec));
      const w = Number(width || 0);
      if (s.length < w)
        s = flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') ? '0' : ' ');
      return s;
    },
  );
}

/** Go's eq on basic values (numbers, strings, booleans, nil). */
function basicEqual(a: Value, b: Value): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === 'object' || typeof b === 'object')
    throw execError('error calling eq: non-comparable types');
  return a === b;
}

function compare(name: string, a: Value, b: Value): number {
  if (typeof a !== typeof b || !['number', 'string'].includes(typeof a))
    throw execError(`error calling ${name}: incompatible types for comparison`);
  return (a as number | string) < (b as number | string) ? -1 : a === b ? 0 : 1;
}

function lengthOf(v: Value): number {
  if (Array.isArray(v) || typeof v === 'string') return v.length;
  if (v && typeof v === 'object') return Object.keys(v).length;
  throw execError(`error calling len: len of ${v === null || v === undefined ? 'nil' : typeof v}`);
}

const FUNCTIONS: Record<string, (...args: Value[]) => Value> = {
  // The docker CLI's (templates.basicFunctions); its json does not escape HTML.
  json: (v) =>
    v && typeof v === 'object' && MARSHALS_ESCAPED in v ? goJson(v) : (JSON.stringify(v ?? null) ?? 'null'),
  split: (s, sep) => str(s).split(str(sep)),
  join: (v, sep) => (Array.isArray(v) ? v.map(str).join(str(sep)) : str(v)),
  title: (v) =>
    str(v).replace(/(^|[^A-Za-z0-9_'])([a-z])/g, (_m, a: string, b: string) => a + b.toUpperCase()),
  lower: (v) => str(v).toLowerCase(),
  upper: (v) => str(v).toUpperCase(),
  pad: (v, prefix, suffix) => {
    const s = str(v);
    return s === '' ? s : ' '.repeat(Number(prefix) || 0) + s + ' '.repeat(Number(suffix) || 0);
  },
  truncate: (v, length) => {
    const s = str(v);
    return s.length < Number(length) ? s : s.slice(0, Number(length));
  },
  // Go's builtins.
  len: lengthOf,
  index: (v, ...keys) =>
    keys.reduce((acc: Value, k) => {
      if (acc === null || acc === undefined) return undefined;
      if (Array.isArray(acc) && (typeof k !== 'number' || k < 0 || k >= acc.length))
        throw execError(`error calling index: index out of range: ${str(k)}`);
      return (acc as Record<string, Value>)[String(k)];
    }, v),
  slice: (v, ...idx) => {
    const [from = 0, to] = idx.map(Number);
    return typeof v === 'string' || Array.isArray(v) ? v.slice(from, to) : v;
  },
  print: (...args) => sprint(args),
  printf: sprintf,
  println: (...args) => args.map(str).join(' ') + '\n',
  not: (v) => !truthy(v),
  and: (...args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
  or: (...args) => args.find((a) => truthy(a)) ?? args[args.length - 1],
  eq: (a, ...bs) => {
    if (!bs.length) throw execError('error calling eq: missing argument for comparison');
    return bs.some((b) => basicEqual(a, b));
  },
  ne: (a, b) => !basicEqual(a, b),
  lt: (a, b) => compare('lt', a, b) < 0,
  le: (a, b) => compare('le', a, b) <= 0,
  gt: (a, b) => compare('gt', a, b) > 0,
  ge: (a, b) => compare('ge', a, b) >= 0,
};

type Scope = Array<Map<string, Value>>;

function lookupVar(scope: Scope, name: string): Value {
  for (let i = scope.length - 1; i >= 0; i--) if (scope[i].has(name)) return scope[i].get(name);
  throw parseError(`undefined variable "${name}"`);
}

/** .A.B of v; a method-like field (a function) is called, the last one with `args`. */
function walk(v: Value, path: string[], args: Value[] = []): Value {
  let cur = v;
  path.forEach((name, i) => {
    if (cur === null || cur === undefined) {
      cur = undefined;
      return;
    }
    if (typeof cur !== 'object' && typeof cur !== 'function')
      throw execError(`at <.${name}>: can't evaluate field ${name} in type ${typeof cur}`);
    cur = (cur as Record<string, Value>)[name];
    if (typeof cur === 'function')
      cur = (cur as (...a: Value[]) => Value)(...(i === path.length - 1 ? args : []));
    else if (i === path.length - 1 && args.length)
      throw execError(`at <.${name}>: ${name} has arguments but cannot be invoked as function`);
  });
  return cur;
}

class Runner {
  constructor(private readonly root: Value) {}

  private arg(e: Expr, dot: Value, scope: Scope): Value {
    switch (e.k) {
      case 'lit':
        return e.v;
      case 'field':
        return walk(dot, e.path);
      case 'var':
        return walk(lookupVar(scope, e.name), e.path);
      case 'fn':
        return FUNCTIONS[e.name]();
      case 'chain':
        return walk(this.arg(e.base, dot, scope), e.path);
      case 'pipe':
        return this.pipeline(e.pipe, dot, scope);
    }
  }

  private command(cmd: Expr[], dot: Value, scope: Scope, piped: { value: Value } | undefined): Value {
    const [head, ...rest] = cmd;
    const args = () => {
      const a = rest.map((e) => this.arg(e, dot, scope));
      if (piped) a.push(piped.value);
      return a;
    };
    if (head.k === 'fn') return FUNCTIONS[head.name](...args());
    if (
      (head.k === 'field' || head.k === 'var' || head.k === 'chain') &&
      head.path.length &&
      (rest.length || piped)
    ) {
      const base =
        head.k === 'field'
          ? dot
          : head.k === 'var'
            ? lookupVar(scope, head.name)
            : this.arg(head.base, dot, scope);
      return walk(base, head.path, args());
    }
    if (rest.length || piped) throw execError("can't give argument to non-function");
    return this.arg(head, dot, scope);
  }

  pipeline(pipe: Pipeline, dot: Value, scope: Scope): Value {
    let piped: { value: Value } | undefined;
    for (const cmd of pipe.cmds) piped = { value: this.command(cmd, dot, scope, piped) };
    const value = piped?.value;
    if (pipe.decl && pipe.decl.names.length === 1)
      this.bind(scope, pipe.decl.names[0], value, pipe.decl.assign);
    return value;
  }

  private bind(scope: Scope, name: string, value: Value, assign: boolean): void {
    if (!assign) {
      scope[scope.length - 1].set(name, value);
      return;
    }
    for (let i = scope.length - 1; i >= 0; i--)
      if (scope[i].has(name)) {
        scope[i].set(name, value);
        return;
      }
    throw parseError(`undefined variable "${name}"`);
  }

  run(nodes: Node[], dot: Value, scope: Scope): string {
    let out = '';
    try {
      for (const n of nodes) out += this.node(n, dot, scope);
    } catch (err) {
      // What this level printed before a {{break}}/{{continue}} below it still counts.
      if (err instanceof LoopControl) err.output = out + err.output;
      throw err;
    }
    return out;
  }

  private node(n: Node, dot: Value, scope: Scope): string {
    if (n.kind === 'text') return n.text;
    if (n.kind === 'print') {
      const v = this.pipeline(n.pipe, dot, scope);
      return n.pipe.decl ? '' : str(v);
    }
    if (n.kind === 'break' || n.kind === 'continue') throw new LoopControl(n.kind);
    const inner: Scope = [...scope, new Map()];
    const twoVars = n.kind === 'range' && n.pipe.decl?.names.length === 2;
    const v = this.pipeline(twoVars ? { cmds: n.pipe.cmds } : n.pipe, dot, inner);
    if (n.kind === 'range') return this.range(n, v, dot, inner, scope);
    if (truthy(v)) return this.run(n.body, n.kind === 'with' ? v : dot, inner);
    return this.run(n.otherwise, dot, [...scope, new Map()]);
  }

  private range(
    n: Extract<Node, { body: Node[] }>,
    v: Value,
    dot: Value,
    inner: Scope,
    outer: Scope,
  ): string {
    // Go ranges over a map in key order, with the value as the dot.
    let entries: Array<[Value, Value]> = [];
    if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
    else if (v && typeof v === 'object')
      entries = Object.keys(v)
        .sort()
        .map((k) => [k, (v as Record<string, Value>)[k]]);
    else if (typeof v === 'number') entries = Array.from({ length: v }, (_x, i) => [i, i]);
    else if (v !== null && v !== undefined) throw execError(`range can't iterate over ${str(v)}`);
    if (!entries.length) return this.run(n.otherwise, dot, [...outer, new Map()]);
    const names = n.pipe.decl?.names ?? [];
    let out = '';
    for (const [key, item] of entries) {
      const scope: Scope = [...inner.slice(0, -1), new Map()];
      if (names.length === 2) {
        scope[scope.length - 1].set(names[0], key);
        scope[scope.length - 1].set(names[1], item);
      } else if (names.length === 1) scope[scope.length - 1].set(names[0], item);
      try {
        out += this.run(n.body, item, scope);
      } catch (err) {
        if (!(err instanceof LoopControl)) throw err;
        out += err.output;
        if (err.kind === 'break') break;
      }
    }
    return out;
  }
}

/** {{break}}/{{continue}} unwinding to their range, with what the body printed so far. */
class LoopControl extends Error {
  output = '';
  constructor(readonly kind: 'break' | 'continue') {
    super(kind);
  }
}

export interface Template {
  execute(root: Value): string;
}

export function parseTemplate(source: string): Template {
  // The docker CLI reads \t and \n in a --format as tab and newline.
  const { nodes } = parseNodes(tokenize(source.replace(/\\t/g, '\t').replace(/\\n/g, '\n')), 0, false);
  return {
    execute: (root) => {
      const scope: Scope = [new Map([['$', root]])];
      return new Runner(root).run(nodes, root, scope);
    },
  };
}
