// Berth's engine side by side with dockerd (where installed), both driven by the
// same docker CLI: container start latency, `docker ps` latency, a burst of
// detached runs, and idle memory. Run through `npm run bench` (scripts/bench.mjs),
// which puts this process in a network namespace of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { docker } from '../test/helpers/docker.js';
import { ping, startEngine, type TestEngine } from '../test/helpers/engine.js';
import { killProcessesUsing, unmountUnder } from '../test/helpers/host-cleanup.js';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUN_RM_SAMPLES = 20;
const PS_SAMPLES = 50;
const DETACHED_RUNS = 50;
/** dockerd runs with --bridge=none, so both engines run containers without a network. */
const NET = ['--network', 'none'];

interface Target {
  name: string;
  /** Berth's value / dockerd's value must be at most this (ratio targets)… */
  maxRatio?: number;
  /** …or Berth's value at most this, in the row's unit (absolute targets). */
  maxValue?: number;
}

interface Row {
  key: string;
  label: string;
  unit: 'ms' | 'MB';
  berth: number;
  dockerd?: number;
  target?: Target;
}

interface Subject {
  name: string;
  host: string;
  /** Pids whose RSS together is the engine's memory. */
  memoryPids(): Promise<number[]>;
  stop(): Promise<void>;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function rssMb(pids: number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (m) kb += Number(m[1]);
  }
  return kb / 1024;
}

async function childrenOf(pid: number): Promise<number[]> {
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

async function must(subject: Subject, args: string[]): Promise<string> {
  const r = await docker(subject, args);
  if (r.code !== 0)
    throw new Error(`${subject.name}: docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function startBerth(): Promise<Subject & { engine: TestEngine }> {
  const engine = await startEngine({ extraArgs: ['--log-level', 'warn'] });
  return {
    name: 'Berth',
    host: engine.host,
    engine,
    memoryPids: async () => [engine.pid],
    stop: () => engine.cleanup(),
  };
}

async function startDockerd(dockerd: string): Promise<Subject> {
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
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
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

async function measure(subject: Subject, image: string): Promise<Record<string, number>> {
  await must(subject, ['load', '-i', image]);
  await must(subject, ['run', '--rm', ...NET, 'busybox', 'true']); // warm-up
  // Idle: nothing running, nothing in flight.
  await new Promise((r) => setTimeout(r, 2000));
  const idleRss = await rssMb(await subject.memoryPids());

  const runRm: number[] = [];
  for (let i = 0; i < RUN_RM_SAMPLES; i++)
    runRm.push(await timed(() => must(subject, ['run', '--rm', ...NET, 'busybox', 'true'])));
  const ps: number[] = [];
  for (let i = 0; i < PS_SAMPLES; i++) ps.push(await timed(() => must(subject, ['ps'])));
  const ids: string[] = [];
  const burst = await timed(async () => {
    for (let i = 0; i < DETACHED_RUNS; i++)
      ids.push((await must(subject, ['run', '-d', ...NET, 'busybox', 'sleep', '60'])).trim());
  });
  await must(subject, ['rm', '-f', ...ids]);
  return { idleRss, runRm: median(runRm), ps: median(ps), burst };
}

function fmt(n: number | undefined, unit: string): string {
  if (n === undefined) return 'n/a';
  return unit === 'MB' ? `${n.toFixed(1)} MB` : `${n.toFixed(1)} ms`;
}

function verdict(row: Row): string {
  const t = row.target;
  if (!t) return '';
  if (t.maxValue !== undefined)
    return row.berth <= t.maxValue
      ? `met (≤ ${t.maxValue} ${row.unit})`
      : `MISSED (≤ ${t.maxValue} ${row.unit})`;
  if (t.maxRatio !== undefined) {
    if (row.dockerd === undefined) return `n/a (≤ ${t.maxRatio}× dockerd; dockerd not measured)`;
    return row.berth / row.dockerd <= t.maxRatio ? `met (≤ ${t.maxRatio}×)` : `MISSED (≤ ${t.maxRatio}×)`;
  }
  return '';
}

function printTable(rows: Row[]): void {
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

async function main(): Promise<void> {
  const image = await busyboxArchive();
  const dockerdPath = which('dockerd');
  const results: Record<string, Record<string, number>> = {};

  console.log('measuring Berth …');
  const berth = await startBerth();
  try {
    results.berth = await measure(berth, image);
    // Berth's own default path (a bridge network), for information.
    const withNet: number[] = [];
    for (let i = 0; i < RUN_RM_SAMPLES; i++)
      withNet.push(await timed(() => must(berth, ['run', '--rm', 'busybox', 'true'])));
    results.berth.runRmBridge = median(withNet);
  } finally {
    await berth.stop();
  }

  if (dockerdPath) {
    console.log(`measuring dockerd (${dockerdPath}) …`);
    const d = await startDockerd(dockerdPath);
    try {
      results.dockerd = await measure(d, image);
    } finally {
      await d.stop();
    }
  } else {
    console.log('dockerd is not installed (Debian docker.io): Berth is measured alone');
  }

  const b = results.berth;
  const d = results.dockerd;
  const rows: Row[] = [
    {
      key: 'runRm',
      label: `docker run --rm busybox true (median of ${RUN_RM_SAMPLES})`,
      unit: 'ms',
      berth: b.runRm,
      dockerd: d?.runRm,
      target: { name: 'run --rm', maxRatio: 0.35 },
    },
    {
      key: 'ps',
      label: `docker ps (median of ${PS_SAMPLES})`,
      unit: 'ms',
      berth: b.ps,
      dockerd: d?.ps,
      target: { name: 'ps', maxRatio: 1.0 },
    },
    {
      key: 'burst',
      label: `${DETACHED_RUNS} × docker run -d busybox sleep 60 (total)`,
      unit: 'ms',
      berth: b.burst,
      dockerd: d?.burst,
    },
    {
      key: 'idleRss',
      label: 'engine idle RSS (dockerd: + containerd)',
      unit: 'MB',
      berth: b.idleRss,
      dockerd: d?.idleRss,
      target: { name: 'idle RSS', maxValue: 60 },
    },
    {
      key: 'runRmBridge',
      label: `Berth: run --rm on its default bridge network (median of ${RUN_RM_SAMPLES})`,
      unit: 'ms',
      berth: b.runRmBridge,
    },
  ];
  console.log('');
  console.log(`containers run with ${NET.join(' ')} on both engines (dockerd has --bridge=none)`);
  printTable(rows);

  const out = path.join(repoRoot, '.test-artifacts', 'bench.json');
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

await main();
