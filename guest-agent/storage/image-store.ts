// The engine's images: content-addressed blobs, unpacked layers, tags.
//
// On disk, under the data root:
//   image/blobs/sha256/<hex>   configs (exact bytes) and uncompressed layer tars named by diff_id
//   image/images/<hex>.json    one per image: its existence is the commit point of a load
//   image/repositories.json    tags: fully qualified reference → image id
//   image/tmp/                 work dirs of loads in progress (removed at init)
//   layers/<hex>/diff          a layer unpacked once per diff_id; layers/<hex>/complete marks it whole
//
// Writes are ordered so that a crash leaves only garbage that init() removes:
// blobs and layers are renamed into place first, then the image record, then tags.
import { promises as fs, existsSync, createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { EngineError, invalid, notFound } from '../errors.js';
import { log } from '../util/logger.js';
import { run } from '../util/subprocess.js';
import { sha256Hex, shortId } from '../util/ids.js';
import {
  readJson,
  removeStaleTemps,
  writeFileAtomic,
  writeJsonAtomic,
  syncDir,
} from '../../common/atomic-file.js';
import {
  asLayerError,
  decompress,
  detectCompression,
  hashFile,
  hashToFile,
  unpackLayer,
} from './layer-unpack.js';
import {
  decompressedLayer,
  stageLayer,
  type LayerMarker,
  type StageCompression,
  type StagedLayer,
} from './layer-stage.js';
import { stageLayerOnWorker, WORKER_MIN_BYTES } from './layer-stage-client.js';
import { readArchive, spoolArchive, validateConfig, type ArchiveFiles } from './archive-load.js';
import { writeArchive, type SaveImage } from './archive-save.js';
import { familiarReference, fullName, fullyQualified, parseReference } from './reference.js';
import { digestHex, isSha256Digest, type ImageConfig, type ImageRecord } from './image-types.js';

interface ImageMeta {
  id: string;
  /** When the image arrived here; stands in for a missing config.created. */
  loadedAt: string;
  /** Fully qualified name@digest references. */
  repoDigests: string[];
  /** The image a build step made this one from (dockerd's parent chain, local only). */
  parent?: string;
}

interface StoredImage {
  meta: ImageMeta;
  config: ImageConfig;
}

interface RepositoriesFile {
  refs: Record<string, string>;
}

/** An image's exact config and its layer tars, opened for reading (push). */
export interface OpenedImage {
  id: string;
  configBytes: Buffer;
  config: ImageConfig;
  layers: Array<{ diffId: string; handle: FileHandle; size: number }>;
  close(): Promise<void>;
}

const HEX64 = /^[a-f0-9]{64}$/;

const internal = (message: string) => new EngineError('internal', message);

/** A line of load progress: plain text, or one layer's bytes so far (dockerd's "Loading layer" bar). */
export type LoadProgress = string | { id: string; status: string; current: number; total: number };

export class ImageStore {
  private readonly imageDir: string;
  private readonly blobDir: string;
  private readonly metaDir: string;
  private readonly tmpDir: string;
  private readonly layersDir: string;
  private readonly reposFile: string;

  private images = new Map<string, StoredImage>();
  private refs = new Map<string, string>();
  private layerSizes = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dataRoot: string) {
    const root = path.resolve(dataRoot);
    this.imageDir = path.join(root, 'image');
    this.blobDir = path.join(this.imageDir, 'blobs', 'sha256');
    this.metaDir = path.join(this.imageDir, 'images');
    this.tmpDir = path.join(this.imageDir, 'tmp');
    this.layersDir = path.join(root, 'layers');
    this.reposFile = path.join(this.imageDir, 'repositories.json');
  }

  /** Run mutations one at a time; readers use the in-memory view and never wait. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private blobPath(hex: string): string {
    return path.join(this.blobDir, hex);
  }

  private layerDir(hex: string): string {
    return path.join(this.layersDir, hex);
  }

  private async makeTmp(kind: string): Promise<string> {
    const dir = path.join(this.tmpDir, `${kind}-${randomBytes(8).toString('hex')}`);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  // ---- startup ---------------------------------------------------------------

  async init(): Promise<void> {
    await fs.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.metaDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.layersDir, { recursive: true, mode: 0o711 });
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { mode: 0o700 });
    for (const dir of [this.imageDir, this.metaDir, this.blobDir]) await removeStaleTemps(dir);

    // Layers: only complete ones count.
    this.layerSizes = new Map();
    for (const name of await fs.readdir(this.layersDir)) {
      const marker = await readJson<LayerMarker>(path.join(this.layerDir(name), 'complete')).catch(
        () => undefined,
      );
      if (!HEX64.test(name) || !marker) {
        log.info('removing incomplete layer', { layer: name });
        await fs.rm(this.layerDir(name), { recursive: true, force: true });
        continue;
      }
      this.layerSizes.set(name, marker.size);
    }

    // Images: a record counts when its config is present and valid and its layers exist (or can be redone).
    this.images = new Map();
    for (const file of await fs.readdir(this.metaDir)) {
      const hex = file.endsWith('.json') ? file.slice(0, -5) : '';
      const drop = async (why: string) => {
        log.warn('dropping broken image record', { image: file, reason: why });
        await fs.rm(path.join(this.metaDir, file), { force: true });
      };
      if (!HEX64.test(hex)) {
        await fs.rm(path.join(this.metaDir, file), { force: true });
        continue;
      }
      const meta = await readJson<ImageMeta>(path.join(this.metaDir, file)).catch(() => undefined);
      let bytes: Buffer;
      try {
        bytes = await fs.readFile(this.blobPath(hex));
      } catch {
        await drop('config blob missing');
        continue;
      }
      if (!meta || sha256Hex(bytes) !== hex) {
        await drop('record or config damaged');
        continue;
      }
      let config: ImageConfig;
      try {
        config = validateConfig(JSON.parse(bytes.toString('utf8')), 'stored image');
      } catch (err) {
        await drop((err as Error).message);
        continue;
      }
      let ok = true;
      for (const d of config.rootfs.diff_ids) {
        const lh = digestHex(d);
        if (this.layerSizes.has(lh)) continue;
        if (!(await this.redoLayer(lh))) {
          ok = false;
          break;
        }
      }
      if (!ok) {
        await drop('a layer is missing');
        continue;
      }
      this.images.set(hex, { meta: { ...meta, repoDigests: meta.repoDigests ?? [] }, config });
    }

    // Tags that point at images that are gone are dropped.
    const repos = await readJson<RepositoriesFile>(this.reposFile).catch(() => undefined);
    this.refs = new Map();
    let changed = false;
    for (const [ref, id] of Object.entries(repos?.refs ?? {})) {
      if (this.images.has(digestHex(id))) this.refs.set(ref, id);
      else changed = true;
    }
    if (changed) await this.saveRefs();

    await this.collectGarbage();
  }

  /** Re-unpack a layer whose directory is gone but whose blob survived. */
  private async redoLayer(hex: string): Promise<boolean> {
    if (!existsSync(this.blobPath(hex))) return false;
    log.warn('layer directory missing, unpacking it again from its blob', { layer: hex });
    const tmp = await this.makeTmp('redo');
    try {
      if ((await hashFile(this.blobPath(hex))) !== `sha256:${hex}`) return false;
      await this.unpackBlob(hex, this.blobPath(hex), path.join(tmp, hex));
      await this.installLayer(hex, path.join(tmp, hex));
      return true;
    } catch (err) {
      log.warn('could not unpack layer again', { layer: hex, error: (err as Error).message });
      return false;
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  /** Blobs and layers that no image references (left by a crash mid-delete or mid-load). */
  private async collectGarbage(): Promise<void> {
    const used = new Set<string>();
    for (const [hex, img] of this.images) {
      used.add(hex);
      for (const d of img.config.rootfs.diff_ids) used.add(digestHex(d));
    }
    for (const name of await fs.readdir(this.blobDir)) {
      if (!used.has(name)) await fs.rm(this.blobPath(name), { recursive: true, force: true });
    }
    for (const name of [...this.layerSizes.keys()]) {
      if (used.has(name)) continue;
      await fs.rm(this.layerDir(name), { recursive: true, force: true });
      this.layerSizes.delete(name);
    }
  }

  // ---- reading ---------------------------------------------------------------

  private toRecord(hex: string, img: StoredImage): ImageRecord {
    const id = `sha256:${hex}`;
    const repoTags: string[] = [];
    for (const [ref, target] of this.refs) if (target === id) repoTags.push(familiarReference(ref));
    let size = 0;
    for (const d of img.config.rootfs.diff_ids) size += this.layerSizes.get(digestHex(d)) ?? 0;
    return {
      id,
      repoTags,
      repoDigests: img.meta.repoDigests.map((r) => familiarReference(r)),
      config: img.config,
      parent: img.meta.parent,
      size,
      created:
        typeof img.config.created === 'string' && img.config.created ? img.config.created : img.meta.loadedAt,
    };
  }

  list(): ImageRecord[] {
    return [...this.images.entries()]
      .map(([hex, img]) => this.toRecord(hex, img))
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  private byHex(hex: string): ImageRecord | undefined {
    const img = this.images.get(hex);
    return img ? this.toRecord(hex, img) : undefined;
  }

  resolve(refOrId: string): ImageRecord | undefined {
    if (typeof refOrId !== 'string' || refOrId === '') return undefined;
    const full = /^sha256:([a-f0-9]{64})$/.exec(refOrId);
    if (full) return this.byHex(full[1]!);
    if (HEX64.test(refOrId)) return this.byHex(refOrId);

    let parsed: ReturnType<typeof parseReference> | undefined;
    try {
      parsed = parseReference(refOrId);
    } catch {
      parsed = undefined;
    }
    if (parsed?.digest) {
      const want = `${fullName(parsed)}@${parsed.digest}`;
      for (const [hex, img] of this.images)
        if (img.meta.repoDigests.includes(want)) return this.toRecord(hex, img);
      // name@<image id> also finds the image, as dockerd allows.
      const byId = isSha256Digest(parsed.digest) ? this.byHex(digestHex(parsed.digest)) : undefined;
      if (byId) return byId;
      return undefined;
    }
    if (parsed) {
      const id = this.refs.get(fullyQualified(refOrId));
      if (id) return this.byHex(digestHex(id));
    }
    // A unique prefix of an image id.
    const prefix = refOrId.startsWith('sha256:') ? refOrId.slice(7) : refOrId;
    if (/^[a-f0-9]+$/.test(prefix)) {
      const matches = [...this.images.keys()].filter((h) => h.startsWith(prefix));
      if (matches.length === 1) return this.byHex(matches[0]!);
    }
    return undefined;
  }

  /** Images whose parent is this one (build steps made from it). */
  children(id: string): string[] {
    const out: string[] = [];
    for (const [hex, img] of this.images) if (img.meta.parent === id) out.push(`sha256:${hex}`);
    return out;
  }

  layerDirs(image: ImageRecord): string[] {
    return image.config.rootfs.diff_ids.map((d) => path.join(this.layerDir(digestHex(d)), 'diff'));
  }

  ensureLayer(diffId: string): boolean {
    const hex = digestHex(diffId);
    return (
      HEX64.test(hex) && this.layerSizes.has(hex) && existsSync(path.join(this.layerDir(hex), 'complete'))
    );
  }

  // ---- layers ------------------------------------------------------------------

  /** Unpack an uncompressed layer blob into dest/diff and mark it complete. */
  private async unpackBlob(
    hex: string,
    blob: string,
    dest: string,
    onBytes?: (read: number) => void,
  ): Promise<number> {
    await fs.mkdir(path.join(dest, 'diff'), { recursive: true, mode: 0o755 });
    const source = createReadStream(blob);
    // How far the unpack has read, a few times a second, for a progress bar.
    const timer = onBytes ? setInterval(() => onBytes(source.bytesRead), 100) : undefined;
    let size: number;
    try {
      ({ size } = await unpackLayer(source, path.join(dest, 'diff')));
    } finally {
      clearInterval(timer);
    }
    await writeJsonAtomic(path.join(dest, 'complete'), {
      diffId: `sha256:${hex}`,
      size,
    } satisfies LayerMarker);
    return size;
  }

  /** Move an unpacked layer into place (an identical one already there wins). */
  private async installLayer(hex: string, src: string): Promise<void> {
    const marker = await readJson<LayerMarker>(path.join(src, 'complete'));
    if (!marker) throw internal(`unpacked layer ${hex} has no completion marker`);
    const dest = this.layerDir(hex);
    try {
      await fs.rename(src, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      if (!existsSync(path.join(dest, 'complete'))) {
        await fs.rm(dest, { recursive: true, force: true });
        await fs.rename(src, dest);
      }
    }
    this.layerSizes.set(hex, marker.size);
  }

  private async installBlob(hex: string, src: string): Promise<void> {
    if (existsSync(this.blobPath(hex))) return;
    await fs.rename(src, this.blobPath(hex));
  }

  /** Flush everything written so far before the records that make it visible. */
  private async flush(): Promise<void> {
    const r = await run('sync', ['-f', this.layersDir], { allowFailure: true });
    if (r.exitCode !== 0) await run('sync', []);
  }

  // ---- committing images -------------------------------------------------------

  private async saveRefs(): Promise<void> {
    await writeJsonAtomic(this.reposFile, { refs: Object.fromEntries(this.refs) } satisfies RepositoriesFile);
  }

  /** Write config and record (if new), then move the tags to it. Layers must be in place. */
  private async commitImage(
    configBytes: Buffer,
    config: ImageConfig,
    tags: string[],
    onProgress?: (line: string) => void,
    parent?: string,
  ): Promise<string> {
    const hex = sha256Hex(configBytes);
    const id = `sha256:${hex}`;
    for (const d of config.rootfs.diff_ids) {
      if (!this.ensureLayer(d)) throw internal(`layer ${d} of image ${id} is not in place`);
    }
    if (!this.images.has(hex)) {
      if (!existsSync(this.blobPath(hex))) await writeFileAtomic(this.blobPath(hex), configBytes, 0o600);
      await this.flush();
      const meta: ImageMeta = {
        id,
        loadedAt: new Date().toISOString(),
        repoDigests: [],
        ...(parent && this.images.has(digestHex(parent)) ? { parent } : {}),
      };
      await writeJsonAtomic(path.join(this.metaDir, `${hex}.json`), meta);
      this.images.set(hex, { meta, config });
    }
    let moved = false;
    for (const ref of tags) {
      const old = this.refs.get(ref);
      if (old === id) continue;
      if (old) {
        onProgress?.(
          `The image ${familiarReference(ref)} already exists, renaming the old one with ID ${old} to empty string`,
        );
      }
      this.refs.set(ref, id);
      moved = true;
    }
    if (moved) await this.saveRefs();
    return id;
  }

  // ---- load ----------------------------------------------------------------------

  async load(archive: NodeJS.ReadableStream, onProgress?: (p: LoadProgress) => void): Promise<string[]> {
    const tmp = await this.makeTmp('load');
    try {
      const files = await spoolArchive(archive, path.join(tmp, 'archive'));
      const images = await readArchive(files);
      if (images.length === 0) throw invalid('the image archive contains no images');
      return await this.exclusive(async () => {
        await this.prepareLayers(images, files, tmp, onProgress);
        const lines: string[] = [];
        for (const img of images) {
          const id = await this.commitImage(img.configBytes, img.config, img.tags, onProgress);
          if (img.tags.length === 0) lines.push(`Loaded image ID: ${id}`);
          for (const t of img.tags) lines.push(`Loaded image: ${familiarReference(t)}`);
        }
        return lines;
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Verify every layer the store lacks against its diff_id, then unpack and
   * install them. Any mismatch refuses the whole load before anything is installed.
   */
  private async prepareLayers(
    images: Array<{ id: string; config: ImageConfig; layers: string[] }>,
    files: ArchiveFiles,
    tmp: string,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<void> {
    const verified = new Map<string, string>(); // diff hex → uncompressed blob file
    const ingested = new Map<string, { digest: string; file: string }>(); // archive file → content
    await fs.mkdir(path.join(tmp, 'blobs'));
    let n = 0;
    for (const img of images) {
      for (let i = 0; i < img.layers.length; i++) {
        const diffId = img.config.rootfs.diff_ids[i]!;
        const hex = digestHex(diffId);
        if (verified.has(hex) || (this.ensureLayer(diffId) && existsSync(this.blobPath(hex)))) continue;
        const name = img.layers[i]!;
        const source = files.resolve(name);
        if (!source)
          throw invalid(`the image archive is incomplete: layer "${name}" of image ${img.id} is missing`);
        let content = ingested.get(source);
        if (!content) {
          const head = Buffer.alloc(6);
          const fh = await fs.open(source, 'r');
          let got = 0;
          try {
            got = (await fh.read(head, 0, 6, 0)).bytesRead;
          } finally {
            await fh.close();
          }
          if (detectCompression(head.subarray(0, got)) === 'none') {
            content = { digest: await hashFile(source), file: source };
          } else {
            const file = path.join(tmp, 'blobs', String(n++));
            content = {
              digest: (await hashToFile(await decompress(createReadStream(source)), file)).digest,
              file,
            };
          }
          ingested.set(source, content);
        }
        if (content.digest !== diffId) {
          throw invalid(
            `the image archive is corrupt or was modified: layer "${name}" of image ${img.id} has content ${content.digest}, but the image config says ${diffId}`,
          );
        }
        verified.set(hex, content.file);
      }
    }
    await fs.mkdir(path.join(tmp, 'layers'));
    const unpacked: string[] = [];
    for (const [hex, file] of verified) {
      if (this.ensureLayer(hex)) continue;
      // dockerd's bar: the layer's bytes read so far, beside its short id.
      const total = (await fs.stat(file)).size;
      const report = (current: number) =>
        onProgress?.({ id: hex.slice(0, 12), status: 'Loading layer', current, total });
      report(0);
      await this.unpackBlob(hex, file, path.join(tmp, 'layers', hex), onProgress ? report : undefined);
      report(total);
      unpacked.push(hex);
    }
    for (const hex of unpacked) await this.installLayer(hex, path.join(tmp, 'layers', hex));
    for (const [hex, file] of verified) await this.installBlob(hex, file);
    await syncDir(this.layersDir);
  }

  // ---- registry transfers ----------------------------------------------------------

  /** A work dir under image/tmp (emptied at every start), for a transfer in progress. */
  workDir(kind: string): Promise<string> {
    return this.makeTmp(kind);
  }

  /**
   * Unpack a layer (its bytes compressed as `compression` says) into a new dir under workDir while keeping
   * its uncompressed tar and hashing it (see layer-stage.ts). A layer known to be large (sizeHint, its
   * bytes) is decompressed and unpacked on a worker thread, beside the download, which then has the engine's
   * thread to itself.
   */
  stageLayer(
    layerStream: NodeJS.ReadableStream,
    workDir: string,
    sizeHint = 0,
    compression: StageCompression = 'none',
  ): Promise<StagedLayer> {
    return sizeHint >= WORKER_MIN_BYTES
      ? stageLayerOnWorker(layerStream, workDir, compression)
      : stageLayer(decompressedLayer(layerStream, compression), workDir);
  }

  /** Point a name@digest reference at one image (it moves if another image had it). */
  private async setRepoDigest(hex: string, repoDigest: string): Promise<void> {
    for (const [other, img] of this.images) {
      const has = img.meta.repoDigests.includes(repoDigest);
      if (other === hex ? has : !has) continue;
      const repoDigests =
        other === hex
          ? [...img.meta.repoDigests, repoDigest]
          : img.meta.repoDigests.filter((r) => r !== repoDigest);
      img.meta = { ...img.meta, repoDigests };
      await writeJsonAtomic(path.join(this.metaDir, `${other}.json`), img.meta);
    }
  }

  /**
   * Make a pulled image part of the store: staged layers the store lacks are
   * moved in, then the config and record, the tags, and the repo digests
   * (fully qualified name@sha256:…). Layers the store already had need no stage.
   */
  async commitPulled(opts: {
    configBytes: Buffer;
    config: ImageConfig;
    layers: StagedLayer[];
    tags: string[];
    repoDigests: string[];
  }): Promise<string> {
    return this.exclusive(async () => {
      for (const l of opts.layers) {
        const hex = digestHex(l.diffId);
        if (!this.ensureLayer(l.diffId)) await this.installLayer(hex, l.dir);
        await this.installBlob(hex, l.blob);
      }
      if (opts.layers.length) await syncDir(this.layersDir);
      const id = await this.commitImage(opts.configBytes, opts.config, opts.tags);
      for (const r of opts.repoDigests) await this.setRepoDigest(digestHex(id), r);
      return id;
    });
  }

  /** Record that a name@digest (fully qualified) now names this image (after a push). */
  async addRepoDigest(id: string, repoDigest: string): Promise<void> {
    await this.exclusive(async () => {
      if (this.images.has(digestHex(id))) await this.setRepoDigest(digestHex(id), repoDigest);
    });
  }

  /** Open an image's config and layer tars under the lock, so a concurrent rmi cannot pull them away. */
  async openImage(id: string): Promise<OpenedImage> {
    const hex = digestHex(id);
    const handles: FileHandle[] = [];
    const close = async () => {
      for (const h of handles) await h.close().catch(() => undefined);
    };
    try {
      return await this.exclusive(async () => {
        const img = this.images.get(hex);
        if (!img) throw notFound(`No such image: ${id}`);
        const configBytes = await fs.readFile(this.blobPath(hex));
        const layers: OpenedImage['layers'] = [];
        for (const diffId of img.config.rootfs.diff_ids) {
          let handle: FileHandle;
          try {
            handle = await fs.open(this.blobPath(digestHex(diffId)), 'r');
          } catch {
            throw internal(
              `the stored tar of layer ${diffId} is missing; remove the image and pull it again`,
            );
          }
          handles.push(handle);
          layers.push({ diffId, handle, size: (await handle.stat()).size });
        }
        return { id: `sha256:${hex}`, configBytes, config: img.config, layers, close };
      });
    } catch (err) {
      await close();
      throw err;
    }
  }

  // ---- save --------------------------------------------------------------------

  /** What one save argument names: all tags of a bare repository name, one tag, or one image. */
  private saveTargets(arg: string): Array<{ hex: string; ref?: string }> {
    if (/^sha256:[a-f0-9]{64}$/.test(arg) || HEX64.test(arg)) {
      const hex = digestHex(arg);
      return this.images.has(hex) ? [{ hex }] : [];
    }
    let parsed: ReturnType<typeof parseReference> | undefined;
    try {
      parsed = parseReference(arg);
    } catch {
      parsed = undefined;
    }
    if (parsed && parsed.tag === undefined && parsed.digest === undefined) {
      const prefix = `${fullName(parsed)}:`;
      const all = [...this.refs]
        .filter(([ref]) => ref.startsWith(prefix))
        .map(([ref, id]) => ({ hex: digestHex(id), ref }));
      if (all.length) return all;
    } else if (parsed?.tag !== undefined && parsed.digest === undefined) {
      const ref = fullyQualified(arg);
      const id = this.refs.get(ref);
      if (id) return [{ hex: digestHex(id), ref }];
    }
    const rec = this.resolve(arg);
    return rec ? [{ hex: digestHex(rec.id) }] : [];
  }

  async save(refsOrIds: string[], out: NodeJS.WritableStream): Promise<void> {
    const handles: FileHandle[] = [];
    try {
      // Open every blob under the lock: a concurrent delete then cannot pull them away mid-stream.
      const { images, layers } = await this.exclusive(async () => {
        const chosen = new Map<string, Set<string>>();
        for (const arg of refsOrIds) {
          const targets = this.saveTargets(arg);
          if (targets.length === 0) throw notFound(`No such image: ${arg}`);
          for (const t of targets) {
            const refs = chosen.get(t.hex) ?? new Set<string>();
            if (t.ref) refs.add(t.ref);
            chosen.set(t.hex, refs);
          }
        }
        const layers = new Map<string, { handle: FileHandle; size: number }>();
        const images: SaveImage[] = [];
        for (const [hex, refs] of chosen) {
          const img = this.images.get(hex)!;
          const configBytes = await fs.readFile(this.blobPath(hex));
          for (const d of img.config.rootfs.diff_ids) {
            const lh = digestHex(d);
            if (layers.has(lh)) continue;
            let handle: FileHandle;
            try {
              handle = await fs.open(this.blobPath(lh), 'r');
            } catch {
              throw internal(`the stored tar of layer ${d} is missing; remove the image and load it again`);
            }
            handles.push(handle);
            layers.set(lh, { handle, size: (await handle.stat()).size });
          }
          images.push({
            id: `sha256:${hex}`,
            configBytes,
            diffIds: img.config.rootfs.diff_ids,
            refs: [...refs],
          });
        }
        return { images, layers };
      });
      await writeArchive(
        images,
        {
          layer: (diffId) => {
            const l = layers.get(digestHex(diffId));
            if (!l) throw internal(`layer ${diffId} was not opened`);
            return l;
          },
        },
        out,
      );
    } finally {
      for (const h of handles) await h.close().catch(() => undefined);
    }
  }

  // ---- tags ----------------------------------------------------------------------

  async tag(refOrId: string, newRef: string): Promise<void> {
    const parsed = parseReference(newRef);
    if (parsed.digest) throw invalid(`refusing to create a tag with a digest reference: "${newRef}"`);
    const key = fullyQualified(newRef);
    await this.exclusive(async () => {
      const rec = this.resolve(refOrId);
      if (!rec) throw notFound(`No such image: ${refOrId}`);
      if (this.refs.get(key) === rec.id) return;
      this.refs.set(key, rec.id);
      await this.saveRefs();
    });
  }

  async untag(ref: string): Promise<boolean> {
    const parsed = parseReference(ref);
    return this.exclusive(async () => {
      if (parsed.digest) {
        const want = `${fullName(parsed)}@${parsed.digest}`;
        for (const [hex, img] of this.images) {
          if (!img.meta.repoDigests.includes(want)) continue;
          img.meta = { ...img.meta, repoDigests: img.meta.repoDigests.filter((r) => r !== want) };
          await writeJsonAtomic(path.join(this.metaDir, `${hex}.json`), img.meta);
          return true;
        }
        return false;
      }
      const key = fullyQualified(ref);
      if (!this.refs.delete(key)) return false;
      await this.saveRefs();
      return true;
    });
  }

  // ---- delete ----------------------------------------------------------------------

  async deleteImage(id: string): Promise<string[]> {
    const hex = digestHex(id);
    if (!HEX64.test(hex)) throw notFound(`No such image: ${id}`);
    return this.exclusive(async () => {
      const img = this.images.get(hex);
      if (!img) throw notFound(`No such image: ${id}`);
      const fullId = `sha256:${hex}`;
      let tagsGone = false;
      for (const [ref, target] of [...this.refs]) {
        if (target !== fullId) continue;
        this.refs.delete(ref);
        tagsGone = true;
      }
      if (tagsGone) await this.saveRefs();
      await fs.rm(path.join(this.metaDir, `${hex}.json`), { force: true });
      await syncDir(this.metaDir);
      this.images.delete(hex);
      await fs.rm(this.blobPath(hex), { force: true });

      const stillUsed = new Set<string>();
      for (const other of this.images.values())
        for (const d of other.config.rootfs.diff_ids) stillUsed.add(digestHex(d));
      const deleted = [fullId];
      for (const d of new Set(img.config.rootfs.diff_ids)) {
        const lh = digestHex(d);
        if (stillUsed.has(lh)) continue;
        // Renamed away first, so a crash never leaves a half-deleted layer that looks complete.
        const trash = path.join(this.tmpDir, `del-${lh}-${randomBytes(4).toString('hex')}`);
        await fs.rename(this.layerDir(lh), trash).catch(() => undefined);
        this.layerSizes.delete(lh);
        await fs.rm(this.blobPath(lh), { force: true });
        await fs.rm(trash, { recursive: true, force: true });
        deleted.push(`sha256:${lh}`);
      }
      log.debug('image deleted', { id: shortId(fullId), layers: deleted.length - 1 });
      return deleted;
    });
  }

  // ---- commit / import ------------------------------------------------------------

  /** An image from an optional layer tar on top of config's layers; `parent` links build steps. */
  async createFromLayerTar(
    layerTar: NodeJS.ReadableStream | null,
    config: ImageConfig,
    tags: string[],
    opts: { parent?: string } = {},
  ): Promise<ImageRecord> {
    const refs = tags.map((t) => {
      if (parseReference(t).digest) throw invalid(`refusing to create a tag with a digest reference: "${t}"`);
      return fullyQualified(t);
    });
    const cfg = structuredClone(config) as ImageConfig;
    cfg.rootfs = { type: 'layers', diff_ids: [...(config.rootfs?.diff_ids ?? [])] };
    validateConfig(cfg, 'new image');
    const tmp = await this.makeTmp('create');
    try {
      let layer: { hex: string; file: string } | undefined;
      if (layerTar) {
        const file = path.join(tmp, 'layer.tar');
        const { digest } = await hashToFile(await decompress(layerTar), file).catch((err: unknown) => {
          throw asLayerError(err);
        });
        layer = { hex: digestHex(digest), file };
      }
      const hex = await this.exclusive(async () => {
        for (const d of cfg.rootfs.diff_ids) {
          if (!this.ensureLayer(d))
            throw notFound(
              `layer ${d} of the parent image is not present; pull or load the parent image again`,
            );
        }
        if (layer) {
          if (!this.ensureLayer(layer.hex)) {
            await this.unpackBlob(layer.hex, layer.file, path.join(tmp, 'unpacked'));
            await this.installLayer(layer.hex, path.join(tmp, 'unpacked'));
          }
          await this.installBlob(layer.hex, layer.file);
          await syncDir(this.layersDir);
          cfg.rootfs.diff_ids.push(`sha256:${layer.hex}`);
        }
        const bytes = Buffer.from(JSON.stringify(cfg));
        return digestHex(await this.commitImage(bytes, cfg, refs, undefined, opts.parent));
      });
      return this.byHex(hex)!;
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
}
