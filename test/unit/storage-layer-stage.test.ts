// A large layer is staged on a worker thread (layer-stage-client.ts): what it
// leaves on disk is what staging on the engine's thread leaves, its errors keep
// their kind, and the engine's --userns-remap reaches it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../guest-agent/errors.js';
import { stageLayer } from '../../guest-agent/storage/layer-stage.js';
import { stageLayerOnWorker } from '../../guest-agent/storage/layer-stage-client.js';
import { setIdMaps } from '../../guest-agent/util/id-map.js';
import { makeTar, sha256, streamOf, tempRoot } from './storage-fixtures.js';

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
