// The env-file format of .env and env_file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnvFile } from '../../compose/dotenv.js';

const parse = (text: string, vars: Record<string, string> = {}) =>
  Object.fromEntries(parseEnvFile(text, (n) => vars[n]).map((e) => [e.key, e.value]));

describe('env files', () => {
  it('reads KEY=VALUE lines, skipping comments and blanks, with export and inline comments', () => {
    assert.deepEqual(parse('# c\n\nA=1\nexport B = two words \nC=x # comment\nD=\n'), {
      A: '1',
      B: 'two words',
      C: 'x',
      D: '',
    });
  });

  it('single quotes are literal, double quotes take escapes', () => {
    assert.deepEqual(parse(`A='$X \\n'\nB="line\\nnext \\"q\\""\nC="#not a comment"`, { X: 'no' }), {
      A: '$X \\n',
      B: 'line\nnext "q"',
      C: '#not a comment',
    });
  });

  it('interpolates from the lookup, then earlier keys; a bare KEY takes the lookup value', () => {
    const entries = parseEnvFile(
      'A=${SHELL_VAR}\nB=${A}-b\nC=plain\nD\n',
      (n) => ({ SHELL_VAR: 's', D: 'd' })[n],
    );
    assert.deepEqual(
      entries.map((e) => [e.key, e.value, e.usedVariables]),
      [
        ['A', 's', true],
        ['B', 's-b', true],
        ['C', 'plain', false],
        ['D', 'd', true],
      ],
    );
  });

  it('errors name the line', () => {
    assert.throws(
      () => parseEnvFile('A=1\nnot valid=2\n'),
      (e: Error & { line?: number }) => e.line === 2,
    );
    assert.throws(() => parseEnvFile('A="open\n'), /unterminated double quote/);
  });
});
