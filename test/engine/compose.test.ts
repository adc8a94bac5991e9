// berth compose against a real engine, as a user runs it: a two-service project
// (env from four sources, a published port, a named volume, name resolution
// between the services), the environment precedence table case by case, `up`
// twice, depends_on conditions, bad input that starts nothing, and
// docker-compose 1.29 (Debian's) working on the same project.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import * as pty from 'node-pty';
import { after, before, describe, it } from 'node:test';
import {
  berthCompose,
  dockerCompose,
  projectDir,
  writeFile,
  type CommandResult,
} from '../helpers/compose.js';
import { docker } from '../helpers/docker.js';
import { stripAnsi } from '../helpers/pty.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { repoRoot } from '../fixtures/image-cache.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/index.html', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const ok = (r: CommandResult, what: string) => {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

const TWO_SERVICES = (port: number) => `
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hello-from-web > /www/index.html; echo web says $$NODE_ENV; exec httpd -f -p 80 -h /www"]
    env_file: web.env
    environment:
      NODE_ENV: production
      FROM_DOTENV: \${DOTENV_VAR}
      FROM_SHELL:
    ports: ["${port}:80"]
    volumes: ["www:/www"]
    stop_grace_period: 1s
  client:
    image: busybox
    command: ["sleep", "3600"]
    depends_on: [web]
    stop_grace_period: 1s
volumes:
  www: {}
`;

describe('berth compose', () => {
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
  const d = async (...args: string[]) => docker(engine(), args, { timeoutMs: 30_000 });

  describe('a two-service project', () => {
    let dir: string;
    let port: number;
    const shell = { FROM_SHELL: 'from-the-shell' };
    before(async () => {
      port = await freePort();
      dir = project('Two_Services', {
        'compose.yaml': TWO_SERVICES(port),
        'web.env': 'NODE_ENV=test\nFROM_FILE=from-the-env-file\n',
        '.env': 'DOTENV_VAR=from-dotenv\n',
      });
    });

    it('up -d makes the network, the volume and both containers, dependencies first', async () => {
      const r = ok(await compose(dir, ['up', '-d'], shell), 'up -d');
      assert.match(r.stderr, /Network two_services_default\s+Created/);
      assert.match(r.stderr, /Volume two_services_www\s+Created/);
      assert.ok(
        r.stderr.indexOf('two_services-web-1  Started') < r.stderr.indexOf('two_services-client-1  Started'),
        r.stderr,
      );
      const names = (await d('ps', '--format', '{{.Names}}')).stdout.split('\n').filter(Boolean).sort();
      assert.deepEqual(names, ['two_services-client-1', 'two_services-web-1']);
      const labels = JSON.parse(
        (await d('inspect', '--format', '{{json .Config.Labels}}', 'two_services-web-1')).stdout,
      );
      assert.equal(labels['com.docker.compose.project'], 'two_services');
      assert.equal(labels['com.docker.compose.service'], 'web');
      assert.equal(labels['com.docker.compose.container-number'], '1');
      assert.equal(labels['com.docker.compose.oneoff'], 'False');
      assert.match(labels['com.docker.compose.config-hash'], /^[0-9a-f]{64}$/);
      assert.equal(labels['com.docker.compose.project.working_dir'], dir);
      assert.equal(labels['com.docker.compose.project.config_files'], `${dir}/compose.yaml`);
      assert.ok(labels['com.docker.compose.version']);
      assert.deepEqual(JSON.parse(labels['berth.environment-sources']), {
        FROM_DOTENV: 'compose .env interpolation',
        FROM_FILE: 'compose env_file',
        FROM_SHELL: 'compose .env interpolation',
        NODE_ENV: 'compose environment',
      });
    });

    it('ps lists the containers with their service, state and port', async () => {
      const r = ok(await compose(dir, ['ps'], shell), 'ps');
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0], /^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS$/);
      assert.match(r.stdout, /^two_services-client-1\s+busybox\s+.*\s+client\s+.*Up/m);
      assert.match(
        r.stdout,
        new RegExp(`^two_services-web-1\\s+busybox\\s+.*\\s+web\\s+.*Up.*:${port}->80/tcp`, 'm'),
      );
      const services = ok(await compose(dir, ['ps', '--services'], shell), 'ps --services');
      assert.deepEqual(services.stdout.trim().split('\n'), ['client', 'web']);
    });

    it('the services find each other by name on the project network, and the port is published', async () => {
      const lookup = ok(
        await compose(dir, ['exec', '-T', 'client', 'nslookup', '-type=a', 'web'], shell),
        'exec nslookup',
      );
      assert.match(lookup.stdout, /Address:\s*\d+\.\d+\.\d+\.\d+/);
      const body = await eventually(
        async () => {
          const r = await compose(
            dir,
            ['exec', '-T', 'client', 'wget', '-q', '-O', '-', 'http://web/index.html'],
            shell,
          );
          return r.code === 0 && r.stdout;
        },
        10_000,
        'wget http://web/ from client',
      );
      assert.equal(body.trim(), 'hello-from-web');
      assert.equal(
        (await eventually(() => httpGet(port).catch(() => ''), 10_000, 'the published port')).trim(),
        'hello-from-web',
      );
    });

    it('the container has its variables from env_file, environment, .env and the shell, and the image ENV below', async () => {
      const env = ok(await compose(dir, ['exec', '-T', 'web', 'env'], shell), 'exec env').stdout;
      assert.match(env, /^NODE_ENV=production$/m, 'environment over env_file');
      assert.match(env, /^FROM_FILE=from-the-env-file$/m);
      assert.match(env, /^FROM_DOTENV=from-dotenv$/m);
      assert.match(env, /^FROM_SHELL=from-the-shell$/m);
      assert.match(env, /^PATH=\/usr\/local\/sbin:/m, "the image's PATH");
      const piped = await berthCompose(engine(), ['exec', '-T', 'web', 'cat'], {
        cwd: dir,
        env: shell,
        input: 'piped in\n',
      });
      assert.equal(ok(piped, 'exec -T with stdin').stdout, 'piped in\n');
      const exit = await compose(dir, ['exec', '-T', 'web', 'sh', '-c', 'exit 7'], shell);
      assert.equal(exit.code, 7, 'exec passes the exit code on');
    });

    it('logs prefixes each line with its container, coloured with --ansi always', async () => {
      const logs = await eventually(
        async () => {
          const r = ok(await compose(dir, ['logs', 'web'], shell), 'logs');
          return /web says/.test(r.stdout) && r.stdout;
        },
        10_000,
        'web output',
      );
      assert.match(logs, /^two_services-web-1\s+\| web says production$/m);
      const coloured = ok(
        await compose(dir, ['--ansi', 'always', 'logs', '--tail', '1'], shell),
        'logs --ansi always',
      );
      assert.match(coloured.stdout, /\x1b\[\d+mtwo_services-web-1\s+\| \x1b\[0mweb says production/);
    });

    it('run --rm -e runs a one-off container with -e over everything, and leaves nothing behind', async () => {
      const r = ok(
        await compose(
          dir,
          [
            'run',
            '--rm',
            '-e',
            'NODE_ENV=from-run',
            '-e',
            'FROM_SHELL',
            'web',
            'sh',
            '-c',
            'echo "$NODE_ENV $FROM_FILE $FROM_SHELL"',
          ],
          {
            FROM_SHELL: 'run-shell',
          },
        ),
        'run --rm',
      );
      assert.equal(r.stdout.trim(), 'from-run from-the-env-file run-shell');
      const all = (await d('ps', '-a', '--format', '{{.Names}}')).stdout;
      assert.doesNotMatch(all, /run/);
      const piped = await berthCompose(engine(), ['run', '--rm', '-T', 'client', 'cat'], {
        cwd: dir,
        env: shell,
        input: 'into run\n',
      });
      assert.equal(ok(piped, 'run -T with stdin').stdout, 'into run\n');
      const failing = await compose(dir, ['run', '--rm', 'client', 'sh', '-c', 'exit 3'], shell);
      assert.equal(failing.code, 3);
    });

    it('config prints the resolved file', async () => {
      const r = ok(await compose(dir, ['config'], shell), 'config');
      assert.match(r.stdout, /^name: two_services$/m);
      assert.match(r.stdout, /^ {6}FROM_DOTENV: from-dotenv$/m);
      assert.match(r.stdout, /^ {6}NODE_ENV: production$/m);
      assert.match(r.stdout, /^ {6}FROM_FILE: from-the-env-file$/m);
      assert.match(r.stdout, new RegExp(`published: "${port}"`));
      assert.match(r.stdout, /name: two_services_www/);
    });

    it('up again with no change recreates nothing; a changed service is recreated alone', async () => {
      const ids = async () => (await d('ps', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean).sort();
      const before = await ids();
      const again = ok(await compose(dir, ['up', '-d'], shell), 'second up -d');
      assert.doesNotMatch(again.stderr, /Recreate|Created/);
      assert.match(again.stderr, /two_services-web-1\s+Running/);
      assert.deepEqual(await ids(), before);
      const changed = ok(
        await compose(dir, ['up', '-d'], { FROM_SHELL: 'changed' }),
        'up -d with a changed variable',
      );
      assert.match(changed.stderr, /two_services-web-1\s+Recreated/);
      assert.doesNotMatch(changed.stderr, /two_services-client-1\s+Recreated/);
      const forced = ok(
        await compose(dir, ['up', '-d', '--force-recreate', '--no-deps', 'client'], {
          FROM_SHELL: 'changed',
        }),
        'force-recreate',
      );
      assert.match(forced.stderr, /two_services-client-1\s+Recreated/);
      assert.doesNotMatch(forced.stderr, /web-1/);
    });

    it('stop, start, restart and --scale', async () => {
      ok(await compose(dir, ['stop', 'client'], shell), 'stop');
      assert.match((await d('inspect', '-f', '{{.State.Status}}', 'two_services-client-1')).stdout, /exited/);
      ok(await compose(dir, ['start', 'client'], shell), 'start');
      assert.match(
        (await d('inspect', '-f', '{{.State.Status}}', 'two_services-client-1')).stdout,
        /running/,
      );
      ok(await compose(dir, ['restart', 'client'], shell), 'restart');
      const scaled = ok(
        await compose(dir, ['up', '-d', '--scale', 'client=2'], { FROM_SHELL: 'changed' }),
        'scale',
      );
      assert.match(scaled.stderr, /two_services-client-2\s+Started/);
      const ps = ok(await compose(dir, ['ps', '-q', 'client'], shell), 'ps -q');
      assert.equal(ps.stdout.trim().split('\n').length, 2);
      const down = ok(await compose(dir, ['up', '-d'], { FROM_SHELL: 'changed' }), 'scale back');
      assert.match(down.stderr, /two_services-client-2\s+Removed/);
      ok(await compose(dir, ['stop', 'client'], shell), 'stop');
      const rm = ok(await compose(dir, ['rm', '-f', 'client'], shell), 'rm');
      assert.match(rm.stderr, /two_services-client-1\s+Removed/);
    });

    it('down -v takes containers, network and volume away', async () => {
      ok(await compose(dir, ['down', '-v'], shell), 'down -v');
      assert.equal((await d('ps', '-aq')).stdout.trim(), '');
      assert.doesNotMatch((await d('network', 'ls', '--format', '{{.Name}}')).stdout, /two_services/);
      assert.doesNotMatch((await d('volume', 'ls', '--format', '{{.Name}}')).stdout, /two_services/);
    });
  });

  describe('up in the foreground, and logs', () => {
    it("up without -d shows every container's output, prefixed, until they exit", async () => {
      const dir = project('fg', {
        'compose.yaml': `
services:
  a:
    image: busybox
    command: ["sh", "-c", "echo one; sleep 1; echo two"]
  b:
    image: busybox
    command: ["echo", "bee"]
`,
      });
      const r = ok(await compose(dir, ['up']), 'up');
      assert.match(r.stdout, /^fg-a-1\s+\| one$/m);
      assert.match(r.stdout, /^fg-a-1\s+\| two$/m);
      assert.match(r.stdout, /^fg-b-1\s+\| bee$/m);
      assert.match(r.stdout, /^fg-a-1 exited with code 0$/m);
      const follow = ok(
        await compose(dir, ['logs', '-f', '--no-color']),
        'logs -f of exited containers ends',
      );
      assert.match(follow.stdout, /^fg-b-1\s+\| bee$/m);
      const tail = ok(await compose(dir, ['logs', '--tail', '1', 'a']), 'logs --tail 1');
      assert.equal(tail.stdout.trim().replace(/\s+/g, ' '), 'fg-a-1 | two');
      ok(await compose(dir, ['down']), 'down');
    });
  });

  describe('in a terminal', () => {
    it('run and exec give the command a TTY and pass typing and the exit code through', async () => {
      const dir = project('tty', {
        'compose.yaml':
          'services:\n  app:\n    image: busybox\n    command: [sleep, "3600"]\n    stop_grace_period: 1s\n',
      });
      ok(await compose(dir, ['up', '-d']), 'up -d');
      const inTerminal = (args: string[]) => {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries({ ...process.env, DOCKER_HOST: engine().host, TERM: 'xterm' })) {
          if (v !== undefined) env[k] = v;
        }
        const term = pty.spawn(process.execPath, [path.join(repoRoot, 'bin', 'berth'), 'compose', ...args], {
          name: 'xterm',
          cols: 80,
          rows: 24,
          cwd: dir,
          env,
        });
        let out = '';
        term.onData((data) => {
          out += data;
          // busybox sh asks where the cursor is (DSR 6); answer as a terminal would, roughly.
          if (data.includes('\x1b[6n')) term.write(`\x1b[${Math.min(out.split('\n').length, 24)};5R`);
        });
        const exited = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
        return { term, output: () => out, exited };
      };
      for (const args of [
        ['run', '--rm', 'app', 'sh'],
        ['exec', 'app', 'sh'],
      ]) {
        const t = inTerminal(args);
        try {
          await eventually(
            async () => /[#$] $/.test(stripAnsi(t.output())),
            15_000,
            `a prompt from ${args.join(' ')}`,
          ).catch((err: Error) =>
            assert.fail(`${err.message}; the terminal showed: ${JSON.stringify(t.output())}`),
          );
          t.term.write('tty; echo $((6*7))\r');
          await eventually(
            async () => /\/dev\/pts\/\d+\n42/.test(stripAnsi(t.output())),
            10_000,
            `${args.join(' ')} answers`,
          );
          t.term.write('exit 3\r');
          assert.equal(await t.exited, 3, t.output());
        } finally {
          t.term.kill();
        }
      }
      assert.doesNotMatch((await d('ps', '-a', '--format', '{{.Names}}')).stdout, /tty-app-run/);
      ok(await compose(dir, ['down']), 'down');
    });
  });

  describe('orphans', () => {
    it('a service gone from the file is reported, and removed with --remove-orphans', async () => {
      const two =
        'services:\n  a:\n    image: busybox\n    command: [sleep, "3600"]\n    stop_grace_period: 1s\n  b:\n    image: busybox\n    command: [sleep, "3600"]\n    stop_grace_period: 1s\n';
      const dir = project('orph', { 'compose.yaml': two });
      ok(await compose(dir, ['up', '-d']), 'up -d');
      writeFile(dir, { 'compose.yaml': two.slice(0, two.indexOf('  b:')) });
      const again = ok(await compose(dir, ['up', '-d']), 'up -d without b');
      assert.match(again.stderr, /Found orphan containers \(orph-b-1\)/);
      assert.match(again.stderr, /orph-a-1\s+Running/);
      const removed = ok(await compose(dir, ['up', '-d', '--remove-orphans']), 'up -d --remove-orphans');
      assert.match(removed.stderr, /orph-b-1\s+Removed/);
      ok(await compose(dir, ['down']), 'down');
    });
  });

  describe('environment precedence, case by case (Compose docs order)', () => {
    // Each case: the service's env sources, the shell, and what the container sees.
    const cases: {
      name: string;
      service: string;
      env?: Record<string, string>;
      dotenv?: string;
      runArgs?: string[];
      want: string;
      /** Where berth explain will say the value came from (the label compose sets); none: the image. */
      source?: string;
    }[] = [
      {
        name: 'image ENV alone',
        service: 'environment: {}',
        want: 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      },
      {
        name: 'environment over image ENV',
        service: 'environment: [PATH=/only/here]',
        want: 'PATH=/only/here',
        source: 'compose environment',
      },
      {
        name: 'env_file alone',
        service: 'env_file: api.env',
        want: 'NODE_ENV=test',
        source: 'compose env_file',
      },
      {
        name: 'environment over env_file',
        service: 'env_file: api.env\n    environment: [NODE_ENV=production]',
        want: 'NODE_ENV=production',
        source: 'compose environment',
      },
      {
        name: 'environment KEY alone takes the shell value',
        service: 'env_file: api.env\n    environment: [NODE_ENV]',
        env: { NODE_ENV: 'from-shell' },
        want: 'NODE_ENV=from-shell',
        source: 'compose .env interpolation',
      },
      {
        name: 'environment KEY alone, unset everywhere: env_file value',
        service: 'env_file: api.env\n    environment: [NODE_ENV]',
        want: 'NODE_ENV=test',
        source: 'compose env_file',
      },
      {
        name: 'interpolated from .env over env_file',
        service: 'env_file: api.env\n    environment:\n      - NODE_ENV=${NODE_ENV}',
        dotenv: 'NODE_ENV=from-dotenv\n',
        want: 'NODE_ENV=from-dotenv',
        source: 'compose .env interpolation',
      },
      {
        name: 'the shell over .env in interpolation',
        service: 'environment:\n      - NODE_ENV=${NODE_ENV}',
        env: { NODE_ENV: 'from-shell' },
        dotenv: 'NODE_ENV=from-dotenv\n',
        want: 'NODE_ENV=from-shell',
        source: 'compose .env interpolation',
      },
      {
        name: 'run -e over everything',
        service: 'env_file: api.env\n    environment: [NODE_ENV]',
        env: { NODE_ENV: 'from-shell' },
        runArgs: ['-e', 'NODE_ENV=from-run'],
        want: 'NODE_ENV=from-run',
        source: 'compose run -e',
      },
    ];
    for (const [i, c] of cases.entries()) {
      it(c.name, async () => {
        const files: Record<string, string> = {
          'compose.yaml': `services:\n  app:\n    image: busybox\n    ${c.service}\n`,
          'api.env': 'NODE_ENV=test\n',
        };
        if (c.dotenv) files['.env'] = c.dotenv;
        const dir = project(`precedence${i}`, files);
        const key = c.want.split('=')[0];
        const r = ok(
          await compose(
            dir,
            ['run', ...(c.runArgs ?? []), 'app', '/bin/sh', '-c', `echo "${key}=$${key}"`],
            c.env ?? {},
          ),
          'run',
        );
        assert.equal(r.stdout.trim(), c.want);
        const sources = await d(
          'ps',
          '-a',
          '--filter',
          `label=com.docker.compose.project=precedence${i}`,
          '--format',
          '{{.Label "berth.environment-sources"}}',
        );
        assert.equal(JSON.parse(sources.stdout)[key], c.source);
        ok(await compose(dir, ['down']), 'down');
      });
    }
  });

  describe('depends_on conditions', () => {
    it('service_healthy waits for the engine to find the dependency healthy', async () => {
      const dir = project('healthy', {
        'compose.yaml': `
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD-SHELL", "test -f /tmp/ready"], interval: 300ms, retries: 20}
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    depends_on:
      db: {condition: service_healthy}
  init:
    image: busybox
    command: ["true"]
  after-init:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    depends_on:
      init: {condition: service_completed_successfully}
`,
      });
      const r = ok(await compose(dir, ['up', '-d']), 'up -d');
      assert.match(r.stderr, /healthy-db-1\s+Healthy/);
      assert.ok(
        r.stderr.indexOf('healthy-db-1  Healthy') < r.stderr.indexOf('healthy-app-1  Started'),
        r.stderr,
      );
      assert.ok(
        r.stderr.indexOf('healthy-init-1  Exited') < r.stderr.indexOf('healthy-after-init-1  Started'),
        r.stderr,
      );
      ok(await compose(dir, ['down']), 'down');
    });

    it('an unhealthy dependency fails up with a clear error, and the dependent is not created', async () => {
      const dir = project('unhealthy', {
        'compose.yaml': `
services:
  db:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "false"], interval: 200ms, retries: 2}
  app:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
`,
      });
      const r = await compose(dir, ['up', '-d']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /container unhealthy-db-1 is unhealthy \(last check: exit code 1\)/);
      assert.doesNotMatch((await d('ps', '-a', '--format', '{{.Names}}')).stdout, /unhealthy-app/);
      ok(await compose(dir, ['down']), 'down');
    });
  });

  describe('bad input: a clear error naming file, key and line; nothing started', () => {
    const bad: { name: string; yaml: string; files?: Record<string, string>; error: RegExp }[] = [
      {
        name: 'unknown top-level key',
        yaml: 'services:\n  a:\n    image: busybox\nservise: {}\n',
        error: /compose\.yaml, line 4: servise: unknown top-level key "servise"/,
      },
      {
        name: 'unknown service key',
        yaml: 'services:\n  a:\n    image: busybox\n    enviroment: [A=1]\n',
        error: /compose\.yaml, line 4: services\.a\.enviroment: unknown service key "enviroment"/,
      },
      {
        name: 'bad interpolation',
        yaml: 'services:\n  a:\n    image: busybox\n    environment:\n      A: ${A:x}\n',
        error: /compose\.yaml, line 5: services\.a\.environment\.A: invalid interpolation format/,
      },
      {
        name: 'a required variable missing',
        yaml: 'services:\n  a:\n    image: busybox:${TAG:?set TAG to the image tag}\n',
        error:
          /compose\.yaml, line 3: services\.a\.image: required variable TAG is missing a value: set TAG to the image tag/,
      },
      {
        name: 'missing required env_file',
        yaml: 'services:\n  a:\n    image: busybox\n    env_file: nothere.env\n',
        error: /compose\.yaml, line 4: services\.a\.env_file: env file .*nothere\.env not found/,
      },
      {
        name: 'a depends_on cycle',
        yaml: 'services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n',
        error: /compose\.yaml, line 4: services\.a\.depends_on: dependency cycle: a → b → a/,
      },
    ];
    for (const [i, c] of bad.entries()) {
      it(c.name, async () => {
        const dir = project(`bad${i}`, { 'compose.yaml': c.yaml });
        const r = await compose(dir, ['up', '-d']);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, c.error);
        assert.equal((await d('ps', '-aq')).stdout.trim(), '');
        assert.doesNotMatch(
          (await d('network', 'ls', '--format', '{{.Name}}')).stdout,
          new RegExp(`bad${i}`),
        );
      });
    }
  });

  it("pid, ipc and init: a service shares another service's namespaces, and runs under docker-init", async () => {
    const dir = project('shared_ns', {
      'compose.yaml':
        'services:\n' +
        '  db:\n    image: busybox\n    ipc: shareable\n    command: sh -c "echo from-db > /dev/shm/note; sleep 300"\n' +
        // No depends_on: sharing db's namespaces orders db first (app would sort before it).
        '  app:\n    image: busybox\n    init: true\n    pid: service:db\n    ipc: service:db\n    uts: host\n' +
        '    command: sleep 300\n',
    });
    ok(await compose(dir, ['up', '-d']), 'up -d');
    try {
      const app = 'shared_ns-app-1';
      const ps = await d('exec', app, 'ps', '-o', 'pid,args');
      // The same PID namespace: db's command is its PID 1, app's runs under docker-init.
      assert.match(ps.stdout, /^\s*1 sleep 300$/m);
      assert.match(ps.stdout, /^\s*\d+ \/sbin\/docker-init -- sleep 300$/m);
      assert.equal((await d('exec', app, 'cat', '/dev/shm/note')).stdout, 'from-db\n');
      const modes = await d(
        'inspect',
        '-f',
        '{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}',
        app,
      );
      const db = (await d('inspect', '-f', '{{.Id}}', 'shared_ns-db-1')).stdout.trim();
      assert.equal(modes.stdout.trim(), `container:${db} container:${db} host`);
      const config = ok(await compose(dir, ['config']), 'config');
      assert.match(config.stdout, /pid: service:db/);
      assert.match(config.stdout, /ipc: service:db/);
    } finally {
      ok(await compose(dir, ['down', '-t', '0']), 'down');
    }
  });

  describe('docker-compose 1.29 (Debian) on the same project', () => {
    let dir: string;
    let port: number;
    const shell = { FROM_SHELL: 'from-the-shell' };
    before(async () => {
      const which = await run('docker-compose', ['version'], { allowFailure: true });
      assert.equal(
        which.exitCode,
        0,
        "docker-compose is missing: scripts/bootstrap.mjs installs Debian's docker-compose",
      );
      port = await freePort();
      dir = project('interop', {
        'compose.yaml': TWO_SERVICES(port),
        'web.env': 'NODE_ENV=test\nFROM_FILE=from-the-env-file\n',
        '.env': 'DOTENV_VAR=from-dotenv\n',
      });
    });

    // docker-compose 1.29 disconnects a created container from its network and connects it again.
    it('docker-compose up -d, ps, logs work against the engine, and berth compose ps sees its containers', async () => {
      ok(await dockerCompose(engine(), ['up', '-d'], { cwd: dir, env: shell }), 'docker-compose up -d');
      const ps = ok(await dockerCompose(engine(), ['ps'], { cwd: dir, env: shell }), 'docker-compose ps');
      assert.match(ps.stdout, /interop_web_1\s.*Up.*->80\/tcp/);
      assert.match(ps.stdout, /interop_client_1\s.*Up/);
      const body = await eventually(
        async () => {
          const r = await dockerCompose(
            engine(),
            ['exec', '-T', 'client', 'wget', '-q', '-O', '-', 'http://web/index.html'],
            { cwd: dir, env: shell },
          );
          return r.code === 0 && r.stdout;
        },
        10_000,
        'wget http://web/ through docker-compose exec',
      );
      assert.equal(body.trim(), 'hello-from-web');
      const logs = await eventually(
        async () => {
          const r = ok(
            await dockerCompose(engine(), ['logs', '--no-color', 'web'], { cwd: dir, env: shell }),
            'docker-compose logs',
          );
          return /web says production/.test(r.stdout) && r.stdout;
        },
        10_000,
        'docker-compose logs',
      );
      assert.match(logs, /^web_1\s+\| web says production$/m);
      const ours = ok(await compose(dir, ['ps'], shell), 'berth compose ps');
      assert.match(ours.stdout, /^interop_web_1\s+busybox\s+.*\s+web\s+.*Up/m);
      assert.match(ours.stdout, /^interop_client_1\s+busybox\s+.*\s+client\s+.*Up/m);
      const env = ok(
        await compose(dir, ['exec', '-T', 'web', 'env'], shell),
        'berth compose exec into a docker-compose container',
      ).stdout;
      assert.match(env, /^NODE_ENV=production$/m);
      assert.match(env, /^FROM_SHELL=from-the-shell$/m);
      ok(await dockerCompose(engine(), ['down', '-v'], { cwd: dir, env: shell }), 'docker-compose down');
      assert.equal((await d('ps', '-aq')).stdout.trim(), '');
    });

    it('docker-compose ps and down see and remove what berth compose made', async () => {
      ok(await compose(dir, ['up', '-d'], shell), 'berth compose up -d');
      const ps = ok(await dockerCompose(engine(), ['ps'], { cwd: dir, env: shell }), 'docker-compose ps');
      assert.match(ps.stdout, /interop-web-1\s.*Up/);
      assert.match(ps.stdout, /interop-client-1\s.*Up/);
      ok(await dockerCompose(engine(), ['down', '-v'], { cwd: dir, env: shell }), 'docker-compose down');
      assert.equal((await d('ps', '-aq')).stdout.trim(), '');
      assert.doesNotMatch((await d('network', 'ls', '--format', '{{.Name}}')).stdout, /interop/);
    });

    it("docker-compose waits for service_healthy on the engine's health checks", async () => {
      const healthDir = project('interophealth', {
        'compose.yaml': `
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "test", "-e", "/tmp/ready"], interval: 300ms, retries: 30}
  app:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    depends_on:
      db: {condition: service_healthy}
`,
      });
      ok(await dockerCompose(engine(), ['up', '-d'], { cwd: healthDir }), 'docker-compose up -d');
      const health = await d('inspect', '-f', '{{.State.Health.Status}}', 'interophealth_db_1');
      assert.equal(health.stdout.trim(), 'healthy', 'app was started only once db was healthy');
      const ps = ok(await dockerCompose(engine(), ['ps'], { cwd: healthDir }), 'docker-compose ps');
      assert.match(ps.stdout, /interophealth_db_1\s.*Up \(healthy\)/);
      assert.match(ps.stdout, /interophealth_app_1\s.*Up/);
      ok(await dockerCompose(engine(), ['down'], { cwd: healthDir }), 'docker-compose down');
    });

    it("docker-compose build uses the engine's builder, and berth compose runs what it built", async () => {
      const buildDir = project('interopbuild', {
        'compose.yaml': `
services:
  app:
    image: interopbuild-app
    build: {context: ., args: {GREETING: from-docker-compose}}
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`,
        Dockerfile: 'FROM busybox\nARG GREETING\nRUN echo "$GREETING" > /greeting\n',
      });
      ok(await dockerCompose(engine(), ['build'], { cwd: buildDir }), 'docker-compose build');
      const up = ok(await compose(buildDir, ['up', '-d']), 'berth compose up -d');
      assert.doesNotMatch(up.stderr, /Building/, 'the image docker-compose built is used');
      assert.equal(
        (await d('exec', 'interopbuild-app-1', 'cat', '/greeting')).stdout,
        'from-docker-compose\n',
      );
      ok(await compose(buildDir, ['down', '--rmi', 'all']), 'down --rmi all');
    });
  });
});
