// The rest of berth's docker-compatible commands against a real engine, output
// compared with the docker CLI's where docker has the command: volumes,
// networks, image tag/rmi/save/load/build/history/commit, pull and push with
// a real registry, login, lifecycle (stop/start/restart/kill/pause/wait/top/
// rename, start -a), stats, cp both ways, events, info.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { BERTH_BIN, berth } from '../helpers/berth.js';
import { docker, dockerEnv } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

describe('berth: the other docker commands', () => {
  const engine = useEngineWithBusybox();
  let work: string;
  const b = (args: string[], opts: Parameters<typeof berth>[2] = {}) => berth(engine(), args, opts);
  const d = (args: string[], opts: Parameters<typeof docker>[2] = {}) => docker(engine(), args, opts);
  /** Runs with berth, then the same with docker, and compares stdout, stderr and exit code. */
  const same = async (args: string[]) => {
    const [x, y] = await Promise.all([b(args), d(args)]);
    assert.equal(x.stdout, y.stdout, `stdout of ${args.join(' ')}`);
    assert.equal(x.stderr.replace(/berth/g, 'docker'), y.stderr, `stderr of ${args.join(' ')}`);
    assert.equal(x.code, y.code, `exit code of ${args.join(' ')}`);
    return x;
  };
  const ok = (r: { code: number; stderr: string }, what: string) =>
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'berth-cli-commands-'));
    recordForSweep(work);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('volume create, ls, inspect, rm, prune', async () => {
    assert.equal((await b(['volume', 'create', '--label', 'k=v', 'vol-b'])).stdout, 'vol-b\n');
    assert.equal((await d(['volume', 'create', 'vol-a'])).stdout, 'vol-a\n');
    assert.match((await b(['volume', 'create'])).stdout, /^[0-9a-f]{64}\n$/);
    await same(['volume', 'ls']);
    await same(['volume', 'ls', '-q']);
    await same(['volume', 'ls', '--format', '{{json .}}']);
    await same([
      'volume',
      'ls',
      '--filter',
      'label=k',
      '--format',
      'table {{.Name}}\t{{.Labels}}\t{{.Mountpoint}}',
    ]);
    await same(['volume', 'inspect', 'vol-a', 'vol-b']);
    await same(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Labels}}', 'vol-b']);
    await same(['volume', 'inspect', 'nosuch']);
    await same(['inspect', '--type', 'volume', 'nosuch']);
    await same(['network', 'inspect', 'nosuch']);
    assert.equal((await b(['volume', 'rm', 'vol-a', 'vol-b'])).stdout, 'vol-a\nvol-b\n');
    const prune = await b(['volume', 'prune', '-f']);
    ok(prune, 'prune');
    assert.match(prune.stdout, /^Deleted Volumes:\n[0-9a-f]{64}\n\nTotal reclaimed space: \d.*B\n$/);
    const asked = await b(['volume', 'prune'], { input: 'n\n' });
    assert.match(asked.stderr, /Are you sure you want to continue\? \[y\/N\] $/);
  });

  it('network create, ls, inspect, connect, disconnect, rm', async () => {
    ok(await b(['network', 'create', '--subnet', '10.77.0.0/24', '--label', 'team=a', 'net-b']), 'create');
    ok(await d(['network', 'create', 'net-a']), 'create');
    await same(['network', 'ls']);
    await same(['network', 'ls', '-q']);
    await same(['network', 'ls', '--no-trunc', '--format', '{{json .}}']);
    await same([
      'network',
      'ls',
      '--filter',
      'label=team=a',
      '--format',
      'table {{.Name}}\t{{.Labels}}\t{{.Internal}}',
    ]);
    await same(['network', 'inspect', 'net-b']);
    assert.equal(
      (await same(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'net-b'])).stdout,
      '10.77.0.0/24\n',
    );
    ok(await b(['run', '-d', '--name', 'netter', 'busybox', 'sleep', '300']), 'run');
    ok(await b(['network', 'connect', '--alias', 'nick', '--ip', '10.77.0.9', 'net-b', 'netter']), 'connect');
    // Parentheses, as docker runs them.
    const both = await same([
      'inspect',
      '-f',
      '{{.NetworkSettings.Networks.bridge.IPAddress}} {{(index .NetworkSettings.Networks "net-b").IPAddress}}',
      'netter',
    ]);
    assert.match(both.stdout, / 10\.77\.0\.9\n$/);
    const ip = await b(['inspect', '-f', '{{index .NetworkSettings.Networks "net-b"}}', 'netter']);
    assert.match(ip.stdout, /10\.77\.0\.9/);
    ok(await b(['network', 'disconnect', 'net-b', 'netter']), 'disconnect');
    assert.equal((await b(['network', 'rm', 'net-a', 'net-b'])).stdout, 'net-a\nnet-b\n');
    await same(['network', 'rm', 'nosuch']);
  });

  it('tag, rmi, save and load, history, commit, build', async () => {
    ok(await b(['tag', 'busybox', 'mine/box:1']), 'tag');
    assert.match((await d(['images', 'mine/box'])).stdout, /mine\/box\s+1\s/);
    await same(['history', 'busybox']);
    await same(['history', '-q', 'busybox']);
    const tar = path.join(work, 'box.tar');
    ok(await b(['save', '-o', tar, 'mine/box:1']), 'save');
    assert.ok(readFileSync(tar).length > 1000);
    const rmi = await b(['rmi', 'mine/box:1']);
    assert.equal(rmi.stdout, 'Untagged: mine/box:1\n');
    const load = await b(['load', '-i', tar]);
    assert.equal(load.stdout, 'Loaded image: mine/box:1\n');
    const piped = await b(['load'], { input: readFileSync(tar) });
    assert.equal(piped.stdout, 'Loaded image: mine/box:1\n');
    await same(['rmi', 'nosuch:1']);

    ok(await b(['run', '--name', 'changer', 'busybox', 'sh', '-c', 'echo changed > /marker']), 'run');
    const commit = await b(['commit', '-m', 'a marker', '-c', 'ENV COMMITTED=yes', 'changer', 'committed:1']);
    assert.match(commit.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const fromCommit = await b(['run', '--rm', 'committed:1', 'sh', '-c', 'cat /marker; echo $COMMITTED']);
    assert.equal(fromCommit.stdout, 'changed\nyes\n');

    const ctx = path.join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nARG GREETING=hi\nCOPY hello.txt /hello.txt\nRUN echo "$GREETING" > /greeting\n',
    );
    writeFileSync(path.join(ctx, 'hello.txt'), 'hello from the context\n');
    // .dockerignore is applied by the client, as the docker CLI does: the secret never leaves the folder.
    writeFileSync(path.join(ctx, '.dockerignore'), 'secret.txt\n');
    writeFileSync(path.join(ctx, 'secret.txt'), 'not for the image\n');
    const build = await b(['build', '-t', 'built:1', '--build-arg', 'GREETING=hey', ctx]);
    ok(build, 'build');
    assert.match(build.stdout, /^Step 1\/4 : FROM busybox$/m);
    assert.match(build.stdout, /^Successfully tagged built:1$/m);
    const out = await b(['run', '--rm', 'built:1', 'cat', '/hello.txt', '/greeting']);
    assert.equal(out.stdout, 'hello from the context\nhey\n');
    writeFileSync(path.join(ctx, 'Dockerfile.copyall'), 'FROM busybox\nCOPY . /ctx/\n');
    const ignored = await b([
      'build',
      '-q',
      '-t',
      'built:2',
      '-f',
      path.join(ctx, 'Dockerfile.copyall'),
      ctx,
    ]);
    ok(ignored, 'build with COPY .');
    const listed = await b(['run', '--rm', 'built:2', 'ls', '-a', '/ctx']);
    assert.doesNotMatch(listed.stdout, /secret\.txt/);
    assert.match(listed.stdout, /hello\.txt/);
    const missing = await b(['build', path.join(work, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /unable to prepare context: path ".*nowhere" not found/);
  });

  it('lifecycle commands print what docker prints', async () => {
    // A shell that exits on TERM (PID 1 ignores signals it has no handler for).
    ok(
      await b([
        'run',
        '-d',
        '--name',
        'life',
        'busybox',
        'sh',
        '-c',
        "trap 'exit 143' TERM; sleep 300 & wait",
      ]),
      'run',
    );
    const [top, dTop] = await Promise.all([b(['top', 'life']), d(['top', 'life'])]);
    assert.equal(top.stdout.split('\n')[0], dTop.stdout.split('\n')[0], 'the same header and widths');
    assert.match(top.stdout, /^root {16}\d+ +\d+ +\d+ +\d\d:\d\d +\? +\d\d:\d\d:\d\d +sleep 300$/m);
    assert.equal((await b(['pause', 'life'])).stdout, 'life\n');
    assert.equal((await b(['inspect', '-f', '{{.State.Status}}', 'life'])).stdout, 'paused\n');
    assert.equal((await b(['unpause', 'life'])).stdout, 'life\n');
    await same(['unpause', 'life']);
    assert.equal((await b(['stop', '-t', '1', 'life'])).stdout, 'life\n');
    assert.equal((await b(['wait', 'life'])).stdout, '143\n', 'stop sends TERM first');
    assert.equal((await b(['start', 'life'])).stdout, 'life\n');
    assert.equal((await b(['restart', '-t', '0', 'life'])).stdout, 'life\n');
    assert.equal((await b(['kill', 'life'])).stdout, 'life\n');
    assert.equal((await b(['wait', 'life'])).stdout, '137\n', 'kill sends KILL');
    ok(await b(['rename', 'life', 'renamed']), 'rename');
    assert.equal(
      (await b(['ps', '-a', '--filter', 'name=renamed', '--format', '{{.Names}}'])).stdout,
      'renamed\n',
    );
    await same(['kill', 'nosuch']);
    await same(['wait', 'nosuch']);
    ok(await b(['create', '--name', 'once', 'busybox', 'sh', '-c', 'echo attached; exit 6']), 'create');
    const started = await b(['start', '-a', 'once']);
    assert.equal(started.code, 6);
    assert.equal(started.stdout, 'attached\n');
  });

  it('stats without --no-stream draws the table again and again; --help before the arguments', async () => {
    ok(await b(['run', '-d', '--name', 'streamed', 'busybox', 'sleep', '300']), 'run');
    const child = spawn(process.execPath, [BERTH_BIN, 'stats', 'streamed'], {
      env: { ...process.env, ...(dockerEnv(engine()) as Record<string, string>) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await eventually(async () => (out.match(/^CONTAINER ID /gm) ?? []).length >= 2, 15_000, 'two tables');
    } finally {
      child.kill('SIGINT');
    }
    assert.match(out, /^[0-9a-f]{12} {3}streamed +\d+\.\d\d%/m);
    const help = await b(['ps', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: {2}berth ps \[OPTIONS\]/);
    const echoed = await b(['run', '--rm', 'busybox', 'echo', '--help']);
    assert.equal(echoed.stdout, '--help\n', "after the image, --help is the command's");
  });

  it("stats --no-stream: docker's columns and numbers", async () => {
    ok(await b(['run', '-d', '--name', 'busy', '--memory', '32m', 'busybox', 'sleep', '300']), 'run');
    const r = await b(['stats', '--no-stream', 'busy']);
    ok(r, 'stats');
    const [head, row] = r.stdout.trim().split('\n');
    // The widths follow the numbers, which change between two samples: the columns are compared.
    const dHead = (await d(['stats', '--no-stream', 'busy'])).stdout.split('\n')[0];
    assert.deepEqual(head.split(/ {3,}/), dHead.split(/ {3,}/));
    assert.match(
      row,
      /^[0-9a-f]{12} {3}busy +\d+\.\d\d% +[\d.]+[KMG]?i?B \/ 32MiB +\d+\.\d\d% +[\d.]+k?B \/ [\d.]+k?B +[\d.]+[kMG]?B \/ [\d.]+[kMG]?B +1$/,
    );
    await same(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.Container}}', 'busy']);
  });

  it("cp both ways with docker cp's rules, and a tar on stdout", async () => {
    ok(await b(['run', '-d', '--name', 'files', 'busybox', 'sleep', '300']), 'run');
    const src = path.join(work, 'tree');
    mkdirSync(path.join(src, 'sub'), { recursive: true });
    writeFileSync(path.join(src, 'a.txt'), 'A\n');
    writeFileSync(path.join(src, 'sub', 'b.txt'), 'B\n');
    const up = await b(['cp', src, 'files:/tmp']);
    ok(up, 'cp to /tmp');
    assert.match(up.stderr, /^Successfully copied [\d.]+k?B to files:\/tmp\n$/);
    const cat = (p: string) => d(['exec', 'files', 'cat', p]).then((r) => r.stdout);
    assert.equal(await cat('/tmp/tree/sub/b.txt'), 'B\n', 'a folder into an existing one keeps its name');
    ok(await b(['cp', src, 'files:/tmp/renamed']), 'cp to new path');
    assert.equal(await cat('/tmp/renamed/a.txt'), 'A\n', 'a folder to a new path takes that name');
    ok(await b(['cp', path.join(src, 'a.txt'), 'files:/tmp/one.txt']), 'cp file');
    assert.equal(await cat('/tmp/one.txt'), 'A\n');
    const down = path.join(work, 'down');
    ok(await b(['cp', 'files:/tmp/tree', down]), 'cp from container');
    assert.equal(readFileSync(path.join(down, 'sub', 'b.txt'), 'utf8'), 'B\n');
    ok(await b(['cp', 'files:/tmp/tree', down]), 'again, into the existing folder');
    assert.ok(existsSync(path.join(down, 'tree', 'a.txt')));
    ok(await b(['cp', 'files:/tmp/one.txt', path.join(work, 'one-copy.txt')]), 'file out');
    assert.equal(readFileSync(path.join(work, 'one-copy.txt'), 'utf8'), 'A\n');
    const tar = await b(['cp', 'files:/tmp/one.txt', '-']);
    assert.match(tar.stdout, /^one\.txt\0/);
    const missing = await b(['cp', 'files:/nowhere', work]);
    const dMissing = await d(['cp', 'files:/nowhere', work]);
    assert.equal(missing.code, dMissing.code);
    assert.equal(missing.stderr, dMissing.stderr);
  });

  it('events and info as docker shows them', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    ok(await b(['run', '--rm', '--name', 'eventful', 'busybox', 'true']), 'run');
    const until = Math.floor(Date.now() / 1000) + 1;
    await new Promise((r) => setTimeout(r, 1100));
    const args = [
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'container=eventful',
    ];
    const ev = await same(args);
    assert.match(
      ev.stdout,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container create [0-9a-f]{64} \(image=busybox, name=eventful\)$/m,
    );
    await same([...args, '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
    await same(['info', '--format', '{{.ServerVersion}} {{.Driver}} {{.Images}} {{.OSType}}']);
    const info = await b(['info']);
    assert.match(info.stdout, /^ Server Version: \d+\.\d+\.\d+$/m);
  });
});

describe('berth: pull, push and login with a real registry', () => {
  const engine = useEngineWithBusybox();
  const user = { username: 'berth', password: 's3cret-pass' };
  let registry: TestRegistry;
  let config: string;
  const b = (args: string[], input?: string) =>
    berth(engine(), args, { env: { DOCKER_CONFIG: config }, input });
  before(async () => {
    registry = await startRegistry({ htpasswd: user });
    config = mkdtempSync(path.join(tmpdir(), 'berth-cli-login-'));
    recordForSweep(config);
  });
  after(async () => {
    await registry?.stop();
    rmSync(config, { recursive: true, force: true });
  });

  it('login stores the credentials, push and pull use them', async () => {
    const ref = `${registry.host}/private/box:1`;
    assert.equal((await b(['tag', 'busybox', ref])).code, 0);
    const denied = await b(['push', ref]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /no basic auth credentials/);
    const bad = await b(['login', '-u', user.username, '--password-stdin', registry.host], 'wrong\n');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error response from daemon: .*401 Unauthorized/);
    const login = await b(
      ['login', '-u', user.username, '--password-stdin', registry.host],
      `${user.password}\n`,
    );
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, 'Login Succeeded\n');
    const auths = JSON.parse(readFileSync(path.join(config, 'config.json'), 'utf8')).auths;
    assert.equal(
      auths[registry.host].auth,
      Buffer.from(`${user.username}:${user.password}`).toString('base64'),
    );
    const push = await b(['push', ref]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(
      push.stdout,
      new RegExp(`^The push refers to repository \\[${registry.host}/private/box\\]$`, 'm'),
    );
    assert.match(push.stdout, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    assert.equal((await b(['rmi', ref])).code, 0);
    const pull = await b(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /^1: Pulling from private\/box$/m);
    assert.match(
      pull.stdout,
      new RegExp(
        `^Status: (Downloaded newer image|Image is up to date) for ${registry.host}/private/box:1$`,
        'm',
      ),
    );
    assert.match(pull.stdout, new RegExp(`\\n${registry.host}/private/box:1\\n$`));
    assert.doesNotMatch(pull.stdout, /\[=*>/, 'no progress bars off a terminal');
    const run = await b(['run', '--rm', '--pull', 'always', ref, 'echo', 'pulled']);
    assert.equal(run.stdout, 'pulled\n', run.stderr);
    const logout = await b(['logout', registry.host]);
    assert.equal(logout.stdout, `Removing login credentials for ${registry.host}\n`);
  });
});
