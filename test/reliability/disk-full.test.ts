// A full disk under the data root (a small filesystem mounted there): writes
// fail with a clear error, what is already stored stays whole, the engine keeps
// serving reads, and it recovers once space returns.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { logTail, startEngine, type TestEngine } from '../helpers/engine.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { run } from '../../guest-agent/util/subprocess.js';

const SIZE_MB = 48;

describe('a full disk', () => {
  let engine: TestEngine;
  const d = (...args: string[]) => docker(engine, args);

  before(async () => {
    engine = await startEngine();
    await engine.stop();
    // The data root becomes a small filesystem of its own (cleanup() unmounts it with the rest).
    await fs.rm(engine.dataRoot, { recursive: true, force: true });
    await fs.mkdir(engine.dataRoot);
    assert.equal(
      (await run('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MB}m,mode=0710`, 'berth-full', engine.dataRoot]))
        .exitCode,
      0,
    );
    await engine.restart();
    const load = await d('load', '-i', await busyboxArchive());
    assert.equal(load.code, 0, load.stderr);
  });
  after(async () => {
    if (engine) {
      const left = (await d('ps', '-aq')).stdout.split('\n').filter(Boolean);
      if (left.length) await d('rm', '-f', ...left);
    }
    await engine?.cleanup();
  });

  it('fails writes clearly, keeps what is stored, serves reads, and recovers when space returns', async () => {
    const keeper = (
      await d('create', '--name', 'keeper', '-l', 'role=keeper', 'busybox', 'echo', 'kept')
    ).stdout.trim();
    assert.match(keeper, /^[0-9a-f]{64}$/);
    // Fill the disk from inside a container: its writable layer lives on the data root. It waits
    // to be told, so that the disk fills after its start is done (the start writes state too).
    const filler = await d(
      'run',
      '-d',
      '--name',
      'filler',
      'busybox',
      'sh',
      '-c',
      'until [ -e /go ]; do sleep 0.05; done; dd if=/dev/zero of=/fill bs=1M; s=$?; sync; exit $s',
    );
    assert.equal(filler.code, 0, filler.stderr);
    const go = await d('exec', 'filler', 'touch', '/go');
    assert.equal(go.code, 0, go.stderr);
    const waited = await docker(engine, ['wait', 'filler'], { timeoutMs: 30_000 });
    assert.equal(
      waited.code,
      0,
      `the filler ended: ${waited.stderr}\n${(await d('ps', '-a')).stdout}\n${await logTail(engine.logFile, 30)}\n${(await run('df', [engine.dataRoot])).stdout}`,
    );
    assert.equal(waited.stdout.trim(), '1', 'dd failed for want of space');
    const df = await run('df', ['--output=avail', '-k', engine.dataRoot]);
    assert.ok(Number(df.stdout.split('\n')[1]) < 1024, `the data root is full: ${df.stdout}`);

    // Writes fail, saying why.
    const create = await d('create', '--name', 'new-one', 'busybox', 'true');
    const volume = await d('volume', 'create', 'full-vol');
    const tag = await d('tag', 'busybox', 'busybox:full');
    const failures = [create, volume, tag].filter((r) => r.code !== 0);
    assert.ok(failures.length > 0, 'something could not be written on a full disk');
    for (const f of failures) assert.match(f.stderr, /no space left on device/i, f.stderr);

    // Reads go on.
    assert.match((await d('ps', '-a', '--format', '{{.Names}}')).stdout, /keeper/);
    assert.equal(
      (await d('inspect', '-f', '{{index .Config.Labels "role"}}', 'keeper')).stdout.trim(),
      'keeper',
    );
    assert.match((await d('images', '--format', '{{.Repository}}')).stdout, /busybox/);
    assert.equal((await d('logs', 'filler')).code, 0, 'the logs (what of them fitted) can be read');

    // Space returns; nothing already stored was damaged, across a restart too.
    // (The engine does not start on a data root with no byte free: its lock file needs one.)
    assert.equal((await d('rm', 'filler')).code, 0);
    await engine.stop();
    await engine.restart();
    assert.equal(
      (await d('inspect', '-f', '{{.Name}} {{.State.Status}}', 'keeper')).stdout.trim(),
      '/keeper created',
    );

    // Everything works again.
    await d('rm', '-f', 'new-one');
    const again = await d('start', '-a', 'keeper');
    assert.equal(again.stdout, 'kept\n', again.stderr);
    const fresh = await d(
      'run',
      '--rm',
      '-v',
      'full-vol2:/v',
      'busybox',
      'sh',
      '-c',
      'echo ok > /v/f && cat /v/f',
    );
    assert.equal(fresh.stdout, 'ok\n', fresh.stderr);
    assert.equal((await d('tag', 'busybox', 'busybox:after')).code, 0);
    const stray = (await fs.readdir(path.join(engine.dataRoot, 'image', 'tmp')).catch(() => [])).length;
    assert.equal(stray, 0, 'no work dir of a failed write is left');
  });
});
