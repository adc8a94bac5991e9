// Where the engine has seen each layer in compressed form: diff_id → the
// registry blobs (digest, size, media type, repository) it was pulled from or
// pushed as. A push asks the registry for these first, so that a layer it
// already has is neither compressed nor sent again ("Layer already exists"),
// and one in another repository of the same registry can be mounted.
//
// On disk: image/distribution/<diff hex>.json, one small file per layer,
// written atomically. Entries for layers that are gone are harmless.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../../../common/atomic-file.js';
import { digestHex, isSha256Digest } from '../image-types.js';

export interface LayerSource {
  digest: string;
  size: number;
  mediaType: string;
  /** Registry domain as in references ("127.0.0.1:5000"). */
  registry: string;
  repository: string;
}

/** Enough to remember a layer in a few repositories without the file growing forever. */
const MAX_SOURCES = 16;

export class LayerSources {
  private readonly dir: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dataRoot: string) {
    this.dir = path.join(path.resolve(dataRoot), 'image', 'distribution');
  }

  private file(diffId: string): string | undefined {
    return isSha256Digest(diffId) ? path.join(this.dir, `${digestHex(diffId)}.json`) : undefined;
  }

  async get(diffId: string): Promise<LayerSource[]> {
    const file = this.file(diffId);
    if (!file) return [];
    const list = await readJson<LayerSource[]>(file).catch(() => undefined);
    return Array.isArray(list) ? list.filter((s) => isSha256Digest(s?.digest)) : [];
  }

  /** Remember a source (most recent first); writes are serialised so none is lost. */
  add(diffId: string, source: LayerSource): Promise<void> {
    const file = this.file(diffId);
    if (!file) return Promise.resolve();
    const next = this.queue.then(async () => {
      const same = (s: LayerSource) =>
        s.digest === source.digest && s.registry === source.registry && s.repository === source.repository;
      const list = [source, ...(await this.get(diffId)).filter((s) => !same(s))].slice(0, MAX_SOURCES);
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeJsonAtomic(file, list);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
