// Images: load, list, tag, rmi, history, save → load round trip, commit, diff,
// import, another distro, and hostile archives.
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import { docker } from '../helpers/docker.js';
import { startEngine } from '../helpers/engine.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { debianArchive } from '../fixtures/debian-image.js';
import { buildLayerTar, writeDockerArchive } from '../fixtures/docker-archive.js';

describe('images', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  let tmp = '';
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-images-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('lists, tags, untags and deletes', async () => {
    const images = await d('images', '--format', '{{.Repository}}:{{.Tag}}');
    assert.match(images.stdout, /^busybox:latest$/m);
    assert.equal((await d('tag', 'busybox', 'mybox:1')).code, 0);
    const id = (await d('inspect', '--format', '{{.Id}}', 'busybox')).stdout.trim();
    assert.equal((await d('inspect', '--format', '{{.Id}}', 'mybox:1')).stdout.trim(), id);
    const untag = await d('rmi', 'mybox:1');
    assert.equal(untag.code, 0, untag.stderr);
    assert.match(untag.stdout, /^Untagged: mybox:1$/m);
    assert.doesNotMatch(untag.stdout, /Deleted/);
    assert.equal((await d('inspect', 'busybox')).code, 0, 'busybox survives');
    const history = await d('history', '--format', '{{.ID}} {{.CreatedBy}}', 'busybox');
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`^${id.replace('sha256:', '').slice(0, 12)}`));
  });

  it('refuses to delete an image a container uses, unless forced', async () => {
    assert.equal((await d('tag', 'busybox', 'inuse:1')).code, 0);
    assert.equal((await d('tag', 'busybox', 'inuse:2')).code, 0);
    const c = (await d('create', 'inuse:1', 'true')).stdout.trim();
    const byId = await d('rmi', (await d('inspect', '--format', '{{.Id}}', 'inuse:1')).stdout.trim());
    assert.notEqual(byId.code, 0);
    assert.match(byId.stderr, /conflict: unable to delete [0-9a-f]{12} \(must be forced\)/);
    await d('rm', c);
    await d('rmi', 'inuse:1', 'inuse:2');
  });

  it('round-trips save → load into a fresh engine with the same id and tags', async () => {
    const archive = path.join(tmp, 'saved.tar');
    const save = await d('save', '-o', archive, 'busybox');
    assert.equal(save.code, 0, save.stderr);
    const id = (await d('inspect', '--format', '{{.Id}}', 'busybox')).stdout.trim();
    const fresh = await startEngine();
    try {
      const load = await docker(fresh, ['load', '-i', archive]);
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, /Loaded image: busybox:latest/);
      assert.equal((await docker(fresh, ['inspect', '--format', '{{.Id}}', 'busybox'])).stdout.trim(), id);
      const run = await docker(fresh, ['run', '--rm', 'busybox', 'echo', 'reloaded']);
      assert.equal(run.stdout, 'reloaded\n', run.stderr);
    } finally {
      await fresh.cleanup();
    }
  });

  it('commits a container (with --change) and runs the result; diff shows the change', async () => {
    const c = (
      await d(
        'run',
        '--name',
        'committer',
        'busybox',
        'sh',
        '-c',
        'echo committed > /data.txt; rm /etc/group',
      )
    ).stdout;
    void c;
    const diff = await d('diff', 'committer');
    // Exactly these, as dockerd prints them: the runtime's mountpoints (/etc/hosts…) are no change.
    assert.deepEqual(diff.stdout.trim().split('\n'), ['A /data.txt', 'C /etc', 'D /etc/group']);
    const fresh = (await d('create', 'busybox', 'true')).stdout.trim();
    assert.equal((await d('start', '-a', fresh)).code, 0);
    assert.equal((await d('diff', fresh)).stdout, '', 'a container that changed nothing has no diff');
    await d('rm', fresh);
    const commit = await d(
      'commit',
      '-m',
      'a message',
      '-a',
      'tester',
      '--change',
      'CMD ["cat", "/data.txt"]',
      'committer',
      'committed:1',
    );
    assert.equal(commit.code, 0, commit.stderr);
    const run = await d('run', '--rm', 'committed:1');
    assert.equal(run.stdout, 'committed\n', run.stderr);
    const gone = await d('run', '--rm', 'committed:1', 'ls', '/etc/group');
    assert.notEqual(gone.code, 0, 'the deletion was committed as a whiteout');
    const meta = JSON.parse((await d('inspect', 'committed:1')).stdout)[0];
    assert.equal(meta.Author, 'tester');
    assert.equal(meta.Comment, 'a message');
    await d('rm', 'committer');
  });

  it('imports a rootfs tarball with --change', async () => {
    const layer = await buildLayerTar([{ name: 'hello.txt', content: 'imported\n' }]);
    const file = path.join(tmp, 'rootfs.tar');
    await fs.writeFile(file, layer);
    const imp = await d('import', '--change', 'CMD ["/bin/true"]', file, 'imported:1');
    assert.equal(imp.code, 0, imp.stderr);
    const meta = JSON.parse((await d('inspect', 'imported:1')).stdout)[0];
    assert.deepEqual(meta.Config.Cmd, ['/bin/true']);
    assert.equal(meta.RootFS.Layers.length, 1);
  });

  it('prunes dangling images only, unless asked for all unused', async () => {
    const src = (await d('create', 'busybox', 'true')).stdout.trim();
    const dangling = (await d('commit', src)).stdout.trim();
    assert.match(dangling, /^sha256:/);
    assert.equal((await d('commit', src, 'kept:1')).code, 0);
    await d('rm', src);
    const prune = await d('image', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, new RegExp(`deleted: ${dangling}`));
    assert.equal((await d('inspect', dangling)).code, 1);
    assert.equal((await d('inspect', 'kept:1')).code, 0, 'a tagged image survives a plain prune');
    await d('rmi', 'kept:1');
  });

  it('runs another distribution: a Debian rootfs prints its os-release', async () => {
    const load = await d('load', '-i', await debianArchive());
    assert.equal(load.code, 0, load.stderr);
    const tag = /Loaded image: (\S+)/.exec(load.stdout)?.[1];
    assert.ok(tag, load.stdout);
    const r = await d('run', '--rm', tag!, 'cat', '/etc/os-release');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Debian GNU\/Linux/);
  });

  it('refuses hostile archives and writes nothing outside the data root', async () => {
    const cases: Array<[string, Buffer]> = [
      ['dotdot', await buildLayerTar([{ name: '../../../../tmp/berth-evil-dotdot', content: 'x' }])],
      ['absolute', await buildLayerTar([{ name: '/tmp/berth-evil-absolute', content: 'x' }])],
    ];
    for (const [label, layer] of [
      ['layer-dotdot', await buildLayerTar([{ name: '../berth-evil-layer', content: 'x' }])],
      [
        'layer-symlink-write',
        await buildLayerTar([
          { name: 'etc', type: 'symlink', linkname: '/tmp' },
          { name: 'etc/berth-evil-symlink', content: 'x' },
        ]),
      ],
      [
        'layer-hardlink',
        await buildLayerTar([{ name: 'passwd', type: 'link', linkname: '../../../../etc/passwd' }]),
      ],
    ] as Array<[string, Buffer]>) {
      const file = path.join(tmp, `${label}.tar`);
      await writeDockerArchive(file, { repoTags: [`evil-${label}:1`], layers: [layer] });
      cases.push([label, await fs.readFile(file)]);
    }
    const passwdBefore = await fs.readFile('/etc/passwd', 'utf8');
    for (const [label, archive] of cases) {
      const r = await docker(engine(), ['load'], { input: archive });
      assert.notEqual(r.code, 0, `${label} must be refused: ${r.stdout}`);
      assert.match(r.stderr, /refus|invalid|outside|unsafe|not allowed|escape/i, `${label}: ${r.stderr}`);
    }
    for (const name of [
      'berth-evil-dotdot',
      'berth-evil-absolute',
      'berth-evil-layer',
      'berth-evil-symlink',
    ]) {
      assert.equal(existsSync(path.join('/tmp', name)), false, `${name} must not exist`);
    }
    assert.equal(await fs.readFile('/etc/passwd', 'utf8'), passwdBefore);
    const images = await d('images', '--format', '{{.Repository}}');
    assert.doesNotMatch(images.stdout, /evil/);
  });
});
