// Turns `--user` ("", "name", "uid", "name:group", "uid:gid") into numeric ids by
// reading the image's /etc/passwd and /etc/group. The image is untrusted: its
// /etc/passwd may be a symlink to /etc/shadow or "../../host/file", so every path
// is resolved by hand with the rootfs as "/" and never followed on the host.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError, invalid } from '../errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;
const MAX_SYMLINKS = 40;
/** /etc/passwd of a real image is a few KiB; refuse to slurp a huge or endless file. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The host path of `target` inside `root`, with every symlink resolved as if
 * `root` were "/" (absolute links restart at root, ".." stops at root).
 * Components that do not exist are appended unresolved.
 */
export async function resolveInRoot(root: string, target: string): Promise<string> {
  const rootAbs = path.resolve(root);
  let pending = target.split('/').filter(Boolean);
  let current: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      current.pop();
      continue;
    }
    const hostPath = path.join(rootAbs, ...current, part);
    let st;
    try {
      st = await fs.lstat(hostPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return path.join(rootAbs, ...current, part, ...pending);
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS)
        throw invalid(`too many levels of symbolic links resolving ${target} in the image`);
      const dest = await fs.readlink(hostPath);
      if (dest.startsWith('/')) current = [];
      pending = [...dest.split('/').filter(Boolean), ...pending];
      continue;
    }
    current.push(part);
  }
  return path.join(rootAbs, ...current);
}

/** Reads a file of the image safely; undefined when it does not exist. */
async function readImageFile(rootfsPath: string, file: string): Promise<string | undefined> {
  const hostPath = await resolveInRoot(rootfsPath, file);
  let handle;
  try {
    // O_NOFOLLOW: the last component was checked above, refuse a link swapped in since.
    handle = await fs.open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw invalid(`${file} in the image changed into a symbolic link while being read`);
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return undefined; // a fifo or device would block or leak host data
    if (st.size > MAX_FILE_BYTES) throw invalid(`${file} in the image is too large (${st.size} bytes)`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2]);
    if (gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    out.push({ name: f[0], gid, members });
  }
  return out;
}

function checkRange(n: number): number {
  if (n > MAX_ID) throw invalid('uids and gids must be in range 0-2147483647');
  return n;
}

/**
 * The gids of `--group-add` values: a group of the image's /etc/group by name
 * (or by its number), else a number taken as is, as libcontainer's
 * GetAdditionalGroups reads them.
 */
function additionalGroups(names: string[], groups: GroupEntry[]): number[] {
  return names.map((name) => {
    const g = groups.find((x) => x.name === name || String(x.gid) === name);
    if (g) return g.gid;
    const n = parseId(name);
    if (n === undefined) throw invalid(`Unable to find group ${name}: no matching entries in group file`);
    return checkRange(n);
  });
}

/**
 * Numeric ids for `user` as the image defines them. Supplementary groups are those
 * naming the user in /etc/group, only when no group was given (as runc and dockerd),
 * then those of `groupAdd`; the primary gid is always among additionalGids, as
 * `docker run … id` shows.
 */
export async function resolveUser(
  rootfsPath: string,
  user: string | undefined,
  groupAdd: string[] = [],
): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
  const spec = (user ?? '').trim();
  const colon = spec.indexOf(':');
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? '' : spec.slice(colon + 1);

  const numericUser = userPart === '' ? 0 : parseId(userPart);
  const numericGroup = groupPart === '' ? undefined : parseId(groupPart);
  // "uid:gid" needs no files at all.
  const needPasswd = !(numericUser !== undefined && numericGroup !== undefined);
  const needGroup = numericGroup === undefined || groupAdd.length > 0;

  let passwd: PasswdEntry[] = [];
  let groups: GroupEntry[] = [];
  try {
    if (needPasswd) passwd = parsePasswd(await readImageFile(rootfsPath, '/etc/passwd'));
    if (needGroup) groups = parseGroup(await readImageFile(rootfsPath, '/etc/group'));
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw invalid(`unable to read the users of the image: ${(err as Error).message}`);
  }

  let entry: PasswdEntry | undefined;
  if (numericUser !== undefined) {
    entry = passwd.find((p) => p.uid === numericUser);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalid(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  const uid = checkRange(entry?.uid ?? (numericUser as number));
  let gid = entry?.gid ?? 0;
  let supplementary: number[] = [];

  if (groupPart !== '') {
    if (numericGroup !== undefined) {
      gid = numericGroup;
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalid(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (entry) {
    const name = entry.name;
    supplementary = groups.filter((g) => g.members.includes(name)).map((g) => g.gid);
  }
  checkRange(gid);
  supplementary.forEach(checkRange);
  const added = additionalGroups(groupAdd, groups);
  return { uid, gid, additionalGids: [...new Set([gid, ...supplementary, ...added])] };
}
