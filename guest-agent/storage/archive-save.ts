// Writing image archives as dockerd 25+ does: an OCI image layout
// (oci-layout, index.json, blobs/sha256/…) that also carries the legacy
// manifest.json and repositories files, with uncompressed layers whose blob
// digests are the images' diff_ids.
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { sha256Hex } from '../util/ids.js';
import { writeTarEntry } from './layer-diff.js';
import { familiarName, familiarReference, parseReference } from './reference.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MEDIA_TYPES, digestHex } from './image-types.js';

export interface SaveImage {
  id: string;
  configBytes: Buffer;
  diffIds: string[];
  /** Fully qualified tags to record for this image. */
  refs: string[];
}

export interface SaveBlobs {
  /** Open handle of the uncompressed layer blob of a diff_id, and its size. */
  layer(diffId: string): { handle: FileHandle; size: number };
}

const EPOCH = new Date(0);

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export async function writeArchive(
  images: SaveImage[],
  blobs: SaveBlobs,
  out: NodeJS.WritableStream,
): Promise<void> {
  const pack = tar.pack();
  const produce = async (): Promise<void> => {
    const file = (name: string, data: Buffer) =>
      writeTarEntry(pack, { name, type: 'file', size: data.length, mode: 0o644, mtime: EPOCH }, data);
    await writeTarEntry(pack, { name: 'blobs/', type: 'directory', mode: 0o755, mtime: EPOCH });
    await writeTarEntry(pack, { name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: EPOCH });

    const written = new Set<string>();
    const index: unknown[] = [];
    const legacy: unknown[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of images) {
      for (const diffId of img.diffIds) {
        const hex = digestHex(diffId);
        if (written.has(hex)) continue;
        written.add(hex);
        const { handle, size } = blobs.layer(diffId);
        await writeTarEntry(
          pack,
          { name: `blobs/sha256/${hex}`, type: 'file', size, mode: 0o644, mtime: EPOCH },
          handle.createReadStream({ start: 0, autoClose: false }),
        );
      }
      const cfgHex = digestHex(img.id);
      if (!written.has(cfgHex)) {
        written.add(cfgHex);
        await file(`blobs/sha256/${cfgHex}`, img.configBytes);
      }
      const manifest = json({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, digest: img.id, size: img.configBytes.length },
        layers: img.diffIds.map((d) => ({
          mediaType: MEDIA_TYPES.ociLayer,
          digest: d,
          size: blobs.layer(d).size,
        })),
      });
      const manifestHex = sha256Hex(manifest);
      if (!written.has(manifestHex)) {
        written.add(manifestHex);
        await file(`blobs/sha256/${manifestHex}`, manifest);
      }
      const desc = {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: `sha256:${manifestHex}`,
        size: manifest.length,
      };
      if (img.refs.length === 0) index.push(desc);
      for (const ref of img.refs) {
        const p = parseReference(ref);
        index.push({
          ...desc,
          annotations: { [ANNOTATION_CONTAINERD_NAME]: ref, [ANNOTATION_REF_NAME]: p.tag ?? 'latest' },
        });
        const top = img.diffIds[img.diffIds.length - 1];
        if (top) (repositories[familiarName(p)] ??= {})[p.tag ?? 'latest'] = digestHex(top);
      }
      legacy.push({
        Config: `blobs/sha256/${cfgHex}`,
        RepoTags: img.refs.map((r) => familiarReference(r)),
        Layers: img.diffIds.map((d) => `blobs/sha256/${digestHex(d)}`),
      });
    }
    await file('index.json', json({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: index }));
    await file('manifest.json', json(legacy));
    if (Object.keys(repositories).length) await file('repositories', json(repositories));
    await file('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
    pack.finalize();
  };
  const producing = produce().catch((err: Error) => {
    pack.destroy(err);
    throw err;
  });
  const sending = pipeline(Readable.from(pack, { objectMode: false }), out).catch((err: Error) => {
    // A reader that went away must also stop the producer.
    pack.destroy(err);
    throw err;
  });
  const results = await Promise.allSettled([producing, sending]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
