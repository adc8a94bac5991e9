// Compose interpolation: every form the Compose Specification lists, and the errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpolate, InterpolationError } from '../../compose/interpolate.js';

const vars: Record<string, string> = { SET: 'value', EMPTY: '' };
const lookup = (n: string) => vars[n];
const i = (text: string) => interpolate(text, lookup).value;

describe('interpolate', () => {
  it('substitutes $VAR and ${VAR}, and unset ones as empty (reported)', () => {
    assert.equal(i('a $SET b ${SET}c'), 'a value b valuec');
    const unset: string[] = [];
    assert.equal(interpolate('[${NOPE}][$NOPE2]', lookup, (n) => unset.push(n)).value, '[][]');
    assert.deepEqual(unset, ['NOPE', 'NOPE2']);
  });

  it('defaults: :- for unset or empty, - for unset only', () => {
    assert.equal(i('${NOPE:-d}'), 'd');
    assert.equal(i('${EMPTY:-d}'), 'd');
    assert.equal(i('${EMPTY-d}'), '');
    assert.equal(i('${NOPE-d}'), 'd');
    assert.equal(i('${SET:-d}'), 'value');
    assert.equal(i('${NOPE:-${SET}-x}'), 'value-x', 'nested');
  });

  it('alternatives: :+ and +', () => {
    assert.equal(i('${SET:+alt}'), 'alt');
    assert.equal(i('${EMPTY:+alt}'), '');
    assert.equal(i('${EMPTY+alt}'), 'alt');
  });

  it('required: :? and ? fail with the message', () => {
    assert.throws(
      () => i('${NOPE:?give NOPE a value}'),
      /required variable NOPE is missing a value: give NOPE a value/,
    );
    assert.throws(() => i('${EMPTY:?}'), /required variable EMPTY is missing a value$/);
    assert.equal(i('${EMPTY?x}'), '');
    assert.throws(() => i('${NOPE?x}'), InterpolationError);
  });

  it('$$ is a literal $, and a lone $ stays', () => {
    assert.equal(i('$$SET $${SET} cost $ 5'), '$SET ${SET} cost $ 5');
    assert.equal(interpolate('$$HOME', lookup).usedVariables, false);
    assert.equal(interpolate('${SET}', lookup).usedVariables, true);
  });

  it('bad syntax is an error naming the text', () => {
    assert.throws(() => i('${SET'), /invalid interpolation format in "\$\{SET": no closing/);
    assert.throws(() => i('${}'), /has no variable name/);
    assert.throws(() => i('${SET:x}'), /unknown operator/);
    assert.throws(() => i('${1abc}'), /has no variable name/);
  });
});
