// resolveUser: --user forms and safe reading of the image's passwd/group files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveInRoot, resolveUser } from '../../guest-agent/runtime/user.js';
import { EngineError } from '../../guest-agent/errors.js';

let work: string;

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
app:x:1000:1000:App:/home/app:/bin/sh
web:x:33:33::/var/www:/bin/false
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
app:x:1000:
www-data:x:33:
staff:x:50:app
`;

async function makeRoot(name: string, files: Record<string, string> = {}): Promise<string> {
  const root = path.join(work, name);
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await fs.writeFile(path.join(root, p), content);
  }
  return root;
}

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-user-test-'));
});
after(() => fs.rm(work, { recursive: true, force: true }));

test('empty user is root with its groups from /etc/group', async () => {
  const root = await makeRoot('plain', { 'etc/passwd': PASSWD, 'etc/group': GROUP });
  assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [0, 10] });
  assert.deepEqual(await resolveUser(root, undefined), { uid: 0, gid: 0, additionalGids: [0, 10] });
});

test('name, uid, name:group, uid:gid', async () => {
  const root = await makeRoot('forms', { 'etc/passwd': PASSWD, 'etc/group': GROUP });
  assert.deepEqual(await resolveUser(root, 'app'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50] });
  assert.deepEqual(await resolveUser(root, '1000'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50] });
  // An explicit group replaces the supplementary groups.
  assert.deepEqual(await resolveUser(root, 'app:www-data'), { uid: 1000, gid: 33, additionalGids: [33] });
  assert.deepEqual(await resolveUser(root, 'web:50'), { uid: 33, gid: 50, additionalGids: [50] });
  assert.deepEqual(await resolveUser(root, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [4343] });
  // A numeric uid needs no passwd entry; its gid defaults to 0.
  assert.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [0] });
});

test('unknown names are errors a user can act on', async () => {
  const root = await makeRoot('unknown', { 'etc/passwd': PASSWD, 'etc/group': GROUP });
  await assert.rejects(resolveUser(root, 'nobody-here'), (err: unknown) => {
    assert.ok(err instanceof EngineError);
    assert.equal(err.kind, 'invalid');
    assert.equal(err.message, 'unable to find user nobody-here: no matching entries in passwd file');
    return true;
  });
  await assert.rejects(
    resolveUser(root, 'app:nogroup'),
    /unable to find group nogroup: no matching entries in group file/,
  );
  await assert.rejects(resolveUser(root, '99999999999'), /uids and gids must be in range 0-2147483647/);
});

test('an image without /etc/passwd still runs numeric users; names fail', async () => {
  const root = await makeRoot('empty');
  assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [0] });
  assert.deepEqual(await resolveUser(root, '1:2'), { uid: 1, gid: 2, additionalGids: [2] });
  await assert.rejects(resolveUser(root, 'app'), /unable to find user app/);
});

test('an absolute symlink /etc/passwd resolves inside the rootfs, not on the host', async () => {
  // The host's /etc/passwd has root; the image's "real" file has a different root entry.
  const root = await makeRoot('abs-link', {
    'etc/passwd': '', // replaced by a link below
    'etc/group': GROUP,
    'data/passwd': 'root:x:0:77:r:/:/bin/sh\nonlyimage:x:555:555::/:/bin/sh\n',
  });
  await fs.rm(path.join(root, 'etc/passwd'));
  await fs.symlink('/data/passwd', path.join(root, 'etc/passwd'));
  assert.deepEqual(await resolveUser(root, 'onlyimage'), { uid: 555, gid: 555, additionalGids: [555] });
  assert.equal((await resolveUser(root, '')).gid, 77);
});

test("a symlink to the host's /etc/shadow reads the rootfs's own path instead", async () => {
  // Followed on the host, this would read the host's /etc/shadow, whose "root:…" line parses
  // as a user. Resolved inside the rootfs it is <rootfs>/etc/shadow.
  const image = await makeRoot('shadow-link', {
    'etc/group': GROUP,
    'etc/shadow': 'imageuser:x:321:322::/:/bin/sh\n',
  });
  await fs.symlink('/etc/shadow', path.join(image, 'etc/passwd'));
  assert.equal(await resolveInRoot(image, '/etc/passwd'), path.join(image, 'etc/shadow'));
  assert.deepEqual(await resolveUser(image, 'imageuser'), { uid: 321, gid: 322, additionalGids: [322] });
  await assert.rejects(resolveUser(image, 'root'), /unable to find user root/);

  const root = await makeRoot('host-link', { 'etc/group': GROUP });
  await fs.symlink('/etc/passwd', path.join(root, 'etc/passwd')); // a loop to itself within the rootfs
  // Inside the rootfs, /etc/passwd → /etc/passwd is a loop, never the host file.
  await assert.rejects(resolveUser(root, 'root'), /too many levels of symbolic links/);

  const root2 = await makeRoot('host-shadow', { 'etc/group': GROUP });
  // ../../../../etc/shadow: ".." stops at the rootfs, so this is <rootfs>/etc/shadow (absent).
  await fs.symlink('../../../../../../etc/shadow', path.join(root2, 'etc/passwd'));
  assert.equal(await resolveInRoot(root2, '/etc/passwd'), path.join(root2, 'etc/shadow'));
  await assert.rejects(resolveUser(root2, 'root'), /unable to find user root/);
  assert.deepEqual(await resolveUser(root2, '0'), { uid: 0, gid: 0, additionalGids: [0] });

  // A symlinked directory: /etc → /../../host-etc resolves to <rootfs>/host-etc.
  const root3 = path.join(work, 'dir-link');
  await fs.mkdir(path.join(root3, 'host-etc'), { recursive: true });
  await fs.writeFile(path.join(root3, 'host-etc/passwd'), 'me:x:7:8::/:/bin/sh\n');
  await fs.symlink('/../../host-etc', path.join(root3, 'etc'));
  assert.deepEqual(await resolveUser(root3, 'me'), { uid: 7, gid: 8, additionalGids: [8] });
});

test('/etc/passwd that is not a regular file is ignored', async () => {
  const root = await makeRoot('dir-passwd');
  await fs.mkdir(path.join(root, 'etc/passwd'));
  await assert.rejects(resolveUser(root, 'root'), /unable to find user root/);
  assert.equal((await resolveUser(root, '3')).uid, 3);
});

test('--group-add: names from the image, numbers as given, unknown names refused', async () => {
  const root = await makeRoot('group-add', { 'etc/passwd': PASSWD, 'etc/group': GROUP });
  assert.deepEqual(await resolveUser(root, 'web', ['staff', '4242', 'wheel', '33']), {
    uid: 33,
    gid: 33,
    additionalGids: [33, 50, 4242, 10],
  });
  // A numeric user:group reads /etc/group anyway when a group is added by name.
  assert.deepEqual(await resolveUser(root, '7:7', ['www-data']), { uid: 7, gid: 7, additionalGids: [7, 33] });
  await assert.rejects(resolveUser(root, '', ['nosuchgroup']), (err: unknown) => {
    assert.ok(err instanceof EngineError);
    assert.equal(err.kind, 'invalid');
    assert.equal(err.message, 'Unable to find group nosuchgroup: no matching entries in group file');
    return true;
  });
  await assert.rejects(resolveUser(root, '', ['4294967296']), /range/);
});
