// berth cp: files between a container and this machine through the engine's
// archive endpoints, with docker cp's rules for where things land (a
// directory copied into an existing one keeps its name; to a new path it
// takes that name; SRC/. copies the contents; "-" is a tar on stdin/stdout).
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { engineRequest, engineStream } from '../engine-http.js';
import { CliError, type CommandContext, type CommandHandler } from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { humanSize } from '../output/human.js';

interface PathStat {
  name: string;
  size: number;
  mode: number;
  linkTarget: string;
}

/** "ctr:/path" → [container, path]; a local path (absolute, ./, or without a colon) → [undefined, path]. */
function splitArg(arg: string): [string | undefined, string] {
  if (path.isAbsolute(arg) || arg.startsWith('.') || arg === '-') return [undefined, arg];
  const colon = arg.indexOf(':');
  return colon <= 0 ? [undefined, arg] : [arg.slice(0, colon), arg.slice(colon + 1)];
}

const GO_DIR = 2 ** 31; // os.ModeDir in the stat header's mode

/** The container path's stat (HEAD …/archive), undefined when it does not exist. */
async function statInContainer(ctx: CommandContext, id: string, p: string): Promise<PathStat | undefined> {
  const r = await engineRequest(
    ctx.endpoint,
    'HEAD',
    `/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(p)}`,
  );
  const header = r.headers['x-docker-container-path-stat'];
  if (r.status === 200 && typeof header === 'string')
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
  if (r.status === 404 && !/container/i.test(r.body)) return undefined;
  if (r.status === 404) throw new CliError(`Error response from daemon: No such container: ${id}`);
  return undefined;
}

const isDir = (s: PathStat | undefined) => s !== undefined && Math.floor(s.mode / GO_DIR) % 2 === 1;

/** Counts the bytes going through (docker reports the archive's size). */
function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      (t as Transform & { bytes: number }).bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/** Writes the archive's entries under dest, the top entry renamed to `rename` when given. */
async function extractTo(
  archive: NodeJS.ReadableStream,
  dest: string,
  rename: string | undefined,
): Promise<void> {
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      void (async () => {
        let name = header.name.replace(/\/$/, '');
        if (rename !== undefined) {
          const parts = name.split('/');
          parts[0] = rename;
          name = parts.join('/');
        }
        const target = path.join(dest, name);
        if (!path.resolve(target).startsWith(path.resolve(dest)))
          throw new Error(`archive entry ${header.name} leaves ${dest}`);
        if (header.type === 'directory') {
          await fs.mkdir(target, { recursive: true, mode: header.mode });
          stream.resume();
        } else if (header.type === 'symlink') {
          await fs.rm(target, { force: true });
          await fs.symlink(header.linkname ?? '', target);
          stream.resume();
        } else if (header.type === 'file') {
          await fs.mkdir(path.dirname(target), { recursive: true });
          await pipeline(stream, createWriteStream(target, { mode: header.mode }));
        } else stream.resume();
        if (header.mtime && header.type !== 'symlink')
          await fs.utimes(target, header.mtime, header.mtime).catch(() => undefined);
      })().then(() => next(), reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  (archive as Readable).pipe(extract);
  await done;
}

/** A tar of one local file or folder, its top entry named `top` (its contents only when top is undefined). */
function packLocal(src: string, top: string | undefined): Readable {
  const pack = tar.pack();
  const add = async (abs: string, name: string | undefined): Promise<void> => {
    const st = await fs.lstat(abs);
    const header = { name: name ?? '.', mode: st.mode & 0o7777, mtime: st.mtime, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      if (name !== undefined) pack.entry({ ...header, type: 'directory' });
      for (const child of (await fs.readdir(abs)).sort())
        await add(path.join(abs, child), name === undefined ? child : `${name}/${child}`);
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...header, type: 'symlink', linkname: await fs.readlink(abs) });
    } else if (st.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ ...header, size: st.size }, (err) => (err ? reject(err) : resolve()));
        createReadStream(abs).on('error', reject).pipe(entry);
      });
    }
  };
  void add(src, top).then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  return pack as unknown as Readable;
}

async function fromContainer(
  ctx: CommandContext,
  id: string,
  src: string,
  dest: string,
  quiet: boolean,
): Promise<number> {
  const contentsOnly = /\/\.$/.test(src);
  const archive = await engineStream(
    ctx.endpoint,
    'GET',
    `/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(src)}`,
  );
  const count = counter();
  if (dest === '-') {
    await pipeline(archive, count, ctx.io.stdout);
    return 0;
  }
  const destStat = await fs.stat(dest).catch(() => undefined);
  const srcStat = await statInContainer(ctx, id, src);
  const srcIsDir = isDir(srcStat);
  const counted = (archive as Readable).pipe(count);
  if (destStat?.isDirectory()) {
    await extractTo(counted, dest, contentsOnly ? '.' : undefined);
  } else {
    if (dest.endsWith('/')) throw new CliError(`Error: destination directory "${dest}" must exist`);
    if (destStat && srcIsDir) throw new CliError(`Error: cannot copy a directory to a file: ${dest}`);
    const parent = path.dirname(path.resolve(dest));
    if (!(await fs.stat(parent).catch(() => undefined))?.isDirectory())
      throw new CliError(`Error: no such directory: ${parent}`);
    await extractTo(counted, parent, path.basename(dest));
  }
  if (!quiet) ctx.io.stderr.write(`Successfully copied ${humanSize(count.bytes, 4)} to ${dest}\n`);
  return 0;
}

async function toContainer(
  ctx: CommandContext,
  src: string,
  id: string,
  dest: string,
  quiet: boolean,
): Promise<number> {
  const container = ctx.docker.getContainer(id);
  const count = counter();
  if (src === '-') {
    await container.putArchive((ctx.io.stdin as Readable).pipe(count), { path: dest });
    return 0;
  }
  const srcStat = await fs.lstat(src).catch(() => undefined);
  if (!srcStat) throw new CliError(`Error: lstat ${path.resolve(src)}: no such file or directory`);
  const contentsOnly = /\/\.$/.test(src);
  const destStat = await statInContainer(ctx, id, dest);
  const destIsDir = isDir(destStat);
  let dir: string;
  let top: string | undefined;
  if (destIsDir) {
    dir = dest;
    top = contentsOnly ? undefined : path.basename(path.resolve(src));
  } else {
    if (destStat && srcStat.isDirectory())
      throw new CliError(`Error: cannot copy a directory to a file: ${dest}`);
    if (dest.endsWith('/')) throw new CliError(`Error: destination directory "${dest}" must exist`);
    dir = path.posix.dirname(dest);
    top = path.posix.basename(dest);
    if (contentsOnly) {
      // SRC/. to a new path: the folder is made with the contents inside.
      top = path.posix.basename(dest);
    }
  }
  const archive = packLocal(contentsOnly ? src.replace(/\/\.$/, '') : src, top);
  await container.putArchive(archive.pipe(count), { path: dir });
  if (!quiet) ctx.io.stderr.write(`Successfully copied ${humanSize(count.bytes, 4)} to ${id}:${dest}\n`);
  return 0;
}

export const cp: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    archive: { short: 'a' },
    'follow-link': { short: 'L' },
    quiet: { short: 'q' },
  });
  if (positionals.length !== 2) throw new UsageError('requires exactly 2 arguments');
  const [srcCtr, src] = splitArg(positionals[0]);
  const [destCtr, dest] = splitArg(positionals[1]);
  const quiet = f.quiet === true;
  if (srcCtr && destCtr) throw new CliError('copying between containers is not supported');
  if (!srcCtr && !destCtr) throw new CliError('must specify at least one container source');
  if (srcCtr) return fromContainer(ctx, srcCtr, src, dest, quiet);
  return toContainer(ctx, src, destCtr as string, dest, quiet);
};
