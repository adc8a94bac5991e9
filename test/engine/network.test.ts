// Bridge networking and published ports, with the docker CLI as client. All
// traffic stays on loopback and the test's own bridges (the suite's netns).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../guest-agent/util/subprocess.js';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const HTTPD = ['sh', '-c', 'echo hello-from-container > /index.html; exec httpd -f -p 80 -h /'];

describe('networking', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  it('gives each container its own address on the default bridge, as dockerd reports it', async () => {
    const c = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    const s = JSON.parse((await d('inspect', c)).stdout)[0].NetworkSettings;
    assert.match(s.IPAddress, /^172\.17\.0\.\d+$/);
    assert.equal(s.Gateway, '172.17.0.1');
    const bytes = s.IPAddress.split('.').map((n: string) => Number(n).toString(16).padStart(2, '0'));
    assert.equal(s.MacAddress, `02:42:${bytes.join(':')}`);
    assert.equal(s.Networks.bridge.IPAddress, s.IPAddress);
    const route = await d('exec', c, 'ip', 'route');
    assert.match(route.stdout, /^default via 172\.17\.0\.1 dev eth0/m);
    const hosts = await d('exec', c, 'cat', '/etc/hosts');
    assert.match(
      hosts.stdout,
      new RegExp(`^${s.IPAddress.replace(/\./g, '\\.')}\\s+${c.slice(0, 12)}$`, 'm'),
    );
    const ping = await d('exec', c, 'ping', '-c', '1', '-W', '2', '172.17.0.1');
    assert.equal(ping.code, 0, 'the gateway answers');
    await d('rm', '-f', c);
  });

  it('starts a later default-bridge container in a namespace made ahead of time, wired as any other', async () => {
    const first = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    const spareDir = path.join(engine().execRoot, 'netns-spare');
    // Taking (or missing) a spare starts making the next one: ready once its veth is on the bridge too.
    const onBridge = async () =>
      (await run('ip', ['-o', 'link', 'show', 'master', 'berth0'])).stdout.split('\n').filter(Boolean).length;
    await eventually(async () => (await onBridge()) === 2, 10_000, 'a spare wired to the bridge');
    const second = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    const inspect = async (c: string) => JSON.parse((await d('inspect', c)).stdout)[0];
    const s = (await inspect(second)).NetworkSettings;
    const pid = (await inspect(second)).State.Pid;
    const ns = (await fs.stat(`/proc/${pid}/ns/net`)).ino;
    let taken = '';
    for (const f of await fs.readdir(spareDir))
      if ((await fs.stat(path.join(spareDir, f))).ino === ns) taken = f;
    assert.ok(taken, 'the second container runs in a spare namespace');
    const bytes = s.IPAddress.split('.').map((n: string) => Number(n).toString(16).padStart(2, '0'));
    assert.equal(s.MacAddress, `02:42:${bytes.join(':')}`);
    assert.notEqual(s.IPAddress, (await inspect(first)).NetworkSettings.IPAddress);
    const link = await d('exec', second, 'ip', '-o', 'link', 'show', 'eth0');
    assert.match(link.stdout, new RegExp(s.MacAddress));
    assert.match((await d('exec', second, 'ip', 'route')).stdout, /^default via 172\.17\.0\.1 dev eth0/m);
    const ipFirst = (await inspect(first)).NetworkSettings.IPAddress;
    assert.equal(
      (await d('exec', second, 'ping', '-c', '1', '-W', '2', ipFirst)).code,
      0,
      'reaches the first',
    );
    // The ready spare is nobody's: the bridge lists the two containers only.
    const listed = JSON.parse((await d('network', 'inspect', 'bridge')).stdout)[0].Containers;
    assert.deepEqual(Object.keys(listed).sort(), [first, second].sort());
    await d('rm', '-f', first, second);
    // Its namespace goes with the container, as an own one would.
    assert.ok(
      !(await fs.readdir(spareDir)).includes(taken),
      'the taken namespace is removed with its container',
    );
  });

  it('publishes a port on loopback, reports it, and frees it', async () => {
    const c = (await d('run', '-d', '-p', '127.0.0.1:18080:80', 'busybox', ...HTTPD)).stdout.trim();
    const res = await eventually(
      () => get('http://127.0.0.1:18080/index.html').catch(() => undefined),
      5000,
      'httpd',
    );
    assert.equal(res.body, 'hello-from-container\n');
    assert.equal((await d('port', c)).stdout.trim(), '80/tcp -> 127.0.0.1:18080');
    assert.equal(
      (await d('ps', '--format', '{{.Ports}}', '--filter', `id=${c}`)).stdout.trim(),
      '127.0.0.1:18080->80/tcp',
    );
    const ports = JSON.parse((await d('inspect', c)).stdout)[0].NetworkSettings.Ports;
    assert.deepEqual(ports['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: '18080' }]);
    const clash = await d('run', '-d', '-p', '127.0.0.1:18080:80', 'busybox', 'true');
    assert.equal(clash.code, 125);
    assert.match(clash.stderr, /Bind for 127\.0\.0\.1:18080 failed: port is already allocated/);
    await d('rm', '-f', c);
    await assert.rejects(get('http://127.0.0.1:18080/'), 'nothing stays bound after removal');
    const again = (await d('run', '-d', '-p', '127.0.0.1:18080:80', 'busybox', ...HTTPD)).stdout.trim();
    assert.ok(again, 'the port can be used again');
    await d('rm', '-f', again);
  });

  it('publishes on IPv6 loopback with [::1]:PORT:80, as the CLI writes it', async () => {
    const c = (await d('run', '-d', '-p', '[::1]:18081:80', 'busybox', ...HTTPD)).stdout.trim();
    const res = await eventually(
      () => get('http://[::1]:18081/index.html').catch(() => undefined),
      5000,
      'httpd over ::1',
    );
    assert.equal(res.body, 'hello-from-container\n');
    assert.equal((await d('port', c)).stdout.trim(), '80/tcp -> [::1]:18081');
    const ports = JSON.parse((await d('inspect', c)).stdout)[0].NetworkSettings.Ports;
    assert.deepEqual(ports['80/tcp'], [{ HostIp: '::1', HostPort: '18081' }]);
    await d('rm', '-f', c);
    await assert.rejects(get('http://[::1]:18081/'), 'nothing stays bound after removal');
  });

  it('picks random host ports for 127.0.0.1::80 and -P, and forwards UDP', async () => {
    const committed = await d(
      'commit',
      '--change',
      'EXPOSE 80',
      (await d('create', 'busybox', 'true')).stdout.trim(),
      'exposing:1',
    );
    assert.equal(committed.code, 0, committed.stderr);
    const random = (await d('run', '-d', '-p', '127.0.0.1::80', 'busybox', ...HTTPD)).stdout.trim();
    const port = Number(/127\.0\.0\.1:(\d+)/.exec((await d('port', random, '80')).stdout)?.[1]);
    assert.ok(port > 0, 'a real port is reported');
    const res = await eventually(
      () => get(`http://127.0.0.1:${port}/index.html`).catch(() => undefined),
      5000,
      'httpd',
    );
    assert.equal(res.body, 'hello-from-container\n');
    const all = (await d('run', '-d', '-P', 'exposing:1', ...HTTPD)).stdout.trim();
    assert.match((await d('port', all)).stdout, /^80\/tcp -> 0\.0\.0\.0:\d+$/m);
    // Debian's busybox has no UDP tool: a listener is put into the container's
    // own network namespace instead, so the datagram still crosses the publish path.
    const udp = (
      await d('run', '-d', '-p', '127.0.0.1:15353:53/udp', 'busybox', 'sleep', '300')
    ).stdout.trim();
    const pid = JSON.parse((await d('inspect', udp)).stdout)[0].State.Pid;
    const server =
      "const s=require('dgram').createSocket('udp4');" +
      "s.on('message',m=>{console.log('got:'+m);process.exit(0)});s.bind(53,()=>console.log('ready'))";
    const listener = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', server], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let heard = '';
    listener.stdout!.on('data', (c: Buffer) => (heard += c));
    const sock = dgram.createSocket('udp4');
    sock.unref();
    try {
      await eventually(async () => heard.includes('ready'), 10_000, 'listener in the container netns');
      await eventually(
        async () => {
          await new Promise<void>((r) => sock.send('datagram-in', 15353, '127.0.0.1', () => r()));
          await new Promise((r) => setTimeout(r, 100));
          return heard.includes('got:datagram-in');
        },
        10_000,
        'UDP datagram through the published port',
      );
    } finally {
      sock.close();
      listener.kill('SIGKILL');
    }
    await d('rm', '-f', random, all, udp);
  });

  it('a created container can leave its --network and join it again with new aliases (docker-compose 1.29 does)', async () => {
    assert.equal((await d('network', 'create', 'relink')).code, 0);
    const c = (
      await d('create', '--network', 'relink', '--network-alias', 'old', 'busybox', 'sleep', '300')
    ).stdout.trim();
    const nets = () =>
      d('inspect', '-f', '{{json .NetworkSettings.Networks}}', c).then((r) => JSON.parse(r.stdout));
    assert.deepEqual((await nets()).relink.Aliases, ['old']);
    assert.equal((await d('network', 'disconnect', 'relink', c)).code, 0);
    assert.deepEqual(Object.keys(await nets()), []);
    const again = await d('network', 'disconnect', 'relink', c);
    assert.match(again.stderr, /is not connected to network relink/);
    const join = await d('network', 'connect', '--alias', 'new', 'relink', c);
    assert.equal(join.code, 0, join.stderr);
    assert.deepEqual((await nets()).relink.Aliases, ['new']);
    const twice = await d('network', 'connect', 'relink', c);
    assert.match(twice.stderr, /already exists in network relink/);
    assert.equal((await d('start', c)).code, 0);
    const running = await nets();
    assert.deepEqual(Object.keys(running), ['relink']);
    assert.ok(running.relink.Aliases.includes('new'));
    assert.ok(running.relink.IPAddress);
    await d('rm', '-f', c);
    await d('network', 'rm', 'relink');
  });

  it('connects containers on a user network and keeps networks apart', async () => {
    assert.equal((await d('network', 'create', '--label', 'team=a', 'appnet')).code, 0);
    const a = (
      await d('run', '-d', '--network', 'appnet', '--name', 'alpha', 'busybox', 'sleep', '300')
    ).stdout.trim();
    const b = (
      await d('run', '-d', '--network', 'appnet', '--name', 'beta', 'busybox', 'sleep', '300')
    ).stdout.trim();
    const other = (await d('run', '-d', 'busybox', 'sleep', '300')).stdout.trim();
    const ipA = (await d('inspect', '-f', '{{.NetworkSettings.Networks.appnet.IPAddress}}', a)).stdout.trim();
    assert.match(ipA, /^172\.(1[8-9]|2\d|3[01])\.0\.\d+$/);
    assert.equal((await d('exec', b, 'ping', '-c', '1', '-W', '2', ipA)).code, 0, 'same network: reachable');
    assert.notEqual(
      (await d('exec', other, 'ping', '-c', '1', '-W', '1', ipA)).code,
      0,
      'other network: isolated',
    );
    const inspect = JSON.parse((await d('network', 'inspect', 'appnet')).stdout)[0];
    assert.equal(Object.keys(inspect.Containers).length, 2);
    assert.equal(inspect.Labels.team, 'a');
    assert.equal((await d('network', 'connect', 'appnet', other)).code, 0);
    assert.equal((await d('exec', other, 'ping', '-c', '1', '-W', '2', ipA)).code, 0, 'connected: reachable');
    assert.match((await d('exec', other, 'ip', '-o', 'link')).stdout, /eth1/);
    assert.equal((await d('network', 'disconnect', 'appnet', other)).code, 0);
    assert.doesNotMatch((await d('exec', other, 'ip', '-o', 'link')).stdout, /eth1/);
    const busy = await d('network', 'rm', 'appnet');
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /has active endpoints/);
    await d('rm', '-f', a, b, other);
    assert.equal((await d('network', 'rm', 'appnet')).code, 0);
    assert.doesNotMatch((await d('network', 'ls', '--format', '{{.Name}}')).stdout, /appnet/);
  });

  it('--ip-range: containers get addresses from the range; --ip may pick one outside it', async () => {
    const create = await d(
      'network',
      'create',
      '--subnet',
      '10.77.0.0/24',
      '--gateway',
      '10.77.0.1',
      '--ip-range',
      '10.77.0.128/30',
      'ranged',
    );
    assert.equal(create.code, 0, create.stderr);
    const cfg = await d(
      'network',
      'inspect',
      'ranged',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}}{{end}}',
    );
    assert.equal(cfg.stdout.trim(), '10.77.0.0/24 10.77.0.128/30');
    const ip = async (...args: string[]) => {
      const r = await d('run', '-d', '--network', 'ranged', ...args, 'busybox', 'sleep', '300');
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      return {
        id,
        ip: (await d('inspect', '-f', '{{.NetworkSettings.Networks.ranged.IPAddress}}', id)).stdout.trim(),
      };
    };
    const first = await ip();
    const second = await ip();
    const chosen = await ip('--ip', '10.77.0.10');
    assert.deepEqual([first.ip, second.ip, chosen.ip], ['10.77.0.128', '10.77.0.129', '10.77.0.10']);
    // The /30 holds four addresses: two more, then it is full.
    const third = await ip();
    const fourth = await ip();
    assert.deepEqual([third.ip, fourth.ip], ['10.77.0.130', '10.77.0.131']);
    const full = await d('run', '-d', '--network', 'ranged', 'busybox', 'sleep', '300');
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /no available IPv4 addresses on network ranged \(10\.77\.0\.128\/30\)/);
    await d('rm', '-f', first.id, second.id, chosen.id, third.id, fourth.id);
    await d('container', 'prune', '-f');
    const outside = await d(
      'network',
      'create',
      '--subnet',
      '10.78.0.0/24',
      '--ip-range',
      '10.78.0.0/16',
      'bad-range',
    );
    assert.notEqual(outside.code, 0);
    assert.match(
      outside.stderr,
      /invalid --ip-range 10\.78\.0\.0\/16: give a CIDR inside the subnet 10\.78\.0\.0\/24/,
    );
    assert.equal((await d('network', 'rm', 'ranged')).code, 0);
  });

  it('keeps --ipam-opt; refuses config-only and swarm-scoped networks instead of making plain ones', async () => {
    assert.equal((await d('network', 'create', '--ipam-opt', 'note=kept', 'opted')).code, 0);
    const ipam = await d('network', 'inspect', 'opted', '-f', '{{json .IPAM.Options}}');
    assert.equal(ipam.stdout.trim(), '{"note":"kept"}');
    assert.equal((await d('network', 'rm', 'opted')).code, 0);
    const configOnly = await d('network', 'create', '--config-only', 'cfg');
    assert.notEqual(configOnly.code, 0);
    assert.match(configOnly.stderr, /config-only networks \(and --config-from\) are not supported by Berth/);
    const swarm = await d('network', 'create', '--scope', 'swarm', 'sw');
    assert.notEqual(swarm.code, 0);
    assert.match(swarm.stderr, /cannot create a swarm scoped network when swarm is not active/);
    assert.doesNotMatch((await d('network', 'ls', '--format', '{{.Name}}')).stdout, /^(cfg|sw)$/m);
  });
});
