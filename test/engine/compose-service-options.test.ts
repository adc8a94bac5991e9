// berth compose against a real engine with the keys beyond a plain service:
// secrets and configs in the container (bound or written, with owner and
// mode), links and volumes_from, post_start and pre_stop hooks, attach: false,
// and the one-field engine options carried out (or refused by the engine).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { berthCompose, projectDir, type CommandResult } from '../helpers/compose.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

const ok = (r: CommandResult, what: string) => {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

describe('berth compose: secrets, configs, links, hooks and engine options', () => {
  const engine = useEngineWithBusybox();
  const dirs: { cleanup(): void }[] = [];
  after(() => dirs.forEach((d) => d.cleanup()));
  const project = (name: string, files: Record<string, string>) => {
    const p = projectDir(name, files);
    dirs.push(p);
    return p.dir;
  };
  const compose = (cwd: string, args: string[], env: Record<string, string> = {}) =>
    berthCompose(engine(), args, { cwd, env });
  const d = (...args: string[]) => docker(engine(), args, { timeoutMs: 30_000 });
  const inContainer = async (name: string, script: string) => {
    const r = await d('exec', name, 'sh', '-c', script);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('secrets and configs: file ones bound read-only, environment and content ones written with uid, gid and mode', async () => {
    const dir = project('secrets', {
      'compose.yaml': `
services:
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    secrets:
      - db_password
      - source: api_key
        target: key.txt
        uid: "1000"
        gid: "1001"
        mode: 0440
    configs:
      - app_conf
      - source: inline
        target: /etc/inline.conf
secrets:
  db_password: {file: ./db.txt}
  api_key: {environment: API_KEY}
configs:
  app_conf: {file: ./app.conf}
  inline:
    content: "port=\${PORT}"
`,
      'db.txt': 'hunter2\n',
      'app.conf': 'a=1\n',
    });
    ok(await compose(dir, ['up', '-d'], { API_KEY: 'k-123', PORT: '8080' }), 'up -d');
    const c = 'secrets-app-1';
    assert.equal(await inContainer(c, 'cat /run/secrets/db_password'), 'hunter2\n');
    assert.equal(await inContainer(c, 'cat /app_conf'), 'a=1\n');
    assert.equal(await inContainer(c, 'cat /run/secrets/key.txt'), 'k-123');
    assert.equal(await inContainer(c, 'stat -c "%u:%g %a" /run/secrets/key.txt'), '1000:1001 440\n');
    assert.equal(
      await inContainer(c, 'cat /etc/inline.conf; stat -c " %a" /etc/inline.conf'),
      'port=8080 444\n',
    );
    // A bound secret cannot be changed from inside.
    const write = await d('exec', c, 'sh', '-c', 'echo x > /run/secrets/db_password');
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
    const mounts = JSON.parse((await d('inspect', '--format', '{{json .Mounts}}', c)).stdout) as {
      Destination: string;
      RW: boolean;
    }[];
    assert.deepEqual(mounts.map((m) => `${m.Destination}:${m.RW}`).sort(), [
      '/app_conf:false',
      '/run/secrets/db_password:false',
    ]);
    ok(await compose(dir, ['down']), 'down');

    // An environment secret whose variable is unset, and a missing secret file: clear errors, nothing left.
    const unset = await compose(dir, ['up', '-d'], { PORT: '1' });
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /environment variable "API_KEY" required by secret "api_key" is not set/);
    assert.equal((await d('ps', '-aq', '--filter', 'label=com.docker.compose.project=secrets')).stdout, '');
    const missing = project('missing', {
      'compose.yaml':
        'services:\n  a:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: {file: ./nope.txt}\n',
    });
    const r = await compose(missing, ['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /secret "s": file \S+nope\.txt not found/);
    ok(await compose(missing, ['down']), 'down');
  });

  it('links and volumes_from: the linked service by its alias, the other service volumes read-only', async () => {
    const dir = project('linked', {
      'compose.yaml': `
services:
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    links: ["db:database"]
    volumes_from: ["data:ro"]
  db:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
  data:
    image: busybox
    command: ["sh", "-c", "echo shared > /shared/file; exec sleep 3600"]
    volumes: ["/shared"]
    stop_grace_period: 1s
`,
    });
    const up = ok(await compose(dir, ['up', '-d']), 'up -d');
    // Started after what it links to and takes volumes from.
    assert.ok(
      up.stderr.indexOf('linked-app-1  Started') > up.stderr.indexOf('linked-db-1  Started'),
      up.stderr,
    );
    const dbIp = (
      await d(
        'inspect',
        '--format',
        '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
        'linked-db-1',
      )
    ).stdout.trim();
    const hosts = await inContainer('linked-app-1', 'cat /etc/hosts');
    assert.match(hosts, new RegExp(`^${dbIp.replace(/\./g, '\\.')}\\s.*\\bdatabase\\b`, 'm'));
    assert.equal(
      await inContainer(
        'linked-app-1',
        'for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /shared/file ] && break; sleep 0.2; done; cat /shared/file',
      ),
      'shared\n',
    );
    const write = await d('exec', 'linked-app-1', 'sh', '-c', 'echo x > /shared/other');
    assert.notEqual(write.code, 0);
    ok(await compose(dir, ['down', '-v']), 'down');
  });

  it('include: an included application runs as part of this project, with its own .env', async () => {
    const dir = project('including', {
      'compose.yaml':
        'include: [lib/compose.yaml]\nservices:\n  app:\n    image: busybox\n    command: ["sleep", "3600"]\n    stop_grace_period: 1s\n    depends_on: [helper]\n',
      'lib/compose.yaml':
        'services:\n  helper:\n    image: busybox\n    command: ["sh", "-c", "echo $$GREETING; exec sleep 3600"]\n    environment: {GREETING: "${GREETING}"}\n    stop_grace_period: 1s\n',
      'lib/.env': 'GREETING=hello-from-lib\n',
    });
    ok(await compose(dir, ['up', '-d']), 'up -d');
    const names = (
      await d('ps', '--filter', 'label=com.docker.compose.project=including', '--format', '{{.Names}}')
    ).stdout
      .split('\n')
      .filter(Boolean)
      .sort();
    assert.deepEqual(names, ['including-app-1', 'including-helper-1']);
    assert.equal(await inContainer('including-helper-1', 'echo $GREETING'), 'hello-from-lib\n');
    ok(await compose(dir, ['down']), 'down');
  });

  it('network ipam: the subnet, ip_range and aux_addresses reach the engine; ipv4_address works in it', async () => {
    const dir = project('ipam', {
      'compose.yaml': `
services:
  fixed:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    networks:
      front: {ipv4_address: 10.88.0.10}
  dynamic:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    networks: [front]
networks:
  front:
    attachable: true
    ipam:
      config:
        - subnet: 10.88.0.0/24
          ip_range: 10.88.0.64/28
          gateway: 10.88.0.1
          aux_addresses: {router: 10.88.0.64}
`,
    });
    ok(await compose(dir, ['up', '-d']), 'up -d');
    const net = JSON.parse((await d('network', 'inspect', 'ipam_front')).stdout)[0] as {
      Attachable: boolean;
      IPAM: { Config: Record<string, unknown>[] };
    };
    assert.equal(net.Attachable, true);
    assert.deepEqual(net.IPAM.Config, [
      {
        Subnet: '10.88.0.0/24',
        IPRange: '10.88.0.64/28',
        Gateway: '10.88.0.1',
        AuxiliaryAddresses: { router: '10.88.0.64' },
      },
    ]);
    const ip = async (c: string) =>
      (await d('inspect', '-f', '{{.NetworkSettings.Networks.ipam_front.IPAddress}}', c)).stdout.trim();
    assert.equal(await ip('ipam-fixed-1'), '10.88.0.10');
    // The first of the range is the auxiliary address's: the next is given out.
    assert.equal(await ip('ipam-dynamic-1'), '10.88.0.65');
    ok(await compose(dir, ['down']), 'down');
  });

  it('post_start and pre_stop hooks run in the container; a failing hook fails up with its output', async () => {
    const dir = project('hooks', {
      'compose.yaml': `
services:
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    volumes: ["./out:/out"]
    post_start:
      - command: ["sh", "-c", "echo started-as-$$(id -u)-$$GREETING > /tmp/started"]
        user: "1234"
        environment: {GREETING: hi}
    pre_stop:
      - command: ["sh", "-c", "echo stopping > /out/stopped"]
`,
    });
    ok(await compose(dir, ['up', '-d']), 'up -d');
    assert.equal(await inContainer('hooks-app-1', 'cat /tmp/started'), 'started-as-1234-hi\n');
    assert.ok(!existsSync(path.join(dir, 'out/stopped')));
    ok(await compose(dir, ['stop']), 'stop');
    assert.equal(readFileSync(path.join(dir, 'out/stopped'), 'utf8'), 'stopping\n');
    ok(await compose(dir, ['down']), 'down');

    const failing = project('badhook', {
      'compose.yaml': `
services:
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    post_start:
      - command: ["sh", "-c", "echo no-config-found >&2; exit 3"]
`,
    });
    const r = await compose(failing, ['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /post_start hook of badhook-app-1 exited with status 3: no-config-found/);
    ok(await compose(failing, ['down']), 'down');
  });

  it('attach: false keeps a service out of up’s output, not out of the project', async () => {
    const dir = project('attach', {
      'compose.yaml': `
services:
  shown:
    image: busybox
    command: ["echo", "from-shown"]
  quiet:
    image: busybox
    command: ["echo", "from-quiet"]
    attach: false
`,
    });
    const r = ok(await compose(dir, ['up', '--no-color']), 'up');
    assert.match(r.stdout, /attach-shown-1\s+\| from-shown/);
    assert.doesNotMatch(r.stdout, /from-quiet/);
    assert.match((await d('logs', 'attach-quiet-1')).stdout, /from-quiet/);
    ok(await compose(dir, ['down']), 'down');
  });

  it('engine options reach the container; options the engine cannot carry out are refused by name', async () => {
    const dir = project('options', {
      'compose.yaml': `
services:
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    cpu_shares: 512
    mem_reservation: 32m
    oom_score_adj: 300
    dns_search: [example.test]
    dns_opt: ["ndots:3"]
    annotations: {com.example.team: core}
`,
    });
    ok(await compose(dir, ['up', '-d']), 'up -d');
    const h = JSON.parse(
      (await d('inspect', '--format', '{{json .HostConfig}}', 'options-app-1')).stdout,
    ) as {
      CpuShares: number;
      MemoryReservation: number;
      OomScoreAdj: number;
      Annotations: Record<string, string>;
    };
    assert.equal(h.CpuShares, 512);
    assert.equal(h.MemoryReservation, 32 * 1024 * 1024);
    assert.deepEqual(h.Annotations, { 'com.example.team': 'core' });
    assert.equal(await inContainer('options-app-1', 'cat /proc/1/oom_score_adj'), '300\n');
    const resolv = await inContainer('options-app-1', 'cat /etc/resolv.conf');
    assert.match(resolv, /^search example\.test$/m);
    assert.match(resolv, /^options .*ndots:3/m);
    ok(await compose(dir, ['down']), 'down');

    const gpus = project('gpus', {
      'compose.yaml': 'services:\n  a:\n    image: busybox\n    gpus: all\n',
    });
    const r = await compose(gpus, ['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /could not select device driver/);
    ok(await compose(gpus, ['down']), 'down');
  });
});
