// berth as a docker-compatible client against a real engine: which engine it
// reaches (-H, DOCKER_HOST, contexts, Berth's socket), `context install` used
// by the real docker CLI, and ps/images/inspect/port/run/logs/exec/rm with
// output and exit codes compared with the docker CLI's for the same operation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { BERTH_BIN, berth, berthPty } from '../helpers/berth.js';
import { docker, dockerEnv } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordForSweep } from '../helpers/leftovers.js';

const BAD_HOST = 'unix:///nonexistent/berth-test.sock';

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  recordForSweep(dir);
  return dir;
}

/** Both CLIs' output for the same command, which must be the same. */
async function bothSame(engine: { host: string }, args: string[]): Promise<string> {
  const [d, b] = await Promise.all([docker(engine, args), berth(engine, args)]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, d.stdout, `berth ${args.join(' ')} differs from docker's`);
  return b.stdout;
}

/**
 * The same for a table with times in it ("3 seconds ago", "Up 2 seconds"):
 * berth (a Node program) starts later than docker, so a second may tick in
 * between; the times are compared as words and the cells without the padding
 * (the padding itself is compared exactly in the tables without times).
 */
async function bothSameTimed(engine: { host: string }, args: string[]): Promise<void> {
  const [d, b] = await Promise.all([docker(engine, args), berth(engine, args)]);
  assert.equal(b.code, d.code, b.stderr);
  const normal = (s: string) =>
    s
      .replace(/(\d+ seconds?|Less than a second) ago/g, 'N seconds ago')
      .replace(/Up (\d+ seconds?|Less than a second)/g, 'Up N seconds')
      .split('\n')
      .map((l) => l.split(/ {2,}/));
  assert.deepEqual(normal(b.stdout), normal(d.stdout), `berth ${args.join(' ')} differs from docker's`);
}

describe('berth: which engine it talks to', () => {
  const engine = useEngineWithBusybox();
  let config: string;
  let home: string;
  before(() => {
    config = tempDir('berth-cli-config-');
    home = tempDir('berth-cli-home-');
  });
  after(() => {
    rmSync(config, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  const apiVersion = (env: Record<string, string | undefined>, pre: string[] = []) =>
    berth(engine(), [...pre, 'version', '--format', '{{.Server.ApiVersion}}'], {
      env: { DOCKER_CONFIG: config, HOME: home, ...env },
    });

  function writeContext(name: string, host: string) {
    const dir = path.join(config, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'meta.json'),
      JSON.stringify({
        Name: name,
        Metadata: {},
        Endpoints: { docker: { Host: host, SkipTLSVerify: false } },
      }),
    );
  }

  it('-H wins over DOCKER_HOST, and DOCKER_HOST is used without -H', async () => {
    const viaFlag = await apiVersion({ DOCKER_HOST: BAD_HOST }, ['-H', engine().host]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(viaFlag.stdout.trim(), '1.47');
    const viaEnv = await apiVersion({ DOCKER_HOST: engine().host });
    assert.equal(viaEnv.stdout.trim(), '1.47');
    const bad = await berth(engine(), ['ps'], { env: { DOCKER_HOST: BAD_HOST, DOCKER_CONFIG: config } });
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      `Cannot connect to the Docker daemon at ${BAD_HOST}. Is the docker daemon running?\n`,
    );
  });

  it('the current context of config.json when DOCKER_HOST is unset; DOCKER_CONTEXT and --context choose another', async () => {
    writeContext('good', engine().host);
    writeContext('broken', BAD_HOST);
    writeFileSync(path.join(config, 'config.json'), JSON.stringify({ currentContext: 'good' }));
    const current = await apiVersion({ DOCKER_HOST: undefined });
    assert.equal(current.code, 0, current.stderr);
    assert.equal(current.stdout.trim(), '1.47');
    // DOCKER_HOST comes before the current context.
    assert.equal((await apiVersion({ DOCKER_HOST: BAD_HOST })).code, 1);
    // DOCKER_CONTEXT before config.json's currentContext.
    const envContext = await berth(engine(), ['ps'], {
      env: { DOCKER_CONFIG: config, DOCKER_HOST: undefined, DOCKER_CONTEXT: 'broken' },
    });
    assert.equal(envContext.code, 1);
    assert.match(envContext.stderr, /Cannot connect to the Docker daemon at unix:\/\/\/nonexistent/);
    // --context before DOCKER_HOST.
    const flag = await apiVersion({ DOCKER_HOST: BAD_HOST }, ['--context', 'good']);
    assert.equal(flag.stdout.trim(), '1.47');
    const missing = await berth(engine(), ['ps'], {
      env: { DOCKER_CONFIG: config, DOCKER_HOST: undefined, DOCKER_CONTEXT: 'nope' },
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /context "nope" does not exist/);
    const both = await berth(engine(), ['-H', engine().host, '--context', 'good', 'ps']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /either specify --host or --context, not both/);
    rmSync(path.join(config, 'config.json'));
  });

  it("Berth's own socket (~/.berth/docker.sock) when nothing else names an engine", async () => {
    mkdirSync(path.join(home, '.berth'), { recursive: true });
    symlinkSync(engine().socket, path.join(home, '.berth', 'docker.sock'));
    const r = await apiVersion({ DOCKER_HOST: undefined });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1.47');
    const plain = await berth(engine(), ['version'], {
      env: { DOCKER_CONFIG: config, HOME: home, DOCKER_HOST: undefined },
    });
    assert.match(plain.stdout, /^Client: Berth \d+\.\d+\.\d+$/m);
    // BERTH_HOME moves it, as it moves the VM's files.
    const berthHome = path.join(home, 'elsewhere');
    mkdirSync(berthHome);
    symlinkSync(engine().socket, path.join(berthHome, 'docker.sock'));
    const moved = await berth(engine(), ['version', '--format', '{{.Client.Host}}'], {
      env: { DOCKER_CONFIG: config, HOME: '/nonexistent', BERTH_HOME: berthHome, DOCKER_HOST: undefined },
    });
    assert.equal(moved.stdout, `unix://${berthHome}/docker.sock\n`);
    assert.match(
      plain.stdout,
      new RegExp(`^Server: Berth Engine .*\\(API 1\\.47.* on unix://${home}/\\.berth/docker\\.sock$`, 'm'),
    );
  });

  it('context install makes a "berth" docker context that the real docker CLI uses', async () => {
    const r = await berth(engine(), ['context', 'install'], {
      env: { DOCKER_CONFIG: config, HOME: home, DOCKER_HOST: undefined },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Created docker context "berth"/);
    const metaFile = path.join(
      config,
      'contexts',
      'meta',
      createHash('sha256').update('berth').digest('hex'),
      'meta.json',
    );
    const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
    assert.equal(meta.Name, 'berth');
    assert.equal(meta.Endpoints.docker.Host, `unix://${home}/.berth/docker.sock`);
    const env = { DOCKER_CONFIG: config, DOCKER_HOST: '' };
    const v = await docker(
      engine(),
      ['--context', 'berth', 'version', '--format', '{{.Server.Platform.Name}}'],
      { env },
    );
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Berth Engine /);
    // --use makes it current: docker without --context reaches Berth too; install again updates.
    const use = await berth(engine(), ['context', 'install', '--use'], {
      env: { DOCKER_CONFIG: config, HOME: home, DOCKER_HOST: undefined },
    });
    assert.match(use.stdout, /Updated docker context "berth"/);
    assert.equal(JSON.parse(readFileSync(path.join(config, 'config.json'), 'utf8')).currentContext, 'berth');
    const ls = await docker(
      engine(),
      ['context', 'ls', '--format', '{{.Name}} {{.Current}} {{.DockerEndpoint}}'],
      { env },
    );
    assert.match(ls.stdout, new RegExp(`^berth true unix://${home}/.berth/docker.sock$`, 'm'));
    const ps = await docker(engine(), ['ps', '--format', '{{.ID}}'], { env: { DOCKER_CONFIG: config } });
    assert.equal(ps.code, 0, ps.stderr);
    const show = await berth(engine(), ['context', 'show'], { env: { DOCKER_CONFIG: config } });
    assert.equal(show.stdout, 'berth\n');
  });
});

describe('berth: containers and images, output as the docker CLI prints it', () => {
  const engine = useEngineWithBusybox();
  let work: string;
  before(() => {
    work = tempDir('berth-cli-work-');
  });
  after(() => rmSync(work, { recursive: true, force: true }));
  const b = (args: string[], opts: Parameters<typeof berth>[2] = {}) => berth(engine(), args, opts);

  it('run -d, ps, images, inspect and port print what docker prints', async () => {
    const web = await b([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      '18080:80',
      '-p',
      '127.0.0.1:18443:443/tcp',
      '--expose',
      '9000',
      '-l',
      'tier=front',
      'busybox',
      'sleep',
      '300',
    ]);
    assert.equal(web.code, 0, web.stderr);
    assert.match(web.stdout, /^[0-9a-f]{64}\n$/);
    const done = await b(['run', '--name', 'done', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(done.code, 3);
    assert.equal(done.stdout, 'out\n');
    assert.equal(done.stderr, 'err\n');
    assert.ok((await b(['create', '--name', 'fresh', 'busybox', 'true'])).stdout.match(/^[0-9a-f]{64}\n$/));

    await bothSameTimed(engine(), ['ps']);
    await bothSameTimed(engine(), ['ps', '-a']);
    await bothSameTimed(engine(), ['ps', '-a', '--no-trunc']);
    const table = (await b(['ps'])).stdout;
    assert.match(table.split('\n')[0], /^CONTAINER ID {3}IMAGE {5}COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    await bothSame(engine(), ['ps', '-aq']);
    await bothSame(engine(), [
      'ps',
      '-a',
      '--format',
      'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Ports}}\t{{.Names}}\t{{.Label "tier"}}',
    ]);
    await bothSame(engine(), ['ps', '-a', '--format', '{{.Names}}: {{.State}} {{.Labels}}']);
    await bothSame(engine(), ['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}']);
    await bothSame(engine(), ['ps', '-a', '-n', '2', '--format', '{{.Names}}']);
    await bothSame(engine(), ['images']);
    await bothSame(engine(), ['images', '-q']);
    await bothSame(engine(), ['images', '--digests', '--no-trunc']);
    await bothSame(engine(), ['images', '--format', '{{json .}}']);
    await bothSame(engine(), ['inspect', 'web']);
    await bothSame(engine(), ['inspect', 'busybox']);
    await bothSame(engine(), [
      'inspect',
      '-f',
      '{{.State.Running}} {{.Config.Image}} {{json .Config.Labels}} {{.HostConfig.PortBindings}}',
      'web',
      'done',
    ]);
    await bothSame(engine(), [
      'inspect',
      '-f',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}} {{range .Config.Env}}{{.}};{{end}} {{if .State.Running}}up{{else}}down{{end}}',
      'web',
      'done',
    ]);
    await bothSame(engine(), ['port', 'web']);
    await bothSame(engine(), ['port', 'web', '443']);
    const missing = await b(['inspect', 'web', 'nosuch']);
    const dMissing = await docker(engine(), ['inspect', 'web', 'nosuch']);
    assert.equal(missing.code, dMissing.code);
    assert.equal(missing.stderr, dMissing.stderr);
    assert.equal(missing.stdout, dMissing.stdout);
  });

  it('logs, exec and rm, with the exit codes docker gives', async () => {
    const logs = await b(['logs', 'done']);
    assert.equal(logs.stdout, 'out\n');
    assert.equal(logs.stderr, 'err\n');
    const tail = await b(['logs', '--tail', '1', 'web']);
    assert.equal(tail.code, 0, tail.stderr);
    const exec = await b(['exec', '-e', 'GREETING=hi', 'web', 'sh', '-c', 'echo $GREETING; exit 4']);
    assert.equal(exec.code, 4);
    assert.equal(exec.stdout, 'hi\n');
    const input = await b(['exec', '-i', 'web', 'cat'], { input: 'piped\n' });
    assert.equal(input.stdout, 'piped\n');
    for (const args of [
      ['exec', 'web', 'nosuchcmd'],
      ['exec', 'done', 'true'],
      ['rm', 'nosuch'],
      ['rm', 'web'],
      ['stop', 'nosuch'],
    ]) {
      const d = await docker(engine(), args);
      const r = await b(args);
      assert.equal(
        r.code,
        d.code,
        `${args.join(' ')}: berth ${r.code} (${r.stderr}), docker ${d.code} (${d.stderr})`,
      );
      assert.equal(r.stderr.replace(/berth/g, 'docker'), d.stderr, args.join(' '));
    }
    const rm = await b(['rm', '-f', 'web', 'done', 'fresh']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'web\ndone\nfresh\n');
  });

  it('run exits with the container code, 125 for flag and daemon errors, 126/127 when the command cannot run', async () => {
    const cases: Array<[string[], number]> = [
      [['run', '--rm', 'busybox', 'sh', '-c', 'exit 7'], 7],
      [['run', '--rm', 'busybox', 'nosuchcmd'], 127],
      [['run', '--rm', 'busybox', '/etc'], 126],
      [['run', '--bogus', 'busybox'], 125],
      [['run', '--rm', '--pull', 'never', 'nosuch-image'], 125],
      [['run', '--rm', '--memory', 'lots', 'busybox'], 125],
    ];
    for (const [args, code] of cases) {
      const r = await b(args);
      const d = await docker(engine(), args);
      assert.equal(d.code, code, `docker ${args.join(' ')}: ${d.stderr}`);
      assert.equal(r.code, code, `berth ${args.join(' ')}: ${r.stderr}`);
    }
    const flag = await b(['run', '--bogus', 'busybox']);
    assert.equal(flag.stderr, "unknown flag: --bogus\nSee 'berth run --help'.\n");
    const image = await b(['run', '--rm', '--pull', 'never', 'nosuch-image']);
    assert.match(image.stderr, /^berth: Error response from daemon: No such image: nosuch-image/);
  });

  it("environment: image ENV, then --env-file, then -e; -e KEY takes berth's value or is left out", async () => {
    const envFile = path.join(work, 'app.env');
    writeFileSync(
      envFile,
      [
        '# a comment',
        '',
        'FROM_FILE=file',
        'BOTH=file',
        'QUOTED="kept as is"',
        'INTERP=$HOME',
        '  INDENTED=yes',
        'PASSED',
        'PATH=/file/bin',
      ].join('\n') + '\n',
    );
    const args = [
      'run',
      '--rm',
      '--env-file',
      envFile,
      '-e',
      'BOTH=flag',
      '-e',
      'PASSED',
      '-e',
      'UNSET',
      '-e',
      'FROM_SHELL',
      '-e',
      'EMPTY=',
      'busybox',
      '/bin/env',
    ];
    const shellEnv = { PASSED: 'from-berth', FROM_SHELL: 'shell', UNSET: undefined };
    const r = await b(args, { env: shellEnv });
    assert.equal(r.code, 0, r.stderr);
    const vars = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(vars.FROM_FILE, 'file');
    assert.equal(vars.BOTH, 'flag', '-e wins over --env-file');
    assert.equal(vars.QUOTED, '"kept as is"', 'no quote removal');
    assert.equal(vars.INTERP, '$HOME', 'no interpolation');
    assert.equal(vars.INDENTED, 'yes');
    assert.equal(vars.PASSED, 'from-berth');
    assert.equal(vars.FROM_SHELL, 'shell');
    assert.equal(vars.EMPTY, '');
    assert.equal(vars.PATH, '/file/bin', '--env-file wins over the image ENV');
    assert.ok(!('UNSET' in vars), '-e KEY of an unset variable is left out');
    const d = await docker(engine(), args, { env: { PASSED: 'from-berth', FROM_SHELL: 'shell' } });
    const sorted = (s: string) =>
      s
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('HOSTNAME='))
        .sort();
    assert.deepEqual(sorted(r.stdout), sorted(d.stdout), 'the same variables as docker run');
  });

  it('run -i reads piped stdin to its end; run -a and --cidfile as docker has them', async () => {
    const cat = await b(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], {
      input: 'line 1\nline 2\n',
    });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'line 1\nline 2\ndone\n');
    const onlyErr = await b(['run', '--rm', '-a', 'stderr', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(onlyErr.stdout, '');
    assert.equal(onlyErr.stderr, 'err\n');
    const cidfile = path.join(work, 'cid');
    const detached = await b(['run', '-d', '--rm', '--cidfile', cidfile, 'busybox', 'true']);
    assert.equal(readFileSync(cidfile, 'utf8'), detached.stdout.trim());
  });

  it("run without a TTY passes berth's signals on to the container (--sig-proxy)", async () => {
    const child = spawn(
      process.execPath,
      [
        BERTH_BIN,
        'run',
        '--rm',
        '--name',
        'trapper',
        'busybox',
        'sh',
        '-c',
        'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 1; done',
      ],
      {
        env: { ...process.env, ...(dockerEnv(engine()) as Record<string, string>) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await eventually(async () => out.includes('ready'), 10_000, 'the container to start');
    child.kill('SIGTERM');
    assert.equal(await exited, 3);
    assert.equal(out, 'ready\ngot TERM\n');
  });

  it('exec -it: a terminal in a running container, with its exit code', async () => {
    assert.equal((await b(['run', '-d', '--name', 'shell', 'busybox', 'sleep', '300'])).code, 0);
    const term = berthPty(engine(), ['exec', '-it', 'shell', 'sh']);
    try {
      await term.waitFor('# ');
      term.write('tty; exit 4\r');
      await term.waitFor('/dev/pts/');
      assert.equal(await term.exited, 4);
    } finally {
      term.kill();
    }
    await b(['rm', '-f', 'shell']);
  });

  it('run -it: a raw terminal that follows resizes, exit code through, ctrl-p ctrl-q detaches', async () => {
    const term = berthPty(engine(), ['run', '-it', '--name', 'tty', 'busybox', 'sh'], {
      cols: 100,
      rows: 30,
    });
    try {
      await term.waitFor('# ');
      term.write('stty size\r');
      await term.waitFor('30 100');
      term.resize(120, 40);
      await new Promise((r) => setTimeout(r, 300));
      term.write('stty size\r');
      await term.waitFor('40 120');
      term.write('\x10\x11'); // ctrl-p ctrl-q
      assert.equal(await term.exited, 0);
    } finally {
      term.kill();
    }
    const state = await b(['inspect', '-f', '{{.State.Running}}', 'tty']);
    assert.equal(state.stdout, 'true\n', 'detaching leaves the container running');
    const again = berthPty(engine(), ['attach', 'tty']);
    try {
      again.write('exit 5\r');
      assert.equal(await again.exited, 5);
    } finally {
      again.kill();
    }
    await eventually(
      async () => (await b(['inspect', '-f', '{{.State.Status}}', 'tty'])).stdout === 'exited\n',
      5000,
      'tty to exit',
    );
    await b(['rm', 'tty']);
  });
});
