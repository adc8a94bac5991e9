// Container endpoints: a veth into the container's namespace with the address,
// MAC and routes dockerd gives, reachability on a network, isolation between
// networks, internal networks, and cleanup. Needs root and a private network
// namespace (npm test provides one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../guest-agent/errors.js';
import {
  lockNetworkTests,
  unlockNetworkTests,
  defer,
  berthLinks,
  inNs,
  iptablesBerth,
  makeNetns,
  ping,
  startServer,
  startService,
} from './network-fixtures.js';

const C1 = '1'.repeat(64);
const C2 = '2'.repeat(64);
const kind = (k: string, msg?: RegExp) => (err: unknown) =>
  err instanceof EngineError && err.kind === k && (!msg || msg.test(err.message));

interface Addr {
  ifname: string;
  address: string;
  operstate: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

async function linksIn(ns: string): Promise<Addr[]> {
  return JSON.parse((await inNs(ns, ['ip', '-j', 'addr', 'show'])).stdout) as Addr[];
}

async function defaultRoute(ns: string): Promise<string> {
  return (await inNs(ns, ['ip', 'route', 'show', 'default'])).stdout.trim();
}

before(lockNetworkTests);
after(unlockNetworkTests);

test('a container on the default bridge gets eth0 with the first address, its MAC, a default route, and reaches the gateway', async (t) => {
  const { svc } = await startService(t);
  const ns = await makeNetns(t, 'c1');
  const ep = await svc.connect(C1, ns, 'bridge', { containerName: '/web' });
  assert.equal(ep.IPAddress, '172.17.0.2');
  assert.equal(ep.IPPrefixLen, 16);
  assert.equal(ep.Gateway, '172.17.0.1');
  assert.equal(ep.MacAddress, '02:42:ac:11:00:02');
  assert.equal(ep.NetworkID, svc.get('bridge').Id);
  assert.match(ep.EndpointID, /^[0-9a-f]{64}$/);
  // The default bridge has no aliases or DNS names, as in dockerd.
  assert.equal(ep.Aliases, null);
  assert.equal(ep.DNSNames, null);

  const eth0 = (await linksIn(ns)).find((l) => l.ifname === 'eth0')!;
  assert.ok(eth0, 'eth0 exists in the container namespace');
  assert.equal(eth0.address, '02:42:ac:11:00:02');
  assert.ok(
    eth0.addr_info.some((a) => a.family === 'inet' && a.local === '172.17.0.2' && a.prefixlen === 16),
  );
  assert.equal(await defaultRoute(ns), 'default via 172.17.0.1 dev eth0');
  assert.ok(await ping(ns, '172.17.0.1'), 'the container pings its gateway');

  // The host end is a veth<7 hex> port of berth0.
  const veths = (await berthLinks()).filter((l) => l.startsWith('veth'));
  assert.equal(veths.length, 1);
  assert.deepEqual(svc.endpointsOf(C1), { bridge: ep });
  assert.deepEqual(Object.keys(svc.containersOf('bridge')), [C1]);
  assert.equal(svc.containersOf('bridge')[C1].Name, 'web');

  await assert.rejects(svc.connect(C1, ns, 'bridge'), kind('forbidden', /already exists in network bridge/));
  await assert.rejects(svc.connect(C1, ns, 'host'), kind('forbidden'));
  await assert.rejects(
    svc.connect(C2, ns, 'bridge', { ipv4: '172.17.0.9' }),
    kind('invalid', /user defined networks only/),
  );

  await svc.releaseAll(C1);
  assert.deepEqual(
    (await berthLinks()).filter((l) => l.startsWith('veth')),
    [],
  );
  assert.equal(
    (await linksIn(ns)).some((l) => l.ifname === 'eth0'),
    false,
  );
  assert.deepEqual(svc.endpointsOf(C1), {});
  // The address is free again.
  const ns2 = await makeNetns(t, 'c2');
  assert.equal((await svc.connect(C2, ns2, 'bridge')).IPAddress, '172.17.0.2');
  await svc.releaseAll(C2);
});

test('two containers on a user network reach each other, by address and through DNS-style names', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'app' });
  defer(t, () => svc.remove('app'));
  const nsA = await makeNetns(t, 'a');
  const nsB = await makeNetns(t, 'b');
  const a = await svc.connect(C1, nsA, 'app', {
    containerName: 'db',
    aliases: ['database'],
    hostname: 'dbhost',
  });
  const b = await svc.connect(C2, nsB, 'app', { containerName: 'api' });
  defer(t, () => Promise.all([svc.releaseAll(C1), svc.releaseAll(C2)]));
  assert.equal(a.IPAddress, '172.18.0.2');
  assert.equal(b.IPAddress, '172.18.0.3');
  assert.deepEqual(a.Aliases, ['database']);
  assert.deepEqual(a.DNSNames, ['db', 'database', C1.slice(0, 12), 'dbhost']);
  assert.deepEqual(b.DNSNames, ['api', C2.slice(0, 12)]);

  assert.ok(await ping(nsB, a.IPAddress), 'b pings a');
  assert.ok(await ping(nsA, b.IPAddress), 'a pings b');
  // A TCP exchange with busybox nc across the bridge.
  await startServer(t, nsA, { tcpPort: 5432, tag: 'db' });
  const r = await inNs(nsB, ['/bin/busybox', 'nc', '-w', '3', a.IPAddress, '5432'], false, 'ping\n');
  assert.equal(r.stdout, 'hello from db\nping\n');

  assert.deepEqual(svc.resolve('app', 'database'), ['172.18.0.2']);
  assert.deepEqual(svc.resolve('app', 'API'), ['172.18.0.3']);
  assert.deepEqual(svc.resolve('app', C1.slice(0, 12)), ['172.18.0.2']);
  assert.deepEqual(svc.resolve('app', 'nobody'), []);
});

test('a requested address and MAC are used; taken or foreign addresses are refused', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'fixed', IPAM: { Config: [{ Subnet: '10.50.0.0/24' }] } });
  defer(t, () => svc.remove('fixed'));
  const ns1 = await makeNetns(t, 'f1');
  const ns2 = await makeNetns(t, 'f2');
  defer(t, () => Promise.all([svc.releaseAll(C1), svc.releaseAll(C2)]));
  const ep = await svc.connect(C1, ns1, 'fixed', { ipv4: '10.50.0.77', mac: '02:AA:BB:CC:DD:EE' });
  assert.equal(ep.IPAddress, '10.50.0.77');
  assert.equal(ep.MacAddress, '02:aa:bb:cc:dd:ee');
  assert.equal((await linksIn(ns1)).find((l) => l.ifname === 'eth0')!.address, '02:aa:bb:cc:dd:ee');
  await assert.rejects(
    svc.connect(C2, ns2, 'fixed', { ipv4: '10.50.0.77' }),
    kind('conflict', /Address already in use/),
  );
  await assert.rejects(svc.connect(C2, ns2, 'fixed', { ipv4: '10.51.0.7' }), kind('invalid'));
  await assert.rejects(
    svc.connect(C2, ns2, 'fixed', { mac: 'nope' }),
    kind('invalid', /invalid MAC address/),
  );
  // The refusals left nothing: no endpoint, no veth, no address taken.
  assert.deepEqual(svc.endpointsOf(C2), {});
  assert.equal((await berthLinks()).filter((l) => l.startsWith('veth')).length, 1);
  assert.equal((await svc.connect(C2, ns2, 'fixed')).IPAddress, '10.50.0.2');
});

test('a second network adds eth1 without moving the default route; disconnect moves it and frees the address', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'second' });
  defer(t, () => svc.remove('second'));
  const ns = await makeNetns(t, 'multi');
  defer(t, () => svc.releaseAll(C1));
  await svc.connect(C1, ns, 'bridge');
  const second = await svc.connect(C1, ns, 'second');
  const names = (await linksIn(ns)).map((l) => l.ifname).sort();
  assert.deepEqual(names, ['eth0', 'eth1', 'lo']);
  assert.equal(await defaultRoute(ns), 'default via 172.17.0.1 dev eth0');
  assert.ok(await ping(ns, second.Gateway));
  await svc.disconnect(C1, 'bridge');
  assert.equal(await defaultRoute(ns), `default via ${second.Gateway} dev eth1`);
  assert.deepEqual(Object.keys(svc.endpointsOf(C1)), ['second']);
  await assert.rejects(svc.disconnect(C1, 'bridge'), kind('forbidden', /is not connected to network bridge/));
  // The freed eth0 name is used again.
  await svc.connect(C1, ns, 'bridge');
  assert.deepEqual((await linksIn(ns)).map((l) => l.ifname).sort(), ['eth0', 'eth1', 'lo']);
});

test('an internal network gives no default route and no masquerade; other networks are isolated', async (t) => {
  const { svc } = await startService(t);
  const internal = await svc.create({ Name: 'private', Internal: true });
  const other = await svc.create({ Name: 'other' });
  defer(t, async () => {
    await svc.remove('private');
    await svc.remove('other');
  });
  const nsI = await makeNetns(t, 'i');
  const nsI2 = await makeNetns(t, 'i2');
  const nsO = await makeNetns(t, 'o');
  const nsB = await makeNetns(t, 'b');
  defer(t, () => Promise.all([C1, C2, '3'.repeat(64), '4'.repeat(64)].map((c) => svc.releaseAll(c))));
  const epI = await svc.connect(C1, nsI, 'private');
  const epI2 = await svc.connect(C2, nsI2, 'private');
  const epO = await svc.connect('3'.repeat(64), nsO, 'other');
  await svc.connect('4'.repeat(64), nsB, 'bridge');

  assert.equal(epI.Gateway, '');
  assert.equal(await defaultRoute(nsI), '');
  // Without a route the kernel refuses at once: nothing leaves the namespace.
  const routeGet = await inNs(nsI, ['ip', 'route', 'get', '10.200.0.1'], true);
  assert.notEqual(routeGet.exitCode, 0);
  assert.match(routeGet.stderr, /unreachable/i);
  // Containers on the internal network still reach each other.
  assert.ok(await ping(nsI2, epI.IPAddress));
  const rules = await iptablesBerth();
  const sub = internal.IPAM.Config[0].Subnet;
  assert.ok(!rules.includes(`-s ${sub} ! -o ${internal.bridgeName} -j MASQUERADE`), rules);
  assert.ok(
    rules.includes(`-A BERTH-ISOLATION-STAGE-1 ! -d ${sub} -i ${internal.bridgeName} -j DROP`),
    rules,
  );
  assert.ok(
    rules.includes(`-s ${other.IPAM.Config[0].Subnet} ! -o ${other.bridgeName} -j MASQUERADE`),
    rules,
  );

  // A container on the default bridge has a route to "other", but the isolation rules drop the traffic.
  assert.equal(await ping(nsB, epO.IPAddress), false, 'bridge → other is isolated');
  assert.equal(await ping(nsO, '172.17.0.2'), false, 'other → bridge is isolated');
  assert.ok(await ping(nsO, other.IPAM.Config[0].Gateway));
  void epI2;
});

test('removing networks and endpoints leaves no veth, and shutdown leaves no Berth iptables rule', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'tmp' });
  const ns = await makeNetns(t, 'r');
  await svc.connect(C1, ns, 'tmp');
  await svc.connect(C1, ns, 'bridge');
  await svc.disconnect(C1, 'tmp');
  await svc.remove('tmp');
  await svc.releaseAll(C1);
  assert.deepEqual(await berthLinks(), ['berth0']);
  assert.notEqual(await iptablesBerth(), '');
  await svc.shutdown();
  assert.equal(await iptablesBerth(), '');
});

test('network options: enable_icc=false separates containers, the MTU reaches eth0, masquerade can be off', async (t) => {
  const { svc } = await startService(t);
  const rec = await svc.create({
    Name: 'opts',
    Options: {
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.driver.mtu': '1400',
      'com.docker.network.bridge.enable_ip_masquerade': 'false',
      'com.docker.network.bridge.name': 'berthtest1',
    },
  });
  defer(t, () => svc.remove('opts'));
  assert.equal(rec.bridgeName, 'berthtest1');
  const ns1 = await makeNetns(t, 'o1');
  const ns2 = await makeNetns(t, 'o2');
  defer(t, () => Promise.all([svc.releaseAll(C1), svc.releaseAll(C2)]));
  const a = await svc.connect(C1, ns1, 'opts');
  await svc.connect(C2, ns2, 'opts');
  const eth0 = JSON.parse((await inNs(ns1, ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as Array<{
    mtu: number;
  }>;
  assert.equal(eth0[0].mtu, 1400);
  assert.ok(await ping(ns1, a.Gateway), 'the gateway is reachable');
  assert.equal(
    await ping(ns2, a.IPAddress),
    false,
    'containers on an enable_icc=false network do not reach each other',
  );
  const rules = await iptablesBerth();
  assert.ok(rules.includes('-A BERTH-FORWARD -i berthtest1 -o berthtest1 -j DROP'), rules);
  assert.ok(!rules.includes(`-s ${rec.IPAM.Config[0].Subnet} ! -o berthtest1 -j MASQUERADE`), rules);
});
