// Health checks through the docker CLI: --health-* flags and an image's
// HEALTHCHECK run as execs in the container; State.Health, docker ps's Status
// and health= filter, health_status events, timeouts, pause and stop.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';

interface Health {
  Status: string;
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

describe('health checks', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  const health = async (name: string): Promise<Health | null> =>
    JSON.parse((await d('inspect', '-f', '{{json .State.Health}}', name)).stdout) as Health | null;
  const status = async (name: string) =>
    (await d('ps', '-a', '-f', `name=^${name}$`, '--format', '{{.Status}}')).stdout.trim();
  const namesWithHealth = async (value: string) =>
    (await d('ps', '-f', `health=${value}`, '--format', '{{.Names}}')).stdout
      .trim()
      .split('\n')
      .filter(Boolean);
  const waitStatus = (name: string, wanted: string, timeoutMs = 8000) =>
    eventually(async () => (await health(name))?.Status === wanted, timeoutMs, `${name} ${wanted}`);

  it('goes starting → healthy → unhealthy with the probe, in inspect, ps, the health filter and events', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const run = await d(
      'run',
      '-d',
      '--name',
      'probed',
      '--health-cmd',
      'echo probe-output; test -e /tmp/ok',
      '--health-interval',
      '200ms',
      '--health-start-period',
      '60s',
      '--health-start-interval',
      '200ms',
      '--health-retries',
      '2',
      '--health-timeout',
      '2s',
      'busybox',
      'sleep',
      '600',
    );
    assert.equal(run.code, 0, run.stderr);
    const inspected = JSON.parse((await d('inspect', '-f', '{{json .Config.Healthcheck}}', 'probed')).stdout);
    assert.deepEqual(inspected.Test, ['CMD-SHELL', 'echo probe-output; test -e /tmp/ok']);
    assert.equal(inspected.Interval, 200_000_000);
    assert.equal(inspected.Retries, 2);

    // Failures inside the start period leave it starting.
    await eventually(async () => ((await health('probed'))?.Log.length ?? 0) >= 2, 5000, 'two probes');
    let h = (await health('probed')) as Health;
    assert.equal(h.Status, 'starting');
    assert.equal(h.FailingStreak, 0);
    assert.equal(h.Log[0].ExitCode, 1);
    assert.equal(h.Log[0].Output, 'probe-output\n');
    assert.ok(Date.parse(h.Log[0].End) >= Date.parse(h.Log[0].Start));
    assert.match(await status('probed'), /^Up .* \(health: starting\)$/);
    assert.deepEqual(await namesWithHealth('starting'), ['probed']);
    assert.deepEqual(await namesWithHealth('healthy'), []);

    assert.equal((await d('exec', 'probed', 'touch', '/tmp/ok')).code, 0);
    await waitStatus('probed', 'healthy');
    assert.match(await status('probed'), /^Up .* \(healthy\)$/);
    assert.deepEqual(await namesWithHealth('healthy'), ['probed']);

    assert.equal((await d('exec', 'probed', 'rm', '/tmp/ok')).code, 0);
    await waitStatus('probed', 'unhealthy');
    h = (await health('probed')) as Health;
    assert.ok(h.FailingStreak >= 2, `failing streak ${h.FailingStreak}`);
    assert.match(await status('probed'), /^Up .* \(unhealthy\)$/);
    assert.deepEqual(await namesWithHealth('unhealthy'), ['probed']);
    // The log keeps the last five results.
    await eventually(async () => (await health('probed'))?.Log.length === 5, 5000, 'five log entries');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await health('probed'))?.Log.length, 5);

    const events = await d(
      'events',
      '--since',
      since,
      '--until',
      String(Math.ceil(Date.now() / 1000)),
      '--filter',
      'container=probed',
      '--filter',
      'event=health_status',
      '--format',
      '{{.Action}}',
    );
    assert.deepEqual(events.stdout.trim().split('\n'), [
      'health_status: healthy',
      'health_status: unhealthy',
    ]);

    const bad = await d('ps', '-f', 'health=poorly');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Unrecognised filter value for health: poorly/);
  });

  it('kills a probe that runs past its timeout and records it as a failure', async () => {
    const run = await d(
      'run',
      '-d',
      '--name',
      'slowprobe',
      '--health-cmd',
      'sleep 2 && touch /tmp/finished',
      '--health-interval',
      '300ms',
      '--health-timeout',
      '300ms',
      '--health-retries',
      '1',
      'busybox',
      'sleep',
      '600',
    );
    assert.equal(run.code, 0, run.stderr);
    await waitStatus('slowprobe', 'unhealthy');
    const h = (await health('slowprobe')) as Health;
    assert.equal(h.Log[0].ExitCode, -1);
    assert.equal(h.Log[0].Output, 'Health check exceeded timeout (300ms)');
    await new Promise((r) => setTimeout(r, 2500));
    const finished = await d('exec', 'slowprobe', 'test', '-e', '/tmp/finished');
    assert.equal(finished.code, 1, 'the killed probe never got to its touch');
  });

  it('cuts long output at 4096 bytes as dockerd does', async () => {
    const run = await d(
      'run',
      '-d',
      '--name',
      'chatty',
      '--health-cmd',
      'head -c 5000 /dev/zero | tr "\\0" a',
      '--health-interval',
      '200ms',
      'busybox',
      'sleep',
      '600',
    );
    assert.equal(run.code, 0, run.stderr);
    await waitStatus('chatty', 'healthy');
    const out = ((await health('chatty')) as Health).Log[0].Output;
    assert.equal(out, `${'a'.repeat(4096)}...`);
  });

  it("runs an image's HEALTHCHECK; --no-healthcheck turns it off", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-health-'));
    try {
      await fs.writeFile(
        path.join(dir, 'Dockerfile'),
        'FROM busybox\nHEALTHCHECK --interval=200ms --timeout=2s --retries=1 CMD ["test", "-e", "/tmp/ready"]\n',
      );
      const build = await docker(engine(), ['build', '-q', '-t', 'healthy-img', dir], {
        env: { DOCKER_BUILDKIT: '0' },
      });
      assert.equal(build.code, 0, build.stderr);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    const run = await d(
      'run',
      '-d',
      '--name',
      'fromimage',
      'healthy-img',
      'sh',
      '-c',
      'touch /tmp/ready; sleep 600',
    );
    assert.equal(run.code, 0, run.stderr);
    await waitStatus('fromimage', 'healthy');
    // Flags override the image's parts, the rest is kept.
    const over = await d('create', '--name', 'override', '--health-retries', '7', 'healthy-img');
    assert.equal(over.code, 0, over.stderr);
    const merged = JSON.parse((await d('inspect', '-f', '{{json .Config.Healthcheck}}', 'override')).stdout);
    assert.deepEqual(merged.Test, ['CMD', 'test', '-e', '/tmp/ready']);
    assert.equal(merged.Retries, 7);
    assert.equal(merged.Interval, 200_000_000);

    const none = await d('run', '-d', '--name', 'nocheck', '--no-healthcheck', 'healthy-img', 'sleep', '600');
    assert.equal(none.code, 0, none.stderr);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await health('nocheck'), null);
    assert.match(await status('nocheck'), /^Up [^(]*$/);
    assert.ok((await namesWithHealth('none')).includes('nocheck'));
    assert.ok(!(await namesWithHealth('none')).includes('fromimage'));
  });

  it('stops probing on pause and on stop, and starts again from starting', async () => {
    const run = await d(
      'run',
      '-d',
      '--name',
      'paused',
      '--health-cmd',
      'true',
      '--health-interval',
      '200ms',
      'busybox',
      'sleep',
      '600',
    );
    assert.equal(run.code, 0, run.stderr);
    await waitStatus('paused', 'healthy');
    const countProbes = async (from: number) => {
      const events = await d(
        'events',
        '--since',
        String(from / 1000),
        '--until',
        String(Date.now() / 1000),
        '--filter',
        'container=paused',
        '--filter',
        'event=exec_create',
        '--format',
        '{{.Action}}',
      );
      return events.stdout.split('\n').filter(Boolean).length;
    };

    assert.equal((await d('pause', 'paused')).code, 0);
    const pausedAt = Date.now();
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(await countProbes(pausedAt + 100), 0, 'no probe while paused');
    assert.equal((await health('paused'))?.Status, 'unhealthy');
    assert.equal((await d('unpause', 'paused')).code, 0);
    await waitStatus('paused', 'healthy');

    assert.equal((await d('stop', '-t', '0', 'paused')).code, 0);
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(await countProbes(stoppedAt + 100), 0, 'no probe after stop');
    assert.equal((await health('paused'))?.Status, 'unhealthy');
    assert.match(await status('paused'), /^Exited/);

    assert.equal((await d('start', 'paused')).code, 0);
    assert.equal((await health('paused'))?.Status, 'starting');
    await waitStatus('paused', 'healthy');
  });

  it('starts over when the engine restarts a container, and a stopped one stays unhealthy', async () => {
    const flags = ['--health-cmd', 'true', '--health-interval', '200ms', '--stop-timeout', '1'];
    for (const [name, policy] of [
      ['kept', 'always'],
      ['left', 'no'],
    ]) {
      const r = await d(
        'run',
        '-d',
        '--name',
        name,
        '--restart',
        policy,
        ...flags,
        'busybox',
        'sleep',
        '600',
      );
      assert.equal(r.code, 0, r.stderr);
      await waitStatus(name, 'healthy');
    }
    await engine().stop();
    await engine().restart();
    assert.equal((await health('left'))?.Status, 'unhealthy');
    assert.match(await status('left'), /^Exited/);
    await waitStatus('kept', 'healthy');
    assert.match(await status('kept'), /^Up .* \(healthy\)$/);
  });

  it('rejects a Healthcheck interval under 1ms', async () => {
    const r = await d('create', '--health-cmd', 'true', '--health-interval', '500us', 'busybox');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Interval in Healthcheck cannot be less than 1ms/);
  });
});
