// Volume I/O, Berth vs dockerd: 10,000 small files created and read back, and a
// large sequential write, through a bind mount and through a named volume. Each
// step is one `docker run --rm` whose wall time is measured (median of 3), so
// container start is included equally on both sides. Run through
// `npm run bench -- volumes` (a private network namespace).
import { promises as fs } from 'node:fs';
import { pack } from 'tar-stream';
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
  type Subject,
} from './subjects.js';

const SAMPLES = 3;
const FILES = 10_000;
const FILE_BYTES = 256;
const BIG_MB = 256;
const VOLUME = 'benchvol';
/** dockerd runs with --bridge=none, so both engines run containers without a network. */
const NET = ['--network', 'none'];
/** Within 5 % of dockerd. */
const TARGET = { name: 'volume I/O', maxRatio: 1.05 };

type Step = 'create' | 'read' | 'write';
const STEPS: Record<Step, { label: string; cmd: string[] }> = {
  // busybox tar writes each file as open/write/fchown/utimes/close: an npm-install-like load.
  create: { label: `create ${FILES} files (tar -x from stdin)`, cmd: ['tar', '-x', '-C', '/w'] },
  read: {
    label: `read ${FILES} files (find | xargs cat)`,
    cmd: ['sh', '-c', 'find /w/files -type f | xargs cat > /dev/null'],
  },
  write: {
    label: `write ${BIG_MB} MiB (dd bs=1M conv=fsync)`,
    cmd: ['dd', 'if=/dev/zero', 'of=/w/big', 'bs=1M', `count=${BIG_MB}`, 'conv=fsync'],
  },
};

/** A tar of FILES small files under files/, 100 to a directory. */
async function smallFilesTar(): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => (p.on('end', resolve), p.on('error', reject)));
  const body = Buffer.alloc(FILE_BYTES, 'x');
  for (let d = 0; d < FILES / 100; d++) {
    p.entry({ name: `files/${d}`, type: 'directory', mode: 0o755 });
    for (let f = 0; f < 100; f++) p.entry({ name: `files/${d}/${f}`, mode: 0o644 }, body);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

type Results = Record<string, number>;

async function measure(subject: Subject, image: string, tar: Buffer, bindDir: string): Promise<Results> {
  await must(subject, ['load', '-i', image]);
  await must(subject, ['volume', 'create', VOLUME]);
  const out: Results = {};
  try {
    for (const [kind, mount] of [
      ['bind', `${bindDir}:/w`],
      ['volume', `${VOLUME}:/w`],
    ] as const) {
      const runIn = (cmd: string[], input?: Buffer) =>
        must(subject, ['run', '--rm', ...(input ? ['-i'] : []), ...NET, '-v', mount, 'busybox', ...cmd], {
          input,
          timeoutMs: 300_000,
        });
      const samples: Record<Step, number[]> = { create: [], read: [], write: [] };
      for (let i = 0; i < SAMPLES; i++) {
        await runIn(['rm', '-rf', '/w/files', '/w/big']); // untimed: each sample starts empty
        samples.create.push(await timed(() => runIn(STEPS.create.cmd, tar)));
        samples.read.push(await timed(() => runIn(STEPS.read.cmd)));
        samples.write.push(await timed(() => runIn(STEPS.write.cmd)));
      }
      await runIn(['rm', '-rf', '/w/files', '/w/big']);
      for (const step of Object.keys(samples) as Step[]) out[`${kind}.${step}`] = median(samples[step]);
    }
  } finally {
    await must(subject, ['volume', 'rm', '-f', VOLUME]);
  }
  // Control: the same tar through stdin into nothing, to tell attach cost from file-system cost.
  const piped: number[] = [];
  for (let i = 0; i < SAMPLES; i++)
    piped.push(
      await timed(() =>
        must(subject, ['run', '--rm', '-i', ...NET, 'busybox', 'sh', '-c', 'cat > /dev/null'], {
          input: tar,
        }),
      ),
    );
  out.stdin = median(piped);
  return out;
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const image = await busyboxArchive();
  const tar = await smallFilesTar();
  let results: { berth: Results; dockerd?: Results; dockerdPath?: string };
  // Both bind-mount directories sit on /tmp, the same filesystem as both engines' data roots.
  const bindDir = await fs.mkdtemp('/tmp/berth-bench-bind-');
  try {
    results = await measureBoth((s) => measure(s, image, tar, bindDir));
  } finally {
    await fs.rm(bindDir, { recursive: true, force: true });
  }

  const rows: Row[] = [];
  for (const kind of ['bind', 'volume'] as const)
    for (const step of Object.keys(STEPS) as Step[]) {
      const key = `${kind}.${step}`;
      rows.push({
        key,
        label: `${kind === 'bind' ? 'bind mount' : 'named volume'}: ${STEPS[step].label}`,
        unit: 'ms',
        berth: results.berth[key],
        dockerd: results.dockerd?.[key],
        target: TARGET,
      });
    }
  rows.push({
    key: 'stdin',
    label: `control: the same tar (${(tar.length / 1e6).toFixed(1)} MB) piped to cat > /dev/null, no mount`,
    unit: 'ms',
    berth: results.berth.stdin,
    dockerd: results.dockerd?.stdin,
  });
  console.log('');
  console.log(
    `wall time of each docker run --rm (median of ${SAMPLES}, container start included), ${NET.join(' ')}; target: within 5 % of dockerd`,
  );
  printTable(rows);
  await writeResults('bench-volumes.json', results.dockerdPath, rows);
}

await main();
