// Loading the compose keys that go beyond a plain service: secrets and configs
// (top-level and per service), extends (same file, other file, chains,
// cycles), links and volumes_from (ordering), hooks, label_file, and the keys
// that are each one HostConfig field. No engine involved.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { ComposeError } from '../../compose/errors.js';
import { containerCreateOptions } from '../../compose/container-config.js';
import { serviceConfigHash } from '../../compose/labels.js';
import { loadProject } from '../../compose/load-project.js';
import { resolvedConfigYaml } from '../../compose/resolved-config.js';
import { startOrder } from '../../compose/dependency-order.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-compose-options-'));
  roots.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const load = (dir: string, env: Record<string, string> = {}) => loadProject({ cwd: dir, env });

function loadError(dir: string): string {
  try {
    load(dir);
  } catch (err) {
    assert.ok(err instanceof ComposeError, String(err));
    return err.message;
  }
  assert.fail('expected a ComposeError');
}

const identity = { name: 'c', oneoff: false, configHash: 'h', imageId: 'sha256:x' };

describe('compose secrets and configs', () => {
  const files = {
    'compose.yaml': `
services:
  app:
    image: busybox
    secrets:
      - db_password
      - source: api_key
        target: key.txt
        uid: "1000"
        gid: "1000"
        mode: 0440
      - source: token
        target: /etc/token
    configs:
      - app_conf
      - source: inline
        target: etc/inline.conf
        mode: "0600"
secrets:
  db_password: {file: ./secrets/db.txt}
  api_key: {environment: API_KEY}
  token: {environment: UNSET_TOKEN}
configs:
  app_conf: {file: app.conf}
  inline:
    content: |
      port=\${PORT}
`,
    'secrets/db.txt': 'hunter2\n',
    'app.conf': 'a=1\n',
  };

  it('reads top-level definitions (paths absolute, content interpolated) and the service references', () => {
    const dir = project(files);
    const p = load(dir, { API_KEY: 'k-123', PORT: '8080' });
    assert.deepEqual(p.secrets.db_password, { file: path.join(dir, 'secrets/db.txt'), external: false });
    assert.deepEqual(p.secrets.api_key, {
      environment: 'API_KEY',
      environmentValue: 'k-123',
      external: false,
    });
    assert.equal(p.secrets.token.environmentValue, undefined);
    assert.equal(p.configs.inline.content, 'port=8080\n');
    assert.deepEqual(p.services.app.secrets, [
      { source: 'db_password', target: '/run/secrets/db_password' },
      // 0440 in the file is octal, as Docker Compose's YAML reads it.
      { source: 'api_key', target: '/run/secrets/key.txt', uid: '1000', gid: '1000', mode: 0o440 },
      { source: 'token', target: '/etc/token' },
    ]);
    assert.deepEqual(p.services.app.configs, [
      { source: 'app_conf', target: '/app_conf' },
      { source: 'inline', target: '/etc/inline.conf', mode: 0o600 },
    ]);
  });

  it('binds file secrets and configs read-only at their targets; a volume at the same target wins', () => {
    const dir = project({
      ...files,
      'compose.yaml': files['compose.yaml'].replace(
        '    image: busybox\n',
        '    image: busybox\n    volumes: ["./other.conf:/app_conf"]\n',
      ),
    });
    const p = load(dir, { API_KEY: 'k' });
    const body = containerCreateOptions(p, p.services.app, identity);
    const mounts = body.HostConfig?.Mounts as unknown as Record<string, unknown>[];
    assert.deepEqual(mounts, [
      {
        Type: 'bind',
        Source: path.join(dir, 'secrets/db.txt'),
        Target: '/run/secrets/db_password',
        ReadOnly: true,
      },
    ]);
    assert.deepEqual(body.HostConfig?.Binds, [`${path.join(dir, 'other.conf')}:/app_conf`]);
  });

  it('compose config shows them without the values of environment secrets', () => {
    const text = resolvedConfigYaml(load(project(files), { API_KEY: 'k-123', PORT: '1' }));
    assert.doesNotMatch(text, /k-123/);
    const out = parse(text) as {
      secrets: Record<string, unknown>;
      services: { app: { secrets: unknown[] } };
    };
    assert.deepEqual(out.secrets.api_key, { environment: 'API_KEY' });
    assert.deepEqual(out.services.app.secrets[1], {
      source: 'api_key',
      target: '/run/secrets/key.txt',
      uid: '1000',
      gid: '1000',
      mode: '0440',
    });
  });

  const bad: [string, string, RegExp][] = [
    [
      'an undefined secret',
      'services:\n  a:\n    image: x\n    secrets: [nope]\n',
      /line 4: services\.a\.secrets: refers to undefined secret "nope"/,
    ],
    [
      'two sources',
      'services: {}\nsecrets:\n  s: {file: a, environment: B}\n',
      /line 3: secrets\.s: has file and environment: give only one of file or environment/,
    ],
    [
      'no source',
      'services: {}\nconfigs:\n  c: {}\n',
      /configs\.c: needs one of file, environment or content/,
    ],
    [
      'content for a secret',
      'services: {}\nsecrets:\n  s: {content: x}\n',
      /secrets\.s\.content: unknown key "content"/,
    ],
    [
      'a swarm driver',
      'services: {}\nsecrets:\n  s: {driver: vault}\n',
      /secrets\.s\.driver: secrets\.\*\.driver needs swarm/,
    ],
    [
      'a bad mode',
      'services:\n  a:\n    image: x\n    secrets: [{source: s, mode: rw}]\nsecrets:\n  s: {file: a}\n',
      /services\.a\.secrets\.0\.mode: must be a file mode such as 0440/,
    ],
    [
      'a uid that is a name',
      'services:\n  a:\n    image: x\n    configs: [{source: c, uid: www}]\nconfigs:\n  c: {file: a}\n',
      /services\.a\.configs\.0\.uid: must be a numeric id/,
    ],
  ];
  for (const [what, yaml, expected] of bad) {
    it(`refuses ${what}, naming the key`, () => {
      assert.match(loadError(project({ 'compose.yaml': yaml })), expected);
    });
  }
});

describe('compose extends', () => {
  it('starts from a service of the same file, then another file (its paths its own), following chains', () => {
    const dir = project({
      'compose.yaml': `
services:
  base:
    image: busybox
    environment: {A: base, B: base}
    labels: {tier: base}
  web:
    extends: base
    environment: {B: web}
    command: ["httpd"]
  worker:
    extends: {file: common/common.yaml, service: job}
    environment: {C: worker}
`,
      'common/common.yaml': `
services:
  root:
    image: alpine
    volumes: ["./data:/data"]
    cap_add: [NET_ADMIN]
  job:
    extends: root
    command: ["run-job"]
    env_file: job.env
`,
      'common/job.env': 'FROM_ENV_FILE=yes\n',
    });
    const p = load(dir);
    const web = p.services.web;
    assert.equal(web.image, 'busybox');
    assert.deepEqual(web.command, ['httpd']);
    assert.equal(web.environment.A.value, 'base');
    assert.equal(web.environment.B.value, 'web');
    assert.deepEqual(web.labels, { tier: 'base' });
    const worker = p.services.worker;
    assert.equal(worker.image, 'alpine');
    assert.deepEqual(worker.command, ['run-job']);
    assert.deepEqual(worker.capAdd, ['NET_ADMIN']);
    // Relative paths in the other file are relative to that file.
    assert.equal(worker.volumes[0].source, path.join(dir, 'common/data'));
    assert.equal(worker.environment.FROM_ENV_FILE.value, 'yes');
    assert.equal(worker.environment.C.value, 'worker');
    // The extended service itself stays a service of its own file only.
    assert.equal(p.services.job, undefined);
  });

  it("with --project-directory, the -f file's paths are the project's, an extended file's its own folder's", () => {
    const dir = project({
      'conf/compose.yaml': `
services:
  base:
    image: x
    volumes: ["./from-base:/b"]
  app:
    extends: base
    volumes: ["./from-app:/a"]
  other:
    extends: {file: ../lib/lib.yaml, service: lib}
`,
      'lib/lib.yaml': 'services:\n  lib:\n    image: y\n    volumes: ["./from-lib:/l"]\n',
    });
    const p = loadProject({ cwd: dir, env: {}, files: ['conf/compose.yaml'], projectDir: 'work' });
    const sources = (s: string) => p.services[s].volumes.map((v) => v.source);
    assert.deepEqual(sources('app'), [path.join(dir, 'work/from-base'), path.join(dir, 'work/from-app')]);
    assert.deepEqual(sources('other'), [path.join(dir, 'lib/from-lib')]);
  });

  it('refuses a cycle, a missing service and a missing file, naming them', () => {
    const cycle = project({
      'compose.yaml': 'services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n',
    });
    assert.match(
      loadError(cycle),
      /line 5: services\.b\.extends: extends makes a cycle: compose\.yaml:a → compose\.yaml:b → compose\.yaml:a/,
    );
    const missing = project({ 'compose.yaml': 'services:\n  a:\n    extends: nope\n' });
    assert.match(loadError(missing), /line 3: services\.a\.extends\.service: no service "nope"/);
    const noFile = project({
      'compose.yaml': 'services:\n  a:\n    extends: {file: gone.yaml, service: x}\n',
    });
    assert.match(loadError(noFile), /services\.a\.extends\.file: \S+gone\.yaml not found/);
  });
});

describe('compose include', () => {
  it('pulls in another application: its services with its own .env and folder, its networks and volumes', () => {
    const dir = project({
      'compose.yaml': `
include:
  - db/compose.yaml
  - path: cache/cache.yaml
    env_file: cache/cache.env
services:
  web:
    image: busybox
    depends_on: [db]
    environment:
      TAG: \${TAG}
`,
      '.env': 'TAG=from-main\n',
      'db/compose.yaml': `
services:
  db:
    image: postgres:\${TAG}
    volumes: ["./data:/var/lib/postgresql/data", "dbdata:/backup"]
    env_file: db.env
volumes:
  dbdata: {}
networks:
  backend: {}
`,
      'db/.env': 'TAG=16\n',
      'db/db.env': 'POSTGRES_DB=app\n',
      'cache/cache.yaml': 'services:\n  cache:\n    image: redis:${REDIS}\n',
      'cache/cache.env': 'REDIS=7\n',
    });
    const p = load(dir);
    assert.deepEqual(Object.keys(p.services).sort(), ['cache', 'db', 'web']);
    // Each application is interpolated with its own .env (or env_file); the shell wins over both.
    assert.equal(p.services.db.image, 'postgres:16');
    assert.equal(p.services.web.environment.TAG.value, 'from-main');
    assert.equal(p.services.cache.image, 'redis:7');
    assert.equal(load(dir, { TAG: 'shell', REDIS: 'shell' }).services.cache.image, 'redis:shell');
    // Its relative paths are its folder's; its resources are this project's.
    assert.equal(p.services.db.volumes[0].source, path.join(dir, 'db/data'));
    assert.equal(p.services.db.environment.POSTGRES_DB.value, 'app');
    assert.equal(p.volumes.dbdata.name, `${p.name}_dbdata`);
    assert.equal(p.networks.backend.name, `${p.name}_backend`);
  });

  it('refuses a service defined both here and by an included file, a cycle, and a missing file', () => {
    const clash = project({
      'compose.yaml': 'include: [other.yaml]\nservices:\n  db:\n    image: x\n',
      'other.yaml': 'services:\n  db:\n    image: y\n',
    });
    assert.match(
      loadError(clash),
      /line 3: services\.db: conflicts with the service "db" that \S+other\.yaml defines \(included\)/,
    );
    const cycle = project({
      'compose.yaml': 'include: [a.yaml]\nservices: {}\n',
      'a.yaml': 'include: [compose.yaml]\nservices: {}\n',
    });
    assert.match(loadError(cycle), /include: include makes a cycle/);
    const missing = project({ 'compose.yaml': 'include: [gone.yaml]\n' });
    assert.match(loadError(missing), /line 1: include\.0\.path: \S+gone\.yaml not found/);
  });
});

describe('compose links, volumes_from, hooks, label_file and engine options', () => {
  it('links and volumes_from order the services they name first; an unknown one is an error', () => {
    const dir = project({
      'compose.yaml': `
services:
  app:
    image: x
    links: ["db:database"]
    volumes_from: ["data:ro", "container:some-container"]
  db: {image: x}
  data: {image: x}
`,
    });
    const p = load(dir);
    const order = startOrder(p.services);
    assert.ok(order.indexOf('db') < order.indexOf('app'), order.join());
    assert.ok(order.indexOf('data') < order.indexOf('app'), order.join());
    const unknown = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    links: [ghost]\n' });
    assert.match(loadError(unknown), /services\.a\.links: refers to undefined service "ghost"/);
  });

  it('reads post_start and pre_stop hooks, and label files under labels:', () => {
    const dir = project({
      'compose.yaml': `
services:
  a:
    image: x
    label_file: [./a.labels]
    labels: {over: from-labels}
    post_start:
      - command: echo started
        user: root
        environment: {X: "1"}
    pre_stop:
      - command: ["sh", "-c", "echo bye"]
`,
      'a.labels': 'team=core\nover=from-file\n',
    });
    const a = load(dir).services.a;
    assert.deepEqual(a.postStart, [
      {
        command: ['echo', 'started'],
        user: 'root',
        privileged: false,
        workingDir: undefined,
        environment: { X: '1' },
      },
    ]);
    assert.deepEqual(a.preStop[0].command, ['sh', '-c', 'echo bye']);
    assert.deepEqual(a.labels, { team: 'core', over: 'from-labels' });
    assert.match(
      loadError(
        project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    post_start: [{user: root}]\n' }),
      ),
      /services\.a\.post_start\.0\.command: is required/,
    );
  });

  it('passes the one-field keys to HostConfig, with sizes in bytes and periods in microseconds', () => {
    const dir = project({
      'compose.yaml': `
services:
  a:
    image: x
    cpu_shares: 512
    cpu_period: 100ms
    cpu_quota: 50000
    cpuset: "0"
    mem_reservation: 64m
    memswap_limit: -1
    mem_swappiness: 10
    oom_kill_disable: true
    oom_score_adj: 300
    dns_search: example.test
    dns_opt: [ndots:2]
    device_cgroup_rules: ["c 1:3 mr"]
    annotations: {com.example.a: "1"}
    userns_mode: host
    platform: linux/amd64
    mac_address: 02:42:ac:11:00:99
    blkio_config:
      weight: 300
      device_read_bps: [{path: /dev/sda, rate: 1mb}]
`,
    });
    const p = load(dir);
    const body = containerCreateOptions(p, p.services.a, identity) as unknown as {
      HostConfig: Record<string, unknown>;
      platform: string;
      NetworkingConfig: { EndpointsConfig: Record<string, { MacAddress?: string }> };
    };
    const h = body.HostConfig;
    assert.equal(h.CpuShares, 512);
    assert.equal(h.CpuPeriod, 100_000);
    assert.equal(h.CpuQuota, 50_000);
    assert.equal(h.CpusetCpus, '0');
    assert.equal(h.MemoryReservation, 64 * 1024 * 1024);
    assert.equal(h.MemorySwap, -1);
    assert.equal(h.MemorySwappiness, 10);
    assert.equal(h.OomKillDisable, true);
    assert.equal(h.OomScoreAdj, 300);
    assert.deepEqual(h.DnsSearch, ['example.test']);
    assert.deepEqual(h.DnsOptions, ['ndots:2']);
    assert.deepEqual(h.DeviceCgroupRules, ['c 1:3 mr']);
    assert.deepEqual(h.Annotations, { 'com.example.a': '1' });
    assert.equal(h.UsernsMode, 'host');
    assert.equal(h.BlkioWeight, 300);
    assert.deepEqual(h.BlkioDeviceReadBps, [{ Path: '/dev/sda', Rate: 1024 * 1024 }]);
    assert.equal(body.platform, 'linux/amd64');
    assert.equal(
      body.NetworkingConfig.EndpointsConfig[p.networks.default.name].MacAddress,
      '02:42:ac:11:00:99',
    );
    // Back under their own keys in compose config.
    const out = parse(resolvedConfigYaml(p)) as { services: { a: Record<string, unknown> } };
    assert.equal(out.services.a.cpu_shares, 512);
    assert.deepEqual(out.services.a.blkio_config, {
      weight: 300,
      device_read_bps: [{ path: '/dev/sda', rate: 1048576 }],
    });
    assert.match(
      loadError(project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    oom_score_adj: 5000\n' })),
      /services\.a\.oom_score_adj: must be a whole number from -1000 to 1000/,
    );
  });

  it('a service without the new keys keeps its config hash (containers made before are not recreated)', () => {
    const dir = project({
      'compose.yaml': 'services:\n  a:\n    image: x\n    post_start: [{command: "true"}]\n',
    });
    const withHook = load(dir).services.a;
    // What Berth before these keys gave a plain `image: x` service.
    const before = '22b74cf91abcbc79188ab2d6d91992058b69955df3e3ad6422376c44494ce075';
    assert.equal(
      serviceConfigHash(load(project({ 'compose.yaml': 'services:\n  a:\n    image: x\n' })).services.a),
      before,
    );
    assert.equal(serviceConfigHash(withHook), before);
    const withSecret = project({
      'compose.yaml': 'services:\n  a:\n    image: x\n    secrets: [s]\nsecrets:\n  s: {file: s.txt}\n',
    });
    assert.notEqual(serviceConfigHash(load(withSecret).services.a), before);
  });
});
