// Resolving container paths from the host: nasty symlinks (absolute, climbing,
// looping, pointing at host paths) never lead out of the container's root;
// mounts redirect into their sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ContainerFs, fdPath, resolveInRoot } from '../../guest-agent/volumes/safe-path.js';
import { tempRoot } from './storage-fixtures.js';

async function fakeRoot(t: { after: (fn: () => Promise<void>) => void }) {
  const { dir, cleanup } = await tempRoot('berth-safepath-');
  t.after(cleanup);
  const root = path.join(dir, 'root');
  // Stands in for the host's /etc: nothing may ever resolve into it.
  const victim = path.join(dir, 'victim');
  await fs.mkdir(victim);
  await fs.writeFile(path.join(victim, 'passwd'), 'host secret\n');
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.writeFile(path.join(root, 'etc/passwd'), 'container\n');
  await fs.mkdir(path.join(root, 'dir/sub'), { recursive: true });
  await fs.mkdir(path.join(root, 'deep'));
  const links: Array<[string, string]> = [
    ['abs', '/etc'],
    ['climb', '../../../../../etc'],
    ['dir/up', '../etc'],
    ['dir/sub/far', '../../../../../../../etc/passwd'],
    ['hostpath', victim],
    ['loop1', 'loop2'],
    ['loop2', 'loop1'],
    ['self', 'self'],
    ['deep/a', '/deep/b'],
    ['deep/b', '../abs'],
    ['dangling', '/nowhere/file'],
    ['rootlink', '/'],
  ];
  for (const [at, target] of links) await fs.symlink(target, path.join(root, at));
  return { dir, root, victim };
}

test('absolute and climbing symlinks resolve inside the root', async (t) => {
  const { root, victim } = await fakeRoot(t);
  const expectEtc = path.join(root, 'etc/passwd');
  for (const p of [
    'abs/passwd',
    '/abs/passwd',
    'climb/passwd',
    '../../../../etc/passwd',
    '/dir/../../../etc/passwd',
    'dir/up/passwd',
    'dir/sub/far',
    'deep/a/passwd',
    'rootlink/rootlink/etc/passwd',
  ]) {
    assert.equal(await resolveInRoot(root, p), expectEtc, p);
  }
  // A link to a host path is a container path of the same name: inside the root, not the host's.
  assert.equal(await resolveInRoot(root, 'hostpath/passwd'), path.join(root, victim, 'passwd'));
  assert.equal(await resolveInRoot(root, 'dangling'), path.join(root, 'nowhere/file'));
  assert.equal(await resolveInRoot(root, '/'), root);
  assert.equal(await resolveInRoot(root, '..'), root);
});

test('followFinal: false keeps a final symlink; missing components are appended lexically', async (t) => {
  const { root } = await fakeRoot(t);
  assert.equal(await resolveInRoot(root, 'abs', { followFinal: false }), path.join(root, 'abs'));
  assert.equal(await resolveInRoot(root, 'abs/', { followFinal: false }), path.join(root, 'abs'));
  assert.equal(await resolveInRoot(root, 'dir/up/x', { followFinal: false }), path.join(root, 'etc/x'));
  assert.equal(await resolveInRoot(root, 'no/such/../../etc/passwd'), path.join(root, 'etc/passwd'));
  assert.equal(await resolveInRoot(root, 'no/such/../file'), path.join(root, 'no/file'));
});

test('symlink loops are an error', async (t) => {
  const { root } = await fakeRoot(t);
  for (const p of ['loop1', 'self/x', 'dir/../loop2/a']) {
    await assert.rejects(resolveInRoot(root, p), /too many levels of symbolic links/, p);
  }
  // Not following the final link means no loop.
  assert.equal(await resolveInRoot(root, 'self', { followFinal: false }), path.join(root, 'self'));
});

test('mounts: paths under a destination land in its source; links inside a mount stay in the container', async (t) => {
  const { dir, root } = await fakeRoot(t);
  const vol = path.join(dir, 'vol');
  await fs.mkdir(path.join(vol, 'inner'), { recursive: true });
  await fs.symlink('/etc', path.join(vol, 'toetc'));
  await fs.symlink('../../../..', path.join(vol, 'inner/climb'));
  const hostname = path.join(dir, 'hostname');
  await fs.writeFile(hostname, 'box\n');
  const mounts = [
    { destination: '/data', source: vol },
    { destination: '/etc/hostname', source: hostname },
    { destination: '/data/inner/nested/', source: path.join(dir, 'victim') },
  ];
  const r = (p: string) => resolveInRoot(root, p, { mounts });
  assert.equal(await r('/data/x'), path.join(vol, 'x'));
  assert.equal(await r('/data'), vol);
  assert.equal(await r('/data/toetc/passwd'), path.join(root, 'etc/passwd'));
  assert.equal(
    await r('/data/inner/climb/etc/passwd'),
    path.join(root, 'etc/passwd'),
    '.. from a mount root leaves the mount, not the container',
  );
  assert.equal(await r('/data/inner/nested/passwd'), path.join(dir, 'victim/passwd'), 'a nested mount wins');
  assert.equal(await r('/etc/hostname'), hostname, 'a file mount');
  assert.equal(await r('/abs/hostname'), hostname, 'reached through a symlink too');
  await fs.symlink('/data', path.join(root, 'datalink'));
  assert.equal(await r('/datalink/y'), path.join(vol, 'y'));
});

test('a directory swapped for a symlink after resolution cannot redirect writes', async (t) => {
  const { root, victim } = await fakeRoot(t);
  const cfs = await ContainerFs.open(root);
  t.after(() => cfs.close());
  const lk = await cfs.resolve('dir/sub/newfile', { followFinal: false });
  t.after(() => lk.release());
  assert.equal(lk.stat, undefined);
  assert.equal(lk.logical, '/dir/sub/newfile');
  // The container wins a race: the directory moves away and a symlink to the "host" takes its place.
  await fs.rename(path.join(root, 'dir/sub'), path.join(root, 'dir/moved'));
  await fs.symlink(victim, path.join(root, 'dir/sub'));
  await fs.writeFile(fdPath(lk.dir, lk.name!), 'written');
  assert.equal(await fs.readFile(path.join(root, 'dir/moved/newfile'), 'utf8'), 'written');
  assert.deepEqual(await fs.readdir(victim), ['passwd'], 'nothing reached the victim');
});

test('mkdirParents creates missing directories inside the root only', async (t) => {
  const { root, victim } = await fakeRoot(t);
  const cfs = await ContainerFs.open(root);
  t.after(() => cfs.close());
  const lk = await cfs.resolve('hostpath/made/here/file', {
    followFinal: false,
    mkdirParents: { mode: 0o750 },
  });
  await lk.release();
  const made = path.join(root, victim, 'made/here');
  assert.ok((await fs.stat(made)).isDirectory());
  assert.equal((await fs.stat(made)).mode & 0o777, 0o750);
  assert.deepEqual(await fs.readdir(victim), ['passwd']);
  await assert.rejects(
    cfs.resolve('etc/passwd/x/y', { followFinal: false, mkdirParents: { mode: 0o755 } }),
    /"\/etc\/passwd" is not a directory/,
  );
});
