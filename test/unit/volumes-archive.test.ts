// `docker cp` underneath: stat, archive and extract of container paths, with
// mounts honoured and a hostile container that plants symlinks to a "host"
// directory (a victim dir in our temp dir stands in for the host's /etc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  archivePath,
  extractArchive,
  goFileMode,
  rfc3339Nano,
  statPath,
} from '../../guest-agent/volumes/container-archive.js';
import { PathNotFoundError } from '../../guest-agent/volumes/safe-path.js';
import { EngineError } from '../../guest-agent/errors.js';
import { collect, gzip, listTar, makeTar, streamOf, tempRoot, type FileSpec } from './storage-fixtures.js';

const MTIME = new Date('2024-01-02T03:04:05Z');

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const { dir, cleanup } = await tempRoot('berth-archive-');
  t.after(cleanup);
  const root = path.join(dir, 'root');
  const victim = path.join(dir, 'victim');
  await fs.mkdir(victim);
  await fs.writeFile(path.join(victim, 'passwd'), 'HOST SECRET\n');
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await fs.mkdir(path.join(root, 'app/sub'), { recursive: true });
  await fs.writeFile(path.join(root, 'app/main.js'), 'console.log(1)\n');
  await fs.writeFile(path.join(root, 'app/sub/data.bin'), Buffer.from([0, 1, 2, 3, 255]));
  await fs.link(path.join(root, 'app/main.js'), path.join(root, 'app/sub/hard.js'));
  await fs.symlink('../main.js', path.join(root, 'app/sub/rel-link'));
  await fs.chown(path.join(root, 'app/sub/data.bin'), 1000, 1001);
  await fs.chmod(path.join(root, 'app/sub/data.bin'), 0o640);
  await fs.chown(path.join(root, 'app/sub'), 1000, 1001);
  await fs.chmod(path.join(root, 'app/sub'), 0o2750);
  for (const p of ['app/sub/data.bin', 'app/main.js', 'app/sub', 'app'])
    await fs.utimes(path.join(root, p), MTIME, MTIME);
  // The planted attack links: an absolute host path, and the container's own /etc.
  await fs.symlink(victim, path.join(root, 'x'));
  await fs.symlink('/etc', path.join(root, 'y'));
  await fs.symlink('../../../../../../../..' + victim, path.join(root, 'climb'));
  return { dir, root, victim };
}

async function victimUntouched(victim: string) {
  assert.deepEqual(await fs.readdir(victim), ['passwd'], 'the victim directory gained nothing');
  assert.equal(await fs.readFile(path.join(victim, 'passwd'), 'utf8'), 'HOST SECRET\n');
  assert.equal((await fs.stat(path.join(victim, 'passwd'))).nlink, 1, 'no hard link to the victim file');
}

async function rejectsWith(p: Promise<unknown>, kind: string, message: string | RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const tarOf = async (specs: FileSpec[]) => streamOf(await makeTar(specs));

test('statPath: files, directories, symlinks (target resolved in the container), missing paths', async (t) => {
  const { root } = await setup(t);
  const f = await statPath(root, [], '/app/main.js');
  assert.deepEqual(f, {
    name: 'main.js',
    size: 15,
    mode: 0o644,
    mtime: '2024-01-02T03:04:05Z',
    linkTarget: '',
  });
  const d = await statPath(root, [], 'app/sub/');
  assert.equal(d.name, 'sub');
  assert.equal(d.mode, 2 ** 31 + 2 ** 22 + 0o750, 'Go ModeDir|ModeSetgid|perm');
  const y = await statPath(root, [], '/y');
  assert.equal(y.mode, 2 ** 27 + 0o777, 'Go ModeSymlink');
  assert.equal(y.linkTarget, '/etc');
  assert.equal((await statPath(root, [], '/app/sub/rel-link')).linkTarget, '/app/main.js');
  const viaLink = await statPath(root, [], '/y/passwd');
  assert.equal(viaLink.size, 26, "the container's /etc/passwd, not the host's");
  await rejectsWith(
    statPath(root, [], '/nope/file'),
    'not-found',
    'Could not find the file /nope/file in container',
  );
  await assert.rejects(
    statPath(root, [], '/x/passwd'),
    PathNotFoundError,
    'a host path in a link is a path in the container',
  );
  await assert.rejects(statPath(root, [], '/climb/passwd'), PathNotFoundError);
  assert.equal((await statPath(root, [], '/')).name, '/');
});

test('goFileMode and rfc3339Nano match Go', () => {
  assert.equal(rfc3339Nano(1_704_164_645_000_000_000n), '2024-01-02T03:04:05Z');
  assert.equal(rfc3339Nano(1_704_164_645_120_000_000n), '2024-01-02T03:04:05.12Z');
  assert.equal(rfc3339Nano(1_704_164_645_000_000_001n), '2024-01-02T03:04:05.000000001Z');
  const fake = (mode: number, kind: string) =>
    ({
      mode,
      isDirectory: () => kind === 'dir',
      isSymbolicLink: () => kind === 'link',
      isFIFO: () => kind === 'fifo',
      isSocket: () => kind === 'sock',
      isCharacterDevice: () => kind === 'chr',
      isBlockDevice: () => kind === 'blk',
    }) as unknown as import('node:fs').Stats;
  assert.equal(goFileMode(fake(0o100755, 'file')), 0o755);
  assert.equal(goFileMode(fake(0o41777, 'dir')), 2 ** 31 + 2 ** 20 + 0o777);
  assert.equal(goFileMode(fake(0o104755, 'file')), 2 ** 23 + 0o755);
  assert.equal(goFileMode(fake(0o20666, 'chr')), 2 ** 26 + 2 ** 21 + 0o666);
  assert.equal(goFileMode(fake(0o10644, 'fifo')), 2 ** 25 + 0o644);
});

test('archivePath: names as dockerd gives them, ownership and links kept', async (t) => {
  const { root } = await setup(t);
  const list = async (p: string, opts = {}) => listTar(await collect(await archivePath(root, [], p, opts)));

  const dir = await list('/app');
  assert.deepEqual(
    dir.map((e) => [e.name, e.type]),
    [
      ['app/', 'directory'],
      ['app/main.js', 'file'],
      ['app/sub/', 'directory'],
      ['app/sub/data.bin', 'file'],
      ['app/sub/hard.js', 'link'],
      ['app/sub/rel-link', 'symlink'],
    ],
  );
  const data = dir.find((e) => e.name === 'app/sub/data.bin')!;
  assert.deepEqual([data.uid, data.gid, data.mode & 0o7777], [1000, 1001, 0o640]);
  assert.deepEqual(data.content, Buffer.from([0, 1, 2, 3, 255]));
  const sub = dir.find((e) => e.name === 'app/sub/')!;
  assert.equal(sub.mode & 0o7777, 0o2750);
  assert.equal(dir.find((e) => e.name === 'app/sub/hard.js')!.linkname, 'app/main.js');
  assert.equal(dir.find((e) => e.name === 'app/sub/rel-link')!.linkname, '../main.js');

  assert.deepEqual(
    (await list('/app/sub/.')).map((e) => e.name),
    ['./', './data.bin', './hard.js', './rel-link'],
    '"dir/." archives the content under "."',
  );
  const one = await list('app/main.js');
  assert.deepEqual(
    one.map((e) => [e.name, e.content.toString()]),
    [['main.js', 'console.log(1)\n']],
  );
  const link = await list('/y');
  assert.deepEqual(
    link.map((e) => [e.name, e.type, e.linkname]),
    [['y', 'symlink', '/etc']],
  );
  const followed = await list('/y', { followLink: true });
  assert.equal(followed[0]!.name, 'y/');
  assert.ok(followed.some((e) => e.name === 'y/passwd' && e.content.toString().startsWith('root:x')));
  await assert.rejects(archivePath(root, [], '/nope'), PathNotFoundError);
});

test('a planted symlink to the host cannot make archive read outside the root', async (t) => {
  const { root, victim } = await setup(t);
  await assert.rejects(archivePath(root, [], '/x/passwd'), PathNotFoundError);
  await assert.rejects(archivePath(root, [], '/x', { followLink: true }), PathNotFoundError);
  await assert.rejects(archivePath(root, [], '/climb/', { followLink: true }), PathNotFoundError);
  // Archiving the whole root stores the links as links: nothing of the victim comes along.
  const all = await listTar(await collect(await archivePath(root, [], '/')));
  assert.ok(all.some((e) => e.name === '/x' && e.type === 'symlink' && e.linkname === victim));
  assert.ok(!all.some((e) => e.content.toString().includes('HOST SECRET')));
  assert.equal(all[0]!.name, '/', 'the root archives as "/", children as "/name" (as dockerd)');
  await victimUntouched(victim);
});

test('extract round trip keeps content, modes, owners, times and links', async (t) => {
  const { dir, root } = await setup(t);
  const archive = await collect(await archivePath(root, [], '/app'));
  const other = path.join(dir, 'other-root');
  await fs.mkdir(path.join(other, 'dest'), { recursive: true });
  await extractArchive(other, [], '/dest', streamOf(archive));
  const base = path.join(other, 'dest/app');
  assert.equal(await fs.readFile(path.join(base, 'main.js'), 'utf8'), 'console.log(1)\n');
  const data = await fs.stat(path.join(base, 'sub/data.bin'));
  assert.deepEqual([data.uid, data.gid, data.mode & 0o7777], [1000, 1001, 0o640]);
  assert.equal(data.mtime.toISOString(), MTIME.toISOString());
  const sub = await fs.stat(path.join(base, 'sub'));
  assert.deepEqual([sub.uid, sub.gid, sub.mode & 0o7777], [1000, 1001, 0o2750]);
  assert.equal(sub.mtime.toISOString(), MTIME.toISOString(), 'directory times are set last');
  assert.equal(
    (await fs.stat(path.join(base, 'sub/hard.js'))).ino,
    (await fs.stat(path.join(base, 'main.js'))).ino,
  );
  assert.equal(await fs.readlink(path.join(base, 'sub/rel-link')), '../main.js');

  // Extracting again merges: directories stay, files are replaced.
  await fs.writeFile(path.join(base, 'extra'), 'kept');
  await extractArchive(other, [], '/dest', streamOf(gzip(archive)));
  assert.equal(await fs.readFile(path.join(base, 'extra'), 'utf8'), 'kept');
  assert.equal(await fs.readFile(path.join(base, 'main.js'), 'utf8'), 'console.log(1)\n');
});

test('extract through planted symlinks writes only inside the root', async (t) => {
  const { root, victim } = await setup(t);
  // A hard link to the host file through a planted link finds nothing to link to.
  await rejectsWith(
    extractArchive(root, [], '/', await tarOf([{ path: 'hl', type: 'link', linkname: 'climb/passwd' }])),
    'invalid',
    /hardlink "hl" -> "climb\/passwd" does not point at an existing file/,
  );
  // The extraction point itself is a link to the host path: it is a path in the container, which is missing.
  await assert.rejects(
    extractArchive(root, [], '/x', await tarOf([{ path: 'pwned', content: 'bad' }])),
    PathNotFoundError,
  );
  // Entries under the planted link go to the same place inside the root.
  await extractArchive(root, [], '/', await tarOf([{ path: 'x/pwned', content: 'bad' }]));
  assert.equal(await fs.readFile(path.join(root, victim, 'pwned'), 'utf8'), 'bad');
  // A link made by the archive itself, then a file through it.
  await extractArchive(
    root,
    [],
    '/',
    await tarOf([
      { path: 'evil', type: 'symlink', linkname: victim },
      { path: 'evil/passwd', content: 'overwritten' },
      { path: 'upper', type: 'symlink', linkname: '../../../../../../..' + victim },
      { path: 'upper/passwd2', content: 'overwritten' },
    ]),
  );
  assert.equal(await fs.readFile(path.join(root, victim, 'passwd'), 'utf8'), 'overwritten');
  assert.equal(await fs.readFile(path.join(root, victim, 'passwd2'), 'utf8'), 'overwritten');
  // Through the container's /etc link: the container's file changes, as it should.
  await extractArchive(root, [], '/y', await tarOf([{ path: 'hosts', content: '127.0.0.1 x\n' }]));
  assert.equal(await fs.readFile(path.join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 x\n');
  // Now the same hard link finds the container's own copy made above, never the host's.
  await extractArchive(root, [], '/', await tarOf([{ path: 'hl', type: 'link', linkname: 'climb/passwd' }]));
  assert.equal(await fs.readFile(path.join(root, 'hl'), 'utf8'), 'overwritten');
  // A file entry over the planted link replaces the link, never writes through it.
  await extractArchive(root, [], '/', await tarOf([{ path: 'x', content: 'just a file' }]));
  assert.equal((await fs.lstat(path.join(root, 'x'))).isFile(), true);
  await victimUntouched(victim);
});

test('entries with absolute paths or ".." are refused', async (t) => {
  const { root, victim } = await setup(t);
  const rel = path.relative(path.join(root, 'app'), path.join(victim, 'pwned'));
  await rejectsWith(
    extractArchive(root, [], '/app', await tarOf([{ path: rel, content: 'bad' }])),
    'invalid',
    /contains a "\.\." component/,
  );
  await rejectsWith(
    extractArchive(root, [], '/app', await tarOf([{ path: 'a/../../b', content: 'bad' }])),
    'invalid',
    /contains a "\.\." component/,
  );
  await rejectsWith(
    extractArchive(root, [], '/app', await tarOf([{ path: '/abs/file', content: 'bad' }])),
    'invalid',
    /has an absolute path/,
  );
  await rejectsWith(
    extractArchive(root, [], '/app', await tarOf([{ path: 'hl', type: 'link', linkname: '../etc/passwd' }])),
    'invalid',
    /hardlink target of "hl" "\.\.\/etc\/passwd" contains a "\.\." component/,
  );
  await rejectsWith(
    extractArchive(
      root,
      [],
      '/app',
      streamOf(Buffer.from('this is not a tar archive, not at all'.repeat(20))),
    ),
    'invalid',
    /the archive is not a valid tar/,
  );
  await victimUntouched(victim);
});

test('extract: the destination must be a directory; dir/non-dir overwrites as asked', async (t) => {
  const { root } = await setup(t);
  await rejectsWith(
    extractArchive(root, [], '/app/main.js', await tarOf([{ path: 'f', content: '' }])),
    'invalid',
    'extraction point is not a directory',
  );
  await rejectsWith(
    extractArchive(root, [], '/app', await tarOf([{ path: 'sub', content: 'file over dir' }]), {
      noOverwriteDirNonDir: true,
    }),
    'invalid',
    'cannot overwrite directory "sub" with non-directory "/app"',
  );
  await rejectsWith(
    extractArchive(root, [], '/app', await tarOf([{ path: 'main.js', type: 'dir' }]), {
      noOverwriteDirNonDir: true,
    }),
    'invalid',
    'cannot overwrite non-directory "main.js" with directory "/app"',
  );
  // Without the flag a directory is replaced by a file (its content removed, links inside not followed).
  await extractArchive(root, [], '/app', await tarOf([{ path: 'sub', content: 'now a file' }]));
  assert.equal(await fs.readFile(path.join(root, 'app/sub'), 'utf8'), 'now a file');
  assert.equal(
    await fs.readFile(path.join(root, 'app/main.js'), 'utf8'),
    'console.log(1)\n',
    'link target kept',
  );
});

test('copyUIDGID gives every entry the container user', async (t) => {
  const { root } = await setup(t);
  await extractArchive(
    root,
    [],
    '/app',
    await tarOf([
      { path: 'new/deeper/file', content: 'x', uid: 0, gid: 0 },
      { path: 'link', type: 'symlink', linkname: 'new', uid: 0, gid: 0 },
    ]),
    { copyUIDGID: true, chown: { uid: 4242, gid: 4343 } },
  );
  for (const p of ['new', 'new/deeper', 'new/deeper/file']) {
    const st = await fs.stat(path.join(root, 'app', p));
    assert.deepEqual([st.uid, st.gid], [4242, 4343], p);
  }
  const l = await fs.lstat(path.join(root, 'app/link'));
  assert.deepEqual([l.uid, l.gid], [4242, 4343]);
  await extractArchive(root, [], '/app', await tarOf([{ path: 'plain', content: 'y', uid: 7, gid: 8 }]));
  const st = await fs.stat(path.join(root, 'app/plain'));
  assert.deepEqual([st.uid, st.gid], [7, 8], "without copyUIDGID the archive's ids are kept");
});

test('mounts are honoured: paths under a destination map into its source', async (t) => {
  const { dir, root, victim } = await setup(t);
  const vol = path.join(dir, 'volumes/v/_data');
  await fs.mkdir(vol, { recursive: true });
  await fs.writeFile(path.join(vol, 'in-volume'), 'volume data');
  await fs.symlink('/etc', path.join(vol, 'etc-link'));
  const roVol = path.join(dir, 'volumes/ro/_data');
  await fs.mkdir(roVol, { recursive: true });
  const hosts = path.join(dir, 'hosts');
  await fs.writeFile(hosts, '127.0.0.1 localhost\n');
  const mounts = [
    { destination: '/data', source: vol },
    { destination: '/srv/ro', source: roVol, readOnly: true },
    { destination: '/etc/hosts', source: hosts },
  ];

  assert.equal((await statPath(root, mounts, '/data/in-volume')).size, 11);
  assert.equal((await statPath(root, mounts, '/etc/hosts')).size, 20, 'a file mount');
  assert.equal((await statPath(root, mounts, '/data/etc-link')).linkTarget, '/etc');
  assert.equal(
    (await statPath(root, mounts, '/data/etc-link/passwd')).size,
    26,
    'a link in a volume stays in the container',
  );

  await extractArchive(root, mounts, '/data', await tarOf([{ path: 'sub/from-cp', content: 'copied in' }]));
  assert.equal(await fs.readFile(path.join(vol, 'sub/from-cp'), 'utf8'), 'copied in');
  assert.equal(
    await fs.stat(path.join(root, 'data')).catch(() => 'absent'),
    'absent',
    'nothing written under the rootfs mountpoint',
  );

  await rejectsWith(
    extractArchive(root, mounts, '/srv/ro', await tarOf([{ path: 'f', content: 'x' }])),
    'invalid',
    'mounted volume is marked read-only',
  );
  await rejectsWith(
    extractArchive(root, mounts, '/srv', await tarOf([{ path: 'ro/f', content: 'x' }])),
    'invalid',
    'mounted volume is marked read-only',
  );
  await rejectsWith(
    extractArchive(root, mounts, '/', await tarOf([{ path: 'f', content: 'x' }]), { readonlyRootfs: true }),
    'invalid',
    'container rootfs is marked read-only',
  );
  await extractArchive(root, mounts, '/data', await tarOf([{ path: 'ok', content: 'y' }]), {
    readonlyRootfs: true,
  });
  assert.equal(
    await fs.readFile(path.join(vol, 'ok'), 'utf8'),
    'y',
    'a writable volume takes files on a read-only rootfs',
  );
  await rejectsWith(
    extractArchive(root, mounts, '/etc', await tarOf([{ path: 'hosts', content: 'replaced' }])),
    'invalid',
    /cannot overwrite \/etc\/hosts with "hosts": a volume or bind mount is there/,
  );
  assert.equal(await fs.readFile(hosts, 'utf8'), '127.0.0.1 localhost\n');

  // Archiving "/" walks into the mounts, also where the rootfs has no mountpoint directory yet.
  const all = await listTar(await collect(await archivePath(root, mounts, '/')));
  const names = all.map((e) => e.name);
  assert.ok(names.includes('/data/'));
  assert.ok(names.includes('/data/in-volume'));
  assert.ok(names.includes('/data/sub/from-cp'));
  assert.ok(names.includes('/srv/ro/'));
  assert.equal(all.find((e) => e.name === '/etc/hosts')!.content.toString(), '127.0.0.1 localhost\n');
  const one = await listTar(await collect(await archivePath(root, mounts, '/data')));
  assert.deepEqual(one.map((e) => e.name).sort(), [
    'data/',
    'data/etc-link',
    'data/in-volume',
    'data/ok',
    'data/sub/',
    'data/sub/from-cp',
  ]);
  await victimUntouched(victim);
});

test('devices and fifos round trip; unknown tar members are skipped', async (t) => {
  const { root } = await setup(t);
  await extractArchive(
    root,
    [],
    '/app',
    await tarOf([
      { path: 'pipe', type: 'fifo', mode: 0o600 },
      { path: 'null', type: 'char', mode: 0o666 },
    ]),
  );
  const pipe = await fs.lstat(path.join(root, 'app/pipe'));
  assert.ok(pipe.isFIFO());
  assert.equal(pipe.mode & 0o777, 0o600);
  assert.ok((await fs.lstat(path.join(root, 'app/null'))).isCharacterDevice());
  const list = await listTar(await collect(await archivePath(root, [], '/app')));
  assert.equal(list.find((e) => e.name === 'app/pipe')!.type, 'fifo');
  assert.equal(list.find((e) => e.name === 'app/null')!.type, 'character-device');
});

test('extract: symlinks with ".." inside the archive climb from the right directory; deep implied parents', async (t) => {
  const { root } = await setup(t);
  await extractArchive(
    root,
    [],
    '/app',
    await tarOf([
      { path: 'a/b/c/', type: 'dir' },
      { path: 'a/b/f1', content: '1' },
      { path: 'a/w/', type: 'dir' },
      { path: 'a/b/up', type: 'symlink', linkname: '../w' },
      { path: 'a/b/up/y', content: 'through the link' },
      { path: 'p/q/r/s/t/u/v/w/x/y/z/aa/bb/cc/dd/ee/ff/gg/file', content: 'deep' },
      // A directory replaced by a link within one archive: later entries follow the link.
      { path: 'd/f', content: 'old' },
      { path: 'e/', type: 'dir' },
      { path: 'd', type: 'symlink', linkname: 'e' },
      { path: 'd/g', content: 'via new link' },
    ]),
  );
  assert.equal(await fs.readFile(path.join(root, 'app/e/g'), 'utf8'), 'via new link');
  assert.equal(await fs.readlink(path.join(root, 'app/d')), 'e');
  assert.equal(await fs.readFile(path.join(root, 'app/a/w/y'), 'utf8'), 'through the link');
  assert.equal(await fs.stat(path.join(root, 'w')).catch(() => 'absent'), 'absent');
  const deep = path.join(root, 'app/p/q/r/s/t/u/v/w/x/y/z/aa/bb/cc/dd/ee/ff/gg');
  assert.equal(await fs.readFile(path.join(deep, 'file'), 'utf8'), 'deep');
  assert.equal((await fs.stat(deep)).mode & 0o777, 0o755, 'implied directories are 0755');
});
