// The env-file format Compose reads for `.env` and `env_file`: KEY=VALUE lines,
// `#` comments, an optional `export `, single quotes literal, double quotes with
// escapes; unquoted and double-quoted values are interpolated.
import { readFileSync } from 'node:fs';
import { ComposeError } from './errors.js';
import { interpolate, InterpolationError, type Lookup } from './interpolate.js';

export interface EnvFileEntry {
  key: string;
  /** undefined: a bare KEY whose value the lookup did not have. */
  value: string | undefined;
  /** The value came from a variable (a bare KEY, or ${…} in the value). */
  usedVariables: boolean;
  line: number;
}

export class EnvFileSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parses env-file text; `lookup` resolves bare KEYs and ${VAR} (earlier keys of the file come after it). */
export function parseEnvFile(text: string, lookup: Lookup = () => undefined): EnvFileEntry[] {
  const entries: EnvFileEntry[] = [];
  const own = new Map<string, string>();
  const resolve: Lookup = (name) => lookup(name) ?? own.get(name);
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    let line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice('export '.length).trim();
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!KEY.test(key)) throw new EnvFileSyntaxError(lineNo, `"${key}" is not a valid variable name`);
    if (eq < 0) {
      const value = lookup(key);
      entries.push({ key, value, usedVariables: true, line: lineNo });
      continue;
    }
    let raw = line.slice(eq + 1).trim();
    let value: string;
    let usedVariables = false;
    try {
      if (raw.startsWith("'")) {
        const end = raw.indexOf("'", 1);
        if (end < 0) throw new EnvFileSyntaxError(lineNo, `unterminated single quote in the value of ${key}`);
        value = raw.slice(1, end);
      } else if (raw.startsWith('"')) {
        let end = 1;
        while (end < raw.length && !(raw[end] === '"' && raw[end - 1] !== '\\')) end++;
        if (end >= raw.length)
          throw new EnvFileSyntaxError(lineNo, `unterminated double quote in the value of ${key}`);
        const unescaped = raw
          .slice(1, end)
          .replace(/\\(["\\nrt$])/g, (_m, ch: string) =>
            ch === 'n' ? '\n' : ch === 'r' ? '\r' : ch === 't' ? '\t' : ch === '$' ? '$$' : ch,
          );
        ({ value, usedVariables } = interpolate(unescaped, resolve));
      } else {
        const comment = raw.search(/\s#/);
        if (comment >= 0) raw = raw.slice(0, comment).trim();
        ({ value, usedVariables } = interpolate(raw, resolve));
      }
    } catch (err) {
      if (err instanceof InterpolationError) throw new EnvFileSyntaxError(lineNo, err.message);
      throw err;
    }
    own.set(key, value);
    entries.push({ key, value, usedVariables, line: lineNo });
  }
  return entries;
}

/** An env file's entries, read from disk; a syntax error is a ComposeError naming the file and line. */
export function readEnvFile(file: string, lookup: Lookup = () => undefined): EnvFileEntry[] {
  try {
    return parseEnvFile(readFileSync(file, 'utf8'), lookup);
  } catch (err) {
    if (err instanceof EnvFileSyntaxError) throw new ComposeError(err.message, { file, line: err.line });
    throw err;
  }
}
