// docker build with the classic builder (DOCKER_BUILDKIT=0), Berth against
// dockerd: a 20-instruction Dockerfile built cold (--no-cache) and fully
// cached. RUN steps use --network none on both (dockerd runs without a bridge).
// Run through `npm run bench -- build` (scripts/bench.mjs).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import {
  measureBoth,
  median,
  must,
  printTable,
  requirePrivateNetns,
  timed,
  writeResults,
  type Row,
} from './subjects.js';

const COLD_SAMPLES = 3;
const CACHED_SAMPLES = 5;
const CLASSIC = { env: { DOCKER_BUILDKIT: '0' } };

const DOCKERFILE = [
  'FROM busybox',
  'ARG VERSION=1',
  'ENV A=1 B=2',
  'LABEL app=bench',
  'WORKDIR /app',
  'COPY a.txt /app/',
  'COPY dir/ /app/dir/',
  'RUN echo one > /one',
  'ENV C=3',
  'RUN echo two > /two',
  'EXPOSE 8080',
  'USER root',
  'COPY b.txt /app/b.txt',
  'RUN cat /app/a.txt /app/b.txt > /app/ab.txt',
  'VOLUME /data',
  'STOPSIGNAL SIGTERM',
  'HEALTHCHECK CMD true',
  'ENTRYPOINT ["/bin/sh", "-c"]',
  'CMD ["echo hi"]',
  'LABEL done=yes',
  '',
].join('\n');

async function makeContext(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-build-bench-'));
  await fs.writeFile(path.join(dir, 'Dockerfile'), DOCKERFILE);
  await fs.writeFile(path.join(dir, 'a.txt'), 'a\n');
  await fs.writeFile(path.join(dir, 'b.txt'), 'b\n'.repeat(1000));
  await fs.mkdir(path.join(dir, 'dir'));
  for (let i = 0; i < 100; i++)
    await fs.writeFile(path.join(dir, 'dir', `f${i}.txt`), `file ${i}\n`.repeat(50));
  return dir;
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const image = await busyboxArchive();
  const ctx = await makeContext();
  try {
    const build = (extra: string[]) => ['build', '--network', 'none', ...extra, '-t', 'bench:1', ctx];
    const { berth, dockerd, dockerdPath } = await measureBoth(async (s) => {
      await must(s, ['load', '-i', image]);
      const cold: number[] = [];
      for (let i = 0; i < COLD_SAMPLES; i++)
        cold.push(await timed(() => must(s, build(['--no-cache']), CLASSIC)));
      const cached: number[] = [];
      for (let i = 0; i < CACHED_SAMPLES; i++) {
        let out = '';
        cached.push(await timed(async () => (out = await must(s, build([]), CLASSIC))));
        if (/Running in/.test(out)) throw new Error(`${s.name}: the cached build ran a step:\n${out}`);
      }
      return { cold: median(cold), cached: median(cached) };
    });
    const rows: Row[] = [
      {
        key: 'buildCold',
        label: `docker build, 20 instructions, --no-cache (median of ${COLD_SAMPLES})`,
        unit: 'ms',
        berth: berth.cold,
        dockerd: dockerd?.cold,
      },
      {
        key: 'buildCached',
        label: `docker build, 20 instructions, all cached (median of ${CACHED_SAMPLES})`,
        unit: 'ms',
        berth: berth.cached,
        dockerd: dockerd?.cached,
        target: { name: 'cached rebuild', maxRatio: 1.0 },
      },
    ];
    console.log('');
    printTable(rows);
    await writeResults('bench-build.json', dockerdPath, rows);
  } finally {
    await fs.rm(ctx, { recursive: true, force: true });
  }
}

await main();
