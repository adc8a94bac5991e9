// The build cache: which image a step made from which parent with which
// inputs. A key is the sha256 of the parent image ID, the step's full run
// config (its command, with build args and the hash of COPY/ADD sources in
// it) and the platform; its entry, one small file written atomically, names
// the image. An entry whose image was removed is a miss and is dropped.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../../util/ids.js';
import { removeStaleTemps, writeFileAtomic } from '../../../common/atomic-file.js';
import type { ImageRecord } from '../../storage/image-types.js';

/** JSON with object keys sorted, so that equal configs give equal keys. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export class BuildCache {
  constructor(
    private readonly dir: string,
    private readonly resolve: (id: string) => ImageRecord | undefined,
  ) {}

  /** At start: entries a crash cut short before their rename are dropped (their step simply misses). */
  async init(): Promise<void> {
    await removeStaleTemps(this.dir);
  }

  key(parentId: string, config: unknown, platform: string): string {
    return sha256Hex(canonical({ parentId, config, platform }));
  }

  async get(key: string): Promise<ImageRecord | undefined> {
    const file = path.join(this.dir, key);
    let id: string;
    try {
      id = (await fs.readFile(file, 'utf8')).trim();
    } catch {
      return undefined;
    }
    const image = this.resolve(id);
    if (!image) await fs.rm(file, { force: true });
    return image;
  }

  /** Forget every entry (docker builder prune); the images themselves stay. */
  async clear(): Promise<string[]> {
    const keys = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const k of keys) await fs.rm(path.join(this.dir, k), { force: true });
    return keys;
  }

  async put(key: string, imageId: string): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(this.dir, key), imageId);
  }
}

type History = NonNullable<ImageRecord['config']['history']>;

/**
 * --cache-from: an image whose history continues the parent's history with
 * exactly this step (same created_by) supplies the step's layer, as dockerd's
 * classic builder matches images that came from elsewhere.
 */
export function matchCacheFrom(
  parent: ImageRecord | undefined,
  createdBy: string,
  candidates: ImageRecord[],
): { layer?: string; entry: History[number] } | undefined {
  const ph: History = parent?.config.history ?? [];
  const pLayers = parent?.config.rootfs.diff_ids ?? [];
  for (const c of candidates) {
    const ch: History = c.config.history ?? [];
    const cLayers = c.config.rootfs.diff_ids;
    if (ch.length <= ph.length) continue;
    if (!pLayers.every((d, i) => cLayers[i] === d)) continue;
    const samePrefix = ph.every(
      (h, i) => ch[i]!.created_by === h.created_by && Boolean(ch[i]!.empty_layer) === Boolean(h.empty_layer),
    );
    if (!samePrefix) continue;
    const next = ch[ph.length]!;
    if ((next.created_by ?? '') !== createdBy) continue;
    if (next.empty_layer) return { entry: next };
    const layer = cLayers[pLayers.length];
    if (layer) return { layer, entry: next };
  }
  return undefined;
}
