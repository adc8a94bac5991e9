// docker pull of a 100 MB image (one layer of incompressible bytes) from a
// registry on loopback (Debian's docker-registry), Berth against dockerd. Both
// engines run at once and the pulls alternate between them; before each pull
// the image is removed, so every sample downloads, verifies and unpacks it all.
// Only the pull is timed; the engines' CPU time per pull is shown beside it.
// Run through `npm run bench -- pull` (scripts/bench.mjs).
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { startRegistry } from '../test/helpers/registry.js';
import {
  cpuSeconds,
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

const LAYER_MB = 100;
const SAMPLES = 5;

/** A root filesystem tar holding LAYER_MB of random bytes in 1 MB files (what gzip cannot shrink). */
async function writeRootfsTar(file: string): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(file));
  pack.entry({ name: 'data/', type: 'directory', mode: 0o755 });
  for (let i = 0; i < LAYER_MB; i++) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: `data/blob-${i}`, mode: 0o644 }, randomBytes(1024 * 1024), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  pack.finalize();
  await done;
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const dockerdPath = which('dockerd');
  if (!dockerdPath) console.log('dockerd is not installed (Debian docker.io): Berth is measured alone');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-pull-bench-'));
  const registry = await startRegistry();
  const subjects: Subject[] = [];
  try {
    const ref = `${registry.host}/bench/big:1`;
    const rootfs = path.join(dir, 'rootfs.tar');
    await writeRootfsTar(rootfs);
    console.log(`starting Berth${dockerdPath ? ` and dockerd (${dockerdPath})` : ''} …`);
    subjects.push(await startBerth());
    if (dockerdPath) subjects.push(await startDockerd(dockerdPath));
    // Berth makes the image and pushes it; both then pull the same bytes.
    await must(subjects[0]!, ['import', rootfs, ref]);
    await must(subjects[0]!, ['push', ref], { timeoutMs: 600_000 });
    await must(subjects[0]!, ['rmi', ref]);
    console.log(`measuring pull of ${LAYER_MB} MB (${SAMPLES} rounds) …`);
    // Each round pulls on every engine in turn; only the pull is timed (the rmi after it is not), and
    // the engine's CPU time (dockerd: with containerd, and unpigz as its reaped child) is read around it.
    const pullMs = subjects.map(() => [] as number[]);
    const cpuMs = subjects.map(() => [] as number[]);
    const cpuOf = async (s: Subject) => {
      let total = 0;
      for (const pid of await s.memoryPids()) total += await cpuSeconds(pid, true);
      return total * 1000;
    };
    for (let i = 0; i < SAMPLES; i++) {
      for (const [k, s] of subjects.entries()) {
        const before = await cpuOf(s);
        pullMs[k]!.push(await timed(() => must(s, ['pull', '-q', ref], { timeoutMs: 600_000 })));
        cpuMs[k]!.push((await cpuOf(s)) - before);
        await must(s, ['rmi', ref]);
      }
    }
    const [berth, dockerd] = pullMs.map((samples) => LAYER_MB / (median(samples) / 1000));
    const [berthCpu, dockerdCpu] = cpuMs.map((samples) => median(samples));
    const rows: Row[] = [
      {
        key: 'pullThroughput',
        label: `docker pull of a ${LAYER_MB} MB image from a loopback registry (median of ${SAMPLES})`,
        unit: 'MB/s',
        berth: berth!,
        dockerd,
        target: { name: 'pull throughput', minRatio: 1.0 },
      },
      {
        key: 'pullCpu',
        label: 'engine CPU time per pull (dockerd: + containerd, unpigz)',
        unit: 'ms',
        berth: berthCpu!,
        dockerd: dockerdCpu,
      },
    ];
    console.log('');
    printTable(rows);
    await writeResults('bench-pull.json', dockerdPath, rows);
  } finally {
    for (const s of subjects) await s.stop();
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
