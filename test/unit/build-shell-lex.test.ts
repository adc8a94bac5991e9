// Word expansion as the classic builder does it for ENV, COPY, WORKDIR, ….
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envMap, expandWord, expandWords } from '../../guest-agent/engine/build/shell-lex.js';

const env = envMap(['A=apple', 'EMPTY=', 'SP=a b', 'A=avocado']);
const x = (w: string) => expandWord(w, env);

test('variables, braces and unset ones', () => {
  assert.equal(x('$A'), 'avocado', 'the later definition wins');
  assert.equal(x('${A}pie'), 'avocadopie');
  assert.equal(x('$NOPE-x'), '-x');
  assert.equal(x('cost: $'), 'cost: $');
  assert.equal(x('$1'), '');
});

test('${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}, ${VAR:?msg}', () => {
  assert.equal(x('${NOPE:-dflt}'), 'dflt');
  assert.equal(x('${EMPTY:-dflt}'), 'dflt');
  assert.equal(x('${EMPTY-dflt}'), '');
  assert.equal(x('${A:-dflt}'), 'avocado');
  assert.equal(x('${A:+alt}'), 'alt');
  assert.equal(x('${EMPTY:+alt}'), '');
  assert.equal(x('${EMPTY+alt}'), 'alt');
  assert.equal(x('${NOPE:-$A/x}'), 'avocado/x');
  assert.throws(() => x('${NOPE:?must be set}'), /NOPE: must be set/);
  assert.throws(() => x('${A'), /missing '}'/);
  assert.throws(() => x('${A%x}'), /unsupported modifier/);
});

test('quotes and escapes', () => {
  assert.equal(x(`'$A'`), '$A');
  assert.equal(x(`"$A b"`), 'avocado b');
  assert.equal(x(`"a\\"b"`), 'a"b');
  assert.equal(x(`"a\\nb"`), 'a\\nb', 'other escapes stay in double quotes');
  assert.equal(x('\\$A'), '$A');
  assert.equal(x('x\\ y'), 'x y');
  assert.equal(expandWord('`$A', env, '`'), '$A');
  assert.throws(() => x(`"open`), /matching double-quote/);
  assert.throws(() => x(`'open`), /matching single-quote/);
});

test('several words: unquoted whitespace splits, also in values', () => {
  assert.deepEqual(expandWords('80 $SP "c d"', env), ['80', 'a', 'b', 'c d']);
  assert.deepEqual(expandWords(`'' x`, env), ['', 'x']);
});
