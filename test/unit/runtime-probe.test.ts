// Choosing the OCI runtime: crun by default (in a private mount namespace on a hybrid
// cgroup layout), runc when asked or when crun cannot work here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cgroupLayout,
  chooseRuntime,
  findBinary,
  hybridCgroup2Mounts,
  privateCgroupV1Launcher,
} from '../../guest-agent/runtime/runtime-probe.js';
import { EngineError } from '../../guest-agent/errors.js';

const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V1 = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`;
const V2 = `30 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
`;

test('cgroupLayout tells v1, v2 and hybrid apart', async () => {
  assert.equal(await cgroupLayout(HYBRID), 'hybrid');
  assert.equal(await cgroupLayout(V1), 'v1');
  assert.equal(await cgroupLayout(V2), 'v2');
  assert.equal(await cgroupLayout(''), 'none');
});

test('on a hybrid layout the cgroup2 mounts are found, and only plain paths go into the wrapper', () => {
  assert.deepEqual(hybridCgroup2Mounts(HYBRID), ['/sys/fs/cgroup/unified']);
  assert.deepEqual(hybridCgroup2Mounts(V1), []);
  assert.deepEqual(hybridCgroup2Mounts(V2), []);
  const launcher = privateCgroupV1Launcher('/usr/bin/unshare', ['/sys/fs/cgroup/unified']);
  assert.ok(launcher);
  const cmd = launcher('/usr/bin/crun', ['--root', '/r', 'state', 'x']);
  assert.equal(cmd.file, '/usr/bin/unshare');
  assert.deepEqual(cmd.args.slice(0, 4), ['--mount', '--propagation', 'private', '--']);
  assert.deepEqual(cmd.args.slice(-5), ['/usr/bin/crun', '--root', '/r', 'state', 'x']);
  assert.match(cmd.args.join(' '), /umount \/sys\/fs\/cgroup\/unified && exec/);
  assert.equal(privateCgroupV1Launcher('/usr/bin/unshare', ['/sys/fs/cgroup/uni fied;rm']), undefined);
  assert.equal(privateCgroupV1Launcher('/usr/bin/unshare', []), undefined);
});

test('findBinary finds executables on PATH and nothing for missing names', async () => {
  assert.equal(await findBinary('sh'), (await findBinary('/bin/sh')) && (await findBinary('sh')));
  assert.ok((await findBinary('sh'))?.endsWith('/sh'));
  assert.equal(await findBinary('berth-no-such-binary'), undefined);
  assert.equal(await findBinary('/etc/passwd'), undefined); // not executable
});

async function runsAContainer(rt: Awaited<ReturnType<typeof chooseRuntime>>['runtime']): Promise<void> {
  // A minimal container (static busybox, no cgroup limits) proves the runtime works on this host.
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-probe-test-'));
  const id = `berth-probe-test-${process.pid}`;
  try {
    await fs.mkdir(path.join(work, 'rootfs/bin'), { recursive: true });
    await fs.mkdir(path.join(work, 'rootfs/dev'));
    await fs.copyFile('/bin/busybox', path.join(work, 'rootfs/bin/busybox'));
    await fs.chmod(path.join(work, 'rootfs/bin/busybox'), 0o755);
    const config = {
      ociVersion: '1.0.2',
      process: { user: { uid: 0, gid: 0 }, args: ['/bin/busybox', 'true'], cwd: '/', env: [] },
      root: { path: path.join(work, 'rootfs') },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
      linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }], cgroupsPath: `/${id}` },
    };
    await fs.writeFile(path.join(work, 'config.json'), JSON.stringify(config));
    const p = await rt.start(id, work, { tty: false, stdin: false });
    assert.equal((await p.exited).exitCode, 0);
  } finally {
    await rt.delete(id, true);
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(rt.stateRoot, { recursive: true, force: true });
    await fs.rm(`${rt.stateRoot}.exec`, { recursive: true, force: true });
  }
}

test('explicit runc gets runc', async () => {
  const stateRoot = path.join(os.tmpdir(), `berth-probe-state-${process.pid}-a`);
  const { runtime, note } = await chooseRuntime('runc', stateRoot);
  assert.equal(runtime.name, 'runc');
  assert.equal(note, undefined);
  await runsAContainer(runtime);
});

test('the default choice is a runtime that works here; a fallback says why', async () => {
  const stateRoot = path.join(os.tmpdir(), `berth-probe-state-${process.pid}-b`);
  const t0 = performance.now();
  // No cache: the probe itself runs.
  const { runtime, note } = await chooseRuntime(undefined, stateRoot, { probeCache: null });
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `choosing took ${ms} ms`);
  const hybrid = (await cgroupLayout()) === 'hybrid';
  if (runtime.name === 'runc') {
    assert.ok(note && note.length > 10, 'falling back to runc must say why');
    if (hybrid && (await findBinary('crun'))) assert.match(note, /hybrid/);
  } else if (runtime.wrapped) {
    assert.ok(hybrid, 'crun is wrapped only on a hybrid layout');
    assert.match(note ?? '', /hybrid cgroup v1\+v2 layout; it runs in a private mount namespace/);
  } else {
    assert.equal(note, undefined);
  }
  await runsAContainer(runtime);
  // The wrapper unmounted cgroup2 in its own namespace only.
  if (hybrid) assert.equal(await cgroupLayout(), 'hybrid');
  // The probe cleaned up after itself.
  assert.equal(
    (await fs.readdir('/sys/fs/cgroup/memory').catch(() => [] as string[])).some((d) =>
      d.startsWith('berth-probe-'),
    ),
    false,
  );
});

test('explicit crun either works here or fails with a clear way out', async () => {
  const stateRoot = path.join(os.tmpdir(), `berth-probe-state-${process.pid}-c`);
  const crunPresent = (await findBinary('crun')) !== undefined;
  try {
    const { runtime } = await chooseRuntime('crun', stateRoot);
    assert.equal(runtime.name, 'crun');
    await runsAContainer(runtime);
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    assert.equal(err.kind, 'unavailable');
    assert.match(err.message, crunPresent ? /--runtime runc/ : /apt-get install -y crun/);
  }
  assert.equal(existsSync(stateRoot) && (await fs.readdir(stateRoot)).length > 0, false);
});

test('the crun verdict is remembered per boot, and a verdict for another key is not used', async (t) => {
  if ((await cgroupLayout()) !== 'hybrid' || !(await findBinary('crun'))) {
    t.skip('no crun probe on this host: crun is missing or the cgroup layout is not hybrid');
    return;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-probe-cache-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const cache = path.join(dir, 'probe.json');
  const first = await chooseRuntime(undefined, path.join(dir, 'a'), { probeCache: cache });
  const stored = JSON.parse(await fs.readFile(cache, 'utf8')) as {
    key: string;
    ok: boolean;
    wrapped?: boolean;
  };
  assert.equal(stored.ok, first.runtime.name === 'crun');
  assert.equal(stored.wrapped ?? false, first.runtime.wrapped);
  assert.match(stored.key, /:hybrid:/);

  // A remembered verdict decides without a probe: a forged one for this key is believed…
  await fs.writeFile(cache, JSON.stringify({ ...stored, ok: !stored.ok, reason: 'forged' }));
  const second = await chooseRuntime(undefined, path.join(dir, 'b'), { probeCache: cache });
  assert.equal(second.runtime.name, stored.ok ? 'runc' : 'crun');
  assert.equal(second.runtime.wrapped, false);
  // …and one for another boot or binary is not.
  await fs.writeFile(cache, JSON.stringify({ ...stored, key: 'another-boot', ok: !stored.ok }));
  const third = await chooseRuntime(undefined, path.join(dir, 'c'), { probeCache: cache });
  assert.equal(third.runtime.name, first.runtime.name);
  assert.equal(third.runtime.wrapped, first.runtime.wrapped);
});
