// The compose library's small parts: project names, command words, durations
// and sizes, dependency order, the config hash.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startOrder, withDependencies } from '../../compose/dependency-order.js';
import { normaliseProjectName } from '../../compose/project-name.js';
import { shellWords } from '../../compose/shell-words.js';
import { formatDuration, parseDuration, parseSize } from '../../compose/units.js';

describe('compose small parts', () => {
  it('project names are normalised as docker compose does', () => {
    assert.equal(normaliseProjectName('My App.v2'), 'myappv2');
    assert.equal(normaliseProjectName('__Under_score-'), 'under_score-');
  });

  it('a command string splits into words with shell quoting', () => {
    assert.deepEqual(shellWords(`sh -c 'echo "hi there"' a\\ b "x\\"y"`), [
      'sh',
      '-c',
      'echo "hi there"',
      'a b',
      'x"y',
    ]);
    assert.deepEqual(shellWords(`echo ''`), ['echo', '']);
    assert.throws(() => shellWords(`echo 'open`), /unterminated/);
  });

  it('durations and sizes', () => {
    assert.equal(parseDuration('1m30s'), 90e9);
    assert.equal(parseDuration('500ms'), 5e8);
    assert.equal(parseDuration(2), 2e9);
    assert.throws(() => parseDuration('soon'), /not a duration/);
    assert.equal(formatDuration(90e9), '1m30s');
    assert.equal(formatDuration(5e8), '500ms');
    assert.equal(parseSize('64m'), 64 * 1024 * 1024);
    assert.equal(parseSize('1gb'), 1024 ** 3);
    assert.throws(() => parseSize('lots'), /not a size/);
  });

  it('start order puts dependencies first and refuses cycles and unknown services', () => {
    const svc = (deps: string[]) => ({ name: '', dependsOn: Object.fromEntries(deps.map((d) => [d, {}])) });
    const services = { web: svc(['db', 'cache']), db: svc([]), cache: svc(['db']), other: svc([]) };
    assert.deepEqual(startOrder(services), ['db', 'cache', 'other', 'web']);
    assert.deepEqual(withDependencies(services, ['cache'], false), ['db', 'cache']);
    assert.deepEqual(withDependencies(services, ['cache'], true), ['cache']);
    assert.throws(
      () => startOrder({ a: svc(['b']), b: svc(['c']), c: svc(['a']) }),
      /dependency cycle: a → b → c → a/,
    );
    assert.throws(() => startOrder({ a: svc(['nope']) }), /depends on undefined service "nope"/);
  });
});
