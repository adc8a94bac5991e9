// A tunnel's end: when the guest-side service writes a lot and closes at
// once, everything it wrote still reaches a host client that reads slowly
// (the guest's channel holds what waits for the host's window: closing it at
// once lost the last 2 MiB of a download), through the guest's real control
// server, the host's real client and the port forwarder, without a VM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../common/ed25519-keys.js';
import { ControlServer } from '../../guest-agent/control/server.js';
import { ControlClient } from '../../vm/channel/control-client.js';
import { PortForwarder } from '../../vm/ports/port-forwarder.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

test('a download whose server closes at once arrives whole through the forwarded port', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-tunnel-'));
  const keys = generateEd25519();
  const server = new ControlServer({ authorizedKey: keys.public, onShutdown: () => {}, log: () => {} });
  const sockPath = path.join(dir, 'control.sock');
  const listener = net.createServer((s) => server.serve(s));
  await new Promise<void>((r) => listener.listen(sockPath, r));
  const client = await ControlClient.connectOnce(sockPath, keys.private, 10_000);

  // The "container": writes 8 MiB and closes.
  const payload = randomBytes(8 * 1024 * 1024);
  const source = net.createServer((s) => s.end(payload));
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', r));
  const sourcePort = (source.address() as AddressInfo).port;

  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const hostPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const fwd = new PortForwarder({
    // Published at hostPort, served at sourcePort in the "guest".
    openTcp: (ip, _port, fromIp, fromPort) => client.openTcp(ip, sourcePort, fromIp, fromPort),
    openUdp: () => Promise.reject(new Error('unused')),
    loopbackOnly: true,
    report: () => {},
    onChange: () => {},
  });
  t.after(() => {
    fwd.close();
    client.close();
    listener.close();
    source.close();
    rmSync(dir, { recursive: true, force: true });
  });
  fwd.apply({
    action: 'publish',
    containerId: 'c',
    proto: 'tcp',
    hostIp: '127.0.0.1',
    hostPort,
    containerPort: 80,
  });
  for (let i = 0; i < 100 && fwd.summary().forwarded.length === 0; i++)
    await new Promise((r) => setTimeout(r, 20));

  const received = await new Promise<Buffer>((resolve, reject) => {
    const c = net.connect(hostPort, '127.0.0.1');
    c.pause();
    // A slow reader: the source has long closed when reading starts.
    setTimeout(() => c.resume(), 1000);
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
  });
  assert.equal(received.length, payload.length);
  assert.equal(md5(received), md5(payload));
});
