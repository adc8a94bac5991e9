// Word expansion in Dockerfile instructions, as BuildKit's shell lexer does it
// for the classic builder: quotes, the escape token, `$VAR`, `${VAR}`,
// `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`,
// `${VAR:?message}`. Unset variables expand to nothing. RUN, CMD and
// ENTRYPOINT are not expanded here: the container's shell does that.
import { invalid } from '../../errors.js';

/** Variables visible to an instruction; later definitions of a name win. */
export function envMap(entries: Iterable<string>): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq < 0) map.set(e, '');
    else map.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return map;
}

const isSpace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f';
const isNameChar = (ch: string) => /[A-Za-z0-9_]/.test(ch);

/** Words built up while scanning: unquoted whitespace splits them; quoted text never does. */
class Words {
  readonly list: string[] = [];
  private current = '';
  private inWord = false;

  /** Unquoted text (also expanded values): whitespace ends a word. */
  addText(text: string): void {
    for (const ch of text) {
      if (isSpace(ch)) {
        if (this.inWord) this.list.push(this.current);
        this.current = '';
        this.inWord = false;
      } else {
        this.current += ch;
        this.inWord = true;
      }
    }
  }

  /** Quoted or escaped text: kept as it is, and it makes a word even when empty. */
  addRaw(text: string): void {
    this.current += text;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.inWord) this.list.push(this.current);
    return this.list;
  }
}

class Lexer {
  private pos = 0;
  readonly words = new Words();

  constructor(
    private readonly input: string,
    private readonly escape: string,
    private readonly env: Map<string, string>,
    /** Quotes and escapes are text (heredoc bodies): only variables are expanded. */
    private readonly raw = false,
  ) {}

  private peek(): string {
    return this.input[this.pos] ?? '';
  }

  private next(): string {
    return this.input[this.pos++] ?? '';
  }

  /** Until `stop` (consumed) or the end; returns the expanded text. */
  process(stop?: string): string {
    let out = '';
    while (this.pos < this.input.length) {
      const ch = this.peek();
      if (stop !== undefined && ch === stop) {
        this.pos++;
        return out;
      }
      if (this.raw && ch !== '$') {
        this.pos++;
        out += ch;
        // An escaped character is kept with its escape, and not expanded.
        if (ch === this.escape && this.pos < this.input.length) out += this.next();
        continue;
      }
      if (ch === "'") {
        const s = this.singleQuote();
        out += s;
        this.words.addRaw(s);
      } else if (ch === '"') {
        const s = this.doubleQuote();
        out += s;
        this.words.addRaw(s);
      } else if (ch === '$') {
        const s = this.dollar();
        out += s;
        this.words.addText(s);
      } else {
        this.pos++;
        if (ch === this.escape) {
          if (this.pos >= this.input.length) break; // an escape at the very end is dropped
          const escaped = this.next();
          out += escaped;
          this.words.addRaw(escaped);
        } else {
          out += ch;
          this.words.addText(ch);
        }
      }
    }
    if (stop !== undefined) throw invalid(`missing '${stop}' in "${this.input}"`);
    return out;
  }

  private singleQuote(): string {
    this.pos++;
    const end = this.input.indexOf("'", this.pos);
    if (end < 0) throw invalid('unexpected end of statement while looking for matching single-quote');
    const s = this.input.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private doubleQuote(): string {
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.input.length)
        throw invalid('unexpected end of statement while looking for matching double-quote');
      const ch = this.peek();
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      this.pos++;
      if (ch === this.escape) {
        const following = this.peek();
        if (following === '') continue;
        if (following === '"' || following === '$' || following === this.escape) {
          out += this.next();
          continue;
        }
      }
      out += ch;
    }
  }

  private name(): string {
    let name = '';
    // A positional or special parameter is one character; it is never set here.
    if (/[0-9*#@?$!-]/.test(this.peek())) return this.next();
    while (this.pos < this.input.length && isNameChar(this.peek())) name += this.next();
    return name;
  }

  private dollar(): string {
    this.pos++;
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.env.get(name) ?? '';
    }
    this.pos++;
    const name = this.name();
    if (name === '') throw invalid(`bad substitution: missing variable name in "${this.input}"`);
    const value = this.env.get(name);
    const ch = this.next();
    if (ch === '}') return value ?? '';
    let colon = false;
    let modifier = ch;
    if (ch === ':') {
      colon = true;
      modifier = this.next();
    }
    if (!['-', '+', '?'].includes(modifier)) {
      throw invalid(
        modifier === ''
          ? `missing '}' in "${this.input}"`
          : `unsupported modifier (${modifier}) in substitution: "${this.input}"`,
      );
    }
    // The word is expanded in its own right; its words are not the outer word's.
    const inner = new Lexer(this.input, this.escape, this.env, this.raw);
    inner.pos = this.pos;
    const word = inner.process('}');
    this.pos = inner.pos;
    const isSet = value !== undefined && (!colon || value !== '');
    switch (modifier) {
      case '-':
        return isSet ? value! : word;
      case '+':
        return isSet ? word : '';
      default:
        if (!isSet) throw invalid(`${name}: ${word || 'is not allowed to be unset'}`);
        return value!;
    }
  }
}

/** One word, quotes removed and variables expanded (ENV, LABEL, COPY, WORKDIR, …). */
export function expandWord(word: string, env: Map<string, string>, escape = '\\'): string {
  return new Lexer(word, escape, env).process();
}

/** A here-document's body (COPY <<EOF): variables expanded, quotes and escapes left as written. */
export function expandHeredoc(text: string, env: Map<string, string>, escape = '\\'): string {
  return new Lexer(text, escape, env, true).process();
}

/** Several whitespace-separated words (EXPOSE): quoted whitespace stays inside a word. */
export function expandWords(text: string, env: Map<string, string>, escape = '\\'): string[] {
  const lexer = new Lexer(text, escape, env);
  lexer.process();
  return lexer.words.finish();
}
