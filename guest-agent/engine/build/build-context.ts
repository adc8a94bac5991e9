// The build context: the tar the client sends. While it streams in, the tar
// is kept whole beside the work dir and indexed (context-index.ts), so a
// cached build reads the Dockerfile and the COPY/ADD cache hashes without
// unpacking anything. It is unpacked, once, when a step needs its files, or
// at once when the index cannot tell what unpacking would give (an entry
// below a symlink). Unpacking writes entries one by one through safe-path
// lookups, so "../" names, absolute names and symlinks in the archive cannot
// place a file outside the context, and sources are read the same way.
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { invalid, notFound } from '../../errors.js';
import { extractArchive } from '../../volumes/container-archive.js';
import { ContainerFs, fdPath } from '../../volumes/safe-path.js';
import { eachTarEntry } from '../../storage/layer-unpack.js';
import { ContextIndex } from './context-index.js';
import { diskTree, hashOnDisk, type CopySource, type SourceTree } from './copy-step.js';
import { contextRelative, globToRegExp, insideContext } from './source-paths.js';

const MAX_DOCKERFILE = 16 * 1024 * 1024;

const unusable = (err: unknown) => invalid(`the build context is not usable: ${(err as Error).message}`);

/** The names a Dockerfile is looked for under: a missing default "Dockerfile" falls back to "dockerfile", as dockerd does. */
function dockerfileCandidates(name: string): string[] {
  return name === 'Dockerfile' ? [name, 'dockerfile'] : [name];
}

export class BuildContext implements SourceTree {
  private unpacked?: Promise<void>;
  private readonly removed: string[] = [];
  private readonly disk: SourceTree;

  private constructor(
    readonly root: string,
    private readonly tarFile: string,
    private readonly index: ContextIndex,
  ) {
    this.disk = diskTree(root);
  }

  /**
   * Take in the client's context tar (plain, gzip, bzip2 or xz) for a build
   * into dir; the bytes of the Dockerfile (named `dockerfile`) and of
   * .dockerignore are held.
   */
  static async receive(body: NodeJS.ReadableStream, dir: string, dockerfile: string): Promise<BuildContext> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const tarFile = `${dir}.tar`;
    const names = [...dockerfileCandidates(dockerfile), '.dockerignore']
      .map(insideContext)
      .filter((n): n is string => n !== undefined);
    const index = new ContextIndex(new Set(names), MAX_DOCKERFILE);
    const fh = await fs.open(tarFile, 'wx', 0o600);
    try {
      // The bytes go to the saved tar on their way to the index.
      const spool = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          fh.write(chunk).then(() => cb(null, chunk), cb);
        },
      });
      await eachTarEntry(body, (entry) => index.add(entry), spool).catch((err: unknown) => {
        throw unusable(err);
      });
    } finally {
      await fh.close();
    }
    const context = new BuildContext(dir, tarFile, index);
    if (!index.reliable) await context.prepare();
    return context;
  }

  /** Unpack the context into root, once (before its files are copied). */
  prepare(): Promise<void> {
    this.unpacked ??= (async () => {
      try {
        await extractArchive(this.root, [], '/', createReadStream(this.tarFile));
      } catch (err) {
        throw unusable(err);
      }
      for (const rel of this.removed) await this.removeFromDisk(rel);
    })();
    return this.unpacked;
  }

  /** The Dockerfile's text. */
  async readDockerfile(name: string): Promise<string> {
    for (const candidate of dockerfileCandidates(name)) {
      const text = await this.readFile(candidate);
      if (text !== undefined) return text;
    }
    throw notFound(`Cannot locate specified Dockerfile: ${name}`);
  }

  private async readFile(name: string): Promise<string | undefined> {
    const rel = insideContext(name);
    const found = rel === undefined ? undefined : this.index.lookup(rel);
    if (found?.kind === 'missing') return undefined;
    if (found?.kind === 'found') {
      const file = this.index.content(rel!);
      if (!file) return undefined;
      if (file.size > MAX_DOCKERFILE) throw invalid(`the Dockerfile ${name} is too large`);
      if (file.bytes) return file.bytes.toString('utf8');
    }
    // Through a symlink, out of the context, or bytes not held (a hardlink's second name): the files say.
    await this.prepare();
    return this.readFromDisk(name);
  }

  private async readFromDisk(rel: string): Promise<string | undefined> {
    const cfs = await ContainerFs.open(this.root);
    try {
      const lk = await cfs.resolve(rel, { followFinal: true, allowMissing: true });
      try {
        if (!lk.stat?.isFile() || lk.name === null) return undefined;
        if (lk.stat.size > MAX_DOCKERFILE) throw invalid(`the Dockerfile ${rel} is too large`);
        return await fs.readFile(fdPath(lk.dir, lk.name), 'utf8');
      } finally {
        await lk.release();
      }
    } finally {
      await cfs.close();
    }
  }

  /**
   * Honour .dockerignore for the files the CLI sends anyway: a Dockerfile or
   * .dockerignore it names is removed from the context after being read.
   */
  async applyIgnoreFile(dockerfileName: string): Promise<void> {
    const text = await this.readFile('.dockerignore');
    if (text === undefined) return;
    const patterns = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignored = (rel: string) => {
      let out = false;
      for (const p of patterns) {
        const negate = p.startsWith('!');
        const clean = path.posix.normalize((negate ? p.slice(1) : p).replace(/^\/+/, ''));
        let re: RegExp;
        try {
          re = globToRegExp(clean);
        } catch {
          continue;
        }
        if (re.test(rel)) out = !negate;
      }
      return out;
    };
    for (const rel of ['.dockerignore', contextRelative(dockerfileName, 'COPY')]) {
      if (!rel || !ignored(rel)) continue;
      const found = this.index.lookup(rel);
      // Only a regular file is removed, as on disk below; a symlink leaves the index unsure.
      if (found.kind === 'found' && !found.isDir) this.index.remove(rel);
      this.removed.push(rel);
      if (this.unpacked) {
        await this.unpacked;
        await this.removeFromDisk(rel);
      }
    }
  }

  private async removeFromDisk(rel: string): Promise<void> {
    const cfs = await ContainerFs.open(this.root);
    try {
      const lk = await cfs.resolve(rel, { followFinal: false, allowMissing: true });
      try {
        if (lk.stat?.isFile() && lk.name !== null) await fs.unlink(fdPath(lk.dir, lk.name));
      } finally {
        await lk.release();
      }
    } finally {
      await cfs.close();
    }
  }

  // ---- SourceTree: answered from the index while it is sure, else from the unpacked files ----

  async list(): Promise<Array<{ rel: string; isDir: boolean }>> {
    const listed = this.index.list();
    if (listed) return listed;
    await this.prepare();
    return this.disk.list();
  }

  async stat(rel: string): Promise<{ isDir: boolean } | undefined> {
    const found = this.index.lookup(rel);
    if (found.kind === 'missing') return undefined;
    if (found.kind === 'found') return { isDir: found.isDir };
    await this.prepare();
    return this.disk.stat(rel);
  }

  async hash(source: CopySource): Promise<string> {
    if (source.root !== this.root) return hashOnDisk(source);
    if (this.index.lookup(source.rel).kind === 'found') return `index:${this.index.hashOf(source.rel)}`;
    await this.prepare();
    return hashOnDisk(source);
  }
}
