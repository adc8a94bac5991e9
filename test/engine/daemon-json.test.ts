// daemon.json beyond logging: every directive that has an engine flag is read from the file, a directive
// given both ways is refused with dockerd's message, and a wrong type names the field, as dockerd does.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../guest-agent/util/subprocess.js';
import { docker } from '../helpers/docker.js';
import { runEngineBinary, startEngine, type TestEngine } from '../helpers/engine.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';

/** The engine binary run with these flags, in a folder of dir that a refused start must leave without a socket. */
const refusedEngine = (dir: string, args: string[]) =>
  runEngineBinary([
    ...args,
    '--data-root',
    path.join(dir, 'root-refused'),
    '--exec-root',
    path.join(dir, 'exec-refused'),
    '-H',
    `unix://${dir}/refused.sock`,
  ]);

describe('engine settings from daemon.json', () => {
  let engine: TestEngine | undefined;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp('/tmp/berth-daemon-json-');
  });
  after(async () => {
    await engine?.cleanup();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const engineBinary = (args: string[]) => refusedEngine(dir, args);

  it('takes the bridge, NAT, DNS, runtime and registry settings from the file', async () => {
    const file = path.join(dir, 'daemon.json');
    await fs.writeFile(
      file,
      JSON.stringify({
        bip: '10.123.0.1/24',
        iptables: false,
        'userland-proxy': true,
        dns: ['10.123.0.53'],
        'default-runtime': 'runc',
        'insecure-registries': ['registry.example.test:5000'],
      }),
    );
    engine = await startEngine({ extraArgs: ['--config-file', file] });
    const subnet = await docker(engine, [
      'network',
      'inspect',
      'bridge',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}',
    ]);
    assert.equal(subnet.stdout.trim(), '10.123.0.0/24 10.123.0.1');
    const info = await docker(engine, [
      'info',
      '-f',
      '{{.DefaultRuntime}} {{.IndexServerAddress}} {{json .RegistryConfig.IndexConfigs}}',
    ]);
    assert.equal(info.code, 0, info.stderr);
    // runc is also this host's fallback: the refusal test below shows the file's default-runtime is read.
    assert.match(info.stdout, /^runc /);
    assert.match(info.stdout, /"registry\.example\.test:5000":\{[^}]*"Secure":false/);
    // iptables: false — the engine leaves the NAT table alone.
    const nat = await run('iptables', ['-t', 'nat', '-S'], { allowFailure: true });
    assert.doesNotMatch(nat.stdout, /BERTH/);
  });

  it('refuses a directive given both as a flag and in the file, with dockerd’s message', async () => {
    const file = path.join(dir, 'both.json');
    await fs.writeFile(
      file,
      JSON.stringify({ bip: '10.124.0.1/24', dns: ['10.0.0.1', '10.0.0.2'], 'default-runtime': 'runc' }),
    );
    const r = await engineBinary([
      '--config-file',
      file,
      '--bip',
      '10.125.0.1/24',
      '--dns',
      '10.0.0.3',
      '--runtime',
      'runc',
    ]);
    assert.equal(r.exitCode, 1);
    assert.ok(
      r.stderr.includes(
        `unable to configure the Docker daemon with file ${file}: the following directives are specified both as a flag and in the configuration file: bip: (from flag: 10.125.0.1/24, from file: 10.124.0.1/24), dns: (from flag: [10.0.0.3], from file: [10.0.0.1 10.0.0.2]), default-runtime: (from flag: runc, from file: runc)`,
      ),
      r.stderr,
    );
  });

  it('names the field of a wrong type and an unknown directive, and starts nothing', async () => {
    const typed = path.join(dir, 'typed.json');
    await fs.writeFile(typed, JSON.stringify({ iptables: 'no' }));
    const r = await engineBinary(['--config-file', typed]);
    assert.equal(r.exitCode, 1);
    assert.match(
      r.stderr,
      /json: cannot unmarshal string into Go struct field Config\.iptables of type bool/,
    );
    const unknown = path.join(dir, 'unknown.json');
    await fs.writeFile(unknown, JSON.stringify({ 'cluster-store': 'consul://c.test:8500' }));
    const u = await engineBinary(['--config-file', unknown]);
    assert.equal(u.exitCode, 1);
    assert.match(u.stderr, /the following directives don't match any configuration option: cluster-store/);
    await assert.rejects(fs.stat(`${dir}/refused.sock`), { code: 'ENOENT' });
  });
});

describe('daemon.json as Docker Desktop users write it', () => {
  const engines: TestEngine[] = [];
  let dir: string;
  let registry: TestRegistry | undefined;
  let emptyMirror: TestRegistry | undefined;
  before(async () => {
    dir = await fs.mkdtemp('/tmp/berth-daemon-json-dd-');
  });
  after(async () => {
    for (const e of engines) await e.cleanup();
    await registry?.stop();
    await emptyMirror?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const engineWith = async (name: string, settings: Record<string, unknown>, extraArgs: string[] = []) => {
    const file = path.join(dir, `${name}.json`);
    await fs.writeFile(file, JSON.stringify(settings));
    const e = await startEngine({ extraArgs: ['--config-file', file, ...extraArgs] });
    engines.push(e);
    return e;
  };
  const withBusybox = async (e: TestEngine) => {
    const load = await docker(e, ['load', '-i', await busyboxArchive()]);
    assert.equal(load.code, 0, load.stderr);
  };
  const runOut = async (e: TestEngine, args: string[]) => {
    const r = await docker(e, ['run', '--rm', ...args], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it("takes Docker Desktop's default file (builder, experimental, features) and shows what it says", async () => {
    const e = await engineWith('desktop', {
      builder: { gc: { defaultKeepStorage: '20GB', enabled: true } },
      experimental: true,
      features: { 'containerd-snapshotter': true },
      labels: ['team=core'],
      debug: true,
    });
    const version = await docker(e, ['version', '-f', '{{.Server.Experimental}}']);
    assert.equal(version.stdout.trim(), 'true', version.stderr);
    const info = await docker(e, ['info', '-f', '{{json .Labels}} {{.ExperimentalBuild}}']);
    assert.equal(info.stdout.trim(), '["team=core"] true', info.stderr);
  });

  it('container defaults: init, /dev/shm size, IPC mode, ulimits, resolver options, no-new-privileges', async () => {
    const e = await engineWith('defaults', {
      init: true,
      'default-shm-size': '128m',
      'default-ipc-mode': 'shareable',
      'default-ulimits': { nofile: { Name: 'nofile', Soft: 1024, Hard: 2048 } },
      'dns-search': ['corp.test'],
      'dns-opts': ['ndots:2'],
      'no-new-privileges': true,
    });
    await withBusybox(e);
    const out = await runOut(e, [
      'busybox',
      'sh',
      '-c',
      'cat /proc/1/comm; df -k /dev/shm | tail -1; ulimit -n; ulimit -Hn; cat /etc/resolv.conf; grep NoNewPrivs /proc/self/status',
    ]);
    const [init, shm, soft, hard] = out.split('\n');
    assert.equal(init, 'docker-init');
    assert.equal(shm.split(/\s+/)[1], String(128 * 1024));
    assert.equal(soft, '1024');
    assert.equal(hard, '2048');
    assert.match(out, /^search corp\.test$/m);
    assert.match(out, /^options .*ndots:2/m);
    assert.match(out, /^NoNewPrivs:\s+1$/m);
    // Stored at create, as dockerd stores them.
    const created = await docker(e, ['create', 'busybox']);
    const hc = await docker(e, [
      'inspect',
      '-f',
      '{{.HostConfig.IpcMode}} {{.HostConfig.ShmSize}}',
      created.stdout.trim(),
    ]);
    assert.equal(hc.stdout.trim(), 'shareable 134217728');
    // The container's own word wins.
    const own = await runOut(e, [
      '--init=false',
      '--ulimit',
      'nofile=512:512',
      '--dns-search',
      'own.test',
      '--security-opt',
      'no-new-privileges=false',
      'busybox',
      'sh',
      '-c',
      'cat /proc/1/comm; ulimit -n; grep ^search /etc/resolv.conf; grep NoNewPrivs /proc/self/status',
    ]);
    assert.match(own, /^sh\n512\nsearch own\.test\nNoNewPrivs:\s+0\n$/);
  });

  it('networks: the default bridge and new networks from default-address-pools, the bridge MTU from mtu', async () => {
    const e = await engineWith('pools', {
      'default-address-pools': [{ base: '10.201.0.0/16', size: 24 }],
      mtu: 1400,
    });
    await withBusybox(e);
    const bridge = await docker(e, [
      'network',
      'inspect',
      'bridge',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Options "com.docker.network.driver.mtu"}}',
    ]);
    assert.equal(bridge.stdout.trim(), '10.201.0.0/24 10.201.0.1 1400');
    assert.equal((await docker(e, ['network', 'create', 'pooled'])).code, 0);
    const pooled = await docker(e, [
      'network',
      'inspect',
      'pooled',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}}{{end}}',
    ]);
    assert.equal(pooled.stdout.trim(), '10.201.1.0/24');
    assert.equal(await runOut(e, ['busybox', 'cat', '/sys/class/net/eth0/mtu']), '1400\n');
  });

  it('registry-mirrors: a Docker Hub pull is served by the mirror, or the next when one lacks the image; docker info lists them', async () => {
    registry = await startRegistry();
    // The mirror holds library/busybox, put there through another engine.
    const source = await engineWith('source', {});
    await withBusybox(source);
    const mirrored = `${registry.host}/library/busybox:latest`;
    assert.equal((await docker(source, ['tag', 'busybox', mirrored])).code, 0);
    const push = await docker(source, ['push', mirrored], { timeoutMs: 60_000 });
    assert.equal(push.code, 0, push.stderr);
    const e = await engineWith('mirrored', {}, ['--registry-mirror', `http://${registry.host}`]);
    const pull = await docker(e, ['pull', 'busybox'], { timeoutMs: 60_000 });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /Downloaded newer image for busybox:latest/);
    assert.equal((await docker(e, ['image', 'inspect', 'busybox'])).code, 0);
    const info = await docker(e, ['info', '-f', '{{json .RegistryConfig.Mirrors}}']);
    assert.equal(info.stdout.trim(), `["http://${registry.host}/"]`);
    // A mirror that has not got the image gives way to the next, as dockerd falls back.
    emptyMirror = await startRegistry();
    const fallback = await engineWith('fallback', {
      'registry-mirrors': [`http://${emptyMirror.host}`, `http://${registry.host}`],
    });
    const second = await docker(fallback, ['pull', 'busybox'], { timeoutMs: 60_000 });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Downloaded newer image for busybox:latest/);
  });

  it('refuses what Berth cannot do, and bad values, with what to use instead; flags too', async () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [
        { 'storage-driver': 'devicemapper' },
        /"storage-driver": .*overlayfs; "devicemapper" is not available \(use overlay2\)/,
      ],
      [{ ipv6: true }, /"ipv6": Berth has no IPv6 networks yet/],
      [
        { 'live-restore': true },
        /live-restore is not available: Berth stops its containers when the engine stops/,
      ],
      [{ 'default-ipc-mode': 'host' }, /invalid default IPC mode "host" \(use private or shareable\)/],
      [
        { 'registry-mirrors': ['https://m.test/v2/'] },
        /invalid mirror "https:\/\/m\.test\/v2\/": give an http:\/\/ or https:\/\/ URL with no path/,
      ],
      [
        { 'default-address-pools': [{ base: '10.0.0.0/8', size: 4 }] },
        /size 4 must be from the base's prefix \(8\) to 30/,
      ],
      [
        { 'max-concurrent-downloads': '3' },
        /cannot unmarshal string into Go struct field Config\.max-concurrent-downloads of type int/,
      ],
    ];
    for (const [settings, expected] of refused) {
      const file = path.join(dir, 'refused.json');
      await fs.writeFile(file, JSON.stringify(settings));
      const r = await refusedEngine(dir, ['--config-file', file]);
      assert.equal(r.exitCode, 1, JSON.stringify(settings));
      assert.match(r.stderr, expected);
    }
    const flag = await refusedEngine(dir, ['--default-ipc-mode', 'bogus']);
    assert.equal(flag.exitCode, 1);
    assert.match(flag.stderr, /invalid flag value: --default-ipc-mode: invalid default IPC mode "bogus"/);
    await assert.rejects(fs.stat(`${dir}/refused.sock`), { code: 'ENOENT' });
  });
});
