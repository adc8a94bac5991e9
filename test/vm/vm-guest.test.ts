// Inside the VM, under TCG: container terminals (`run -t`, `exec -it`), `logs -f`,
// `berth vm ssh` (a command's output and exit code, a terminal with -t), the guest clock set over the channel, the engine and
// the control server killed inside and back by themselves (the status saying
// so meanwhile), a `--network host` port forwarded, `berth vm restart` keeping
// what the engine stored, and `berth vm reset` starting over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { processAlive } from '../../vm/state.js';
import { docker } from '../helpers/docker.js';
import { dockerPty } from '../helpers/pty.js';
import { assertVersionLoadAndRun } from '../helpers/engine-basics.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';
import { freePort } from '../helpers/free-port.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');

/** Polls until cond(value) holds or the deadline passes; returns the last value. */
async function until<T>(get: () => Promise<T>, cond: (v: T) => boolean, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (cond(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** GET http://127.0.0.1:PORT/: the status and body, or the error's code. */
function httpGet(port: number): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

test('berth vm: ssh, clock sync, the agent supervised, restart, reset', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-vm-guest-'));
  recordForSweep(home);
  const shared = mkdtempSync(path.join(tmpdir(), 'berth-share-'));
  recordForSweep(shared);
  const missing = path.join(shared, 'not-there');
  const berth = (args: string[], input?: string) =>
    run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
      env: {
        BERTH_HOME: home,
        BERTH_SHARES: `${shared}:${missing}`,
        BERTH_CACHE: VM_TEST_CACHE,
        BERTH_ACCEL: 'tcg',
        BERTH_PORTS_LOOPBACK_ONLY: '1',
      },
      input,
      allowFailure: true,
      timeoutMs: 240_000,
    });
  t.after(async () => {
    await berth(['vm', 'stop']);
    const state = JSON.parse(
      await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8').catch(() => '{}'),
    ) as { pid?: number; qemuPid?: number };
    for (const pid of [state.pid, state.qemuPid]) if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await fs.rm(home, { recursive: true, force: true });
    await fs.rm(shared, { recursive: true, force: true });
  });
  const engine = { host: `unix://${path.join(home, 'docker.sock')}` };

  const start = await berth(['vm', 'start']);
  assert.equal(start.exitCode, 0, `${start.stdout}${start.stderr}`);
  // A share that does not exist is left out, and the status says so.
  assert.match(start.stdout, new RegExp(`^share ${missing}: does not exist: not shared$`, 'm'));
  await assertVersionLoadAndRun(engine, home);

  // In the VM the engine runs crun on cgroup v2 (natively on these hybrid-cgroup hosts it runs
  // crun on v1): the limits are what the container sees in its own cgroup.
  const runtime = await docker(engine, ['info', '-f', '{{.DefaultRuntime}} {{.CgroupVersion}}']);
  assert.equal(runtime.stdout.trim(), 'crun 2', runtime.stderr);
  const limited = await docker(engine, [
    'run',
    '--rm',
    '--memory',
    '64m',
    '--cpus',
    '0.5',
    '--pids-limit',
    '50',
    'busybox',
    'cat',
    '/sys/fs/cgroup/memory.max',
    '/sys/fs/cgroup/cpu.max',
    '/sys/fs/cgroup/pids.max',
  ]);
  assert.equal(limited.code, 0, limited.stderr);
  assert.equal(limited.stdout, '67108864\n50000 100000\n50\n');

  // --init: the image carries a static tini as docker-init, run as the container's PID 1.
  const init = await docker(engine, ['run', '--rm', '--init', 'busybox', 'ps', '-o', 'pid,args']);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /^\s*1 \/sbin\/docker-init -- ps -o pid,args$/m);

  // Terminals in the VM (crun hands each to the engine over its console socket): run -t, exec -it.
  const ttyRun = await docker(engine, [
    'run',
    '--rm',
    '-t',
    'busybox',
    'sh',
    '-c',
    'tty; echo in-a-terminal',
  ]);
  assert.equal(ttyRun.code, 0, ttyRun.stderr);
  assert.equal(ttyRun.stdout, '/dev/pts/0\r\nin-a-terminal\r\n');
  const sleeper = await docker(engine, ['run', '-d', 'busybox', 'sleep', '300']);
  assert.equal(sleeper.code, 0, sleeper.stderr);
  const shell = dockerPty(engine, ['exec', '-it', sleeper.stdout.trim(), 'sh'], { cols: 100, rows: 30 });
  try {
    await shell.waitFor('#');
    shell.write('stty size; exit 3\r');
    await shell.waitFor(/30 100/);
    assert.equal(await shell.exited, 3);
  } finally {
    shell.kill();
  }
  assert.equal((await docker(engine, ['rm', '-f', sleeper.stdout.trim()])).code, 0);

  // logs -f through the VM: lines written after it started arrive, and it ends when the container does.
  const talker = await docker(engine, [
    'run',
    '-d',
    'busybox',
    'sh',
    '-c',
    'echo one; sleep 1; echo two; sleep 1; echo three',
  ]);
  assert.equal(talker.code, 0, talker.stderr);
  const followed = await docker(engine, ['logs', '-f', talker.stdout.trim()]);
  assert.equal(followed.code, 0, followed.stderr);
  assert.equal(followed.stdout, 'one\ntwo\nthree\n');
  assert.equal((await docker(engine, ['rm', '-f', talker.stdout.trim()])).code, 0);

  // One command: its output, its stderr apart, its exit code; stdin reaches it.
  const uname = await berth(['vm', 'ssh', '--', 'uname', '-s']);
  assert.deepEqual([uname.exitCode, uname.stdout, uname.stderr], [0, 'Linux\n', '']);
  const failing = await berth(['vm', 'ssh', '--', 'sh', '-c', 'echo to stderr >&2; exit 7']);
  assert.deepEqual([failing.exitCode, failing.stdout, failing.stderr], [7, '', 'to stderr\n']);
  const cat = await berth(['vm', 'ssh', '--', 'cat'], 'through the channel\n');
  assert.deepEqual([cat.exitCode, cat.stdout], [0, 'through the channel\n']);
  // The shared folder is where the host has it.
  await fs.writeFile(path.join(shared, 'f'), 'shared\n');
  assert.equal((await berth(['vm', 'ssh', '--', 'cat', path.join(shared, 'f')])).stdout, 'shared\n');
  // -t: a terminal (what an interactive `berth vm ssh` gets).
  const tty = await berth(['vm', 'ssh', '-t', '--', 'tty']);
  assert.equal(tty.exitCode, 0, tty.stderr);
  assert.match(tty.stdout, /^\/dev\/pts\/\d+\r?\n$/);

  // The clock: set far off inside, then synced from the host over the channel
  // (what the VM does when it sees that the host slept).
  assert.equal((await berth(['vm', 'ssh', '--', 'date', '-u', '-s', '@1000000000'])).exitCode, 0);
  const skewed = Number((await berth(['vm', 'ssh', '--', 'date', '+%s'])).stdout);
  assert.ok(Math.abs(skewed - 1e9) < 120, `guest clock set back: ${skewed}`);
  const sync = await berth(['vm', 'ssh', '--', 'berth:time-sync', String(Date.now())]);
  assert.equal(sync.exitCode, 0, sync.stderr);
  const synced = Number((await berth(['vm', 'ssh', '--', 'date', '+%s'])).stdout);
  assert.ok(Math.abs(synced - Date.now() / 1000) < 30, `guest clock synced: ${synced}`);
  const bad = await berth(['vm', 'ssh', '--', 'berth:time-sync', 'soon']);
  assert.equal(bad.exitCode, 1);
  assert.match(bad.stderr, /time-sync: not a time in milliseconds/);

  // The engine stopped inside: the status says it does not answer. Then killed: its supervisor starts it
  // again and it is back. (Stopped first: a killed engine is back within the two health checks, 2 s apart,
  // that the status waits for before it says so, whenever the machine is quick.)
  const stop = await berth(['vm', 'ssh', '--', 'sh', '-c', 'kill -STOP $(cat /run/berth/berth-engine.pid)']);
  assert.equal(stop.exitCode, 0, stop.stderr);
  const down = await until(
    () => berth(['vm', 'status']),
    (r) => /^engine: the engine in the VM has not answered since/m.test(r.stdout),
    30_000,
  );
  assert.match(down.stdout, /^running/);
  assert.match(down.stdout, /^engine: the engine in the VM has not answered since .* \(the VM restarts it/m);
  const kill = await berth(['vm', 'ssh', '--', 'sh', '-c', 'kill -9 $(cat /run/berth/berth-engine.pid)']);
  assert.equal(kill.exitCode, 0, kill.stderr);
  const back = await until(
    () => berth(['vm', 'status']),
    (r) => !/^engine:/m.test(r.stdout),
  );
  assert.doesNotMatch(back.stdout, /^engine:/m);
  const images = await docker(engine, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.code, 0, images.stderr);
  assert.match(images.stdout, /^busybox:latest$/m);

  // The control server killed inside (it serves this very command): the host reconnects.
  await berth([
    'vm',
    'ssh',
    '--',
    'sh',
    '-c',
    'for p in /proc/[0-9]*; do grep -q berth-guest-control $p/cmdline 2>/dev/null && kill -9 ${p#/proc/}; done',
  ]);
  const again = await until(
    () => berth(['vm', 'ssh', '--', 'echo', 'back']),
    (r) => r.exitCode === 0,
  );
  assert.deepEqual([again.exitCode, again.stdout], [0, 'back\n']);
  const ran = await docker(engine, ['run', '--rm', 'busybox', 'echo', 'still here']);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout, 'still here\n');

  // --network host: no publication, yet the port opened in the VM is found and forwarded.
  const port = await freePort();
  const hostWeb = await docker(engine, [
    'run',
    '-d',
    '--name',
    'hostweb',
    '--network',
    'host',
    'busybox',
    'sh',
    '-c',
    `mkdir /www && echo host network > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`,
  ]);
  assert.equal(hostWeb.code, 0, hostWeb.stderr);
  const served = await until(
    () => httpGet(port),
    (r) => r.status === 200,
    60_000,
  );
  assert.deepEqual(served, { status: 200, body: 'host network\n' });
  assert.match(
    (await berth(['vm', 'status'])).stdout,
    new RegExp(`ports forwarded: .*127\\.0\\.0\\.1:${port}/tcp`),
  );
  assert.equal((await docker(engine, ['rm', '-f', 'hostweb'])).code, 0);
  const closed = await until(
    () => httpGet(port),
    (r) => r.error === 'ECONNREFUSED',
    60_000,
  );
  assert.deepEqual(closed, { error: 'ECONNREFUSED' }, 'the host port closes when nothing listens in the VM');

  // restart: stopped and booted again, what the engine stored is still there.
  const volume = await docker(engine, ['volume', 'create', 'kept']);
  assert.equal(volume.code, 0, volume.stderr);
  // The desktop's engine settings (as the Settings view saves them) apply from the next start.
  await fs.writeFile(
    path.join(home, 'settings.json'),
    JSON.stringify({
      logDriver: 'local',
      logOpts: { 'max-size': '5m' },
      daemonJson: '{"insecure-registries": ["registry.example.test:5000"]}\n',
    }),
  );
  const restart = await berth(['vm', 'restart']);
  assert.equal(restart.exitCode, 0, `${restart.stdout}${restart.stderr}`);
  assert.match(restart.stdout, /^stopped$/m);
  assert.match(restart.stdout, /^running \(tcg, booted in [\d.]+ s\)/m);
  const volumes = await docker(engine, ['volume', 'ls', '--format', '{{.Name}}']);
  assert.equal(volumes.code, 0, volumes.stderr);
  assert.match(volumes.stdout, /^kept$/m);
  const info = await docker(engine, [
    'info',
    '-f',
    '{{.LoggingDriver}} {{range $k, $v := .RegistryConfig.IndexConfigs}}{{$k}} {{end}}',
  ]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /^local .*registry\.example\.test:5000/);
  const logged = await docker(engine, ['run', '--name', 'logcfg', 'busybox', 'echo', 'in local']);
  assert.equal(logged.code, 0, logged.stderr);
  const logCfg = await docker(engine, ['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'logcfg']);
  assert.deepEqual(JSON.parse(logCfg.stdout), { Type: 'local', Config: { 'max-size': '5m' } });
  assert.equal((await docker(engine, ['logs', 'logcfg'])).stdout, 'in local\n');
  assert.equal((await docker(engine, ['rm', 'logcfg'])).code, 0);

  // reset: the VM stopped, its disk gone; the image cache is left alone.
  const reset = await berth(['vm', 'reset', '--force']);
  assert.equal(reset.exitCode, 0, reset.stderr);
  assert.equal((await berth(['vm', 'status'])).stdout.trim(), 'stopped');
  await assert.rejects(fs.stat(path.join(home, 'vm', 'data.qcow2')));
  await fs.stat(path.join(VM_TEST_CACHE, 'images', 'x86_64', 'manifest.json'));
  const ssh = await berth(['vm', 'ssh', '--', 'true']);
  assert.equal(ssh.exitCode, 255);
  assert.match(ssh.stderr, /the VM is not running \(stopped\)/);
});
