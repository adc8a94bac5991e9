// `--network host` ports: the guest reads its listening TCP sockets from
// /proc/net/tcp{,6} and streams them over the channel; the host turns changes
// into publications, leaving the engine's own published ports to its events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../common/ed25519-keys.js';
import { CONTROL_COMMANDS } from '../../common/control.js';
import type { PortEvent } from '../../common/port-events.js';
import { parseProcNetTcp } from '../../guest-agent/control/listeners.js';
import { ControlServer } from '../../guest-agent/control/server.js';
import { ControlClient } from '../../vm/channel/control-client.js';
import { HostNetworkPorts } from '../../vm/ports/host-network-ports.js';

test('listeners: /proc/net/tcp and tcp6 lines, listening ones only', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    '   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1',
    '   2: 0F02000A:9C40 0202000A:0016 01 00000000:00000000 00:00000000 00000000     0        0 3 1',
  ].join('\n');
  assert.deepEqual(parseProcNetTcp(tcp), [
    { ip: '127.0.0.1', port: 8080 },
    { ip: '0.0.0.0', port: 80 },
  ]);
  const tcp6 = [
    '  sl  local_address                         remote_address                        st',
    '   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 4 1',
    '   1: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 5 1',
  ].join('\n');
  assert.deepEqual(parseProcNetTcp(tcp6), [
    { ip: '::', port: 8081 },
    { ip: '::1', port: 8082 },
  ]);
});

test('host-network ports: changes become publications; engine-published ports are left out', () => {
  const events: string[] = [];
  const engine = new Set([80]);
  const w = new HostNetworkPorts(
    () => Promise.reject(new Error('unused')),
    (e: PortEvent) => events.push(`${e.action} ${e.hostIp}:${e.hostPort}/${e.proto} ${e.containerId}`),
    (port) => engine.has(port),
  );
  w.update([
    { ip: '0.0.0.0', port: 80 },
    { ip: '0.0.0.0', port: 8080 },
  ]);
  w.update([
    { ip: '0.0.0.0', port: 8080 },
    { ip: '127.0.0.1', port: 9000 },
  ]);
  w.update([{ ip: '127.0.0.1', port: 9000 }]);
  assert.deepEqual(events, [
    'publish 0.0.0.0:8080/tcp host-network',
    'publish 127.0.0.1:9000/tcp host-network',
    'unpublish 0.0.0.0:8080/tcp host-network',
  ]);
  w.stop();
  assert.equal(events.at(-1), 'unpublish 127.0.0.1:9000/tcp host-network');
});

test('listeners over the channel: a port that starts listening is reported, and its end', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-listeners-'));
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
  const snapshots: Array<Array<{ ip: string; port: number }>> = [];
  const stream = await client.openExec(CONTROL_COMMANDS.listeners);
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      snapshots.push(JSON.parse(buf.slice(0, nl)) as Array<{ ip: string; port: number }>);
      buf = buf.slice(nl + 1);
    }
  });
  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(cond());
  };
  const web = net.createServer();
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const { port } = web.address() as AddressInfo;
  const has = () => snapshots.at(-1)?.some((l) => l.ip === '127.0.0.1' && l.port === port) ?? false;
  await waitFor(has);
  await new Promise<void>((r) => web.close(() => r()));
  await waitFor(() => snapshots.length > 0 && !has());
  stream.destroy();
});
