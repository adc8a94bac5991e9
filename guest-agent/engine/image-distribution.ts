// Images to and from registries: pull (manifest lists, schema2 and OCI
// manifests, layer dedup, every digest verified before anything is used),
// push (layers the registry already has are skipped or mounted, the rest
// gzip-compressed on the fly), and login. Progress is reported as events the
// API turns into dockerd's JSON progress stream; the messages are dockerd's.
//
// A pull stages everything (downloaded blobs, unpacked layers) in a work dir
// the store empties at start, and commits only when all of it is verified:
// a failed or interrupted pull leaves no partial image.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { once } from 'node:events';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { EngineError, invalid, notFound } from '../errors.js';
import { log } from '../util/logger.js';
import { shortId } from '../util/ids.js';
import type { ImageStore, OpenedImage } from '../storage/image-store.js';
import type { StageCompression, StagedLayer } from '../storage/layer-stage.js';
import { validateConfig } from '../storage/archive-load.js';
import { detectCompression } from '../storage/layer-unpack.js';
import { MEDIA_TYPES, type ImageConfig } from '../storage/image-types.js';
import {
  DEFAULT_DOMAIN,
  familiarName,
  fullName,
  parseReference,
  type ParsedReference,
} from '../storage/reference.js';
import type { Credentials } from '../storage/registry/auth.js';
import type { Endpoint, RegistryConfig } from '../storage/registry/endpoints.js';
import type { LayerSources, LayerSource } from '../storage/registry/layer-sources.js';
import {
  choosePlatform,
  DOCKER_CONFIG_MEDIA_TYPE,
  enginePlatform,
  formatPlatform,
  LAYER_MEDIA_TYPES,
  parseManifest,
  parsePlatform,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from '../storage/registry/manifest.js';
import { RegistryClient, RegistryError } from '../storage/registry/registry-client.js';
import type { EventBus } from './events.js';

/** One line of progress: a status, maybe for one layer (id), maybe with byte counts, or aux data. */
export interface TransferEvent {
  id?: string;
  status?: string;
  current?: number;
  total?: number;
  aux?: Record<string, unknown>;
}

export type ProgressSink = (event: TransferEvent) => void;

export interface PullOptions {
  /** fromImage as the client sent it ("127.0.0.1:5000/busybox", maybe with a tag). */
  image: string;
  /** A tag or a digest; empty (with no tag in image) pulls every tag. */
  tag?: string;
  platform?: string;
  credentials: Credentials;
  signal?: AbortSignal;
  progress: ProgressSink;
}

export interface PushOptions {
  name: string;
  tag?: string;
  credentials: Credentials;
  signal?: AbortSignal;
  progress: ProgressSink;
}

export interface ImageDistributionDeps {
  store: ImageStore;
  events: EventBus;
  registries: RegistryConfig;
  sources: LayerSources;
  /** Layers fetched at once per pull (default 3) and pushed at once per push (default 5), as dockerd. */
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
}

interface ResolvedManifest {
  manifest: ImageManifest;
  digest: string;
}

/** What a registry mirror answered when asked whether it can serve a pull. */
interface MirrorProbe {
  tags?: string[];
  manifest?: ResolvedManifest;
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const CONCURRENT_DOWNLOADS = 3;
const CONCURRENT_UPLOADS = 5;
/** A layer's bytes are passed on from the download in batches of about this many. */
const PASS_ON_BYTES = 1024 * 1024;
/** Progress lines for one transfer at most this often (and always at its end). */
const PROGRESS_INTERVAL_MS = 100;

const GZIP_LAYER_TYPES: string[] = [LAYER_MEDIA_TYPES.dockerGzip, LAYER_MEDIA_TYPES.ociGzip];

const zstdDecompress = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;

/** "127.0.0.1:5000/busybox:latest" / "busybox@sha256:…": the reference as users write it. */
function familiarString(ref: ParsedReference): string {
  return (
    familiarName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '')
  );
}

function withTag(ref: ParsedReference, tag: string): ParsedReference {
  return { domain: ref.domain, path: ref.path, tag };
}

/** Run fn over items with at most n at once; the first failure rejects (the others run out). */
async function eachLimited<T>(
  items: T[],
  n: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

/** The first `n` bytes of a stream (fewer if it ends), put back so its reader still gets them. */
async function peek(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const chunk = stream.read() as Buffer | null;
    if (chunk) {
      chunks.push(chunk);
      len += chunk.length;
    } else if (stream.readableEnded || stream.destroyed) break;
    else await Promise.race([once(stream, 'readable'), once(stream, 'end')]);
  }
  const head = Buffer.concat(chunks);
  if (head.length) stream.unshift(head);
  return head;
}

/** Reports byte progress for one id, at most every PROGRESS_INTERVAL_MS. */
function byteProgress(progress: ProgressSink, id: string, status: string, total: number | undefined) {
  let current = 0;
  let last = 0;
  return {
    add(n: number) {
      current += n;
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS || (total !== undefined && current >= total)) {
        last = now;
        progress({ id, status, current, total });
      }
    },
  };
}

/** Phrase a registry's refusal of a pull as dockerd does. */
function pullError(err: unknown, ref: ParsedReference): unknown {
  if (!(err instanceof RegistryError)) return err;
  switch (err.code) {
    case 'MANIFEST_UNKNOWN':
      return notFound(`manifest for ${familiarString(ref)} not found: ${err.detail}`);
    case 'NAME_UNKNOWN':
      return notFound(`repository ${familiarName(ref)} not found: ${err.detail}`);
    case 'DENIED':
      return notFound(
        `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${err.detail}`,
      );
    case '':
      if (err.status === 404) return notFound(`manifest for ${familiarString(ref)} not found: ${err.detail}`);
      return err;
    default:
      return err;
  }
}

export class ImageDistribution {
  constructor(private readonly deps: ImageDistributionDeps) {}

  // ---- pull ----------------------------------------------------------------

  /** Parse what the client asked for: the image, with the tag or digest from `tag` applied. */
  pullReference(image: string, tag?: string): ParsedReference {
    const ref = parseReference(image.replace(/:$/, ''));
    if (!tag) return ref;
    if (/^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag)) {
      return parseReference(`${fullName(ref)}@${tag}`);
    }
    return parseReference(`${fullName(ref)}:${tag}`);
  }

  async pull(opts: PullOptions): Promise<void> {
    const ref = this.pullReference(opts.image, opts.tag);
    const platform = opts.platform ? parsePlatform(opts.platform) : enginePlatform();
    const { client, probed } = await this.pullClient(ref, platform, opts);
    if (ref.tag === undefined && ref.digest === undefined) {
      // Every tag of the repository (docker pull --all-tags).
      const tags =
        probed?.tags ??
        (await client.listTags().catch((err: unknown) => {
          throw pullError(err, ref);
        }));
      if (tags.length === 0) throw notFound(`repository ${familiarName(ref)} has no tags`);
      let downloaded = false;
      for (const tag of tags)
        downloaded = (await this.pullOne(client, withTag(ref, tag), platform, opts)) || downloaded;
      opts.progress({
        status: downloaded
          ? `Status: Downloaded newer image for ${familiarName(ref)}`
          : `Status: Image is up to date for ${familiarName(ref)}`,
      });
    } else {
      const downloaded = await this.pullOne(client, ref, platform, opts, probed?.manifest);
      opts.progress({
        status: downloaded
          ? `Status: Downloaded newer image for ${familiarString(ref)}`
          : `Status: Image is up to date for ${familiarString(ref)}`,
      });
    }
  }

  /**
   * A client for the pull. A registry mirror must also answer for the reference
   * (its tags or manifest), else the next mirror or Docker Hub is tried, as
   * dockerd falls back from a mirror that cannot serve a pull.
   */
  private async pullClient(
    ref: ParsedReference,
    platform: Platform,
    opts: PullOptions,
  ): Promise<{ client: RegistryClient; probed?: MirrorProbe }> {
    let after: Endpoint | undefined;
    for (;;) {
      const client = await RegistryClient.connect({
        domain: ref.domain,
        repository: ref.path,
        credentials: opts.credentials,
        config: this.deps.registries,
        actions: ['pull'],
        signal: opts.signal,
        after,
      });
      if (!this.deps.registries.isMirror(client.endpoint)) return { client };
      try {
        // What the mirror answered is what the pull uses: nothing is asked for twice.
        const probed: MirrorProbe =
          ref.tag === undefined && ref.digest === undefined
            ? { tags: await client.listTags() }
            : { manifest: await this.resolveManifest(client, ref, ref.digest ?? ref.tag!, platform) };
        return { client, probed };
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        log.info('the registry mirror cannot serve this pull: trying the next endpoint', {
          mirror: client.endpoint.base.href,
          image: fullName(ref),
          error: (err as Error).message,
        });
        after = client.endpoint;
      }
    }
  }

  /** Pull one tag or digest; true when something new arrived (layers or a moved tag). */
  private async pullOne(
    client: RegistryClient,
    ref: ParsedReference,
    platform: Platform,
    opts: PullOptions,
    /** The manifest already resolved (a mirror's answer to the probe). */
    resolved?: ResolvedManifest,
  ): Promise<boolean> {
    const tagOrDigest = ref.digest ?? ref.tag!;
    const { manifest, digest: manifestDigest } =
      resolved ??
      (await this.resolveManifest(client, ref, tagOrDigest, platform).catch((err: unknown) => {
        throw pullError(err, ref);
      }));
    this.checkLayerTypes(manifest, ref);
    // dockerd names the repository by its path here ("library/busybox").
    opts.progress({ id: tagOrDigest, status: `Pulling from ${ref.path}` });

    const configBytes = await client.getSmallBlob(
      manifest.config.digest,
      MAX_CONFIG_BYTES,
      'the image config',
    );
    if (`sha256:${createHash('sha256').update(configBytes).digest('hex')}` !== manifest.config.digest) {
      throw invalid(`image config verification failed for digest ${manifest.config.digest}`);
    }
    let config: ImageConfig;
    try {
      config = validateConfig(JSON.parse(configBytes.toString('utf8')), `image ${familiarString(ref)}`);
    } catch (err) {
      if (err instanceof SyntaxError)
        throw invalid(`the image config of ${familiarString(ref)} is not valid JSON`);
      throw err;
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw invalid(`layers from manifest don't match image configuration (${familiarString(ref)})`);
    }
    const imageId = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;

    const { store } = this.deps;
    const missing: number[] = [];
    const wanted = new Set<string>(); // a layer listed twice (old images repeat empty layers) is fetched once
    manifest.layers.forEach((layer, i) => {
      if (wanted.has(diffIds[i]!)) return;
      if (store.ensureLayer(diffIds[i]!))
        opts.progress({ id: shortId(layer.digest), status: 'Already exists' });
      else {
        opts.progress({ id: shortId(layer.digest), status: 'Pulling fs layer' });
        missing.push(i);
        wanted.add(diffIds[i]!);
      }
    });

    const work = await store.workDir('pull');
    try {
      // A few layers at a time, each unpacked as it arrives (into a directory of its own, so in any
      // order): no copy of the compressed blob on disk. Its digest is checked when the last byte is in,
      // before anything is committed; a layer that fails it leaves only the work dir, removed below.
      for (const i of missing.slice(this.deps.maxConcurrentDownloads ?? CONCURRENT_DOWNLOADS)) {
        opts.progress({ id: shortId(manifest.layers[i]!.digest), status: 'Waiting' });
      }
      const staged: StagedLayer[] = new Array<StagedLayer>(missing.length);
      await eachLimited(missing, this.deps.maxConcurrentDownloads ?? CONCURRENT_DOWNLOADS, async (i, k) => {
        staged[k] = await this.fetchLayer(client, manifest.layers[i]!, diffIds[i]!, work, opts);
      });

      const qualifiedTag = ref.tag !== undefined ? `${fullName(ref)}:${ref.tag}` : undefined;
      const repoDigest = `${fullName(ref)}@${manifestDigest}`;
      const before = qualifiedTag ? store.resolve(qualifiedTag)?.id : store.resolve(repoDigest)?.id;
      await store.commitPulled({
        configBytes,
        config,
        layers: staged,
        tags: qualifiedTag ? [qualifiedTag] : [],
        repoDigests: [repoDigest],
      });
      for (const [i, layer] of manifest.layers.entries()) {
        await this.deps.sources
          .add(diffIds[i]!, {
            digest: layer.digest,
            size: layer.size,
            mediaType: layer.mediaType,
            registry: ref.domain,
            repository: ref.path,
          })
          .catch((err: unknown) => log.warn('could not remember a layer source', { error: String(err) }));
      }
      opts.progress({ status: `Digest: ${manifestDigest}` });
      const name = familiarString(ref);
      this.deps.events.publish('image', 'pull', name, { name });
      return missing.length > 0 || before !== imageId;
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  }

  /** The image manifest for the reference, through a manifest list when there is one. */
  private async resolveManifest(
    client: RegistryClient,
    ref: ParsedReference,
    tagOrDigest: string,
    platform: Platform,
  ): Promise<ResolvedManifest> {
    const top = await client.getManifest(tagOrDigest);
    const parsed = parseManifest(top.bytes, top.contentType, `the manifest of ${familiarString(ref)}`);
    if (parsed.kind === 'manifest') return { manifest: parsed, digest: top.digest };
    const entry = choosePlatform(parsed, platform);
    if (!entry) {
      throw notFound(`no matching manifest for ${formatPlatform(platform)} in the manifest list entries`);
    }
    const inner = await client.getManifest(entry.digest);
    const manifest = parseManifest(
      inner.bytes,
      inner.contentType,
      `the ${formatPlatform(platform)} manifest of ${familiarString(ref)}`,
    );
    if (manifest.kind !== 'manifest') {
      throw invalid(
        `the manifest list of ${familiarString(ref)} points to another list for ${formatPlatform(platform)}`,
      );
    }
    // The digest users see and pull by is the list's: it names the image on every platform.
    return { manifest, digest: top.digest };
  }

  /** Refuse layers this engine cannot use before anything is downloaded. */
  private checkLayerTypes(manifest: ImageManifest, ref: ParsedReference): void {
    for (const layer of manifest.layers) {
      const mt = layer.mediaType;
      if (mt === LAYER_MEDIA_TYPES.ociZstd && !zstdDecompress) {
        throw new EngineError(
          'not-implemented',
          `${familiarString(ref)} has zstd-compressed layers (${shortId(layer.digest)}), which this engine cannot decompress: Node.js ${process.version} has no zstd in its zlib (Node.js 22.15 or newer has); pull a gzip variant of the image instead`,
        );
      }
      if (
        (mt === LAYER_MEDIA_TYPES.dockerForeign || mt === LAYER_MEDIA_TYPES.ociNondistributable) &&
        layer.urls?.length
      ) {
        throw new EngineError(
          'not-implemented',
          `${familiarString(ref)} has a foreign layer (${shortId(layer.digest)}, served from ${layer.urls[0]}), which this engine does not download`,
        );
      }
    }
  }

  /**
   * Download a layer, decompress and unpack it as it arrives, verifying its size (as it comes) and its digest
   * (at the end); its content must be the diff_id the config names.
   */
  private async fetchLayer(
    client: RegistryClient,
    layer: Descriptor,
    diffId: string,
    work: string,
    opts: PullOptions,
  ): Promise<StagedLayer> {
    const id = shortId(layer.digest);
    const res = await client.getBlob(layer.digest);
    const hash = createHash('sha256');
    const bar = byteProgress(opts.progress, id, 'Downloading', layer.size);
    let received = 0;
    // The socket's 64 KiB reads are passed on in batches of about a MiB: everything after this (the
    // staging's streams, the posts to its worker, the decompressor) then runs a sixteenth as often.
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const verified = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        if (received > layer.size) {
          cb(
            invalid(
              `filesystem layer verification failed for digest ${layer.digest}: the registry sent more than the ${layer.size} bytes the manifest declares`,
            ),
          );
          return;
        }
        hash.update(chunk);
        bar.add(chunk.length);
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= PASS_ON_BYTES) {
          const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
          batch = [];
          batchBytes = 0;
          cb(null, out);
        } else cb();
      },
      flush(cb) {
        cb(null, batchBytes > 0 ? Buffer.concat(batch, batchBytes) : undefined);
      },
    });
    const downloaded = pipeline(res.body, verified);
    downloaded.catch(() => undefined); // awaited below
    let digestOk: boolean | undefined;
    const checkDigest = () =>
      (digestOk ??= received === layer.size && `sha256:${hash.digest('hex')}` === layer.digest);
    // The compression shows in the first bytes; they are put back for the decompressor.
    const head = await peek(verified, 6);
    const compression = this.compressionOf(detectCompression(head), id);
    // The staging (which decompresses) reads its own stream: it may be destroyed while the download runs on.
    const layerStream = new PassThrough({ highWaterMark: PASS_ON_BYTES });
    // Its reader may not be listening yet when it fails: the failure stays on the stream for it.
    layerStream.on('error', () => undefined);
    // A plain pipe, not pipeline(): a failure downstream must leave the download running (see below).
    verified.pipe(layerStream);
    downloaded.catch((err: Error) => layerStream.destroy(err));
    let staged: StagedLayer;
    try {
      staged = await this.deps.store.stageLayer(layerStream, work, layer.size, compression);
    } catch (err) {
      // Content that is not what the registry promised shows first as a bad gzip or tar: read the rest
      // (never more than the declared size) to tell a lying registry from a broken image.
      verified.unpipe();
      verified.resume();
      const fetched = await downloaded.then(
        () => undefined,
        (e: unknown) => e,
      );
      if (fetched) throw fetched;
      if (!checkDigest()) throw invalid(`filesystem layer verification failed for digest ${layer.digest}`);
      throw err;
    }
    await downloaded;
    opts.progress({ id, status: 'Verifying Checksum' });
    if (!checkDigest()) {
      throw invalid(`filesystem layer verification failed for digest ${layer.digest}`);
    }
    opts.progress({ id, status: 'Download complete' });
    if (staged.diffId !== diffId) {
      throw invalid(
        `layers from manifest don't match image configuration: layer ${layer.digest} has content ${staged.diffId}, the config says ${diffId}`,
      );
    }
    opts.progress({ id, status: 'Extracting', current: layer.size, total: layer.size });
    opts.progress({ id, status: 'Pull complete' });
    return staged;
  }

  /** The compression staging is to undo, or why this engine refuses the layer. */
  private compressionOf(compression: ReturnType<typeof detectCompression>, id: string): StageCompression {
    switch (compression) {
      case 'none':
      case 'gzip':
        return compression;
      case 'zstd':
        if (!zstdDecompress) {
          throw new EngineError(
            'not-implemented',
            `layer ${id} is zstd-compressed, which this engine cannot decompress (Node.js ${process.version} has no zstd in its zlib)`,
          );
        }
        return compression;
      default:
        throw invalid(
          `layer ${id} is ${compression}-compressed, which registries do not serve and this engine does not accept`,
        );
    }
  }

  // ---- push ------------------------------------------------------------------

  async push(opts: PushOptions): Promise<void> {
    const ref = parseReference(opts.tag ? `${opts.name}:${opts.tag}` : opts.name);
    if (ref.digest) throw invalid('cannot push a digest reference');
    const { store } = this.deps;
    opts.progress({ status: `The push refers to repository [${fullName(ref)}]` });
    let targets: Array<{ tag: string; id: string }>;
    if (ref.tag !== undefined) {
      const img = store.resolve(`${fullName(ref)}:${ref.tag}`);
      if (!img) throw notFound(`tag does not exist: ${familiarString(ref)}`);
      targets = [{ tag: ref.tag, id: img.id }];
    } else {
      targets = [];
      for (const img of store.list()) {
        for (const t of img.repoTags) {
          const p = parseReference(t);
          if (fullName(p) === fullName(ref) && p.tag !== undefined) targets.push({ tag: p.tag, id: img.id });
        }
      }
      if (!targets.length)
        throw notFound(`An image does not exist locally with the tag: ${familiarName(ref)}`);
    }
    const client = await RegistryClient.connect({
      domain: ref.domain,
      repository: ref.path,
      credentials: opts.credentials,
      config: this.deps.registries,
      actions: ['pull', 'push'],
      signal: opts.signal,
    });
    for (const t of targets) await this.pushTag(client, withTag(ref, t.tag), t.id, opts);
  }

  private async pushTag(
    client: RegistryClient,
    ref: ParsedReference,
    id: string,
    opts: PushOptions,
  ): Promise<void> {
    const image = await this.deps.store.openImage(id);
    try {
      // Top layer first, as dockerd lists them.
      const order = image.layers.map((_, i) => image.layers.length - 1 - i);
      for (const i of order) opts.progress({ id: shortId(image.layers[i]!.diffId), status: 'Preparing' });
      const descriptors: Descriptor[] = new Array(image.layers.length);
      await eachLimited(order, this.deps.maxConcurrentUploads ?? CONCURRENT_UPLOADS, async (i) => {
        descriptors[i] = await this.pushLayer(client, ref, image.layers[i]!, opts);
      });

      const configDigest = image.id;
      if ((await client.blobSize(configDigest)) === undefined) {
        await client.uploadBlob(image.configBytes, () => configDigest);
      }
      const manifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifest,
        config: { mediaType: DOCKER_CONFIG_MEDIA_TYPE, size: image.configBytes.length, digest: configDigest },
        layers: descriptors.map((d) => ({ mediaType: d.mediaType, size: d.size, digest: d.digest })),
      };
      const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
      const digest = await client.putManifest(ref.tag!, MEDIA_TYPES.dockerManifest, bytes);
      opts.progress({ status: `${ref.tag}: digest: ${digest} size: ${bytes.length}` });
      await this.deps.store.addRepoDigest(id, `${fullName(ref)}@${digest}`);
      opts.progress({ aux: { Tag: ref.tag, Digest: digest, Size: bytes.length } });
      const name = familiarString(ref);
      this.deps.events.publish('image', 'push', name, { name });
    } finally {
      await image.close();
    }
  }

  /** One layer: already there, mounted from another repository, or compressed and uploaded. */
  private async pushLayer(
    client: RegistryClient,
    ref: ParsedReference,
    layer: OpenedImage['layers'][number],
    opts: PushOptions,
  ): Promise<Descriptor> {
    const id = shortId(layer.diffId);
    const known = (await this.deps.sources.get(layer.diffId)).filter((s) =>
      GZIP_LAYER_TYPES.includes(s.mediaType),
    );
    const asDescriptor = (s: LayerSource): Descriptor => ({
      mediaType: LAYER_MEDIA_TYPES.dockerGzip,
      digest: s.digest,
      size: s.size,
    });
    for (const s of known) {
      const size = await client.blobSize(s.digest);
      if (size !== undefined) {
        opts.progress({ id, status: 'Layer already exists' });
        if (s.registry !== ref.domain || s.repository !== ref.path) await this.remember(layer.diffId, s, ref);
        return asDescriptor(s);
      }
    }
    for (const s of known) {
      if (s.registry !== ref.domain || s.repository === ref.path) continue;
      if (await client.mountBlob(s.digest, s.repository)) {
        opts.progress({ id, status: `Mounted from ${s.repository}` });
        await this.remember(layer.diffId, s, ref);
        return asDescriptor(s);
      }
    }

    const hash = createHash('sha256');
    let size = 0;
    const bar = byteProgress(opts.progress, id, 'Pushing', layer.size);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bar.add(chunk.length);
        cb(null, chunk);
      },
    });
    const hashed = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const body = new PassThrough();
    pipeline(
      layer.handle.createReadStream({ start: 0, autoClose: false }),
      counter,
      zlib.createGzip(),
      hashed,
      body,
    ).catch((err: unknown) => body.destroy(err as Error));
    let digest = '';
    try {
      await client.uploadBlob(body, () => (digest ||= `sha256:${hash.digest('hex')}`));
    } catch (err) {
      body.destroy(); // stops the compression, which would otherwise wait for a reader forever
      throw err;
    }
    opts.progress({ id, status: 'Pushed' });
    const pushed: LayerSource = {
      digest,
      size,
      mediaType: LAYER_MEDIA_TYPES.dockerGzip,
      registry: ref.domain,
      repository: ref.path,
    };
    await this.remember(layer.diffId, pushed, ref);
    return asDescriptor(pushed);
  }

  private async remember(diffId: string, s: LayerSource, ref: ParsedReference): Promise<void> {
    await this.deps.sources
      .add(diffId, { ...s, registry: ref.domain, repository: ref.path })
      .catch((err: unknown) => log.warn('could not remember a layer source', { error: String(err) }));
  }

  // ---- login -----------------------------------------------------------------

  /** Check credentials against a registry (docker login); returns a refresh token when one was issued. */
  async login(credentials: Credentials & { serverAddress?: string }, signal?: AbortSignal): Promise<string> {
    const domain = loginDomain(credentials.serverAddress);
    const client = await RegistryClient.connect({
      domain,
      repository: '',
      credentials,
      config: this.deps.registries,
      actions: [],
      signal,
      offlineAccess: true,
    });
    await client.login();
    return client.refreshToken ?? '';
  }
}

/** "https://index.docker.io/v1/", "127.0.0.1:5000", "http://host:5000/" → the registry's domain. */
export function loginDomain(serverAddress: string | undefined): string {
  if (!serverAddress) return DEFAULT_DOMAIN;
  const host = serverAddress
    .replace(/^[a-z]+:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  if (!host) throw invalid(`unable to parse server address "${serverAddress}"`);
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === DEFAULT_DOMAIN)
    return DEFAULT_DOMAIN;
  return host;
}
