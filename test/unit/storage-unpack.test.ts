// Unpacking layer tars: metadata, OCI whiteouts → overlay whiteouts, and the
// refusal of archives that try to write outside the layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { unpackLayer, decompress, WriteBatcher } from '../../guest-agent/storage/layer-unpack.js';
import type { FileHandle } from 'node:fs/promises';
import { EngineError } from '../../guest-agent/errors.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { collect, gzip, makeTar, streamOf, tempRoot, strayFiles, sha256 } from './storage-fixtures.js';

test('a layer unpacks with modes, owners, times, links, whiteouts and opaque dirs', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const mtime = new Date('2020-05-06T07:08:09Z');
  const layer = await makeTar([
    { path: './', type: 'dir', mode: 0o755 },
    { path: 'bin/', type: 'dir', mode: 0o755 },
    { path: 'bin/tool', content: '#!/bin/sh\necho hi\n', mode: 0o4755, uid: 1000, gid: 1001, mtime },
    { path: 'bin/alias', type: 'link', linkname: 'bin/tool' },
    { path: 'bin/sh', type: 'symlink', linkname: 'tool', uid: 5, gid: 6 },
    { path: 'etc/shadow', content: 'root:*:', mode: 0o000 },
    { path: 'etc/.wh.removed', content: '' },
    { path: 'var/cache/.wh..wh..opq', content: '' },
    { path: 'var/cache/keep', content: 'k' },
    { path: 'dev/null', type: 'char' },
    { path: 'run/fifo', type: 'fifo', mode: 0o600 },
    { path: 'opt/', type: 'dir', mode: 0o700, uid: 7, gid: 8, mtime },
  ]);
  const dest = path.join(dir, 'diff');
  await fs.mkdir(dest);
  const { size } = await unpackLayer(streamOf(layer), dest);
  assert.equal(size, '#!/bin/sh\necho hi\n'.length + 'root:*:'.length + 1);

  const tool = await fs.lstat(path.join(dest, 'bin/tool'));
  assert.equal(tool.mode & 0o7777, 0o4755, 'setuid bit kept');
  assert.equal(tool.uid, 1000);
  assert.equal(tool.gid, 1001);
  assert.equal(tool.mtime.getTime(), mtime.getTime());
  assert.equal(tool.nlink, 2, 'hardlink shares the inode');
  assert.equal((await fs.lstat(path.join(dest, 'bin/alias'))).ino, tool.ino);
  assert.equal(await fs.readlink(path.join(dest, 'bin/sh')), 'tool');
  assert.equal((await fs.lstat(path.join(dest, 'bin/sh'))).uid, 5);
  assert.equal((await fs.lstat(path.join(dest, 'etc/shadow'))).mode & 0o7777, 0);

  const wh = await fs.lstat(path.join(dest, 'etc/removed'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0:0 char device');
  await assert.rejects(fs.lstat(path.join(dest, 'etc/.wh.removed')), /ENOENT/);
  const opq = await run('getfattr', [
    '--only-values',
    '-n',
    'trusted.overlay.opaque',
    path.join(dest, 'var/cache'),
  ]);
  assert.equal(opq.stdout, 'y');
  assert.equal(await fs.readFile(path.join(dest, 'var/cache/keep'), 'utf8'), 'k');
  await assert.rejects(fs.lstat(path.join(dest, 'dev/null')), /ENOENT/, 'device nodes are skipped');
  assert.ok((await fs.lstat(path.join(dest, 'run/fifo'))).isFIFO());
  const opt = await fs.lstat(path.join(dest, 'opt'));
  assert.equal(opt.mode & 0o7777, 0o700);
  assert.equal(opt.uid, 7);
  assert.equal(opt.mtime.getTime(), mtime.getTime(), 'directory times are set after their content');
});

test('compressed layers are detected by their magic bytes', async () => {
  const layer = await makeTar([{ path: 'a', content: 'hello' }]);
  assert.deepEqual(await collect(await decompress(streamOf(gzip(layer)))), layer);
  assert.deepEqual(await collect(await decompress(streamOf(layer))), layer);
  for (const tool of ['xz', 'bzip2']) {
    const packed = Buffer.from(
      (await run('sh', ['-c', `${tool} -c | base64 -w0`], { input: layer })).stdout,
      'base64',
    );
    assert.equal(sha256(await collect(await decompress(streamOf(packed)))), sha256(layer), `${tool} data`);
  }
  const broken = gzip(layer).subarray(0, 20);
  await assert.rejects(collect(await decompress(streamOf(broken))));
});

// Escapes aim at a victim dir inside the test's own temp dir (never at real host
// paths), so even a regression of these checks cannot damage the machine.
const MALICIOUS: Array<{
  name: string;
  entries: (victim: string) => Parameters<typeof makeTar>[0];
  message: RegExp;
}> = [
  { name: 'a ../ path', entries: () => [{ path: '../evil', content: 'x' }], message: /"\.\.\/evil".*\.\./ },
  {
    name: 'a deep ../ path',
    entries: () => [{ path: 'a/../../evil', content: 'x' }],
    message: /a\/\.\.\/\.\.\/evil/,
  },
  {
    name: 'an absolute path',
    entries: () => [{ path: '/evil', content: 'x' }],
    message: /"\/evil" has an absolute path/,
  },
  {
    name: 'a file written through a symlink',
    entries: (victim) => [
      { path: 'link', type: 'symlink', linkname: victim },
      { path: 'link/passwd', content: 'pwned' },
    ],
    message: /"link\/passwd".*"link", which is a symlink/,
  },
  {
    name: 'a file written through a symlinked directory deeper down',
    entries: (victim) => [
      { path: 'a/b/', type: 'dir' },
      { path: 'a/b/link', type: 'symlink', linkname: victim },
      { path: 'a/b/link/evil', content: 'pwned' },
    ],
    message: /"a\/b\/link\/evil".*"a\/b\/link", which is a symlink/,
  },
  {
    name: 'a hardlink leaving the layer',
    entries: () => [{ path: 'evil', type: 'link', linkname: '../../victim/passwd' }],
    message: /hardlink target of "evil".*\.\./,
  },
  {
    name: 'a hardlink to an absolute path',
    entries: (victim) => [{ path: 'evil', type: 'link', linkname: `${victim}/passwd` }],
    message: /absolute path/,
  },
  {
    name: 'a hardlink through a symlink',
    entries: (victim) => [
      { path: 'link', type: 'symlink', linkname: victim },
      { path: 'evil', type: 'link', linkname: 'link/passwd' },
    ],
    message: /"link", which is a symlink/,
  },
  {
    name: 'a relative symlink escaping the layer',
    entries: () => [{ path: 'a/evil', type: 'symlink', linkname: '../../victim/passwd' }],
    message: /symlink "a\/evil" -> "\.\.\/\.\.\/victim\/passwd" points outside the layer/,
  },
  {
    name: 'a hardlink to a missing file',
    entries: () => [{ path: 'evil', type: 'link', linkname: 'nothing' }],
    message: /does not point at an earlier file/,
  },
  {
    name: 'a whiteout under a symlink',
    entries: (victim) => [
      { path: 'link', type: 'symlink', linkname: victim },
      { path: 'link/.wh.passwd', content: '' },
    ],
    message: /"link", which is a symlink/,
  },
  {
    name: 'an opaque marker under a symlink',
    entries: (victim) => [
      { path: 'link', type: 'symlink', linkname: victim },
      { path: 'link/.wh..wh..opq', content: '' },
    ],
    message: /"link", which is a symlink/,
  },
];

for (const c of MALICIOUS) {
  test(`unpacking refuses ${c.name}`, async (t) => {
    const { dir, cleanup } = await tempRoot();
    t.after(cleanup);
    const victim = path.join(dir, 'victim');
    await fs.mkdir(victim);
    await fs.writeFile(path.join(victim, 'passwd'), 'original');
    const passwd = await fs.readFile('/etc/passwd');
    const dest = path.join(dir, 'a', 'b', 'diff');
    await fs.mkdir(dest, { recursive: true });
    await assert.rejects(
      unpackLayer(streamOf(await makeTar(c.entries(victim))), dest),
      (err: unknown) => err instanceof EngineError && err.kind === 'invalid' && c.message.test(err.message),
    );
    assert.deepEqual(await fs.readdir(victim), ['passwd']);
    assert.equal(await fs.readFile(path.join(victim, 'passwd'), 'utf8'), 'original');
    assert.equal((await fs.stat(path.join(victim, 'passwd'))).nlink, 1);
    assert.equal((await run('getfattr', ['-d', '-m', '-', victim])).stdout, '', 'no xattr on the victim');
    assert.deepEqual(await fs.readFile('/etc/passwd'), passwd);
    assert.deepEqual(await strayFiles('evil*', dest), []);
  });
}

test('absolute symlink targets are kept (they resolve inside the container)', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  await unpackLayer(
    streamOf(
      await makeTar([
        { path: 'etc/mtab', type: 'symlink', linkname: '/proc/self/mounts' },
        { path: 'x/y', type: 'symlink', linkname: '../etc' },
      ]),
    ),
    dir,
  );
  assert.equal(await fs.readlink(path.join(dir, 'etc/mtab')), '/proc/self/mounts');
  assert.equal(await fs.readlink(path.join(dir, 'x/y')), '../etc');
});

test('a truncated or garbage layer is refused as invalid', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const layer = await makeTar([{ path: 'big', content: 'x'.repeat(5000) }]);
  await assert.rejects(
    unpackLayer(streamOf(layer.subarray(0, 1500)), dir),
    (e: unknown) => e instanceof EngineError && e.kind === 'invalid',
  );
  await assert.rejects(
    unpackLayer(streamOf(Buffer.alloc(512, 7)), dir),
    (e: unknown) => e instanceof EngineError && e.kind === 'invalid',
  );
});

test('batched writes put every chunk in the file in order, across batches and short writes', async (t) => {
  const { dir: root, cleanup } = await tempRoot();
  t.after(cleanup);
  const chunks = Array.from({ length: 40 }, (_v, i) => Buffer.alloc(100_000 + i, i));
  const expected = Buffer.concat(chunks);
  // A real file.
  const file = path.join(root, 'out');
  const handle = await fs.open(file, 'w');
  const batch = new WriteBatcher(handle);
  for (const c of chunks) await batch.add(c);
  await batch.flush();
  await handle.close();
  assert.ok((await fs.readFile(file)).equals(expected));
  // The kernel may write less than asked (a pipe, a signal): a stand-in that takes at most 70,001 bytes a call.
  const written: Buffer[] = [];
  const short = {
    writev: async (bufs: Uint8Array[]) => {
      let left = 70_001;
      for (const b of bufs) {
        const n = Math.min(left, b.length);
        written.push(Buffer.from(b.subarray(0, n)));
        left -= n;
        if (left === 0) break;
      }
      return { bytesWritten: 70_001 - left, buffers: bufs };
    },
  };
  const shortBatch = new WriteBatcher(short as unknown as FileHandle);
  for (const c of chunks) await shortBatch.add(c);
  await shortBatch.flush();
  assert.ok(Buffer.concat(written).equals(expected));
});
