// Port forwarding through a real VM under TCG, with the stock docker CLI: bytes
// pushed to a published port and pulled from one arrive whole (checked by
// their MD5 at the far end), half-closes pass through, UDP datagrams of a
// published port and of a UDP server in the VM's own namespace (what a
// `--network host` container opens) reach it and its replies come back to each
// sender, and forwarding goes on after the guest's control server is killed
// and its supervisor starts it again. A TCP port published on one address is
// forwarded by QEMU itself (its rule is listed); one published on two is
// tunnelled over the channel on both. One boot for the whole file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, promises as fs } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { QmpClient } from '../../vm/qemu/qmp.js';
import { processAlive } from '../../vm/state.js';
import { docker } from '../helpers/docker.js';
import { assertVersionLoadAndRun } from '../helpers/engine-basics.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');
const MIB = 16;

async function until<T>(get: () => Promise<T>, cond: (v: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (cond(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * A TCP and UDP port free on the host's loopback now; below the ephemeral
 * range when asked (the guest takes a UDP socket there for a client's, not a server's).
 */
async function freePort(belowEphemeral = false): Promise<number> {
  for (;;) {
    const s = net.createServer();
    const want = belowEphemeral ? 20_000 + Math.floor(Math.random() * 10_000) : 0;
    const listening = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(want, '127.0.0.1', () => resolve(true));
    });
    if (!listening) continue;
    const { port } = s.address() as AddressInfo;
    await new Promise<void>((r) => s.close(() => r()));
    const u = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => resolve(true));
    });
    u.close();
    if (free) return port;
  }
}

/** Sends data to host:port, half-closes, and returns what comes back and how long it took. */
function push(port: number, data: Buffer, host = '127.0.0.1'): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const c = net.connect(port, host);
    let reply = '';
    c.on('data', (d: Buffer) => (reply += d.toString()));
    c.on('end', () => resolve({ reply, ms: Date.now() - started }));
    c.on('error', reject);
    c.end(data);
  });
}

/** Reads 127.0.0.1:port to its end. */
function pull(port: number): Promise<{ data: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const c = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => resolve({ data: Buffer.concat(chunks), ms: Date.now() - started }));
    c.on('error', reject);
  });
}

/** Sends each text from one socket of its own, returns the replies it got (within a few seconds). */
async function udpExchange(port: number, texts: string[]): Promise<string[]> {
  const s = dgram.createSocket('udp4');
  const replies: string[] = [];
  s.on('message', (m) => replies.push(m.toString()));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  for (const t of texts) {
    s.send(t, port, '127.0.0.1');
    for (let i = 0; i < 40 && !replies.includes(`echo:${t}`); i++)
      await new Promise((r) => setTimeout(r, 100));
  }
  s.close();
  return replies;
}

/** QEMU's host forwarding rules ("info usernet"), through the VM's QMP socket. */
async function qemuForwards(home: string): Promise<string> {
  const qmp = await QmpClient.connect(path.join(home, 'vm', 'qmp.sock'));
  try {
    const listed = String(await qmp.execute('human-monitor-command', { 'command-line': 'info usernet' }));
    return listed
      .split('\n')
      .filter((l) => l.includes('HOST_FORWARD'))
      .join('\n');
  } finally {
    qmp.close();
  }
}

const mbs = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(2);

/** A UDP echo server ("echo:" + each datagram, to its sender), on port 53 or the one given. */
function udpEchoScript(port: number): string {
  return (
    "const s=require('dgram').createSocket('udp4');" +
    "s.on('message',(m,r)=>s.send('echo:'+m,r.port,r.address));" +
    `s.bind(${port},()=>console.log('ready'));` +
    // It ends with the ssh channel that started it: its stdin closes.
    "process.stdin.resume();process.stdin.on('end',()=>process.exit(0));"
  );
}

test('port forwarding through the VM: TCP both ways intact, UDP published and host-network, after a control-server restart', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-vm-ports-'));
  recordForSweep(home);
  const env = {
    BERTH_HOME: home,
    BERTH_SHARES: 'none',
    BERTH_CACHE: VM_TEST_CACHE,
    BERTH_ACCEL: 'tcg',
    BERTH_PORTS_LOOPBACK_ONLY: '1',
  };
  const berthBin = path.join(repoRoot, 'bin', 'berth');
  const berth = (args: string[]) =>
    run(process.execPath, [berthBin, ...args], { env, allowFailure: true, timeoutMs: 240_000 });
  const background: Array<ReturnType<typeof spawn>> = [];
  /** `berth vm ssh -- ARGS` left running (a server in the VM); waits for its "ready" line. */
  const inVm = async (args: string[]) => {
    const child = spawn(process.execPath, [berthBin, 'vm', 'ssh', '--', ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    background.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      async () => out,
      (o) => o.includes('ready') || child.exitCode !== null,
      60_000,
    );
    assert.match(out, /ready/, `in the VM: ${args.join(' ')}: ${out}`);
    return child;
  };
  t.after(async () => {
    for (const c of background) {
      c.stdin?.end();
      if (c.pid && c.exitCode === null) c.kill('SIGKILL');
    }
    await berth(['vm', 'stop']);
    const state = JSON.parse(
      await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8').catch(() => '{}'),
    ) as { pid?: number; qemuPid?: number };
    for (const pid of [state.pid, state.qemuPid]) if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await fs.rm(home, { recursive: true, force: true });
  });
  const engine = { host: `unix://${path.join(home, 'docker.sock')}` };
  const forwarded = (what: string) =>
    until(
      () => berth(['vm', 'status']),
      (r) => r.stdout.includes(what),
    ).then((r) => assert.match(r.stdout, new RegExp(`ports forwarded: .*${what.replace(/\./g, '\\.')}`)));

  const start = await berth(['vm', 'start']);
  assert.equal(start.exitCode, 0, `${start.stdout}${start.stderr}`);
  await assertVersionLoadAndRun(engine, home);

  // Host → container: the container answers with the MD5 of everything it read to EOF.
  const inPort = await freePort();
  const sink = await docker(engine, [
    'run',
    '-d',
    '-p',
    `127.0.0.1:${inPort}:5000`,
    'busybox',
    'nc',
    '-ll',
    '-p',
    '5000',
    '-e',
    'md5sum',
  ]);
  assert.equal(sink.code, 0, sink.stderr);
  await forwarded(`127.0.0.1:${inPort}/tcp`);
  const upload = randomBytes(MIB * 1024 * 1024);
  const pushed = await push(inPort, upload);
  assert.equal(pushed.reply, `${createHash('md5').update(upload).digest('hex')}  -\n`);
  t.diagnostic(`host → container: ${MIB} MiB in ${pushed.ms} ms, ${mbs(upload.length, pushed.ms)} MB/s`);
  assert.match(
    await qemuForwards(home),
    new RegExp(`127\\.0\\.0\\.1\\s+${inPort}\\s+10\\.0\\.2\\.15\\s+${inPort}`),
  );

  // One port on two addresses: QEMU's uplink cannot tell them apart, so both go through the channel.
  const twoPort = await freePort();
  const two = await docker(engine, [
    'run',
    '-d',
    '-p',
    `127.0.0.1:${twoPort}:5000`,
    '-p',
    `127.0.0.2:${twoPort}:5000`,
    'busybox',
    'nc',
    '-ll',
    '-p',
    '5000',
    '-e',
    'md5sum',
  ]);
  assert.equal(two.code, 0, two.stderr);
  await forwarded(`127.0.0.1:${twoPort}/tcp`);
  await forwarded(`127.0.0.2:${twoPort}/tcp`);
  const small = randomBytes(256 * 1024);
  const smallMd5 = `${createHash('md5').update(small).digest('hex')}  -\n`;
  for (const host of ['127.0.0.1', '127.0.0.2'])
    assert.equal((await push(twoPort, small, host)).reply, smallMd5);
  assert.doesNotMatch(await qemuForwards(home), new RegExp(`\\s${twoPort}\\s`));

  // Container → host: a file of random bytes served whole, compared with its MD5 in the container.
  const outPort = await freePort();
  const source = await docker(engine, [
    'run',
    '-d',
    '-p',
    `127.0.0.1:${outPort}:5001`,
    'busybox',
    'sh',
    '-c',
    `head -c ${MIB * 1024 * 1024} /dev/urandom > /f && md5sum < /f > /f.md5 && exec nc -ll -p 5001 -e cat /f`,
  ]);
  assert.equal(source.code, 0, source.stderr);
  const sourceId = source.stdout.trim();
  await forwarded(`127.0.0.1:${outPort}/tcp`);
  const expected = await until(
    () => docker(engine, ['exec', sourceId, 'cat', '/f.md5']),
    (r) => r.code === 0 && r.stdout.length > 0,
  );
  const pulled = await until(
    () => pull(outPort).catch(() => ({ data: Buffer.alloc(0), ms: 0 })),
    (r) => r.data.length > 0,
  );
  assert.equal(pulled.data.length, MIB * 1024 * 1024);
  assert.equal(`${createHash('md5').update(pulled.data).digest('hex')}  -\n`, expected.stdout);
  t.diagnostic(`container → host: ${MIB} MiB in ${pulled.ms} ms, ${mbs(pulled.data.length, pulled.ms)} MB/s`);

  // UDP, published with -p …/udp. Debian's busybox has no UDP server: the echo
  // server runs in the container's network namespace from the VM.
  const udpPort = await freePort();
  const udpBox = await docker(engine, [
    'run',
    '-d',
    '-p',
    `127.0.0.1:${udpPort}:53/udp`,
    'busybox',
    'sleep',
    '600',
  ]);
  assert.equal(udpBox.code, 0, udpBox.stderr);
  const pid = (await docker(engine, ['inspect', '-f', '{{.State.Pid}}', udpBox.stdout.trim()])).stdout.trim();
  await inVm(['nsenter', `--net=/proc/${pid}/ns/net`, 'node', '-e', udpEchoScript(53)]);
  await forwarded(`127.0.0.1:${udpPort}/udp`);
  // Two senders, each gets its own replies.
  assert.deepEqual(await udpExchange(udpPort, ['one', 'two']), ['echo:one', 'echo:two']);
  assert.deepEqual(await udpExchange(udpPort, ['three']), ['echo:three']);

  // UDP in the VM's own namespace, where a --network host container's sockets are.
  const hostUdpPort = await freePort(true);
  const hostUdp = await inVm([
    'node',
    '-e',
    udpEchoScript(hostUdpPort).replace(`s.bind(${hostUdpPort},`, `s.bind(${hostUdpPort},'127.0.0.1',`),
  ]);
  await forwarded(`127.0.0.1:${hostUdpPort}/udp`);
  assert.deepEqual(await udpExchange(hostUdpPort, ['host']), ['echo:host']);
  hostUdp.stdin!.end(); // the server exits: the host port is let go
  const released = await until(
    () => berth(['vm', 'status']),
    (r) => !r.stdout.includes(`127.0.0.1:${hostUdpPort}/udp`),
  );
  assert.doesNotMatch(released.stdout, new RegExp(`127\\.0\\.0\\.1:${hostUdpPort}/udp`));

  // The guest's control server killed (it carries every tunnel): its supervisor
  // starts it again, the host reconnects, and the forwarded ports work again.
  await berth([
    'vm',
    'ssh',
    '--',
    'sh',
    '-c',
    'for p in /proc/[0-9]*; do grep -q berth-guest-control $p/cmdline 2>/dev/null && kill -9 ${p#/proc/}; done',
  ]);
  const again = await until(
    () => push(twoPort, small).catch(() => ({ reply: '', ms: 0 })),
    (r) => r.reply.length > 0,
    90_000,
  );
  assert.equal(again.reply, smallMd5, 'a tunnelled port works again');
  assert.equal((await push(inPort, small)).reply, smallMd5, "QEMU's forward never depended on it");
  // The echo server went with the old control server's channel: started again.
  await inVm(['nsenter', `--net=/proc/${pid}/ns/net`, 'node', '-e', udpEchoScript(53)]);
  assert.deepEqual(await udpExchange(udpPort, ['after']), ['echo:after']);
});
