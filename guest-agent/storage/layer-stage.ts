// Staging a layer: its tar (decompressed here when it comes compressed) is
// unpacked into a new directory under a work dir, kept as layer.tar and hashed,
// in one pass over the data. The caller checks the diff_id against the image
// config before the store takes it.
import { createHash } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { pipeline, Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { writeJsonAtomic } from '../../common/atomic-file.js';
import { createLayerGunzip, unpackLayer, WriteBatcher } from './layer-unpack.js';

/** How the bytes handed to staging are compressed (the caller has checked they can be decompressed). */
export type StageCompression = 'none' | 'gzip' | 'zstd';

const zstdDecompress = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;

/** The tar inside a layer's bytes: their decompressor's output, failing with their failure or its own. */
export function decompressedLayer(
  input: NodeJS.ReadableStream,
  compression: StageCompression,
): NodeJS.ReadableStream {
  if (compression === 'none') return input;
  let decompressor: Transform;
  if (compression === 'gzip') decompressor = createLayerGunzip();
  else if (zstdDecompress) decompressor = zstdDecompress();
  else throw new Error(`this Node.js (${process.version}) cannot decompress zstd`);
  // A failure of either destroys the decompressor with it. zlib may fail after pipeline() is done with it (a
  // truncated stream shows at its end): the error stays on the stream for its reader, who may be gone.
  decompressor.on('error', () => undefined);
  pipeline(input, decompressor, () => undefined);
  return decompressor;
}

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
