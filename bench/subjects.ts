// The pieces every benchmark shares: starting the two subjects (Berth's engine
// and dockerd), driving them with the docker CLI, timing, the result table and
// the JSON file under .test-artifacts/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { docker, type DockerOptions } from '../test/helpers/docker.js';
import { ping, startEngine, type TestEngine } from '../test/helpers/engine.js';
import { killProcessesUsing, unmountUnder } from '../test/helpers/host-cleanup.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Target {
  name: string;
  /** Berth's value / dockerd's value must be at most this (lower is better)… */
  maxRatio?: number;
  /** …or at least this (higher is better, e.g. throughput)… */
  minRatio?: number;
  /** …or Berth's value at most this, in the row's unit (absolute targets). */
  maxValue?: number;
}

export interface Row {
  key: string;
  label: string;
  unit: string;
  berth: number;
  dockerd?: number;
  target?: Target;
}

export interface Subject {
  name: string;
  host: string;
  /** Pids whose RSS together is the engine's memory. */
  memoryPids(): Promise<number[]>;
  stop(): Promise<void>;
}

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(name));
  }
  return out;
}

async function commName(pid: number): Promise<string> {
  return (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

export async function must(subject: Subject, args: string[], opts?: DockerOptions): Promise<string> {
  const r = await docker(subject, args, opts);
  if (r.code !== 0)
    throw new Error(`${subject.name}: docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Wall time of fn in ms. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const CLOCK_TICKS = 100;

/** utime+stime (+ reaped children's) of a process, in seconds; 0 once it is gone. */
export async function cpuSeconds(pid: number, withChildren: boolean): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return 0;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14–17 of /proc/<pid>/stat (1-based), after "pid (comm) ".
  const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number);
  return (utime + stime + (withChildren ? cutime + cstime : 0)) / CLOCK_TICKS;
}

/** Interleaved samples: each round times `fn` once on every subject, in turn, so a change in the machine's
 * load hits all alike. */
export async function alternate(
  subjects: Subject[],
  rounds: number,
  fn: (s: Subject) => Promise<unknown>,
): Promise<number[][]> {
  const samples = subjects.map(() => [] as number[]);
  for (let i = 0; i < rounds; i++) {
    for (const [k, s] of subjects.entries()) samples[k]!.push(await timed(() => fn(s)));
  }
  return samples;
}

/**
 * The engines create bridges, veths and iptables rules: run only inside the
 * network namespace scripts/bench.mjs made for this run (it names it in
 * BERTH_BENCH_NETNS), never in the machine's own.
 */
export async function requirePrivateNetns(): Promise<void> {
  const name = process.env.BERTH_BENCH_NETNS;
  const [mine, made] = await Promise.all([
    fs.stat('/proc/self/ns/net').catch(() => undefined),
    name ? fs.stat(`/run/netns/${name}`).catch(() => undefined) : undefined,
  ]);
  if (!mine || !made || mine.ino !== made.ino || mine.dev !== made.dev) {
    console.error(
      'run benchmarks through `npm run bench [-- engine|volumes|network]`: it gives them a network namespace of their own',
    );
    process.exit(2);
  }
}

export async function startBerth(): Promise<Subject & { engine: TestEngine }> {
  const engine = await startEngine({ extraArgs: ['--log-level', 'warn'] });
  return {
    name: 'Berth',
    host: engine.host,
    engine,
    memoryPids: async () => [engine.pid],
    stop: () => engine.cleanup(),
  };
}

/** dockerd without any network of its own: containers run with --network none. */
export const DOCKERD_NO_BRIDGE = ['--bridge=none', '--iptables=false', '--ip6tables=false'];

export async function startDockerd(
  dockerd: string,
  networkArgs: string[] = DOCKERD_NO_BRIDGE,
): Promise<Subject> {
  const dir = await fs.mkdtemp('/tmp/berth-bench-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const log = await fs.open(logFile, 'a');
  // Plain child_process: this is the comparison daemon, not part of Berth.
  const child: ChildProcess = spawn(
    dockerd,
    [
      '-H',
      `unix://${socket}`,
      '--data-root',
      path.join(dir, 'root'),
      '--exec-root',
      path.join(dir, 'exec'),
      '--pidfile',
      path.join(dir, 'dockerd.pid'),
      ...networkArgs,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  const cleanup = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exit;
      clearTimeout(timer);
    }
    await killProcessesUsing(dir);
    await unmountUnder(dir);
    await fs.rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!(await ping(socket, 1000))) {
    if (exited || Date.now() > deadline) {
      const tail = (await fs.readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
      await cleanup();
      throw new Error(`dockerd did not come up:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name: 'dockerd',
    host: `unix://${socket}`,
    memoryPids: async () => {
      const pid = child.pid ?? 0;
      const kids = await childrenOf(pid);
      const containerd = [];
      for (const k of kids) if ((await commName(k)) === 'containerd') containerd.push(k);
      return [pid, ...containerd];
    },
    stop: cleanup,
  };
}

/** Starts a subject, runs fn with it, and always stops it. */
export async function withSubject<T>(
  start: () => Promise<Subject>,
  fn: (s: Subject) => Promise<T>,
): Promise<T> {
  const s = await start();
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

/**
 * The same measurement on Berth and, where Debian's docker.io is installed, on
 * dockerd (started with `dockerdNetworkArgs`), one after the other.
 */
export async function measureBoth<T>(
  measure: (s: Subject) => Promise<T>,
  dockerdNetworkArgs: string[] = DOCKERD_NO_BRIDGE,
): Promise<{ berth: T; dockerd?: T; dockerdPath?: string }> {
  const dockerdPath = which('dockerd');
  console.log('measuring Berth …');
  const berth = await withSubject(startBerth, measure);
  if (!dockerdPath) {
    console.log('dockerd is not installed (Debian docker.io): Berth is measured alone');
    return { berth };
  }
  console.log(`measuring dockerd (${dockerdPath} ${dockerdNetworkArgs.join(' ')}) …`);
  const dockerd = await withSubject(() => startDockerd(dockerdPath, dockerdNetworkArgs), measure);
  return { berth, dockerd, dockerdPath };
}

function fmt(n: number | undefined, unit: string): string {
  if (n === undefined) return 'n/a';
  return `${n.toFixed(1)} ${unit}`;
}

export function verdict(row: Row): string {
  const t = row.target;
  if (!t) return '';
  if (t.maxValue !== undefined)
    return row.berth <= t.maxValue
      ? `met (≤ ${t.maxValue} ${row.unit})`
      : `MISSED (≤ ${t.maxValue} ${row.unit})`;
  const ratio = row.dockerd ? row.berth / row.dockerd : undefined;
  if (t.maxRatio !== undefined) {
    if (ratio === undefined) return `n/a (≤ ${t.maxRatio}× dockerd; dockerd not measured)`;
    return ratio <= t.maxRatio ? `met (≤ ${t.maxRatio}×)` : `MISSED (≤ ${t.maxRatio}×)`;
  }
  if (t.minRatio !== undefined) {
    if (ratio === undefined) return `n/a (≥ ${t.minRatio}× dockerd; dockerd not measured)`;
    return ratio >= t.minRatio ? `met (≥ ${t.minRatio}×)` : `MISSED (≥ ${t.minRatio}×)`;
  }
  return '';
}

export function printTable(rows: Row[]): void {
  const header = ['', 'Berth', 'dockerd', 'ratio', 'target'];
  const lines = rows.map((r) => [
    r.label,
    fmt(r.berth, r.unit),
    fmt(r.dockerd, r.unit),
    r.dockerd ? `${(r.berth / r.dockerd).toFixed(2)}×` : 'n/a',
    verdict(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const show = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(show(header));
  for (const l of lines) console.log(show(l));
}

/** Writes .test-artifacts/<file> with the rows and the machine they were measured on. */
export async function writeResults(
  file: string,
  dockerdPath: string | undefined,
  rows: Row[],
): Promise<void> {
  const out = path.join(repoRoot, '.test-artifacts', file);
  await fs.mkdir(path.dirname(out), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    machine: {
      cpus: (await fs.readFile('/proc/cpuinfo', 'utf8')).match(/^processor/gm)?.length,
      node: process.version,
    },
    dockerd: dockerdPath ?? null,
    rows: rows.map((r) => ({
      key: r.key,
      label: r.label,
      unit: r.unit,
      berth: r.berth,
      dockerd: r.dockerd ?? null,
      ratio: r.dockerd ? r.berth / r.dockerd : null,
      target: r.target ?? null,
      verdict: verdict(r) || null,
    })),
  };
  await fs.writeFile(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwritten to ${path.relative(process.cwd(), out)}`);
}
