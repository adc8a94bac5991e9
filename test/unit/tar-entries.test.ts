// Reading a tar's entries (eachTarEntry): an archive that stops right after
// its last entry's data, or between entries, is whole, as Go's archive/tar
// reads it (the docker CLI sends such a build context for `build -f -`); one
// cut inside a header or inside an entry's data is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { eachTarEntry } from '../../guest-agent/storage/layer-unpack.js';
import { buildLayerTar } from '../fixtures/docker-archive.js';

async function entriesOf(bytes: Buffer): Promise<string[]> {
  const out: string[] = [];
  await eachTarEntry(Readable.from([bytes]), async (entry) => {
    let text = '';
    for await (const c of entry) text += (c as Buffer).toString();
    out.push(`${entry.header.name}=${text}`);
  });
  return out;
}

test('a tar without its last padding or its trailer is whole; one cut in a header or in data is refused', async () => {
  const whole = await buildLayerTar([
    { name: 'a.txt', content: 'first' },
    { name: 'b.txt', content: 'x'.repeat(700) },
    { name: 'Dockerfile', content: 'FROM scratch\n' },
  ]);
  const all = ['a.txt=first', `b.txt=${'x'.repeat(700)}`, 'Dockerfile=FROM scratch\n'];
  assert.deepEqual(await entriesOf(whole), all);
  // Layout: a.txt 0–1024, b.txt 1024–2560, Dockerfile's header 2560–3072 and its 13 bytes from 3072.
  assert.deepEqual(await entriesOf(whole.subarray(0, 3072 + 13)), all, 'no padding after the last data');
  assert.deepEqual(await entriesOf(whole.subarray(0, 3584)), all, 'no trailer');
  assert.deepEqual(await entriesOf(whole.subarray(0, 2560)), all.slice(0, 2), 'cut between entries');
  // A size written with leading spaces (as some tar writers pad it) is read the same way.
  const spaced = Buffer.from(whole);
  spaced.write('        015\0', 3072 - 512 + 124, 'latin1'); // the Dockerfile's 13 bytes, in octal
  spaced.fill(' ', 3072 - 512 + 148, 3072 - 512 + 156);
  let sum = 0;
  for (let i = 3072 - 512; i < 3072; i++) sum += spaced[i]!;
  spaced.write(`${sum.toString(8).padStart(6, '0')}\0 `, 3072 - 512 + 148, 'latin1');
  assert.deepEqual(await entriesOf(spaced.subarray(0, 3072 + 13)), all, 'a space-padded size');
  for (const [cut, where] of [
    [3072 + 5, "in the last entry's data"],
    [1024 + 512 + 100, "in an entry's data"],
    [2560 + 100, 'in a header'],
    [3072, 'after a header, before its data'],
  ] as const) {
    await assert.rejects(entriesOf(whole.subarray(0, cut)), /Unexpected end of data|premature close/i, where);
  }
});
