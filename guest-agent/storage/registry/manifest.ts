// Manifests as registries serve them: Docker schema2 manifests and manifest
// lists, OCI manifests and indexes. Parsing checks the shapes the puller
// relies on; choosing a platform picks this engine's entry from a list.
import { invalid } from '../../errors.js';
import { isSha256Digest, MEDIA_TYPES } from '../image-types.js';

export const LAYER_MEDIA_TYPES = {
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociTar: 'application/vnd.oci.image.layer.v1.tar',
  ociGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
} as const;

export const DOCKER_CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';
const SCHEMA1_TYPES = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];

/** What a pull asks for, best first. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.ociManifest,
].join(', ');

/** Largest manifest accepted (distribution's own limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ManifestIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

function descriptor(raw: unknown, where: string): Descriptor {
  const d = raw as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw invalid(`${where} is not a descriptor`);
  if (!isSha256Digest(d.digest)) {
    throw invalid(`${where} has an unsupported digest "${String(d.digest)}" (only sha256 is supported)`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(`${where} has an invalid size`);
  }
  return {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
    digest: d.digest,
    size: d.size,
    ...(d.platform && typeof d.platform === 'object' ? { platform: d.platform } : {}),
    ...(Array.isArray(d.urls) ? { urls: d.urls } : {}),
  };
}

/** Parse a manifest or index; `contentType` is what the registry said it is. */
export function parseManifest(
  bytes: Buffer,
  contentType: string,
  what: string,
): ImageManifest | ManifestIndex {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid(`${what} is not valid JSON`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(`${what} is not a JSON object`);
  const declared = typeof raw.mediaType === 'string' ? raw.mediaType : '';
  const type = (declared || contentType.split(';')[0]!.trim()).toLowerCase();
  if (SCHEMA1_TYPES.includes(type) || raw.schemaVersion === 1) {
    throw invalid(
      `${what} uses Docker Image manifest version 2, schema 1, which is no longer supported: push the image again with a current docker`,
    );
  }
  const isIndex =
    type === MEDIA_TYPES.dockerManifestList ||
    type === MEDIA_TYPES.ociIndex ||
    (!declared && Array.isArray(raw.manifests) && !raw.config);
  if (isIndex) {
    if (!Array.isArray(raw.manifests)) throw invalid(`${what} is an index without manifests`);
    return {
      kind: 'index',
      mediaType: type || MEDIA_TYPES.ociIndex,
      manifests: raw.manifests.map((m, i) => descriptor(m, `${what}: entry ${i}`)),
    };
  }
  const isManifest =
    type === MEDIA_TYPES.dockerManifest ||
    type === MEDIA_TYPES.ociManifest ||
    (!declared && raw.config !== undefined);
  if (!isManifest) throw invalid(`${what} has an unsupported media type "${type}"`);
  if (!Array.isArray(raw.layers)) throw invalid(`${what} has no layers list`);
  const config = descriptor(raw.config, `${what}: config`);
  if (config.mediaType && !/json/.test(config.mediaType)) {
    throw invalid(
      `${what} is not a container image (its config is "${config.mediaType}"): only container images can be pulled`,
    );
  }
  return {
    kind: 'manifest',
    mediaType: type || MEDIA_TYPES.ociManifest,
    config,
    layers: raw.layers.map((l, i) => descriptor(l, `${what}: layer ${i}`)),
  };
}

/** The engine's platform as OCI names it. */
export function enginePlatform(): Platform {
  switch (process.arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm':
      return { os: 'linux', architecture: 'arm', variant: 'v7' };
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    default:
      return { os: 'linux', architecture: process.arch };
  }
}

/** "linux/arm64/v8" → Platform; the os defaults to linux. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().toLowerCase().split('/');
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => p === '')) {
    throw invalid(`invalid platform "${spec}": expected os[/arch[/variant]]`);
  }
  const [os, architecture, variant] = parts as [string, string?, string?];
  const arch = architecture === 'x86_64' ? 'amd64' : architecture === 'aarch64' ? 'arm64' : architecture;
  return {
    os,
    architecture: arch ?? enginePlatform().architecture,
    ...(variant ? { variant } : {}),
  };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** The entry of a manifest list for this platform (arm64's variant v8 is also the unnamed default). */
export function choosePlatform(index: ManifestIndex, want: Platform): Descriptor | undefined {
  const wantVariant = want.variant ?? (want.architecture === 'arm64' ? 'v8' : undefined);
  const candidates = index.manifests.filter(
    (m) =>
      (m.mediaType === '' ||
        m.mediaType === MEDIA_TYPES.dockerManifest ||
        m.mediaType === MEDIA_TYPES.ociManifest) &&
      m.platform?.os === want.os &&
      m.platform.architecture === want.architecture,
  );
  const variantOf = (m: Descriptor) =>
    m.platform?.variant ?? (m.platform?.architecture === 'arm64' ? 'v8' : undefined);
  return (
    candidates.find((m) => variantOf(m) === wantVariant) ??
    (wantVariant === undefined ? candidates[0] : undefined)
  );
}
