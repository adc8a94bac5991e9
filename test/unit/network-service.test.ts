// Networks as dockerd has them: the predefined three, user bridge networks with
// subnets from the default pools, validation, persistence and removal. Needs root
// and a private network namespace (npm test provides one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../../guest-agent/errors.js';
import { NetworkService } from '../../guest-agent/network/network-service.js';
import { run } from '../../guest-agent/util/subprocess.js';
import {
  lockNetworkTests,
  unlockNetworkTests,
  defer,
  berthLinks,
  iptablesBerth,
  makeNetns,
  startService,
} from './network-fixtures.js';

const kind = (k: string, msg?: RegExp) => (err: unknown) =>
  err instanceof EngineError && err.kind === k && (!msg || msg.test(err.message));

async function addrOf(dev: string): Promise<string[]> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', dev]);
  const j = JSON.parse(r.stdout) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
  return j[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`);
}

before(lockNetworkTests);
after(unlockNetworkTests);

test('init makes the predefined bridge, host and none networks and the berth0 bridge', async (t) => {
  const { svc } = await startService(t);
  const names = svc
    .list()
    .map((n) => n.Name)
    .sort();
  assert.deepEqual(names, ['bridge', 'host', 'none']);
  const bridge = svc.get('bridge');
  assert.equal(bridge.Driver, 'bridge');
  assert.equal(bridge.bridgeName, 'berth0');
  assert.deepEqual(bridge.IPAM.Config, [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
  assert.equal(bridge.Options['com.docker.network.bridge.name'], 'berth0');
  assert.equal(svc.get('host').Driver, 'host');
  assert.equal(svc.get('none').Driver, 'null');
  assert.match(bridge.Id, /^[0-9a-f]{64}$/);
  assert.equal(svc.get(bridge.Id.slice(0, 12)).Name, 'bridge');
  assert.deepEqual(await addrOf('berth0'), ['172.17.0.1/16']);
  assert.equal((await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(), '1');
  assert.throws(() => svc.get('nope'), kind('not-found', /^network nope not found$/));
});

test('a custom bip moves the default bridge', async (t) => {
  const { svc } = await startService(t, { bip: '10.77.0.1/24' });
  assert.deepEqual(svc.get('bridge').IPAM.Config, [{ Subnet: '10.77.0.0/24', Gateway: '10.77.0.1' }]);
  assert.deepEqual(await addrOf('berth0'), ['10.77.0.1/24']);
  // The first user network then gets the first default pool.
  const n = await svc.create({ Name: 'n1' });
  defer(t, () => svc.remove('n1'));
  assert.equal(n.IPAM.Config[0].Subnet, '172.17.0.0/16');
  await assert.rejects(
    new NetworkService({ stateDir: '/tmp/x', bip: '10.0.0.0/24' }).init(),
    kind('invalid'),
  );
});

test('user networks get subnets from the default pools without collisions, and removal frees them', async (t) => {
  const { svc } = await startService(t);
  const a = await svc.create({ Name: 'a', Labels: { l: 'v' } });
  const b = await svc.create({ Name: 'b' });
  assert.deepEqual(a.IPAM.Config, [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }]);
  assert.deepEqual(b.IPAM.Config, [{ Subnet: '172.19.0.0/16', Gateway: '172.19.0.1' }]);
  assert.equal(a.bridgeName, `br-${a.Id.slice(0, 12)}`);
  assert.deepEqual(a.Labels, { l: 'v' });
  assert.deepEqual(await addrOf(a.bridgeName!), ['172.18.0.1/16']);
  // A given subnet that overlaps an existing network is refused as dockerd refuses it.
  await assert.rejects(
    svc.create({ Name: 'c', IPAM: { Config: [{ Subnet: '172.19.128.0/17' }] } }),
    kind('forbidden', /Pool overlaps with other one on this address space/),
  );
  const c = await svc.create({
    Name: 'c',
    IPAM: { Config: [{ Subnet: '172.20.0.0/24', Gateway: '172.20.0.254' }] },
  });
  assert.deepEqual(c.IPAM.Config, [{ Subnet: '172.20.0.0/24', Gateway: '172.20.0.254' }]);
  // The next automatic pick skips the one c overlaps.
  const d = await svc.create({ Name: 'd' });
  assert.equal(d.IPAM.Config[0].Subnet, '172.21.0.0/16');
  // Removing a frees 172.18/16 for the next network.
  await svc.remove('a');
  assert.equal(await fs.stat(path.join('/sys/class/net', a.bridgeName!)).catch(() => undefined), undefined);
  const e = await svc.create({ Name: 'e' });
  assert.equal(e.IPAM.Config[0].Subnet, '172.18.0.0/16');
  for (const n of ['b', 'c', 'd', 'e']) await svc.remove(n);
  assert.deepEqual(await berthLinks(), ['berth0']);
});

test('create refuses duplicates, predefined names, bad options and unsupported drivers', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'dup' });
  defer(t, () => svc.remove('dup'));
  await assert.rejects(svc.create({ Name: 'dup' }), kind('conflict', /network with name dup already exists/));
  await assert.rejects(svc.create({ Name: 'bridge' }), kind('forbidden', /pre-defined network/));
  await assert.rejects(svc.create({ Name: 'x', Driver: 'overlay' }), kind('not-implemented'));
  await assert.rejects(
    svc.create({ Name: 'x', Driver: 'weird' }),
    kind('not-found', /plugin "weird" not found/),
  );
  await assert.rejects(
    svc.create({ Name: 'x', IPAM: { Config: [{ Subnet: '10.1.2.3/16' }] } }),
    kind('invalid'),
  );
  await assert.rejects(
    svc.create({ Name: 'x', IPAM: { Config: [{ Subnet: '10.1.0.0/16', Gateway: '10.2.0.1' }] } }),
    kind('invalid', /invalid gateway 10\.2\.0\.1/),
  );
  await assert.rejects(
    svc.create({ Name: 'x', Options: { 'com.docker.network.bridge.enable_icc': 'maybe' } }),
    kind('invalid'),
  );
  // Nothing of the refused networks stays behind.
  assert.deepEqual(
    svc
      .list()
      .map((n) => n.Name)
      .sort(),
    ['bridge', 'dup', 'host', 'none'],
  );
  assert.equal((await berthLinks()).length, 2);
});

test('networks persist across a restart with the same IDs; predefined ones cannot be removed', async (t) => {
  const first = await startService(t);
  const made = await first.svc.create({ Name: 'keep', Internal: true });
  const bridgeId = first.svc.get('bridge').Id;
  await first.svc.shutdown();
  const second = new NetworkService({ stateDir: first.stateDir });
  defer(t, () => second.shutdown());
  await second.init();
  const again = second.get('keep');
  assert.deepEqual(again, made);
  assert.equal(second.get('bridge').Id, bridgeId);
  assert.equal(second.list().length, 4);
  for (const name of ['bridge', 'host', 'none'])
    await assert.rejects(second.remove(name), kind('forbidden', /pre-defined network and cannot be removed/));
  await second.remove(made.Id.slice(0, 10));
  assert.equal(existsSync(path.join(first.stateDir, `${made.Id}.json`)), false);
  assert.throws(() => second.get('keep'), kind('not-found'));
});

test('a network with endpoints cannot be removed until they go', async (t) => {
  const { svc } = await startService(t);
  const net = await svc.create({ Name: 'busy' });
  const ns = await makeNetns(t, 'c1');
  await svc.connect('c'.repeat(64), ns, 'busy', { containerName: 'web' });
  await assert.rejects(
    svc.remove('busy'),
    kind(
      'conflict',
      new RegExp(`error while removing network: network busy id ${net.Id} has active endpoints`),
    ),
  );
  await svc.releaseAll('c'.repeat(64));
  await svc.remove('busy');
  assert.equal(await iptablesBerth().then((d) => d.includes(net.bridgeName!)), false);
});
