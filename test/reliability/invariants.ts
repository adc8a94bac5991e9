// What must hold of an engine's data root after a crash and restart: the
// containers listed are whole and truthful, and nothing on the host (mounts,
// network namespaces, veths, iptables rules, cgroups, runtime state, processes)
// is left without an owner. Shared by the reliability tests.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { readMounts } from '../helpers/host-cleanup.js';
import type { TestEngine } from '../helpers/engine.js';
import { run } from '../../guest-agent/util/subprocess.js';

const BRIDGE = 'berth0';

async function listDir(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}

async function pidAlive(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return !!stat && !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/** The container ids the engine has anything of on disk (records, rootfs, bundles). */
export async function idsOnDisk(engine: TestEngine): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const dir of [
    path.join(engine.dataRoot, 'containers'),
    path.join(engine.dataRoot, 'overlay'),
    path.join(engine.execRoot, 'containers'),
    path.join(engine.execRoot, 'netns'),
    path.join(engine.execRoot, 'runtime'),
  ])
    for (const name of await listDir(dir)) if (/^[0-9a-f]{64}$/.test(name)) ids.add(name);
  return ids;
}

/** Cgroup directories named /berth/<id> for the ids given, in every hierarchy. */
async function cgroupsOf(ids: Set<string>): Promise<string[]> {
  const found: string[] = [];
  const roots = ['/sys/fs/cgroup', ...(await listDir('/sys/fs/cgroup')).map((c) => `/sys/fs/cgroup/${c}`)];
  for (const root of roots) {
    for (const name of await listDir(path.join(root, 'berth')))
      if (ids.has(name)) found.push(`${root}/berth/${name}`);
  }
  return found;
}

/** Processes whose command line names the engine's dirs, other than the engine itself. */
async function strayProcesses(engine: TestEngine): Promise<string[]> {
  const base = path.dirname(engine.dataRoot) + '/';
  const out: string[] = [];
  for (const name of await listDir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === engine.pid || Number(name) === process.pid) continue;
    const cmd = (await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (cmd.includes(base) && (await pidAlive(Number(name)))) out.push(`${name}: ${cmd.trim()}`);
  }
  return out;
}

export interface Leak {
  kind: string;
  what: string;
}

/**
 * Checks that every container the engine lists is whole and tells the truth,
 * and that nothing is left of any other container: `knownIds` are all the
 * ids that may have existed (acknowledged or seen on disk before the restart).
 * Returns what is wrong; empty when all holds.
 */
export async function checkContainers(engine: TestEngine, knownIds: Set<string>): Promise<Leak[]> {
  const client = new Docker({ socketPath: engine.socket });
  const leaks: Leak[] = [];
  const listed = await client.listContainers({ all: true });
  const live = new Set<string>();
  const liveNetns = new Set<number>(); // inode of each running container's network namespace
  for (const c of listed) {
    const info = await client
      .getContainer(c.Id)
      .inspect()
      .catch((err: Error) => {
        leaks.push({ kind: 'container', what: `${c.Id} is listed but inspect fails: ${err.message}` });
        return undefined;
      });
    if (!info) continue;
    const s = info.State;
    if (s.Running) {
      live.add(c.Id);
      const ns = await fs.stat(`/proc/${s.Pid}/ns/net`).catch(() => undefined);
      if (ns) liveNetns.add(ns.ino);
      if (!(s.Pid > 0 && (await pidAlive(s.Pid))))
        leaks.push({ kind: 'state', what: `${c.Id} claims to run as pid ${s.Pid}, which is not alive` });
    } else {
      if (s.Pid !== 0) leaks.push({ kind: 'state', what: `${c.Id} is ${s.Status} with pid ${s.Pid}` });
      if (!['created', 'exited', 'dead'].includes(s.Status))
        leaks.push({ kind: 'state', what: `${c.Id} is not running but its status is ${s.Status}` });
    }
    const record = path.join(engine.dataRoot, 'containers', c.Id, 'config.v2.json');
    if (!(await fs.stat(record).catch(() => undefined)))
      leaks.push({ kind: 'half-created', what: `${c.Id} is listed without its record on disk` });
  }
  const listedIds = new Set(listed.map((c) => c.Id));
  const gone = new Set([...knownIds].filter((id) => !listedIds.has(id)));
  for (const id of await idsOnDisk(engine))
    if (!listedIds.has(id))
      leaks.push({ kind: 'half-created', what: `${id} has files on disk but is not listed` });
  const stopped = new Set([...listedIds, ...gone].filter((id) => !live.has(id)));

  const mounts = await readMounts();
  for (const m of mounts)
    for (const id of stopped)
      if (m.mountPoint.includes(id) || m.root.includes(id)) leaks.push({ kind: 'mount', what: m.mountPoint });
  for (const file of await listDir(path.join(engine.execRoot, 'netns')))
    if (!live.has(file)) leaks.push({ kind: 'netns', what: file });
  for (const cg of await cgroupsOf(stopped)) leaks.push({ kind: 'cgroup', what: cg });
  const state = await listDir(path.join(engine.execRoot, 'runtime'));
  for (const id of state) if (stopped.has(id)) leaks.push({ kind: 'runtime-state', what: id });

  // Each running container has one veth on a bridge; no more.
  const links = await run('ip', ['-o', 'link', 'show', 'master', BRIDGE], { allowFailure: true });
  const veths = links.stdout.split('\n').filter(Boolean).length;
  const runningOnBridge = (
    await Promise.all(
      [...live].map(async (id) => {
        const nets = (await client.getContainer(id).inspect()).NetworkSettings.Networks;
        return nets?.bridge ? 1 : 0;
      }),
    )
  ).reduce<number>((a, b) => a + b, 0);
  // The engine keeps one spare namespace wired to the default bridge and one with loopback only for
  // --network none (lo-*) in execRoot/netns-spare; the others there belong to running containers that
  // took them. The bridge spare's veth is on the bridge too.
  let spares = 0;
  let loopbackSpares = 0;
  for (const file of await listDir(path.join(engine.execRoot, 'netns-spare'))) {
    const ns = await fs.stat(path.join(engine.execRoot, 'netns-spare', file)).catch(() => undefined);
    if (ns && liveNetns.has(ns.ino)) continue;
    if (file.startsWith('lo-')) loopbackSpares++;
    else spares++;
  }
  if (spares > 1) leaks.push({ kind: 'netns', what: `${spares} spare bridge namespaces, not one` });
  if (loopbackSpares > 1)
    leaks.push({ kind: 'netns', what: `${loopbackSpares} spare loopback namespaces, not one` });
  // (A spare being made may not be on the bridge yet.)
  if (veths < runningOnBridge || veths > runningOnBridge + spares)
    leaks.push({
      kind: 'veth',
      what: `${veths} interfaces on ${BRIDGE} for ${runningOnBridge} running containers and ${spares} spare`,
    });

  // Port publications of containers that do not run: DNAT rules to a container address.
  const nat = await run('iptables-save', ['-t', 'nat'], { allowFailure: true });
  const liveAddrs = new Set<string>();
  for (const id of live) {
    const nets = (await client.getContainer(id).inspect()).NetworkSettings.Networks ?? {};
    for (const n of Object.values(nets)) if (n.IPAddress) liveAddrs.add(n.IPAddress);
  }
  for (const line of nat.stdout.split('\n')) {
    const to = /--to-destination (\d+\.\d+\.\d+\.\d+)/.exec(line)?.[1];
    if (to && !liveAddrs.has(to)) leaks.push({ kind: 'iptables', what: line });
  }

  for (const p of await strayProcesses(engine)) {
    // A running container's own processes are not strays.
    const pid = Number(p.split(':')[0]);
    const cg = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    if (![...live].some((id) => cg.includes(id))) leaks.push({ kind: 'process', what: p });
  }
  return leaks;
}

/** Mount points under the engine's dirs (data root and exec root). */
export async function mountsUnder(engine: TestEngine): Promise<string[]> {
  const base = path.dirname(engine.dataRoot) + '/';
  return (await readMounts()).filter((m) => m.mountPoint.startsWith(base)).map((m) => m.mountPoint);
}

/** Temp files the engine writes atomically (…tmp) or stages, left anywhere under the data root. */
export async function strayTempFiles(dataRoot: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 6) return;
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (/\.tmp[-.]|\.tmp$|^\.tmp|\.partial$|\.incomplete$/.test(e.name)) out.push(p);
      // Layer contents and volume data are the users' files: only the engine's own bookkeeping is walked.
      if (e.isDirectory() && !['diff', '_data', 'merged', 'work', 'upper'].includes(e.name))
        await walk(p, depth + 1);
    }
  };
  await walk(dataRoot, 0);
  return out;
}
