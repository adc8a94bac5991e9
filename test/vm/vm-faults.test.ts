// What goes wrong before the VM is up, as the user sees it: `berth vm start`
// fails quickly with what to do, `berth vm status` says the same, nothing is
// left running. QEMU is real; the hung boot is a real boot cut off by its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { processAlive } from '../../vm/state.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');

function berth(home: string, args: string[], env: Record<string, string | undefined> = {}) {
  return run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
    env: {
      PATH: process.env.PATH,
      BERTH_HOME: home,
      BERTH_CACHE: VM_TEST_CACHE,
      BERTH_ACCEL: 'tcg',
      BERTH_SHARES: 'none',
      ...env,
    },
    allowFailure: true,
    timeoutMs: 120_000,
  });
}

async function tempHome(t: test.TestContext): Promise<string> {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-faults-'));
  recordForSweep(home);
  t.after(async () => {
    const state = JSON.parse(
      await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8').catch(() => '{}'),
    ) as { pid?: number; qemuPid?: number };
    for (const pid of [state.pid, state.qemuPid]) {
      if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    await fs.rm(home, { recursive: true, force: true });
  });
  return home;
}

test('vm fault: QEMU missing is said, with what to install', async (t) => {
  const home = await tempHome(t);
  const emptyPath = mkdtempSync(path.join(tmpdir(), 'berth-nopath-'));
  t.after(() => fs.rm(emptyPath, { recursive: true, force: true }));
  const start = await berth(home, ['vm', 'start'], { PATH: emptyPath });
  assert.equal(start.exitCode, 1, start.stdout + start.stderr);
  const message =
    /error: QEMU is not installed: qemu-system-x86_64 and qemu-img not found on PATH; install it: apt-get install qemu-system-x86 qemu-utils/;
  assert.match(start.stdout, message);
  const status = await berth(home, ['vm', 'status']);
  assert.equal(status.exitCode, 1);
  assert.match(status.stdout, message);
});

test('vm fault: a damaged disk image is said, and reset makes a new one', async (t) => {
  const home = await tempHome(t);
  const disk = path.join(home, 'vm', 'data.qcow2');
  await fs.mkdir(path.dirname(disk), { recursive: true });
  await fs.writeFile(disk, Buffer.alloc(1024 * 1024, 'not a disk image '));
  const start = await berth(home, ['vm', 'start']);
  assert.equal(start.exitCode, 1, start.stdout + start.stderr);
  assert.match(
    start.stdout,
    /error: the VM disk .*data\.qcow2 is not a qcow2 image \(qemu-img reads it as raw\): it is damaged or not Berth's; `berth vm reset` makes a new one/,
  );
  assert.match((await berth(home, ['vm', 'status'])).stdout, /^error: the VM disk/);

  // reset asks first; with no terminal to ask on it refuses unless forced.
  const refused = await berth(home, ['vm', 'reset']);
  assert.equal(refused.exitCode, 1);
  assert.match(refused.stderr, /pass --force/);
  await fs.stat(disk);
  const reset = await berth(home, ['vm', 'reset', '--force']);
  assert.equal(reset.exitCode, 0, reset.stderr);
  assert.match(reset.stdout, /reset: the VM disk and state are deleted/);
  await assert.rejects(fs.stat(disk));
  assert.equal((await berth(home, ['vm', 'status'])).stdout.trim(), 'stopped');
});

test('vm fault: a guest that hangs at boot ends at its deadline, with the console where it stopped', async (t) => {
  const home = await tempHome(t);
  await fs.writeFile(path.join(home, 'settings.json'), JSON.stringify({ bootTimeoutSeconds: 3 }));
  const t0 = Date.now();
  const start = await berth(home, ['vm', 'start']);
  assert.equal(start.exitCode, 1, start.stdout + start.stderr);
  assert.ok(Date.now() - t0 < 60_000, 'no hang');
  assert.match(
    start.stdout,
    /error: the guest's control server did not answer within 3 s under tcg: the guest hangs at boot; (the console's last line: ".+"|nothing on the console) \(`berth vm logs` has the console\)/,
  );
  const state = JSON.parse(await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8')) as {
    status: string;
    qemuPid?: number;
  };
  assert.equal(state.status, 'error');
  // QEMU is gone: the failed start leaves nothing running.
  assert.equal(state.qemuPid, undefined);
  const ps = await run('pgrep', ['-f', path.join(home, 'vm', 'qmp.sock')], { allowFailure: true });
  assert.equal(ps.stdout.trim(), '', 'no QEMU left for this VM');
});
