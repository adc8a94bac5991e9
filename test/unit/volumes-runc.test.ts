// Mounts end to end in real runc containers: parsed like the CLI sends them,
// volumes created and copied up, OCI mounts built, then checked from inside;
// and `docker cp` into a running container's tmpfs through /proc/<pid>/root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildOciSpec, type ContainerSpecInput } from '../../guest-agent/runtime/oci-spec.js';
import { OciRuntime } from '../../guest-agent/runtime/oci-runtime.js';
import { findBinary } from '../../guest-agent/runtime/runtime-probe.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { mountPoints } from '../../guest-agent/util/mountinfo.js';
import { VolumeStore } from '../../guest-agent/volumes/volume-store.js';
import {
  createVolumes,
  parseMounts,
  setupMounts,
  toOciMounts,
  type MountHostConfig,
} from '../../guest-agent/volumes/mount-spec.js';
import { archivePath, extractArchive, statPath } from '../../guest-agent/volumes/container-archive.js';
import { collect, listTar, makeTar, streamOf } from './storage-fixtures.js';
import { readAll } from '../helpers/streams.js';

let work: string;
let rootfs: string;
let runtime: OciRuntime;
let store: VolumeStore;

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-vol-runc-'));
  rootfs = path.join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'run'])
    await fs.mkdir(path.join(rootfs, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'echo', 'touch', 'ls', 'stat', 'grep', 'sleep', 'test', '['])
    await fs.symlink('busybox', path.join(rootfs, 'bin', a));
  await fs.writeFile(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  // Image content under a VOLUME path, owned by an app user.
  await fs.mkdir(path.join(rootfs, 'var/lib/app/conf'), { recursive: true });
  await fs.writeFile(path.join(rootfs, 'var/lib/app/conf/app.ini'), 'from-image\n');
  await fs.chown(path.join(rootfs, 'var/lib/app'), 1000, 1000);
  await fs.chown(path.join(rootfs, 'var/lib/app/conf/app.ini'), 1000, 1000);
  const runc = await findBinary('runc');
  assert.ok(runc, 'runc must be installed');
  runtime = new OciRuntime('runc', runc, path.join(work, 'state'));
  store = new VolumeStore(path.join(work, 'data'));
  await store.init();
});

after(async () => {
  await store.shutdown();
  const left = (await mountPoints()).filter((m) => m.startsWith(`${work}/`));
  for (const m of left.sort((a, b) => b.length - a.length))
    await run('umount', ['-l', m], { allowFailure: true });
  await fs.rm(work, { recursive: true, force: true });
});

/** Creates, sets up and starts a container with these mounts; everything is undone at the end of the test. */
async function startWith(
  t: { after: (fn: () => Promise<void>) => void },
  hc: MountHostConfig,
  imageVolumes: Record<string, object> | undefined,
  script: string,
) {
  const id = `berth-vol-${randomBytes(5).toString('hex')}`;
  const bundle = path.join(work, `bundle-${id}`);
  const parsed = await createVolumes(parseMounts(hc, imageVolumes), store);
  const setup = await setupMounts(parsed, store, rootfs, { copyUp: true });
  t.after(async () => {
    await runtime.delete(id, true);
    await setup.release();
    await fs.rm(bundle, { recursive: true, force: true });
    assert.equal(existsSync(`/sys/fs/cgroup/memory/${id}`), false);
  });
  const input: ContainerSpecInput = {
    id,
    rootfsPath: rootfs,
    args: ['sh', '-c', script],
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    hostname: 'vol-test',
    tty: false,
    readonlyRootfs: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    resources: {},
    network: { mode: 'host' },
    mounts: toOciMounts(setup.mounts),
    cgroupsPath: `/${id}`,
  };
  await fs.mkdir(bundle);
  await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(buildOciSpec(input)));
  const p = await runtime.start(id, bundle, { tty: false, stdin: false });
  return { p, setup, parsed };
}

test('binds, named and anonymous volumes, tmpfs: seen from inside a container as configured', async (t) => {
  const host = path.join(work, 'host-dir');
  await fs.mkdir(host);
  await fs.writeFile(path.join(host, 'hello'), 'from host\n');
  const { p, setup, parsed } = await startWith(
    t,
    {
      Binds: [`${host}:/hostro:ro`, 'named-data:/data', `${work}/made-by-v:/made`],
      Tmpfs: { '/scratch': 'size=1m,mode=750' },
      Mounts: [
        {
          Type: 'volume',
          Source: 'tmpvol',
          Target: '/tv',
          VolumeOptions: { DriverConfig: { Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=2m' } } },
        },
      ],
    },
    { '/var/lib/app': {} },
    [
      'cat /hostro/hello',
      'touch /hostro/x 2>/dev/null && echo ro-broken || echo ro-ok',
      'echo persisted > /data/file',
      'cat /var/lib/app/conf/app.ini',
      'stat -c %u:%g /var/lib/app /var/lib/app/conf/app.ini',
      'grep -E " /scratch | /tv " /proc/mounts | while read dev mnt type opts rest; do echo "$mnt $type $opts"; done',
      'ls -ld /made | cut -c1',
    ].join('; '),
  );
  const [out, err, { exitCode }] = await Promise.all([readAll(p.stdout), readAll(p.stderr), p.exited]);
  assert.equal(exitCode, 0, err);
  const lines = out.trim().split('\n');
  assert.equal(lines[0], 'from host');
  assert.equal(lines[1], 'ro-ok', 'a :ro bind is read-only inside');
  assert.equal(lines[2], 'from-image', 'the anonymous image volume was filled from the image');
  assert.deepEqual(lines.slice(3, 5), ['1000:1000', '1000:1000'], 'ownership kept by copy-up');
  const scratch = lines.find((l) => l.startsWith('/scratch '))!;
  assert.match(scratch, /^\/scratch tmpfs .*nosuid.*nodev.*noexec.*size=1024k.*mode=750/);
  assert.match(
    lines.find((l) => l.startsWith('/tv '))!,
    /^\/tv tmpfs .*size=2048k/,
  );
  assert.equal(lines.at(-1), 'd', 'a missing -v source is created as a directory');

  assert.equal(
    await fs.readFile(path.join(store.get('named-data').Mountpoint, 'file'), 'utf8'),
    'persisted\n',
  );
  const anon = parsed.find((m) => m.kind === 'volume' && m.fromImage);
  assert.ok(anon && anon.kind === 'volume' && /^[0-9a-f]{64}$/.test(anon.name!));
  assert.equal(store.get(anon.name!).anonymous, true);
  const inspect = setup.mounts.filter((m) => m.listed).map((m) => [m.Type, m.Destination, m.RW]);
  assert.deepEqual(inspect, [
    ['bind', '/hostro', false],
    ['volume', '/data', true],
    ['bind', '/made', true],
    ['volume', '/tv', true],
    ['volume', '/var/lib/app', true],
  ]);
});

test('docker cp into a running container reaches its tmpfs through /proc/<pid>/root', async (t) => {
  const { p } = await startWith(
    t,
    { Tmpfs: { '/run': 'size=1m' } },
    undefined,
    'echo inside > /run/f; while [ ! -f /run/done ]; do sleep 0.1; done; cat /run/from-cp',
  );
  const out = readAll(p.stdout);
  const pid = p.containerPid!;
  assert.ok(pid > 0);
  const root = `/proc/${pid}/root`;
  for (let i = 0; i < 50 && !(await statPath(root, [], '/run/f').catch(() => undefined)); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal((await statPath(root, [], '/run/f')).size, 7);
  const tarred = await listTar(await collect(await archivePath(root, [], '/run/f')));
  assert.deepEqual(
    tarred.map((e) => [e.name, e.content.toString()]),
    [['f', 'inside\n']],
  );
  await extractArchive(
    root,
    [],
    '/run',
    streamOf(
      await makeTar([
        { path: 'from-cp', content: 'copied in\n' },
        { path: 'done', content: '' },
      ]),
    ),
  );
  assert.equal((await p.exited).exitCode, 0);
  assert.equal(await out, 'copied in\n');
  assert.equal(existsSync(path.join(rootfs, 'run/from-cp')), false, 'it went to the tmpfs, not the rootfs');
});
