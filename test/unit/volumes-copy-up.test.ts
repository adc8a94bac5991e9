// Copy-up: a new, empty volume over an image directory starts with that
// directory's content, owners, modes, links and file capabilities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { copyUp, copyUpFromRoot, copyUpMarker } from '../../guest-agent/volumes/copy-up.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { tempRoot } from './storage-fixtures.js';

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const { dir, cleanup } = await tempRoot('berth-copyup-');
  t.after(cleanup);
  const root = path.join(dir, 'rootfs');
  const img = path.join(root, 'var/lib/app');
  await fs.mkdir(path.join(img, 'conf/deep'), { recursive: true });
  await fs.writeFile(path.join(img, 'conf/app.ini'), 'x=1\n');
  await fs.writeFile(path.join(img, 'conf/deep/secret'), 'shh');
  await fs.writeFile(path.join(img, 'tool'), '#!/bin/sh\n');
  await fs.link(path.join(img, 'tool'), path.join(img, 'tool-hardlink'));
  await fs.symlink('/etc/passwd', path.join(img, 'abs-link'));
  await fs.symlink('conf/app.ini', path.join(img, 'rel-link'));
  await fs.chown(img, 999, 998);
  await fs.chmod(img, 0o750);
  await fs.chown(path.join(img, 'conf/deep'), 1001, 1002);
  await fs.chmod(path.join(img, 'conf/deep'), 0o700);
  await fs.chown(path.join(img, 'conf/deep/secret'), 1001, 1002);
  await fs.chmod(path.join(img, 'conf/deep/secret'), 0o600);
  await fs.chmod(path.join(img, 'tool'), 0o4755);
  await fs.lchown(path.join(img, 'abs-link'), 5, 6);
  await run('setfattr', [
    '-n',
    'security.capability',
    '-v',
    '0x0100000200040000000000000000000000000000',
    path.join(img, 'tool'),
  ]);
  const vol = path.join(dir, 'volumes/v/_data');
  await fs.mkdir(vol, { recursive: true, mode: 0o755 });
  return { dir, root, img, vol };
}

test('a new volume gets the image directory: content, owners, modes, links, capabilities', async (t) => {
  const { img, vol } = await setup(t);
  assert.equal(await copyUp(img, vol), true);
  const st = await fs.stat(vol);
  assert.deepEqual(
    [st.uid, st.gid, st.mode & 0o7777],
    [999, 998, 0o750],
    'the volume root takes the image dir owner and mode',
  );
  assert.equal(await fs.readFile(path.join(vol, 'conf/app.ini'), 'utf8'), 'x=1\n');
  const deep = await fs.stat(path.join(vol, 'conf/deep'));
  assert.deepEqual([deep.uid, deep.gid, deep.mode & 0o7777], [1001, 1002, 0o700]);
  const secret = await fs.stat(path.join(vol, 'conf/deep/secret'));
  assert.deepEqual([secret.uid, secret.gid, secret.mode & 0o7777], [1001, 1002, 0o600]);
  assert.equal((await fs.stat(path.join(vol, 'tool'))).mode & 0o7777, 0o4755);
  const abs = await fs.lstat(path.join(vol, 'abs-link'));
  assert.ok(abs.isSymbolicLink(), 'symlinks are copied as symlinks');
  assert.equal(await fs.readlink(path.join(vol, 'abs-link')), '/etc/passwd');
  assert.deepEqual([abs.uid, abs.gid], [5, 6]);
  assert.equal(await fs.readlink(path.join(vol, 'rel-link')), 'conf/app.ini');
  const a = await fs.stat(path.join(vol, 'tool'));
  const b = await fs.stat(path.join(vol, 'tool-hardlink'));
  assert.equal(a.ino, b.ino, 'hard links stay linked');
  const cap = await run('getfattr', ['-e', 'hex', '-n', 'security.capability', path.join(vol, 'tool')]);
  assert.match(cap.stdout, /security\.capability=0x0100000200040000/);
  // The image directory itself is unchanged.
  assert.deepEqual((await fs.readdir(img)).sort(), ['abs-link', 'conf', 'rel-link', 'tool', 'tool-hardlink']);
});

test('a volume that already has content is left alone', async (t) => {
  const { img, vol } = await setup(t);
  await fs.writeFile(path.join(vol, 'mine'), 'data');
  assert.equal(await copyUp(img, vol), false);
  assert.deepEqual(await fs.readdir(vol), ['mine']);
});

test('a copy cut short by a crash (its marker left) is emptied and made whole again', async (t) => {
  const { img, vol } = await setup(t);
  await fs.writeFile(path.join(vol, 'tool'), 'half of it');
  await fs.writeFile(copyUpMarker(vol), '');
  assert.equal(await copyUp(img, vol), true);
  assert.deepEqual((await fs.readdir(vol)).sort(), ['abs-link', 'conf', 'rel-link', 'tool', 'tool-hardlink']);
  assert.notEqual(await fs.readFile(path.join(vol, 'tool'), 'utf8'), 'half of it');
  await assert.rejects(fs.access(copyUpMarker(vol)), 'the marker goes once the copy is whole');
  assert.equal(await copyUp(img, vol), false, "a whole copy is the volume's data from then on");
});

test('nothing to copy: a missing path, a file, a symlink given unresolved', async (t) => {
  const { root, img, vol } = await setup(t);
  assert.equal(await copyUp(path.join(root, 'nope'), vol), false);
  assert.equal(await copyUp(path.join(img, 'tool'), vol), false);
  assert.equal(
    await copyUp(path.join(img, 'abs-link'), vol),
    false,
    'a symlink is never followed from the host',
  );
  assert.deepEqual(await fs.readdir(vol), []);
});

test('copyUpFromRoot resolves the container path inside the root', async (t) => {
  const { dir, root, vol } = await setup(t);
  // The image's /data is a symlink to /var/lib/app: followed inside the container.
  await fs.symlink('/var/lib/app', path.join(root, 'data'));
  assert.equal(await copyUpFromRoot(root, '/data', vol), true);
  assert.equal(await fs.readFile(path.join(vol, 'conf/app.ini'), 'utf8'), 'x=1\n');

  // A symlink to a host directory names a path inside the container, which does not exist: no copy.
  const hostDir = path.join(dir, 'host-secrets');
  await fs.mkdir(hostDir);
  await fs.writeFile(path.join(hostDir, 'key'), 'host key');
  await fs.symlink(hostDir, path.join(root, 'evil'));
  const vol2 = path.join(dir, 'volumes/w/_data');
  await fs.mkdir(vol2, { recursive: true });
  assert.equal(await copyUpFromRoot(root, '/evil', vol2), false);
  assert.deepEqual(await fs.readdir(vol2), [], 'nothing of the host was copied');
});
