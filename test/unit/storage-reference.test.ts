import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarReference, fullyQualified, parseReference } from '../../guest-agent/storage/reference.js';
import { EngineError } from '../../guest-agent/errors.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

test('references are normalised the way docker does', () => {
  assert.deepEqual(parseReference('busybox'), { domain: 'docker.io', path: 'library/busybox' });
  assert.deepEqual(parseReference('user/app:1.0'), { domain: 'docker.io', path: 'user/app', tag: '1.0' });
  assert.deepEqual(parseReference('localhost:5000/a/b'), { domain: 'localhost:5000', path: 'a/b' });
  assert.deepEqual(parseReference('localhost/x'), { domain: 'localhost', path: 'x' });
  assert.deepEqual(parseReference('ghcr.io/o/r:t@' + DIGEST), {
    domain: 'ghcr.io',
    path: 'o/r',
    tag: 't',
    digest: DIGEST,
  });
  assert.deepEqual(parseReference('index.docker.io/library/alpine'), {
    domain: 'docker.io',
    path: 'library/alpine',
  });

  assert.equal(familiarReference('docker.io/library/busybox:latest'), 'busybox:latest');
  assert.equal(familiarReference('busybox'), 'busybox:latest');
  assert.equal(familiarReference('localhost:5000/a/b'), 'localhost:5000/a/b:latest');
  assert.equal(familiarReference('docker.io/user/app:2'), 'user/app:2');
  assert.equal(familiarReference(`busybox@${DIGEST}`), `busybox@${DIGEST}`);
  assert.equal(familiarReference('docker.io/library/a/b:1'), 'library/a/b:1');

  assert.equal(fullyQualified('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(fullyQualified('user/app:2'), 'docker.io/user/app:2');
  assert.equal(fullyQualified('quay.io/x/y:z'), 'quay.io/x/y:z');
});

test('bad references are refused with "invalid reference format"', () => {
  for (const bad of [
    'Busybox',
    'busy box',
    'busybox:',
    ':tag',
    'a//b',
    '-a',
    'a:b:c',
    `busybox@sha256:abc`,
    'a'.repeat(64),
    '',
    'x:' + 't'.repeat(129),
  ]) {
    assert.throws(
      () => parseReference(bad),
      (err: unknown) =>
        err instanceof EngineError &&
        err.kind === 'invalid' &&
        err.message.startsWith('invalid reference format'),
      `expected "${bad}" to be refused`,
    );
  }
  assert.throws(() => parseReference('library/Busybox'), /must be lowercase/);
});
