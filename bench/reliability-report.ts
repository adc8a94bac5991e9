// The reliability figures of issue 10, in one table: requests fuzzed, crashes,
// kills survived, leaks found, malicious inputs refused, time to recover after
// kill -9. The test files in test/reliability/ measure them and leave them in
// .test-artifacts/reliability/; this prints what the last run left.
//
//   node --import tsx bench/reliability-report.ts          the last run's figures
//   node --import tsx bench/reliability-report.ts --run    run test/reliability/ first (a few minutes)
//   npm run bench -- long-run                              the 10,000 runs (an hour), shown here after
//
// Exits non-zero when a figure that must be 0 is not, or a figure is missing.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { readFigures, type Figures } from '../test/reliability/figures.js';
import { repoRoot } from '../test/fixtures/image-cache.js';

if (process.argv.includes('--run')) {
  const r = spawnSync(process.execPath, ['scripts/test.mjs', 'test/reliability/'], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (r.status !== 0)
    console.error(`\nthe reliability tests failed (exit ${r.status}); the figures below may be partial\n`);
}

const runs = new Map((await readFigures()).map((r) => [r.name, r]));
const fig = (run: string, key: string): number | undefined => {
  const v: Figures[string] | undefined = runs.get(run)?.figures[key];
  return typeof v === 'number' ? v : undefined;
};
/** The long run's figure: the full bench's (npm run bench -- long-run) when it ran, else the CI test's. */
const longRun = (key: string) => fig(runs.has('long-run') ? 'long-run' : 'long-run-ci', key);
const sum = (...xs: Array<number | undefined>) =>
  xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + (b ?? 0), 0);

interface Row {
  figure: string;
  value: number | undefined;
  unit?: string;
  mustBeZero?: boolean;
  from: string;
}

const rows: Row[] = [
  { figure: 'requests fuzzed', value: fig('api-fuzz', 'requestsFuzzed'), from: 'api-fuzz' },
  {
    figure: 'crashes (5xx, no answer, failed pings)',
    value: sum(fig('api-fuzz', 'findings'), fig('api-fuzz', 'pingFailures')),
    mustBeZero: true,
    from: 'api-fuzz',
  },
  {
    figure: 'worst /_ping alongside the fuzzing',
    value: fig('api-fuzz', 'pingMaxMs'),
    unit: 'ms',
    from: 'api-fuzz',
  },
  { figure: 'concurrent clients under load', value: fig('crash-safety', 'clients'), from: 'crash-safety' },
  { figure: 'kills survived (kill -9)', value: fig('crash-safety', 'killsSurvived'), from: 'crash-safety' },
  { figure: 'leaks found', value: fig('crash-safety', 'leaksFound'), mustBeZero: true, from: 'crash-safety' },
  {
    figure: 'malicious inputs refused (4xx, lies, archives)',
    value: sum(
      fig('api-fuzz', 'refusedWith4xx'),
      fig('lying-registry', 'liesRefused'),
      fig('malicious-archives', 'refused'),
    ),
    from: 'api-fuzz, lying-registry, malicious-archives',
  },
  {
    figure: 'malicious archives contained (nothing out)',
    value: fig('malicious-archives', 'contained'),
    from: 'malicious-archives',
  },
  {
    figure: 'engine memory growth, archive bombs',
    value: fig('malicious-archives', 'worstRssGrowthMB'),
    unit: 'MB',
    from: 'malicious-archives',
  },
  {
    figure: 'time to recover after kill -9 (median)',
    value: fig('crash-safety', 'recoverMsMedian'),
    unit: 'ms',
    from: 'crash-safety',
  },
  {
    figure: 'time to recover after kill -9 (worst)',
    value: fig('crash-safety', 'recoverMsMax'),
    unit: 'ms',
    from: 'crash-safety',
  },
  {
    figure: 'worst refusal of a lying registry',
    value: fig('lying-registry', 'worstRefusalMs'),
    unit: 'ms',
    from: 'lying-registry',
  },
  {
    figure: 'engine memory growth, lying registry',
    value: fig('lying-registry', 'worstRssGrowthMB'),
    unit: 'MB',
    from: 'lying-registry',
  },
  {
    figure: 'docker cp racing a symlink swap (host reads/writes)',
    value: fig('cp-symlink-race', 'hostReadsOrWrites'),
    mustBeZero: true,
    from: 'cp-symlink-race',
  },
  {
    figure: 'VM faults survived (sleep, panic, QEMU kill)',
    value: fig('vm-faults', 'faultsSurvived'),
    from: 'vm-faults',
  },
  { figure: 'docker run --rm in a row', value: longRun('runs'), from: 'long-run' },
  { figure: 'engine memory growth over them', value: longRun('rssMBGrowth'), unit: 'MB', from: 'long-run' },
  {
    figure: 'open files, mounts, netns, links, children grown',
    value: sum(
      longRun('fdsGrowth'),
      longRun('mountsGrowth'),
      longRun('netnsGrowth'),
      longRun('linksGrowth'),
      longRun('childrenGrowth'),
    ),
    mustBeZero: true,
    from: 'long-run',
  },
];

const width = Math.max(...rows.map((r) => r.figure.length));
console.log(
  `Berth reliability (${path.relative(process.cwd(), path.join(repoRoot, '.test-artifacts', 'reliability'))})\n`,
);
let bad = 0;
for (const r of rows) {
  const shown = r.value === undefined ? 'not measured' : `${r.value}${r.unit ? ` ${r.unit}` : ''}`;
  const flag =
    r.value === undefined || (r.mustBeZero && r.value !== 0)
      ? '  <-- ' + (r.value === undefined ? `run ${r.from}` : 'must be 0')
      : '';
  if (flag) bad++;
  console.log(`${r.figure.padEnd(width)}  ${shown}${flag}`);
}
for (const [name, run] of runs) console.log(`\n${name}: measured ${run.at}`);
process.exit(bad ? 1 : 0);
