// QEMU's host forwarding rules (vm/qemu/hostfwd.ts) against a real QEMU with a
// user-mode network and no guest: a rule opens the host port, a port taken on
// the host is refused in QEMU's words, rules are removed, and commands from
// several callers keep their order on QEMU's one QMP connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { USER_NETDEV_ID } from '../../vm/qemu/argv.js';
import { HostForwards, hostfwdFailure } from '../../vm/qemu/hostfwd.js';
import { QmpClient } from '../../vm/qemu/qmp.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { freePort } from '../helpers/free-port.js';

/** Whether something accepts TCP connections at 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function rules(qmpSocket: string): Promise<string> {
  const qmp = await QmpClient.connect(qmpSocket);
  try {
    return String(await qmp.execute('human-monitor-command', { 'command-line': 'info usernet' }));
  } finally {
    qmp.close();
  }
}

test("QEMU's host forwarding: add, refuse a taken port, remove, in order", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-hostfwd-'));
  recordForSweep(dir);
  const qmpSocket = path.join(dir, 'qmp.sock');
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      ...['-machine', 'none', '-nodefaults', '-nographic', '-display', 'none'],
      ...['-netdev', `user,id=${USER_NETDEV_ID}`],
      ...['-qmp', `unix:${qmpSocket},server=on,wait=off`],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  qemu.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.after(async () => {
    if (qemu.exitCode === null) qemu.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 100 && !existsSync(qmpSocket); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(qmpSocket), `QEMU did not start: ${stderr}`);

  const forwards = new HostForwards(qmpSocket);
  const port = await freePort();
  const other = await freePort();
  // Started together: the queue, not the callers, orders them on the one connection.
  await Promise.all([forwards.add('tcp', '127.0.0.1', port), forwards.add('tcp', '127.0.0.1', other)]);
  assert.ok(await listening(port), 'QEMU listens on the host port');
  const listed = await rules(qmpSocket);
  assert.match(listed, new RegExp(`HOST_FORWARD.*127\\.0\\.0\\.1\\s+${port}\\s+10\\.0\\.2\\.15\\s+${port}`));
  assert.match(listed, new RegExp(`127\\.0\\.0\\.1\\s+${other}\\s`));

  await assert.rejects(
    forwards.add('tcp', '127.0.0.1', port),
    new RegExp(`Could not set up host forwarding rule 'tcp:127\\.0\\.0\\.1:${port}-:${port}'`),
  );
  await assert.rejects(forwards.add('tcp', '::1', port), /Invalid host forwarding rule/);

  await forwards.remove('tcp', '127.0.0.1', port);
  assert.equal(await listening(port), false, 'the host port is let go');
  await assert.rejects(forwards.remove('tcp', '127.0.0.1', port), /not found/);
  // (The probe's own connection may still be listed, trying to reach the absent guest.)
  assert.doesNotMatch(await rules(qmpSocket), new RegExp(`HOST_FORWARD.*\\s${port}\\s`));
  await forwards.remove('tcp', '127.0.0.1', other);
});

test("hostfwd: QEMU's replies read as success or failure", () => {
  assert.equal(hostfwdFailure('hostfwd_add net0 tcp:127.0.0.1:1-:1', ''), undefined);
  assert.match(
    hostfwdFailure('hostfwd_add net0 tcp:127.0.0.1:1-:1', "unrecognized netdev id 'net0'\r\n")!.message,
    /unrecognized netdev/,
  );
  assert.equal(
    hostfwdFailure(
      'hostfwd_remove net0 tcp:127.0.0.1:1',
      'host forwarding rule for tcp:127.0.0.1:1 removed\r\n',
    ),
    undefined,
  );
  assert.ok(
    hostfwdFailure(
      'hostfwd_remove net0 tcp:127.0.0.1:1',
      'host forwarding rule for tcp:127.0.0.1:1 not found',
    ),
  );
});
