// `docker run --rm` many times in a row against one engine, with the engine's
// footprint sampled as it goes: its memory, its open files, the mounts under
// its directories, its network namespaces and the links of its network, the
// cgroups of the containers it ran. Used by test/reliability/long-run.test.ts
// (a few hundred runs) and bench/long-run.ts (10,000 by default).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { docker } from '../helpers/docker.js';
import type { TestEngine } from '../helpers/engine.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { mountsUnder } from './invariants.js';

export interface Footprint {
  rssMB: number;
  fds: number;
  mounts: number;
  netns: number;
  links: number;
  /** Cgroup directories (any controller) of containers already removed. */
  cgroups: number;
  children: number;
}

export interface Sample extends Footprint {
  run: number;
  at: number;
}

async function count(dir: string): Promise<number> {
  return (await fs.readdir(dir).catch(() => [])).length;
}

async function cgroupsOf(ids: Set<string>): Promise<number> {
  if (ids.size === 0) return 0;
  const roots = [
    '/sys/fs/cgroup',
    ...(await fs.readdir('/sys/fs/cgroup').catch(() => [])).map((c) => `/sys/fs/cgroup/${c}`),
  ];
  let n = 0;
  for (const root of roots) {
    for (const name of await fs.readdir(path.join(root, 'berth')).catch(() => [])) if (ids.has(name)) n++;
  }
  return n;
}

async function childrenOf(pid: number): Promise<number> {
  const kids = await fs.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return kids.split(' ').filter(Boolean).length;
}

export async function footprint(engine: TestEngine, removed: Set<string>): Promise<Footprint> {
  const status = await fs.readFile(`/proc/${engine.pid}/status`, 'utf8');
  const links = await run('ip', ['-o', 'link', 'show'], { allowFailure: true });
  return {
    rssMB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 102.4) / 10,
    fds: await count(`/proc/${engine.pid}/fd`),
    mounts: (await mountsUnder(engine)).length,
    netns: await count(path.join(engine.execRoot, 'netns')),
    links: links.stdout.split('\n').filter(Boolean).length,
    cgroups: await cgroupsOf(removed),
    children: await childrenOf(engine.pid),
  };
}

/**
 * The footprint once the engine is at rest: after a container is removed it
 * makes the next one's spare network namespace while idle (a mount and a
 * link), so two readings 200 ms apart must agree on everything but memory.
 */
async function settled(engine: TestEngine, removed: Set<string>): Promise<Footprint> {
  let prev = await footprint(engine, removed);
  for (let i = 0; i < 25; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const cur = await footprint(engine, removed);
    const same = (['fds', 'mounts', 'netns', 'links', 'cgroups', 'children'] as const).every(
      (k) => cur[k] === prev[k],
    );
    prev = cur;
    if (same) return cur;
  }
  return prev;
}

/**
 * `docker run --rm busybox true`, `count` times in a row (busybox must be
 * loaded), sampling the footprint every `sampleEvery` runs and after the last.
 */
export async function runInARow(
  engine: TestEngine,
  count: number,
  opts: { sampleEvery?: number; onSample?: (s: Sample) => void } = {},
): Promise<{ samples: Sample[]; msPerRun: number; removed: Set<string> }> {
  const every = opts.sampleEvery ?? 25;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-long-run-'));
  const removed = new Set<string>();
  const samples: Sample[] = [];
  const take = async (i: number) => {
    const s = { run: i, at: Date.now(), ...(await settled(engine, removed)) };
    samples.push(s);
    opts.onSample?.(s);
  };
  const t0 = Date.now();
  try {
    await take(0);
    for (let i = 1; i <= count; i++) {
      const cidFile = path.join(dir, 'cid');
      const r = await docker(engine, ['run', '--rm', '--cidfile', cidFile, 'busybox', 'true']);
      if (r.code !== 0) throw new Error(`run ${i} of ${count} failed (${r.code}): ${r.stderr}`);
      removed.add((await fs.readFile(cidFile, 'utf8')).trim());
      await fs.rm(cidFile);
      if (i % every === 0 || i === count) await take(i);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return { samples, msPerRun: (Date.now() - t0) / count, removed };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export type Growth = Record<keyof Footprint, number>;

/**
 * End minus start of each figure, after a warm-up: the medians of the samples
 * in the first and the last fifth of the runs after `warmup` (RSS moves with
 * the garbage collector; a median of a few samples does not).
 */
export function growth(samples: Sample[], warmup: number): Growth {
  const after = samples.filter((s) => s.run >= warmup);
  const n = Math.max(1, Math.floor(after.length / 5));
  const first = after.slice(0, n);
  const last = after.slice(-n);
  const keys: Array<keyof Footprint> = ['rssMB', 'fds', 'mounts', 'netns', 'links', 'cgroups', 'children'];
  const out = {} as Growth;
  for (const k of keys)
    out[k] = Math.round((median(last.map((s) => s[k])) - median(first.map((s) => s[k]))) * 10) / 10;
  return out;
}
