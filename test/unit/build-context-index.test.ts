// The build context read from its tar: the index answers source lookups and
// cache hashes before anything is unpacked, and the context unpacks when a
// step needs its files, or at once when the index cannot be sure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { BuildContext } from '../../guest-agent/engine/build/build-context.js';
import { treeOrder } from '../../guest-agent/engine/build/context-index.js';
import { diskTree, resolveSources, sourcesHash } from '../../guest-agent/engine/build/copy-step.js';
import { buildLayerTar, type LayerEntry } from '../fixtures/docker-archive.js';

async function withContext(
  entries: LayerEntry[] | Buffer,
  fn: (ctx: BuildContext, dir: string) => Promise<void>,
  gzip = false,
): Promise<void> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-ctx-'));
  try {
    const tar = Buffer.isBuffer(entries) ? entries : await buildLayerTar(entries);
    const dir = path.join(work, 'context');
    const ctx = await BuildContext.receive(Readable.from([gzip ? gzipSync(tar) : tar]), dir, 'Dockerfile');
    await fn(ctx, dir);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

const noDownload = async () => {
  throw new Error('no URL here');
};

const TREE: LayerEntry[] = [
  { name: 'Dockerfile', content: 'FROM scratch\n' },
  { name: 'a-b', content: 'x' },
  { name: 'a/', type: 'directory' },
  { name: 'a/z.txt', content: 'z' },
  { name: 'a/y.txt', content: 'y', mode: 0o755 },
  { name: 'deep/er/f.txt', content: 'f' }, // parents implied
  { name: 'link', type: 'symlink', linkname: 'a' },
  { name: 'hard', type: 'link', linkname: 'a/z.txt' },
];

test('paths sort as a depth-first walk with sorted names would list them', () => {
  const sorted = ['a-b', 'a/z', 'a', 'b', 'a/y/x'].sort(treeOrder);
  assert.deepEqual(sorted, ['a', 'a/y/x', 'a/z', 'a-b', 'b']);
});

test('the Dockerfile, listings and lookups come from the index, without unpacking', async () => {
  await withContext(TREE, async (ctx, dir) => {
    assert.equal(await ctx.readDockerfile('Dockerfile'), 'FROM scratch\n');
    assert.equal(existsSync(path.join(dir, 'Dockerfile')), false, 'nothing is unpacked yet');
    assert.deepEqual(await ctx.list(), [
      { rel: 'Dockerfile', isDir: false },
      { rel: 'a', isDir: true },
      { rel: 'a/y.txt', isDir: false },
      { rel: 'a/z.txt', isDir: false },
      { rel: 'a-b', isDir: false },
      { rel: 'deep', isDir: true },
      { rel: 'deep/er', isDir: true },
      { rel: 'deep/er/f.txt', isDir: false },
      { rel: 'hard', isDir: false },
      { rel: 'link', isDir: false },
    ]);
    const sources = await resolveSources(ctx, ['a/*.txt', 'deep'], 'COPY', noDownload);
    assert.deepEqual(
      sources.map((s) => [s.rel, s.isDir]),
      [
        ['a/y.txt', false],
        ['a/z.txt', false],
        ['deep', true],
      ],
    );
    await assert.rejects(
      resolveSources(ctx, ['missing'], 'COPY', noDownload),
      /file not found in build context/,
    );
    await sourcesHash(sources, ctx);
    assert.equal(existsSync(path.join(dir, 'Dockerfile')), false, 'hashing unpacks nothing');
  });
});

test('a source through a symlink is read from the unpacked files; index and files agree on every source', async () => {
  await withContext(TREE, async (ctx, dir) => {
    const [viaLink] = await resolveSources(ctx, ['link'], 'COPY', noDownload);
    assert.deepEqual([viaLink!.rel, viaLink!.isDir], ['link', true]);
    assert.equal(existsSync(path.join(dir, 'a', 'y.txt')), true, 'the symlink made the context unpack');
    const onDisk = diskTree(dir);
    // After unpacking, the index and the files agree on what each source is.
    for (const rel of ['a', 'a/y.txt', 'hard', 'deep/er']) {
      const [fromIndex] = await resolveSources(ctx, [rel], 'COPY', noDownload);
      const [fromDisk] = await resolveSources(onDisk, [rel], 'COPY', noDownload);
      assert.deepEqual(fromIndex, fromDisk, rel);
    }
    assert.equal(await fs.readFile(path.join(dir, 'hard'), 'utf8'), 'z');
    assert.equal((await fs.stat(path.join(dir, 'a', 'y.txt'))).mode & 0o777, 0o755);
  });
});

test('a Dockerfile that is a hardlink to another file of the context is read', async () => {
  await withContext(
    [
      { name: 'base.dockerfile', content: 'FROM busybox\n' },
      { name: 'Dockerfile', type: 'link', linkname: 'base.dockerfile' },
    ],
    async (ctx) => {
      assert.equal(await ctx.readDockerfile('Dockerfile'), 'FROM busybox\n');
    },
  );
});

test('cache hashes change with content and mode, not with order in the tar or compression', async () => {
  const hashOf = async (entries: LayerEntry[], gzip = false) => {
    let h = '';
    await withContext(
      entries,
      async (ctx) => {
        h = await sourcesHash(await resolveSources(ctx, ['a'], 'COPY', noDownload), ctx);
      },
      gzip,
    );
    return h;
  };
  const base = await hashOf(TREE);
  assert.equal(await hashOf([...TREE].reverse().filter((e) => e.name !== 'hard')), base);
  assert.equal(await hashOf(TREE, true), base);
  const edit = (name: string, change: Partial<LayerEntry>) =>
    TREE.map((e) => (e.name === name ? { ...e, ...change } : e));
  assert.notEqual(await hashOf(edit('a/z.txt', { content: 'Z' })), base);
  assert.notEqual(await hashOf(edit('a/z.txt', { mode: 0o600 })), base);
  assert.notEqual(await hashOf([...TREE, { name: 'a/new', content: '' }]), base);
  assert.equal(await hashOf([...TREE, { name: 'outside', content: 'o' }]), base);
});

test('a later entry replaces an earlier one, a directory with all below it', async () => {
  await withContext([...TREE, { name: 'a', content: 'now a file' }], async (ctx) => {
    assert.deepEqual(await ctx.stat('a'), { isDir: false });
    assert.equal(await ctx.stat('a/y.txt'), undefined);
  });
});

test('an entry below a symlink makes the context unpack at once; escapes are refused', async () => {
  await withContext(
    [
      { name: 'Dockerfile', content: 'FROM scratch\n' },
      { name: 'd', type: 'symlink', linkname: 'real' },
      { name: 'real/', type: 'directory' },
      { name: 'd/f', content: 'through the link' },
    ],
    async (ctx, dir) => {
      assert.equal(await fs.readFile(path.join(dir, 'real', 'f'), 'utf8'), 'through the link');
      assert.deepEqual(await ctx.stat('real/f'), { isDir: false });
    },
  );
  await assert.rejects(
    withContext([{ name: '../evil', content: 'x' }], async () => {}),
    /the build context is not usable: .*contains a "\.\." component/,
  );
  await assert.rejects(
    withContext([{ name: 'h', type: 'link', linkname: 'nothing' }], async () => {}),
    /hardlink "h" -> "nothing" does not point at an existing file/,
  );
  await assert.rejects(
    withContext(Buffer.from('not a tar at all, just text'.repeat(40)), async () => {}),
    /the build context is not usable/,
  );
});
