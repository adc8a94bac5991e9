// `npm run bench -- long-run`: 10,000 `docker run --rm` in a row against one
// Berth engine (BERTH_LONG_RUN_COUNT sets how many; 10,000 take about an hour
// on 2 cores), with the engine's memory, open files, mounts, network
// namespaces, links, child processes and the cgroups of removed containers
// sampled along the way. Prints the growth after a warm-up and leaves the
// figures for bench/reliability-report.ts. Berth alone: the question is
// whether it leaks, not how it compares.
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import { docker } from '../test/helpers/docker.js';
import { recordFigures } from '../test/reliability/figures.js';
import { growth, runInARow } from '../test/reliability/long-run.js';
import { requirePrivateNetns, startBerth } from './subjects.js';

const count = Number(process.env.BERTH_LONG_RUN_COUNT ?? 10_000);
if (!Number.isInteger(count) || count < 20) {
  console.error(
    `BERTH_LONG_RUN_COUNT=${process.env.BERTH_LONG_RUN_COUNT}: give a whole number of runs, 20 or more`,
  );
  process.exit(2);
}
const warmup = Math.min(200, Math.floor(count / 10));
const sampleEvery = Math.max(10, Math.floor(count / 200));

await requirePrivateNetns();
const berth = await startBerth();
let code = 0;
try {
  const load = await docker(berth.engine, ['load', '-i', await busyboxArchive()]);
  if (load.code !== 0) throw new Error(`docker load: ${load.stderr}`);
  const t0 = Date.now();
  let printed = -1;
  const { samples, msPerRun } = await runInARow(berth.engine, count, {
    sampleEvery,
    onSample: (s) => {
      // A line at the first sample past each 500 runs, and at the end.
      const bucket = Math.floor(s.run / 500);
      if (bucket === printed && s.run !== count) return;
      printed = bucket;
      const mins = ((Date.now() - t0) / 60_000).toFixed(1);
      console.log(
        `${String(s.run).padStart(6)} runs  ${mins} min  rss ${s.rssMB} MB  fds ${s.fds}  mounts ${s.mounts}  netns ${s.netns}  links ${s.links}  children ${s.children}  cgroups left ${s.cgroups}`,
      );
    },
  });
  const g = growth(samples, warmup);
  const end = samples.at(-1)!;
  console.log(`\n${count} runs, ${msPerRun.toFixed(0)} ms each; growth from run ${warmup} to the end:`);
  for (const [k, v] of Object.entries(g)) console.log(`  ${k.padEnd(8)} ${v}`);
  await recordFigures('long-run', {
    runs: count,
    msPerRun: Math.round(msPerRun),
    ...Object.fromEntries(Object.entries(g).map(([k, v]) => [`${k}Growth`, v])),
    rssMBEnd: end.rssMB,
    cgroupsLeft: end.cgroups,
  });
  // The same limits as the CI test (test/reliability/long-run.test.ts).
  const leaks =
    (g.rssMB > 16 ? 1 : 0) +
    (g.fds > 2 ? 1 : 0) +
    [g.mounts, g.netns, g.links, g.children, end.cgroups].filter((x) => x > 0).length;
  if (leaks) {
    console.error(`\n${leaks} figure(s) grew`);
    code = 1;
  }
} finally {
  await berth.stop();
}
process.exit(code);
