// Berth's engine side by side with dockerd (where installed), both driven by the
// same docker CLI: container start latency, `docker ps` latency, a burst of
// detached runs, and idle memory. Run through `npm run bench` (scripts/bench.mjs),
// which puts this process in a network namespace of its own.
import { promises as fs } from 'node:fs';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import {
  alternate,
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
const IDLE_WAIT_MS = 12_000;
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

async function main(): Promise<void> {
  await requirePrivateNetns();
  const image = await busyboxArchive();
  const dockerdPath = which('dockerd');
  if (!dockerdPath) console.log('dockerd is not installed (Debian docker.io): Berth is measured alone');

  // Both engines run at once and the timed samples alternate between them, so
  // a change in the machine's load (other work on its 2 cores) hits both alike.
  const results: Record<string, Record<string, number>> = {};
  console.log(`starting Berth${dockerdPath ? ` and dockerd (${dockerdPath})` : ''} …`);
  const subjects: Subject[] = [await startBerth()];
  try {
    if (dockerdPath) subjects.push(await startDockerd(dockerdPath));
    for (const s of subjects) {
      await must(s, ['load', '-i', image]);
      await must(s, ['run', '--rm', ...NET, 'busybox', 'true']); // warm-up
    }
    // Idle: nothing running, nothing in flight, for long enough that V8's memory
    // reducer (it collects after some seconds without work) has had its turn:
    // the engine's footprint while it sits idle, not the tail of the last burst.
    await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
    const idleRss = await Promise.all(subjects.map(async (s) => rssMb(await s.memoryPids())));

    console.log(`measuring run --rm (${RUN_RM_SAMPLES} rounds) and ps (${PS_SAMPLES} rounds) …`);
    const runRm = await alternate(subjects, RUN_RM_SAMPLES, (s) =>
      must(s, ['run', '--rm', ...NET, 'busybox', 'true']),
    );
    const ps = await alternate(subjects, PS_SAMPLES, (s) => must(s, ['ps']));
    const burst: number[] = [];
    for (const s of subjects) {
      const ids: string[] = [];
      burst.push(
        await timed(async () => {
          for (let i = 0; i < DETACHED_RUNS; i++)
            ids.push((await must(s, ['run', '-d', ...NET, 'busybox', 'sleep', '60'])).trim());
        }),
      );
      await must(s, ['rm', '-f', ...ids]);
    }
    // Berth's own default path (a bridge network), for information.
    const [withNet] = await alternate([subjects[0]!], RUN_RM_SAMPLES, (s) =>
      must(s, ['run', '--rm', 'busybox', 'true']),
    );
    subjects.forEach((_s, k) => {
      results[k === 0 ? 'berth' : 'dockerd'] = {
        idleRss: idleRss[k]!,
        runRm: median(runRm[k]!),
        ps: median(ps[k]!),
        burst: burst[k]!,
      };
    });
    results.berth!.runRmBridge = median(withNet!);
  } finally {
    for (const s of subjects) await s.stop();
  }

  const b = results.berth!;
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
