// Type checks of decoded JSON request bodies against the Engine API's types
// (request-shapes.generated.ts): a wrong type is the client's mistake, a 400
// naming the field, as Go's JSON decoding makes it in dockerd, and never a
// TypeError deep in a handler. Unknown fields and nulls pass, as in Go.
import { HttpError } from './http-errors.js';

export type Shape = 's' | 'i' | 'n' | 'b' | '*' | ['a', Shape] | ['m', Shape] | ['o', Record<string, Shape>];

const INT64_LIMIT = 2 ** 63;

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function expected(shape: Shape, plural = false): string {
  if (typeof shape === 'string') {
    const [one, many] = {
      s: ['a string', 'strings'],
      i: ['an integer', 'integers'],
      n: ['a number', 'numbers'],
      b: ['a boolean', 'booleans'],
      '*': ['anything', 'anything'],
    }[shape];
    return plural ? many : one;
  }
  const inner = shape[0] === 'o' ? '' : ` of ${expected(shape[1], true)}`;
  const base = shape[0] === 'a' ? 'array' : 'object';
  return (plural ? `${base}s` : `an ${base}`) + (inner === ' of anything' ? '' : inner);
}

function problem(value: unknown, shape: Shape, at: string): string | undefined {
  if (value === null || value === undefined || shape === '*') return undefined;
  const bad = () =>
    `${at || 'the body'}: expected ${expected(shape)}, got ${jsonType(value)} ${JSON.stringify(value)?.slice(0, 40)}`;
  if (shape === 's') return typeof value === 'string' ? undefined : bad();
  if (shape === 'b') return typeof value === 'boolean' ? undefined : bad();
  if (shape === 'n') return typeof value === 'number' ? undefined : bad();
  if (shape === 'i')
    return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < INT64_LIMIT
      ? undefined
      : bad();
  const [kind, inner] = shape;
  if (kind === 'a') {
    if (!Array.isArray(value)) return bad();
    for (let i = 0; i < value.length; i++) {
      const p = problem(value[i], inner, `${at}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return bad();
  const entries = Object.entries(value as Record<string, unknown>);
  if (kind === 'm') {
    for (const [k, v] of entries) {
      const p = problem(v, inner, at ? `${at}.${k}` : k);
      if (p) return p;
    }
    return undefined;
  }
  for (const [k, v] of entries) {
    const child = Object.hasOwn(inner, k) ? inner[k] : undefined;
    if (child === undefined) continue;
    const p = problem(v, child, at ? `${at}.${k}` : k);
    if (p) return p;
  }
  return undefined;
}

/** Throws a 400 naming the first field whose JSON type is wrong. */
export function checkShape(body: unknown, shape: Shape | undefined): void {
  if (!shape) return;
  const p = problem(body, shape, '');
  if (p) throw new HttpError(400, `invalid JSON in request body: ${p}`);
}
