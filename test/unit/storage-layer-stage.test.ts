// A large layer is staged on a worker thread (layer-stage-client.ts): what it
// leaves on disk is what staging on the engine's thread leaves, its errors keep
// their kind, and the engine's --userns-remap reaches it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../guest-agent/errors.js';
import { decompressedLayer, stageLayer } from '../../guest-agent/storage/layer-stage.js';
import { stageLayerOnWorker } from '../../guest-agent/storage/layer-stage-client.js';
import { setIdMaps } from '../../guest-agent/util/id-map.js';
import { gzip, makeTar, sha256, streamOf, tempRoot } from './storage-fixtures.js';

/** Every entry under dir: its path, type, mode, owner, content hash, and time if the tar gave one (app/). */
async function describeTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await fs.readdir(dir, { recursive: true })).sort()) {
    const p = path.join(dir, name);
    const st = await fs.lstat(p);
    const what = st.isFile() ? sha256(await fs.readFile(p)) : st.isSymbolicLink() ? await fs.readlink(p) : '';
    out.push(
      `${name} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${name.startsWith('diff/app') ? st.mtimeMs : '-'} ${what}`,
    );
  }
  return out;
}

test('a layer staged on the worker is the one staged on the engine thread, byte for byte', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const big = randomBytes(6 * 1024 * 1024);
  const layer = await makeTar([
    { path: 'app/', type: 'dir', mode: 0o750, uid: 10, gid: 20 },
    { path: 'app/big.bin', content: big, mode: 0o640, uid: 10, gid: 20 },
    { path: 'app/run', content: '#!/bin/sh\n', mode: 0o4755 },
    { path: 'app/link', type: 'symlink', linkname: 'run' },
    { path: 'etc/.wh.gone', content: '' },
  ]);
  await fs.mkdir(path.join(dir, 'a'));
  await fs.mkdir(path.join(dir, 'b'));
  const here = await stageLayer(streamOf(layer), path.join(dir, 'a'));
  const there = await stageLayerOnWorker(streamOf(layer), path.join(dir, 'b'));
  assert.equal(there.diffId, sha256(layer));
  assert.equal(there.diffId, here.diffId);
  assert.ok((await fs.readFile(there.blob)).equals(layer), 'layer.tar kept whole');
  assert.deepEqual(await describeTree(there.dir), await describeTree(here.dir));
  assert.ok((await fs.readFile(path.join(there.dir, 'diff/app/big.bin'))).equals(big));
});

test('the worker refuses a hostile layer with the engine thread’s error and kind', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const layer = await makeTar([{ path: '../escape', content: 'x' }]);
  await assert.rejects(stageLayerOnWorker(streamOf(layer), dir), (err: unknown) => {
    assert.ok(err instanceof EngineError, String(err));
    assert.equal(err.kind, 'invalid');
    assert.match(err.message, /refusing the archive/);
    return true;
  });
});

test('a failing download ends the worker and is the error the caller sees', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const layer = await makeTar([{ path: 'f', content: randomBytes(3 * 1024 * 1024) }]);
  const broken = streamOf(layer.subarray(0, 1024 * 1024));
  const failing = (async function* () {
    for await (const c of broken) yield c;
    throw new Error('the registry hung up');
  })();
  await assert.rejects(
    stageLayerOnWorker(failing as unknown as NodeJS.ReadableStream, dir),
    /the registry hung up/,
  );
});

test('with --userns-remap the worker writes the host ids', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  setIdMaps({
    uid: [{ containerID: 0, hostID: 100000, size: 65536 }],
    gid: [{ containerID: 0, hostID: 100000, size: 65536 }],
  });
  t.after(() => setIdMaps(undefined));
  const layer = await makeTar([{ path: 'owned', content: 'x', uid: 5, gid: 6 }]);
  const staged = await stageLayerOnWorker(streamOf(layer), dir);
  const st = await fs.lstat(path.join(staged.dir, 'diff/owned'));
  assert.deepEqual([st.uid, st.gid], [100005, 100006]);
});

test('a gzip layer is decompressed where it is staged: on the worker as on the engine thread', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const big = randomBytes(6 * 1024 * 1024);
  const layer = await makeTar([
    { path: 'app/', type: 'dir', mode: 0o750 },
    { path: 'app/big.bin', content: big, mode: 0o640 },
    { path: 'app/run', content: '#!/bin/sh\n', mode: 0o755 },
  ]);
  const compressed = gzip(layer);
  await fs.mkdir(path.join(dir, 'a'));
  await fs.mkdir(path.join(dir, 'b'));
  const here = await stageLayer(decompressedLayer(streamOf(compressed), 'gzip'), path.join(dir, 'a'));
  // In socket-sized pieces, as a download delivers them: the worker gets them in batches.
  const pieces = (async function* () {
    for (let at = 0; at < compressed.length; at += 64 * 1024) yield compressed.subarray(at, at + 64 * 1024);
  })();
  const there = await stageLayerOnWorker(
    pieces as unknown as NodeJS.ReadableStream,
    path.join(dir, 'b'),
    'gzip',
  );
  assert.equal(here.diffId, sha256(layer));
  assert.equal(there.diffId, sha256(layer));
  assert.ok((await fs.readFile(there.blob)).equals(layer), 'layer.tar is the uncompressed tar');
  assert.deepEqual(await describeTree(there.dir), await describeTree(here.dir));
  assert.ok((await fs.readFile(path.join(there.dir, 'diff/app/big.bin'))).equals(big));
});

test('a corrupt or truncated gzip layer is refused as invalid, on the worker and on the engine thread', async (t) => {
  const { dir, cleanup } = await tempRoot();
  t.after(cleanup);
  const compressed = gzip(await makeTar([{ path: 'f', content: randomBytes(5 * 1024 * 1024) }]));
  const corrupt = Buffer.from(compressed);
  corrupt[corrupt.length - 5]! ^= 0xff; // the trailer's checksum
  const truncated = compressed.subarray(0, compressed.length - 7);
  const small = gzip(await makeTar([{ path: 'f', content: 'x\n' }]));
  const smallTruncated = small.subarray(0, small.length - 7);
  // zlib reports a truncated stream at its end, after the pipe into it is done: that error must not escape.
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  let n = 0;
  for (const [what, bytes, message] of [
    ['corrupt', corrupt, /not a valid tar archive: incorrect data check/],
    ['truncated', truncated, /not a valid tar archive: unexpected end of file/],
    ['small and truncated', smallTruncated, /not a valid tar archive: unexpected end of file/],
  ] as const) {
    for (const onWorker of [false, true]) {
      const work = path.join(dir, String(n++));
      await fs.mkdir(work);
      const staging = onWorker
        ? stageLayerOnWorker(streamOf(bytes), work, 'gzip')
        : stageLayer(decompressedLayer(streamOf(bytes), 'gzip'), work);
      await assert.rejects(staging, (err: unknown) => {
        assert.ok(err instanceof EngineError, `${what}, worker ${onWorker}: ${String(err)}`);
        assert.equal(err.kind, 'invalid');
        assert.match(err.message, message);
        return true;
      });
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(uncaught, []);
});
