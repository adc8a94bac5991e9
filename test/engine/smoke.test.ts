// The shortest path a user takes: the engine answers the docker CLI, loads an
// image and runs a container in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEngine } from '../helpers/engine.js';
import { docker } from '../helpers/docker.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';

test('docker version, load and run --rm against a fresh engine', async (t) => {
  const engine = await startEngine();
  t.after(() => engine.cleanup());

  const version = await docker(engine, ['version', '--format', '{{.Server.APIVersion}}']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), '1.47');

  const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, /^Loaded image: busybox:latest$/m);

  const run = await docker(engine, ['run', '--rm', 'busybox', 'echo', 'hi']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'hi\n');
});
