// The host↔guest channel's port tunnels without a VM: the guest's real control
// server and the host's real client over a unix socket, with a TCP and a UDP
// echo server on 127.0.0.1 standing in for ports the engine publishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../common/ed25519-keys.js';
import { CONTROL_COMMANDS } from '../../common/control.js';
import { ControlServer } from '../../guest-agent/control/server.js';
import { ControlClient } from '../../vm/channel/control-client.js';
import { UdpRelay } from '../../vm/ports/udp-relay.js';

async function channelPair(t: test.TestContext): Promise<ControlClient> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-channel-'));
  const keys = generateEd25519();
  const server = new ControlServer({ authorizedKey: keys.public, onShutdown: () => {}, log: () => {} });
  const sockPath = path.join(dir, 'control.sock');
  const listener = net.createServer((s) => server.serve(s));
  await new Promise<void>((r) => listener.listen(sockPath, r));
  const client = await ControlClient.connectOnce(sockPath, keys.private, 10_000);
  t.after(() => {
    client.close();
    listener.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return client;
}

test('channel: direct-tcpip reaches a guest port; other addresses are refused', async (t) => {
  const client = await channelPair(t);
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.after(() => echo.close());
  const { port } = echo.address() as AddressInfo;

  const channel = await client.openTcp('127.0.0.1', port, '127.0.0.1', 40000);
  const reply = await new Promise<string>((resolve) => {
    channel.once('data', (d: Buffer) => resolve(d.toString()));
    channel.write('ping');
  });
  assert.equal(reply, 'ping');
  channel.destroy();

  // Not an address of the guest: refused before any connection is tried.
  await assert.rejects(client.openTcp('192.0.2.1', 80, '127.0.0.1', 40001));
});

test('channel: UDP datagrams through udp-forward and the host relay, replies to each sender', async (t) => {
  const client = await channelPair(t);
  // The "published" UDP port in the guest: answers each datagram upper-cased.
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, from) =>
    echo.send(Buffer.from(m.toString().toUpperCase()), from.port, from.address),
  );
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  t.after(() => echo.close());
  const echoPort = echo.address().port;

  // The host side: its own port, relaying to the echo server over the channel.
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const hostPort = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const relay = new UdpRelay('127.0.0.1', hostPort, '127.0.0.1', () =>
    client.openExec(`${CONTROL_COMMANDS.udpForward} 127.0.0.1 ${echoPort}`),
  );
  await relay.listen();
  t.after(() => relay.close());

  const ask = async (text: string): Promise<string> => {
    const s = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reply')), 5000);
        s.once('message', (m) => {
          clearTimeout(timer);
          resolve(m.toString());
        });
        s.send(text, hostPort, '127.0.0.1');
      });
    } finally {
      s.close();
    }
  };
  assert.equal(await ask('one'), 'ONE');
  assert.equal(await ask('two'), 'TWO', 'a second client gets its own reply');

  // A taken host port: the relay says why.
  const second = new UdpRelay('127.0.0.1', hostPort, '127.0.0.1', () => Promise.reject(new Error('unused')));
  await assert.rejects(second.listen(), /EADDRINUSE/);
  second.close();
});

/** Runs a command over the channel; its output and exit status. */
async function shellRun(
  client: ControlClient,
  command: string,
  input = '',
  pty?: { term: string; cols: number; rows: number },
): Promise<{ stdout: string; stderr: string; code: number }> {
  const { channel, exitCode } = await client.openShell(command, pty);
  let stdout = '';
  let stderr = '';
  channel.on('data', (d: Buffer) => (stdout += d.toString()));
  channel.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  channel.end(input);
  const code = await exitCode;
  return { stdout, stderr, code };
}

test('channel: shell commands for `berth vm ssh` (output, stderr, exit code, stdin, a terminal)', async (t) => {
  const client = await channelPair(t);
  assert.deepEqual(await shellRun(client, 'echo out; echo err >&2; exit 3'), {
    stdout: 'out\n',
    stderr: 'err\n',
    code: 3,
  });
  assert.deepEqual(await shellRun(client, 'tr a-z A-Z', 'piped in\n'), {
    stdout: 'PIPED IN\n',
    stderr: '',
    code: 0,
  });
  assert.equal(
    (await shellRun(client, 'kill -TERM $$')).code,
    128 + 15,
    'killed by a signal: 128 + its number',
  );
  const tty = await shellRun(client, 'tty; stty size', '', { term: 'xterm', cols: 91, rows: 33 });
  assert.equal(tty.code, 0, tty.stdout);
  assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n33 91\r\n$/);
});

test('channel: an interactive shell in a terminal (what `berth vm ssh` opens), its exit code', async (t) => {
  const client = await channelPair(t);
  const { channel, exitCode } = await client.openShell(undefined, { term: 'xterm', cols: 80, rows: 24 });
  let out = '';
  channel.on('data', (d: Buffer) => (out += d.toString()));
  channel.write('echo "typed $((6 * 7))"; exit 5\n');
  assert.equal(await exitCode, 5);
  assert.match(out, /typed 42\r\n/); // (the terminal echoes the line typed: "$((6 * 7))" there)
});

test('channel: control commands answer with their status; a bad time is refused', async (t) => {
  const client = await channelPair(t);
  assert.equal(await client.run(CONTROL_COMMANDS.ping), 'ok\n');
  assert.deepEqual(await shellRun(client, CONTROL_COMMANDS.ping), { stdout: 'ok\n', stderr: '', code: 0 });
  // (A good time would set this machine's clock: the VM test sends one to the guest.)
  assert.deepEqual(await shellRun(client, `${CONTROL_COMMANDS.timeSync} soon`), {
    stdout: '',
    stderr: 'time-sync: not a time in milliseconds: NaN\n',
    code: 1,
  });
  assert.deepEqual(await shellRun(client, 'berth:nothing'), {
    stdout: '',
    stderr: 'unknown command: berth:nothing\n',
    code: 127,
  });
});
