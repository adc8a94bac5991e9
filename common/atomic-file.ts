// State on disk, the engine's and the host's (VM state, keys, image manifests),
// is written atomically: temp file, fsync, rename, fsync the directory. A crash
// leaves either the old or the new content, never a mix.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  mode = 0o600,
  opts: { mkdir?: boolean } = {},
): Promise<void> {
  const dir = path.dirname(file);
  if (opts.mkdir) await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** writeFileAtomic's temp name: ".<file>.<12 hex>.tmp" beside the file. */
const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temp files of writes a crash cut short in dir (not below it):
 * their content never became the file's, so nothing is lost. Call at start,
 * before anything writes there again.
 */
export async function removeStaleTemps(dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (TEMP_NAME.test(name)) await fs.rm(path.join(dir, name), { force: true });
}

export async function writeJsonAtomic(file: string, value: unknown, mode = 0o600): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value), mode);
}

/** undefined when the file is missing (or, with ignoreCorrupt, not JSON). */
export async function readJson<T>(
  file: string,
  opts: { ignoreCorrupt?: boolean } = {},
): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (opts.ignoreCorrupt && err instanceof SyntaxError) return undefined;
    throw err;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
