// Address arithmetic, default pools, address pools, port specifications and the
// iptables rules rendered from a state. Pure functions: no root, no namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressPool,
  DEFAULT_POOLS,
  formatIPv4,
  macFromIPv4,
  normalizeMac,
  overlaps,
  parseIPv4,
  parseSubnet,
  pickSubnet,
  resolveUserConfig,
  subnetString,
} from '../../guest-agent/network/ipam.js';
import {
  PortTable,
  normalizeHostIp,
  parseHostPort,
  parsePortKey,
} from '../../guest-agent/network/port-mapping.js';
import { jumpRules, renderRules } from '../../guest-agent/network/iptables.js';
import { EngineError } from '../../guest-agent/errors.js';

const ip = (s: string) => parseIPv4(s)!;
const kind = (k: string) => (err: unknown) => err instanceof EngineError && err.kind === k;

test('IPv4 parsing and formatting round-trip, and reject malformed addresses', () => {
  assert.equal(formatIPv4(ip('172.17.0.1')), '172.17.0.1');
  assert.equal(formatIPv4(ip('255.255.255.255')), '255.255.255.255');
  for (const bad of ['1.2.3', '1.2.3.256', 'a.b.c.d', '1.2.3.4.5', ''])
    assert.equal(parseIPv4(bad), undefined, bad);
});

test('default pools are 172.17–31/16 then 192.168.x/20, and a pick skips used and overlapping subnets', () => {
  assert.equal(subnetString(DEFAULT_POOLS[0]), '172.17.0.0/16');
  assert.equal(subnetString(DEFAULT_POOLS[14]), '172.31.0.0/16');
  assert.equal(subnetString(DEFAULT_POOLS[15]), '192.168.0.0/20');
  assert.equal(subnetString(DEFAULT_POOLS[16]), '192.168.16.0/20');
  const used = [parseSubnet('172.17.0.0/16')!];
  assert.equal(subnetString(pickSubnet(used)!), '172.18.0.0/16');
  // A smaller network inside 172.18/16 makes the whole pool unusable.
  used.push(parseSubnet('172.18.5.0/24')!);
  assert.equal(subnetString(pickSubnet(used)!), '172.19.0.0/16');
  // 172.16.0.0/12 covers every 172 pool.
  assert.equal(subnetString(pickSubnet([parseSubnet('172.16.0.0/12')!])!), '192.168.0.0/20');
  assert.equal(pickSubnet([parseSubnet('172.16.0.0/12')!, parseSubnet('192.168.0.0/16')!]), undefined);
  assert.ok(overlaps(parseSubnet('10.0.0.0/8')!, parseSubnet('10.1.2.0/24')!));
  assert.ok(!overlaps(parseSubnet('10.0.0.0/16')!, parseSubnet('10.1.0.0/16')!));
});

test('user subnets and gateways are validated with messages that say what to give', () => {
  const ok = resolveUserConfig('10.5.0.0/16', undefined);
  assert.equal(subnetString(ok.subnet!), '10.5.0.0/16');
  assert.equal(formatIPv4(ok.gateway!), '10.5.0.1');
  assert.equal(formatIPv4(resolveUserConfig('10.5.0.0/16', '10.5.3.4').gateway!), '10.5.3.4');
  assert.throws(() => resolveUserConfig('10.5.1.0/16', undefined), /it should be 10\.5\.0\.0\/16/);
  assert.throws(() => resolveUserConfig('10.5.0.0/33', undefined), kind('invalid'));
  assert.throws(() => resolveUserConfig('banana', undefined), /invalid subnet banana/);
  assert.throws(
    () => resolveUserConfig('10.5.0.0/16', '10.6.0.1'),
    /must be a host address in subnet 10\.5\.0\.0\/16/,
  );
  assert.throws(() => resolveUserConfig('10.5.0.0/16', '10.5.255.255'), kind('invalid'));
  assert.throws(() => resolveUserConfig(undefined, '10.5.0.1'), /needs a subnet/);
  assert.throws(() => resolveUserConfig('fd00::/64', undefined), kind('not-implemented'));
});

test('an address pool hands out the lowest free address, skips the gateway, and reuses released ones', () => {
  const pool = new AddressPool(parseSubnet('10.9.0.0/29')!, ip('10.9.0.1'), 'n');
  const got = [pool.allocate(), pool.allocate(), pool.allocate()].map(formatIPv4);
  assert.deepEqual(got, ['10.9.0.2', '10.9.0.3', '10.9.0.4']);
  pool.release(ip('10.9.0.3'));
  assert.equal(formatIPv4(pool.allocate()), '10.9.0.3');
  assert.throws(() => pool.allocate(ip('10.9.0.4')), kind('conflict'));
  assert.throws(() => pool.allocate(ip('10.9.0.1')), /Address already in use/);
  assert.throws(() => pool.allocate(ip('10.9.1.5')), kind('invalid'));
  assert.throws(() => pool.allocate(ip('10.9.0.7')), kind('invalid')); // broadcast
  assert.equal(formatIPv4(pool.allocate(ip('10.9.0.6'))), '10.9.0.6');
  assert.equal(formatIPv4(pool.allocate()), '10.9.0.5');
  assert.throws(() => pool.allocate(), /no available IPv4 addresses on network n/);
});

test('MAC addresses: derived from the IP as dockerd does, and user MACs normalized', () => {
  assert.equal(macFromIPv4(ip('172.17.0.2')), '02:42:ac:11:00:02');
  assert.equal(normalizeMac('02-42-AC-11-00-09'), '02:42:ac:11:00:09');
  assert.equal(normalizeMac('01:00:5e:00:00:01'), undefined); // multicast
  assert.equal(normalizeMac('zz:00:00:00:00:00'), undefined);
});

test('port keys, host ports and host addresses are parsed as the API sends them', () => {
  assert.deepEqual(parsePortKey('80/tcp'), { containerPort: 80, proto: 'tcp' });
  assert.deepEqual(parsePortKey('53/UDP'), { containerPort: 53, proto: 'udp' });
  assert.deepEqual(parsePortKey('8080'), { containerPort: 8080, proto: 'tcp' });
  assert.throws(() => parsePortKey('80/sctp'), /invalid protocol "sctp"/);
  assert.throws(() => parsePortKey('0/tcp'), kind('invalid'));
  assert.throws(() => parsePortKey('70000/tcp'), kind('invalid'));
  assert.deepEqual(parseHostPort(''), { kind: 'random' });
  assert.deepEqual(parseHostPort('0'), { kind: 'random' });
  assert.deepEqual(parseHostPort('8080'), { kind: 'range', start: 8080, end: 8080 });
  assert.deepEqual(parseHostPort('8000-8010'), { kind: 'range', start: 8000, end: 8010 });
  assert.throws(() => parseHostPort('9-1'), kind('invalid'));
  assert.throws(() => parseHostPort('http'), kind('invalid'));
  assert.equal(normalizeHostIp(''), '');
  assert.equal(normalizeHostIp('[::1]'), '::1');
  assert.throws(() => normalizeHostIp('localhost'), /invalid host IP address/);
});

test('the port table treats a wildcard address as overlapping every address of its family', () => {
  const t = new PortTable();
  t.add('tcp', '0.0.0.0', 8080, 'a');
  assert.equal(t.ownerOf('tcp', '127.0.0.1', 8080), 'a');
  assert.equal(t.ownerOf('tcp', '0.0.0.0', 8080), 'a');
  assert.equal(t.ownerOf('udp', '127.0.0.1', 8080), undefined);
  assert.equal(t.ownerOf('tcp', '::', 8080), undefined);
  assert.equal(t.ownerOf('tcp', '127.0.0.1', 8081), undefined);
  t.add('tcp', '127.0.0.1', 9000, 'b');
  assert.equal(t.ownerOf('tcp', '0.0.0.0', 9000), 'b');
  assert.equal(t.ownerOf('tcp', '127.0.0.2', 9000), undefined);
  t.remove('tcp', '0.0.0.0', 8080);
  assert.equal(t.ownerOf('tcp', '127.0.0.1', 8080), undefined);
});

test('rendered rules: masquerade and isolation per network, DNAT per mapping, nothing outside Berth chains', () => {
  const state = {
    networks: [
      { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, masquerade: true, icc: true },
      { bridge: 'br-aaaaaaaaaaaa', subnet: '172.18.0.0/16', internal: true, masquerade: true, icc: true },
    ],
    mappings: [
      {
        proto: 'tcp' as const,
        hostIp: '0.0.0.0',
        hostPort: 8080,
        containerIp: '172.17.0.2',
        containerPort: 80,
        bridge: 'berth0',
      },
    ],
  };
  const withProxy = renderRules(state, true);
  const lines = withProxy.split('\n');
  assert.ok(lines.includes('-A BERTH-POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE'));
  // An internal network is never masqueraded, and cannot leave its subnet.
  assert.ok(!withProxy.includes('-s 172.18.0.0/16 ! -o br-aaaaaaaaaaaa -j MASQUERADE'));
  assert.ok(lines.includes('-A BERTH-ISOLATION-STAGE-1 -i br-aaaaaaaaaaaa ! -d 172.18.0.0/16 -j DROP'));
  assert.ok(
    lines.includes('-A BERTH ! -i berth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80'),
  );
  assert.ok(
    lines.includes('-A BERTH -d 172.17.0.2/32 ! -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT'),
  );
  for (const l of lines.filter((x) => x.startsWith('-A '))) assert.match(l, /^-A BERTH/);
  // Without the proxy the kernel also NATs loopback and hairpin traffic.
  const noProxy = renderRules(state, false);
  assert.ok(noProxy.includes('-A BERTH -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80'));
  assert.ok(noProxy.includes('-A BERTH-POSTROUTING -o berth0 -m addrtype --src-type LOCAL -j MASQUERADE'));
  const outputJump = (p: boolean) =>
    jumpRules(p)
      .find((j) => j.chain === 'OUTPUT')!
      .args.join(' ');
  assert.equal(outputJump(true), '! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH');
  assert.equal(outputJump(false), '-m addrtype --dst-type LOCAL -j BERTH');
});

test('rendered rules: on the forward interface a port published on one address is reached at any', () => {
  const mapping = (hostIp: string, hostPort: number, containerIp: string) => ({
    proto: 'tcp' as const,
    hostIp,
    hostPort,
    containerIp,
    containerPort: 80,
    bridge: 'berth0',
  });
  const state = {
    networks: [],
    mappings: [mapping('127.0.0.1', 8080, '172.17.0.2'), mapping('0.0.0.0', 8081, '172.17.0.3')],
  };
  const lines = renderRules(state, true, 'eth0').split('\n');
  assert.ok(
    lines.includes('-A BERTH -i eth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80'),
  );
  // 0.0.0.0's own rule already takes every interface.
  assert.ok(!lines.some((l) => l.includes('-i eth0') && l.includes('--dport 8081')));
  // After the publications' own rules: they keep their addresses everywhere else.
  const own = lines.indexOf(
    '-A BERTH -d 127.0.0.1/32 ! -i berth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80',
  );
  assert.ok(own >= 0 && own < lines.findIndex((l) => l.includes('-i eth0')));
  assert.ok(!renderRules(state, true).includes('eth0'), 'nothing without the option');
});
