// docker build with the classic builder (DOCKER_BUILDKIT=0): multi-stage
// builds, the cache, .dockerignore, --target, -q/--iidfile, COPY/ADD
// details, a failing RUN, a client that goes away, and bad input.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { docker, dockerEnv, type DockerResult } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { startEngine } from '../helpers/engine.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';

const CLASSIC = { DOCKER_BUILDKIT: '0' };

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
}

describe('docker build (classic builder)', () => {
  const engine = useEngineWithBusybox();
  let tmp = '';
  let n = 0;
  const d = (...args: string[]) => docker(engine(), args, { env: CLASSIC });
  const build = (dir: string, ...args: string[]): Promise<DockerResult> =>
    docker(engine(), ['build', ...args, dir], { env: CLASSIC });
  const context = async (files: Record<string, string>): Promise<string> => {
    const dir = path.join(tmp, `ctx${n++}`);
    await writeTree(dir, files);
    return dir;
  };
  const containerCount = async () => (await d('ps', '-aq')).stdout.split('\n').filter(Boolean).length;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-build-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const multiStage = {
    Dockerfile: [
      '# syntax=docker/dockerfile:1',
      'ARG BASE=busybox',
      'FROM ${BASE} AS builder',
      'ARG GREETING=hello',
      'ENV APP_DIR=/app',
      'WORKDIR $APP_DIR',
      'COPY src/ ./src/',
      'RUN cat src/a.txt > built.txt && \\',
      '    # a comment inside a continuation',
      '    echo "$GREETING" >> built.txt',
      '',
      'FROM busybox',
      'ARG VERSION',
      'ENV VERSION=${VERSION:-0.0} NAME="berth app"',
      'ENV PLAIN legacy form',
      'COPY --from=builder /app/built.txt /out/',
      'LABEL org.example.k="v w"',
      'CMD ["sh", "-c", "echo $NAME $VERSION $PLAIN; cat /out/built.txt"]',
      '',
    ].join('\n'),
    'src/a.txt': 'A\n',
  };

  it('builds a multi-stage Dockerfile whose image runs and prints the expected env', async () => {
    const dir = await context(multiStage);
    const r = await build(dir, '--build-arg', 'VERSION=1.2', '-t', 'app:1', '-t', 'app:latest');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Step 1\/14 : ARG BASE=busybox$/m);
    assert.match(r.stdout, /^Step 2\/14 : FROM \$\{BASE\} AS builder$/m);
    assert.match(r.stdout, /^ ---> Running in [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^ ---> Removed intermediate container [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Successfully built [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Successfully tagged app:1$/m);
    assert.match(r.stdout, /^Successfully tagged app:latest$/m);
    const run = await d('run', '--rm', 'app:1');
    assert.equal(run.stdout, 'berth app 1.2 legacy form\nA\nhello\n', run.stderr);
    const labels = await d('inspect', '--format', '{{index .Config.Labels "org.example.k"}}', 'app:1');
    assert.equal(labels.stdout.trim(), 'v w');
    assert.equal(await containerCount(), 0, 'no build container is left');
  });

  it('builds again entirely from the cache, with the same image', async () => {
    const dir = await context(multiStage);
    const first = await build(dir, '--build-arg', 'VERSION=1.2', '-t', 'cached:1');
    assert.equal(first.code, 0, first.stderr);
    const again = await build(dir, '--build-arg', 'VERSION=1.2', '-t', 'cached:2');
    assert.equal(again.code, 0, again.stderr);
    const steps = again.stdout.split('\n').filter((l) => /^Step \d+\/\d+ : (?!FROM|ARG BASE)/.test(l));
    const hits = again.stdout.split('\n').filter((l) => l === ' ---> Using cache');
    assert.equal(hits.length, steps.length, again.stdout);
    assert.doesNotMatch(again.stdout, /Running in/);
    const id1 = (await d('inspect', '--format', '{{.Id}}', 'cached:1')).stdout.trim();
    const id2 = (await d('inspect', '--format', '{{.Id}}', 'cached:2')).stdout.trim();
    assert.equal(id1, id2);
    // A changed source file misses from its COPY on.
    await fs.writeFile(path.join(dir, 'src', 'a.txt'), 'B\n');
    const changed = await build(dir, '--build-arg', 'VERSION=1.2', '-t', 'cached:3');
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /Step 6\/14 : COPY src\/ \.\/src\/\n ---> [0-9a-f]{12}/);
    assert.equal((await d('run', '--rm', 'cached:3')).stdout, 'berth app 1.2 legacy form\nB\nhello\n');
    // A filter or a size to keep is refused, not ignored: the prune would take more than asked.
    const filtered = await d('builder', 'prune', '-f', '--filter', 'until=24h');
    assert.notEqual(filtered.code, 0);
    assert.match(
      filtered.stderr,
      /--filter is not supported by Berth, whose prune empties the whole build cache/,
    );
    const keep = await d('builder', 'prune', '-f', '--keep-storage', '1g');
    assert.notEqual(keep.code, 0);
    assert.match(keep.stderr, /(keep-storage|reserved-space) is not supported by Berth/);
    assert.match((await build(dir, '--build-arg', 'VERSION=1.2')).stdout, /Using cache/);
    // docker builder prune: the next build runs every step again.
    const prune = await d('builder', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    const pruned = await build(dir, '--build-arg', 'VERSION=1.2');
    assert.doesNotMatch(pruned.stdout, /Using cache/);
    // --no-cache runs everything.
    const nocache = await build(dir, '--no-cache', '--build-arg', 'VERSION=1.2');
    assert.equal(nocache.code, 0, nocache.stderr);
    assert.doesNotMatch(nocache.stdout, /Using cache/);
    // Intermediate images stay out of `docker images`, but show with -a.
    const images = (await d('images', '-q')).stdout.split('\n').filter(Boolean);
    const all = (await d('images', '-aq')).stdout.split('\n').filter(Boolean);
    assert.ok(all.length > images.length + 5, `${all.length} vs ${images.length}`);
  });

  it('keys COPY on content and mode, through context symlinks too', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox\nCOPY link/ /l/\nCOPY real/ /r/\nCOPY one.txt /one\n',
      'real/f.txt': 'first\n',
      'one.txt': '1\n',
    });
    await fs.symlink('real', path.join(dir, 'link'));
    const hitsOf = (out: string) => out.split('\n').filter((l) => l === ' ---> Using cache').length;
    const first = await build(dir, '-t', 'linked:1');
    assert.equal(first.code, 0, `${first.stderr}\n${first.stdout}`);
    const again = await build(dir, '-t', 'linked:1');
    assert.equal(hitsOf(again.stdout), 3, again.stdout);
    // The file the symlink leads to changes: both COPYs of it miss, the last one after them rebuilds too.
    await fs.writeFile(path.join(dir, 'real', 'f.txt'), 'second\n');
    const changed = await build(dir, '-t', 'linked:2');
    assert.equal(hitsOf(changed.stdout), 0, changed.stdout);
    const cat = await d('run', '--rm', 'linked:2', 'cat', '/l/f.txt', '/r/f.txt');
    assert.equal(cat.stdout, 'second\nsecond\n', cat.stderr);
    // Only the mode of a file changes: its COPY misses.
    await fs.chmod(path.join(dir, 'one.txt'), 0o755);
    const chmodded = await build(dir, '-t', 'linked:3');
    assert.equal(hitsOf(chmodded.stdout), 2, chmodded.stdout);
    const mode = await d('run', '--rm', 'linked:3', 'stat', '-c', '%a', '/one');
    assert.equal(mode.stdout.trim(), '755', mode.stderr);
  });

  it('takes a Dockerfile from stdin (-f -) or from outside the context', async () => {
    const dir = await context({ 'f.txt': 'in the context\n' });
    const fromStdin = await docker(engine(), ['build', '-q', '-t', 'stdin-df', '-f', '-', dir], {
      env: CLASSIC,
      input: 'FROM busybox\nCOPY f.txt /from-stdin\n',
    });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal((await d('run', '--rm', 'stdin-df', 'cat', '/from-stdin')).stdout, 'in the context\n');
    const outside = await context({
      'Dockerfile.other': 'FROM busybox\nCOPY f.txt /from-outside\nCOPY . /ctx/\n',
    });
    const fromOutside = await build(
      dir,
      '-q',
      '-t',
      'outside-df',
      '-f',
      path.join(outside, 'Dockerfile.other'),
    );
    assert.equal(fromOutside.code, 0, fromOutside.stderr);
    assert.equal((await d('run', '--rm', 'outside-df', 'cat', '/from-outside')).stdout, 'in the context\n');
    // The Dockerfile and the .dockerignore the CLI added (each naming the other) are not part of the context.
    const ls = await d('run', '--rm', 'outside-df', 'ls', '-a', '/ctx');
    assert.deepEqual(ls.stdout.split('\n').filter(Boolean), ['.', '..', 'f.txt']);
  });

  it('honours .dockerignore and ignores the files it excludes', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx | sort | tr "\\n" " "\n',
      '.dockerignore': 'secret.txt\n*.log\n!keep.log\nDockerfile\n.dockerignore\n',
      'secret.txt': 'no',
      'a.log': 'no',
      'keep.log': 'yes',
      'app.txt': 'yes',
    });
    const r = await build(dir, '-t', 'ignored');
    assert.equal(r.code, 0, r.stderr);
    const ls = await d('run', '--rm', 'ignored', 'ls', '-a', '/ctx');
    assert.deepEqual(ls.stdout.split('\n').filter(Boolean).sort(), ['.', '..', 'app.txt', 'keep.log']);
  });

  it('stops at --target', async () => {
    const dir = await context(multiStage);
    const r = await build(dir, '--target', 'builder', '-t', 'target-only');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Step 7\/7 : RUN /m);
    const ls = await d('run', '--rm', 'target-only', 'cat', '/app/built.txt');
    assert.equal(ls.stdout, 'A\nhello\n');
    const missing = await build(dir, '--target', 'nope');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /target stage "nope" could not be found/);
  });

  it('prints only the image ID with -q, and writes --iidfile', async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo quiet > /q\nENV Q=1\n' });
    const iid = path.join(tmp, 'iid');
    const r = await build(dir, '-q', '--iidfile', iid, '-t', 'quiet');
    assert.equal(r.code, 0, r.stderr);
    const id = (await d('inspect', '--format', '{{.Id}}', 'quiet')).stdout.trim();
    assert.equal(r.stdout.trim(), id);
    // The CLI writes what the quiet stream said, newline included, as with dockerd.
    assert.equal((await fs.readFile(iid, 'utf8')).trim(), id);
  });

  it('copies with --chown, --chmod and wildcards; ADD unpacks a local tar', async () => {
    const dir = await context({
      Dockerfile: [
        'FROM busybox',
        'COPY --chown=1000:1000 --chmod=640 *.txt /data/',
        'ADD bundle.tar.gz /opt/',
        'ADD plain.bin /opt/plain.bin',
        'WORKDIR /work/sub',
        'USER 1000',
        'EXPOSE 80 53/udp',
        'VOLUME /vol',
        'STOPSIGNAL SIGINT',
        'SHELL ["/bin/sh", "-ec"]',
        'HEALTHCHECK --interval=5s CMD true',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'ONBUILD RUN echo triggered',
      ].join('\n'),
      'a.txt': 'a',
      'b.txt': 'b',
      'c.md': 'c',
      'plain.bin': 'not a tar',
    });
    const bundleDir = path.join(tmp, 'bundle');
    await writeTree(bundleDir, { 'inner/file.txt': 'unpacked' });
    await run(['tar', '-czf', path.join(dir, 'bundle.tar.gz'), '-C', bundleDir, 'inner']);
    const r = await build(dir, '-t', 'copies');
    assert.equal(r.code, 0, r.stderr);
    const check = await d(
      'run',
      '--rm',
      '--user',
      '0',
      '--entrypoint',
      'sh',
      'copies',
      '-c',
      'stat -c "%n %u:%g %a" /data/*; ls /data; cat /opt/inner/file.txt; echo; cat /opt/plain.bin; echo; pwd',
    );
    assert.equal(
      check.stdout,
      '/data/a.txt 1000:1000 640\n/data/b.txt 1000:1000 640\na.txt\nb.txt\nunpacked\nnot a tar\n/work/sub\n',
      check.stderr,
    );
    const cfg = await d(
      'inspect',
      '--format',
      '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}|{{json .Config.Shell}}|{{json .Config.Healthcheck.Test}}|{{json .Config.OnBuild}}',
      'copies',
    );
    assert.equal(
      cfg.stdout.trim(),
      '1000|{"53/udp":{},"80/tcp":{}}|{"/vol":{}}|SIGINT|["/bin/sh","-ec"]|["CMD-SHELL","true"]|["RUN echo triggered"]',
    );
    const child = await context({ Dockerfile: 'FROM copies\n' });
    const triggered = await build(child);
    assert.equal(triggered.code, 0, triggered.stderr);
    assert.match(triggered.stdout, /# Executing 1 build trigger\n/);
    assert.match(triggered.stdout, /^triggered$/m);
  });

  it('runs RUN steps on the network asked for (--network none|host, default bridge)', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox\nRUN ls /sys/class/net | sort | tr "\\n" " " > /nets\n',
    });
    const nets = async (...args: string[]) => {
      const r = await build(dir, '--no-cache', '-t', 'nets', ...args);
      assert.equal(r.code, 0, r.stderr);
      return (await d('run', '--rm', 'nets', 'cat', '/nets')).stdout.trim().split(' ');
    };
    assert.deepEqual(await nets('--network', 'none'), ['lo']);
    assert.ok((await nets()).includes('eth0'), 'the default bridge');
    const limited = await build(
      await context({
        Dockerfile:
          'FROM busybox\nRUN grep -h extra /etc/hosts > /hosts; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes > /mem 2>/dev/null; true\n',
      }),
      '--add-host',
      'extra.example:10.1.2.3',
      '--memory',
      '64m',
      '-t',
      'limited',
    );
    assert.equal(limited.code, 0, limited.stderr);
    const seen = await d('run', '--rm', 'limited', 'cat', '/hosts', '/mem');
    assert.match(seen.stdout, /^10\.1\.2\.3\s+extra\.example$/m);
    assert.match(seen.stdout, /^67108864$/m);
    const host = await nets('--network', 'host');
    assert.ok(host.includes('berth0'), `the host's interfaces, its bridge among them: ${host.join(' ')}`);
  });

  it('takes steps from --cache-from images that came from elsewhere', async () => {
    const dir = await context({
      Dockerfile:
        'FROM busybox\nENV X=1\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCMD ["cat", "/b.txt"]\n',
      'a.txt': 'from cache\n',
    });
    const archive = path.join(tmp, 'cached-image.tar');
    assert.equal((await build(dir, '-t', 'source:1')).code, 0);
    assert.equal((await d('save', '-o', archive, 'source:1')).code, 0);
    const fresh = await startEngine();
    try {
      const f = (...args: string[]) => docker(fresh, args, { env: CLASSIC });
      assert.equal((await f('load', '-i', await busyboxArchive())).code, 0);
      assert.equal((await f('load', '-i', archive)).code, 0);
      const r = await f('build', '--cache-from', 'source:1', '-t', 'again', dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split('\n').filter((l) => l === ' ---> Using cache').length, 4, r.stdout);
      assert.equal((await f('run', '--rm', 'again')).stdout, 'from cache\n');
    } finally {
      await fresh.cleanup();
    }
  });

  it('commits only what RUN changed: no mountpoints or runtime files in the layer', async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN true\nRUN echo x > /made\n' });
    const r = await build(dir, '-t', 'layers');
    assert.equal(r.code, 0, r.stderr);
    const layers = async (ref: string) =>
      JSON.parse((await d('inspect', '--format', '{{json .RootFS.Layers}}', ref)).stdout) as string[];
    assert.equal((await layers('layers')).length, (await layers('busybox')).length + 1);
    const archive = path.join(tmp, 'layers.tar');
    assert.equal((await d('save', '-o', archive, 'layers')).code, 0);
    const top = (await layers('layers')).at(-1)!.replace('sha256:', '');
    const list = await listTar(archive, `blobs/sha256/${top}`);
    assert.deepEqual(list, ['made']);
  });

  it('docker rmi of a built image takes its untagged build steps along', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox\nENV UNIQUE=rmi-test\nRUN echo > /x\nCMD ["true"]\n',
    });
    const all = async () => (await d('images', '-aq', '--no-trunc')).stdout.split('\n').filter(Boolean);
    const before = await all();
    assert.equal((await build(dir, '-t', 'gone')).code, 0);
    assert.equal((await all()).length, before.length + 3);
    const gone = (await d('inspect', '--format', '{{.Id}}', 'gone')).stdout.trim();
    const intermediate = (await all()).find((id) => !before.includes(id) && id !== gone)!;
    const refused = await d('rmi', intermediate);
    assert.notEqual(refused.code, 0, 'a step with children stays');
    const rmi = await d('rmi', 'gone');
    assert.equal(rmi.code, 0, rmi.stderr);
    // Three images (ENV, RUN, CMD) and the RUN's layer.
    assert.equal(rmi.stdout.split('\n').filter((l) => l.startsWith('Deleted: ')).length, 4, rmi.stdout);
    assert.deepEqual((await all()).sort(), [...before].sort());
    assert.equal((await d('inspect', 'busybox')).code, 0);
  });

  it('reports a failing RUN with its exit code and leaves no container', async () => {
    const before = await containerCount();
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo about to fail\nRUN exit 3\n' });
    const r = await build(dir, '-t', 'fails');
    assert.equal(r.code, 3, "the CLI exits with the RUN's code");
    assert.match(r.stdout, /^about to fail$/m);
    assert.match(r.stderr, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    assert.equal(await containerCount(), before);
    assert.notEqual((await d('inspect', 'fails')).code, 0, 'no image was tagged');
  });

  it('stops and cleans up when the client goes away mid-RUN', async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo started; sleep 60\n' });
    const child = spawn('docker', ['build', dir], {
      env: { ...process.env, ...dockerEnv(engine(), CLASSIC) } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await eventually(async () => /^started$/m.test(out), 30_000, 'the RUN to start');
    child.kill('SIGKILL');
    await eventually(async () => (await containerCount()) === 0, 15_000, 'the build container to go');
  });

  it('ADD fetches a URL (loopback here), and fails clearly when it cannot', async () => {
    const server = http.createServer((_req, res) => res.end('downloaded\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const ok = await context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/file.txt /f\n` });
      const r = await build(ok, '-t', 'fetched');
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await d('run', '--rm', 'fetched', 'cat', '/f')).stdout, 'downloaded\n');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const dir = await context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/file.txt /f\n` });
    const r = await build(dir);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(`ADD failed: cannot download http://127.0.0.1:${port}/file.txt: .*ECONNREFUSED`),
    );
  });

  it('takes BuildKit syntax through the classic API: heredocs, RUN --mount, RUN --network', async () => {
    const dir = await context({
      'data.txt': 'from the context\n',
      'sub/a': 'a\n',
      Dockerfile: [
        'FROM busybox AS tools',
        'RUN echo tool > /tool.txt',
        'FROM busybox',
        'ARG NAME=world',
        'ENV WHO=${NAME}',
        'RUN <<EOF',
        'echo "as a script $WHO" > /script.txt',
        '# a line the shell skips',
        'EOF',
        "RUN <<'EOF'",
        '#!/bin/sh',
        'echo "run from $0" > /shebang.txt',
        'EOF',
        'RUN cat <<EOF > /catted.txt',
        'the shell reads this, $WHO',
        'EOF',
        'COPY <<EOF /expanded.txt',
        'hello ${WHO} "kept"',
        'EOF',
        'COPY --chmod=750 <<"EOF" /literal.sh',
        'hello ${WHO}',
        'EOF',
        "RUN --mount=type=cache,target=/var/cache/app sh -c 'echo run >> /var/cache/app/log; wc -l < /var/cache/app/log > /cache-runs.txt'",
        'RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /from-context.txt',
        "RUN --mount=type=bind,source=sub,target=/mnt/sub,rw sh -c 'echo scribble > /mnt/sub/new; ls /mnt/sub > /rw-list.txt'",
        "RUN --mount=type=bind,source=sub,target=/mnt/sub sh -c '(echo x > /mnt/sub/b) 2>/dev/null || echo read-only > /ro.txt'",
        'RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cp /t.txt /from-stage.txt',
        'RUN --mount=type=tmpfs,target=/scratch sh -c \'grep -c " /scratch tmpfs" /proc/mounts > /tmpfs.txt\'',
        "RUN --mount=type=secret,id=token sh -c 'test -e /run/secrets/token && echo given || echo not-given' > /secret.txt",
        "RUN --network=none sh -c 'ls /sys/class/net' > /net.txt",
        '',
      ].join('\n'),
    });
    const first = await build(dir, '-t', 'buildkit-syntax');
    assert.equal(first.code, 0, `${first.stderr}\n${first.stdout}`);
    const show = [
      '/script.txt',
      '/shebang.txt',
      '/catted.txt',
      '/expanded.txt',
      '/literal.sh',
      '/cache-runs.txt',
      '/from-context.txt',
      '/rw-list.txt',
      '/ro.txt',
      '/from-stage.txt',
      '/tmpfs.txt',
      '/secret.txt',
      '/net.txt',
    ];
    const files = await d(
      'run',
      '--rm',
      'buildkit-syntax',
      'sh',
      '-c',
      `for f in ${show.join(' ')}; do echo "$f=$(cat $f)"; done; stat -c %a /literal.sh; ls -d /mnt /var/cache/app /scratch /dev/pipes 2>&1; true`,
    );
    assert.equal(files.code, 0, files.stderr);
    assert.equal(
      files.stdout,
      [
        '/script.txt=as a script world',
        '/shebang.txt=run from /dev/pipes/EOF',
        '/catted.txt=the shell reads this, world',
        '/expanded.txt=hello world "kept"',
        '/literal.sh=hello ${WHO}',
        '/cache-runs.txt=1',
        '/from-context.txt=from the context',
        '/rw-list.txt=a\nnew',
        '/ro.txt=read-only',
        '/from-stage.txt=tool',
        '/tmpfs.txt=1',
        '/secret.txt=not-given',
        '/net.txt=lo',
        '750',
        // The mounts' targets were made to mount on; they are not part of the image.
        'ls: /mnt: No such file or directory',
        'ls: /var/cache/app: No such file or directory',
        'ls: /scratch: No such file or directory',
        'ls: /dev/pipes: No such file or directory',
        '',
      ].join('\n'),
    );
    // The rw bind wrote to a copy: the context is as it was.
    assert.deepEqual(await fs.readdir(path.join(dir, 'sub')), ['a']);

    // The cache mount keeps its files between builds; a bound file's content is part of the step's key.
    const again = await build(dir, '--no-cache', '-t', 'buildkit-syntax');
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await d('run', '--rm', 'buildkit-syntax', 'cat', '/cache-runs.txt')).stdout, '2\n');
    const cached = await build(dir, '-t', 'buildkit-syntax');
    assert.doesNotMatch(cached.stdout, /Running in/);
    // docker builder prune empties the cache mounts as well.
    const prune = await d('builder', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    await build(dir, '--no-cache', '-t', 'buildkit-syntax');
    assert.equal((await d('run', '--rm', 'buildkit-syntax', 'cat', '/cache-runs.txt')).stdout, '1\n');
    await fs.writeFile(path.join(dir, 'data.txt'), 'changed\n');
    const changed = await build(dir, '-t', 'buildkit-syntax');
    assert.match(changed.stdout, /RUN --mount=type=bind,source=data\.txt[^\n]*\n ---> Running in/);
    assert.equal((await d('run', '--rm', 'buildkit-syntax', 'cat', '/from-context.txt')).stdout, 'changed\n');

    for (const [line, want] of [
      ['RUN --mount=type=secret,id=tok,required true', /secret tok is required, but the classic build API/],
      ['RUN --network=host true', /needs the network\.host entitlement/],
      ['RUN --security=insecure true', /needs the security\.insecure entitlement/],
      ['RUN --mount=type=bind,source=../x,target=/x true', /outside the build context/],
      ['RUN --mount=type=volume,target=/x true', /unsupported mount type "volume"/],
      ['RUN --mount=type=bind,from=busybox,source=../..,target=/x true', /leads outside its stage/],
    ] as const) {
      const r = await build(await context({ Dockerfile: `FROM busybox\n${line}\n` }));
      assert.notEqual(r.code, 0, line);
      assert.match(r.stderr, want);
    }
    await d('rmi', 'buildkit-syntax');
  });

  it('refuses bad Dockerfiles and contexts with errors that say where', async () => {
    const images = (await d('images', '-aq')).stdout;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { Dockerfile: 'FROM busybox\n\nFOO bar\n' },
        /dockerfile parse error on line 3: unknown instruction: FOO/,
      ],
      [
        { Dockerfile: 'FROM busybox\nARG =x\n' },
        /dockerfile parse error on line 2: ARG names can not be blank/,
      ],
      [{ Dockerfile: 'RUN true\n' }, /line 1: no build stage in current context/],
      [
        { Dockerfile: 'FROM busybox\nCOPY ../outside /x\n' },
        /COPY failed: forbidden path outside the build context: \.\.\/outside/,
      ],
      [{ Dockerfile: 'FROM busybox\nCOPY missing.txt /x\n' }, /file not found in build context/],
      [{ Dockerfile: 'FROM busybox\nCMD ["a", 1]\n' }, /line 2: when using JSON array syntax/],
      [{ Dockerfile: 'FROM scratch\n' }, /No image was generated/],
    ];
    for (const [files, want] of cases) {
      const r = await build(await context(files));
      assert.notEqual(r.code, 0, `${files.Dockerfile} should fail`);
      assert.match(r.stderr, want);
    }
    assert.equal((await d('images', '-aq')).stdout, images, 'nothing stored');
  });

  it('refuses a context tar whose paths escape, writing nothing outside', async () => {
    const pack = tar.pack();
    pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY . /\n');
    pack.entry({ name: '../../../escaped-by-build' }, 'evil');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const res = await postBuild('t=escape', body);
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /contains a \\?"\.\.\\?" component/);
    for (const dir of [engine().dataRoot, path.dirname(engine().dataRoot), '/']) {
      await assert.rejects(fs.stat(path.join(dir, 'escaped-by-build')));
    }
  });

  it('refuses --squash (the CLI sends it with an experimental engine) rather than ignoring it', async () => {
    const pack = tar.pack();
    pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nRUN true\n');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const res = await postBuild('t=squashed&squash=1', Buffer.concat(chunks));
    assert.equal(res.status, 501, res.text);
    assert.match(res.text, /--squash is not supported by this Berth engine/);
    assert.equal((await d('image', 'inspect', 'squashed')).code, 1);
  });

  /** POST /build with a context tar, straight to the socket. */
  function postBuild(query: string, body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: engine().socket,
          path: `/v1.47/build?${query}`,
          method: 'POST',
          headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length },
        },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
});

async function run(cmd: string[]): Promise<void> {
  const { run: exec } = await import('../../guest-agent/util/subprocess.js');
  await exec(cmd[0]!, cmd.slice(1));
}

/** Names in a tar that is itself an entry of another tar (a layer inside a saved image). */
async function listTar(archive: string, inner: string): Promise<string[]> {
  const { createReadStream } = await import('node:fs');
  const outer = tar.extract();
  const names: string[] = [];
  const done = (async () => {
    for await (const entry of outer) {
      if (entry.header.name !== inner) {
        entry.resume();
        continue;
      }
      const layer = tar.extract();
      const listing = (async () => {
        for await (const e of layer) {
          names.push(e.header.name);
          e.resume();
        }
      })();
      entry.pipe(layer);
      await listing;
    }
  })();
  createReadStream(archive).pipe(outer);
  await done;
  return names;
}
