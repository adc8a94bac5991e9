// --userns-remap, as dockerd reads it: containers run in a user namespace whose
// root is a subordinate id of a host user ("default" is the `dockremap` user,
// made on first use with a fresh range in /etc/subuid and /etc/subgid).
// The maps are what /etc/subuid and /etc/subgid grant that user; the engine
// stores everything a container sees under those host ids (see util/id-map.ts),
// in a data root of its own, <data-root>/<uid>.<gid>, as dockerd does.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid } from '../errors.js';
import { run } from '../util/subprocess.js';
import {
  remappedRoot,
  setIdMaps,
  shareWithRemappedRoot,
  type IdMapping,
  type IdMaps,
} from '../util/id-map.js';
import { usernsFileOf } from '../network/netns.js';
import type { OciSpec } from './oci-spec.js';

const DEFAULT_USER = 'dockremap';
/** dockerd's first range and size for the user it makes. */
const FIRST_SUBID = 100_000;
const RANGE_SIZE = 65_536;

interface Entry {
  name: string;
  id: number;
}

async function lookup(file: string, key: string): Promise<Entry | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3) continue;
    if (f[0] === key || f[2] === key) return { name: f[0]!, id: Number(f[2]) };
  }
  return undefined;
}

/** Lines "name:start:count" (or "uid:start:count") that grant ranges to this user. */
async function subordinateRanges(file: string, who: Entry): Promise<Array<{ start: number; count: number }>> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const out: Array<{ start: number; count: number }> = [];
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner !== who.name && owner !== String(who.id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0)
      out.push({ start: s, count: c });
  }
  return out;
}

/** Ranges in order become container ids 0, 1, … (dockerd's createIDMap). */
function toMappings(ranges: Array<{ start: number; count: number }>): IdMapping[] {
  let next = 0;
  return ranges.map((r) => {
    const m = { containerID: next, hostID: r.start, size: r.count };
    next += r.count;
    return m;
  });
}

/** The first range of RANGE_SIZE above every range already granted in the file. */
async function freeRange(file: string): Promise<number> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  let start = FIRST_SUBID;
  for (const line of text.split('\n')) {
    const [, s, c] = line.trim().split(':');
    const end = Number(s) + Number(c);
    if (Number.isSafeInteger(end) && end > start) start = end;
  }
  return start;
}

/** The `dockremap` user and group, and a range of subordinate ids for each, made as dockerd makes them. */
async function ensureDefaultUser(): Promise<void> {
  if (!(await lookup('/etc/passwd', DEFAULT_USER))) {
    const r = await run(
      'useradd',
      ['--system', '--user-group', '--shell', '/bin/false', '--no-create-home', DEFAULT_USER],
      {
        allowFailure: true,
      },
    );
    if (r.exitCode !== 0 && r.exitCode !== 9 /* made meanwhile */)
      throw new Error(`cannot make the ${DEFAULT_USER} user for --userns-remap=default: ${r.stderr.trim()}`);
  }
  const user = (await lookup('/etc/passwd', DEFAULT_USER))!;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    if ((await subordinateRanges(file, user)).length > 0) continue;
    const start = await freeRange(file);
    await fs.appendFile(file, `${DEFAULT_USER}:${start}:${RANGE_SIZE}\n`, { mode: 0o644 });
  }
}

/** The id maps of a --userns-remap value: "default", "user" or "user:group" (names or numbers). */
export async function resolveRemap(value: string): Promise<IdMaps> {
  if (value === '') throw invalid('--userns-remap needs a value: default, USER or USER:GROUP');
  let [userKey, groupKey] = value.split(':') as [string, string | undefined];
  if (value === 'default') {
    await ensureDefaultUser();
    userKey = DEFAULT_USER;
    groupKey = DEFAULT_USER;
  }
  const user = await lookup('/etc/passwd', userKey);
  if (!user) throw invalid(`--userns-remap: no such user "${userKey}" in /etc/passwd`);
  // Without a group, the group of the user's name (dockerd's default).
  const group = await lookup('/etc/group', groupKey ?? user.name);
  if (!group) throw invalid(`--userns-remap: no such group "${groupKey ?? user.name}" in /etc/group`);
  const uidRanges = await subordinateRanges('/etc/subuid', user);
  const gidRanges = await subordinateRanges('/etc/subgid', group);
  if (uidRanges.length === 0)
    throw invalid(`--userns-remap: no subordinate uid range for "${user.name}" in /etc/subuid`);
  if (gidRanges.length === 0)
    throw invalid(`--userns-remap: no subordinate gid range for "${group.name}" in /etc/subgid`);
  return { uid: toMappings(uidRanges), gid: toMappings(gidRanges) };
}

/**
 * Turns the remap on and makes its data root, <data-root>/<uid>.<gid> of
 * container root, as dockerd lays it out: the data root 0711 so that container
 * root can pass through, its own directory 0710 and group-owned by container root.
 */
export async function remappedDataRoot(base: string, maps: IdMaps): Promise<string> {
  setIdMaps(maps);
  const root = remappedRoot();
  const dir = path.join(path.resolve(base), `${root.uid}.${root.gid}`);
  await fs.mkdir(dir, { recursive: true, mode: 0o710 });
  await fs.chmod(path.resolve(base), 0o711);
  await fs.chmod(dir, 0o710);
  await shareWithRemappedRoot(dir);
  return dir;
}

/** HostConfig.UsernsMode: "" (the engine's remap, if any) or "host" (none). */
export function checkUsernsMode(
  mode: string | undefined,
  privileged: boolean,
  maps: IdMaps | undefined,
  shared: { network?: string; pid?: string },
): void {
  if (mode !== undefined && mode !== '' && mode !== 'host') throw invalid(`invalid USER mode: ${mode}`);
  if (maps && shared.network === 'host' && mode !== 'host')
    throw invalid("cannot share the host's network namespace when user namespaces are enabled");
  if (maps && shared.pid === 'host' && mode !== 'host')
    throw invalid('cannot share the host PID namespace when user namespaces are enabled');
  if (maps && privileged && mode !== 'host')
    throw invalid(
      'privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode',
    );
}

/** Puts the container in a new user namespace with the engine's maps. */
export function applyUserNamespace(spec: OciSpec, maps: IdMaps): void {
  const linux = spec.linux as OciSpec['linux'] & { uidMappings?: IdMapping[]; gidMappings?: IdMapping[] };
  // A network namespace the engine made belongs to a user namespace made with it (network/netns.ts).
  const net = linux.namespaces.find((n) => n.type === 'network' && n.path);
  const owner = net?.path ? usernsFileOf(net.path) : undefined;
  linux.namespaces.push(owner && existsSync(owner) ? { type: 'user', path: owner } : { type: 'user' });
  linux.uidMappings = maps.uid;
  linux.gidMappings = maps.gid;
}
