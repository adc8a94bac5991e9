// The VM when things go wrong under it, with one boot for the whole file
// (TCG): the host sleeping (the VM paused and the supervisor frozen, so the
// guest's clock stands still while the host's moves on), the guest kernel
// panicking, QEMU killed. Each time the host side notices, `berth vm status`
// says what happened, and the VM comes back with its data disk: an image and
// a named volume's contents are still there. (The engine and the control
// server killed inside the guest are in test/vm/vm-guest.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../guest-agent/util/subprocess.js';
import { processAlive } from '../../vm/state.js';
import { QmpClient } from '../../vm/qemu/qmp.js';
import { docker } from '../helpers/docker.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';
import { recordFigures } from './figures.js';
import { assertOkInVm } from '../helpers/vm-console.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');

async function until<T>(get: () => Promise<T>, cond: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (cond(v) || Date.now() > deadline) return v;
    await sleep(500);
  }
}

test('vm faults: host sleep, guest kernel panic, QEMU killed; noticed, reported, data kept', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-vm-faults-'));
  recordForSweep(home);
  const berth = (args: string[]) =>
    run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
      env: { BERTH_HOME: home, BERTH_SHARES: 'none', BERTH_CACHE: VM_TEST_CACHE, BERTH_ACCEL: 'tcg' },
      allowFailure: true,
      timeoutMs: 240_000,
    });
  const state = async () =>
    JSON.parse(await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8').catch(() => '{}')) as {
      status?: string;
      pid?: number;
      qemuPid?: number;
    };
  t.after(async () => {
    await berth(['vm', 'stop']);
    const s = await state();
    for (const pid of [s.pid, s.qemuPid]) if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await fs.rm(home, { recursive: true, force: true });
  });
  const engine = { host: `unix://${path.join(home, 'docker.sock')}` };
  const recoveries: Record<string, number> = {};

  /** Boots again after a failure and checks the data disk kept the image and the volume's file. */
  async function startAndCheckData(fault: string): Promise<void> {
    const t0 = Date.now();
    const start = await berth(['vm', 'start']);
    assert.equal(start.exitCode, 0, `after ${fault}: ${start.stdout}${start.stderr}`);
    recoveries[`${fault}RecoverSeconds`] = Math.round((Date.now() - t0) / 100) / 10;
    const images = await docker(engine, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(images.stdout, /^busybox:latest$/m, `after ${fault}: the image is gone`);
    const read = await docker(engine, ['run', '--rm', '-v', 'kept:/data', 'busybox', 'cat', '/data/file']);
    // The guest's console, where its engine logs, says why should the first run after a recovery fail.
    await assertOkInVm({ code: read.code, stderr: `after ${fault}: ${read.stderr}` }, home);
    assert.equal(read.stdout, 'stored before the faults\n', `after ${fault}: the volume lost its file`);
  }

  const start = await berth(['vm', 'start']);
  assert.equal(start.exitCode, 0, `${start.stdout}${start.stderr}`);
  const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
  await assertOkInVm(load, home);
  const write = await docker(engine, [
    'run',
    '--rm',
    '-v',
    'kept:/data',
    'busybox',
    'sh',
    '-c',
    'echo stored before the faults > /data/file && sync',
  ]);
  await assertOkInVm(write, home);

  // The host sleeps: the VM's clock stops (QMP stop) and the supervisor's timers
  // stop (SIGSTOP) for 25 s. When both go on, the supervisor sees the late tick
  // and sets the guest's clock, which would otherwise stay 25 s behind.
  const sleepingFor = 25_000;
  const { pid: supervisor, qemuPid } = await state();
  assert.ok(supervisor && qemuPid);
  const qmp = await QmpClient.connect(path.join(home, 'vm', 'qmp.sock'));
  try {
    await qmp.execute('stop');
    process.kill(supervisor, 'SIGSTOP');
    await sleep(sleepingFor);
    process.kill(supervisor, 'SIGCONT');
    await qmp.execute('cont');
  } finally {
    qmp.close();
  }
  const vmLog = path.join(home, 'vm', 'vm.log');
  const synced = await until(
    () => fs.readFile(vmLog, 'utf8'),
    (l) => /clock synced \(the host was away \d+ s\)/.test(l),
    30_000,
  );
  assert.match(synced, /clock synced \(the host was away (2\d|3\d) s\)/);
  const before = Date.now() / 1000;
  const guest = Number((await berth(['vm', 'ssh', '--', 'date', '+%s'])).stdout);
  const after = Date.now() / 1000;
  assert.ok(guest > before - 5 && guest < after + 5, `guest clock ${guest} vs host ${before}..${after}`);
  assert.match((await berth(['vm', 'status'])).stdout, /^running/);

  // The guest kernel panics: QEMU ends (panic=-1, -no-reboot), the status says why.
  await berth(['vm', 'ssh', '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger']);
  const panicked = await until(
    () => berth(['vm', 'status']),
    (r) => /^error:/m.test(r.stdout),
    60_000,
  );
  assert.equal(panicked.exitCode, 1);
  assert.match(
    panicked.stdout,
    /^error: the guest kernel panicked: .*sysrq.*; `berth vm start` starts it again/m,
  );
  await until(async () => !processAlive(supervisor), Boolean, 10_000);
  assert.ok(!processAlive(supervisor), 'the supervisor ended with its VM');
  await startAndCheckData('panic');

  // QEMU killed from outside.
  const { qemuPid: qemu2, pid: supervisor2 } = await state();
  assert.ok(qemu2 && supervisor2);
  process.kill(qemu2, 'SIGKILL');
  const killed = await until(
    () => berth(['vm', 'status']),
    (r) => /^error:/m.test(r.stdout),
    30_000,
  );
  assert.match(killed.stdout, /^error: QEMU was killed \(SIGKILL\); `berth vm start` starts it again/m);
  await until(async () => !processAlive(supervisor2), Boolean, 10_000);
  assert.ok(!processAlive(supervisor2), 'the supervisor ended with its VM');
  await startAndCheckData('qemuKill');

  await recordFigures('vm-faults', { faultsSurvived: 3, ...recoveries });
});
