// Published ports: the userland proxy for loopback and hairpin, kernel DNAT for
// the rest, UDP, random ports, dockerd's errors for taken ports with nothing
// left bound, the proxy-less mode, events, and recovery after a crash. Needs
// root and a private network namespace (npm test provides one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../../guest-agent/errors.js';
import type { PortEvent } from '../../guest-agent/network/network-types.js';
import { ephemeralRange } from '../../guest-agent/network/port-mapping.js';
import { run, spawnProcess } from '../../guest-agent/util/subprocess.js';
import {
  lockNetworkTests,
  unlockNetworkTests,
  berthLinks,
  defer,
  inNs,
  iptablesBerth,
  makeNetns,
  portBound,
  startServer,
  startService,
  tcpExchange,
  tempDir,
  udpExchange,
} from './network-fixtures.js';

const C1 = 'a'.repeat(64);
const C2 = 'b'.repeat(64);
const kind = (k: string, msg?: RegExp) => (err: unknown) =>
  err instanceof EngineError && err.kind === k && (!msg || msg.test(err.message));

/** Packets that went through Berth's DNAT rule for this host port. */
async function dnatPackets(hostPort: number): Promise<number> {
  const out = (await run('iptables', ['-w', '-t', 'nat', '-L', 'BERTH', '-n', '-v', '-x'])).stdout;
  const line = out.split('\n').find((l) => l.includes(`dpt:${hostPort} `) || l.endsWith(`dpt:${hostPort}`));
  return line ? Number(line.trim().split(/\s+/)[0]) : -1;
}

before(lockNetworkTests);
after(unlockNetworkTests);

test('a random loopback port reaches the container through the proxy, and unpublish closes it', async (t) => {
  const { svc } = await startService(t);
  const ns = await makeNetns(t, 'web');
  const ep = await svc.connect(C1, ns, 'bridge', { containerName: 'web' });
  defer(t, () => svc.releaseAll(C1));
  await startServer(t, ns, { tcpPort: 80, tag: 'web' });
  const events: PortEvent[] = [];
  const off = svc.onPortEvent((e) => events.push(e));
  defer(t, off);

  const ports = await svc.publish(
    C1,
    { ip: ep.IPAddress },
    { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
  );
  const bindings = ports['80/tcp'];
  assert.equal(bindings.length, 1);
  assert.equal(bindings[0].HostIp, '127.0.0.1');
  const port = Number(bindings[0].HostPort);
  const range = await ephemeralRange();
  assert.ok(port >= range.start && port <= range.end, `random port ${port} is in the ephemeral range`);
  assert.deepEqual(svc.portsOf(C1), ports);
  assert.deepEqual(events, [
    {
      action: 'publish',
      containerId: C1,
      proto: 'tcp',
      hostIp: '127.0.0.1',
      hostPort: port,
      containerPort: 80,
    },
  ]);

  // Through the proxy: a half-closed exchange keeps its data both ways.
  assert.equal(await tcpExchange('127.0.0.1', port, 'ping'), 'hello from web\nping');
  assert.ok(await portBound('tcp', port));

  await svc.unpublish(C1);
  assert.equal(await portBound('tcp', port), false);
  await assert.rejects(tcpExchange('127.0.0.1', port), /ECONNREFUSED/);
  assert.deepEqual(svc.portsOf(C1), {});
  assert.equal(events.at(-1)!.action, 'unpublish');
  assert.equal(await dnatPackets(port), -1, 'the DNAT rule went too');
});

test('an empty host IP binds 0.0.0.0 and ::; the kernel NATs the bridge address, the proxy serves loopback and hairpin', async (t) => {
  const { svc } = await startService(t);
  const ns = await makeNetns(t, 'srv');
  const nsOther = await makeNetns(t, 'cli');
  const ep = await svc.connect(C1, ns, 'bridge');
  await svc.connect(C2, nsOther, 'bridge');
  defer(t, () => Promise.all([svc.releaseAll(C1), svc.releaseAll(C2)]));
  await startServer(t, ns, { tcpPort: 8000, tag: 'srv' });

  const ports = await svc.publish(
    C1,
    { ip: ep.IPAddress },
    { '8000/tcp': [{ HostIp: '', HostPort: '18080' }] },
  );
  assert.deepEqual(ports, {
    '8000/tcp': [
      { HostIp: '0.0.0.0', HostPort: '18080' },
      { HostIp: '::', HostPort: '18080' },
    ],
  });
  assert.equal(await tcpExchange('127.0.0.1', 18080, 'a'), 'hello from srv\na');
  assert.equal(await tcpExchange('::1', 18080, 'b'), 'hello from srv\nb');
  assert.equal(await dnatPackets(18080), 0, 'loopback went through the proxy, not the DNAT rule');
  // The bridge's own address is local but not loopback: the DNAT rule takes it.
  assert.equal(await tcpExchange('172.17.0.1', 18080, 'c'), 'hello from srv\nc');
  assert.ok((await dnatPackets(18080)) > 0, 'the DNAT rule carried the connection');
  // Another container reaching the published port on the host (hairpin) goes through the proxy.
  const r = await inNs(nsOther, ['/bin/busybox', 'nc', '-w', '3', '172.17.0.1', '18080'], false, 'd');
  assert.equal(r.stdout, 'hello from srv\nd');
  // A second container cannot take the same host port.
  await assert.rejects(
    svc.publish(C2, { ip: '172.17.0.3' }, { '80/tcp': [{ HostIp: '', HostPort: '18080' }] }),
    kind('conflict', /Bind for 0\.0\.0\.0:18080 failed: port is already allocated/),
  );
});

test('UDP ports are published and answered through the proxy', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'dnsnet' });
  defer(t, () => svc.remove('dnsnet'));
  const ns = await makeNetns(t, 'dns');
  const ep = await svc.connect(C1, ns, 'dnsnet');
  defer(t, () => svc.releaseAll(C1));
  await startServer(t, ns, { udpPort: 53, tag: 'dns' });
  const ports = await svc.publish(
    C1,
    { ip: ep.IPAddress },
    { '53/udp': [{ HostIp: '127.0.0.1', HostPort: '0' }] },
  );
  const port = Number(ports['53/udp'][0].HostPort);
  assert.ok(port > 0);
  assert.equal(await udpExchange('127.0.0.1', port, 'hi'), 'dns:hi');
  assert.equal(await udpExchange('127.0.0.1', port, 'again'), 'dns:again');
  assert.ok(await portBound('udp', port));
  await svc.releaseAll(C1);
  assert.equal(await portBound('udp', port), false);
});

test('a taken port fails with dockerd’s message and leaves nothing bound', async (t) => {
  const { svc } = await startService(t);
  const ns1 = await makeNetns(t, 'one');
  const ns2 = await makeNetns(t, 'two');
  const ep1 = await svc.connect(C1, ns1, 'bridge', { containerName: 'one' });
  const ep2 = await svc.connect(C2, ns2, 'bridge', { containerName: 'two' });
  defer(t, () => Promise.all([svc.releaseAll(C1), svc.releaseAll(C2)]));
  await svc.publish(C1, { ip: ep1.IPAddress }, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18181' }] });
  const rulesBefore = await iptablesBerth();

  // Already allocated by Berth: the first binding of the request (18182) is undone too.
  await assert.rejects(
    svc.publish(
      C2,
      { ip: ep2.IPAddress },
      {
        '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '18182' }],
        '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18181' }],
      },
    ),
    kind(
      'conflict',
      /^driver failed programming external connectivity on endpoint two \([0-9a-f]{64}\): Bind for 127\.0\.0\.1:18181 failed: port is already allocated$/,
    ),
  );
  assert.equal(await portBound('tcp', 18182), false);
  assert.deepEqual(svc.portsOf(C2), {});

  // Held by another program: the kernel's answer, in dockerd's words.
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(18183, '127.0.0.1', resolve));
  defer(t, () => new Promise<void>((resolve) => squatter.close(() => resolve())));
  await assert.rejects(
    svc.publish(
      C2,
      { ip: ep2.IPAddress },
      { '53/udp': [{ HostIp: '', HostPort: '18184' }], '80/tcp': [{ HostIp: '', HostPort: '18183' }] },
    ),
    kind('conflict', /listen tcp4 0\.0\.0\.0:18183: bind: address already in use$/),
  );
  assert.equal(await portBound('udp', 18184), false);
  assert.deepEqual(svc.portsOf(C2), {});
  assert.equal(await iptablesBerth(), rulesBefore, 'no rule of the failed requests stays');

  // A range takes its first free port; a random port skips the taken ones.
  const ranged = await svc.publish(
    C2,
    { ip: ep2.IPAddress },
    { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18181-18185' }] },
  );
  assert.deepEqual(ranged, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18182' }] });
});

test('without the userland proxy the kernel NATs loopback too, and the port is still held', async (t) => {
  const { svc } = await startService(t, { userlandProxy: false });
  const ns = await makeNetns(t, 'np');
  const ep = await svc.connect(C1, ns, 'bridge');
  defer(t, () => svc.releaseAll(C1));
  await startServer(t, ns, { tcpPort: 80, udpPort: 53, tag: 'np' });
  const ports = await svc.publish(
    C1,
    { ip: ep.IPAddress },
    { '80/tcp': [{ HostIp: '', HostPort: '18280' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '18253' }] },
  );
  // No IPv6 binding: only the proxy could carry it to an IPv4-only container.
  assert.deepEqual(ports['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: '18280' }]);
  assert.equal((await fs.readFile('/proc/sys/net/ipv4/conf/berth0/route_localnet', 'utf8')).trim(), '1');
  assert.equal(await tcpExchange('127.0.0.1', 18280, 'x'), 'hello from np\nx');
  assert.ok((await dnatPackets(18280)) > 0, 'the kernel NAT carried the loopback connection');
  assert.equal(await udpExchange('127.0.0.1', 18253, 'u'), 'np:u');
  assert.ok(await portBound('tcp', 18280), 'the port is reserved against other programs');
  await assert.rejects(
    svc.publish(C1, { ip: ep.IPAddress }, { '81/tcp': [{ HostIp: '::1', HostPort: '18281' }] }),
    kind('invalid', /need the userland proxy/),
  );
  await svc.unpublish(C1);
  assert.equal(await portBound('tcp', 18280), false);
  assert.equal(await dnatPackets(18280), -1);
});

test('disconnecting a network drops the ports published on it; a container only on an internal network publishes none', async (t) => {
  const { svc } = await startService(t);
  await svc.create({ Name: 'int', Internal: true });
  defer(t, () => svc.remove('int'));
  const ns = await makeNetns(t, 'd');
  const nsI = await makeNetns(t, 'di');
  const ep = await svc.connect(C1, ns, 'bridge');
  const epI = await svc.connect(C2, nsI, 'int');
  defer(t, () => Promise.all([svc.releaseAll(C1), svc.releaseAll(C2)]));
  await svc.publish(C1, { ip: ep.IPAddress }, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18380' }] });
  assert.ok(await portBound('tcp', 18380));
  await svc.disconnect(C1, 'bridge');
  assert.equal(await portBound('tcp', 18380), false);
  assert.deepEqual(svc.portsOf(C1), {});
  assert.deepEqual(
    await svc.publish(C2, { ip: epI.IPAddress }, { '80/tcp': [{ HostIp: '', HostPort: '18381' }] }),
    {},
  );
  assert.equal(await portBound('tcp', 18381), false);
  await assert.rejects(
    svc.publish(C2, { ip: '10.1.1.1' }, {}),
    kind('invalid', /has no endpoint with address/),
  );
});

test('after a crash, init removes the stale veths and iptables rules and the ports are free again', async (t) => {
  const stateDir = await tempDir('net-state');
  const ns = await makeNetns(t, 'crash');
  const here = path.dirname(fileURLToPath(import.meta.url));
  const serviceModule = path.resolve(here, '../../guest-agent/network/network-service.ts');
  const script = `
    import { NetworkService } from ${JSON.stringify(serviceModule)};
    const svc = new NetworkService({ stateDir: ${JSON.stringify(stateDir)} });
    await svc.init();
    await svc.create({ Name: 'left' });
    const ep = await svc.connect('${C1}', ${JSON.stringify(ns)}, 'left');
    await svc.publish('${C1}', { ip: ep.IPAddress }, { '80/tcp': [{ HostIp: '', HostPort: '18480' }] });
    console.log('ready');
    setInterval(() => {}, 1000);
  `;
  const child = spawnProcess(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  defer(t, () => child.catch(() => undefined));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void child.then(() => reject(new Error(`the engine stand-in exited: ${err}`)));
  });
  process.kill(child.pid!, 'SIGKILL');
  await child.catch(() => undefined);
  assert.equal((await berthLinks()).filter((l) => l.startsWith('veth')).length, 1, 'the crash left a veth');
  assert.match(await iptablesBerth(), /--dport 18480 -j DNAT/);

  const { svc } = await startService(t, { stateDir });
  const left = svc.get('left');
  defer(t, () => svc.remove('left'));
  assert.deepEqual(
    (await berthLinks()).filter((l) => l.startsWith('veth')),
    [],
    'the stale veth is gone',
  );
  assert.doesNotMatch(await iptablesBerth(), /18480/);
  assert.match(
    await iptablesBerth(),
    new RegExp(`-s 172\\.18\\.0\\.0/16 ! -o ${left.bridgeName} -j MASQUERADE`),
  );
  // The address and the port are free for the next container.
  const ep = await svc.connect(C2, ns, 'left');
  defer(t, () => svc.releaseAll(C2));
  assert.equal(ep.IPAddress, '172.18.0.2');
  const ports = await svc.publish(
    C2,
    { ip: ep.IPAddress },
    { '80/tcp': [{ HostIp: '', HostPort: '18480' }] },
  );
  assert.equal(ports['80/tcp'][0].HostPort, '18480');
});

test('shutdown closes every proxy and leaves no Berth rule in iptables', async (t) => {
  const { svc } = await startService(t);
  const ns = await makeNetns(t, 's');
  const ep = await svc.connect(C1, ns, 'bridge');
  defer(t, () => svc.releaseAll(C1));
  await svc.publish(
    C1,
    { ip: ep.IPAddress },
    {
      '80/tcp': [{ HostIp: '', HostPort: '18580' }],
      '53/udp': [{ HostIp: '', HostPort: '18553' }],
    },
  );
  assert.ok(await portBound('tcp', 18580));
  await svc.shutdown();
  assert.equal(await portBound('tcp', 18580), false);
  assert.equal(await portBound('udp', 18553), false);
  const saved = (await run('iptables-save', [])).stdout;
  assert.doesNotMatch(saved, /BERTH/);
});
