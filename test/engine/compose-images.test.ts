// berth compose and images against a real engine: build (context with its
// .dockerignore, args, target), up --build, up --wait (healthy, unhealthy,
// exited), top, down --rmi, pull from a registry on loopback, pull_policy;
// and what a container gets from deploy limits, logging and profiles.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { berthCompose, projectDir, writeFile, type CommandResult } from '../helpers/compose.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const ok = (r: CommandResult, what: string) => {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

const DOCKERFILE = `FROM busybox AS base
ARG GREETING=default
RUN echo "$GREETING" > /greeting
COPY . /ctx
FROM base AS final
LABEL stage=final
HEALTHCHECK --interval=200ms CMD test -e /greeting
FROM base AS broken
RUN exit 7
`;

describe('berth compose: images', () => {
  const engine = useEngineWithBusybox();
  const dirs: { cleanup(): void }[] = [];
  after(() => dirs.forEach((d) => d.cleanup()));
  const project = (name: string, files: Record<string, string>) => {
    const p = projectDir(name, files);
    dirs.push(p);
    return p.dir;
  };
  const compose = (cwd: string, args: string[], env: Record<string, string | undefined> = {}) =>
    berthCompose(engine(), args, { cwd, env });
  const d = async (...args: string[]) => docker(engine(), args, { timeoutMs: 60_000 });
  const imageExists = async (ref: string) => (await d('image', 'inspect', ref)).code === 0;

  it('build, up --wait, up --build, top and down --rmi local', async () => {
    const dir = project('shop', {
      'compose.yaml': `
services:
  app:
    build:
      context: ./app
      target: final
      args: [GREETING]
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "test", "-e", "/greeting"], interval: 200ms, start_interval: 200ms, start_period: 10s}
  named:
    image: shop/named:1
    build: {context: ./app, target: final}
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    healthcheck: {retries: 7}
`,
      'app/Dockerfile': DOCKERFILE,
      'app/.dockerignore': 'secret.txt\n',
      'app/secret.txt': 'do not send\n',
      'app/visible.txt': 'sent\n',
    });
    const build = ok(await compose(dir, ['build'], { GREETING: 'first' }), 'build');
    assert.match(build.stdout, /Step 1\/\d+ : FROM busybox AS base/);
    assert.match(build.stderr, /Service app\s+Built/);
    assert.match(build.stderr, /Service named\s+Built/);
    const labels = JSON.parse(
      (await d('image', 'inspect', '-f', '{{json .Config.Labels}}', 'shop-app')).stdout,
    );
    assert.equal(labels['com.docker.compose.project'], 'shop');
    assert.equal(labels.stage, 'final');

    const up = ok(await compose(dir, ['up', '--wait'], { GREETING: 'first' }), 'up --wait');
    assert.match(up.stderr, /shop-app-1\s+Healthy/);
    // named's healthcheck: has no test: its image's HEALTHCHECK runs, with the retries it sets.
    assert.match(up.stderr, /shop-named-1\s+Healthy/);
    const named = JSON.parse(
      (await d('inspect', '-f', '{{json .Config.Healthcheck}}', 'shop-named-1')).stdout,
    );
    assert.deepEqual(named.Test, ['CMD-SHELL', 'test -e /greeting']);
    assert.equal(named.Retries, 7);
    assert.equal(named.Interval, 200_000_000);
    assert.doesNotMatch(up.stderr, /Building/, 'up uses the images build made');
    assert.equal((await d('exec', 'shop-app-1', 'cat', '/greeting')).stdout, 'first\n');
    assert.equal(
      (await d('exec', 'shop-app-1', 'ls', '-A', '/ctx')).stdout.split('\n').filter(Boolean).sort().join(' '),
      '.dockerignore Dockerfile visible.txt',
    );
    assert.match((await d('ps', '-f', 'name=shop-app-1', '--format', '{{.Status}}')).stdout, /\(healthy\)/);

    const firstId = (await d('inspect', '-f', '{{.Id}}', 'shop-app-1')).stdout.trim();
    const again = ok(
      await compose(dir, ['up', '-d', '--build', 'app'], { GREETING: 'second' }),
      'up --build',
    );
    assert.match(again.stderr, /Service app\s+Built/);
    assert.match(again.stderr, /shop-app-1\s+Recreated/);
    assert.notEqual((await d('inspect', '-f', '{{.Id}}', 'shop-app-1')).stdout.trim(), firstId);
    assert.equal((await d('exec', 'shop-app-1', 'cat', '/greeting')).stdout, 'second\n');
    // build --build-arg over the file's args; the next up recreates what runs the old image.
    ok(await compose(dir, ['build', '--build-arg', 'GREETING=third', 'app']), 'build --build-arg');
    const third = ok(await compose(dir, ['up', '-d', 'app']), 'up after build');
    assert.match(third.stderr, /shop-app-1\s+Recreated/);
    assert.equal((await d('exec', 'shop-app-1', 'cat', '/greeting')).stdout, 'third\n');
    const run = ok(
      await compose(dir, ['run', '--rm', '-T', '--build', 'app', 'cat', '/greeting'], { GREETING: 'fourth' }),
      'run --build',
    );
    assert.equal(run.stdout, 'fourth\n');

    const top = ok(await compose(dir, ['top']), 'top');
    const blocks = top.stdout.trim().split('\n\n');
    assert.deepEqual(
      blocks.map((b) => b.split('\n')[0]),
      ['shop-app-1', 'shop-named-1'],
    );
    assert.match(blocks[0], /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/m);
    assert.match(blocks[0], /sleep 3600$/m);

    ok(await compose(dir, ['down', '--rmi', 'local']), 'down --rmi local');
    assert.equal(await imageExists('shop-app'), false, 'the project-local image is gone');
    assert.equal(await imageExists('shop/named:1'), true, 'an image with a name of its own stays');
    const all = ok(await compose(dir, ['down', '--rmi', 'all']), 'down --rmi all');
    assert.match(all.stderr, /Image shop\/named:1\s+Removed/);
    assert.equal(await imageExists('shop/named:1'), false);
    assert.equal(await imageExists('busybox'), true, "base images are not the services' images");
  });

  it('a failing build is a clear error, and nothing starts', async () => {
    const dir = project('broken', {
      'compose.yaml': 'services:\n  app:\n    build: {context: ., target: broken}\n',
      Dockerfile: DOCKERFILE,
    });
    const r = await compose(dir, ['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /service "app" failed to build: The command '\/bin\/sh -c exit 7' returned a non-zero code: 7/,
    );
    assert.equal((await d('ps', '-aq', '-f', 'name=broken')).stdout.trim(), '');
    const missing = project('nodockerfile', { 'compose.yaml': 'services:\n  app:\n    build: ./nothere\n' });
    const r2 = await compose(missing, ['build']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /services\.app\.build\.context: build context .*nothere is not a folder/);
  });

  it('images lists what the service containers run; up --no-build never builds', async () => {
    const dir = project('gallery', {
      'compose.yaml': `
services:
  web:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
  app:
    build: .
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`,
      Dockerfile: 'FROM busybox\nRUN echo built > /built\n',
    });
    const noBuild = await compose(dir, ['up', '-d', '--no-build']);
    assert.equal(noBuild.code, 1);
    assert.match(
      noBuild.stderr,
      /service "app" has no image gallery-app on the engine, and --no-build forbids building it/,
    );
    assert.equal((await d('ps', '-aq', '-f', 'label=com.docker.compose.project=gallery')).stdout, '');
    const both = await compose(dir, ['up', '-d', '--build', '--no-build']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--build and --no-build are incompatible/);

    ok(await compose(dir, ['up', '-d']), 'up');
    // The image changes under the service; --no-build keeps the one there is.
    const before = (await d('image', 'inspect', '-f', '{{.Id}}', 'gallery-app')).stdout.trim();
    writeFile(dir, { Dockerfile: 'FROM busybox\nRUN echo rebuilt > /built\n' });
    const up = ok(await compose(dir, ['up', '-d', '--no-build']), 'up --no-build');
    assert.doesNotMatch(up.stderr, /Built/);
    assert.equal((await d('image', 'inspect', '-f', '{{.Id}}', 'gallery-app')).stdout.trim(), before);

    const images = ok(await compose(dir, ['images']), 'images');
    const id = (ref: string) => d('image', 'inspect', '-f', '{{.Id}}', ref).then((r) => r.stdout.trim());
    const size = async (ref: string) =>
      (await docker(engine(), ['images', '--format', '{{.Size}}', ref])).stdout.trim();
    const [webId, appId] = [await id('busybox'), await id('gallery-app')];
    const lines = images.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(/ {3,}/)),
      [
        ['CONTAINER', 'REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'],
        ['gallery-app-1', 'gallery-app', 'latest', appId.slice(7, 19), await size('gallery-app')],
        ['gallery-web-1', 'busybox', 'latest', webId.slice(7, 19), await size('busybox')],
      ],
    );
    assert.equal(ok(await compose(dir, ['images', '-q', 'web']), 'images -q').stdout, `${webId}\n`);
    const json = JSON.parse(ok(await compose(dir, ['images', '--format', 'json', 'app']), 'json').stdout);
    assert.deepEqual(
      json.map((i: Record<string, unknown>) => [i.ContainerName, i.Repository, i.Tag, i.ID]),
      [['gallery-app-1', 'gallery-app', 'latest', appId]],
    );
    const unknown = await compose(dir, ['images', 'nosuch']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no such service: nosuch/);
    ok(await compose(dir, ['down', '--rmi', 'local']), 'down');
  });

  it('devices, ulimits and group_add reach the container', async () => {
    const dir = project('limited', {
      'compose.yaml': `
services:
  box:
    image: busybox
    user: nobody
    command: ["sh", "-c", "stat -c '%t:%T' /dev/mynull; echo $$(ulimit -Sn) $$(ulimit -Hn) $$(ulimit -Hu); id -G"]
    devices: ["/dev/null:/dev/mynull:rw"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 300
    group_add: [daemon, "4242"]
`,
    });
    const r = ok(await compose(dir, ['run', '--rm', 'box']), 'run');
    assert.equal(r.stdout, '1:3\n1024 2048 300\n65534 1 4242\n');
    const config = ok(await compose(dir, ['config']), 'config').stdout;
    assert.match(config, /devices:\n\s+- source: \/dev\/null\n\s+target: \/dev\/mynull\n\s+permissions: rw/);
    assert.match(config, /group_add:\n\s+- daemon\n\s+- "4242"/);
    writeFile(dir, {
      'compose.yaml':
        'services:\n  box:\n    image: busybox\n    ulimits:\n      nofile: {soft: 20, hard: 10}\n',
    });
    const bad = await compose(dir, ['up', '-d']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /services\.box\.ulimits\.nofile: the soft limit 20 is above the hard limit 10/);
  });

  it('up --wait fails clearly on an unhealthy or exited container', async () => {
    const dir = project('waiting', {
      'compose.yaml': `
services:
  sick:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD-SHELL", "echo not ready; exit 1"], interval: 200ms, retries: 2}
`,
    });
    const r = await compose(dir, ['up', '--wait']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /container waiting-sick-1 is unhealthy \(last check: exit code 1: not ready\)/);
    ok(await compose(dir, ['down']), 'down');

    writeFile(dir, {
      'compose.yaml': `
services:
  quitter:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; exit 3"]
    healthcheck: {test: ["CMD", "true"], interval: 30s}
`,
    });
    const exited = await compose(dir, ['up', '--wait']);
    assert.equal(exited.code, 1);
    assert.match(exited.stderr, /container waiting-quitter-1 exited \(3\) before it became healthy/);
    ok(await compose(dir, ['down']), 'down');

    writeFile(dir, {
      'compose.yaml': `
services:
  slow:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "true"], interval: 60s}
`,
    });
    const started = Date.now();
    const late = await compose(dir, ['up', '--wait-timeout', '1']);
    assert.equal(late.code, 1);
    assert.match(late.stderr, /the services were not running and healthy within --wait-timeout 1 s/);
    assert.ok(Date.now() - started < 20_000);
    ok(await compose(dir, ['down']), 'down');
  });

  it('limits, logging and profiles reach the containers', async () => {
    const dir = project('settings', {
      'compose.yaml': `
services:
  limited:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy: {resources: {limits: {cpus: "0.5", memory: 64M}}}
    logging: {driver: json-file, options: {max-size: 1m, max-file: "2"}}
  debug:
    image: busybox
    command: ["sleep", "3600"]
    profiles: [debug]
`,
    });
    ok(await compose(dir, ['up', '-d']), 'up');
    const hc = JSON.parse((await d('inspect', '-f', '{{json .HostConfig}}', 'settings-limited-1')).stdout);
    assert.equal(hc.NanoCpus, 500_000_000);
    assert.equal(hc.Memory, 64 * 1024 * 1024);
    assert.deepEqual(hc.LogConfig, { Type: 'json-file', Config: { 'max-file': '2', 'max-size': '1m' } });
    assert.equal((await d('inspect', 'settings-debug-1')).code, 1, 'a service of a profile not enabled');
    ok(await compose(dir, ['--profile', 'debug', 'up', '-d']), 'up with the profile');
    assert.equal((await d('inspect', '-f', '{{.State.Running}}', 'settings-debug-1')).stdout.trim(), 'true');
    ok(await compose(dir, ['--profile', 'debug', 'down']), 'down');
  });

  describe('pull', () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry();
      const ref = `${registry.host}/tools/busybox:1`;
      ok(await d('tag', 'busybox', ref), 'tag');
      ok(await d('push', ref), 'push');
      ok(await d('rmi', ref), 'rmi');
    });
    after(async () => {
      await registry?.stop();
    });

    it("pull fetches the services' images; pull_policy: always pulls on up", async () => {
      const ref = `${registry.host}/tools/busybox:1`;
      const dir = project('pulling', {
        'compose.yaml': `
services:
  tool:
    image: ${ref}
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    pull_policy: always
  local:
    build: .
`,
        Dockerfile: 'FROM busybox\n',
      });
      const pull = ok(await compose(dir, ['pull']), 'pull');
      assert.match(pull.stderr, new RegExp(`Image ${ref}\\s+Pulled`));
      assert.match(pull.stderr, /Service local\s+Skipped: it is built/);
      assert.equal(await imageExists(ref), true);
      const up = ok(await compose(dir, ['up', '-d', 'tool']), 'up');
      assert.match(up.stderr, new RegExp(`Image ${ref}\\s+Pulling`), 'always: pulled although present');
      ok(await compose(dir, ['down', '--rmi', 'all']), 'down');
      assert.equal(await imageExists(ref), false);
    });

    it('pull_policy: never refuses a missing image', async () => {
      const dir = project('never', {
        'compose.yaml': `services:\n  tool:\n    image: ${registry.host}/tools/absent:1\n    pull_policy: never\n`,
      });
      const r = await compose(dir, ['up', '-d']);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /services\.tool\.pull_policy: image .*absent:1 is not on the engine and pull_policy is never/,
      );
    });

    it("up --pull overrides the services' pull_policy", async () => {
      const ref = `${registry.host}/tools/busybox:1`;
      const dir = project('uppull', {
        'compose.yaml': `services:\n  tool:\n    image: ${ref}\n    command: ["sleep", "3600"]\n    stop_grace_period: 1s\n`,
      });
      const never = await compose(dir, ['up', '-d', '--pull', 'never']);
      assert.equal(never.code, 1);
      assert.match(never.stderr, /image .*busybox:1 is not on the engine and --pull is never/);
      ok(await compose(dir, ['up', '-d']), 'up: missing, so pulled');
      const always = ok(await compose(dir, ['up', '-d', '--pull', 'always']), 'up --pull always');
      assert.match(always.stderr, new RegExp(`Image ${ref}\\s+Pulled`));
      const bad = await compose(dir, ['up', '-d', '--pull', 'sometimes']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--pull: "sometimes" is not always, missing, never or build/);
      ok(await compose(dir, ['down', '--rmi', 'all']), 'down');
    });
  });
});
