// The embedded DNS server: what it answers itself (names, aliases, short IDs,
// name.network, PTR; NXDOMAIN for names it owns), forwarding to upstream
// resolvers over UDP and TCP, silence towards strangers, and, with the network
// service, the listener on a user network's gateway reached from container
// namespaces through the DNAT rule. Sockets are on loopback or the test's own
// bridges only; the service tests need the private namespace npm test makes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import dnsPacket from 'dns-packet';
import {
  EmbeddedDns,
  answerLocally,
  nameserversOf,
  type DnsClient,
} from '../../guest-agent/network/embedded-dns.js';
import { hostsFile, resolvConf } from '../../guest-agent/network/etc-files.js';
import { renderRules } from '../../guest-agent/network/iptables.js';
import { queryDns, startFakeDns } from '../helpers/fake-dns.js';
import {
  lockNetworkTests,
  unlockNetworkTests,
  defer,
  inNs,
  iptablesBerth,
  makeNetns,
  startService,
} from './network-fixtures.js';

const C1 = '1'.repeat(64);
const C2 = '2'.repeat(64);
const C3 = '3'.repeat(64);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const client = (over: Partial<DnsClient> = {}): DnsClient => ({
  networks: [
    {
      name: 'appnet',
      subnet: '172.18.0.0/16',
      endpoints: [
        { ip: '172.18.0.2', containerName: 'db', names: ['db', 'database', '111111111111'] },
        { ip: '172.18.0.3', containerName: 'api', names: ['api', 'shared'] },
        { ip: '172.18.0.4', containerName: 'api2', names: ['api2', 'shared'] },
      ],
    },
    {
      name: 'Backend',
      subnet: '10.9.0.0/24',
      endpoints: [{ ip: '10.9.0.2', containerName: 'cache', names: ['cache', 'db'] }],
    },
  ],
  external: true,
  ...over,
});

test('answers container names, aliases, short IDs and name.network itself', () => {
  const a = (name: string, type: 'A' | 'AAAA' | 'MX' = 'A') => answerLocally({ name, type }, client());
  assert.deepEqual(a('db'), {
    rcode: 'NOERROR',
    answers: [{ type: 'A', name: 'db', ttl: 600, class: 'IN', data: '172.18.0.2' }],
  });
  assert.equal(a('DATABASE.')?.answers[0].type, 'A');
  assert.deepEqual(
    a('database')?.answers.map((x) => 'data' in x && x.data),
    ['172.18.0.2'],
  );
  assert.deepEqual(
    a('111111111111')?.answers.map((x) => 'data' in x && x.data),
    ['172.18.0.2'],
  );
  // An alias several containers share gives all their addresses.
  assert.deepEqual(
    a('shared')?.answers.map((x) => 'data' in x && x.data),
    ['172.18.0.3', '172.18.0.4'],
  );
  // The network the query came in on (listed first) wins over the others.
  assert.deepEqual(
    a('db')?.answers.map((x) => 'data' in x && x.data),
    ['172.18.0.2'],
  );
  assert.deepEqual(
    a('cache')?.answers.map((x) => 'data' in x && x.data),
    ['10.9.0.2'],
  );
  assert.deepEqual(
    a('db.backend')?.answers.map((x) => 'data' in x && x.data),
    ['10.9.0.2'],
  );
  assert.deepEqual(
    a('api.appnet.')?.answers.map((x) => 'data' in x && x.data),
    ['172.18.0.3'],
  );
  // The name exists but has no IPv6 address (nor MX): an empty NOERROR, not NXDOMAIN.
  assert.deepEqual(a('db', 'AAAA'), { rcode: 'NOERROR', answers: [] });
  assert.deepEqual(a('db', 'MX'), { rcode: 'NOERROR', answers: [] });
});

test('says NXDOMAIN for the names it owns and leaves the rest to the upstream resolvers', () => {
  const a = (name: string, type: 'A' | 'AAAA' | 'MX' = 'A') => answerLocally({ name, type }, client());
  assert.deepEqual(a('nobody'), { rcode: 'NXDOMAIN', answers: [] });
  assert.deepEqual(a('nobody', 'AAAA'), { rcode: 'NXDOMAIN', answers: [] });
  assert.deepEqual(a('nobody.appnet'), { rcode: 'NXDOMAIN', answers: [] });
  assert.deepEqual(a('x.backend', 'MX'), { rcode: 'NXDOMAIN', answers: [] });
  assert.equal(a('example.com'), undefined);
  assert.equal(a('db.example.com'), undefined);
  assert.equal(a('com', 'MX'), undefined, 'only address queries for single labels are owned');
  assert.equal(answerLocally({ name: 'db', type: 'A', class: 'CH' }, client()), undefined);
});

test('answers PTR for container addresses as name.network, NXDOMAIN inside its subnets, forwards the rest', () => {
  const ptr = (name: string) => answerLocally({ name, type: 'PTR' }, client());
  assert.deepEqual(ptr('3.0.18.172.in-addr.arpa'), {
    rcode: 'NOERROR',
    answers: [{ type: 'PTR', name: '3.0.18.172.in-addr.arpa', ttl: 600, class: 'IN', data: 'api.appnet' }],
  });
  assert.deepEqual(
    ptr('2.0.9.10.in-addr.arpa.')?.answers.map((x) => 'data' in x && x.data),
    ['cache.Backend'],
  );
  assert.deepEqual(ptr('99.0.18.172.in-addr.arpa'), { rcode: 'NXDOMAIN', answers: [] });
  assert.equal(ptr('1.0.0.127.in-addr.arpa'), undefined);
  assert.equal(ptr('not.an.address.in-addr.arpa'), undefined);
});

test('reads nameservers from resolv.conf text', () => {
  assert.deepEqual(
    nameserversOf(
      '# c\nsearch example.com\nnameserver 127.0.0.53\n  nameserver   10.0.0.1 \nnameserver bogus\nnameserver ::1\n',
    ),
    [
      { address: '127.0.0.53', port: 53 },
      { address: '10.0.0.1', port: 53 },
      { address: '::1', port: 53 },
    ],
  );
});

test('resolv.conf names the embedded DNS alone, keeps search and options, adds ndots:0; host-gateway in /etc/hosts', () => {
  const host = 'nameserver 10.0.0.1\nsearch corp.example\noptions edns0\n';
  const base = { hostname: 'c', hostNetwork: false };
  assert.equal(
    resolvConf({ ...base, embeddedDns: '172.18.0.1', dns: ['9.9.9.9'] }, host),
    'search corp.example\noptions edns0\nnameserver 172.18.0.1\noptions ndots:0\n',
  );
  assert.equal(
    resolvConf({ ...base, embeddedDns: '172.18.0.1', dnsOptions: ['ndots:2'], dnsSearch: ['a.b'] }, host),
    'nameserver 172.18.0.1\nsearch a.b\noptions ndots:2\n',
  );
  // Without the embedded DNS (default bridge) nothing changes: --dns servers are written as they are.
  assert.equal(
    resolvConf({ ...base, dns: ['9.9.9.9'] }, host),
    'search corp.example\noptions edns0\nnameserver 9.9.9.9\n',
  );
  const hosts = hostsFile(
    {
      ...base,
      extraHosts: ['gw:host-gateway', 'other=host-gateway', 'plain:1.2.3.4'],
      hostGatewayIp: '172.17.0.1',
    },
    '',
  );
  assert.match(hosts, /^172\.17\.0\.1\tgw$/m);
  assert.match(hosts, /^172\.17\.0\.1\tother$/m);
  assert.match(hosts, /^1\.2\.3\.4\tplain$/m);
});

test('the DNAT rule for <gateway>:53 comes before the published ports', () => {
  const rules = renderRules(
    {
      networks: [
        {
          bridge: 'br-aaaaaaaaaaaa',
          subnet: '172.18.0.0/16',
          internal: true,
          masquerade: true,
          icc: true,
          dns: { gateway: '172.18.0.1', port: 40123 },
        },
      ],
      mappings: [
        {
          proto: 'udp',
          hostIp: '0.0.0.0',
          hostPort: 53,
          containerIp: '172.18.0.5',
          containerPort: 53,
          bridge: 'br-aaaaaaaaaaaa',
        },
      ],
    },
    false,
  ).split('\n');
  const dnat = (p: string) =>
    `-A BERTH -d 172.18.0.1/32 -i br-aaaaaaaaaaaa -p ${p} -m ${p} --dport 53 -j DNAT --to-destination 172.18.0.1:40123`;
  const udp = rules.indexOf(dnat('udp'));
  assert.ok(udp >= 0 && rules.includes(dnat('tcp')), rules.join('\n'));
  assert.ok(udp < rules.findIndex((l) => l.includes('--to-destination 172.18.0.5:53')));
});

// ---- the server on loopback, with a fake upstream ------------------------------

async function startServer(
  t: import('node:test').TestContext,
  clients: Record<string, DnsClient>,
  upstreamPort?: number,
) {
  const dns = new EmbeddedDns({
    clientOf: (key, ip) => (ip === '127.0.0.1' ? clients[key] : undefined),
    upstreams: upstreamPort ? [{ address: '127.0.0.1', port: upstreamPort }] : [],
    upstreamTimeoutMs: 1000,
  });
  defer(t, () => dns.closeAll());
  const ports: Record<string, number> = {};
  for (const key of Object.keys(clients)) ports[key] = await dns.listen(key, '127.0.0.1', 0);
  return { dns, ports };
}

test('serves its own names over UDP and TCP and forwards the others to the upstream, both ways', async (t) => {
  const upstream = await startFakeDns({ address: '127.0.0.1', records: { 'outside.example': '192.0.2.7' } });
  defer(t, () => upstream.close());
  const { ports } = await startServer(t, { net1: client() }, upstream.port);
  const at = { address: '127.0.0.1', port: ports.net1 };
  for (const transport of ['udp', 'tcp'] as const) {
    const own = await queryDns(at, 'database', 'A', transport);
    assert.equal(own.rcode, 'NOERROR');
    assert.equal(own.flag_aa, true);
    assert.equal(own.flag_rd, true, 'RD is echoed');
    assert.deepEqual(
      own.answers?.map((a) => 'data' in a && a.data),
      ['172.18.0.2'],
    );
    assert.equal((await queryDns(at, 'nobody', 'A', transport)).rcode, 'NXDOMAIN');
    const ptr = await queryDns(at, '2.0.18.172.in-addr.arpa', 'PTR', transport);
    assert.deepEqual(
      ptr.answers?.map((a) => 'data' in a && a.data),
      ['db.appnet'],
    );

    const fwd = await queryDns(at, 'outside.example', 'A', transport);
    assert.equal(fwd.rcode, 'NOERROR');
    assert.deepEqual(
      fwd.answers?.map((a) => 'data' in a && a.data),
      ['192.0.2.7'],
    );
    assert.equal((await queryDns(at, 'missing.example', 'A', transport)).rcode, 'NXDOMAIN');
  }
  assert.deepEqual(upstream.heard, [
    'udp:outside.example',
    'udp:missing.example',
    'tcp:outside.example',
    'tcp:missing.example',
  ]);
});

test('a truncated upstream answer over UDP is passed on, and the client gets the full one over TCP', async (t) => {
  const upstream = await startFakeDns({
    address: '127.0.0.1',
    records: { 'big.example': '192.0.2.9' },
    truncateUdp: true,
  });
  defer(t, () => upstream.close());
  const { ports } = await startServer(t, { n: client() }, upstream.port);
  const at = { address: '127.0.0.1', port: ports.n };
  const udp = await queryDns(at, 'big.example', 'A', 'udp');
  assert.equal(udp.flag_tc, true);
  const tcp = await queryDns(at, 'big.example', 'A', 'tcp');
  assert.deepEqual(
    tcp.answers?.map((a) => 'data' in a && a.data),
    ['192.0.2.9'],
  );
});

test('too many addresses for one UDP answer: truncated over UDP, whole over TCP', async (t) => {
  const many = Array.from({ length: 60 }, (_, i) => ({
    ip: `172.18.1.${i + 1}`,
    containerName: `w${i}`,
    names: [`w${i}`, 'workers'],
  }));
  const { ports } = await startServer(t, {
    n: { networks: [{ name: 'appnet', subnet: '172.18.0.0/16', endpoints: many }], external: true },
  });
  const at = { address: '127.0.0.1', port: ports.n };
  const udp = await queryDns(at, 'workers', 'A', 'udp');
  assert.equal(udp.flag_tc, true);
  assert.equal(udp.answers?.length, 0);
  const tcp = await queryDns(at, 'workers', 'A', 'tcp');
  assert.equal(tcp.answers?.length, 60);
});

test('the container’s own --dns servers win; internal-only containers are not forwarded; a dead upstream is SERVFAIL', async (t) => {
  const engineWide = await startFakeDns({ address: '127.0.0.1', records: { 'x.example': '192.0.2.1' } });
  const ownDns = await startFakeDns({ address: '127.0.0.1', records: { 'x.example': '192.0.2.2' } });
  defer(t, () => Promise.all([engineWide.close(), ownDns.close()]));
  const { ports } = await startServer(
    t,
    {
      own: client({ upstreams: [{ address: '127.0.0.1', port: ownDns.port }] }),
      internal: client({ external: false }),
      dead: client({ upstreams: [{ address: '127.0.0.1', port: 9 }] }),
    },
    engineWide.port,
  );
  const own = await queryDns({ address: '127.0.0.1', port: ports.own }, 'x.example');
  assert.deepEqual(
    own.answers?.map((a) => 'data' in a && a.data),
    ['192.0.2.2'],
  );
  const internal = { address: '127.0.0.1', port: ports.internal };
  assert.equal((await queryDns(internal, 'x.example')).rcode, 'SERVFAIL');
  assert.equal((await queryDns(internal, 'db')).rcode, 'NOERROR', 'its own names still resolve');
  assert.equal(
    (await queryDns({ address: '127.0.0.1', port: ports.dead }, 'x.example', 'A', 'tcp')).rcode,
    'SERVFAIL',
  );
  assert.deepEqual(engineWide.heard, [], 'the engine-wide resolvers were not asked');
});

test('a query from an address that is no container gets no answer at all', async (t) => {
  const { dns } = await startServer(t, { n: client() });
  // A listener whose network has no container at 127.0.0.1.
  const port = await dns.listen('stranger', '127.0.0.1', 0);
  await assert.rejects(queryDns({ address: '127.0.0.1', port }, 'db', 'A', 'udp', 300), /no DNS answer/);
  await assert.rejects(queryDns({ address: '127.0.0.1', port }, 'db', 'A', 'tcp', 300));
  const msg = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'db' }] });
  assert.equal(await dns.answer('n', '10.1.1.1', msg, 'udp'), undefined);
  assert.ok(await dns.answer('n', '127.0.0.1', msg, 'udp'), 'the container itself is answered');
  assert.equal(await dns.answer('n', '127.0.0.1', Buffer.from('garbage'), 'udp'), undefined);
});

// ---- with the network service: the gateway listener seen from container namespaces ----

/** One query from inside `ns` (a container's namespace), the way a container would send it. */
async function queryFromNs(
  ns: string,
  server: string,
  name: string,
  transport: 'udp' | 'tcp',
  timeoutMs = 3000,
) {
  const helper = pathToFileURL(path.join(repoRoot, 'test/helpers/fake-dns.ts')).href;
  const script =
    `import { queryDns } from ${JSON.stringify(helper)};` +
    `const r = await queryDns({ address: ${JSON.stringify(server)}, port: 53 }, ${JSON.stringify(name)}, 'A', ${JSON.stringify(transport)}, ${timeoutMs});` +
    `console.log(JSON.stringify({ rcode: r.rcode, answers: (r.answers ?? []).map((a) => a.data) }));`;
  const r = await inNs(ns, [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], true);
  if (r.exitCode !== 0) return { rcode: 'ERROR', answers: [] as string[], error: r.stderr };
  return JSON.parse(r.stdout) as { rcode: string; answers: string[] };
}

before(lockNetworkTests);
after(unlockNetworkTests);

test('the service listens on each user network’s gateway (not the default bridge) and containers reach it on port 53', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'dnsnet', IPAM: { Config: [{ Subnet: '10.77.0.0/24' }] } });
  await svc.create({ Name: 'walled', Internal: true, IPAM: { Config: [{ Subnet: '10.78.0.0/24' }] } });
  await svc.create({ Name: 'elsewhere', IPAM: { Config: [{ Subnet: '10.79.0.0/24' }] } });
  defer(t, () => Promise.all(['dnsnet', 'walled', 'elsewhere'].map((n) => svc.remove(n))));
  const [ns1, ns2, ns3] = await Promise.all([makeNetns(t, 'd1'), makeNetns(t, 'd2'), makeNetns(t, 'd3')]);
  defer(t, () => Promise.all([C1, C2, C3].map((c) => svc.releaseAll(c))));
  await svc.connect(C1, ns1, 'dnsnet', { containerName: 'alpha', aliases: ['db'] });
  await svc.connect(C2, ns2, 'dnsnet', { containerName: 'beta' });
  await svc.connect(C2, ns2, 'walled', { containerName: 'beta', aliases: ['quiet'] });
  await svc.connect(C3, ns3, 'elsewhere', { containerName: 'gamma' });
  await svc.connect(C3, ns3, 'bridge', { containerName: 'gamma' });

  // resolv.conf names 127.0.0.11, as with dockerd; the container's namespace sends it to its network's gateway.
  assert.equal(svc.embeddedDnsAddress(C1), '127.0.0.11');
  assert.equal(svc.embeddedDnsAddress(C3), '127.0.0.11');
  await svc.syncDnsRedirect(C1);
  await svc.syncDnsRedirect(C3);
  for (const transport of ['udp', 'tcp'] as const) {
    assert.deepEqual(await queryFromNs(ns1, '127.0.0.11', 'beta', transport), {
      rcode: 'NOERROR',
      answers: ['10.77.0.3'],
    });
  }
  assert.deepEqual(await queryFromNs(ns3, '127.0.0.11', 'gamma', 'udp'), {
    rcode: 'NOERROR',
    answers: ['10.79.0.2'],
  });
  assert.equal(svc.hostGatewayIp(), '172.17.0.1');
  const rules = await iptablesBerth();
  assert.match(
    rules,
    /-A BERTH -d 10\.77\.0\.1\/32 -i br-\w+ -p udp -m udp --dport 53 -j DNAT --to-destination 10\.77\.0\.1:\d+/,
  );

  for (const transport of ['udp', 'tcp'] as const) {
    assert.deepEqual(await queryFromNs(ns2, '10.77.0.1', 'alpha', transport), {
      rcode: 'NOERROR',
      answers: ['10.77.0.2'],
    });
    assert.deepEqual(await queryFromNs(ns2, '10.77.0.1', 'db', transport), {
      rcode: 'NOERROR',
      answers: ['10.77.0.2'],
    });
    // gamma is on another network: not resolved for beta.
    assert.equal((await queryFromNs(ns2, '10.77.0.1', 'gamma', transport)).rcode, 'NXDOMAIN');
  }
  // beta's names on its internal network resolve, through that network's own gateway too.
  assert.deepEqual(await queryFromNs(ns2, '10.78.0.1', 'quiet', 'udp'), {
    rcode: 'NOERROR',
    answers: ['10.78.0.2'],
  });
  assert.deepEqual(await queryFromNs(ns2, '10.78.0.1', 'alpha', 'udp'), {
    rcode: 'NOERROR',
    answers: ['10.77.0.2'],
  });
  // The default bridge has no DNS: gamma's query to its gateway goes nowhere.
  assert.equal((await queryFromNs(ns3, '172.17.0.1', 'gamma', 'udp', 500)).rcode, 'ERROR');
  // A namespace asking another network's gateway is not that network's container: no answer.
  assert.equal((await queryFromNs(ns3, '10.77.0.1', 'alpha', 'udp', 500)).rcode, 'ERROR');

  await svc.releaseAll(C1);
  assert.equal(
    (await queryFromNs(ns2, '10.77.0.1', 'alpha', 'udp')).rcode,
    'NXDOMAIN',
    'gone with its endpoint',
  );
});

test('the listener goes with its network', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'shortlived' });
  const ns = await makeNetns(t, 's1');
  await svc.connect(C1, ns, 'shortlived', { containerName: 'one' });
  await svc.releaseAll(C1);
  await svc.remove('shortlived');
  assert.doesNotMatch(await iptablesBerth(), /--dport 53/);
  assert.equal(svc.embeddedDnsAddress(C1), undefined);
});
