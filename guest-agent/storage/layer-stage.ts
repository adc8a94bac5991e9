// Staging a layer: its uncompressed tar is unpacked into a new directory under a
// work dir, kept as layer.tar and hashed, in one pass over the data. The caller
// checks the diff_id against the image config before the store takes it.
import { createHash } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { writeJsonAtomic } from '../../common/atomic-file.js';
import { unpackLayer, WriteBatcher } from './layer-unpack.js';

/** A layer unpacked into a work dir, not yet part of the store. */
export interface StagedLayer {
  diffId: string;
  /** The unpacked layer (diff/ and its completion marker). */
  dir: string;
  /** The uncompressed tar. */
  blob: string;
}

/** The `complete` file beside a layer's diff/: written last, so a layer without it is half-made. */
export interface LayerMarker {
  diffId: string;
  size: number;
}

export async function stageLayer(tarStream: AsyncIterable<unknown>, workDir: string): Promise<StagedLayer> {
  const dir = await fs.mkdtemp(path.join(workDir, 'layer-'));
  const blob = path.join(dir, 'layer.tar');
  const unpacked = path.join(dir, 'unpacked');
  await fs.mkdir(path.join(unpacked, 'diff'), { recursive: true, mode: 0o755 });
  const hash = createHash('sha256');
  const handle = await fs.open(blob, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  let size: number;
  try {
    // The chunks are written to layer.tar (in batches) while the unpacker works on them, not before.
    const batch = new WriteBatcher(handle);
    const tee = async function* () {
      for await (const chunk of tarStream) {
        const b = chunk as Buffer;
        hash.update(b);
        await batch.add(b);
        yield b;
      }
      await batch.flush();
    };
    ({ size } = await unpackLayer(Readable.from(tee()), path.join(unpacked, 'diff')));
    await handle.sync();
  } finally {
    await handle.close();
  }
  const diffId = `sha256:${hash.digest('hex')}`;
  await writeJsonAtomic(path.join(unpacked, 'complete'), { diffId, size } satisfies LayerMarker);
  return { diffId, dir: unpacked, blob };
}
