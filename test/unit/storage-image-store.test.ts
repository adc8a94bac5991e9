// The image store end to end on a temp data root: load (docker-archive, OCI),
// list/resolve, tags, delete with layer refcounts, save → load, restart, and
// refusal of corrupt or malicious archives leaving nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ImageStore, type LoadProgress } from '../../guest-agent/storage/image-store.js';
import { EngineError } from '../../guest-agent/errors.js';
import {
  buildImage,
  collect,
  dockerArchive,
  gzip,
  listTar,
  makeTar,
  ociArchive,
  sha256,
  streamOf,
  strayFiles,
  tempRoot,
} from './storage-fixtures.js';

const isInvalid = (re: RegExp) => (err: unknown) =>
  err instanceof EngineError && err.kind === 'invalid' && re.test(err.message);

async function base(): Promise<Buffer> {
  return makeTar([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', content: 'pretend-busybox', mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { path: 'etc/', type: 'dir' },
    { path: 'etc/os-release', content: 'NAME=test\n' },
  ]);
}

async function top(): Promise<Buffer> {
  return makeTar([
    { path: 'app/', type: 'dir' },
    { path: 'app/main', content: 'main' },
  ]);
}

async function saveToBuffer(store: ImageStore, names: string[]): Promise<Buffer> {
  const out = new PassThrough();
  const collected = collect(out);
  await store.save(names, out);
  return collected;
}

async function dirEntries(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await fs.readdir(dir)).sort() : [];
}

test('a docker-archive loads: list, resolve by name, id and prefix, layer dirs', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const store = new ImageStore(path.join(dir, 'data'));
  await store.init();
  const layers = [await base(), await top()];
  const built = buildImage({ layers });
  const progress: LoadProgress[] = [];
  const lines = await store.load(
    streamOf(await dockerArchive([{ layers, tags: ['busybox:latest', 'me/app:1'] }])),
    (l) => progress.push(l),
  );
  assert.deepEqual(lines, ['Loaded image: busybox:latest', 'Loaded image: me/app:1']);
  // Each layer's bar: from nothing to all of it.
  const bars = progress.filter((p) => typeof p === 'object' && p.status === 'Loading layer');
  assert.equal(new Set(bars.map((p) => typeof p === 'object' && p.id)).size, 2);
  for (const p of bars) assert.ok(typeof p === 'object' && p.total > 0 && p.current <= p.total);
  assert.ok(bars.some((p) => typeof p === 'object' && p.current === p.total));

  const [img, ...rest] = store.list();
  assert.equal(rest.length, 0);
  assert.equal(img!.id, built.id);
  assert.deepEqual(img!.repoTags, ['busybox:latest', 'me/app:1']);
  assert.equal(img!.size, 'pretend-busybox'.length + 'NAME=test\n'.length + 'main'.length);
  assert.equal(img!.created, '2024-01-02T03:04:05Z');
  assert.deepEqual(img!.config.config?.Cmd, ['sh']);

  const hex = built.id.slice(7);
  for (const ref of [
    'busybox',
    'busybox:latest',
    'docker.io/library/busybox:latest',
    'me/app:1',
    built.id,
    hex,
    hex.slice(0, 12),
    hex.slice(0, 1),
    `sha256:${hex.slice(0, 5)}`,
  ]) {
    assert.equal(store.resolve(ref)?.id, built.id, `resolve ${ref}`);
  }
  assert.equal(store.resolve(`busybox@${built.id}`)?.id, built.id);
  for (const ref of ['me/app', 'busybox:2', 'nothere', 'Bad Name', ''])
    assert.equal(store.resolve(ref), undefined, `resolve ${ref}`);

  const dirs = store.layerDirs(img!);
  assert.equal(dirs.length, 2);
  assert.equal(await fs.readFile(path.join(dirs[0]!, 'etc/os-release'), 'utf8'), 'NAME=test\n');
  assert.equal(await fs.readlink(path.join(dirs[0]!, 'bin/sh')), 'busybox');
  assert.equal(await fs.readFile(path.join(dirs[1]!, 'app/main'), 'utf8'), 'main');
  assert.ok(store.ensureLayer(built.diffIds[0]!) && store.ensureLayer(built.diffIds[1]!));
  // The stored blob is exactly the bytes whose digest is the diff_id.
  assert.equal(
    sha256(await fs.readFile(path.join(dir, 'data/image/blobs/sha256', built.diffIds[0]!.slice(7)))),
    built.diffIds[0],
  );

  // A second store on the same data root (engine restart) sees the same thing.
  const again = new ImageStore(path.join(dir, 'data'));
  await again.init();
  assert.deepEqual(again.list(), store.list());
});

test('an OCI layout with gzip layers loads, names from annotations, untagged gets its ID line', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const store = new ImageStore(path.join(dir, 'data'));
  await store.init();
  const layers = [await base()];
  const tagged = buildImage({ layers });
  const other = buildImage({ layers, config: { author: 'x' } });
  const lines = await store.load(
    streamOf(
      await ociArchive([
        { layers, gzip: true, tags: ['localhost:5000/team/tool:v1'] },
        { layers, gzip: true, config: { author: 'x' } },
      ]),
    ),
  );
  assert.deepEqual(lines, ['Loaded image: localhost:5000/team/tool:v1', `Loaded image ID: ${other.id}`]);
  assert.equal(store.resolve('localhost:5000/team/tool:v1')?.id, tagged.id);
  assert.deepEqual(store.resolve(other.id)?.repoTags, []);
  // One shared layer, unpacked once.
  assert.deepEqual(await dirEntries(path.join(dir, 'data/layers')), [tagged.diffIds[0]!.slice(7)]);
  assert.equal(
    await fs.readFile(path.join(store.layerDirs(store.resolve(other.id)!)[0]!, 'bin/busybox'), 'utf8'),
    'pretend-busybox',
  );
});

test('a gzip-compressed docker-archive (docker load -i x.tar.gz) loads', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const store = new ImageStore(path.join(dir, 'data'));
  await store.init();
  const layers = [await base()];
  const lines = await store.load(
    streamOf(gzip(await dockerArchive([{ layers, gzip: true, tags: ['gz:1'] }]))),
  );
  assert.deepEqual(lines, ['Loaded image: gz:1']);
  assert.equal(store.resolve('gz:1')?.id, buildImage({ layers }).id);
});

test('tags move between images, untag and delete keep shared layers until the last user', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const data = path.join(dir, 'data');
  const store = new ImageStore(data);
  await store.init();
  const b = await base();
  const one = buildImage({ layers: [b] });
  const two = buildImage({ layers: [b, await top()] });
  await store.load(streamOf(await dockerArchive([{ layers: [b], tags: ['app:latest'] }])));
  const progress: LoadProgress[] = [];
  await store.load(streamOf(await dockerArchive([{ layers: [b, await top()], tags: ['app:latest'] }])), (l) =>
    progress.push(l),
  );
  assert.ok(
    progress.includes(
      `The image app:latest already exists, renaming the old one with ID ${one.id} to empty string`,
    ),
  );
  assert.equal(store.resolve('app')?.id, two.id);
  assert.deepEqual(store.resolve(one.id)?.repoTags, [], 'the old image stays, untagged');

  await store.tag(one.id.slice(7, 19), 'docker.io/library/old:keep');
  assert.deepEqual(store.resolve(one.id)?.repoTags, ['old:keep']);
  await assert.rejects(store.tag(one.id, 'Bad:Tag'), isInvalid(/invalid reference format/));
  await assert.rejects(store.tag(one.id, `x@${one.id}`), isInvalid(/digest/));
  await assert.rejects(
    store.tag('missing:tag', 'y:z'),
    (e: unknown) => e instanceof EngineError && e.kind === 'not-found',
  );

  assert.equal(await store.untag('old:keep'), true);
  assert.equal(await store.untag('old:keep'), false);
  assert.equal(store.resolve('old:keep'), undefined);

  // Deleting the first image keeps the base layer: the second image uses it.
  assert.deepEqual(await store.deleteImage(one.id), [one.id]);
  assert.equal(store.resolve(one.id), undefined);
  assert.ok(store.ensureLayer(one.diffIds[0]!));
  // Deleting the second removes both layers, their blobs and its tag.
  const deleted = await store.deleteImage(two.id);
  assert.deepEqual(deleted, [two.id, ...two.diffIds]);
  assert.deepEqual(store.list(), []);
  assert.equal(store.resolve('app'), undefined);
  assert.deepEqual(await dirEntries(path.join(data, 'layers')), []);
  assert.deepEqual(await dirEntries(path.join(data, 'image/blobs/sha256')), []);
  await assert.rejects(
    store.deleteImage(two.id),
    (e: unknown) => e instanceof EngineError && e.kind === 'not-found',
  );

  const restarted = new ImageStore(data);
  await restarted.init();
  assert.deepEqual(restarted.list(), []);
});

test('save writes the dockerd 25+ layout and loads back with the same id and tags', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const store = new ImageStore(path.join(dir, 'a'));
  await store.init();
  const layers = [await base(), await top()];
  const built = buildImage({ layers });
  await store.load(
    streamOf(await dockerArchive([{ layers, tags: ['busybox:latest', 'busybox:1', 'other:x'] }])),
  );

  const archive = await saveToBuffer(store, ['busybox']);
  const entries = await listTar(archive);
  const byName = new Map(entries.map((e) => [e.name, e]));
  assert.ok(
    byName.has('oci-layout') &&
      byName.has('index.json') &&
      byName.has('manifest.json') &&
      byName.has('repositories'),
  );
  const manifest = JSON.parse(byName.get('manifest.json')!.content.toString()) as Array<{
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }>;
  assert.equal(manifest.length, 1);
  assert.equal(manifest[0]!.Config, `blobs/sha256/${built.id.slice(7)}`);
  assert.deepEqual(
    manifest[0]!.RepoTags.sort(),
    ['busybox:1', 'busybox:latest'],
    'a bare name saves all its tags, only those',
  );
  assert.deepEqual(
    manifest[0]!.Layers,
    built.diffIds.map((d) => `blobs/sha256/${d.slice(7)}`),
  );
  for (const d of built.diffIds) assert.equal(sha256(byName.get(`blobs/sha256/${d.slice(7)}`)!.content), d);
  const index = JSON.parse(byName.get('index.json')!.content.toString()) as {
    manifests: Array<{ digest: string; annotations: Record<string, string> }>;
  };
  assert.deepEqual(index.manifests.map((m) => m.annotations['io.containerd.image.name']).sort(), [
    'docker.io/library/busybox:1',
    'docker.io/library/busybox:latest',
  ]);
  assert.deepEqual(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']).sort(), [
    '1',
    'latest',
  ]);
  const ociManifest = JSON.parse(
    byName.get(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)!.content.toString(),
  ) as {
    config: { digest: string };
    layers: Array<{ mediaType: string; digest: string }>;
  };
  assert.equal(ociManifest.config.digest, built.id);
  assert.deepEqual(
    ociManifest.layers.map((l) => l.mediaType),
    ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar'],
  );
  assert.deepEqual(JSON.parse(byName.get('repositories')!.content.toString()), {
    busybox: { latest: built.diffIds[1]!.slice(7), '1': built.diffIds[1]!.slice(7) },
  });

  // Into a fresh data root: same id, same tags.
  const fresh = new ImageStore(path.join(dir, 'b'));
  await fresh.init();
  const lines = await fresh.load(streamOf(archive));
  assert.deepEqual(lines.sort(), ['Loaded image: busybox:1', 'Loaded image: busybox:latest']);
  assert.equal(fresh.resolve('busybox:1')?.id, built.id);
  assert.equal(fresh.resolve('other:x'), undefined);

  // The OCI half alone (no manifest.json) gives the same image too.
  const ociOnly = (await listTar(archive)).filter((e) => e.name !== 'manifest.json');
  const rebuilt = await makeTar(
    ociOnly.map((e) => ({ path: e.name, type: e.type === 'directory' ? 'dir' : 'file', content: e.content })),
  );
  const third = new ImageStore(path.join(dir, 'c'));
  await third.init();
  assert.deepEqual((await third.load(streamOf(rebuilt))).sort(), [
    'Loaded image: busybox:1',
    'Loaded image: busybox:latest',
  ]);
  assert.equal(third.resolve('busybox:latest')?.id, built.id);

  // By id: untagged in the archive.
  const byId = await listTar(await saveToBuffer(store, [built.id.slice(7, 19)]));
  const m2 = JSON.parse(byId.find((e) => e.name === 'manifest.json')!.content.toString()) as Array<{
    RepoTags: string[];
  }>;
  assert.deepEqual(m2[0]!.RepoTags, []);
  await assert.rejects(
    saveToBuffer(store, ['nothere']),
    (e: unknown) => e instanceof EngineError && e.kind === 'not-found',
  );
});

test('createFromLayerTar stacks a (gzip) layer on a parent and moves tags', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const store = new ImageStore(path.join(dir, 'data'));
  await store.init();
  const layers = [await base()];
  await store.load(streamOf(await dockerArchive([{ layers, tags: ['base:1'] }])));
  const parent = store.resolve('base:1')!;
  const change = await makeTar([
    { path: 'etc/.wh.os-release', content: '' },
    { path: 'hello', content: 'hi' },
  ]);
  const rec = await store.createFromLayerTar(
    streamOf(gzip(change)),
    { ...parent.config, config: { Cmd: ['/hello'] } },
    ['base:1', 'new:one'],
  );
  assert.deepEqual(rec.config.rootfs.diff_ids, [...parent.config.rootfs.diff_ids, sha256(change)]);
  assert.deepEqual(rec.repoTags, ['base:1', 'new:one']);
  assert.deepEqual(store.resolve(parent.id)?.repoTags, []);
  assert.equal(rec.id, sha256(Buffer.from(JSON.stringify(rec.config))));
  const dirs = store.layerDirs(rec);
  assert.equal(await fs.readFile(path.join(dirs[1]!, 'hello'), 'utf8'), 'hi');
  assert.ok((await fs.lstat(path.join(dirs[1]!, 'etc/os-release'))).isCharacterDevice());
  assert.equal(parent.config.rootfs.diff_ids.length, 1, "the caller's config is not changed");

  // docker import: no parent, plain tar, no tags.
  const imported = await store.createFromLayerTar(
    streamOf(await top()),
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    [],
  );
  assert.deepEqual(imported.repoTags, []);
  assert.equal(store.layerDirs(imported).length, 1);
  // No new layer.
  const same = await store.createFromLayerTar(null, { ...parent.config, config: { Cmd: ['x'] } }, []);
  assert.deepEqual(same.config.rootfs.diff_ids, parent.config.rootfs.diff_ids);
  await assert.rejects(
    store.createFromLayerTar(streamOf(gzip(await top()).subarray(0, 30)), { ...parent.config }, []),
    isInvalid(/not a valid tar/),
  );
  await assert.rejects(
    store.createFromLayerTar(
      null,
      {
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] },
      },
      [],
    ),
    (e: unknown) => e instanceof EngineError && e.kind === 'not-found',
  );
});

// Escapes aim at a victim dir in the test's temp dir (outside the data root), never at host paths.
const evilCases: Array<{ name: string; layer: (victim: string) => Promise<Buffer>; message: RegExp }> = [
  { name: '../evil', layer: () => makeTar([{ path: '../evil', content: 'x' }]), message: /"\.\.\/evil"/ },
  {
    name: '/evil',
    layer: () => makeTar([{ path: '/evil', content: 'x' }]),
    message: /"\/evil" has an absolute path/,
  },
  {
    name: 'link -> victim dir then link/passwd',
    layer: (victim) =>
      makeTar([
        { path: 'link', type: 'symlink', linkname: victim },
        { path: 'link/passwd', content: 'pwned' },
      ]),
    message: /"link\/passwd"/,
  },
  {
    name: 'hardlink to ../../etc/passwd',
    layer: () => makeTar([{ path: 'evil', type: 'link', linkname: '../../etc/passwd' }]),
    message: /\.\.\/\.\.\/etc\/passwd/,
  },
  {
    name: 'relative symlink escaping',
    layer: () => makeTar([{ path: 'evil', type: 'symlink', linkname: '../../../../victim' }]),
    message: /points outside the layer/,
  },
];

async function assertNothingStored(data: string, store: ImageStore): Promise<void> {
  assert.deepEqual(store.list(), []);
  assert.deepEqual(await dirEntries(path.join(data, 'layers')), []);
  assert.deepEqual(await dirEntries(path.join(data, 'image/blobs/sha256')), []);
  assert.deepEqual(await dirEntries(path.join(data, 'image/images')), []);
  assert.deepEqual(await dirEntries(path.join(data, 'image/tmp')), []);
}

for (const c of evilCases) {
  test(`loading an archive whose layer has ${c.name} is refused and leaves nothing`, async (t) => {
    const { dir, cleanup } = await tempRoot();
    t.after(cleanup);
    const data = path.join(dir, 'data');
    const victim = path.join(dir, 'victim');
    await fs.mkdir(victim);
    await fs.writeFile(path.join(victim, 'passwd'), 'original');
    const store = new ImageStore(data);
    await store.init();
    const passwd = await fs.readFile('/etc/passwd');
    const good = await base();
    await assert.rejects(
      store.load(
        streamOf(await dockerArchive([{ layers: [good, await c.layer(victim)], tags: ['evil:1'] }])),
      ),
      isInvalid(c.message),
    );
    await assertNothingStored(data, store);
    assert.deepEqual(await fs.readdir(victim), ['passwd']);
    assert.equal(await fs.readFile(path.join(victim, 'passwd'), 'utf8'), 'original');
    assert.equal((await fs.stat(path.join(victim, 'passwd'))).nlink, 1);
    assert.deepEqual(await fs.readFile('/etc/passwd'), passwd);
    assert.deepEqual(await strayFiles('evil*', data), []);
  });
}

test('an outer archive with ../ or absolute entries is refused', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const data = path.join(dir, 'data');
  const store = new ImageStore(data);
  await store.init();
  for (const name of ['../evil-outer', '/tmp/evil-outer', 'x/../../evil-outer']) {
    await assert.rejects(
      store.load(streamOf(await makeTar([{ path: name, content: 'x' }]))),
      isInvalid(/evil-outer/),
    );
  }
  await assertNothingStored(data, store);
  assert.deepEqual(await strayFiles('evil-outer', data), []);
});

test('a layer whose content does not match its diff_id refuses the whole load', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const data = path.join(dir, 'data');
  const store = new ImageStore(data);
  await store.init();
  const good = await base();
  const other = await top();
  // Second image's config claims the base layer's diff_id for different content.
  const archive = await dockerArchive([
    { layers: [good], tags: ['fine:1'] },
    {
      layers: [other],
      diffIds: [sha256(good).replace(/.$/, (c) => (c === '0' ? '1' : '0'))],
      tags: ['bad:1'],
    },
  ]);
  await assert.rejects(store.load(streamOf(archive)), isInvalid(/does not match|has content sha256:/));
  await assertNothingStored(data, store);
  // A config whose bytes do not match its name.
  const built = buildImage({ layers: [good] });
  const tampered = await makeTar([
    {
      path: `${built.id.slice(7)}.json`,
      content: Buffer.from(built.configBytes.toString().replace('"sh"', '"bash"')),
    },
    { path: 'l/layer.tar', content: good },
    {
      path: 'manifest.json',
      content: JSON.stringify([
        { Config: `${built.id.slice(7)}.json`, RepoTags: ['t:1'], Layers: ['l/layer.tar'] },
      ]),
    },
  ]);
  await assert.rejects(store.load(streamOf(tampered)), isInvalid(/does not match its name/));
  await assert.rejects(
    store.load(streamOf(await makeTar([{ path: 'hello', content: 'x' }]))),
    isInvalid(/not an image archive/),
  );
  await assert.rejects(
    store.load(streamOf(Buffer.from('this is not a tar at all, not even close'.repeat(20)))),
    isInvalid(/./),
  );
  await assertNothingStored(data, store);
});

test('init removes leftovers of interrupted loads and incomplete layers', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const data = path.join(dir, 'data');
  const store = new ImageStore(data);
  await store.init();
  const layers = [await base()];
  await store.load(streamOf(await dockerArchive([{ layers, tags: ['keep:1'] }])));
  const hex = sha256(layers[0]!).slice(7);
  // A crash mid-load: temp dir, a half-unpacked layer, an orphan blob.
  await fs.mkdir(path.join(data, 'image/tmp/load-x/archive'), { recursive: true });
  await fs.mkdir(path.join(data, 'layers', 'f'.repeat(64), 'diff'), { recursive: true });
  await fs.writeFile(path.join(data, 'image/blobs/sha256', 'e'.repeat(64)), 'orphan');
  // The kept image's layer dir vanished: it is unpacked again from its blob.
  await fs.rm(path.join(data, 'layers', hex), { recursive: true });
  const again = new ImageStore(data);
  await again.init();
  assert.deepEqual(await dirEntries(path.join(data, 'image/tmp')), []);
  assert.deepEqual(await dirEntries(path.join(data, 'layers')), [hex]);
  assert.ok(!existsSync(path.join(data, 'image/blobs/sha256', 'e'.repeat(64))));
  assert.equal(again.resolve('keep:1')?.id, buildImage({ layers }).id);
  assert.equal(
    await fs.readFile(path.join(again.layerDirs(again.resolve('keep:1')!)[0]!, 'bin/busybox'), 'utf8'),
    'pretend-busybox',
  );
});
