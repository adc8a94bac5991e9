// crun wrapped in a private mount namespace (hybrid cgroup hosts) keeps a copy of
// the engine's mounts for its container's life; the copies of other containers'
// root filesystems are dropped from it once the container runs, so a docker stop
// that unmounts one leaves nothing alive behind. Real crun, real mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildOciSpec } from '../../guest-agent/runtime/oci-spec.js';
import { decodeMountPoints } from '../../guest-agent/util/mountinfo.js';
import { chooseRuntime } from '../../guest-agent/runtime/runtime-probe.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { plainSpecInput } from '../helpers/oci-process.js';

test('mount points are read from mountinfo with its octal escapes decoded', () => {
  const info = [
    '26 1 254:0 / / rw - ext4 /dev/vda rw',
    '40 26 0:40 / /data/overlay/a/merged rw - overlay overlay rw',
    '41 26 0:41 / /data/overlay/b\\040c/merged rw - overlay overlay rw',
    '',
  ].join('\n');
  assert.deepEqual(decodeMountPoints(info), ['/', '/data/overlay/a/merged', '/data/overlay/b c/merged']);
});

test('a running wrapped crun drops its copies of the engine root filesystems', async (t) => {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-mount-copies-'));
  const other = path.join(work, 'overlay', 'other', 'merged');
  const id = `berth-copies-${randomBytes(5).toString('hex')}`;
  const { runtime } = await chooseRuntime('crun', path.join(work, 'state'), { probeCache: null });
  if (!runtime.wrapped) {
    await fs.rm(work, { recursive: true, force: true });
    t.skip('crun runs unwrapped on this host (no hybrid cgroup layout): it shares the engine mounts');
    return;
  }
  t.after(async () => {
    await runtime.delete(id, true);
    await run('umount', [other], { allowFailure: true });
    await fs.rm(work, { recursive: true, force: true });
  });
  runtime.dropCopiesOfMountsUnder([path.join(work, 'overlay')]);
  // Another container's root filesystem, as the engine mounts it.
  await fs.mkdir(other, { recursive: true });
  await run('mount', ['-t', 'tmpfs', 'tmpfs', other]);
  const rootfs = path.join(work, 'rootfs');
  for (const d of ['bin', 'proc', 'dev']) await fs.mkdir(path.join(rootfs, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const bundle = path.join(work, 'bundle');
  await fs.mkdir(bundle);
  await runtime.writeConfig(
    bundle,
    buildOciSpec(plainSpecInput(id, rootfs, ['/bin/busybox', 'sleep', '100'])),
  );
  const p = await runtime.start(id, bundle, { tty: false, stdin: false });
  const copied = async () => (await fs.readFile(`/proc/${p.pid}/mountinfo`, 'utf8')).includes(` ${other} `);
  assert.equal(await copied(), true, 'crun started with a copy of the other root filesystem');
  const deadline = Date.now() + 10_000;
  while (await copied()) {
    assert.ok(Date.now() < deadline, 'the copy was never dropped');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The container runs on, and the engine's own mount is untouched.
  assert.equal((await runtime.state(id))?.status, 'running');
  assert.ok((await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(` ${other} `));
  await runtime.kill(id, 'KILL');
  assert.equal((await p.exited).exitCode, 137);
});
