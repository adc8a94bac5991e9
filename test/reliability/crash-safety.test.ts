// Crash safety under load: many clients creating, starting, exec'ing into,
// reading logs from and removing containers at once; then a kill -9 of the
// engine in the middle of that, and again at random points of an image load, a
// commit, a build and a volume copy-up. After each restart on the same data
// root: what the API acknowledged is there and tells the truth, nothing is
// half-made, nothing on the host is left without an owner, new work is taken.
//
// Containers die with the engine (Berth has no shim; dockerd without
// live-restore does the same): after the restart they are recorded as exited
// with 137, and their mounts, namespaces, veths, rules and cgroups are gone.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { finished } from 'node:stream/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { docker } from '../helpers/docker.js';
import { eventually } from '../helpers/engine-with-images.js';
import { startEngine, type TestEngine } from '../helpers/engine.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { checkContainers, idsOnDisk, strayTempFiles, type Leak } from './invariants.js';
import { recordFigures } from './figures.js';
import { run } from '../../guest-agent/util/subprocess.js';

const CLIENTS = Number(process.env.BERTH_LOAD_CLIENTS ?? 50);
const KILLS = Number(process.env.BERTH_RELIABILITY_KILLS ?? 8);
const CLASSIC = { DOCKER_BUILDKIT: '0' };
const FAT_FILES = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the API acknowledged of one container. */
interface Acked {
  id: string;
  started: boolean;
  startAsked: boolean;
  removeAsked: boolean;
  removed: boolean;
}

async function execOutput(container: Docker.Container, cmd: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  // finished() also settles for a stream that closed before this line (an engine killed right then).
  await finished(stream).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  });
  // Multiplexed frames: 8-byte header then data.
  const raw = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= raw.length;) {
    const len = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + len).toString();
    i += 8 + len;
  }
  return out;
}

/**
 * `work`, or a rejection once `signal` aborts. dockerode destroys the request on
 * abort, but a buffered answer it had begun to read (a killed engine's) never
 * settles: it listens for the response's end, not for its error.
 */
function givenUpOnAbort<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  let abort = () => undefined as void;
  const given = new Promise<never>((_resolve, reject) => {
    abort = () => reject(new Error('given up: the request was cut by the kill'));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
  return Promise.race([work, given]).finally(() => signal.removeEventListener('abort', abort));
}

/** One client's round: create, start, exec, logs, remove; each step recorded as the API acknowledges it. */
async function round(
  client: Docker,
  tag: string,
  acked: Map<string, Acked>,
  publish: boolean,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await roundSteps(client, tag, acked, publish, signal);
  } finally {
    steps.delete(tag);
  }
}

async function roundSteps(
  client: Docker,
  tag: string,
  acked: Map<string, Acked>,
  publish: boolean,
  signal?: AbortSignal,
): Promise<void> {
  steps.set(tag, 'create');
  const container = await client.createContainer({
    name: tag,
    Image: 'busybox',
    Cmd: ['sh', '-c', `echo started ${tag}; sleep 60`],
    ExposedPorts: publish ? { '80/tcp': {} } : undefined,
    HostConfig: publish ? { PortBindings: { '80/tcp': [{ HostPort: '' }] } } : undefined,
  });
  const a: Acked = {
    id: container.id,
    started: false,
    startAsked: false,
    removeAsked: false,
    removed: false,
  };
  acked.set(container.id, a);
  a.startAsked = true;
  steps.set(tag, 'start');
  await container.start();
  a.started = true;
  steps.set(tag, 'exec');
  const said = await execOutput(container, ['echo', `exec ${tag}`]);
  if (said.trim() !== `exec ${tag}`) throw new Error(`exec in ${tag} said ${JSON.stringify(said)}`);
  steps.set(tag, 'logs');
  logsAskedAt.set(tag, performance.now());
  const logs = (
    await givenUpOnAbort(container.logs({ stdout: true, stderr: true, abortSignal: signal }), signal)
  ).toString();
  if (!logs.includes(`started ${tag}`)) throw new Error(`logs of ${tag}: ${JSON.stringify(logs)}`);
  a.removeAsked = true;
  steps.set(tag, 'remove');
  await container.remove({ force: true });
  a.removed = true;
}

/** Where each unfinished round is: a hang is reported with the steps that never returned. */
const steps = new Map<string, string>();
/** When each round asked for its logs (a request the killed engine cut is told from one the new engine left). */
const logsAskedAt = new Map<string, number>();

/** Fails with the rounds still under way when `work` takes longer than `ms`. */
async function withinOrReport<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => {
      const stuck = [...steps].map(([tag, step]) => `${tag} at ${step}`).join(', ');
      reject(new Error(`${what} did not end within ${ms / 1000} s; rounds under way: ${stuck || 'none'}`));
    }, ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** After a restart: acknowledged containers are there (or acknowledged gone), none runs without a process, none is half-made. */
async function checkAcknowledged(engine: TestEngine, acked: Map<string, Acked>): Promise<string[]> {
  const client = new Docker({ socketPath: engine.socket });
  const problems: string[] = [];
  for (const a of acked.values()) {
    const info = await client
      .getContainer(a.id)
      .inspect()
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) problems.push(`${a.id}: inspect failed: ${String(err)}`);
        return undefined;
      });
    if (a.removed) {
      if (info) problems.push(`${a.id}: its removal was acknowledged, yet it is still there`);
      continue;
    }
    if (!info) {
      if (!a.removeAsked) problems.push(`${a.id}: acknowledged as created, but gone after the restart`);
      continue;
    }
    if (info.State.Running) problems.push(`${a.id}: claims to run after the engine that ran it was killed`);
    if (a.started && info.State.Status !== 'exited')
      problems.push(`${a.id}: was started, now ${info.State.Status}`);
    if (a.started && info.State.ExitCode !== 137)
      problems.push(`${a.id}: killed with the engine, yet exit code ${info.State.ExitCode}`);
    if (!a.startAsked && info.State.Status !== 'created')
      problems.push(`${a.id}: never started, yet ${info.State.Status}`);
  }
  return problems;
}

const formatLeaks = (leaks: Leak[]) => leaks.map((l) => `${l.kind}: ${l.what}`).join('\n');

/** Kills, restarts and measures how long until the engine answers again. */
async function killAndRestart(engine: TestEngine): Promise<{ knownIds: Set<string>; recoverMs: number }> {
  await engine.kill9();
  const knownIds = await idsOnDisk(engine);
  const t0 = performance.now();
  await engine.restart();
  return { knownIds, recoverMs: performance.now() - t0 };
}

async function removeAll(engine: TestEngine): Promise<void> {
  const ids = (await docker(engine, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (ids.length) {
    const r = await docker(engine, ['rm', '-f', ...ids]);
    assert.equal(r.code, 0, r.stderr);
  }
}

describe('crash safety', () => {
  let engine: TestEngine;
  let tmp = '';
  let fatArchive = '';
  const recoveries: number[] = [];
  let kills = 0;
  let leaksFound = 0;
  let requests = 0;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-crash-'));
    engine = await startEngine();
    const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
    assert.equal(load.code, 0, load.stderr);
    // An image with many files and one big one: loading it and copying its
    // /data into a new volume take long enough to be killed in the middle.
    await fs.writeFile(
      path.join(tmp, 'Dockerfile'),
      `FROM busybox\nRUN mkdir /data && cd /data && i=0 && while [ $i -lt ${FAT_FILES} ]; do echo $i > f$i; i=$((i+1)); done && dd if=/dev/zero of=/data/big bs=1M count=24 2>/dev/null\n`,
    );
    const build = await docker(engine, ['build', '-q', '-t', 'fat', tmp], {
      env: CLASSIC,
      timeoutMs: 300_000,
    });
    assert.equal(build.code, 0, build.stderr);
    fatArchive = path.join(tmp, 'fat.tar');
    const save = await docker(engine, ['save', '-o', fatArchive, 'fat']);
    assert.equal(save.code, 0, save.stderr);
    assert.equal((await docker(engine, ['rmi', 'fat'])).code, 0);
  });

  after(async () => {
    await recordFigures('crash-safety', {
      clients: CLIENTS,
      killsSurvived: kills,
      leaksFound,
      apiRequestsUnderLoad: requests,
      recoverMsMax: Math.round(Math.max(0, ...recoveries)),
      recoverMsMedian: Math.round(
        [...recoveries].sort((a, b) => a - b)[Math.floor(recoveries.length / 2)] ?? 0,
      ),
    });
    await engine?.cleanup();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('the leak checks see what a crash could leave (a check that cannot fail proves nothing)', async () => {
    const id = 'f'.repeat(64);
    const netns = path.join(engine.execRoot, 'netns', id);
    const half = path.join(engine.dataRoot, 'containers', id);
    const mountPoint = path.join(tmp, 'mnt', id);
    await fs.mkdir(path.dirname(netns), { recursive: true });
    await fs.writeFile(netns, '');
    await fs.mkdir(half, { recursive: true });
    await fs.mkdir(mountPoint, { recursive: true });
    assert.equal((await run('mount', ['-t', 'tmpfs', 'leak', mountPoint])).exitCode, 0);
    try {
      const kinds = new Set((await checkContainers(engine, new Set([id]))).map((l) => l.kind));
      assert.deepEqual([...kinds].sort(), ['half-created', 'mount', 'netns']);
    } finally {
      await run('umount', [mountPoint]);
      await fs.rm(netns);
      await fs.rm(half, { recursive: true });
    }
    assert.deepEqual(await checkContainers(engine, new Set([id])), []);
  });

  // A hang (a round that never ends) fails here, with the rounds' state, rather than at the runner's limit.
  it(
    `${CLIENTS} clients create, start, exec, log and remove at once; kill -9 mid-round leaves the truth`,
    { timeout: 300_000 },
    async (t) => {
      const client = new Docker({ socketPath: engine.socket });
      const acked = new Map<string, Acked>();
      // A full round for every client first: under load, nothing fails.
      const t0 = performance.now();
      const results = await withinOrReport(
        Promise.allSettled(
          Array.from({ length: CLIENTS }, (_v, i) => round(client, `load-${i}`, acked, i % 5 === 0)),
        ),
        120_000,
        'the first rounds',
      );
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.deepEqual(
        failed.map((f) => String(f.reason)),
        [],
        'every step of every client succeeds under load',
      );
      requests += CLIENTS * 5;
      t.diagnostic(`${CLIENTS} concurrent rounds in ${Math.round(performance.now() - t0)} ms`);

      // Now the clients go round and round until the engine is killed under them.
      const midAcked = new Map<string, Acked>();
      const cutByKill = new AbortController();
      let stop = false;
      const loops = Array.from({ length: CLIENTS }, async (_v, i) => {
        for (let n = 0; !stop; n++) {
          await round(client, `mid-${i}-${n}`, midAcked, i % 5 === 0, cutByKill.signal).catch(() => {
            stop = true;
          });
          requests += 5;
        }
      });
      await sleep(1500 + Math.random() * 2500);
      const { knownIds, recoverMs } = await withinOrReport(
        killAndRestart(engine),
        60_000,
        'kill -9 and restart',
      );
      const restartedAt = performance.now();
      stop = true;
      // A logs answer the killed engine had begun never ends for dockerode: it waits for the end of a
      // buffered response and does not listen for its error. Such a request is the client's to give up.
      const ended = Promise.all(loops);
      await Promise.race([ended, sleep(15_000)]);
      const leftByNewEngine = [...steps]
        .filter(([tag, step]) => step === 'logs' && (logsAskedAt.get(tag) ?? 0) > restartedAt)
        .map(([tag]) => tag);
      assert.deepEqual(leftByNewEngine, [], 'the restarted engine answers every logs request');
      cutByKill.abort();
      await withinOrReport(ended, 60_000, 'the rounds cut by the kill');
      kills++;
      recoveries.push(recoverMs);
      t.diagnostic(
        `killed with ${midAcked.size} containers acknowledged in the round; recovered in ${Math.round(recoverMs)} ms`,
      );

      const problems = await checkAcknowledged(engine, midAcked);
      assert.deepEqual(problems, [], problems.join('\n'));
      for (const id of midAcked.keys()) knownIds.add(id);
      const leaks = await checkContainers(engine, knownIds);
      leaksFound += leaks.length;
      assert.equal(leaks.length, 0, formatLeaks(leaks));
      assert.deepEqual(
        await strayTempFiles(engine.dataRoot),
        [],
        'no temp file of the killed engine is left',
      );

      // New work, and a clean slate once everything is removed.
      const again = await withinOrReport(
        Promise.allSettled(
          Array.from({ length: 5 }, (_v, i) => round(client, `after-${i}`, new Map(), i === 0)),
        ),
        60_000,
        'the rounds after the restart',
      );
      assert.deepEqual(
        again.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
        [],
      );
      await removeAll(engine);
      const after = await checkContainers(engine, knownIds);
      assert.equal(after.length, 0, formatLeaks(after));
    },
  );

  it(
    `survives ${KILLS} kills in the middle of an image load, a commit, a build and a volume copy-up`,
    { timeout: 480_000 },
    async (t) => {
      const context = path.join(tmp, 'ctx');
      await fs.mkdir(context, { recursive: true });
      await fs.writeFile(path.join(context, 'payload'), 'copied in\n'.repeat(20_000));
      await fs.writeFile(
        path.join(context, 'Dockerfile'),
        'FROM busybox\nCOPY payload /payload\nRUN echo built > /built && cp /payload /payload2\nRUN wc -c /payload2 > /size\n',
      );
      const imageTmp = path.join(engine.dataRoot, 'image', 'tmp');
      const hasEntry = async (dir: string, prefix = '') =>
        (await fs.readdir(dir).catch(() => [])).some((n) => n.startsWith(prefix));
      let hits = 0;
      for (let i = 0; i < KILLS; i++) {
        const target = (['load', 'copy-up', 'commit', 'build'] as const)[i % 4];
        const committer = await docker(engine, [
          'run',
          '-d',
          '--name',
          `src-${i}`,
          'busybox',
          'sh',
          '-c',
          `echo mark-${i} > /mark; dd if=/dev/zero of=/blob bs=1M count=32 2>/dev/null; touch /done; sleep 60`,
        ]);
        assert.equal(committer.code, 0, committer.stderr);
        await eventually(
          async () => (await docker(engine, ['exec', `src-${i}`, 'test', '-e', '/done'])).code === 0,
        );
        if (target === 'copy-up') assert.equal((await docker(engine, ['load', '-i', fatArchive])).code, 0);

        // The operation under test, and what shows on disk while it is half done.
        const [op, inProgress] = {
          load: () =>
            [docker(engine, ['load', '-i', fatArchive]), () => hasEntry(imageTmp, 'load-')] as const,
          'copy-up': () =>
            [
              docker(engine, [
                'run',
                '-d',
                '--name',
                `fatcopy-${i}`,
                '-v',
                `fatvol-${i}:/data`,
                'fat',
                'sleep',
                '60',
              ]),
              () => hasEntry(path.join(engine.dataRoot, 'volumes', `fatvol-${i}`, '_data')),
            ] as const,
          commit: () =>
            [
              docker(engine, ['commit', `src-${i}`, `committed:${i}`]),
              () => hasEntry(imageTmp, 'create-'),
            ] as const,
          build: () =>
            [
              docker(engine, ['build', '-q', '-t', `built:${i}`, context], { env: CLASSIC }),
              () => hasEntry(imageTmp, 'create-'),
            ] as const,
        }[target]();
        let finished = false;
        void op.then(() => (finished = true));
        const deadline = Date.now() + 60_000;
        while (!finished && !(await inProgress()) && Date.now() < deadline) await sleep(5);
        const hit = !finished;
        if (hit) hits++;
        // Somewhere in the middle of it, not always at its first sign.
        await sleep(Math.random() * 100);
        const { knownIds, recoverMs } = await killAndRestart(engine);
        const interrupted = await op;
        kills++;
        recoveries.push(recoverMs);
        requests += 3;
        t.diagnostic(
          `kill ${i} during ${target}: ${hit ? 'in progress' : 'it had finished'} (${interrupted.code === 0 ? 'acknowledged' : 'cut short'}), recovered in ${Math.round(recoverMs)} ms`,
        );

        const leaks = await checkContainers(engine, knownIds);
        leaksFound += leaks.length;
        assert.equal(leaks.length, 0, `kill ${i}: ${formatLeaks(leaks)}`);
        assert.deepEqual(await strayTempFiles(engine.dataRoot), [], `kill ${i}: no temp file is left`);
        assert.deepEqual(
          await fs.readdir(path.join(engine.dataRoot, 'image', 'tmp')).catch(() => []),
          [],
          `kill ${i}: no work dir of an interrupted load or pull is left`,
        );

        // Whatever the kill cut short is either absent or whole; what was acknowledged is there.
        const images = (await docker(engine, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout;
        const has = (ref: string) => images.split('\n').includes(ref);
        const produced = { load: 'fat:latest', commit: `committed:${i}`, build: `built:${i}` } as Record<
          string,
          string
        >;
        if (interrupted.code === 0 && produced[target])
          assert.ok(
            has(produced[target]),
            `kill ${i}: ${target} was acknowledged, so ${produced[target]} is there`,
          );
        const runIn = async (image: string, script: string, volume?: string) => {
          const r = await docker(engine, [
            'run',
            '--rm',
            ...(volume ? ['-v', volume] : []),
            image,
            'sh',
            '-c',
            script,
          ]);
          assert.equal(r.code, 0, `kill ${i}: run in ${image}: ${r.stderr}`);
          return r.stdout.trim();
        };
        if (has('fat:latest'))
          assert.equal(
            await runIn('fat', 'ls /data | wc -l; wc -c < /data/big'),
            `${FAT_FILES + 1}\n${24 << 20}`,
          );
        if (has(`committed:${i}`))
          assert.equal(await runIn(`committed:${i}`, 'cat /mark; wc -c < /blob'), `mark-${i}\n${32 << 20}`);
        if (has(`built:${i}`))
          assert.equal(await runIn(`built:${i}`, 'cat /built /size'), 'built\n200000 /payload2');
        // A volume whose copy-up was cut short gets the image's content on its next use, not half of it.
        const volumes = (await docker(engine, ['volume', 'ls', '-q'])).stdout.split('\n');
        if (volumes.includes(`fatvol-${i}`)) {
          if (!has('fat:latest')) assert.equal((await docker(engine, ['load', '-i', fatArchive])).code, 0);
          assert.equal(await runIn('fat', 'ls /data | wc -l', `fatvol-${i}:/data`), String(FAT_FILES + 1));
        }

        // New work: each interrupted operation succeeds when tried again.
        const load = await docker(engine, ['load', '-i', fatArchive]);
        assert.equal(load.code, 0, `kill ${i}: load again: ${load.stderr}`);
        const build = await docker(engine, ['build', '-q', '-t', `built:${i}`, context], { env: CLASSIC });
        assert.equal(build.code, 0, `kill ${i}: build again: ${build.stderr}`);
        assert.equal(await runIn(`built:${i}`, 'cat /built'), 'built');

        await removeAll(engine);
        for (const ref of [`committed:${i}`, `built:${i}`, 'fat']) await docker(engine, ['rmi', '-f', ref]);
        const vols = (await docker(engine, ['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
        if (vols.length) assert.equal((await docker(engine, ['volume', 'rm', ...vols])).code, 0);
        const clean = await checkContainers(engine, knownIds);
        assert.equal(clean.length, 0, `kill ${i}, after removing everything: ${formatLeaks(clean)}`);
      }
      // The kills must land inside the operations, or this test proves nothing.
      assert.ok(
        hits >= Math.ceil(KILLS / 2),
        `only ${hits} of ${KILLS} kills landed while the operation was in progress`,
      );
    },
  );
});
