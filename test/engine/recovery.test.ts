// The engine restarting: restart policies, a kill -9 of the engine, and one
// engine per data root.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { readMounts } from '../helpers/host-cleanup.js';
import { run } from '../../guest-agent/util/subprocess.js';
import path from 'node:path';
import { repoRoot } from '../fixtures/image-cache.js';

describe('engine restarts', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  const inspect = async (ref: string) => JSON.parse((await d('inspect', ref)).stdout)[0];

  it('restarts a container whose process exits, per its policy', async () => {
    const id = (
      await d('run', '-d', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1')
    ).stdout.trim();
    await eventually(
      async () => {
        const s = await inspect(id);
        return s.RestartCount === 2 && !s.State.Running && !s.State.Restarting;
      },
      15_000,
      'two restarts then stop',
    );
    assert.equal((await inspect(id)).State.ExitCode, 1);
    await d('rm', '-f', id);
  });

  it('applies restart policies when the engine starts again', async () => {
    const always = (await d('run', '-d', '--restart', 'always', 'busybox', 'sleep', '300')).stdout.trim();
    const unless = (
      await d('run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '300')
    ).stdout.trim();
    const plain = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    assert.equal((await d('stop', '-t', '0', unless)).code, 0);
    await engine().stop();
    await engine().restart();
    assert.equal((await inspect(always)).State.Running, true, 'always: running again');
    assert.equal(
      (await inspect(unless)).State.Running,
      false,
      'unless-stopped after a manual stop: still stopped',
    );
    const p = await inspect(plain);
    assert.equal(p.State.Running, false, 'no policy: stays stopped');
    assert.equal(p.State.Status, 'exited');
    await d('rm', '-f', always, unless, plain);
  });

  it('recovers from kill -9: records the truth, cleans up, accepts new work', async () => {
    const victim = (await d('run', '-d', '--name', 'victim', 'busybox', 'sleep', '300')).stdout.trim();
    const keeper = (await d('run', '-d', '--restart', 'always', 'busybox', 'sleep', '300')).stdout.trim();
    await engine().kill9();
    await engine().restart();
    const v = await inspect(victim);
    assert.equal(v.State.Running, false);
    assert.equal(v.State.Status, 'exited');
    assert.equal(v.State.ExitCode, 137);
    assert.equal((await inspect(keeper)).State.Running, true, 'restart policy applied after the crash');
    const mounts = (await readMounts()).filter((m) => m.mountPoint.includes(victim));
    assert.deepEqual(mounts, [], 'no mount of the dead container is left');
    const fresh = await d('run', '--rm', 'busybox', 'echo', 'alive');
    assert.equal(fresh.stdout, 'alive\n', fresh.stderr);
    await d('rm', '-f', victim, keeper);
  });

  it('refuses a second engine on the same data root', async () => {
    const e = engine();
    const second = await run(
      process.execPath,
      [
        path.join(repoRoot, 'bin', 'berth-engine'),
        '-H',
        `unix://${e.socket}.second`,
        '--data-root',
        e.dataRoot,
        '--exec-root',
        `${e.execRoot}-second`,
      ],
      { allowFailure: true, timeoutMs: 20_000 },
    );
    assert.notEqual(second.exitCode, 0);
    assert.match(second.stderr, /another Berth engine \(pid \d+\) is already using the data root/);
    const still = await d('version', '--format', '{{.Server.APIVersion}}');
    assert.equal(still.stdout.trim(), '1.47');
  });
});
