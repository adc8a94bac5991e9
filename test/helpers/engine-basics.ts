// The shortest path a user takes, checked the same way against any engine
// (native or in the VM): it answers the docker CLI with API 1.47, loads the
// busybox image and runs a container in it.
import assert from 'node:assert/strict';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { docker } from './docker.js';
import { assertOkInVm } from './vm-console.js';

/** vmHome: the engine runs in the VM under this BERTH_HOME (a failed run then shows the guest's console). */
export async function assertVersionLoadAndRun(engine: { host: string }, vmHome?: string): Promise<void> {
  const version = await docker(engine, ['version', '--format', '{{.Server.APIVersion}}']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), '1.47');

  const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
  if (vmHome) await assertOkInVm(load, vmHome);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, /^Loaded image: busybox:latest$/m);

  const run = await docker(engine, ['run', '--rm', 'busybox', 'echo', 'hi']);
  if (vmHome) await assertOkInVm(run, vmHome);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'hi\n');
}
