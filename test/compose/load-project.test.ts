// Loading compose projects: files merged, interpolation from the shell then
// .env, normalised service forms, project names, env precedence with its
// sources, and errors that name file, key and line. No engine involved.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ComposeError } from '../../compose/errors.js';
import { serviceConfigHash } from '../../compose/labels.js';
import { loadProject, type LoadOptions } from '../../compose/load-project.js';
import { resolvedConfigYaml } from '../../compose/resolved-config.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function project(files: Record<string, string>, name = 'proj'): string {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-compose-unit-'));
  roots.push(root);
  const dir = path.join(root, name);
  mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(dir, rel), text);
  return dir;
}

const load = (dir: string, o: LoadOptions = {}) => loadProject({ cwd: dir, env: {}, ...o });

function loadError(dir: string, o: LoadOptions = {}): ComposeError {
  try {
    load(dir, o);
  } catch (err) {
    assert.ok(err instanceof ComposeError, String(err));
    return err;
  }
  assert.fail('expected a ComposeError');
}

describe('loadProject', () => {
  it('finds compose.yaml, names the project after its folder (normalised), adds the default network', () => {
    const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n' }, 'My Project.1');
    const p = load(dir);
    assert.equal(p.name, 'myproject1');
    assert.deepEqual(p.configFiles, [path.join(dir, 'compose.yaml')]);
    assert.deepEqual(p.services.web.networks, { default: { aliases: [] } });
    assert.equal(p.networks.default.name, 'myproject1_default');
  });

  it('-p, then COMPOSE_PROJECT_NAME, then name: in the file', () => {
    const dir = project({ 'compose.yaml': 'name: fromfile\nservices:\n  web:\n    image: busybox\n' });
    assert.equal(load(dir).name, 'fromfile');
    assert.equal(load(dir, { env: { COMPOSE_PROJECT_NAME: 'fromenv' } }).name, 'fromenv');
    assert.equal(load(dir, { projectName: 'given', env: { COMPOSE_PROJECT_NAME: 'fromenv' } }).name, 'given');
    assert.match(
      loadError(dir, { projectName: 'Bad Name' }).message,
      /"Bad Name" is not a valid project name/,
    );
  });

  it('merges -f files in order: maps by key, ports added, volumes by target, scalars replaced', () => {
    const dir = project({
      'a.yaml': `services:
  web:
    image: busybox:1
    command: ["a"]
    environment: {A: "1", B: "1"}
    labels: [x=1]
    ports: ["80:80"]
    volumes: ["./one:/data", "/cache"]
`,
      'b.yaml': `services:
  web:
    image: busybox:2
    environment: [B=2, C=2]
    labels: {y: "2"}
    ports: ["443:443"]
    volumes: ["./two:/data"]
  extra:
    image: busybox
`,
    });
    const p = load(dir, { files: ['a.yaml', 'b.yaml'] });
    const web = p.services.web;
    assert.equal(web.image, 'busybox:2');
    assert.deepEqual(web.command, ['a']);
    assert.deepEqual(Object.fromEntries(Object.entries(web.environment).map(([k, v]) => [k, v.value])), {
      A: '1',
      B: '2',
      C: '2',
    });
    assert.deepEqual(web.labels, { x: '1', y: '2' });
    assert.deepEqual(
      web.ports.map((x) => x.target),
      [80, 443],
    );
    assert.deepEqual(
      web.volumes.map((v) => [v.type, v.source, v.target]),
      [
        ['bind', path.join(dir, 'two'), '/data'],
        ['volume', undefined, '/cache'],
      ],
    );
    assert.ok(p.services.extra);
  });

  it('interpolates from the shell first, then .env (or --env-file instead)', () => {
    const dir = project({
      'compose.yaml': 'services:\n  web:\n    image: "busybox:${TAG}"\n    hostname: ${HOST:-fallback}\n',
      '.env': 'TAG=from-dotenv\nHOST=h-dotenv\n',
      'other.env': 'TAG=from-other\n',
    });
    assert.equal(load(dir).services.web.image, 'busybox:from-dotenv');
    assert.equal(load(dir, { env: { TAG: 'from-shell' } }).services.web.image, 'busybox:from-shell');
    const other = load(dir, { envFile: 'other.env' });
    assert.equal(other.services.web.image, 'busybox:from-other');
    assert.equal(other.services.web.hostname, 'fallback');
    assert.match(loadError(dir, { envFile: 'absent.env' }).message, /env file .*absent\.env not found/);
  });

  it('normalises ports, volumes, networks, depends_on, healthcheck, deploy limits and commands', () => {
    const dir = project({
      'compose.yaml': `services:
  web:
    image: busybox
    command: sh -c 'echo hi'
    ports: ["8080:80", "127.0.0.1:53:53/udp", "9000-9001:90-91", "3000", {target: 81, published: "8081"}]
    expose: ["5000"]
    volumes:
      - data:/data:ro
      - type: bind
        source: ./src
        target: /src
        bind: {create_host_path: false}
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m}}
    networks:
      front: {aliases: [www]}
      back:
    depends_on:
      db: {condition: service_healthy, required: false}
    healthcheck: {test: "wget -q -O- localhost", interval: 5s, retries: 2}
    deploy: {resources: {limits: {cpus: "0.5", memory: 64m}}}
    restart: on-failure:3
  db:
    image: busybox
networks: {front: {}, back: {}}
volumes: {data: {}}
`,
    });
    const web = load(dir).services.web;
    assert.deepEqual(web.command, ['sh', '-c', 'echo hi']);
    assert.deepEqual(
      web.ports.map((p) => `${p.hostIp ?? ''}|${p.published ?? ''}|${p.target}/${p.protocol}`),
      ['|8080|80/tcp', '127.0.0.1|53|53/udp', '|9000|90/tcp', '|9001|91/tcp', '||3000/tcp', '|8081|81/tcp'],
    );
    assert.deepEqual(web.volumes[0], {
      type: 'volume',
      source: 'data',
      target: '/data',
      readOnly: true,
      createHostPath: true,
      noCopy: undefined,
    });
    assert.equal(web.volumes[1].source, path.join(dir, 'src'));
    assert.equal(web.volumes[1].createHostPath, false);
    assert.equal(web.volumes[2].tmpfsSize, 1024 * 1024);
    assert.deepEqual(web.networks, {
      front: { aliases: ['www'], ipv4Address: undefined },
      back: { aliases: [] },
    });
    assert.deepEqual(web.dependsOn, { db: { condition: 'service_healthy', required: false } });
    assert.deepEqual(web.healthcheck, {
      test: ['CMD-SHELL', 'wget -q -O- localhost'],
      interval: 5e9,
      timeout: undefined,
      startPeriod: undefined,
      startInterval: undefined,
      retries: 2,
    });
    assert.equal(web.cpus, 0.5);
    assert.equal(web.memory, 64 * 1024 * 1024);
    assert.equal(web.restart, 'on-failure:3');
  });

  describe('environment precedence (Compose docs order) with the source of each value', () => {
    const env = (service: string, shell: Record<string, string> = {}, dotenv = '') => {
      const files: Record<string, string> = {
        'compose.yaml': `services:\n  api:\n    image: busybox\n${service}`,
        'api.env': 'NODE_ENV=test\nFILE_ONLY=f\n',
      };
      if (dotenv) files['.env'] = dotenv;
      return load(project(files), { env: shell }).services.api.environment;
    };
    it('env_file alone', () => {
      assert.deepEqual(env('    env_file: api.env\n').NODE_ENV, { value: 'test', source: 'env_file' });
    });
    it('environment over env_file', () => {
      const e = env('    env_file: api.env\n    environment: [NODE_ENV=production]\n');
      assert.deepEqual(e.NODE_ENV, { value: 'production', source: 'environment' });
      assert.deepEqual(e.FILE_ONLY, { value: 'f', source: 'env_file' });
    });
    it('a bare KEY in environment takes the shell value', () => {
      const e = env('    env_file: api.env\n    environment: [NODE_ENV]\n', { NODE_ENV: 'shell' });
      assert.deepEqual(e.NODE_ENV, { value: 'shell', source: 'environment (interpolated)' });
    });
    it('a bare KEY nobody set leaves the env_file value (and is left out without one)', () => {
      const e = env('    env_file: api.env\n    environment: {NODE_ENV: null, UNSET: null}\n');
      assert.deepEqual(e.NODE_ENV, { value: 'test', source: 'env_file' });
      assert.equal(e.UNSET, undefined);
    });
    it('a bare KEY takes .env when the shell lacks it', () => {
      assert.equal(env('    environment: [NODE_ENV]\n', {}, 'NODE_ENV=dotenv\n').NODE_ENV.value, 'dotenv');
    });
    it('interpolated env_file values rank above plain environment, as the docs list them', () => {
      const files = {
        'compose.yaml':
          'services:\n  api:\n    image: busybox\n    env_file: i.env\n    environment: [NODE_ENV=plain]\n',
        'i.env': 'NODE_ENV=${FROM_SHELL}\n',
      };
      const e = load(project(files), { env: { FROM_SHELL: 's' } }).services.api.environment;
      assert.deepEqual(e.NODE_ENV, { value: 's', source: 'env_file (interpolated)' });
    });
    it('a later env_file replaces an earlier one; a missing optional one is skipped', () => {
      const files = {
        'compose.yaml':
          'services:\n  api:\n    image: busybox\n    env_file: [a.env, b.env, {path: c.env, required: false}]\n',
        'a.env': 'X=a\nY=a\n',
        'b.env': 'X=b\n',
      };
      const e = load(project(files)).services.api.environment;
      assert.equal(e.X.value, 'b');
      assert.equal(e.Y.value, 'a');
    });
  });

  describe('bad input names file, key and line', () => {
    const cases: [string, string, RegExp][] = [
      [
        'unknown top-level key',
        'services: {}\nvolumes: {}\nextra: 1\n',
        /compose\.yaml, line 3: extra: unknown top-level key "extra"/,
      ],
      [
        'not yet supported top-level key',
        'services: {}\nmodels: {}\n',
        /line 2: models: top-level "models" is not supported by berth compose yet/,
      ],
      [
        'unknown service key',
        'services:\n  a:\n    image: x\n    imgae: y\n',
        /line 4: services\.a\.imgae: unknown service key "imgae"/,
      ],
      [
        'not yet supported service key',
        'services:\n  a:\n    image: x\n    develop: {watch: []}\n',
        /line 4: services\.a\.develop: "develop" is not supported by berth compose yet/,
      ],
      [
        'a device that is not HOST[:CONTAINER][:PERMISSIONS]',
        'services:\n  a:\n    image: x\n    devices: ["/dev/null:/dev/x:rx"]\n',
        /services\.a\.devices\.0: permissions "rx" are not a combination of r, w and m/,
      ],
      [
        'not yet supported build key',
        'services:\n  a:\n    build:\n      context: .\n      ssh: [default]\n',
        /line 5: services\.a\.build\.ssh: "build\.ssh" is not supported by berth compose yet/,
      ],
      [
        'a remote build context',
        'services:\n  a:\n    build: https://github.com/x/y.git\n',
        /line 3: services\.a\.build\.context: a remote build context/,
      ],
      [
        'a Dockerfile outside the context',
        'services:\n  a:\n    build: {context: sub, dockerfile: ../Dockerfile}\n',
        /line 3: services\.a\.build\.dockerfile: \.\.\/Dockerfile is outside the build context/,
      ],
      [
        'bad healthcheck retries',
        'services:\n  a:\n    image: x\n    healthcheck:\n      retries: many\n',
        /line 5: services\.a\.healthcheck\.retries: must be a whole number, 0 or more/,
      ],
      [
        'a bad pull_policy',
        'services:\n  a:\n    image: x\n    pull_policy: sometimes\n',
        /line 4: services\.a\.pull_policy: "sometimes" is not one of/,
      ],
      [
        'bad interpolation',
        'services:\n  a:\n    image: x\n    labels:\n      - "k=${oops"\n',
        /line 5: services\.a\.labels\.0: invalid interpolation format/,
      ],
      [
        'a bad port',
        'services:\n  a:\n    image: x\n    ports: ["80:80:80:80"]\n',
        /line 4: services\.a\.ports\.0: "80:80:80:80" is not a port mapping/,
      ],
      [
        'a bad restart policy',
        'services:\n  a:\n    image: x\n    restart: sometimes\n',
        /line 4: services\.a\.restart: "sometimes" is not one of/,
      ],
      [
        'a bad depends_on condition',
        'services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: soon}\n  b:\n    image: x\n',
        /line 5: services\.a\.depends_on\.b\.condition/,
      ],
      [
        'an undefined volume',
        'services:\n  a:\n    image: x\n    volumes: ["data:/d"]\n',
        /services\.a\.volumes: refers to undefined volume "data"/,
      ],
      [
        'an undefined network',
        'services:\n  a:\n    image: x\n    networks: [nope]\n',
        /services\.a\.networks: refers to undefined network "nope"/,
      ],
      [
        'a service without image or build',
        'services:\n  a:\n    command: ["x"]\n',
        /line 2: services\.a: has neither image nor build/,
      ],
      ['YAML syntax', 'services:\n  a: [\n', /compose\.yaml, line \d+: /],
      [
        'a depends_on cycle',
        'services:\n  a:\n    image: x\n    depends_on: [a]\n',
        /line 4: services\.a\.depends_on: dependency cycle: a → a/,
      ],
    ];
    for (const [name, yaml, error] of cases) {
      it(name, () => {
        const dir = project({ 'compose.yaml': yaml });
        assert.match(loadError(dir).message, error);
      });
    }
    it('a missing required env_file, and a bad line in one', () => {
      const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    env_file: gone.env\n' });
      assert.match(
        loadError(dir).message,
        /compose\.yaml, line 4: services\.a\.env_file: env file .*gone\.env not found \(set required: false/,
      );
      const bad = project({
        'compose.yaml': 'services:\n  a:\n    image: x\n    env_file: bad.env\n',
        'bad.env': 'OK=1\nno good=2\n',
      });
      assert.match(loadError(bad).message, /bad\.env, line 2: "no good" is not a valid variable name/);
    });
    it('no compose file at all', () => {
      assert.match(loadError(project({})).message, /no compose file in .* \(looked for compose\.yaml/);
    });
  });

  it('the config hash is stable, ignores scale and where a value came from, and follows real changes', () => {
    const dir = project({
      'compose.yaml': 'services:\n  a:\n    image: x\n    environment: ["A=${A}"]\n    scale: ${N:-1}\n',
    });
    const h = (env: Record<string, string>) => serviceConfigHash(load(dir, { env }).services.a);
    assert.equal(h({ A: '1' }), h({ A: '1' }));
    assert.equal(h({ A: '1' }), h({ A: '1', N: '3' }));
    assert.notEqual(h({ A: '1' }), h({ A: '2' }));
    // A limit set on a service changes its hash, so up recreates its container.
    const plain = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n' });
    const limited = project({
      'compose.yaml': 'services:\n  a:\n    image: x\n    ulimits: {nofile: 100}\n',
    });
    assert.notEqual(serviceConfigHash(load(plain).services.a), serviceConfigHash(load(limited).services.a));
  });

  it('profiles: a service with profiles runs only when one of them is enabled', () => {
    const dir = project({
      'compose.yaml': 'services:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [tools]\n',
    });
    const plain = load(dir);
    assert.deepEqual(Object.keys(plain.services), ['web']);
    assert.deepEqual(plain.disabledServices, ['debug']);
    assert.deepEqual(Object.keys(load(dir, { env: { COMPOSE_PROFILES: 'tools' } }).services).sort(), [
      'debug',
      'web',
    ]);
  });

  it('config output holds the resolved values in long form', () => {
    const dir = project({
      'compose.yaml':
        'services:\n  a:\n    image: x\n    environment: ["A=${A:-d}"]\n    ports: ["8080:80"]\n',
    });
    const text = resolvedConfigYaml(load(dir));
    assert.match(text, /^name: proj$/m);
    assert.match(text, /^ {6}A: d$/m);
    assert.match(text, /target: 80\n\s+published: "8080"\n\s+protocol: tcp/);
    assert.match(text, /name: proj_default/);
  });
});
