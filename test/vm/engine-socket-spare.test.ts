// The host's engine socket keeps one channel to the guest open ahead of the
// next connection (vm/channel/engine-socket.ts), with the guest's real control
// server and the host's real client over a unix socket and a small HTTP server
// standing in for the engine: the next `docker` command finds its channel, and
// its upstream connection, already made; a spare the far end closed is never
// handed out, and a channel that closes unanswered is opened again once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../common/ed25519-keys.js';
import { ControlServer } from '../../guest-agent/control/server.js';
import { ControlClient } from '../../vm/channel/control-client.js';
import { EngineSocketForwarder } from '../../vm/channel/engine-socket.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function ping(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: '/_ping', agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function post(socketPath: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path: '/containers/x/start', method: 'POST', agent: false },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('engine socket: the next connection gets a channel opened ahead; a closed spare is not handed out', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-spare-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const engineSocket = path.join(dir, 'engine.sock');
  // The "engine": counts the connections it accepts and answers each request with that connection's number.
  const conns: net.Socket[] = [];
  // How many of the next requests the engine drops unanswered, closing their connection.
  let drop = 0;
  // Whether the engine closes each connection right after its answer; how many requests it answered.
  let closeAfterAnswer = false;
  let answered = 0;
  const engine = http.createServer((req, res) => {
    if (drop > 0) {
      drop--;
      return void req.socket.destroy();
    }
    answered++;
    if (closeAfterAnswer) res.once('finish', () => req.socket.destroy());
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => res.end(`conn ${conns.indexOf(req.socket) + 1}${body ? ` got ${body}` : ''}`));
  });
  engine.on('connection', (s: net.Socket) => conns.push(s));
  await new Promise<void>((r) => engine.listen(engineSocket, r));
  t.after(() => engine.close());

  const keys = generateEd25519();
  const server = new ControlServer({
    authorizedKey: keys.public,
    engineSocket,
    onShutdown: () => {},
    log: () => {},
  });
  const controlPath = path.join(dir, 'control.sock');
  const listener = net.createServer((s) => server.serve(s));
  await new Promise<void>((r) => listener.listen(controlPath, r));
  t.after(() => listener.close());
  const client = await ControlClient.connectOnce(controlPath, keys.private, 10_000);
  t.after(() => client.close());

  const hostSocket = path.join(dir, 'docker.sock');
  const forwarder = new EngineSocketForwarder(hostSocket, () => client, engineSocket, true);
  await forwarder.listen();
  t.after(() => forwarder.close());

  // Opened at start, before anyone connects: the engine already has a connection.
  await until(() => conns.length === 1);
  assert.equal(await ping(hostSocket), 'conn 1', 'the first command uses the spare');
  await until(() => conns.length === 2); // the next spare, opened behind it
  assert.equal(await ping(hostSocket), 'conn 2');
  await until(() => conns.length === 3);

  // The engine drops the idle spare (as an engine restart would): the next command gets a fresh channel.
  conns[2]!.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await ping(hostSocket), 'conn 4');

  // A connection whose channel closes before any answer (the spare died as it was handed out) gets a
  // second channel, and its request is sent again there: the client sees the answer, not an EOF.
  await until(() => conns.length === 5); // conn 4's spare
  drop = 1;
  assert.match(await post(hostSocket, 'a request body'), /^conn (6|7) got a request body$/);
  // Twice in a row: the client sees the close (a request is sent at most twice).
  await until(() => conns.length === 7);
  await new Promise((r) => setTimeout(r, 100));
  drop = 2;
  await assert.rejects(post(hostSocket, 'x'), /socket hang up|ECONNRESET/);
  drop = 0;
  // An answered request is never sent again: the engine closing right after its answer is seen as such.
  await until(() => conns.length === 9);
  await new Promise((r) => setTimeout(r, 100));
  const before = { conns: conns.length, answered };
  closeAfterAnswer = true;
  assert.match(await ping(hostSocket), /^conn \d+$/);
  await new Promise((r) => setTimeout(r, 200));
  closeAfterAnswer = false;
  assert.equal(answered, before.answered + 1, 'the request was answered once');
  assert.equal(conns.length, before.conns + 1, 'no second channel for it, only the next spare');

  // Without a spare, every connection opens its channel when it comes.
  const plainSocket = path.join(dir, 'plain.sock');
  const plain = new EngineSocketForwarder(plainSocket, () => client, engineSocket);
  await plain.listen();
  t.after(() => plain.close());
  await new Promise((r) => setTimeout(r, 100));
  const opened = conns.length;
  assert.match(await ping(plainSocket), new RegExp(`^conn ${opened + 1}$`));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(conns.length, opened + 1, 'nothing opened ahead');
});
