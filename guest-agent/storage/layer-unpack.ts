// Reading layer tars: decompress by magic bytes, hash while spooling to disk,
// and unpack into a layer directory for overlayfs (OCI whiteouts become overlay
// whiteouts). Archives are untrusted: every path is checked so that nothing is
// written outside the destination and nothing is written through a symlink.
import { promises as fs, constants as fsc, createReadStream, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCb } from 'node:stream';
import zlib from 'node:zlib';
import tar, { type Header, type Extract } from 'tar-stream';
import { EngineError, invalid } from '../errors.js';
import { run, spawnProcess } from '../util/subprocess.js';
import { log } from '../util/logger.js';
import { unwritten } from '../util/unwritten.js';
import { hostOwner, remappedRoot } from '../util/id-map.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export function toReadable(s: NodeJS.ReadableStream): Readable {
  return s instanceof Readable ? s : new Readable().wrap(s);
}

/** Read the first bytes of a stream without losing them. */
async function sniff(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as string);
    chunks.push(b);
    len += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      while (!ended) {
        const r = await it.next();
        if (r.done) return;
        yield r.value as Buffer;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false }) };
}

/** Decompress with an external tool (bzip2, xz, zstd); its failure fails the stream. */
function external(tool: string, source: Readable): Readable {
  const child = spawnProcess(tool, ['-dc'], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
  });
  const out = new PassThrough();
  let sourceErr: Error | undefined;
  pipelineCb(source, child.stdin!, (err) => {
    if (err) sourceErr = err;
  });
  child.stdout!.pipe(out, { end: false });
  const stdoutDone = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()));
  void Promise.all([child, stdoutDone]).then(([result]) => {
    if (sourceErr) out.destroy(sourceErr);
    else if (result.exitCode !== 0) {
      out.destroy(
        invalid(
          `could not decompress the ${tool} data: ${String(result.stderr ?? '').trim() || `${tool} exited with ${result.exitCode}`}`,
        ),
      );
    } else out.end();
  });
  out.once('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/**
 * gunzip for layers: 1 MiB output chunks instead of zlib's 16 KiB, so everything downstream (hashing, the
 * tar parser, file writes) runs about a hundred times per 100 MB; under V8's lite mode the per-chunk cost is
 * most of it (a 100 MB layer staged in 1.0 s instead of 1.5 s with 64 KiB chunks).
 */
export function createLayerGunzip(): zlib.Gunzip {
  return zlib.createGunzip({ chunkSize: 1024 * 1024 });
}

/** The stream's content, decompressed when it starts with a gzip, bzip2, xz or zstd magic. */
export async function decompress(input: NodeJS.ReadableStream): Promise<Readable> {
  const { head, stream } = await sniff(toReadable(input), 6);
  const kind = detectCompression(head);
  switch (kind) {
    case 'none':
      return stream;
    case 'gzip': {
      const gunzip = createLayerGunzip();
      pipelineCb(stream, gunzip, () => {});
      return gunzip;
    }
    default:
      return external(kind, stream);
  }
}

/** An entry's data size from its header block (octal, or base-256 when the first byte's high bit is set). */
function headerSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  // Digits, maybe padded with spaces on either side, ended by a NUL or a space.
  const n = parseInt(field.toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
  return Number.isNaN(n) ? 0 : n;
}

/**
 * Passes a tar through, and completes one that stops right after its last
 * entry's data (without the padding) or between entries (without the
 * trailer's zero blocks): Go's archive/tar reads either as a whole archive,
 * and the docker CLI sends a build context like that for `build -f -`. A
 * stream cut anywhere else (in a header, in an entry's data) is passed on as
 * it is, for the parser to refuse.
 */
export function completeTarTail(): Transform {
  const header = Buffer.alloc(512);
  let inHeader = 0; // bytes of the current header block seen
  let dataLeft = 0; // bytes of the current entry's data still to come
  let padLeft = 0; // then its padding to the next block
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      let at = 0;
      while (at < chunk.length) {
        const rest = chunk.length - at;
        if (dataLeft > 0 || padLeft > 0) {
          const take = Math.min(dataLeft > 0 ? dataLeft : padLeft, rest);
          if (dataLeft > 0) dataLeft -= take;
          else padLeft -= take;
          at += take;
          continue;
        }
        const take = Math.min(512 - inHeader, rest);
        chunk.copy(header, inHeader, at, at + take);
        inHeader += take;
        at += take;
        if (inHeader === 512) {
          inHeader = 0;
          dataLeft = headerSize(header);
          padLeft = (512 - (dataLeft % 512)) % 512;
        }
      }
      cb(null, chunk);
    },
    flush(cb) {
      if (inHeader === 0 && dataLeft === 0) this.push(Buffer.alloc(padLeft + 1024));
      cb();
    },
  });
}

/**
 * Each entry of a tar (plain, gzip, bzip2 or xz), in order, through onEntry;
 * `through` (a Transform) sees the plain bytes on their way. The error thrown
 * is an entry's own failure first, then the stream's (the other's is only its
 * consequence: a "premature close").
 */
export async function eachTarEntry(
  input: NodeJS.ReadableStream,
  onEntry: (entry: TarEntry) => Promise<void>,
  through?: NodeJS.ReadWriteStream,
): Promise<void> {
  const extract = tar.extract();
  let feedErr: Error | undefined;
  const fed = decompress(input)
    .then((plain) =>
      through
        ? pipeline(toReadable(plain), completeTarTail(), through, extract)
        : pipeline(toReadable(plain), completeTarTail(), extract),
    )
    .catch((err: Error) => {
      feedErr = err;
      extract.destroy(err);
    });
  let entryErr: unknown;
  try {
    for await (const entry of extract) {
      await onEntry(entry).catch((err: unknown) => {
        entryErr = err;
        throw err;
      });
    }
  } catch (err) {
    extract.destroy();
    await fed;
    throw entryErr ?? feedErr ?? err;
  }
  await fed;
  if (feedErr) throw feedErr;
}

/** Spool a stream to a new file while computing its sha256. */
export async function hashToFile(input: Readable, file: string): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const handle = await fs.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    const tap = (async function* () {
      for await (const c of input) {
        const chunk = c as Buffer;
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    })();
    await writeAll(tap, handle);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}

/** Writes are gathered up to this many bytes: one system call and one await per MiB, not per chunk. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Copy a tar entry into an open file. (Node's stream.pipeline does not see the
 * end of tar-stream's streamx entries, so the entry is iterated instead.)
 */
export async function writeAll(entry: AsyncIterable<unknown>, handle: FileHandle): Promise<void> {
  const batch = new WriteBatcher(handle);
  for await (const c of entry) await batch.add(c as Uint8Array);
  await batch.flush();
}

/**
 * Appends chunks to a file in batches of about WRITE_BATCH_BYTES; add() waits only when a batch is full and
 * the previous one is still being written, so the caller works on while the kernel writes.
 */
export class WriteBatcher {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly handle: FileHandle) {}

  async add(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < WRITE_BATCH_BYTES) return;
    await this.writing;
    this.writing = this.writeOut();
    this.writing.catch(() => undefined); // awaited by the next add() or by flush()
  }

  async flush(): Promise<void> {
    await this.writing;
    await this.writeOut();
  }

  private async writeOut(): Promise<void> {
    let chunks = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    while (chunks.length > 0) {
      const { bytesWritten } = await this.handle.writev(chunks);
      chunks = unwritten(chunks, bytesWritten); // empty unless a short write
    }
  }
}

/** sha256 of a file's content. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(file),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    }),
  );
  return `sha256:${hash.digest('hex')}`;
}

/**
 * A tar entry name made relative and checked: absolute paths and ".." components
 * are refused. '' is the layer root.
 */
export function safeRelPath(name: string, what = 'entry'): string {
  if (name.startsWith('/')) {
    throw invalid(
      `refusing the archive: ${what} "${name}" has an absolute path; layer paths must be relative`,
    );
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw invalid(
      `refusing the archive: ${what} "${name}" contains a ".." component that would leave the layer`,
    );
  }
  return parts.join('/');
}

/** Whether a relative symlink target, seen from the link's directory, climbs above the root. */
export function symlinkEscapes(linkRel: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  let depth = linkRel.split('/').length - 1;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      depth -= 1;
      if (depth < 0) return true;
    } else depth += 1;
  }
  return false;
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  return 'special file';
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Largest batch of paths handed to one helper process. */
const BATCH = 500;

async function inBatches(paths: string[], fn: (batch: string[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < paths.length; i += BATCH) await fn(paths.slice(i, i + BATCH));
}

/** Create overlay whiteouts (character device 0:0). */
export async function makeWhiteouts(paths: string[]): Promise<void> {
  await inBatches(paths, (batch) =>
    run('sh', ['-c', 'for f do mknod -m 0 "$f" c 0 0 || exit 1; done', 'sh', ...batch]),
  );
}

/** Mark directories opaque for overlayfs (needs setfattr from Debian "attr"). */
export async function markOpaque(dirs: string[]): Promise<void> {
  await inBatches(dirs, (batch) =>
    run('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', ...batch]),
  );
}

type PaxHeaders = Omit<Header, 'pax'> & { pax?: Record<string, string> | null };
export type TarEntry = Extract extends AsyncIterable<infer S> ? S : never;

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime?: Date;
}

export interface UnpackResult {
  /** Bytes of regular files (each inode once). */
  size: number;
}

/**
 * Unpack an uncompressed layer tar into dest (an existing, empty directory
 * that only this call writes to).
 */
export async function unpackLayer(input: NodeJS.ReadableStream, dest: string): Promise<UnpackResult> {
  const u = new Unpacker(dest);
  const extract = tar.extract();
  let parseErr: Error | undefined;
  const fed = pipeline(toReadable(input), extract).catch((err: Error) => {
    parseErr = err;
  });
  try {
    for await (const entry of extract) {
      await u.entry(entry);
    }
  } catch (err) {
    extract.destroy();
    await fed;
    throw asLayerError(err);
  }
  await fed;
  if (parseErr) throw asLayerError(parseErr);
  await u.finish();
  return { size: u.size };
}

/** Errors of the data (bad tar, bad gzip) are the client's; system errors (ENOSPC…) stay as they are. */
export function asLayerError(err: unknown): Error {
  if (err instanceof EngineError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return err as Error;
  return invalid(`the layer is not a valid tar archive: ${(err as Error)?.message ?? String(err)}`);
}

class Unpacker {
  size = 0;
  /** Relative paths known to be real directories created by this unpack. */
  private readonly dirs = new Set<string>(['']);
  private readonly dirMeta = new Map<string, DirMeta>();
  private readonly whiteouts = new Set<string>();
  private readonly opaque = new Set<string>();

  constructor(private readonly root: string) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  /** Make every parent of rel a real directory, refusing to pass through anything else. */
  private async ensureParents(rel: string, entryName: string): Promise<void> {
    const parts = rel.split('/');
    parts.pop();
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      if (this.dirs.has(cur)) continue;
      const st = await lstatOrUndefined(this.abs(cur));
      if (!st) {
        await fs.mkdir(this.abs(cur), 0o755);
        const root = remappedRoot();
        if (root.uid !== 0) await fs.lchown(this.abs(cur), root.uid, root.gid);
      } else if (!st.isDirectory()) {
        throw invalid(
          `refusing the archive: entry "${entryName}" would be written through "${cur}", which is a ${kindOf(st)}, not a directory`,
        );
      }
      this.dirs.add(cur);
    }
  }

  /** Check, without creating anything, that every parent of rel is a real directory. */
  private async checkParents(rel: string, entryName: string): Promise<boolean> {
    const parts = rel.split('/');
    parts.pop();
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      const st = await lstatOrUndefined(this.abs(cur));
      if (!st) return false;
      if (!st.isDirectory()) {
        throw invalid(
          `refusing the archive: "${entryName}" lies under "${cur}", which is a ${kindOf(st)}, not a directory`,
        );
      }
    }
    return true;
  }

  /** Remove whatever is at rel (never following a symlink). */
  private async clear(rel: string, keepDir: boolean): Promise<boolean> {
    const p = this.abs(rel);
    const st = await lstatOrUndefined(p);
    if (!st) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      await fs.rm(p, { recursive: true, force: true });
      for (const d of [...this.dirs]) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
      return false;
    }
    await fs.unlink(p);
    return false;
  }

  async entry(entry: TarEntry): Promise<void> {
    const h = entry.header as PaxHeaders;
    const name = h.name;
    // Unknown typeflags decode as null; tar-stream consumes pax/GNU long-name records itself.
    const type: string = h.type ?? 'unknown';
    try {
      const rel = safeRelPath(name);
      // The tar's ids are the container's; on disk they are the host's (the same without --userns-remap).
      const { uid, gid } = hostOwner(
        h.pax?.uid !== undefined ? Number(h.pax.uid) : (h.uid ?? 0),
        h.pax?.gid !== undefined ? Number(h.pax.gid) : (h.gid ?? 0),
      );
      const mtime = h.pax?.mtime !== undefined ? new Date(Number(h.pax.mtime) * 1000) : h.mtime;
      const mode = (h.mode ?? 0o644) & 0o7777;

      if (rel === '') {
        if (type === 'directory') this.dirMeta.set('', { mode, uid, gid, mtime });
        return;
      }
      const base = path.posix.basename(rel);
      const parentRel = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
      if (base.startsWith('.wh.')) {
        await this.ensureParents(rel, name);
        if (base === '.wh..wh..opq') this.opaque.add(parentRel);
        else if (base.startsWith('.wh..wh.')) log.debug('layer: skipping aufs metadata entry', { name });
        else {
          const hidden = base.slice(4);
          if (hidden === '' || hidden === '.' || hidden === '..') {
            throw invalid(`refusing the archive: whiteout entry "${name}" does not name a file`);
          }
          this.whiteouts.add(parentRel === '' ? hidden : `${parentRel}/${hidden}`);
        }
        return;
      }

      switch (type) {
        case 'directory': {
          await this.ensureParents(rel, name);
          const existed = await this.clear(rel, true);
          if (!existed) await fs.mkdir(this.abs(rel), 0o700);
          this.dirs.add(rel);
          this.dirMeta.set(rel, { mode, uid, gid, mtime });
          return;
        }
        case 'file':
        case 'contiguous-file': {
          await this.ensureParents(rel, name);
          await this.clear(rel, false);
          const handle = await fs.open(
            this.abs(rel),
            fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW,
            0o600,
          );
          try {
            await writeAll(entry, handle);
            await handle.chown(uid, gid);
            await handle.chmod(mode);
            if (mtime) await handle.utimes(mtime, mtime);
          } finally {
            await handle.close();
          }
          this.size += h.size ?? 0;
          return;
        }
        case 'symlink': {
          const target = h.linkname ?? '';
          if (target === '') throw invalid(`refusing the archive: symlink "${name}" has an empty target`);
          if (symlinkEscapes(rel, target)) {
            throw invalid(`refusing the archive: symlink "${name}" -> "${target}" points outside the layer`);
          }
          await this.ensureParents(rel, name);
          await this.clear(rel, false);
          await fs.symlink(target, this.abs(rel));
          await fs.lchown(this.abs(rel), uid, gid);
          if (mtime) await fs.lutimes(this.abs(rel), mtime, mtime);
          return;
        }
        case 'link': {
          const rawTarget = h.linkname ?? '';
          const targetRel = safeRelPath(rawTarget, `hardlink target of "${name}"`);
          if (targetRel === '')
            throw invalid(`refusing the archive: hardlink "${name}" points at the layer root`);
          if (targetRel === rel) return;
          const found = await this.checkParents(targetRel, rawTarget);
          const st = found ? await lstatOrUndefined(this.abs(targetRel)) : undefined;
          if (!st || st.isDirectory()) {
            throw invalid(
              `refusing the archive: hardlink "${name}" -> "${rawTarget}" does not point at an earlier file of the layer`,
            );
          }
          await this.ensureParents(rel, name);
          await this.clear(rel, false);
          await fs.link(this.abs(targetRel), this.abs(rel));
          return;
        }
        case 'fifo': {
          await this.ensureParents(rel, name);
          await this.clear(rel, false);
          await run('mkfifo', ['-m', mode.toString(8), this.abs(rel)]);
          await fs.lchown(this.abs(rel), uid, gid);
          if (mtime) await fs.lutimes(this.abs(rel), mtime, mtime);
          return;
        }
        case 'character-device':
        case 'block-device':
          // The runtime provides /dev; device nodes in images are not needed.
          log.debug('layer: skipping device node', { name });
          return;
        default:
          log.debug('layer: skipping unsupported entry type', { name, type });
          return;
      }
    } finally {
      // Whatever was not read (skipped entries) must still be drained.
      entry.resume();
    }
  }

  /** Apply what must come last: whiteouts, opaque markers, directory metadata. */
  async finish(): Promise<void> {
    const whiteouts: string[] = [];
    for (const rel of this.whiteouts) {
      if (!(await this.checkParents(rel, rel))) continue;
      // Content of the same layer wins over its own whiteouts (OCI layer spec).
      if (await lstatOrUndefined(this.abs(rel))) continue;
      whiteouts.push(this.abs(rel));
    }
    await makeWhiteouts(whiteouts);

    const opaque: string[] = [];
    for (const rel of this.opaque) {
      if (!(await this.checkParents(rel === '' ? 'x' : `${rel}/x`, rel))) continue;
      const st = await lstatOrUndefined(this.abs(rel));
      if (st?.isDirectory()) opaque.push(this.abs(rel));
    }
    await markOpaque(opaque);

    for (const [rel, meta] of this.dirMeta) {
      const p = this.abs(rel);
      const st = await lstatOrUndefined(p);
      if (!st?.isDirectory()) continue;
      await fs.lchown(p, meta.uid, meta.gid);
      await fs.chmod(p, meta.mode);
      if (meta.mtime) await fs.utimes(p, meta.mtime, meta.mtime);
    }
  }
}
