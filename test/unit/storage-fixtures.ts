// Builders for the storage tests: layer tars from file specs, and whole image
// archives in docker-archive and OCI-layout form, all made in memory.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { run } from '../../guest-agent/util/subprocess.js';

export interface FileSpec {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
}

const MTIME = new Date('2024-01-02T03:04:05Z');

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Pack entries into a tar (uncompressed). Modes are written exactly (0 stays 0). */
export async function makeTar(specs: FileSpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const s of specs) {
    const type = s.type ?? 'file';
    const tarType = (
      {
        file: 'file',
        dir: 'directory',
        symlink: 'symlink',
        link: 'link',
        char: 'character-device',
        fifo: 'fifo',
      } as const
    )[type];
    const defaultMode = type === 'dir' ? 0o755 : 0o644;
    // tar-stream turns mode 0 into a default; type bits (masked when encoding) keep a real 0.
    const mode = (s.mode ?? defaultMode) | (type === 'dir' ? 0o040000 : 0o100000);
    const header = {
      name: s.path,
      type: tarType,
      mode,
      uid: s.uid ?? 0,
      gid: s.gid ?? 0,
      mtime: s.mtime ?? MTIME,
      linkname: s.linkname,
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, Buffer.from(s.content ?? ''), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const gzip = (b: Buffer): Buffer => zlib.gzipSync(b);

export interface ImageSpec {
  /** Uncompressed layer tars. */
  layers: Buffer[];
  tags?: string[];
  /** Store the layers gzip-compressed in the archive. */
  gzip?: boolean;
  /** Extra config fields (merged over the defaults). */
  config?: Record<string, unknown>;
  /** Override the config's diff_ids (to test mismatches). */
  diffIds?: string[];
}

export interface BuiltImage {
  id: string;
  configBytes: Buffer;
  diffIds: string[];
  stored: Buffer[];
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const diffIds = spec.diffIds ?? spec.layers.map((l) => sha256(l));
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-02T03:04:05Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'test' })),
    ...spec.config,
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  return {
    id: sha256(configBytes),
    configBytes,
    diffIds,
    stored: spec.layers.map((l) => (spec.gzip ? gzip(l) : l)),
  };
}

const hex = (d: string) => d.replace(/^sha256:/, '');

/** A docker-archive (docker save before 25): manifest.json, <id>.json, <n>/layer.tar. */
export async function dockerArchive(images: ImageSpec[]): Promise<Buffer> {
  const specs: FileSpec[] = [];
  const manifest: unknown[] = [];
  images.forEach((spec, i) => {
    const img = buildImage(spec);
    specs.push({ path: `${hex(img.id)}.json`, content: img.configBytes });
    const layers = img.stored.map((data, j) => {
      const name = `${i}-${j}/layer.tar`;
      specs.push({ path: `${i}-${j}/`, type: 'dir' }, { path: name, content: data });
      return name;
    });
    manifest.push({ Config: `${hex(img.id)}.json`, RepoTags: spec.tags ?? null, Layers: layers });
  });
  specs.push({ path: 'manifest.json', content: JSON.stringify(manifest) });
  return makeTar(specs);
}

/** An OCI image layout archive (podman oci-archive style, no manifest.json). */
export async function ociArchive(images: ImageSpec[]): Promise<Buffer> {
  const specs: FileSpec[] = [{ path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' }];
  const blobs = new Map<string, Buffer>();
  const index: unknown[] = [];
  for (const spec of images) {
    const img = buildImage(spec);
    blobs.set(hex(img.id), img.configBytes);
    const layers = img.stored.map((data) => {
      blobs.set(hex(sha256(data)), data);
      return {
        mediaType: spec.gzip
          ? 'application/vnd.oci.image.layer.v1.tar+gzip'
          : 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(data),
        size: data.length,
      };
    });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: img.id,
          size: img.configBytes.length,
        },
        layers,
      }),
    );
    blobs.set(hex(sha256(manifest)), manifest);
    const desc = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha256(manifest),
      size: manifest.length,
    };
    if (!spec.tags?.length) index.push(desc);
    for (const t of spec.tags ?? []) {
      index.push({ ...desc, annotations: { 'org.opencontainers.image.ref.name': t } });
    }
  }
  specs.push({ path: 'blobs/', type: 'dir' }, { path: 'blobs/sha256/', type: 'dir' });
  for (const [h, data] of blobs) specs.push({ path: `blobs/sha256/${h}`, content: data });
  specs.push({ path: 'index.json', content: JSON.stringify({ schemaVersion: 2, manifests: index }) });
  return makeTar(specs);
}

export function streamOf(b: Buffer): Readable {
  return Readable.from([b]);
}

export async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer | string>)
    chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

export interface TarListing {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  content: Buffer;
}

export async function listTar(data: Buffer): Promise<TarListing[]> {
  const extract = tar.extract();
  const out: TarListing[] = [];
  const feeding = (async () => {
    extract.end(data);
  })();
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(Buffer.from(c as Uint8Array));
    const h = entry.header;
    out.push({
      name: h.name,
      type: h.type ?? 'unknown',
      mode: h.mode ?? 0,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      linkname: h.linkname ?? undefined,
      content: Buffer.concat(chunks),
    });
  }
  await feeding;
  return out;
}

/** A fresh temp dir under /tmp; every mount below it is undone and it is removed at the end. */
export async function tempRoot(
  prefix = 'berth-storage-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return {
    dir,
    cleanup: async () => {
      const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
      const mounts = info
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m): m is string => !!m && m.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) await run('umount', ['-l', m], { allowFailure: true });
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Files named like `name` under /tmp but outside `except` (find, to cover every depth). */
export async function strayFiles(name: string, except: string): Promise<string[]> {
  const r = await run('find', ['/tmp', '-xdev', '-name', name, '-not', '-path', `${except}/*`], {
    allowFailure: true,
  });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}
