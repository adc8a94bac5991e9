// Logging throughput and `docker logs --tail` latency, Berth beside dockerd
// (where installed), both with the json-file driver and driven by the same
// docker CLI:
// - a container writing 200 MB of lines to stdout: wall time from `docker run`
//   to the end of `docker wait`, and the engine's CPU time per MB (Berth: the
//   engine and its reaped children; dockerd: dockerd, containerd and the
//   container's shim, which copies the output);
// - `docker logs --tail 10` on a stopped container whose log file is 1 GB of
//   dockerd-format lines written straight into place, and on a 1 MB one, to
//   show the latency does not grow with the file; both engines run at once and
//   their samples alternate, so load falls on both alike.
// Run through `npm run bench -- logs` (scripts/bench.mjs), which gives this
// process a network namespace of its own.
import { promises as fs } from 'node:fs';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import {
  alternate,
  cpuSeconds,
  measureBoth,
  median,
  must,
  printTable,
  requirePrivateNetns,
  startBerth,
  startDockerd,
  timed,
  writeResults,
  type Row,
  type Subject,
} from './subjects.js';

const OUTPUT_BYTES = 200_000_000;
const BIG_LOG_BYTES = 1_000_000_000;
const SMALL_LOG_BYTES = 1_000_000;
const TAIL_SAMPLES = 9;
/** dockerd runs with --bridge=none, so both engines run containers without a network. */
const NET = ['--network', 'none'];
const LINE =
  'the quick brown fox jumps over the lazy dog, a line of log output of about a hundred bytes ....';

/** The shim of one container under dockerd (its command line names the container). */
async function shimOf(containerId: string): Promise<number | undefined> {
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(containerId)) return Number(name);
  }
  return undefined;
}

async function engineCpu(subject: Subject, containerId?: string): Promise<number> {
  let total = 0;
  for (const pid of await subject.memoryPids()) total += await cpuSeconds(pid, true);
  if (subject.name === 'dockerd' && containerId) {
    const shim = await shimOf(containerId);
    if (shim) total += await cpuSeconds(shim, true);
  }
  return total;
}

/** `size` bytes of json-file lines as dockerd writes them, the last ten numbered so the tail can be checked. */
async function writeJsonLog(file: string, size: number): Promise<void> {
  const start = Date.parse('2024-05-01T12:00:00Z');
  const chunkLines: string[] = [];
  for (let i = 0; i < 8192; i++) {
    const t = new Date(start + i).toISOString().replace('Z', '123456Z');
    chunkLines.push(JSON.stringify({ log: `${LINE} ${i}\n`, stream: i % 7 ? 'stdout' : 'stderr', time: t }));
  }
  const chunk = Buffer.from(chunkLines.join('\n') + '\n');
  const handle = await fs.open(file, 'w', 0o640);
  try {
    let written = 0;
    while (written + chunk.length <= size) {
      await handle.write(chunk);
      written += chunk.length;
    }
    const last: string[] = [];
    for (let i = 1; i <= 10; i++)
      last.push(
        JSON.stringify({
          log: `last line ${i}\n`,
          stream: 'stdout',
          time: '2024-05-02T00:00:00.00000000' + (i % 10) + 'Z',
        }),
      );
    await handle.write(last.join('\n') + '\n');
  } finally {
    await handle.close();
  }
}

/** A stopped container whose log file is `size` bytes of dockerd-format lines, checked through --tail. */
async function prepareTail(subject: Subject, name: string, size: number): Promise<void> {
  await must(subject, ['run', '--name', name, ...NET, 'busybox', 'true']);
  const logPath = (await must(subject, ['inspect', '-f', '{{.LogPath}}', name])).trim();
  await writeJsonLog(logPath, size);
  const out = await must(subject, ['logs', '--tail', '10', name]);
  const expected = Array.from({ length: 10 }, (_, i) => `last line ${i + 1}`).join('\n') + '\n';
  if (out !== expected)
    throw new Error(`${subject.name}: docker logs --tail 10 printed ${JSON.stringify(out.slice(0, 200))}`);
}

/**
 * `docker logs --tail 10` on both engines at once, samples alternating, so the
 * machine's load falls on both alike: medians per engine for the 1 MB and 1 GB logs.
 */
async function tailLatencies(subjects: Subject[]): Promise<Array<{ small: number; big: number }>> {
  for (const s of subjects) {
    await must(s, ['load', '-i', await busyboxArchive()]);
    await prepareTail(s, 'small-log', SMALL_LOG_BYTES);
    await prepareTail(s, 'big-log', BIG_LOG_BYTES);
  }
  const tail = (name: string) => (s: Subject) => must(s, ['logs', '--tail', '10', name]);
  const small = await alternate(subjects, TAIL_SAMPLES, tail('small-log'));
  const big = await alternate(subjects, TAIL_SAMPLES, tail('big-log'));
  return subjects.map((_s, k) => ({ small: median(small[k]!), big: median(big[k]!) }));
}

async function measure(subject: Subject): Promise<Record<string, number>> {
  await must(subject, ['load', '-i', await busyboxArchive()]);
  await must(subject, ['run', '--rm', ...NET, 'busybox', 'true']); // warm-up

  const script = `yes '${LINE}' | head -c ${OUTPUT_BYTES}`;
  const id = (await must(subject, ['create', ...NET, 'busybox', 'sh', '-c', script])).trim();
  const cpuBefore = await engineCpu(subject);
  let cpuAfter = 0;
  const wall = await timed(async () => {
    await must(subject, ['start', id]);
    await must(subject, ['wait', id]);
    cpuAfter = await engineCpu(subject, id);
  });
  const logPath = (await must(subject, ['inspect', '-f', '{{.LogPath}}', id])).trim();
  const logBytes = (await fs.stat(logPath)).size;
  await must(subject, ['rm', id]);
  const mb = OUTPUT_BYTES / 1e6;
  return {
    wall,
    throughput: mb / (wall / 1000),
    cpuPerMb: ((cpuAfter - cpuBefore) * 1000) / mb,
    logMb: logBytes / 1e6,
  };
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const { berth: b, dockerd: d, dockerdPath } = await measureBoth(measure);
  console.log('measuring docker logs --tail on both engines, samples alternating …');
  const subjects: Subject[] = [await startBerth()];
  let tails: Array<{ small: number; big: number }>;
  try {
    if (dockerdPath) subjects.push(await startDockerd(dockerdPath));
    tails = await tailLatencies(subjects);
  } finally {
    for (const s of subjects) await s.stop();
  }
  const [bt, dt] = tails;
  const rows: Row[] = [
    {
      key: 'wall',
      label: `container writing ${OUTPUT_BYTES / 1e6} MB of lines, start to wait (json-file)`,
      unit: 'ms',
      berth: b.wall,
      dockerd: d?.wall,
    },
    {
      key: 'throughput',
      label: 'stdout to json-file throughput',
      unit: 'MB/s',
      berth: b.throughput,
      dockerd: d?.throughput,
      target: { name: 'throughput', minRatio: 1.0 },
    },
    {
      key: 'cpuPerMb',
      label: 'engine CPU time per MB logged (dockerd: + containerd + shim)',
      unit: 'ms',
      berth: b.cpuPerMb,
      dockerd: d?.cpuPerMb,
      target: { name: 'cpu per MB', maxRatio: 1.0 },
    },
    {
      key: 'logMb',
      label: 'json-file size on disk after the run',
      unit: 'MB',
      berth: b.logMb,
      dockerd: d?.logMb,
    },
    {
      key: 'tailSmall',
      label: `docker logs --tail 10 on a 1 MB log (median of ${TAIL_SAMPLES})`,
      unit: 'ms',
      berth: bt!.small,
      dockerd: dt?.small,
    },
    {
      key: 'tailBig',
      label: `docker logs --tail 10 on a 1 GB log (median of ${TAIL_SAMPLES})`,
      unit: 'ms',
      berth: bt!.big,
      dockerd: dt?.big,
    },
    {
      // The target: the tail's latency does not depend on the file's size.
      key: 'tailGrowth',
      label: 'the same, 1 GB log ÷ 1 MB log (1 = independent of size)',
      unit: '×',
      berth: bt!.big / bt!.small,
      dockerd: dt ? dt.big / dt.small : undefined,
      // Sample noise of a few ms on ~20 ms: within a quarter is "independent".
      target: { name: 'size independence', maxValue: 1.25 },
    },
  ];
  console.log('');
  console.log(`containers run with ${NET.join(' ')} on both engines (dockerd has --bridge=none)`);
  printTable(rows);
  await writeResults('bench-logs.json', dockerdPath, rows);
}

await main();
