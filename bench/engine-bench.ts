// Berth's engine side by side with dockerd (where installed), both driven by the
// same docker CLI: container start latency, `docker ps` latency, a burst of
// detached runs, and idle memory. Run through `npm run bench` (scripts/bench.mjs),
// which puts this process in a network namespace of its own.
import { promises as fs } from 'node:fs';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import {
  median,
  must,
  printTable,
  requirePrivateNetns,
  startBerth,
  startDockerd,
  timed,
  which,
  writeResults,
  type Row,
  type Subject,
} from './subjects.js';

const RUN_RM_SAMPLES = 20;
const PS_SAMPLES = 50;
const DETACHED_RUNS = 50;
/** dockerd runs with --bridge=none, so both engines run containers without a network. */
const NET = ['--network', 'none'];

async function rssMb(pids: number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (m) kb += Number(m[1]);
  }
  return kb / 1024;
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

async function main(): Promise<void> {
  await requirePrivateNetns();
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

  await writeResults('bench.json', dockerdPath, rows);
}

await main();
