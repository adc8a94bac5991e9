// A few hundred `docker run --rm` in a row (the CI cut of the 10,000 of
// bench/long-run.ts): after a warm-up, the engine's memory, open files, mounts,
// network namespaces, links and child processes stay where they were, and no
// removed container leaves a cgroup.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordFigures } from './figures.js';
import { growth, runInARow } from './long-run.js';

const RUNS = Number(process.env.BERTH_LONG_RUN_CI_COUNT ?? 300);
const WARMUP = 50;
/** RSS slack: the garbage collector's swings, not growth per run (300 runs × 64 kB would be 19 MB). */
const RSS_SLACK_MB = 16;

describe(`${RUNS} docker run --rm in a row`, () => {
  const engine = useEngineWithBusybox({ extraArgs: ['--log-level', 'warn'] });

  it('leaves the engine no bigger than after the warm-up', async (t) => {
    const { samples, msPerRun } = await runInARow(engine(), RUNS, { sampleEvery: 10 });
    const g = growth(samples, WARMUP);
    const end = samples.at(-1)!;
    t.diagnostic(
      `${msPerRun.toFixed(0)} ms a run; growth after the warm-up: ${JSON.stringify(g)}; end: ${JSON.stringify(end)}`,
    );
    await recordFigures('long-run-ci', {
      runs: RUNS,
      msPerRun: Math.round(msPerRun),
      ...Object.fromEntries(Object.entries(g).map(([k, v]) => [`${k}Growth`, v])),
      rssMBEnd: end.rssMB,
    });
    assert.ok(g.rssMB <= RSS_SLACK_MB, `memory grew ${g.rssMB} MB`);
    assert.ok(g.fds <= 2, `open files grew by ${g.fds}`);
    assert.equal(g.mounts, 0, 'mounts');
    assert.equal(g.netns, 0, 'network namespaces');
    assert.equal(g.links, 0, 'network links');
    assert.equal(g.children, 0, 'child processes');
    assert.equal(end.cgroups, 0, 'cgroups of removed containers');
  });
});
