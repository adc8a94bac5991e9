// Volumes, binds, tmpfs and docker cp, as a user types them.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import { run } from '../../guest-agent/util/subprocess.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('volumes and docker cp', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  let host = '';
  before(async () => {
    host = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-volumes-'));
  });
  after(async () => {
    await fs.rm(host, { recursive: true, force: true });
  });

  it('bind-mounts a host folder both ways, read-only with :ro, and makes a missing one', async () => {
    await fs.writeFile(path.join(host, 'from-host.txt'), 'hello from the host\n');
    const rw = await d(
      'run',
      '--rm',
      '-v',
      `${host}:/w`,
      'busybox',
      'sh',
      '-c',
      'cat /w/from-host.txt; echo from-ctr > /w/from-ctr.txt',
    );
    assert.equal(rw.stdout, 'hello from the host\n', rw.stderr);
    assert.equal(await fs.readFile(path.join(host, 'from-ctr.txt'), 'utf8'), 'from-ctr\n');
    const ro = await d('run', '--rm', '-v', `${host}:/w:ro`, 'busybox', 'sh', '-c', 'echo x > /w/nope.txt');
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    // A single file read-only, as `-v ./nginx.conf:/etc/nginx/nginx.conf:ro` (crun cannot make a file `rro`).
    const file = await d(
      'run',
      '--rm',
      '-v',
      `${path.join(host, 'from-host.txt')}:/etc/app/conf.txt:ro`,
      'busybox',
      'sh',
      '-c',
      'cat /etc/app/conf.txt; echo x > /etc/app/conf.txt',
    );
    assert.equal(file.stdout, 'hello from the host\n', file.stderr);
    assert.match(file.stderr, /Read-only file system/);
    const missing = path.join(host, 'made', 'by', 'engine');
    assert.equal((await d('run', '--rm', '-v', `${missing}:/m`, 'busybox', 'true')).code, 0);
    assert.ok((await fs.stat(missing)).isDirectory(), '-v creates a missing host path');
    const strict = await d(
      'run',
      '--rm',
      '--mount',
      `type=bind,source=${path.join(host, 'absent')},target=/m`,
      'busybox',
      'true',
    );
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /bind source path does not exist/);
  });

  it('makes a read-only bind read-only for the mounts under it too, unless asked not to (dockerd ≥ 25)', async () => {
    const dir = path.join(host, 'with-submount');
    const sub = path.join(dir, 'sub');
    await fs.mkdir(sub, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'berth-test-sub', sub]);
    try {
      const write = (...mountArgs: string[]) =>
        d('run', '--rm', ...mountArgs, 'busybox', 'sh', '-c', 'echo x > /w/sub/f && echo wrote');
      const recursive = await write('-v', `${dir}:/w:ro`);
      assert.notEqual(recursive.code, 0, 'the tmpfs under a :ro bind is read-only too');
      assert.match(recursive.stderr, /Read-only file system/);
      const plain = await write('-v', `${dir}:/w:ro-non-recursive`);
      assert.equal(plain.stdout, 'wrote\n', plain.stderr);
      const writable = await write(
        '--mount',
        `type=bind,source=${dir},target=/w,readonly,bind-recursive=writable`,
      );
      assert.equal(writable.stdout, 'wrote\n', writable.stderr);
      const top = await d('run', '--rm', '-v', `${dir}:/w:ro-non-recursive`, 'busybox', 'touch', '/w/top');
      assert.notEqual(top.code, 0, 'the bind itself stays read-only');
    } finally {
      await run('umount', [sub]);
    }
  });

  it('keeps a named volume across containers and fills a new one from the image', async () => {
    assert.equal(
      (await d('run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f')).code,
      0,
    );
    assert.equal(
      (await d('run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f')).stdout,
      'persisted\n',
    );
    const copy = await d('run', '--rm', '-v', 'etccopy:/etc', 'busybox', 'true');
    assert.equal(copy.code, 0, copy.stderr);
    const listed = await d('run', '--rm', '-v', 'etccopy:/x', 'busybox', 'ls', '/x');
    assert.match(listed.stdout, /^passwd$/m, 'copy-up of the image content');
    const inspect = JSON.parse((await d('volume', 'inspect', 'keep')).stdout)[0];
    assert.equal(inspect.Name, 'keep');
    assert.equal(inspect.Driver, 'local');
    const inUse = (await d('run', '-d', '-v', 'keep:/data', 'busybox', 'sleep', '300')).stdout.trim();
    const rmInUse = await d('volume', 'rm', 'keep');
    assert.notEqual(rmInUse.code, 0);
    assert.match(rmInUse.stderr, /volume is in use/);
    await d('rm', '-f', inUse);
    assert.equal((await d('volume', 'rm', 'keep', 'etccopy')).code, 0);
  });

  it('removes anonymous volumes with --rm and rm -v, and shows Mounts', async () => {
    const before = (await d('volume', 'ls', '-q')).stdout;
    assert.equal((await d('run', '--rm', '-v', '/anon', 'busybox', 'true')).code, 0);
    assert.equal((await d('volume', 'ls', '-q')).stdout, before, '--rm took its anonymous volume');
    const id = (await d('create', '-v', '/anon2', 'busybox', 'true')).stdout.trim();
    const mounts = JSON.parse((await d('inspect', id)).stdout)[0].Mounts;
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0].Type, 'volume');
    assert.equal(mounts[0].Destination, '/anon2');
    assert.equal((await d('rm', '-v', id)).code, 0);
    assert.equal((await d('volume', 'ls', '-q')).stdout, before, 'rm -v took it');
  });

  it('limits a tmpfs and shares volumes with --volumes-from', async () => {
    const full = await d(
      'run',
      '--rm',
      '--tmpfs',
      '/t:size=1m',
      'busybox',
      'sh',
      '-c',
      'head -c 2000000 /dev/zero > /t/big',
    );
    assert.notEqual(full.code, 0, 'writing past the tmpfs size fails');
    const src = (
      await d('run', '-d', '-v', 'shared:/s', 'busybox', 'sh', '-c', 'echo via-from > /s/f; sleep 300')
    ).stdout.trim();
    await new Promise((r) => setTimeout(r, 500));
    const from = await d('run', '--rm', '--volumes-from', src, 'busybox', 'cat', '/s/f');
    assert.equal(from.stdout, 'via-from\n', from.stderr);
    // A missing source is said as it is, not taken for a missing image (which the CLI would try to pull).
    const missing = await d('run', '--rm', '--volumes-from', 'no-such-source', 'busybox', 'true');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such container: no-such-source/);
    assert.doesNotMatch(missing.stderr, /Unable to find image/);
    await d('rm', '-f', src);
    await d('volume', 'rm', 'shared');
  });

  it('reports volume sizes in docker system df -v', async () => {
    const fill = await d(
      'run',
      '--rm',
      '-v',
      'dfvol:/d',
      'busybox',
      'sh',
      '-c',
      'head -c 500000 /dev/zero > /d/blob',
    );
    assert.equal(fill.code, 0, fill.stderr);
    const df = await d('system', 'df', '-v', '--format', '{{json .}}');
    assert.equal(df.code, 0, df.stderr);
    const usage = JSON.parse(df.stdout);
    const vol = usage.Volumes.find((v: { Name: string }) => v.Name === 'dfvol');
    assert.ok(vol, df.stdout);
    assert.match(vol.Size, /^50\d(\.\d+)?kB$/);
    const plain = await d('system', 'df');
    assert.match(plain.stdout, /^Images\s+\d+/m);
    assert.match(plain.stdout, /^Local Volumes\s+\d+/m);
    await d('volume', 'rm', 'dfvol');
  });

  it('refuses bad mounts with clear errors and creates nothing', async () => {
    const before = (await d('volume', 'ls', '-q')).stdout;
    const rel = await d('run', '--rm', '-v', 'rel/path:/x', 'busybox', 'true');
    assert.equal(rel.code, 125);
    assert.match(rel.stderr, /use absolute path/);
    const root = await d('run', '--rm', '-v', `${host}:/`, 'busybox', 'true');
    assert.match(root.stderr, /destination can't be '\/'/);
    const badName = await d('volume', 'create', 'a/b');
    assert.notEqual(badName.code, 0);
    assert.equal((await d('volume', 'ls', '-q')).stdout, before);
    assert.equal((await d('ps', '-aq')).stdout.trim(), '');
  });

  it('copies files in and out with docker cp, never through a planted symlink to the host', async () => {
    const victim = path.join(host, 'victim');
    await fs.mkdir(victim);
    await fs.writeFile(path.join(victim, 'secret'), 'host secret\n');
    const script = `mkdir -p ${victim}; echo container secret > ${victim}/secret; ln -s ${victim} /x; echo inside > /inside.txt; sleep 300`;
    const c = (await d('run', '-d', 'busybox', 'sh', '-c', script)).stdout.trim();
    await new Promise((r) => setTimeout(r, 500));
    const out = path.join(host, 'out.txt');
    assert.equal((await d('cp', `${c}:/inside.txt`, out)).code, 0);
    assert.equal(await fs.readFile(out, 'utf8'), 'inside\n');
    const planted = path.join(host, 'planted.txt');
    await fs.writeFile(planted, 'planted\n');
    assert.equal((await d('cp', planted, `${c}:/x/planted.txt`)).code, 0);
    assert.deepEqual((await fs.readdir(victim)).sort(), ['secret'], 'nothing written on the host');
    assert.equal(await fs.readFile(path.join(victim, 'secret'), 'utf8'), 'host secret\n');
    assert.equal((await d('exec', c, 'cat', `${victim}/planted.txt`)).stdout, 'planted\n');
    const read = await d('cp', `${c}:/x/secret`, path.join(host, 'read.txt'));
    assert.equal(read.code, 0, read.stderr);
    assert.equal(await fs.readFile(path.join(host, 'read.txt'), 'utf8'), 'container secret\n');
    assert.equal((await d('stop', '-t', '0', c)).code, 0);
    assert.equal((await d('cp', planted, `${c}:/stopped.txt`)).code, 0, 'into a stopped container');
    const missing = await d('cp', `${c}:/nonexistent`, host);
    assert.match(missing.stderr, /Could not find the file \/nonexistent in container/);
    await d('rm', c);
  });

  it('copies a symlink as a link, and with -L as what it points to inside the container', async () => {
    const c = (
      await d(
        'run',
        '-d',
        'busybox',
        'sh',
        '-c',
        'echo target > /target.txt; ln -s /target.txt /link; sleep 300',
      )
    ).stdout.trim();
    await new Promise((r) => setTimeout(r, 500));
    const asLink = path.join(host, 'as-link');
    assert.equal((await d('cp', `${c}:/link`, asLink)).code, 0);
    assert.equal(await fs.readlink(asLink), '/target.txt');
    const followed = path.join(host, 'followed');
    const cpL = await d('cp', '-L', `${c}:/link`, followed);
    assert.equal(cpL.code, 0, cpL.stderr);
    assert.equal((await fs.lstat(followed)).isFile(), true);
    assert.equal(await fs.readFile(followed, 'utf8'), 'target\n');
    await d('rm', '-f', c);
  });

  it("refuses a file mounted over a directory with dockerd's hint, and leaves no --rm container", async () => {
    const file = path.join(host, 'a-file');
    await fs.writeFile(file, 'x\n');
    const r = await d('run', '--rm', '-v', `${file}:/etc`, 'busybox', 'true');
    assert.equal(r.code, 125);
    assert.match(r.stderr, /not a directory/);
    assert.match(r.stderr, /Are you trying to mount a directory onto a file \(or vice-versa\)\?/);
    assert.equal((await d('ps', '-aq')).stdout.trim(), '');
  });
});
