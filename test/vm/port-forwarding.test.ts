// The host side of automatic port forwarding, without a VM: which publications
// a container list shows, the events between two lists, where the host
// listens, and the forwarder's listeners (a local server stands in for the
// guest end of the channel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  PortForwarder,
  guestTargetAddress,
  type UplinkForward,
  hostBindAddress,
  type OpenTcp,
} from '../../vm/ports/port-forwarder.js';
import { diffPublications, publicationsOf } from '../../vm/ports/published-ports.js';
import { freePort } from '../helpers/free-port.js';

test('publications: running containers with a host port, tcp and udp', () => {
  const pubs = publicationsOf([
    {
      Id: 'a',
      State: 'running',
      Ports: [
        { IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '0.0.0.0', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
        { PrivatePort: 443, Type: 'tcp' }, // exposed, not published
      ],
    },
    { Id: 'b', State: 'exited', Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 9090, Type: 'tcp' }] },
  ]);
  assert.deepEqual([...pubs.keys()].sort(), ['tcp/127.0.0.1/8080', 'udp/0.0.0.0/5353']);
  assert.equal(pubs.get('tcp/127.0.0.1/8080')?.containerPort, 80);
});

test('publications: the events from one list to the next', () => {
  const before = publicationsOf([
    {
      Id: 'a',
      State: 'running',
      Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
    },
  ]);
  const after = publicationsOf([
    {
      Id: 'b',
      State: 'running',
      Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
    },
    { Id: 'c', State: 'running', Ports: [{ IP: '::', PrivatePort: 81, PublicPort: 8081, Type: 'tcp' }] },
  ]);
  const events = diffPublications(before, after).map(
    (e) => `${e.action} ${e.containerId} ${e.hostIp}:${e.hostPort}`,
  );
  assert.deepEqual(events, ['unpublish a 127.0.0.1:8080', 'publish b 127.0.0.1:8080', 'publish c :::8081']);
  assert.deepEqual(diffPublications(after, after), []);
});

test('addresses: loopback stays loopback; 0.0.0.0 is every interface unless loopback-only', () => {
  assert.equal(hostBindAddress('127.0.0.1', false), '127.0.0.1');
  assert.equal(hostBindAddress('0.0.0.0', false), '0.0.0.0');
  assert.equal(hostBindAddress('::', false), '::');
  assert.equal(hostBindAddress('0.0.0.0', true), '127.0.0.1');
  assert.equal(hostBindAddress('::', true), '::1');
  assert.equal(hostBindAddress('192.0.2.7', true), '127.0.0.1');
  assert.equal(guestTargetAddress('0.0.0.0'), '127.0.0.1');
  assert.equal(guestTargetAddress('::'), '::1');
  assert.equal(guestTargetAddress('127.0.0.1'), '127.0.0.1');
});

function request(port: number, payload: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    let out = '';
    c.on('data', (d) => (out += d.toString()));
    c.on('end', () => resolve(out));
    c.on('error', reject);
    c.end(payload);
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('forwarder: opens the port, tunnels each connection, closes on unpublish', async (t) => {
  // The "guest": an upper-casing echo server; openTcp connects to it as the channel would.
  const guest = net.createServer({ allowHalfOpen: true }, (s) => {
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => s.end(data.toUpperCase()));
  });
  await new Promise<void>((r) => guest.listen(0, '127.0.0.1', r));
  t.after(() => guest.close());
  const guestPort = (guest.address() as AddressInfo).port;
  const opened: string[] = [];
  const openTcp: OpenTcp = (ip, port) => {
    opened.push(`${ip}:${port}`);
    return Promise.resolve(net.connect({ host: '127.0.0.1', port: guestPort, allowHalfOpen: true }));
  };
  let changes = 0;
  const reports: string[] = [];
  const fwd = new PortForwarder({
    openTcp,
    openUdp: () => Promise.reject(new Error('unused')),
    loopbackOnly: true,
    report: (m) => reports.push(m),
    onChange: () => changes++,
  });
  t.after(() => fwd.close());
  const hostPort = await freePort();
  const pub = { containerId: 'c1', proto: 'tcp', hostIp: '0.0.0.0', hostPort, containerPort: 80 } as const;
  fwd.apply({ action: 'publish', ...pub });
  await waitFor(() => fwd.summary().forwarded.length === 1);
  assert.deepEqual(fwd.summary().forwarded, [`127.0.0.1:${hostPort}/tcp`]);
  assert.equal(await request(hostPort, 'hello'), 'HELLO');
  assert.deepEqual(opened, [`127.0.0.1:${hostPort}`], 'the guest side is asked for the published port');

  fwd.apply({ action: 'unpublish', ...pub });
  assert.deepEqual(fwd.summary().forwarded, []);
  await assert.rejects(request(hostPort, 'x'), /ECONNREFUSED/);
  assert.deepEqual(reports, []);
  assert.ok(changes >= 2);
});

test('forwarder: a host port already taken is reported, not fatal', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const reports: string[] = [];
  const fwd = new PortForwarder({
    openTcp: () => Promise.reject(new Error('unused')),
    openUdp: () => Promise.reject(new Error('unused')),
    loopbackOnly: true,
    report: (m) => reports.push(m),
    onChange: () => {},
  });
  t.after(() => fwd.close());
  fwd.apply({
    action: 'publish',
    containerId: 'c',
    proto: 'tcp',
    hostIp: '127.0.0.1',
    hostPort: port,
    containerPort: 80,
  });
  await waitFor(() => reports.length === 1);
  assert.match(
    reports[0],
    new RegExp(`127\\.0\\.0\\.1:${port}/tcp: not forwarded to the host: the port is already in use`),
  );
  assert.deepEqual(fwd.summary().problems, reports);
  fwd.apply({
    action: 'unpublish',
    containerId: 'c',
    proto: 'tcp',
    hostIp: '127.0.0.1',
    hostPort: port,
    containerPort: 80,
  });
  assert.deepEqual(fwd.summary().problems, [], 'the problem goes with the publication');
});

test('forwarder: a UDP publication binds the host port and frees it on unpublish', async (t) => {
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
  await new Promise<void>((r) => probe.close(() => r()));
  const pub = {
    containerId: 'c',
    proto: 'udp',
    hostIp: '0.0.0.0',
    hostPort: port,
    containerPort: 53,
  } as const;
  fwd.apply({ action: 'publish', ...pub });
  await waitFor(() => fwd.summary().forwarded.length === 1);
  assert.deepEqual(fwd.summary().forwarded, [`127.0.0.1:${port}/udp`]);
  fwd.apply({ action: 'unpublish', ...pub });
  await new Promise((r) => setTimeout(r, 50));
  const again = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.bind(port, '127.0.0.1', resolve);
  });
  again.close();
});

test("forwarder: QEMU's uplink takes a TCP port on one IPv4 address; a port on two, IPv6 and a refusal are tunnelled", async (t) => {
  // The "guest": an upper-casing echo server, as above. The uplink stands in for QEMU's hostfwd
  // (test/vm/hostfwd.test.ts drives the real one): it records its rules and refuses a port it is told to.
  const guest = net.createServer({ allowHalfOpen: true }, (s) => {
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => s.end(data.toUpperCase()));
  });
  await new Promise<void>((r) => guest.listen(0, '127.0.0.1', r));
  t.after(() => guest.close());
  const guestPort = (guest.address() as AddressInfo).port;
  const tunnelled: string[] = [];
  const calls: string[] = [];
  // As QEMU: a rule holds the host port (a connection is taken and, with no guest here, dropped),
  // a taken port is refused, and a removal lets the port go a little later.
  const held = new Map<string, net.Server>();
  const uplink: UplinkForward = {
    add: async (_proto, bind, port) => {
      calls.push(`add ${bind}:${port}`);
      const server = net.createServer((c) => c.destroy());
      await new Promise<void>((resolve, reject) => {
        server.once('error', () => reject(new Error(`Could not set up host forwarding rule`)));
        server.listen(port, bind, resolve);
      });
      held.set(`${bind}:${port}`, server);
    },
    remove: async (_proto, bind, port) => {
      calls.push(`remove ${bind}:${port}`);
      await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => held.get(`${bind}:${port}`)?.close(r));
      held.delete(`${bind}:${port}`);
    },
  };
  const reports: string[] = [];
  const fwd = new PortForwarder({
    uplink,
    openTcp: (ip, port) => {
      tunnelled.push(`${ip}:${port}`);
      return Promise.resolve(net.connect({ host: '127.0.0.1', port: guestPort, allowHalfOpen: true }));
    },
    openUdp: () => Promise.reject(new Error('unused')),
    loopbackOnly: false,
    report: (m) => reports.push(m),
    onChange: () => {},
  });
  t.after(() => fwd.close());

  const port = await freePort();
  const on = (hostIp: string) =>
    ({ containerId: 'c1', proto: 'tcp', hostIp, hostPort: port, containerPort: 80 }) as const;
  fwd.apply({ action: 'publish', ...on('127.0.0.1') });
  await waitFor(() => fwd.summary().forwarded.length === 1);
  assert.deepEqual(calls, [`add 127.0.0.1:${port}`]);
  assert.deepEqual(fwd.summary().forwarded, [`127.0.0.1:${port}/tcp`]);
  assert.equal(await request(port, 'x').catch(() => ''), '');
  assert.deepEqual(tunnelled, [], 'not a tunnel: QEMU has the port');

  // The same port on a second address: the uplink cannot tell them apart, so both are tunnelled.
  fwd.apply({ action: 'publish', ...on('127.0.0.2') });
  await waitFor(() => fwd.summary().forwarded.length === 2);
  assert.deepEqual(calls, [`add 127.0.0.1:${port}`, `remove 127.0.0.1:${port}`]);
  assert.equal(await request(port, 'one', '127.0.0.1'), 'ONE');
  assert.equal(await request(port, 'two', '127.0.0.2'), 'TWO');
  assert.deepEqual(tunnelled.sort(), [`127.0.0.1:${port}`, `127.0.0.2:${port}`]);
  fwd.apply({ action: 'unpublish', ...on('127.0.0.1') });
  fwd.apply({ action: 'unpublish', ...on('127.0.0.2') });
  assert.equal(calls.length, 2, "tunnelled ports are not the uplink's to remove");

  // IPv6 is tunnelled (QEMU's hostfwd takes IPv4 only); unpublishing an uplink port removes its rule.
  const v6 = { containerId: 'c2', proto: 'tcp', hostIp: '::', hostPort: port, containerPort: 80 } as const;
  fwd.apply({ action: 'publish', ...v6 });
  await waitFor(() => fwd.summary().forwarded.length === 1);
  assert.equal(calls.length, 2);
  fwd.apply({ action: 'unpublish', ...v6 });
  fwd.apply({ action: 'publish', ...on('0.0.0.0') });
  await waitFor(() => fwd.summary().forwarded.length === 1);
  fwd.apply({ action: 'unpublish', ...on('0.0.0.0') });
  assert.deepEqual(calls.slice(2), [`add 0.0.0.0:${port}`, `remove 0.0.0.0:${port}`]);

  // Refused by QEMU (here: the port is taken on the host): the tunnel's listener reports why, in the host's words.
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => taken.close());
  const takenPort = (taken.address() as AddressInfo).port;
  fwd.apply({ action: 'publish', ...on('127.0.0.1'), hostPort: takenPort });
  await waitFor(() => reports.length === 1);
  assert.match(
    reports[0],
    new RegExp(`127\\.0\\.0\\.1:${takenPort}/tcp: not forwarded to the host: the port is already in use`),
  );
});
