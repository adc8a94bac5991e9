// The local volume driver: create/get/list/remove/prune as dockerd answers
// them, and option volumes (tmpfs, bind) mounted on first use for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { VolumeStore, ANONYMOUS_LABEL } from '../../guest-agent/volumes/volume-store.js';
import { EngineError } from '../../guest-agent/errors.js';
import { mountPoints } from '../../guest-agent/util/mountinfo.js';
import { tempRoot } from './storage-fixtures.js';

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const { dir, cleanup } = await tempRoot('berth-volumes-');
  t.after(cleanup);
  const data = path.join(dir, 'data');
  const store = new VolumeStore(data);
  await store.init();
  return { dir, data, store };
}

/** Asserts an EngineError of a kind with exactly this message. */
async function rejects(p: Promise<unknown> | (() => unknown), kind: string, message: string | RegExp) {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: unknown) => {
      assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
      assert.equal(err.kind, kind);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

const free = () => false;

test('create, get, idempotent create, list and remove of a named volume', async (t) => {
  const { data, store } = await setup(t);
  const real = await fs.realpath(data);
  const v = await store.create({ Name: 'web-data', Labels: { app: 'web' } });
  assert.equal(v.Name, 'web-data');
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.equal(v.Mountpoint, path.join(real, 'volumes/web-data/_data'));
  assert.deepEqual(v.Labels, { app: 'web' });
  assert.equal(v.anonymous, false);
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok((await fs.stat(v.Mountpoint)).isDirectory());
  assert.equal((await fs.stat(v.Mountpoint)).mode & 0o777, 0o755);

  await fs.writeFile(path.join(v.Mountpoint, 'keep'), 'x');
  const again = await store.create({ Name: 'web-data', Labels: { other: '1' } });
  assert.deepEqual(again, v, 'creating an existing name returns it unchanged (dockerd is idempotent)');
  assert.equal(await fs.readFile(path.join(v.Mountpoint, 'keep'), 'utf8'), 'x', 'data kept');

  assert.deepEqual(store.get('web-data'), v);
  await rejects(() => store.get('nope'), 'not-found', 'get nope: no such volume');
  assert.deepEqual(
    store.list().map((x) => x.Name),
    ['web-data'],
  );

  // State survives a restart of the engine.
  const reopened = new VolumeStore(data);
  await reopened.init();
  assert.deepEqual(reopened.get('web-data'), v);

  await store.remove('web-data', {}, free);
  await rejects(() => store.get('web-data'), 'not-found', 'get web-data: no such volume');
  assert.equal(await fs.stat(path.join(real, 'volumes/web-data')).catch(() => 'gone'), 'gone');
  await rejects(store.remove('web-data', {}, free), 'not-found', 'get web-data: no such volume');
  await store.remove('web-data', { force: true }, free); // force: a missing volume is no error
});

test('anonymous volumes get a 64-hex name and the anonymous label', async (t) => {
  const { store } = await setup(t);
  const v = await store.create({}, true);
  assert.match(v.Name, /^[0-9a-f]{64}$/);
  assert.equal(v.anonymous, true);
  assert.deepEqual(v.Labels, { [ANONYMOUS_LABEL]: '' });
  const w = await store.create({});
  assert.notEqual(w.Name, v.Name);
  assert.equal(w.anonymous, true, 'no name means anonymous');
});

test('volume names are validated with dockerd messages; unknown drivers and options are refused', async (t) => {
  const { store } = await setup(t);
  await rejects(
    store.create({ Name: 'foo/bar' }),
    'invalid',
    'create foo/bar: "foo/bar" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
  );
  await rejects(store.create({ Name: '.hidden' }), 'invalid', /includes invalid characters/);
  await rejects(store.create({ Name: '../escape' }), 'invalid', /includes invalid characters/);
  await rejects(
    store.create({ Name: 'a' }),
    'invalid',
    'create a: volume name is too short, names should be at least two alphanumeric characters',
  );
  await rejects(
    store.create({ Name: 'v1', Driver: 'nfsplugin' }),
    'not-found',
    'create v1: error looking up volume plugin nfsplugin: plugin "nfsplugin" not found',
  );
  await rejects(
    store.create({ Name: 'v1', DriverOpts: { foo: 'bar' } }),
    'invalid',
    'create v1: invalid option: "foo"',
  );
  await rejects(
    store.create({ Name: 'v1', DriverOpts: { type: 'tmpfs' } }),
    'invalid',
    'create v1: missing required option: "device"',
  );
  await rejects(
    store.create({ Name: 'v1', DriverOpts: { size: '10m' } }),
    'invalid',
    'create v1: quota size requested but no quota support',
  );
  assert.deepEqual(store.list(), [], 'nothing was created by the failures');
  const ok = await store.create({ Name: 'A_b.c-9', Driver: 'local' });
  assert.equal(ok.Name, 'A_b.c-9');
});

test('a volume in use cannot be removed, even with force', async (t) => {
  const { store } = await setup(t);
  await store.create({ Name: 'busy' });
  const users = (name: string) => (name === 'busy' ? ['c0ffee', 'beef'] : []);
  await rejects(
    store.remove('busy', {}, users),
    'conflict',
    'remove busy: volume is in use - [c0ffee, beef]',
  );
  await rejects(
    store.remove('busy', { force: true }, users),
    'conflict',
    'remove busy: volume is in use - [c0ffee, beef]',
  );
  assert.equal(store.get('busy').Name, 'busy');
  await store.remove('busy', {}, () => []);
  assert.deepEqual(store.list(), []);
});

test('list filters: name, label, driver, dangling; unknown filters are refused', async (t) => {
  const { store } = await setup(t);
  await store.create({ Name: 'alpha', Labels: { tier: 'db', env: 'prod' } });
  await store.create({ Name: 'beta', Labels: { tier: 'web' } });
  const anon = await store.create({}, true);
  const inUse = (n: string) => (n === 'alpha' ? ['c1'] : false);
  const names = (f: Record<string, string[]>) =>
    store.list(new Map(Object.entries(f)), inUse).map((v) => v.Name);

  assert.deepEqual(names({}), [anon.Name, 'alpha', 'beta'].sort());
  assert.deepEqual(names({ name: ['alp'] }), ['alpha'], 'name matches as a pattern');
  // ('t' is not a hex digit: the anonymous volume's random name never matches.)
  assert.deepEqual(names({ name: ['^b.*ta$'] }), ['beta']);
  assert.deepEqual(names({ label: ['tier'] }), ['alpha', 'beta']);
  assert.deepEqual(names({ label: ['tier=db'] }), ['alpha']);
  assert.deepEqual(names({ label: ['tier=db', 'env=dev'] }), [], 'every label must match');
  assert.deepEqual(names({ driver: ['local'] }).length, 3);
  assert.deepEqual(names({ driver: ['other'] }), []);
  assert.deepEqual(names({ dangling: ['true'] }), [anon.Name, 'beta'].sort());
  assert.deepEqual(names({ dangling: ['0'] }), ['alpha']);
  await rejects(() => names({ dangling: ['maybe'] }), 'invalid', "invalid filter 'dangling=maybe'");
  await rejects(() => names({ color: ['red'] }), 'invalid', "invalid filter 'color'");
});

test('prune removes unused anonymous volumes only, unless all=true', async (t) => {
  const { store } = await setup(t);
  const named = await store.create({ Name: 'named' });
  const anonFree = await store.create({}, true);
  const anonUsed = await store.create({}, true);
  await store.create({ Name: 'tmp-opts', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } });
  await fs.writeFile(path.join(anonFree.Mountpoint, 'f'), Buffer.alloc(1000));
  const inUse = (n: string) => (n === anonUsed.Name ? ['c1'] : []);

  const r1 = await store.prune(inUse);
  assert.deepEqual(r1, { VolumesDeleted: [anonFree.Name], SpaceReclaimed: 1000 });
  assert.deepEqual(
    store
      .list()
      .map((v) => v.Name)
      .sort(),
    [anonUsed.Name, 'named', 'tmp-opts'].sort(),
  );
  await rejects(store.prune(inUse, new Map([['all', ['maybe']]])), 'invalid', /invalid filter 'all'/);
  await rejects(
    store.prune(inUse, new Map([['dangling', ['true']]])),
    'invalid',
    "invalid filter 'dangling'",
  );

  const r2 = await store.prune(inUse, new Map([['all', ['true']]]));
  assert.deepEqual(
    r2.VolumesDeleted,
    [named.Name],
    'all=true takes named ones; in-use and option volumes stay',
  );
  assert.deepEqual(
    store
      .list()
      .map((v) => v.Name)
      .sort(),
    [anonUsed.Name, 'tmp-opts'].sort(),
  );
});

test('prune label filters', async (t) => {
  const { store } = await setup(t);
  await store.create({ Name: 'keep', Labels: { keep: 'yes' } });
  await store.create({ Name: 'drop', Labels: { keep: 'no' } });
  const all = new Map([['all', ['1']]]);
  const r = await store.prune(() => [], new Map([...all, ['label!', ['keep=yes']]]));
  assert.deepEqual(r.VolumesDeleted, ['drop']);
  assert.deepEqual(
    store.list().map((v) => v.Name),
    ['keep'],
  );
});

test('a tmpfs-type volume is mounted at first use and unmounted by its last user', async (t) => {
  const { store } = await setup(t);
  t.after(() => store.shutdown());
  const v = await store.create({
    Name: 'scratch',
    DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0700' },
  });
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0700' });
  assert.equal((await mountPoints()).includes(v.Mountpoint), false, 'not mounted before use');

  assert.equal(await store.mountSource('scratch'), v.Mountpoint);
  assert.equal(await store.mountSource('scratch'), v.Mountpoint, 'a second user shares the mount');
  const mi = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const line = mi.split('\n').find((l) => l.split(' ')[4] === v.Mountpoint);
  assert.ok(line, 'mounted');
  assert.match(line!, / - tmpfs tmpfs .*size=1024k/);
  assert.equal((await fs.stat(v.Mountpoint)).mode & 0o777, 0o700);
  await fs.writeFile(path.join(v.Mountpoint, 'f'), 'in tmpfs');
  assert.equal(await store.size('scratch'), -1, 'option volumes have no size, as in dockerd');

  await store.release('scratch');
  assert.equal((await mountPoints()).includes(v.Mountpoint), true, 'still one user');
  await store.release('scratch');
  assert.equal((await mountPoints()).includes(v.Mountpoint), false, 'last user gone: unmounted');
  assert.deepEqual(await fs.readdir(v.Mountpoint), [], 'the tmpfs content went with it');

  await store.mountSource('scratch');
  // The engine's references say free, but a mountSource() is still held: refused.
  await rejects(
    store.remove('scratch', {}, () => []),
    'conflict',
    'remove scratch: volume is in use',
  );
  await store.release('scratch');
  await store.remove('scratch', {}, () => []);
  assert.equal((await mountPoints()).includes(v.Mountpoint), false);
  assert.equal(store.has('scratch'), false);
});

test('a bind-type volume shows a host directory; removing it never deletes that directory', async (t) => {
  const { dir, store } = await setup(t);
  t.after(() => store.shutdown());
  const host = path.join(dir, 'host-share');
  await fs.mkdir(host);
  await fs.writeFile(path.join(host, 'precious'), 'keep me');
  const v = await store.create({ Name: 'share', DriverOpts: { type: 'none', o: 'bind', device: host } });
  const src = await store.mountSource('share');
  assert.equal(await fs.readFile(path.join(src, 'precious'), 'utf8'), 'keep me');
  await fs.writeFile(path.join(src, 'new'), 'from container');
  assert.equal(await fs.readFile(path.join(host, 'new'), 'utf8'), 'from container');

  // Restart with the volume still mounted: it is known as mounted, and removal unmounts first.
  const reopened = new VolumeStore(path.dirname(path.dirname(path.dirname(v.Mountpoint))));
  await reopened.init();
  await reopened.remove('share', {}, () => []);
  assert.equal((await mountPoints()).includes(v.Mountpoint), false);
  assert.deepEqual((await fs.readdir(host)).sort(), ['new', 'precious'], 'host directory untouched');
});

test('a failing option mount is reported and leaves nothing mounted', async (t) => {
  const { dir, store } = await setup(t);
  await store.create({
    Name: 'broken',
    DriverOpts: { type: 'none', o: 'bind', device: path.join(dir, 'missing') },
  });
  await rejects(store.mountSource('broken'), 'internal', /failed to mount local volume/);
  await store.remove('broken', {}, () => []);
});

test('size counts the bytes of a plain volume', async (t) => {
  const { store } = await setup(t);
  const v = await store.create({ Name: 'sized' });
  await fs.writeFile(path.join(v.Mountpoint, 'a'), Buffer.alloc(300));
  await fs.mkdir(path.join(v.Mountpoint, 'd'));
  await fs.writeFile(path.join(v.Mountpoint, 'd/b'), Buffer.alloc(200));
  assert.equal(await store.size('sized'), 500);
  await rejects(store.size('none'), 'not-found', 'get none: no such volume');
});
