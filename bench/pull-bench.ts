// docker pull of a 100 MB image (one layer of incompressible bytes) from a
// registry on loopback (Debian's docker-registry), Berth against dockerd. Both
// engines run at once and the pulls alternate between them; before each pull
// the image is removed, so every sample downloads, verifies and unpacks it all.
// Run through `npm run bench -- pull` (scripts/bench.mjs).
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { startRegistry } from '../test/helpers/registry.js';
import {
  alternate,
  median,
  must,
  printTable,
  requirePrivateNetns,
  startBerth,
  startDockerd,
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
    const pulls = await alternate(subjects, SAMPLES, async (s) => {
      await must(s, ['pull', '-q', ref], { timeoutMs: 600_000 });
      await must(s, ['rmi', ref]);
    });
    const [berth, dockerd] = pulls.map((samples) => LAYER_MB / (median(samples) / 1000));
    const rows: Row[] = [
      {
        key: 'pullThroughput',
        label: `docker pull of a ${LAYER_MB} MB image from a loopback registry, then rmi (median of ${SAMPLES})`,
        unit: 'MB/s',
        berth: berth!,
        dockerd,
        target: { name: 'pull throughput', minRatio: 1.0 },
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
