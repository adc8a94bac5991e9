// Forwarded ports after the host slept (a clock jump, as ClockJumpWatcher sees
// it): publications whose host listener could not be opened or is gone are
// opened again; working ones and their connections are left alone. And the
// guest's UDP servers, found for `--network host` ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseProcNetUdp } from '../../guest-agent/control/listeners.js';
import type { PortEvent } from '../../common/port-events.js';
import { ClockJumpWatcher } from '../../vm/clock-watch.js';
import { HostNetworkPorts } from '../../vm/ports/host-network-ports.js';
import { PortForwarder } from '../../vm/ports/port-forwarder.js';

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A port on 127.0.0.1 held by another listener until release(). */
async function takenPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as AddressInfo).port,
    release: () => new Promise<void>((r) => s.close(() => r())),
  };
}

test('after a clock jump, a port that could not be opened is opened again; a working one keeps its connection', async (t) => {
  // The "guest": echoes each connection's bytes back.
  const guest = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => guest.listen(0, '127.0.0.1', r));
  t.after(() => guest.close());
  const guestPort = (guest.address() as AddressInfo).port;
  const reports: string[] = [];
  const fwd = new PortForwarder({
    openTcp: () => Promise.resolve(net.connect(guestPort, '127.0.0.1')),
    openUdp: () => Promise.reject(new Error('unused')),
    loopbackOnly: true,
    report: (m) => reports.push(m),
    onChange: () => {},
  });
  t.after(() => fwd.close());

  const blocked = await takenPort();
  const free = await takenPort();
  await free.release();
  const pub = (hostPort: number): PortEvent => ({
    action: 'publish',
    containerId: 'c',
    proto: 'tcp',
    hostIp: '127.0.0.1',
    hostPort,
    containerPort: 80,
  });
  fwd.apply(pub(blocked.port));
  fwd.apply(pub(free.port));
  await waitFor(() => fwd.summary().forwarded.length === 1 && fwd.summary().problems.length === 1);
  assert.match(fwd.summary().problems[0], /already in use/);

  // A connection through the working port, open across the "sleep".
  const conn = net.connect(free.port, '127.0.0.1');
  await new Promise<void>((r) => conn.once('connect', r));
  const echoed = (text: string) =>
    new Promise<string>((resolve) => {
      conn.once('data', (d) => resolve(d.toString()));
      conn.write(text);
    });
  assert.equal(await echoed('before'), 'before');

  // The host sleeps; meanwhile the other program lets the port go.
  await blocked.release();
  let now = 1_000_000;
  let refreshed = -1;
  const watch = new ClockJumpWatcher(
    () => (refreshed = fwd.refresh()),
    5000,
    10_000,
    () => now,
  );
  now += 5000;
  watch.tick();
  assert.equal(refreshed, -1, 'an on-time tick is no sleep');
  now += 3_600_000;
  watch.tick();
  assert.equal(refreshed, 1, 'only the port that was not open is opened again');
  await waitFor(() => fwd.summary().forwarded.length === 2);
  assert.deepEqual(fwd.summary().problems, []);
  assert.equal(await echoed('after'), 'after', 'the open connection survived the refresh');

  const viaReopened = net.connect(blocked.port, '127.0.0.1');
  const answer = await new Promise<string>((resolve, reject) => {
    viaReopened.on('data', (d) => resolve(d.toString()));
    viaReopened.on('error', reject);
    viaReopened.write('reopened');
  });
  assert.equal(answer, 'reopened');
  viaReopened.destroy();
  conn.destroy();
  assert.equal(fwd.refresh(), 0, 'nothing to do when every listener works');
});

test('refresh opens again a UDP port whose socket closed', async (t) => {
  const fwd = new PortForwarder({
    openTcp: () => Promise.reject(new Error('unused')),
    openUdp: () => Promise.reject(new Error('unused')),
    loopbackOnly: true,
    report: () => {},
    onChange: () => {},
  });
  t.after(() => fwd.close());
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = probe.address().port;
  // Held by someone else at first: the publication fails.
  fwd.apply({
    action: 'publish',
    containerId: 'c',
    proto: 'udp',
    hostIp: '0.0.0.0',
    hostPort: port,
    containerPort: 53,
  });
  await waitFor(() => fwd.summary().problems.length === 1);
  await new Promise<void>((r) => probe.close(() => r()));
  assert.equal(fwd.refresh(), 1);
  await waitFor(() => fwd.summary().forwarded.length === 1);
  assert.deepEqual(fwd.summary().forwarded, [`127.0.0.1:${port}/udp`]);
  // The port is the forwarder's now.
  const again = dgram.createSocket('udp4');
  await assert.rejects(
    new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, '127.0.0.1', resolve);
    }),
    /EADDRINUSE/,
  );
  again.close();
});

test('guest UDP servers: bound and unconnected, outside the ephemeral range', () => {
  const udp = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    // 0.0.0.0:53, a server
    '  1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 11 2 0 0',
    // 127.0.0.1:5353, a server on loopback
    '  2: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12 2 0 0',
    // a connected socket (a client talking to 10.0.2.3:53)
    '  3: 0F02000A:A1B2 0302000A:0035 01 00000000:00000000 00:00000000 00000000     0        0 13 2 0 0',
    // an unconnected client socket on an ephemeral port (40000)
    '  4: 00000000:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 14 2 0 0',
  ].join('\n');
  assert.deepEqual(parseProcNetUdp(udp, [32768, 60999]), [
    { ip: '0.0.0.0', port: 53, proto: 'udp' },
    { ip: '127.0.0.1', port: 5353, proto: 'udp' },
  ]);
  const udp6 = [
    '  sl  local_address                         remote_address                        st',
    '   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 07 0 0 0 0 0 0 4 1',
  ].join('\n');
  assert.deepEqual(parseProcNetUdp(udp6, [32768, 60999]), [{ ip: '::', port: 8081, proto: 'udp' }]);
});

test('host-network ports: a UDP port is its own publication, beside a TCP port of the same number', () => {
  const events: string[] = [];
  const engine = new Set(['udp/5353']);
  const w = new HostNetworkPorts(
    () => Promise.reject(new Error('unused')),
    (e: PortEvent) => events.push(`${e.action} ${e.hostIp}:${e.hostPort}/${e.proto}`),
    (port, proto) => engine.has(`${proto}/${port}`),
  );
  w.update([
    { ip: '0.0.0.0', port: 53, proto: 'tcp' },
    { ip: '0.0.0.0', port: 53, proto: 'udp' },
    { ip: '0.0.0.0', port: 5353, proto: 'udp' }, // the engine's own (its userland proxy)
    { ip: '127.0.0.1', port: 8080 }, // an earlier guest's list: TCP
  ]);
  w.update([{ ip: '0.0.0.0', port: 53, proto: 'tcp' }]);
  assert.deepEqual(events, [
    'publish 0.0.0.0:53/tcp',
    'publish 0.0.0.0:53/udp',
    'publish 127.0.0.1:8080/tcp',
    'unpublish 0.0.0.0:53/udp',
    'unpublish 127.0.0.1:8080/tcp',
  ]);
  w.stop();
});
