// Log drivers through the real docker CLI: json-file attrs and --details, local, fluentd (against a
// forward-protocol receiver on loopback), dual logging, and the engine's defaults from daemon.json.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { runEngineBinary, startEngine, type TestEngine } from '../helpers/engine.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { FluentdReceiver } from '../helpers/fluentd-receiver.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';

describe('log drivers', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  const containerDir = (id: string) => path.join(engine().dataRoot, 'containers', id);

  async function runToEnd(args: string[]): Promise<string> {
    const r = await d('run', '-d', ...args);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    const w = await d('wait', id);
    assert.equal(w.code, 0, w.stderr);
    return id;
  }

  it('json-file writes labels, env and tag as attrs, and --details prints them', async () => {
    const id = await runToEnd([
      '--name',
      'attrs',
      '--label',
      'app=shop',
      '--label',
      'com.example.tier=front end',
      '-e',
      'REGION=eu',
      '--log-opt',
      'labels=app',
      '--log-opt',
      'labels-regex=^com\\.example',
      '--log-opt',
      'env=REGION',
      '--log-opt',
      'tag={{.Name}}/{{.ImageName}}',
      'busybox',
      'sh',
      '-c',
      'echo hi; sleep 0.2; echo err >&2', // two pipes: the pause fixes the order
    ]);
    const file = await fs.readFile(path.join(containerDir(id), `${id}-json.log`), 'utf8');
    const attrs = '"attrs":{"REGION":"eu","app":"shop","com.example.tier":"front end","tag":"attrs/busybox"}';
    const lines = file.trimEnd().split('\n');
    assert.equal(lines.length, 2, file);
    assert.match(
      lines[0]!,
      new RegExp(`^\\{"log":"hi\\\\n","stream":"stdout",${escape(attrs)},"time":"[0-9T:.-]+Z"\\}$`),
    );
    assert.match(
      lines[1]!,
      new RegExp(`^\\{"log":"err\\\\n","stream":"stderr",${escape(attrs)},"time":"[0-9T:.-]+Z"\\}$`),
    );

    const details = await d('logs', '--details', 'attrs');
    const prefix = 'REGION=eu,app=shop,com.example.tier=front+end,tag=attrs%2Fbusybox ';
    assert.equal(details.stdout, `${prefix}hi\n`);
    assert.equal(details.stderr, `${prefix}err\n`);
    const both = await d('logs', '--details', '-t', 'attrs');
    assert.match(
      both.stdout,
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z ${escape(prefix)}hi\\n$`),
    );
    const plain = await d('logs', 'attrs');
    assert.equal(plain.stdout, 'hi\n');
    // Without attribute options, --details prints only the separating space, as dockerd.
    await runToEnd(['--name', 'noattrs', 'busybox', 'echo', 'bare']);
    assert.equal((await d('logs', '--details', 'noattrs')).stdout, ' bare\n');
    await d('rm', 'attrs', 'noattrs');
  });

  it('refuses invalid log options at create, with nothing created', async () => {
    const cases: [string[], RegExp][] = [
      [['--log-opt', 'labels-regex=('], /error parsing regexp in log opt labels-regex/],
      [['--log-opt', 'tag={{.Nope}}'], /can't evaluate field Nope in type \*logger\.Info/],
      [['--log-opt', 'max-size=big'], /invalid value for max-size/],
      [
        ['--log-driver', 'local', '--log-opt', 'max-file=1'],
        /compression cannot be enabled when max file count is 1/,
      ],
      [['--log-driver', 'local', '--log-opt', 'labelz=a'], /unknown log opt 'labelz' for log driver local/],
      [
        ['--log-driver', 'fluentd', '--log-opt', 'fluentd-bogus=1'],
        /unknown log opt 'fluentd-bogus' for fluentd log driver/,
      ],
      [
        ['--log-driver', 'fluentd', '--log-opt', 'fluentd-async-reconnect-interval=20s'],
        /invalid value for fluentd-async-reconnect-interval: value \("20s"\) must be between 100ms and 10s/,
      ],
      [
        ['--log-driver', 'fluentd', '--log-opt', 'fluentd-address=udp://x:1'],
        /invalid fluentd-address \(udp:\/\/x:1\): unsupported scheme: 'udp'/,
      ],
      [['--log-driver', 'syslogd'], /no log driver named 'syslogd' is registered/],
    ];
    for (const [opts, message] of cases) {
      const r = await d('create', ...opts, 'busybox', 'true');
      assert.equal(r.code, 1, `${opts.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, opts.join(' '));
    }
    assert.equal((await d('ps', '-aq')).stdout.trim(), '', 'no container was left half-created');
  });

  it('json-file: max-size=1k max-file=3 compress keeps three bounded files, and -f reads on across rotations', async () => {
    const id = await runToEnd([
      '--name',
      'rot',
      '--log-opt',
      'max-size=1k',
      '--log-opt',
      'max-file=3',
      '--log-opt',
      'compress=true',
      'busybox',
      'sh',
      '-c',
      'i=1; while [ $i -le 3000 ]; do echo "line $i"; i=$((i+1)); done',
    ]);
    const dir = containerDir(id);
    const files = (await fs.readdir(dir)).filter((f) => f.includes('-json.log')).sort();
    // As dockerd: the current file, then .1 and .2 compressed, never more than max-file.
    assert.deepEqual(files, [`${id}-json.log`, `${id}-json.log.1.gz`, `${id}-json.log.2.gz`]);
    const current = await fs.readFile(path.join(dir, `${id}-json.log`), 'utf8');
    // A file is cut after the line that reaches 1000 bytes (dockerd's decimal units).
    assert.ok(Buffer.byteLength(current) < 1000 + 100, `current file ${Buffer.byteLength(current)} bytes`);
    for (const l of current.trimEnd().split('\n'))
      assert.match(l, /^\{"log":"line \d+\\n","stream":"stdout","time":"[^"]+Z"\}$/);
    const all = (await d('logs', 'rot')).stdout.trimEnd().split('\n');
    assert.equal(all.at(-1), 'line 3000');
    // The newest lines, in order and without a gap, from the three files.
    const first = Number(all[0]!.split(' ')[1]);
    assert.deepEqual(
      all,
      Array.from({ length: 3000 - first + 1 }, (_v, i) => `line ${first + i}`),
    );
    assert.ok(all.length > 30 && all.length < 200, `${all.length} lines kept in 3 files of 1 kB`);
    assert.equal((await d('logs', '--tail', '2', 'rot')).stdout, 'line 2999\nline 3000\n');

    // -f started before the writing: every line arrives, through a dozen rotations, and it ends at exit.
    const slow = await d(
      'create',
      '--log-opt',
      'max-size=1k',
      '--log-opt',
      'max-file=2',
      '--log-opt',
      'compress=true',
      'busybox',
      'sh',
      '-c',
      'sleep 0.5; i=1; while [ $i -le 400 ]; do echo "slow $i"; i=$((i+1)); [ $((i % 40)) = 0 ] && usleep 50000; done',
    );
    assert.equal(slow.code, 0, slow.stderr);
    const slowId = slow.stdout.trim();
    assert.equal((await d('start', slowId)).code, 0);
    const follow = await d('logs', '-f', slowId);
    assert.equal(follow.code, 0, follow.stderr);
    assert.deepEqual(
      follow.stdout.trimEnd().split('\n'),
      Array.from({ length: 400 }, (_v, i) => `slow ${i + 1}`),
    );
    await d('rm', 'rot', slowId);
  });

  it('local: rotated and compressed by default rules, readable with every docker logs flag', async () => {
    const id = await runToEnd([
      '--name',
      'loc',
      '--log-driver',
      'local',
      '--log-opt',
      'max-size=10k',
      'busybox',
      'sh',
      '-c',
      // stdout and stderr are two pipes, read as their data comes (as in dockerd): the
      // pause makes the stderr line the last one logged, which --tail 3 relies on.
      'i=1; while [ $i -le 3000 ]; do echo "line $i"; i=$((i+1)); done; sleep 0.3; echo err >&2',
    ]);
    const files = (await fs.readdir(path.join(containerDir(id), 'local-logs'))).sort();
    assert.deepEqual(files, [
      'container.log',
      'container.log.1.gz',
      'container.log.2.gz',
      'container.log.3.gz',
      'container.log.4.gz',
    ]);
    assert.equal(
      (await d('inspect', '-f', '{{.LogPath}}', id)).stdout.trim(),
      '',
      'no LogPath for local, as dockerd',
    );
    assert.equal((await d('inspect', '-f', '{{.HostConfig.LogConfig.Type}}', id)).stdout.trim(), 'local');
    const tail = await d('logs', '--tail', '3', 'loc');
    assert.equal(tail.stdout, 'line 2999\nline 3000\n');
    assert.equal(tail.stderr, 'err\n');
    const all = await d('logs', 'loc');
    const kept = all.stdout.trimEnd().split('\n');
    assert.ok(kept.length > 500 && kept.length < 3000, `${kept.length} lines in 5 files of 10 kB`);
    assert.equal(kept.at(-1), 'line 3000');
    const ts = await d('logs', '-t', '--tail', '1', 'loc');
    assert.match(ts.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err\n$/);
    assert.equal((await d('logs', '--until', '2000-01-01T00:00:00Z', 'loc')).stdout, '');
    const since = await d('logs', '--since', '10m', '--tail', '1', 'loc');
    assert.equal(since.stderr, 'err\n');

    // -f follows a running local-driver container to its exit.
    const follower = (
      await d(
        'run',
        '-d',
        '--log-driver',
        'local',
        'busybox',
        'sh',
        '-c',
        'for i in 1 2 3; do echo tick$i; usleep 200000; done',
      )
    ).stdout.trim();
    const follow = await d('logs', '-f', follower);
    assert.equal(follow.stdout, 'tick1\ntick2\ntick3\n');
    await d('rm', 'loc', follower);
  });

  describe('fluentd', () => {
    let receiver: FluentdReceiver;
    before(async () => {
      receiver = new FluentdReceiver();
      await receiver.start();
    });
    after(() => receiver.stop());

    const fluentd = (...opts: string[]) => [
      '--log-driver',
      'fluentd',
      '--log-opt',
      `fluentd-address=127.0.0.1:${receiver.port}`,
      ...opts.flatMap((o) => ['--log-opt', o]),
    ];

    it("sends dockerd's record keys with the short-id tag, and docker logs reads the local cache", async () => {
      receiver.records.length = 0;
      const id = await runToEnd([
        ...fluentd(),
        '--name',
        'fl',
        'busybox',
        'sh',
        '-c',
        'echo hello; echo oops >&2',
      ]);
      const got = await receiver.waitFor(2);
      const byLog = new Map(got.map((g) => [String(g.record['log']), g]));
      assert.deepEqual(byLog.get('hello')?.record, {
        container_id: id,
        container_name: '/fl',
        source: 'stdout',
        log: 'hello',
      });
      assert.deepEqual(byLog.get('oops')?.record, {
        container_id: id,
        container_name: '/fl',
        source: 'stderr',
        log: 'oops',
      });
      assert.equal(byLog.get('hello')?.tag, id.slice(0, 12));
      assert.match(id, /^[0-9a-f]{64}$/);
      const logs = await d('logs', 'fl');
      assert.equal(logs.stdout, 'hello\n');
      assert.equal(logs.stderr, 'oops\n');
      assert.ok((await fs.stat(path.join(containerDir(id), 'container-cached.log'))).size > 0);
      await d('rm', 'fl');
    });

    it('tag templates, labels and env, and ack mode', async () => {
      receiver.records.length = 0;
      receiver.acked.length = 0;
      const id = await runToEnd([
        ...fluentd(
          'tag=app.{{.Name}}.{{.ImageName}}.{{.ID}}',
          'labels=team',
          'env=STAGE',
          'fluentd-request-ack=true',
          'fluentd-sub-second-precision=true',
        ),
        '--name',
        'tagged',
        '--label',
        'team=core',
        '-e',
        'STAGE=qa',
        'busybox',
        'sh',
        '-c',
        'echo one; echo two; echo three',
      ]);
      const got = await receiver.waitFor(3);
      assert.deepEqual(
        got.map((g) => g.tag),
        Array(3).fill(`app.tagged.busybox.${id.slice(0, 12)}`),
      );
      assert.deepEqual(
        got.map((g) => g.record),
        ['one', 'two', 'three'].map((log) => ({
          container_id: id,
          container_name: '/tagged',
          source: 'stdout',
          log,
          team: 'core',
          STAGE: 'qa',
        })),
      );
      assert.ok(
        got.every((g) => typeof g.option?.['chunk'] === 'string'),
        'each record asks for an ack',
      );
      assert.equal(receiver.acked.length, 3);
      assert.ok(
        got.every((g) => typeof g.time === 'object'),
        'EventTime with sub-second precision',
      );
      await d('rm', 'tagged');
    });

    it('without fluentd-async an unreachable server fails the start with a clear error', async () => {
      const gone = new FluentdReceiver();
      await gone.start();
      const port = gone.port;
      await gone.stop();
      const r = await d(
        'run',
        '--name',
        'nofl',
        '--log-driver',
        'fluentd',
        '--log-opt',
        `fluentd-address=127.0.0.1:${port}`,
        'busybox',
        'echo',
        'x',
      );
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        new RegExp(
          `failed to initialize logging driver: dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`,
        ),
      );
      assert.equal((await d('inspect', '-f', '{{.State.Running}}', 'nofl')).stdout.trim(), 'false');
      await d('rm', 'nofl');
    });

    it('fluentd-async: the container runs while the server restarts, and no line is lost', async () => {
      receiver.records.length = 0;
      const id = (
        await d(
          'run',
          '-d',
          ...fluentd('fluentd-async=true', 'fluentd-request-ack=true', 'fluentd-retry-wait=100ms'),
          'busybox',
          'sh',
          '-c',
          'i=0; while [ $i -lt 80 ]; do echo "line $i"; i=$((i+1)); usleep 50000; done',
        )
      ).stdout.trim();
      await receiver.waitFor(15);
      await receiver.stop();
      await new Promise((r) => setTimeout(r, 800));
      await receiver.start();
      assert.equal((await d('wait', id)).stdout.trim(), '0');
      await receiver.waitFor(80, 20_000);
      const seen = new Set(receiver.lines());
      const missing = Array.from({ length: 80 }, (_, i) => `line ${i}`).filter((l) => !seen.has(l));
      assert.deepEqual(missing, []);
      await d('rm', id);
    });

    it('fluentd-async with the server down: buffered up to the limit, the rest dropped and counted', async () => {
      const gone = new FluentdReceiver();
      await gone.start();
      const port = gone.port;
      await gone.stop();
      const id = await runToEnd([
        '--log-driver',
        'fluentd',
        '--log-opt',
        `fluentd-address=127.0.0.1:${port}`,
        '--log-opt',
        'fluentd-async=true',
        '--log-opt',
        'fluentd-buffer-limit=8k',
        'busybox',
        'sh',
        '-c',
        'i=0; while [ $i -lt 500 ]; do echo "line $i padding padding padding padding padding padding"; i=$((i+1)); done',
      ]);
      const engineLog = await eventually(
        async () => {
          const text = await fs.readFile(engine().logFile, 'utf8');
          return (
            /fluentd: container log lines were dropped.*container="?[0-9a-f]{64}"? dropped=\d+/.test(text) &&
            text
          );
        },
        10_000,
        'the drop count in the engine log',
      );
      const m = new RegExp(
        `fluentd: container log lines were dropped.*container="?${id}"? dropped=(\\d+)`,
      ).exec(engineLog);
      assert.ok(m, 'the drop summary names the container');
      assert.ok(Number(m[1]) > 400, `dropped ${m[1]} of 500`);
      // The local cache keeps every line all the same.
      assert.equal((await d('logs', id)).stdout.trimEnd().split('\n').length, 500);
      await d('rm', id);
    });
  });
});

describe('engine log defaults from daemon.json', () => {
  let engine: TestEngine | undefined;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp('/tmp/berth-daemon-json-');
  });
  after(async () => {
    await engine?.cleanup();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('--config-file sets the default log driver and options', async () => {
    const file = path.join(dir, 'daemon.json');
    await fs.writeFile(
      file,
      JSON.stringify({ 'log-driver': 'local', 'log-opts': { 'max-file': '3', 'max-size': '1m' } }),
    );
    engine = await startEngine({ extraArgs: ['--config-file', file] });
    const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
    assert.equal(load.code, 0, load.stderr);
    assert.equal((await docker(engine, ['info', '-f', '{{.LoggingDriver}}'])).stdout.trim(), 'local');
    const r = await docker(engine, ['run', '--name', 'dflt', 'busybox', 'echo', 'from defaults']);
    assert.equal(r.code, 0, r.stderr);
    const cfg = await docker(engine, ['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'dflt']);
    assert.deepEqual(JSON.parse(cfg.stdout), {
      Type: 'local',
      Config: { 'max-file': '3', 'max-size': '1m' },
    });
    assert.equal((await docker(engine, ['logs', 'dflt'])).stdout, 'from defaults\n');
    // A container's own options of the same driver are merged over the defaults, as dockerd does.
    const own = await docker(engine, ['create', '--log-opt', 'max-file=2', 'busybox', 'true']);
    const ownCfg = await docker(engine, [
      'inspect',
      '-f',
      '{{json .HostConfig.LogConfig.Config}}',
      own.stdout.trim(),
    ]);
    assert.deepEqual(JSON.parse(ownCfg.stdout), { 'max-file': '2', 'max-size': '1m' });
    await docker(engine, ['rm', '-f', 'dflt', own.stdout.trim()]);
  });

  it('a directive both as a flag and in the file is refused, as dockerd refuses it', async () => {
    const file = path.join(dir, 'conflict.json');
    await fs.writeFile(file, JSON.stringify({ 'log-driver': 'local', 'log-opts': { 'max-file': '3' } }));
    const root = path.join(dir, 'root-conflict');
    const r = await runEngineBinary([
      '--config-file',
      file,
      '--log-driver',
      'json-file',
      '--log-opt',
      'max-size=1m',
      '--data-root',
      root,
      '--exec-root',
      path.join(dir, 'exec-conflict'),
      '-H',
      `unix://${dir}/conflict.sock`,
    ]);
    assert.equal(r.exitCode, 1);
    assert.match(
      r.stderr,
      new RegExp(
        escape(
          `unable to configure the Docker daemon with file ${file}: the following directives are specified both as a flag and in the configuration file: log-driver: (from flag: json-file, from file: local), log-opts: (from flag: map[max-size:1m], from file: map[max-file:3])`,
        ),
      ),
    );
  });

  it('<data-root>/daemon.json is read when present; a missing --config-file is an error', async () => {
    const root = path.join(dir, 'root-default');
    await fs.mkdir(root, { recursive: true });
    await fs.writeFile(
      path.join(root, 'daemon.json'),
      JSON.stringify({ 'log-driver': 'local', 'log-opts': { 'max-file': '1' } }),
    );
    const common = ['--exec-root', path.join(dir, 'exec-default'), '-H', `unix://${dir}/default.sock`];
    const bad = await runEngineBinary(['--data-root', root, ...common]);
    assert.equal(bad.exitCode, 1);
    assert.match(
      bad.stderr,
      /failed to set log opts: compression cannot be enabled when max file count is 1/,
    );
    const missing = await runEngineBinary([
      '--config-file',
      path.join(dir, 'nope.json'),
      '--data-root',
      root,
      ...common,
    ]);
    assert.equal(missing.exitCode, 1);
    assert.match(
      missing.stderr,
      /unable to configure the Docker daemon with file .*nope\.json: open .*nope\.json: no such file or directory/,
    );
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
