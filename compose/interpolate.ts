// Compose variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt} and $$ for a literal $.
// Defaults and alternatives may themselves hold variables, as in compose-go.

export type Lookup = (name: string) => string | undefined;

export interface Interpolated {
  value: string;
  /** True when at least one variable was referenced (the precedence rules care). */
  usedVariables: boolean;
}

/** Thrown for bad syntax or a required variable that is missing; the caller adds file and key. */
export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, lookup: Lookup, onUnset?: (name: string) => void): Interpolated {
  let out = '';
  let usedVariables = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InterpolationError(`invalid interpolation format in "${text}": no closing "}"`);
      const r = braced(text.slice(i + 2, end), text, lookup, onUnset);
      out += r;
      usedVariables = true;
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (m) {
      const v = lookup(m[0]);
      if (v === undefined) onUnset?.(m[0]);
      out += v ?? '';
      usedVariables = true;
      i += 1 + m[0].length;
      continue;
    }
    // A lone $ (before a space, a digit, the end): kept, as compose-go does.
    out += '$';
    i++;
  }
  return { value: out, usedVariables };
}

/** Index of the } that closes a ${ opened just before from, minding nested ${…}. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') {
      i++;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function braced(inner: string, whole: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  const m = NAME.exec(inner);
  if (!m)
    throw new InterpolationError(
      `invalid interpolation format in "${whole}": "\${${inner}}" has no variable name`,
    );
  const name = m[0];
  const rest = inner.slice(name.length);
  const value = lookup(name);
  if (rest === '') {
    if (value === undefined) onUnset?.(name);
    return value ?? '';
  }
  const op = /^(:?[-?+])/.exec(rest);
  if (!op)
    throw new InterpolationError(
      `invalid interpolation format in "${whole}": unknown operator in "\${${inner}}"`,
    );
  const arg = rest.slice(op[1].length);
  const colon = op[1].startsWith(':');
  // With a colon, an empty value counts as unset.
  const unset = value === undefined || (colon && value === '');
  const nested = () => interpolate(arg, lookup, onUnset).value;
  switch (op[1].replace(':', '')) {
    case '-':
      return unset ? nested() : (value as string);
    case '+':
      return unset ? '' : nested();
    default: {
      if (!unset) return value as string;
      const message = nested();
      throw new InterpolationError(
        `required variable ${name} is missing a value${message ? `: ${message}` : ''}`,
      );
    }
  }
}
