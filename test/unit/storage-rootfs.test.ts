// Container root filesystems on real overlay mounts: whiteouts and opaque dirs
// of layers, changes(), diffTar() → commit → mount, SizeRw, many layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ImageStore } from '../../guest-agent/storage/image-store.js';
import { RootfsManager } from '../../guest-agent/storage/rootfs.js';
import { changes, diffTar, dirSize } from '../../guest-agent/storage/layer-diff.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { collect, dockerArchive, listTar, makeTar, streamOf, tempRoot } from './storage-fixtures.js';

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const data = path.join(dir, 'data');
  const store = new ImageStore(data);
  await store.init();
  const rootfs = new RootfsManager(data);
  const busybox = await fs.readFile('/bin/busybox');
  const base = await makeTar([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', content: busybox, mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { path: 'etc/', type: 'dir' },
    { path: 'etc/os-release', content: 'NAME=base\n' },
    { path: 'etc/hosts', content: '127.0.0.1 localhost\n' },
    { path: 'var/cache/a', content: 'a' },
    { path: 'var/cache/b', content: 'b' },
    { path: 'tmp/', type: 'dir', mode: 0o1777 },
  ]);
  const second = await makeTar([
    { path: 'etc/.wh.os-release', content: '' },
    { path: 'var/cache/.wh..wh..opq', content: '' },
    { path: 'var/cache/new', content: 'new' },
  ]);
  await store.load(streamOf(await dockerArchive([{ layers: [base, second], tags: ['test/base:1'] }])));
  return { dir, data, store, rootfs, image: store.resolve('test/base:1')! };
}

const exists = (p: string) =>
  fs.lstat(p).then(
    () => true,
    () => false,
  );

test('whiteouts and opaque dirs of a layer hide lower content in the mounted rootfs', async (t) => {
  const { store, rootfs, image } = await setup(t);
  const merged = await rootfs.mount('c1', store.layerDirs(image));
  t.after(() => rootfs.remove('c1'));
  assert.equal(await rootfs.isMounted('c1'), true);
  assert.equal(await rootfs.mount('c1', store.layerDirs(image)), merged, 'mount is idempotent');
  assert.equal(await exists(path.join(merged, 'etc/os-release')), false, 'whited-out file is hidden');
  assert.equal(await fs.readFile(path.join(merged, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
  assert.deepEqual(
    (await fs.readdir(path.join(merged, 'var/cache'))).sort(),
    ['new'],
    'opaque dir hides lower entries',
  );
  // The layer is a working root filesystem.
  const r = await run('chroot', [
    merged,
    '/bin/sh',
    '-c',
    'echo hello from $(busybox wc -l < /etc/hosts) line',
  ]);
  assert.equal(r.stdout, 'hello from 1 line\n');
  assert.deepEqual(await rootfs.listIds(), ['c1']);
  await rootfs.unmount('c1');
  await rootfs.unmount('c1');
  assert.equal(await rootfs.isMounted('c1'), false);
});

test('changes() reports added, modified and deleted paths as dockerd does; diffTar → commit round-trips', async (t) => {
  const { store, rootfs, image, dir } = await setup(t);
  const merged = await rootfs.mount('c2', store.layerDirs(image));
  t.after(() => rootfs.remove('c2'));
  await fs.writeFile(path.join(merged, 'etc/newfile'), 'fresh');
  await fs.appendFile(path.join(merged, 'etc/hosts'), '10.0.0.1 db\n');
  await fs.rm(path.join(merged, 'bin/busybox'));
  await fs.mkdir(path.join(merged, 'data/x'), { recursive: true });
  await fs.writeFile(path.join(merged, 'data/x/f'), 'f');
  await fs.rm(path.join(merged, 'var/cache'), { recursive: true });
  await fs.mkdir(path.join(merged, 'var/cache'));
  await fs.writeFile(path.join(merged, 'var/cache/fresh'), '1');
  await fs.link(path.join(merged, 'etc/newfile'), path.join(merged, 'etc/newlink'));

  const got = await changes(rootfs.upperDir('c2'), store.layerDirs(image));
  assert.deepEqual(got, [
    { Path: '/bin', Kind: 0 },
    { Path: '/bin/busybox', Kind: 2 },
    { Path: '/data', Kind: 1 },
    { Path: '/data/x', Kind: 1 },
    { Path: '/data/x/f', Kind: 1 },
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/hosts', Kind: 0 },
    { Path: '/etc/newfile', Kind: 1 },
    { Path: '/etc/newlink', Kind: 1 },
    { Path: '/var', Kind: 0 },
    { Path: '/var/cache', Kind: 0 },
    { Path: '/var/cache/fresh', Kind: 1 },
    { Path: '/var/cache/new', Kind: 2 },
  ]);
  assert.equal(
    await dirSize(rootfs.upperDir('c2')),
    'fresh'.length + '127.0.0.1 localhost\n10.0.0.1 db\n'.length + 1 + 1,
  );

  const layer = await collect(diffTar(rootfs.upperDir('c2')));
  const entries = await listTar(layer);
  const names = entries.map((e) => e.name);
  assert.ok(names.includes('bin/.wh.busybox'), 'a deletion becomes a .wh. entry');
  assert.ok(
    names.indexOf('var/cache/.wh..wh..opq') > names.indexOf('var/cache/'),
    'a recreated dir is opaque',
  );
  assert.equal(entries.find((e) => e.name === 'etc/newfile')?.content.toString(), 'fresh');
  assert.equal(entries.find((e) => e.name === 'etc/newlink')?.type, 'link');
  assert.equal(entries.find((e) => e.name === 'etc/newlink')?.linkname, 'etc/newfile');
  assert.ok(
    !names.some((e) => e.includes('busybox') && !e.includes('.wh.')),
    'nothing from the lower layers is copied',
  );

  // Commit: the new image on a fresh container shows the container's changes.
  const committed = await store.createFromLayerTar(diffTar(rootfs.upperDir('c2')), { ...image.config }, [
    'test/committed:1',
  ]);
  assert.equal(committed.config.rootfs.diff_ids.length, 3);
  const m2 = await rootfs.mount('c3', store.layerDirs(committed));
  t.after(() => rootfs.remove('c3'));
  assert.equal(await exists(path.join(m2, 'bin/busybox')), false);
  assert.equal(await fs.readFile(path.join(m2, 'etc/newfile'), 'utf8'), 'fresh');
  assert.equal(
    (await fs.stat(path.join(m2, 'etc/newlink'))).ino,
    (await fs.stat(path.join(m2, 'etc/newfile'))).ino,
  );
  assert.equal(await fs.readFile(path.join(m2, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n10.0.0.1 db\n');
  assert.deepEqual((await fs.readdir(path.join(m2, 'var/cache'))).sort(), ['fresh']);
  assert.equal(await fs.readFile(path.join(m2, 'data/x/f'), 'utf8'), 'f');
  assert.deepEqual(
    await changes(rootfs.upperDir('c3'), store.layerDirs(committed)),
    [],
    'a fresh container has no changes',
  );

  // Removing a container unmounts it and deletes its dirs; images stay.
  await rootfs.remove('c2');
  assert.equal(await exists(path.join(dir, 'data/overlay/c2')), false);
  await rootfs.remove('c2');
  assert.equal(await rootfs.isMounted('c2'), false);
  // Its files are deleted after the removal returns (moved aside first); nothing stays behind.
  const trash = path.join(dir, 'data/overlay/.trash');
  for (let i = 0; i < 100 && (await fs.readdir(trash).catch(() => [])).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await fs.readdir(trash), []);
  // What a crash left in the trash goes at the next start.
  await fs.mkdir(path.join(trash, 'c9-1/upper/etc'), { recursive: true });
  await rootfs.emptyTrash();
  assert.equal(await exists(trash), false);
});

test('an image without layers mounts over an empty lower dir', async (t) => {
  const { store, rootfs } = await setup(t);
  const empty = await store.createFromLayerTar(
    null,
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    ['scratchy:1'],
  );
  const merged = await rootfs.mount('c4', store.layerDirs(empty));
  t.after(() => rootfs.remove('c4'));
  assert.deepEqual(await fs.readdir(merged), []);
  await fs.writeFile(path.join(merged, 'x'), 'x');
  assert.deepEqual(await changes(rootfs.upperDir('c4'), []), [{ Path: '/x', Kind: 1 }]);
});

test('an image with 130 layers mounts (overlay options stay under a page)', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  // A deep data root makes every absolute layer path long.
  const data = path.join(dir, 'a-rather-long-directory-name-for-the-data-root'.repeat(3), 'data');
  const store = new ImageStore(data);
  await store.init();
  const layers: Buffer[] = [];
  for (let i = 0; i < 130; i++)
    layers.push(
      await makeTar([
        { path: `f${i}`, content: String(i) },
        { path: 'top', content: String(i) },
      ]),
    );
  await store.load(streamOf(await dockerArchive([{ layers, tags: ['deep:1'] }])));
  const rootfs = new RootfsManager(data);
  const merged = await rootfs.mount('deep', store.layerDirs(store.resolve('deep:1')!));
  t.after(() => rootfs.remove('deep'));
  assert.equal((await fs.readdir(merged)).length, 131);
  assert.equal(await fs.readFile(path.join(merged, 'top'), 'utf8'), '129', 'the highest layer wins');
});
