// The Dockerfile syntax, as BuildKit's parser reads it for the classic
// builder: parser directives (escape, syntax, check) at the top, comments,
// line continuations (with comment and empty lines inside them), builder
// flags (`--from=…`), and the per-instruction argument forms: JSON arrays,
// key=value pairs, whitespace-separated words, the rest of the line.
//
// npm's dockerfile-ast was considered and not taken: it is an editor's
// tolerant AST, and it keeps comment lines inside continuations in the
// instruction text and mangles whitespace inside JSON strings.
import { invalid } from '../../errors.js';

export interface KeyValue {
  key: string;
  value: string;
  /** ENV/LABEL's legacy `KEY value` form (no "="). */
  noDelim: boolean;
}

/** A here-document of RUN, COPY or ADD (`<<EOF` … `EOF`), as BuildKit's parser gives it. */
export interface Heredoc {
  name: string;
  /** The body, each line ending in a newline. */
  data: string;
  /** Variables are expanded (COPY/ADD) unless the delimiter was quoted. */
  expand: boolean;
  /** `<<-`: leading tabs were stripped from the body and the delimiter. */
  chomp: boolean;
}

export interface DockerfileNode {
  /** Lower-case instruction name ("run"); unknown names are kept for the error. */
  keyword: string;
  /** The name as written ("Run"). */
  name: string;
  /** The instruction as one line (continuations joined), trimmed: what "Step N/M :" shows. */
  original: string;
  /** Builder flags as written ("--from=build"). */
  flags: string[];
  args: string[];
  /** The arguments were a JSON array (exec form). */
  json: boolean;
  /** ENV and LABEL pairs. */
  pairs?: KeyValue[];
  /** ONBUILD's trigger instruction. */
  trigger?: DockerfileNode;
  /** RUN/COPY/ADD here-documents, in the order their markers appear. */
  heredocs?: Heredoc[];
  startLine: number;
  endLine: number;
}

export interface ParsedDockerfile {
  escape: string;
  syntax?: string;
  nodes: DockerfileNode[];
  warnings: string[];
}

/** A Dockerfile error that knows its line. */
export class DockerfileSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`dockerfile parse error on line ${line}: ${detail}`);
  }
}

const WHITESPACE = /[\t\v\f\r ]+/;
const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const isSpace = (ch: string) => /\s/.test(ch);

function trimLeft(s: string): string {
  return s.replace(/^\s+/, '');
}

function isComment(line: string): boolean {
  return trimLeft(line).startsWith('#');
}

function escapeRegex(ch: string): string {
  return ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

class Directives {
  escape = '\\';
  syntax?: string;
  private continuation = Directives.continuationFor('\\');
  private done = false;
  private readonly seen = new Set<string>();

  private static continuationFor(escape: string): RegExp {
    const e = escapeRegex(escape);
    return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  }

  /** Directives are only read until the first line that is not one. */
  offer(line: string): boolean {
    if (this.done) return false;
    const m = DIRECTIVE.exec(line);
    const key = m?.[1]?.toLowerCase();
    if (!m || !key || !KNOWN_DIRECTIVES.has(key)) {
      this.done = true;
      return false;
    }
    if (this.seen.has(key)) throw invalid(`only one ${key} parser directive can be used`);
    this.seen.add(key);
    const value = m[2]!;
    if (key === 'escape') {
      if (value !== '`' && value !== '\\')
        throw invalid(`invalid escape token '${value}' does not match \` or \\`);
      this.escape = value;
      this.continuation = Directives.continuationFor(value);
    } else if (key === 'syntax') {
      this.syntax = value;
    }
    return true;
  }

  /** The line without its continuation escape, and whether the instruction ends here. */
  trimContinuation(line: string): { text: string; ends: boolean } {
    if (this.continuation.test(line)) return { text: line.replace(this.continuation, '$1'), ends: false };
    return { text: line, ends: true };
  }
}

/** Leading `--flag[=value]` words, the way BuildKit's extractBuilderFlags splits them. */
function extractFlags(line: string, escape: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && isSpace(line[pos]!)) pos++;
    if (pos >= line.length) return { rest: '', flags };
    if (!line.startsWith('--', pos)) return { rest: line.slice(pos), flags };
    let word = '';
    let quote = '';
    let blankOk = false;
    for (; pos < line.length; pos++) {
      const ch = line[pos]!;
      if (quote) {
        if (ch === quote) {
          quote = '';
          continue;
        }
        if (ch === escape) {
          if (pos + 1 === line.length) {
            quote = '';
            continue;
          }
          word += line[++pos];
          continue;
        }
        word += ch;
        continue;
      }
      if (isSpace(ch)) break;
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === line.length) continue;
        word += line[++pos];
        continue;
      }
      word += ch;
    }
    // A bare "--" ends the flags.
    if (word === '--') return { rest: line.slice(pos), flags };
    if (blankOk || word.length > 0) flags.push(word);
  }
}

/** Words for ARG/ENV/LABEL: split on unquoted whitespace, quotes and escapes kept for expansion. */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOk = false;
  const chars = [...rest];
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i]!;
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (i + 1 === chars.length) {
          continue;
        }
        word += ch;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    if (isSpace(ch)) {
      if (blankOk || word.length > 0) words.push(word);
      word = '';
      blankOk = false;
      inWord = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOk = true;
    }
    if (ch === escape) {
      if (i + 1 === chars.length) continue;
      word += ch;
      ch = chars[++i]!;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

function parseNameVal(rest: string, name: string, escape: string): KeyValue[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    const parts = rest.split(WHITESPACE);
    const first = parts[0]!;
    const value = rest.slice(first.length).replace(/^[\t\v\f\r ]+/, '');
    if (parts.length < 2 || value === '') throw invalid(`${name} must have two arguments`);
    return [{ key: first, value, noDelim: true }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0)
      throw invalid(
        `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`,
      );
    return { key: word.slice(0, eq), value: word.slice(eq + 1), noDelim: false };
  });
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(WHITESPACE);
}

const NOT_JSON = Symbol('not-json');

function parseJson(rest: string): string[] | typeof NOT_JSON {
  const text = trimLeft(rest);
  if (!text.startsWith('[')) return NOT_JSON;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
  if (!Array.isArray(value)) return NOT_JSON;
  if (!value.every((v) => typeof v === 'string'))
    throw invalid('when using JSON array syntax, arrays must be comprised of strings only');
  return value as string[];
}

interface LineArgs {
  args: string[];
  json: boolean;
  pairs?: KeyValue[];
  trigger?: DockerfileNode;
}

function lineArgs(
  keyword: string,
  rest: string,
  escape: string,
  line: { start: number; end: number },
): LineArgs {
  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume': {
      const json = parseJson(rest);
      if (json !== NOT_JSON) return { args: json, json: true };
      return { args: splitWhitespace(rest), json: false };
    }
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell': {
      if (rest === '') return { args: [], json: false };
      const json = parseJson(rest);
      if (json !== NOT_JSON) return { args: json, json: true };
      return { args: [rest], json: false };
    }
    case 'arg':
      return { args: parseWords(rest, escape), json: false };
    case 'env':
    case 'label': {
      const pairs = parseNameVal(rest, keyword.toUpperCase(), escape);
      return { args: pairs.flatMap((p) => [p.key, p.value]), json: false, pairs };
    }
    case 'expose':
    case 'from':
      return { args: splitWhitespace(rest), json: false };
    case 'healthcheck': {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
      if (!m) return { args: [], json: false };
      const cmd = m[2]!;
      if (cmd === '') return { args: [m[1]!], json: false };
      const json = parseJson(cmd);
      if (json !== NOT_JSON) return { args: [m[1]!, ...json], json: true };
      return { args: [m[1]!, cmd], json: false };
    }
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'onbuild': {
      if (rest === '') return { args: [], json: false };
      const trigger = nodeFromLine(rest, escape, line);
      return { args: [trigger.name, ...trigger.args], json: trigger.json, trigger };
    }
    default:
      return { args: [], json: false };
  }
}

function nodeFromLine(line: string, escape: string, at: { start: number; end: number }): DockerfileNode {
  const trimmed = line.trim();
  const m = /^(\S+)(?:[\t\v\f\r ]+([\s\S]*))?$/.exec(trimmed);
  const name = m?.[1] ?? '';
  const { rest, flags } = m?.[2] !== undefined ? extractFlags(m[2], escape) : { rest: '', flags: [] };
  const keyword = name.toLowerCase();
  const parsed = lineArgs(keyword, rest.trim(), escape, at);
  return {
    keyword,
    name,
    original: trimmed,
    flags,
    ...parsed,
    startLine: at.start,
    endLine: at.end,
  };
}

const HEREDOC = /(^|\s)<<(-?)\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\3(?=\s|$)/g;

/** The heredoc a whole word names ("<<EOF", `<<-"EOF"`), or undefined when the word is not a marker. */
export function heredocMarker(word: string): string | undefined {
  return /^<<-?\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\1$/.exec(word.trim())?.[2];
}

/** Parse a Dockerfile's text. Errors name the line they are on. */
export function parseDockerfile(text: string): ParsedDockerfile {
  const directives = new Directives();
  const nodes: DockerfileNode[] = [];
  const warnings: string[] = [];
  // Lines as bufio.Scanner gives them; a UTF-8 BOM on the first is dropped.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let current = 0;
  const read = (stripLeft: boolean): string => {
    let line = lines[current]!.replace(/[\r\n]+$/, '');
    if (stripLeft) line = trimLeft(line);
    let isDirective = false;
    try {
      isDirective = directives.offer(line);
    } catch (err) {
      throw new DockerfileSyntaxError(current + 1, (err as Error).message);
    }
    current++;
    return isDirective || isComment(line) ? '' : line;
  };

  while (current < lines.length) {
    const first = read(true);
    const startLine = current;
    let { text: buf, ends } = directives.trimContinuation(first);
    if (ends && buf.length === 0) continue;
    let emptyContinuation = false;
    while (!ends && current < lines.length) {
      const raw = lines[current]!;
      const line = read(false);
      if (isComment(raw)) continue;
      if (trimLeft(line).length === 0) {
        emptyContinuation = true;
        continue;
      }
      const t = directives.trimContinuation(line);
      buf += t.text;
      ends = t.ends;
    }
    if (emptyContinuation) warnings.push(`Empty continuation line found in: ${buf}`);
    let node: DockerfileNode;
    try {
      node = nodeFromLine(buf, directives.escape, { start: startLine, end: current });
    } catch (err) {
      throw new DockerfileSyntaxError(startLine, (err as Error).message);
    }
    if (['run', 'copy', 'add'].includes(node.keyword) && !node.json) {
      // Each marker's body follows the instruction, raw: no comments, continuations or directives.
      const heredocs: Heredoc[] = [];
      for (const m of buf.matchAll(HEREDOC)) {
        const chomp = m[2] === '-';
        const name = m[4]!;
        let data = '';
        let closed = false;
        while (current < lines.length) {
          let line = lines[current++]!.replace(/\r$/, '');
          if (chomp) line = line.replace(/^\t+/, '');
          if (line === name) {
            closed = true;
            break;
          }
          data += `${line}\n`;
        }
        if (!closed)
          throw new DockerfileSyntaxError(
            startLine,
            `unterminated heredoc: no line "${name}" ends <<${name}`,
          );
        heredocs.push({ name, data, expand: m[3] === '', chomp });
      }
      if (heredocs.length) {
        node.heredocs = heredocs;
        node.endLine = current;
      }
    }
    nodes.push(node);
  }
  if (nodes.length === 0) throw new DockerfileSyntaxError(current, 'file with no instructions');
  return { escape: directives.escape, syntax: directives.syntax, nodes, warnings };
}
