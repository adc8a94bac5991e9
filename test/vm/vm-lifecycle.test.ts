// The VM end to end under TCG: `berth vm start` boots the guest image, the
// stock docker CLI talks to the engine inside through $BERTH_HOME/docker.sock,
// and what the engine stored survives `berth vm stop` and `start`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { docker } from '../helpers/docker.js';
import { assertVersionLoadAndRun } from '../helpers/engine-basics.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';
import { freePort } from '../helpers/free-port.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');

function berth(home: string, shared: string, args: string[]) {
  return run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
    env: {
      BERTH_HOME: home,
      BERTH_SHARES: shared,
      BERTH_CACHE: VM_TEST_CACHE,
      BERTH_ACCEL: 'tcg',
      // Ports published on 0.0.0.0 are opened on the host's loopback only: nothing in a test listens outside.
      BERTH_PORTS_LOOPBACK_ONLY: '1',
    },
    allowFailure: true,
    timeoutMs: 240_000,
  });
}

/** Ends whatever a failed test left running: the VM process and QEMU, by their pids. */
async function killLeftovers(home: string): Promise<void> {
  const state = JSON.parse(
    await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8').catch(() => '{}'),
  ) as {
    pid?: number;
    qemuPid?: number;
    virtiofsdPids?: number[];
  };
  for (const pid of [state.pid, state.qemuPid, ...(state.virtiofsdPids ?? [])]) {
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
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

/** Polls until cond(value) holds or the deadline passes; returns the last value. */
async function until<T>(get: () => Promise<T>, cond: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (cond(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('berth vm: start, docker through the host socket, stop, start, data kept', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-vm-'));
  recordForSweep(home);
  // The folder shared into the VM (at the same path), standing in for the user's home.
  const shared = mkdtempSync(path.join(tmpdir(), 'berth-share-'));
  recordForSweep(shared);
  t.after(async () => {
    await berth(home, shared, ['vm', 'stop']);
    await killLeftovers(home);
    await fs.rm(home, { recursive: true, force: true });
    await fs.rm(shared, { recursive: true, force: true });
  });
  const engine = { host: `unix://${path.join(home, 'docker.sock')}` };

  const t0 = Date.now();
  const start = await berth(home, shared, ['vm', 'start']);
  assert.equal(start.exitCode, 0, `${start.stdout}${start.stderr}`);
  assert.match(start.stdout, /running \(tcg, booted in [\d.]+ s\)/);
  t.diagnostic(`first boot (with mkfs) to engine ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const status = await berth(home, shared, ['vm', 'status']);
  assert.equal(status.exitCode, 0);
  assert.match(status.stdout, new RegExp(`DOCKER_HOST=${engine.host}`));

  await assertVersionLoadAndRun(engine, home);

  // stdin through a hijacked attach, closed by the client: the container sees EOF.
  const cat = await docker(engine, ['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], {
    input: 'from the host\n',
  });
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'from the host\ndone\n');

  // Folder sharing: a host folder is at the same path in the VM, both ways.
  await fs.writeFile(path.join(shared, 'f'), 'from the host\n');
  const seen = await docker(engine, ['run', '--rm', '-v', `${shared}:/w`, 'busybox', 'cat', '/w/f']);
  assert.equal(seen.code, 0, seen.stderr);
  assert.equal(seen.stdout, 'from the host\n');
  const wrote = await docker(engine, [
    'run',
    '--rm',
    '-v',
    `${shared}:/w`,
    'busybox',
    'sh',
    '-c',
    'mkdir /w/d && echo from the container > /w/d/g',
  ]);
  assert.equal(wrote.code, 0, wrote.stderr);
  assert.equal(await fs.readFile(path.join(shared, 'd', 'g'), 'utf8'), 'from the container\n');
  assert.match(status.stdout, new RegExp(`^shared \\((virtiofs|9p)\\): ${shared}$`, 'm'));
  t.diagnostic(status.stdout.split('\n').find((l) => l.startsWith('shared')) ?? 'no shares line');

  // Automatic port forwarding: a port published in the VM answers on the host's loopback.
  const port = await freePort();
  const web = await docker(engine, [
    'run',
    '-d',
    '--name',
    'web',
    '-p',
    `127.0.0.1:${port}:80`,
    'busybox',
    'sh',
    '-c',
    'mkdir /www && echo hello from the vm > /www/index.html && exec httpd -f -p 80 -h /www',
  ]);
  assert.equal(web.code, 0, web.stderr);
  const t2 = Date.now();
  const got = await until(
    () => httpGet(port),
    (r) => r.status === 200,
  );
  assert.deepEqual(got, { status: 200, body: 'hello from the vm\n' });
  t.diagnostic(`port forwarded ${((Date.now() - t2) / 1000).toFixed(1)} s after docker run returned`);
  assert.match(
    (await berth(home, shared, ['vm', 'status'])).stdout,
    new RegExp(`ports forwarded: 127\\.0\\.0\\.1:${port}/tcp`),
  );
  const rm = await docker(engine, ['rm', '-f', 'web']);
  assert.equal(rm.code, 0, rm.stderr);
  const gone = await until(
    () => httpGet(port),
    (r) => r.error === 'ECONNREFUSED',
  );
  assert.deepEqual(gone, { error: 'ECONNREFUSED' }, 'the host port closes with the container');

  // A host port already taken: said in the status, and the VM goes on.
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const takenPort = (taken.address() as AddressInfo).port;
  try {
    const busy = await docker(engine, [
      'run',
      '-d',
      '--name',
      'busy',
      '-p',
      `127.0.0.1:${takenPort}:80`,
      'busybox',
      'sleep',
      '600',
    ]);
    assert.equal(busy.code, 0, busy.stderr);
    const st = await until(
      () => berth(home, shared, ['vm', 'status']),
      (r) => /already in use/.test(r.stdout),
    );
    assert.match(
      st.stdout,
      new RegExp(
        `port 127\\.0\\.0\\.1:${takenPort}/tcp: not forwarded to the host: the port is already in use on the host`,
      ),
    );
    assert.match(st.stdout, /^running/);
    assert.equal((await docker(engine, ['rm', '-f', 'busy'])).code, 0);
  } finally {
    taken.close();
  }

  const stop = await berth(home, shared, ['vm', 'stop']);
  assert.equal(stop.exitCode, 0, `${stop.stdout}${stop.stderr}`);
  assert.match(stop.stdout, /^stopped$/m);
  assert.equal((await berth(home, shared, ['vm', 'status'])).stdout.trim(), 'stopped');
  await assert.rejects(fs.stat(path.join(home, 'docker.sock')), 'the host socket is removed');

  const t1 = Date.now();
  const again = await berth(home, shared, ['vm', 'start']);
  assert.equal(again.exitCode, 0, `${again.stdout}${again.stderr}`);
  t.diagnostic(`second boot to engine ready: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  const images = await docker(engine, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.code, 0, images.stderr);
  assert.match(images.stdout, /^busybox:latest$/m);

  // One VM per data dir.
  const second = await berth(home, shared, ['vm', 'run']);
  assert.notEqual(second.exitCode, 0);
  assert.match(second.stderr, /a VM already runs/);

  const logs = await berth(home, shared, ['vm', 'logs']);
  assert.match(logs.stdout, /Berth engine ready/);
});
