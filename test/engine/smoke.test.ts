// The shortest path a user takes: the engine answers the docker CLI, loads an
// image and runs a container in it.
import { test } from 'node:test';
import { startEngine } from '../helpers/engine.js';
import { assertVersionLoadAndRun } from '../helpers/engine-basics.js';

test('docker version, load and run --rm against a fresh engine', async (t) => {
  const engine = await startEngine();
  t.after(() => engine.cleanup());

  await assertVersionLoadAndRun(engine);
});
