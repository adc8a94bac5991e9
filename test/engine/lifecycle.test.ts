// Detached containers: ps, stop, kill, restart, rename, wait, top, logs, events, rm, prune.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('container lifecycle', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  it('runs detached, lists, stops and removes', async () => {
    const run = await d('run', '-d', '--name', 'sleeper', '--label', 'team=a', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await d('ps', '--format', '{{.ID}} {{.Names}} {{.Status}} {{.Command}}');
    assert.match(
      ps.stdout,
      new RegExp(`^${id.slice(0, 12)} sleeper Up (Less than a second|\\d+ seconds?) "sleep 300"`, 'm'),
    );
    const filtered = await d('ps', '-q', '--filter', 'label=team=a', '--filter', 'status=running');
    assert.equal(filtered.stdout.trim(), id.slice(0, 12));
    const inspect = JSON.parse((await d('inspect', 'sleeper')).stdout)[0];
    assert.equal(inspect.State.Status, 'running');
    assert.ok(inspect.State.Pid > 0);
    assert.equal(inspect.Name, '/sleeper');
    assert.equal(inspect.Config.Labels.team, 'a');

    const again = await d('start', 'sleeper');
    assert.equal(again.code, 0, 'starting a running container is a no-op');
    const rmRunning = await d('rm', 'sleeper');
    assert.equal(rmRunning.code, 1);
    assert.match(
      rmRunning.stderr,
      /container is running: stop the container before removing or force remove/,
    );

    // sleep as PID 1 ignores SIGTERM: stop waits for the timeout, then kills.
    const stop = await d('stop', '-t', '1', 'sleeper');
    assert.equal(stop.code, 0, stop.stderr);
    const stopped = JSON.parse((await d('inspect', 'sleeper')).stdout)[0];
    assert.equal(stopped.State.Status, 'exited');
    assert.equal(stopped.State.ExitCode, 137);
    const psa = await d('ps', '-a', '--format', '{{.Status}}', '--filter', 'name=sleeper');
    assert.match(psa.stdout, /^Exited \(137\) /);
    assert.equal((await d('rm', 'sleeper')).code, 0);
    const gone = await d('inspect', 'sleeper');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such object: sleeper/);
  });

  it('stops a container that handles SIGTERM promptly with its own exit code', async () => {
    const run = await d(
      'run',
      '-d',
      'busybox',
      'sh',
      '-c',
      'trap "exit 7" TERM; while true; do sleep 0.1; done',
    );
    const id = run.stdout.trim();
    const started = Date.now();
    assert.equal((await d('stop', id)).code, 0);
    assert.ok(Date.now() - started < 5000, 'did not wait for the timeout');
    const wait = await d('wait', id);
    assert.equal(wait.stdout.trim(), '7');
    await d('rm', id);
  });

  it('kills with a signal, restarts and renames', async () => {
    const id = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    const kill = await d('kill', id);
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal((await d('wait', id)).stdout.trim(), '137');
    const killStopped = await d('kill', id);
    assert.notEqual(killStopped.code, 0);
    assert.match(killStopped.stderr, /is not running/);
    const restart = await d('restart', '-t', '0', id);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(JSON.parse((await d('inspect', id)).stdout)[0].State.Running, true);
    assert.equal((await d('rename', id, 'renamed')).code, 0);
    assert.equal(JSON.parse((await d('inspect', 'renamed')).stdout)[0].Id, id);
    const top = await d('top', 'renamed');
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /PID[\s\S]*sleep 300/);
    const bad = await d('kill', '-s', 'NOPE', 'renamed');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid signal|invalid signal/);
    assert.equal((await d('rm', '-f', 'renamed')).code, 0);
  });

  it('keeps logs: all, --tail, --timestamps, stderr, and -f until exit', async () => {
    const id = (
      await d('run', '-d', 'busybox', 'sh', '-c', 'echo one; echo two >&2; sleep 0.2; echo three')
    ).stdout.trim();
    await d('wait', id);
    const all = await d('logs', id);
    assert.equal(all.stdout, 'one\nthree\n');
    assert.equal(all.stderr, 'two\n');
    const tail = await d('logs', '--tail', '1', id);
    assert.equal(tail.stdout + tail.stderr, 'three\n');
    const ts = await d('logs', '-t', id);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one$/m);
    const follower = (
      await d('run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo tick$i; sleep 0.3; done')
    ).stdout.trim();
    const follow = await d('logs', '-f', follower);
    assert.equal(follow.code, 0);
    assert.equal(follow.stdout, 'tick1\ntick2\ntick3\n');
    await d('rm', id, follower);
  });

  it('waits for removal and reports events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const run = await d('run', '--rm', '--name', 'evented', 'busybox', 'true');
    assert.equal(run.code, 0, run.stderr);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await d(
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'container=evented',
      '--format',
      '{{.Action}}',
    );
    assert.deepEqual(events.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die', 'destroy']);
    // docker-compose 1.29 reads the legacy status/id/from fields.
    const raw = await d(
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'event=die',
      '--filter',
      'container=evented',
      '--format',
      '{{json .}}',
    );
    const die = JSON.parse(raw.stdout.trim().split('\n')[0]);
    assert.equal(die.status, 'die');
    assert.match(die.id, /^[0-9a-f]{64}$/);
    assert.equal(die.from, 'busybox');
    assert.equal(die.Actor.Attributes.exitCode, '0');
    assert.equal(die.Actor.Attributes.name, 'evented');
  });

  it('reports sizes with ps -s and engine facts with docker info', async () => {
    const run = await d('run', '--name', 'sized', 'busybox', 'sh', '-c', 'head -c 300000 /dev/zero > /blob');
    assert.equal(run.code, 0, run.stderr);
    const sized = await d('ps', '-a', '-s', '--filter', 'name=sized', '--format', '{{.Size}}');
    assert.equal(sized.code, 0, sized.stderr);
    assert.match(sized.stdout.trim(), /^30\d(\.\d+)?kB \(virtual \d+(\.\d+)?MB\)$/);
    await d('rm', 'sized');
    const info = await d(
      'info',
      '--format',
      '{{.Driver}} {{.OSType}} {{.DefaultRuntime}} {{.CgroupDriver}} {{.Containers}} {{(index .Runtimes .DefaultRuntime).Path}}',
    );
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout.trim(), /^overlay2 linux (runc|crun) cgroupfs \d+ \/\S+\/(runc|crun)$/);
    const plain = await d('info');
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /Server Version: 27\.5\.1/);
  });

  it('prunes stopped containers only', async () => {
    const stopped = (await d('create', 'busybox', 'true')).stdout.trim();
    const running = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    const prune = await d('container', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, new RegExp(stopped));
    assert.equal((await d('inspect', stopped)).code, 1);
    assert.equal(JSON.parse((await d('inspect', running)).stdout)[0].State.Running, true);
    await d('rm', '-f', running);
    await eventually(async () => (await d('ps', '-aq')).stdout.trim() === '', 5000, 'all containers gone');
  });

  it('prune filters as dockerd reads them: until as a duration, label and label!, for containers and networks', async () => {
    const keep = (await d('create', '--label', 'keep', 'busybox', 'true')).stdout.trim();
    const other = (await d('create', 'busybox', 'true')).stdout.trim();
    // Nothing is a day old: until=24h prunes nothing.
    const young = await d('container', 'prune', '-f', '--filter', 'until=24h');
    assert.equal(young.code, 0, young.stderr);
    assert.equal((await d('inspect', keep)).code, 0);
    assert.equal((await d('inspect', other)).code, 0);
    const notKept = await d('container', 'prune', '-f', '--filter', 'label!=keep');
    assert.equal(notKept.code, 0, notKept.stderr);
    assert.equal((await d('inspect', other)).code, 1);
    assert.equal((await d('inspect', keep)).code, 0);
    const bad = await d('container', 'prune', '-f', '--filter', 'until=soon');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid until filter "soon"/);
    await d('rm', keep);
    for (const n of ['prune-keep', 'prune-old'])
      assert.equal(
        (await d('network', 'create', ...(n === 'prune-keep' ? ['--label', 'keep'] : []), n)).code,
        0,
      );
    assert.equal((await d('network', 'prune', '-f', '--filter', 'until=1h')).stdout.trim(), '');
    const pruned = await d('network', 'prune', '-f', '--filter', 'label!=keep');
    assert.match(pruned.stdout, /prune-old/);
    assert.doesNotMatch(pruned.stdout, /prune-keep/);
    await d('network', 'rm', 'prune-keep');
  });
});
