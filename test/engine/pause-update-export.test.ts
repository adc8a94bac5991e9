// docker pause/unpause, docker update and docker export, with the docker CLI.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

/** A cgroup v1 controller file of a container (this machine's layout: /berth/<id>). */
async function cgroupFile(controller: string, id: string, file: string): Promise<string> {
  return (await fs.readFile(`/sys/fs/cgroup/${controller}/berth/${id}/${file}`, 'utf8')).trim();
}

describe('pause, update and export', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  it('pause freezes the processes, refuses exec, shows in ps and events; unpause resumes', async () => {
    const run = await d(
      'run',
      '-d',
      '--name',
      'ticker',
      'busybox',
      'sh',
      '-c',
      'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done',
    );
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const since = String(Math.floor(Date.now() / 1000) - 1);

    assert.equal((await d('pause', 'ticker')).code, 0);
    assert.equal(await cgroupFile('freezer', id, 'freezer.state'), 'FROZEN');
    assert.match((await d('ps', '--format', '{{.Status}}', '-f', 'name=ticker')).stdout, /\(Paused\)/);
    assert.equal(
      (await d('inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'ticker')).stdout.trim(),
      'paused true',
    );
    const exec = await d('exec', 'ticker', 'true');
    assert.equal(exec.code, 1);
    assert.match(exec.stderr, /is paused, unpause the container before exec/);
    const again = await d('pause', 'ticker');
    assert.match(again.stderr, /is already paused/);

    assert.equal((await d('unpause', 'ticker')).code, 0);
    assert.equal(await cgroupFile('freezer', id, 'freezer.state'), 'THAWED');
    const before = Number((await d('exec', 'ticker', 'cat', '/tmp/n')).stdout);
    await new Promise((r) => setTimeout(r, 400));
    const after = Number((await d('exec', 'ticker', 'cat', '/tmp/n')).stdout);
    assert.ok(after > before, `the loop runs again after unpause (${before} → ${after})`);
    const notPaused = await d('unpause', 'ticker');
    assert.match(notPaused.stderr, /is not paused/);

    const events = await d(
      'events',
      '--since',
      since,
      '--until',
      String(Math.ceil(Date.now() / 1000) + 1),
      '--filter',
      'container=ticker',
      '--format',
      '{{.Action}}',
    );
    assert.deepEqual(
      events.stdout
        .trim()
        .split('\n')
        .filter((a) => /pause/.test(a)),
      ['pause', 'unpause'],
    );
  });

  it('a paused container still stops, and is removed by rm -f', async () => {
    assert.equal((await d('run', '-d', '--name', 'frozen', 'busybox', 'sleep', '300')).code, 0);
    assert.equal((await d('pause', 'frozen')).code, 0);
    const stop = await d('stop', '-t', '1', 'frozen');
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(
      (
        await d('inspect', '-f', '{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}', 'frozen')
      ).stdout.trim(),
      'exited false 137',
    );
    assert.equal((await d('start', 'frozen')).code, 0);
    assert.equal((await d('pause', 'frozen')).code, 0);
    assert.equal((await d('rm', '-f', 'frozen')).code, 0);
    assert.equal((await d('inspect', 'frozen')).code, 1);
  });

  it('update changes the cgroup limits of a running container and its HostConfig', async () => {
    const run = await d('run', '-d', '--name', 'limited', '--memory', '64m', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();

    const up = await d(
      'update',
      '--memory',
      '100m',
      '--memory-swap',
      '200m',
      '--cpus',
      '0.5',
      '--pids-limit',
      '50',
      'limited',
    );
    assert.equal(up.code, 0, up.stderr);
    assert.equal(await cgroupFile('memory', id, 'memory.limit_in_bytes'), String(100 * 1024 * 1024));
    assert.equal(await cgroupFile('cpu', id, 'cpu.cfs_quota_us'), '50000');
    assert.equal(await cgroupFile('pids', id, 'pids.max'), '50');
    assert.equal(
      (
        await d(
          'inspect',
          '-f',
          '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}',
          'limited',
        )
      ).stdout.trim(),
      `${100 * 1024 * 1024} ${200 * 1024 * 1024} 500000000 50`,
    );
    // Visible inside the container too.
    const inside = await d('exec', 'limited', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes');
    assert.equal(inside.stdout.trim(), String(100 * 1024 * 1024));

    // dockerd's rule: memory above the memory+swap in force needs a new swap limit.
    const tooBig = await d('update', '--memory', '300m', 'limited');
    assert.equal(tooBig.code, 1);
    assert.match(tooBig.stderr, /Memory limit should be smaller than already set memoryswap limit/);
    assert.equal(
      await cgroupFile('memory', id, 'memory.limit_in_bytes'),
      String(100 * 1024 * 1024),
      'unchanged',
    );
    const small = await d('update', '--memory', '1m', 'limited');
    assert.match(small.stderr, /Minimum memory limit allowed is 6MB/);

    // A stopped container keeps the new limits for its next start.
    const restartPolicy = await d('update', '--restart', 'on-failure:3', 'limited');
    assert.equal(restartPolicy.code, 0, restartPolicy.stderr);
    assert.equal(
      (
        await d(
          'inspect',
          '-f',
          '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}',
          'limited',
        )
      ).stdout.trim(),
      'on-failure:3',
    );
    assert.equal((await d('rm', '-f', 'limited')).code, 0);

    const rm = await d('create', '--rm', 'busybox', 'true');
    const autoRemove = await d('update', '--restart', 'always', rm.stdout.trim());
    assert.match(autoRemove.stderr, /AutoRemove is enabled/);
  });

  it('export writes the container root filesystem as a tar that import turns back into an image', async () => {
    const run = await d(
      'run',
      '--name',
      'exported',
      'busybox',
      'sh',
      '-c',
      'echo made > /made.txt; rm /bin/rev',
    );
    assert.equal(run.code, 0, run.stderr);
    const dir = await fs.mkdtemp('/tmp/berth-export-');
    try {
      const tarPath = `${dir}/fs.tar`;
      const exp = await d('export', '-o', tarPath, 'exported');
      assert.equal(exp.code, 0, exp.stderr);
      const imp = await d('import', tarPath, 'reimported:1');
      assert.equal(imp.code, 0, imp.stderr);
      const out = await d(
        'run',
        '--rm',
        'reimported:1',
        '/bin/sh',
        '-c',
        'cat /made.txt; ls /bin/rev 2>&1 || echo no-rev',
      );
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /^made\n/);
      assert.match(out.stdout, /no-rev/);
      const head = (await fs.readFile(tarPath)).subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
      assert.ok(
        !head.startsWith('/') && !head.startsWith('./'),
        `entry names are relative, as dockerd writes them: ${head}`,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    const missing = await d('export', 'no-such-container');
    assert.match(missing.stderr, /No such container: no-such-container/);
  });
});
