// Reading `docker save` / `podman save` archives: the outer tar is spooled to
// a temp dir (regular files only, paths checked), then manifest.json
// (docker-archive) or index.json (OCI layout) is turned into a list of images,
// each with its exact config bytes and the archive files of its layers.
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { EngineError, invalid } from '../errors.js';
import { sha256Hex } from '../util/ids.js';
import { decompress, safeRelPath, toReadable, writeAll, type TarEntry } from './layer-unpack.js';
import { fullyQualified, parseReference } from './reference.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  MEDIA_TYPES,
  isSha256Digest,
  digestHex,
  type ImageConfig,
} from './image-types.js';

/** Largest JSON document (config, manifest, index) read into memory. */
const MAX_JSON = 32 * 1024 * 1024;

export interface ArchiveImage {
  id: string;
  configBytes: Buffer;
  config: ImageConfig;
  /** Archive-relative paths of the layer files, in diff_id order (maybe compressed). */
  layers: string[];
  /** Fully qualified references. */
  tags: string[];
}

/** The spooled archive: regular files on disk, links remembered by name only. */
export class ArchiveFiles {
  readonly files = new Set<string>();
  readonly aliases = new Map<string, string>();

  constructor(readonly dir: string) {}

  /** The on-disk path of an archive member, following the archive's own links. */
  resolve(name: string): string | undefined {
    let rel = safeRelPath(name, 'archive path');
    for (let hops = 0; hops < 40; hops++) {
      if (this.files.has(rel)) return path.join(this.dir, rel);
      const next = this.aliases.get(rel);
      if (next === undefined) return undefined;
      rel = next;
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  async read(name: string, what: string): Promise<Buffer> {
    const p = this.resolve(name);
    if (!p) throw invalid(`the image archive is incomplete: ${what} "${name}" is missing`);
    const st = await fs.stat(p);
    if (st.size > MAX_JSON)
      throw invalid(`the image archive is invalid: ${what} "${name}" is too large (${st.size} bytes)`);
    return fs.readFile(p);
  }

  async readJson<T>(name: string, what: string): Promise<{ bytes: Buffer; value: T }> {
    const bytes = await this.read(name, what);
    try {
      return { bytes, value: JSON.parse(bytes.toString('utf8')) as T };
    } catch {
      throw invalid(`the image archive is invalid: ${what} "${name}" is not valid JSON`);
    }
  }
}

async function spoolEntry(files: ArchiveFiles, entry: TarEntry): Promise<void> {
  const h = entry.header;
  const type: string = h.type ?? 'unknown';
  try {
    const rel = safeRelPath(h.name, 'archive entry');
    if (rel === '' || type === 'directory') return;
    const abs = path.join(files.dir, rel);
    switch (type) {
      case 'file':
      case 'contiguous-file': {
        // Only regular files and directories are ever created here, so no path can lead through a symlink.
        try {
          await fs.mkdir(path.dirname(abs), { recursive: true });
        } catch (err) {
          if (
            (err as NodeJS.ErrnoException).code === 'ENOTDIR' ||
            (err as NodeJS.ErrnoException).code === 'EEXIST'
          ) {
            throw invalid(`refusing the archive: entry "${h.name}" lies under a path that is a file`);
          }
          throw err;
        }
        files.aliases.delete(rel);
        await fs.rm(abs, { force: true });
        const handle = await fs.open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          await writeAll(entry, handle);
        } finally {
          await handle.close();
        }
        files.files.add(rel);
        return;
      }
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target.startsWith('/'))
          throw invalid(`refusing the archive: symlink "${h.name}" -> "${target}" is absolute`);
        const joined = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
        const resolved = safeRelPath(joined, `target of symlink "${h.name}"`);
        files.files.delete(rel);
        files.aliases.set(rel, resolved);
        return;
      }
      case 'link': {
        const target = safeRelPath(h.linkname ?? '', `target of hardlink "${h.name}"`);
        files.files.delete(rel);
        files.aliases.set(rel, target);
        return;
      }
      default:
        return;
    }
  } finally {
    entry.resume();
  }
}

/** Spool the (possibly compressed) outer archive into dir. */
export async function spoolArchive(input: NodeJS.ReadableStream, dir: string): Promise<ArchiveFiles> {
  const files = new ArchiveFiles(dir);
  const extract = tar.extract();
  let parseErr: unknown;
  const fed = (async () => pipeline(await decompress(toReadable(input)), extract))().catch((err: unknown) => {
    parseErr = err;
  });
  const fail = (err: unknown): Error => {
    if (err instanceof EngineError) return err;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return err as Error;
    return invalid(`the image archive is not a valid tar: ${(err as Error)?.message ?? String(err)}`);
  };
  try {
    for await (const entry of extract) await spoolEntry(files, entry);
  } catch (err) {
    extract.destroy();
    await fed;
    throw fail(err);
  }
  await fed;
  if (parseErr) throw fail(parseErr);
  return files;
}

export function validateConfig(config: unknown, where: string): ImageConfig {
  const c = config as Partial<ImageConfig> | null;
  if (!c || typeof c !== 'object' || Array.isArray(c))
    throw invalid(`${where}: the image config is not a JSON object`);
  const rootfs = c.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw invalid(`${where}: the image config has no rootfs.diff_ids list`);
  }
  for (const d of rootfs.diff_ids) {
    if (!isSha256Digest(d))
      throw invalid(`${where}: the image config lists an invalid layer diff_id "${String(d)}"`);
  }
  if (c.os !== undefined && c.os !== 'linux') {
    throw invalid(`${where}: this is a "${String(c.os)}" image; only linux images can run here`);
  }
  return c as ImageConfig;
}

function normalizeTag(tag: string, where: string): string {
  try {
    const p = parseReference(tag);
    if (p.digest) throw invalid(`${where}: "${tag}" is a digest reference, not a tag`);
    return fullyQualified(tag);
  } catch (err) {
    if (err instanceof EngineError) throw invalid(`${where}: ${err.message}`);
    throw err;
  }
}

function imageFromConfig(configBytes: Buffer, where: string): { id: string; config: ImageConfig } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(configBytes.toString('utf8'));
  } catch {
    throw invalid(`${where}: the image config is not valid JSON`);
  }
  return { id: `sha256:${sha256Hex(configBytes)}`, config: validateConfig(parsed, where) };
}

interface DockerManifestEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

async function readDockerArchive(files: ArchiveFiles): Promise<ArchiveImage[]> {
  const { value } = await files.readJson<unknown>('manifest.json', 'manifest');
  if (!Array.isArray(value)) throw invalid('the image archive is invalid: manifest.json is not a list');
  const images: ArchiveImage[] = [];
  for (const raw of value as DockerManifestEntry[]) {
    if (!raw || typeof raw.Config !== 'string' || !Array.isArray(raw.Layers)) {
      throw invalid('the image archive is invalid: a manifest.json entry lacks Config or Layers');
    }
    const configName = raw.Config;
    const configBytes = await files.read(configName, 'image config');
    const { id, config } = imageFromConfig(configBytes, `image config "${configName}"`);
    const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(configName);
    if (named && named[1] !== digestHex(id)) {
      throw invalid(
        `the image archive is corrupt: config "${configName}" has digest ${id}, which does not match its name`,
      );
    }
    const layers = raw.Layers.map((l) => {
      if (typeof l !== 'string') throw invalid('the image archive is invalid: a Layers entry is not a path');
      return l;
    });
    checkLayerCount(layers.length, config, configName);
    const tags = Array.isArray(raw.RepoTags)
      ? raw.RepoTags.map((t) => normalizeTag(String(t), 'the image archive has an invalid tag'))
      : [];
    images.push({ id, configBytes, config, layers, tags });
  }
  return images;
}

function checkLayerCount(n: number, config: ImageConfig, where: string): void {
  if (n !== config.rootfs.diff_ids.length) {
    throw invalid(
      `the image archive is corrupt: image "${where}" has ${n} layer file(s) but its config lists ${config.rootfs.diff_ids.length} diff_id(s)`,
    );
  }
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

function hostArch(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return process.arch;
  }
}

function blobName(digest: string | undefined, what: string): string {
  if (!isSha256Digest(digest))
    throw invalid(`the image archive is invalid: ${what} has an unsupported digest "${String(digest)}"`);
  return `blobs/sha256/${digestHex(digest)}`;
}

async function readBlobJson<T>(
  files: ArchiveFiles,
  desc: Descriptor,
  what: string,
): Promise<{ bytes: Buffer; value: T }> {
  const name = blobName(desc.digest, what);
  const r = await files.readJson<T>(name, what);
  if (`sha256:${sha256Hex(r.bytes)}` !== desc.digest) {
    throw invalid(`the image archive is corrupt: ${what} ${desc.digest} does not match its digest`);
  }
  return r;
}

/** The name a descriptor's annotations give, as a fully qualified reference. */
function annotatedName(desc: Descriptor): string | undefined {
  const a = desc.annotations ?? {};
  const full = a[ANNOTATION_CONTAINERD_NAME];
  if (full) return normalizeTag(full, 'the image archive has an invalid image name');
  const ref = a[ANNOTATION_REF_NAME];
  // A bare "latest" is only a tag with no repository: such an image loads untagged.
  if (ref && /[:/]/.test(ref)) {
    try {
      return normalizeTag(ref, 'the image archive has an invalid image name');
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function isIndex(mt: string | undefined): boolean {
  return mt === MEDIA_TYPES.ociIndex || mt === MEDIA_TYPES.dockerManifestList;
}

function isManifest(mt: string | undefined): boolean {
  return mt === MEDIA_TYPES.ociManifest || mt === MEDIA_TYPES.dockerManifest;
}

/** From a nested index, the manifest for this machine (or the only one present). */
async function pickPlatform(
  files: ArchiveFiles,
  index: { manifests?: Descriptor[] },
  digest: string,
): Promise<Descriptor> {
  const present = (index.manifests ?? []).filter(
    (d) =>
      (isManifest(d.mediaType) || isIndex(d.mediaType)) &&
      isSha256Digest(d.digest) &&
      files.has(blobName(d.digest, 'manifest')),
  );
  const real = present.filter((d) => d.platform?.os !== 'unknown');
  const arch = hostArch();
  const match =
    real.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch) ??
    real.find((d) => !d.platform) ??
    (real.length === 1 ? real[0] : undefined);
  if (!match) {
    throw invalid(`the image archive has no linux/${arch} image in index ${digest}`);
  }
  return match;
}

async function readOciLayout(files: ArchiveFiles): Promise<ArchiveImage[]> {
  const { value: index } = await files.readJson<{ manifests?: Descriptor[] }>('index.json', 'index');
  if (!index || !Array.isArray(index.manifests))
    throw invalid('the image archive is invalid: index.json has no manifests');
  const byManifest = new Map<string, ArchiveImage>();
  const order: ArchiveImage[] = [];
  for (const top of index.manifests) {
    const name = annotatedName(top);
    if (top.mediaType !== undefined && !isIndex(top.mediaType) && !isManifest(top.mediaType)) continue;
    let desc: Descriptor = top;
    let manifest:
      | { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] }
      | undefined;
    for (let depth = 0; ; depth++) {
      if (depth > 8) throw invalid('the image archive is invalid: image indexes nest too deeply');
      const { value } = await readBlobJson<typeof manifest>(files, desc, 'image manifest');
      const mt =
        desc.mediaType ??
        value?.mediaType ??
        (value?.manifests ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
      if (isIndex(mt)) {
        desc = await pickPlatform(files, value ?? {}, String(desc.digest));
        continue;
      }
      if (isManifest(mt)) manifest = value;
      break;
    }
    if (!manifest) continue; // attestations and other artifacts
    const known = byManifest.get(String(desc.digest));
    if (known) {
      if (name && !known.tags.includes(name)) known.tags.push(name);
      continue;
    }
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw invalid(`the image archive is invalid: manifest ${desc.digest} lacks config or layers`);
    }
    const configName = blobName(manifest.config.digest, 'image config');
    const configBytes = await files.read(configName, 'image config');
    const { id, config } = imageFromConfig(configBytes, `image config ${manifest.config.digest}`);
    if (id !== manifest.config.digest) {
      throw invalid(
        `the image archive is corrupt: config ${manifest.config.digest} does not match its digest`,
      );
    }
    const layers = manifest.layers.map((l) => blobName(l.digest, 'layer'));
    checkLayerCount(layers.length, config, id);
    const img: ArchiveImage = { id, configBytes, config, layers, tags: name ? [name] : [] };
    byManifest.set(String(desc.digest), img);
    order.push(img);
  }
  return order;
}

/** The images of a spooled archive, in archive order; images listed twice are merged. */
export async function readArchive(files: ArchiveFiles): Promise<ArchiveImage[]> {
  let images: ArchiveImage[];
  if (files.has('manifest.json')) images = await readDockerArchive(files);
  else if (files.has('index.json')) images = await readOciLayout(files);
  else if (files.has('repositories')) {
    throw invalid(
      'this image archive uses the pre-1.10 "docker save" format, which is not supported: save it again with a current docker',
    );
  } else {
    throw invalid(
      'this is not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)',
    );
  }
  const merged = new Map<string, ArchiveImage>();
  for (const img of images) {
    const prev = merged.get(img.id);
    if (!prev) merged.set(img.id, img);
    else for (const t of img.tags) if (!prev.tags.includes(t)) prev.tags.push(t);
  }
  return [...merged.values()];
}
