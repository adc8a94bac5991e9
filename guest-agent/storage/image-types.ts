// Shapes of images as the storage service keeps them and the engine reads them.

/** The image config JSON (docker image spec v1.3 / OCI image config). */
export interface ImageConfig {
  architecture: string;
  os: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    Shell?: string[];
    Healthcheck?: unknown;
    OnBuild?: string[] | null;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: Array<{
    created?: string;
    created_by?: string;
    author?: string;
    comment?: string;
    empty_layer?: boolean;
  }>;
  [key: string]: unknown;
}

export interface ImageRecord {
  /** 'sha256:<hex>' = sha256 of the exact config bytes. */
  id: string;
  /** Familiar form, e.g. ['busybox:latest']. */
  repoTags: string[];
  repoDigests: string[];
  config: ImageConfig;
  /** The image a build step made this one from, when built here. */
  parent?: string;
  /** Bytes of all its layers' files (uncompressed). */
  size: number;
  /** config.created or load time, RFC3339. */
  created: string;
}

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isSha256Digest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

export function digestHex(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice(7) : digest;
}
