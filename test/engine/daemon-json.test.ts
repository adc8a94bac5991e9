// daemon.json beyond logging: every directive that has an engine flag is read from the file, a directive
// given both ways is refused with dockerd's message, and a wrong type names the field, as dockerd does.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../guest-agent/util/subprocess.js';
import { docker } from '../helpers/docker.js';
import { runEngineBinary, startEngine, type TestEngine } from '../helpers/engine.js';

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

  const engineBinary = (args: string[]) =>
    runEngineBinary([
      ...args,
      '--data-root',
      path.join(dir, 'root-refused'),
      '--exec-root',
      path.join(dir, 'exec-refused'),
      '-H',
      `unix://${dir}/refused.sock`,
    ]);

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
    await fs.writeFile(unknown, JSON.stringify({ 'registry-mirrors': ['https://m.test'] }));
    const u = await engineBinary(['--config-file', unknown]);
    assert.equal(u.exitCode, 1);
    assert.match(u.stderr, /the following directives don't match any configuration option: registry-mirrors/);
    await assert.rejects(fs.stat(`${dir}/refused.sock`), { code: 'ENOENT' });
  });
});
