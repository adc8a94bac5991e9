// Name resolution between containers through the engine's embedded DNS, with the
// docker CLI as client: names and aliases on a user network, isolation between
// networks, no names on the default bridge, forwarding of other names, and
// --add-host host-gateway. The "outside" resolvers are tiny fake servers on this
// test's own loopback (127.0.0.153 and .154): no query leaves the test's netns.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { run } from '../../guest-agent/util/subprocess.js';

const UPSTREAM = '127.0.0.153';
const OWN_UPSTREAM = '127.0.0.154';
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HTTPD = ['sh', '-c', 'echo hello-from-alpha > /index.html; exec httpd -f -p 80 -h /'];

describe('embedded DNS', () => {
  const fakes: FakeDns[] = [];
  before(async () => {
    fakes.push(
      await startFakeDns({ address: UPSTREAM, port: 53, records: { 'outside.test': '192.0.2.10' } }),
      await startFakeDns({ address: OWN_UPSTREAM, port: 53, records: { 'outside.test': '192.0.2.20' } }),
    );
  });
  after(() => Promise.all(fakes.map((f) => f.close())));
  const engine = useEngineWithBusybox({ extraArgs: ['--dns', UPSTREAM] });
  const d = (...args: string[]) => docker(engine(), args, { timeoutMs: 30_000 });
  const ok = async (...args: string[]) => {
    const r = await d(...args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** busybox nslookup's addresses for `name` (empty when it is not found). */
  const lookup = async (container: string, name: string): Promise<string[]> => {
    const r = await d('exec', container, 'nslookup', '-type=a', name);
    return [...r.stdout.matchAll(/^Address:\s*([\d.]+)$/gm)].map((m) => m[1]);
  };

  it('resolves container names and aliases on a user network, and keeps other networks and the default bridge out', async () => {
    await ok('network', 'create', 'dnsnet');
    await ok('network', 'create', 'othernet');
    const alpha = await ok(
      'run',
      '-d',
      '--network',
      'dnsnet',
      '--name',
      'alpha',
      '--network-alias',
      'db',
      'busybox',
      ...HTTPD,
    );
    const beta = await ok('run', '-d', '--network', 'dnsnet', '--name', 'beta', 'busybox', 'sleep', '300');
    const gamma = await ok(
      'run',
      '-d',
      '--network',
      'othernet',
      '--name',
      'gamma',
      'busybox',
      'sleep',
      '300',
    );
    const plain = await ok('run', '-d', '--name', 'plain', 'busybox', 'sleep', '300');
    const plain2 = await ok('run', '-d', '--name', 'plain2', 'busybox', 'sleep', '300');
    const ipAlpha = await ok('inspect', '-f', '{{.NetworkSettings.Networks.dnsnet.IPAddress}}', alpha);

    // As with dockerd: 127.0.0.11 (redirected inside the container to the network's embedded DNS).
    const resolv = await ok('exec', beta, 'cat', '/etc/resolv.conf');
    assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
    assert.equal(resolv.match(/^nameserver/gm)?.length, 1, resolv);
    assert.match(resolv, /^options ndots:0$/m);

    assert.deepEqual(await lookup(beta, 'alpha'), [ipAlpha]);
    assert.deepEqual(await lookup(beta, 'db'), [ipAlpha], 'the network alias');
    assert.deepEqual(await lookup(beta, alpha.slice(0, 12)), [ipAlpha], 'the short ID');
    assert.deepEqual(await lookup(beta, 'alpha.dnsnet'), [ipAlpha], 'name.network');
    assert.equal(
      (await d('exec', beta, 'timeout', '10', 'ping', '-c', '1', '-W', '2', 'db')).code,
      0,
      'ping by alias',
    );
    // httpd may still be starting: wget until it answers. (No -T: Debian's static busybox wget crashes with it.)
    const page = await eventually(
      async () => (await d('exec', beta, 'wget', '-q', '-O', '-', 'http://alpha/index.html')).stdout,
      10_000,
      'httpd in alpha, reached by name',
    );
    assert.equal(page, 'hello-from-alpha\n');
    const missing = await d('exec', beta, 'nslookup', 'nobody-here');
    assert.match(missing.stdout + missing.stderr, /NXDOMAIN/);

    // Another network's container does not see dnsnet's names.
    assert.deepEqual(await lookup(gamma, 'alpha'), []);
    assert.notEqual((await d('exec', gamma, 'timeout', '10', 'ping', '-c', '1', '-W', '1', 'alpha')).code, 0);
    // The default bridge has no name resolution, as with dockerd.
    assert.doesNotMatch(await ok('exec', plain, 'cat', '/etc/resolv.conf'), /^nameserver 172\.17\.0\.1$/m);
    // Nothing answers DNS on its gateway (asked directly: the host's resolvers are none of this test's business).
    const ipPlain2 = await ok('inspect', '-f', '{{.NetworkSettings.IPAddress}}', plain2);
    const asked = await d('exec', plain, 'timeout', '2', 'nslookup', '-type=a', 'plain2', '172.17.0.1');
    assert.notEqual(asked.code, 0);
    assert.doesNotMatch(asked.stdout, new RegExp(ipPlain2.replace(/\./g, '\\.')));

    // docker network connect --alias: the new names resolve at once, on that network only.
    await ok('network', 'connect', '--alias', 'cache', 'dnsnet', gamma);
    const ipGamma = await ok('inspect', '-f', '{{.NetworkSettings.Networks.dnsnet.IPAddress}}', gamma);
    assert.deepEqual(await lookup(beta, 'cache'), [ipGamma]);
    assert.deepEqual(await lookup(beta, 'gamma'), [ipGamma]);
    await ok('network', 'disconnect', 'dnsnet', gamma);
    assert.deepEqual(await lookup(beta, 'cache'), []);

    // A container sharing beta's network namespace shares its hostname, resolver and names, as with dockerd.
    const joined = await d(
      'run',
      '--rm',
      '--network',
      `container:${beta}`,
      'busybox',
      'sh',
      '-c',
      'hostname; cat /etc/resolv.conf; nslookup -type=a db',
    );
    assert.equal(joined.code, 0, joined.stderr);
    assert.equal(joined.stdout.split('\n')[0], beta.slice(0, 12));
    assert.match(joined.stdout, /^nameserver 127\.0\.0\.11$/m);
    assert.match(joined.stdout, new RegExp(`^Address:\\s*${ipAlpha.replace(/\./g, '\\.')}$`, 'm'));

    // A default-bridge container connected to a user network gets its resolver, as with dockerd…
    const gw = /^nameserver 127\.0\.0\.11$/m;
    await ok('network', 'connect', 'dnsnet', plain);
    assert.match(await ok('exec', plain, 'cat', '/etc/resolv.conf'), gw);
    assert.deepEqual(await lookup(plain, 'alpha'), [ipAlpha]);
    // …and gives it back when it leaves.
    await ok('network', 'disconnect', 'dnsnet', plain);
    assert.doesNotMatch(await ok('exec', plain, 'cat', '/etc/resolv.conf'), gw);

    await ok('rm', '-f', alpha, beta, gamma, plain, plain2);
    await ok('network', 'rm', 'dnsnet', 'othernet');
  });

  it('forwards other names to the upstream resolvers over UDP and TCP; a container’s --dns wins', async () => {
    await ok('network', 'create', 'fwdnet');
    const c = await ok('run', '-d', '--network', 'fwdnet', '--name', 'asker', 'busybox', 'sleep', '300');
    const own = await ok(
      'run',
      '-d',
      '--network',
      'fwdnet',
      '--dns',
      OWN_UPSTREAM,
      'busybox',
      'sleep',
      '300',
    );
    assert.deepEqual(await lookup(c, 'outside.test'), ['192.0.2.10']);
    assert.ok(fakes[0].heard.includes('udp:outside.test'));
    // --dns given to the container: resolv.conf still names the embedded DNS, which forwards there.
    const resolv = await ok('exec', own, 'cat', '/etc/resolv.conf');
    assert.doesNotMatch(resolv, new RegExp(OWN_UPSTREAM.replace(/\./g, '\\.')));
    assert.deepEqual(await lookup(own, 'outside.test'), ['192.0.2.20']);
    assert.deepEqual(await lookup(own, 'asker'), [
      await ok('inspect', '-f', '{{.NetworkSettings.Networks.fwdnet.IPAddress}}', c),
    ]);

    // busybox has no TCP DNS client: one is run in the container's network namespace, asking 127.0.0.11.
    const pid = await ok('inspect', '-f', '{{.State.Pid}}', c);
    const helper = pathToFileURL(path.join(repoRoot, 'test/helpers/fake-dns.ts')).href;
    const script =
      `import { queryDns } from ${JSON.stringify(helper)};` +
      `for (const n of ['asker', 'outside.test']) {` +
      `const r = await queryDns({ address: '127.0.0.11', port: 53 }, n, 'A', 'tcp');` +
      `console.log(n, r.rcode, (r.answers ?? []).map((a) => a.data).join(',')); }`;
    const tcp = await run(
      'nsenter',
      [`--net=/proc/${pid}/ns/net`, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { allowFailure: true, timeoutMs: 20_000 },
    );
    const ipAsker = await ok('inspect', '-f', '{{.NetworkSettings.Networks.fwdnet.IPAddress}}', c);
    assert.equal(tcp.stdout, `asker NOERROR ${ipAsker}\noutside.test NOERROR 192.0.2.10\n`, tcp.stderr);
    assert.ok(fakes[0].heard.includes('tcp:outside.test'));
    await ok('rm', '-f', c, own);
    await ok('network', 'rm', 'fwdnet');
  });

  it('an --internal network resolves its own names and forwards nothing', async () => {
    await ok('network', 'create', '--internal', 'walled');
    const a = await ok('run', '-d', '--network', 'walled', '--name', 'inside-a', 'busybox', 'sleep', '300');
    const b = await ok('run', '-d', '--network', 'walled', '--name', 'inside-b', 'busybox', 'sleep', '300');
    const ipA = await ok('inspect', '-f', '{{.NetworkSettings.Networks.walled.IPAddress}}', a);
    assert.deepEqual(await lookup(b, 'inside-a'), [ipA]);
    assert.equal((await d('exec', b, 'timeout', '10', 'ping', '-c', '1', '-W', '2', 'inside-a')).code, 0);
    const heard = fakes[0].heard.length;
    assert.deepEqual(await lookup(b, 'outside.test'), []);
    assert.equal(fakes[0].heard.length, heard, 'nothing was forwarded');
    await ok('rm', '-f', a, b);
    await ok('network', 'rm', 'walled');
  });

  it('--add-host name:host-gateway writes the default bridge gateway into /etc/hosts', async () => {
    const hosts = await ok(
      'run',
      '--name',
      'gw-hosts',
      '--add-host',
      'hostbox:host-gateway',
      'busybox',
      'cat',
      '/etc/hosts',
    );
    assert.match(hosts, /^172\.17\.0\.1\thostbox$/m);
    const inspect = JSON.parse(await ok('inspect', 'gw-hosts'))[0];
    assert.deepEqual(inspect.HostConfig.ExtraHosts, ['hostbox:host-gateway'], 'kept as given, as dockerd');
    await ok('rm', 'gw-hosts');
  });
});
