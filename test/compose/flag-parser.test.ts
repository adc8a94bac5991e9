// The compose commands' flag parser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlags } from '../../cli/flag-parser.js';

const spec = {
  detach: { short: 'd' },
  'no-TTY': { short: 'T' },
  env: { short: 'e', value: true, multiple: true },
  tail: { value: true },
};

describe('flag parser', () => {
  it('reads long, short, =value, repeated and combined flags', () => {
    const r = parseFlags(['-dT', '--tail=5', '-e', 'A=1', '--env', 'B', 'svc'], spec);
    assert.deepEqual(r.flags, { detach: true, 'no-TTY': true, tail: '5', env: ['A=1', 'B'] });
    assert.deepEqual(r.positionals, ['svc']);
  });

  it('stops at the first positional for exec and run, so the command keeps its own flags', () => {
    const r = parseFlags(['-T', 'web', 'ls', '-d', '--tail'], spec, true);
    assert.deepEqual(r.flags, { 'no-TTY': true });
    assert.deepEqual(r.positionals, ['web', 'ls', '-d', '--tail']);
  });

  it('refuses unknown flags and a missing value', () => {
    assert.throws(() => parseFlags(['--nope'], spec), /unknown flag: --nope/);
    assert.throws(() => parseFlags(['--tail'], spec), /flag needs an argument: --tail/);
  });
});
