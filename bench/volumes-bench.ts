// Volume I/O, Berth vs dockerd: 10,000 small files created and read back, and a
// large sequential write, through a bind mount and through a named volume. Each
// step is one `docker run --rm` whose wall time is measured (median of 5, the
// engines alternating), so container start is included equally on both sides. Run through
// `npm run bench -- volumes` (a private network namespace).
import { promises as fs } from 'node:fs';
import { pack } from 'tar-stream';
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

const SAMPLES = 5;
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

interface Side {
  subject: Subject;
  bindDir: string;
  samples: Record<string, number[]>;
}

/**
 * Both engines at once, each sample taken on one and then the other, so a change in the machine's load
 * (other work on its 2 cores) hits both alike; each engine has its own bind directory on the same filesystem.
 */
async function measure(sides: Side[], tar: Buffer): Promise<void> {
  const sample = async (side: Side, key: string, fn: () => Promise<unknown>) =>
    (side.samples[key] ??= []).push(await timed(fn));
  for (const kind of ['bind', 'volume'] as const) {
    const runIn = (side: Side, cmd: string[], input?: Buffer) =>
      must(
        side.subject,
        [
          'run',
          '--rm',
          ...(input ? ['-i'] : []),
          ...NET,
          '-v',
          kind === 'bind' ? `${side.bindDir}:/w` : `${VOLUME}:/w`,
          'busybox',
          ...cmd,
        ],
        { input, timeoutMs: 300_000 },
      );
    for (let i = 0; i < SAMPLES; i++) {
      for (const side of sides) await runIn(side, ['rm', '-rf', '/w/files', '/w/big']); // each sample starts empty
      for (const side of sides)
        await sample(side, `${kind}.create`, () => runIn(side, STEPS.create.cmd, tar));
      for (const side of sides) await sample(side, `${kind}.read`, () => runIn(side, STEPS.read.cmd));
      for (const side of sides) await sample(side, `${kind}.write`, () => runIn(side, STEPS.write.cmd));
    }
    for (const side of sides) await runIn(side, ['rm', '-rf', '/w/files', '/w/big']);
  }
  // Control: the same tar through stdin into nothing, to tell attach cost from file-system cost.
  for (let i = 0; i < SAMPLES; i++)
    for (const side of sides)
      await sample(side, 'stdin', () =>
        must(side.subject, ['run', '--rm', '-i', ...NET, 'busybox', 'sh', '-c', 'cat > /dev/null'], {
          input: tar,
        }),
      );
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const image = await busyboxArchive();
  const tar = await smallFilesTar();
  const dockerdPath = which('dockerd');
  if (!dockerdPath) console.log('dockerd is not installed (Debian docker.io): Berth is measured alone');
  console.log(`starting Berth${dockerdPath ? ` and dockerd (${dockerdPath})` : ''} …`);
  const sides: Side[] = [];
  const results: { berth: Results; dockerd?: Results } = { berth: {} };
  try {
    for (const start of [startBerth, ...(dockerdPath ? [() => startDockerd(dockerdPath)] : [])]) {
      // The bind-mount directories sit on /tmp, the same filesystem as both engines' data roots.
      const side: Side = {
        subject: await start(),
        bindDir: await fs.mkdtemp('/tmp/berth-bench-bind-'),
        samples: {},
      };
      sides.push(side);
      await must(side.subject, ['load', '-i', image]);
      await must(side.subject, ['volume', 'create', VOLUME]);
    }
    console.log(`measuring (${SAMPLES} rounds, alternating) …`);
    await measure(sides, tar);
    const [berth, dockerd] = sides.map((side) =>
      Object.fromEntries(Object.entries(side.samples).map(([k, v]) => [k, median(v)])),
    );
    results.berth = berth!;
    results.dockerd = dockerd;
  } finally {
    for (const side of sides) {
      await must(side.subject, ['volume', 'rm', '-f', VOLUME]).catch(() => undefined);
      await side.subject.stop();
      await fs.rm(side.bindDir, { recursive: true, force: true });
    }
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
  await writeResults('bench-volumes.json', dockerdPath, rows);
}

await main();
