// Every mount form the CLI sends, validated at create with dockerd's messages,
// and turned into inspect Mounts and OCI mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  inheritedMounts,
  inspectMounts,
  parseMounts,
  parseVolumesFrom,
  prepareBindSource,
  resolveMount,
  toOciMounts,
  volumeSubpathSource,
  type MountHostConfig,
} from '../../guest-agent/volumes/mount-spec.js';
import type { ParsedBind, ParsedMount } from '../../guest-agent/volumes/volume-types.js';
import { EngineError } from '../../guest-agent/errors.js';
import { tempRoot } from './storage-fixtures.js';

/** Linux 5.12 has mount_setattr: read-only binds are then read-only for their submounts too. */
const KERNEL_RRO = (() => {
  const [major = 0, minor = 0] = os
    .release()
    .split('.')
    .map((n) => parseInt(n, 10));
  return major > 5 || (major === 5 && minor >= 12);
})();

function fails(hc: MountHostConfig, message: string | RegExp, imageVolumes?: Record<string, object>) {
  assert.throws(
    () => parseMounts(hc, imageVolumes),
    (err: unknown) => {
      assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
      assert.equal(err.kind, 'invalid');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

const byDest = (ms: ParsedMount[]) => Object.fromEntries(ms.map((m) => [m.destination, m]));

test('-v host binds: modes, propagation, read-only, cleaned paths', () => {
  const ms = byDest(
    parseMounts(
      {
        Binds: [
          '/srv/data:/data',
          '/srv/conf/:/etc/app:ro',
          '/srv/shared:/shared:rshared,z',
          '/srv/a/../b:/b/:rw',
        ],
      },
      undefined,
    ),
  );
  assert.deepEqual(ms['/data'], {
    kind: 'bind',
    source: '/srv/data',
    destination: '/data',
    ro: false,
    propagation: 'rprivate',
    createMissing: true,
    nonRecursive: false,
    recursiveRo: 'auto',
    mode: '',
  });
  assert.equal((ms['/etc/app'] as ParsedBind).ro, true);
  assert.equal((ms['/etc/app'] as ParsedBind).source, '/srv/conf');
  assert.equal((ms['/etc/app'] as ParsedBind).mode, 'ro');
  assert.equal((ms['/shared'] as ParsedBind).propagation, 'rshared');
  assert.equal((ms['/b'] as ParsedBind).source, '/srv/b', 'host source cleaned as dockerd does');
});

test('-v named and anonymous volumes, nocopy, --volume-driver', () => {
  const ms = byDest(
    parseMounts({ Binds: ['cache:/cache', 'db-data:/var/lib/db:ro,nocopy', '/anon'] }, undefined),
  );
  assert.deepEqual(ms['/cache'], {
    kind: 'volume',
    name: 'cache',
    destination: '/cache',
    ro: false,
    nocopy: false,
    mode: '',
    fromImage: false,
  });
  assert.equal(ms['/var/lib/db']!.kind, 'volume');
  assert.equal((ms['/var/lib/db'] as { nocopy: boolean }).nocopy, true);
  assert.equal((ms['/var/lib/db'] as { ro: boolean }).ro, true);
  assert.equal((ms['/anon'] as { name?: string }).name, undefined, 'a lone path is an anonymous volume');

  const withDriver = parseMounts({ Binds: ['x1:/x'], VolumeDriver: 'other' }, undefined);
  assert.equal((withDriver[0] as { driver?: string }).driver, 'other');
});

test('-v errors carry dockerd messages', () => {
  fails(
    { Binds: ['./data:/data'] },
    'create ./data: "./data" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
  );
  fails(
    { Binds: ['data/sub:/data'] },
    /^create data\/sub: "data\/sub" includes invalid characters.*use absolute path$/,
  );
  fails(
    { Binds: ['a:/data'] },
    'create a: volume name is too short, names should be at least two alphanumeric characters',
  );
  fails(
    { Binds: ['/host:/'] },
    `invalid volume specification: '/host:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`,
  );
  fails(
    { Binds: ['/host:relative'] },
    `invalid volume specification: '/host:relative': invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`,
  );
  fails(
    { Binds: ['/host:/a/../etc'] },
    `invalid volume specification: '/host:/a/../etc': invalid mount config for type "bind": invalid mount path: '/a/../etc' mount path must not contain '..'`,
  );
  fails(
    { Binds: ['/host:/proc'] },
    /invalid mount config for type "bind": invalid mount path: '\/proc': mounting over \/proc is not allowed$/,
  );
  fails({ Binds: ['/host:/proc/sys/kernel'] }, /mounting under \/proc is not allowed/);
  fails({ Binds: ['/host:/sys'] }, /mounting over \/sys is not allowed/);
  fails({ Binds: ['/host:/data:rx'] }, 'invalid mode: rx');
  fails({ Binds: ['/host:/data:ro,rw'] }, 'invalid mode: ro,rw');
  fails({ Binds: ['/data:rw'] }, `invalid volume specification: '/data:rw'`);
  fails({ Binds: [':/data'] }, `invalid volume specification: ':/data'`);
  fails({ Binds: ['/a:/b:ro:x'] }, `invalid volume specification: '/a:/b:ro:x'`);
  fails(
    { Binds: ['vol:/data:rshared'] },
    `invalid volume specification: 'vol:/data:rshared': invalid mount config for type "volume": field BindOptions must not be specified`,
  );
  fails({ Binds: ['/a:/data', 'vol:/data/'] }, 'Duplicate mount point: /data');
  fails({ Binds: ['/a:/run'], Tmpfs: { '/run': '' } }, 'Duplicate mount point: /run');
});

test('lxcfs-style binds over single /proc files, and mounts under /sys, are allowed', () => {
  const ms = parseMounts(
    { Binds: ['/var/lib/lxcfs/proc/meminfo:/proc/meminfo:ro', '/sys/fs/cgroup:/sys/fs/cgroup:ro'] },
    undefined,
  );
  assert.deepEqual(
    ms.map((m) => m.destination),
    ['/proc/meminfo', '/sys/fs/cgroup'],
  );
});

test('--mount type=bind: source must exist unless CreateMountpoint; options validated', async (t) => {
  const { dir, cleanup } = await tempRoot('berth-mountspec-');
  t.after(cleanup);
  const missing = path.join(dir, 'nope');
  fails(
    { Mounts: [{ Type: 'bind', Source: missing, Target: '/x' }] },
    `invalid mount config for type "bind": bind source path does not exist: ${missing}`,
  );
  const [m] = parseMounts(
    { Mounts: [{ Type: 'bind', Source: missing, Target: '/x', BindOptions: { CreateMountpoint: true } }] },
    undefined,
  );
  assert.equal((m as ParsedBind).createMissing, true);
  const [ro] = parseMounts(
    {
      Mounts: [
        {
          Type: 'bind',
          Source: dir,
          Target: '/x',
          ReadOnly: true,
          BindOptions: { Propagation: 'rslave', NonRecursive: true },
        },
      ],
    },
    undefined,
  );
  assert.deepEqual(ro, {
    kind: 'bind',
    source: dir,
    destination: '/x',
    ro: true,
    propagation: 'rslave',
    createMissing: false,
    nonRecursive: true,
    recursiveRo: 'auto',
    mode: '',
  });
  fails(
    { Mounts: [{ Type: 'bind', Target: '/x' }] },
    'invalid mount config for type "bind": field Source must not be empty',
  );
  fails(
    { Mounts: [{ Type: 'bind', Source: dir }] },
    'invalid mount config for type "bind": field Target must not be empty',
  );
  fails(
    { Mounts: [{ Type: 'bind', Source: 'rel', Target: '/x' }] },
    `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`,
  );
  fails(
    { Mounts: [{ Type: 'bind', Source: dir, Target: '/x', BindOptions: { Propagation: 'weird' } }] },
    'invalid mount config for type "bind": invalid propagation mode: weird',
  );
  fails(
    { Mounts: [{ Type: 'bind', Source: dir, Target: '/x', VolumeOptions: { NoCopy: true } }] },
    'invalid mount config for type "bind": field VolumeOptions must not be specified',
  );
  fails(
    { Mounts: [{ Type: 'bind', Source: dir, Target: '/x' }], Binds: ['/y:/x'] },
    'Duplicate mount point: /x',
  );
  fails({ Mounts: ['nonsense'] }, 'invalid type for HostConfig.Mounts[0]: expected an object');
  fails(
    { Mounts: [{ Type: 'bind', Source: dir, Target: 7 }] },
    'invalid type for HostConfig.Mounts[0].Target: expected a string',
  );
});

test('--mount type=volume: named with driver options and labels, anonymous, errors', () => {
  const ms = parseMounts(
    {
      Mounts: [
        {
          Type: 'volume',
          Source: 'scratch',
          Target: '/scratch',
          VolumeOptions: {
            NoCopy: true,
            Labels: { team: 'a' },
            DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=10m' } },
          },
        },
        { Type: 'volume', Target: '/anon', ReadOnly: true },
        { Type: 'volume', Source: 'data', Target: '/sub', VolumeOptions: { Subpath: 'a/b' } },
      ],
    },
    undefined,
  );
  assert.deepEqual(ms[0], {
    kind: 'volume',
    name: 'scratch',
    destination: '/scratch',
    ro: false,
    nocopy: true,
    mode: '',
    fromImage: false,
    driverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=10m' },
    labels: { team: 'a' },
  });
  assert.equal((ms[1] as { name?: string }).name, undefined);
  assert.equal((ms[1] as { ro: boolean }).ro, true);
  assert.equal((ms[2] as { subpath?: string }).subpath, 'a/b');

  fails(
    { Mounts: [{ Type: 'volume', Target: '/x', VolumeOptions: { Subpath: 'a' } }] },
    'invalid mount config for type "volume": must not set Subpath when using anonymous volumes',
  );
  fails(
    { Mounts: [{ Type: 'volume', Source: 'v1', Target: '/x', VolumeOptions: { Subpath: '../up' } }] },
    'invalid mount config for type "volume": subpath must be a relative path within the volume',
  );
  fails(
    { Mounts: [{ Type: 'volume', Source: 'v1', Target: '/x', BindOptions: { Propagation: 'rshared' } }] },
    'invalid mount config for type "volume": field BindOptions must not be specified',
  );
  fails(
    { Mounts: [{ Type: 'volume', Source: 'bad/name', Target: '/x' }] },
    /^create bad\/name: "bad\/name" includes invalid characters/,
  );
  fails(
    { Mounts: [{ Type: 'floppy', Target: '/x' }] },
    'invalid mount config for type "floppy": mount type unknown',
  );
});

test('--mount type=tmpfs and --tmpfs: dockerd defaults, sizes in bytes, modes, merging, errors', () => {
  const ms = byDest(
    parseMounts(
      {
        Mounts: [
          { Type: 'tmpfs', Target: '/cache', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } },
        ],
        Tmpfs: { '/run': 'size=64m', '/tmp': 'exec,size=10k,mode=700', '/ro': 'ro' },
      },
      undefined,
    ),
  );
  assert.deepEqual(ms['/cache'], {
    kind: 'tmpfs',
    destination: '/cache',
    options: ['noexec', 'nosuid', 'nodev', 'rprivate', 'mode=1777', 'size=67108864'],
    ro: false,
    listed: true,
  });
  assert.deepEqual(ms['/run'], {
    kind: 'tmpfs',
    destination: '/run',
    options: ['noexec', 'nosuid', 'nodev', 'rprivate', 'size=67108864'],
    ro: false,
    listed: false,
  });
  assert.deepEqual(
    (ms['/tmp'] as { options: string[] }).options,
    ['nosuid', 'nodev', 'rprivate', 'exec', 'size=10240', 'mode=700'],
    'exec overrides the default noexec',
  );
  assert.equal((ms['/ro'] as { ro: boolean }).ro, true);

  fails({ Tmpfs: { '/run': 'foo=bar' } }, 'invalid tmpfs mount /run: invalid tmpfs option "foo"');
  fails({ Tmpfs: { '/run': 'size=lots' } }, /invalid tmpfs mount \/run: invalid tmpfs size "lots"/);
  fails({ Tmpfs: { '/run': 'mode=999' } }, /invalid tmpfs mode "999"/);
  fails({ Tmpfs: { relative: '' } }, "invalid mount path: 'relative' mount path must be absolute");
  fails({ Tmpfs: { '/': '' } }, "invalid specification: destination can't be '/'");
  fails(
    { Mounts: [{ Type: 'tmpfs', Source: 'x', Target: '/t' }] },
    'invalid mount config for type "tmpfs": field Source must not be specified',
  );
  fails(
    { Mounts: [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { Options: [['suid']] } }] },
    'invalid mount config for type "tmpfs": invalid option: suid',
  );
});

test('image VOLUMEs become anonymous volumes unless the user mounts there', () => {
  const ms = parseMounts(
    { Binds: ['/host:/var/lib/data'] },
    { '/var/lib/data': {}, '/logs/': {}, '/cache': {} },
  );
  assert.deepEqual(
    ms.map((m) => [m.destination, m.kind, m.kind === 'volume' ? m.fromImage : null]),
    [
      ['/var/lib/data', 'bind', null],
      ['/logs', 'volume', true],
      ['/cache', 'volume', true],
    ],
  );
  fails({}, /invalid volume "relative" in the image/, { relative: {} });
});

test('--volumes-from: syntax, inherited mounts, own mounts override them', () => {
  assert.deepEqual(parseVolumesFrom('web'), { container: 'web', mode: 'rw' });
  assert.deepEqual(parseVolumesFrom('web:ro'), { container: 'web', mode: 'ro' });
  assert.throws(() => parseVolumesFrom(''), /volumes-from specification cannot be an empty string/);
  assert.throws(() => parseVolumesFrom('web:rshared'), /invalid mode: rshared/);
  assert.throws(() => parseVolumesFrom('web:nocopy'), /invalid mode: nocopy/);
  fails({ VolumesFrom: ['web:bogus'] }, 'invalid mode: bogus');

  const other = [
    resolveMount(parseMounts({ Binds: ['/srv:/srv'] }, undefined)[0]!),
    resolveMount(parseMounts({ Binds: ['vol1:/data'] }, undefined)[0]!, {
      path: '/v/vol1/_data',
      name: 'vol1',
    }),
    resolveMount(parseMounts({ Tmpfs: { '/run': '' } }, undefined)[0]!),
  ];
  const inherited = inheritedMounts(other, 'ro');
  assert.deepEqual(
    inherited.map((m) => [m.kind, m.destination, m.ro]),
    [
      ['bind', '/srv', true],
      ['volume', '/data', true],
    ],
    '--tmpfs mounts are not inherited (dockerd keeps them out of MountPoints)',
  );
  assert.equal((inherited[1] as { nocopy: boolean }).nocopy, true);
  const ms = parseMounts({ Binds: ['/mine:/srv'] }, { '/data': {} }, inherited);
  assert.deepEqual(
    ms.map((m) => [m.destination, m.kind === 'bind' ? m.source : m.kind]),
    [
      ['/srv', '/mine'],
      ['/data', 'volume'],
    ],
    'own binds replace inherited ones; image volumes do not cover inherited ones',
  );
  assert.equal((ms[1] as { name?: string }).name, 'vol1');
});

test('resolveMount and toOciMounts: inspect fields, OCI options, parents first', () => {
  const parsed = parseMounts(
    {
      Binds: ['/srv/data:/data/sub:ro', 'vol1:/data', '/srv/x:/x:rslave'],
      Mounts: [{ Type: 'bind', Source: '/', Target: '/host', BindOptions: { NonRecursive: true } }],
      Tmpfs: { '/run': 'size=1m' },
    },
    undefined,
  );
  const resolved = parsed.map((m) =>
    m.kind === 'volume'
      ? resolveMount(m, { path: '/var/lib/berth/volumes/vol1/_data', name: 'vol1' })
      : resolveMount(m),
  );
  const vol = resolved.find((m) => m.Type === 'volume')!;
  assert.deepEqual(
    { ...vol, oci: undefined },
    {
      Type: 'volume',
      Name: 'vol1',
      Source: '/var/lib/berth/volumes/vol1/_data',
      Destination: '/data',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
      listed: true,
      oci: undefined,
    },
  );
  const bind = resolved.find((m) => m.Destination === '/data/sub')!;
  assert.deepEqual(
    { Type: bind.Type, Source: bind.Source, Mode: bind.Mode, RW: bind.RW, Propagation: bind.Propagation },
    { Type: 'bind', Source: '/srv/data', Mode: 'ro', RW: false, Propagation: 'rprivate' },
  );
  assert.equal(resolved.find((m) => m.Destination === '/run')!.listed, false);
  assert.deepEqual(
    inspectMounts(resolved).map((m) => Object.keys(m).sort().join(',')),
    [
      'Destination,Mode,Propagation,RW,Source,Type',
      'Destination,Driver,Mode,Name,Propagation,RW,Source,Type',
      'Destination,Mode,Propagation,RW,Source,Type',
      'Destination,Mode,Propagation,RW,Source,Type',
    ],
    'inspect shows dockerd fields only, without --tmpfs mounts',
  );

  const oci = toOciMounts(resolved);
  assert.deepEqual(oci, [
    {
      destination: '/data',
      source: '/var/lib/berth/volumes/vol1/_data',
      type: 'bind',
      options: ['rbind', 'rprivate'],
    },
    { destination: '/x', source: '/srv/x', type: 'bind', options: ['rbind', 'rslave'] },
    { destination: '/host', source: '/', type: 'bind', options: ['bind', 'rprivate'] },
    {
      destination: '/run',
      source: 'tmpfs',
      type: 'tmpfs',
      options: ['noexec', 'nosuid', 'nodev', 'rprivate', 'size=1048576'],
    },
    {
      destination: '/data/sub',
      source: '/srv/data',
      type: 'bind',
      // Read-only all the way down where the kernel can (Linux 5.12), as dockerd ≥ 25.
      options: ['rbind', 'rprivate', 'ro', ...(KERNEL_RRO ? ['rro'] : [])],
    },
  ]);
});

test('read-only binds: recursive by default, ro-non-recursive and ReadOnlyNonRecursive opt out, force refuses what cannot be', () => {
  const optionsOf = (m: ParsedMount) => toOciMounts([resolveMount(m)])[0]!.options;
  const bind = (mode: string) => parseMounts({ Binds: [`/srv/a:/a:${mode}`] }, undefined)[0]!;
  const rro = KERNEL_RRO ? ['rro'] : [];
  assert.deepEqual(optionsOf(bind('ro')), ['rbind', 'rprivate', 'ro', ...rro]);
  assert.deepEqual(optionsOf(bind('ro-non-recursive')), ['rbind', 'rprivate', 'ro']);
  assert.deepEqual(
    optionsOf(bind('ro,rslave')),
    ['rbind', 'rslave', 'ro'],
    'not rprivate: plain ro, as dockerd',
  );
  assert.deepEqual(optionsOf(bind('rw')), ['rbind', 'rprivate']);
  const mount = (bindOptions: Record<string, unknown>, readOnly = true) =>
    parseMounts(
      {
        Mounts: [
          { Type: 'bind', Source: '/', Target: '/host', ReadOnly: readOnly, BindOptions: bindOptions },
        ],
      },
      undefined,
    )[0]!;
  assert.deepEqual(optionsOf(mount({ ReadOnlyNonRecursive: true })), ['rbind', 'rprivate', 'ro']);
  if (KERNEL_RRO)
    assert.deepEqual(optionsOf(mount({ ReadOnlyForceRecursive: true })), ['rbind', 'rprivate', 'ro', 'rro']);
  assert.throws(
    () => optionsOf(mount({ ReadOnlyForceRecursive: true, Propagation: 'rshared' })),
    /ReadOnlyForceRecursive requires propagation to be rprivate/,
  );
  assert.throws(() => mount({ ReadOnlyNonRecursive: true }, false), /requires ReadOnly to be true/);
});

test('prepareBindSource creates a missing -v source, refuses a missing --mount one; subpaths resolve inside the volume', async (t) => {
  const { dir, cleanup } = await tempRoot('berth-mountspec-');
  t.after(cleanup);
  const src = path.join(dir, 'made/by/engine');
  const [m] = parseMounts({ Binds: [`${src}:/d`] }, undefined);
  await prepareBindSource(m as ParsedBind);
  assert.ok((await fs.stat(src)).isDirectory());

  const gone = path.join(dir, 'gone');
  await assert.rejects(
    prepareBindSource({ ...(m as ParsedBind), source: gone, createMissing: false }),
    new RegExp(`bind source path does not exist: ${gone}$`),
  );

  const vol = path.join(dir, 'vol');
  await fs.mkdir(path.join(vol, 'a/b'), { recursive: true });
  await fs.symlink('/a', path.join(vol, 'up'));
  assert.equal(await volumeSubpathSource(vol, 'a/b'), path.join(vol, 'a/b'));
  assert.equal(
    await volumeSubpathSource(vol, 'up/b'),
    path.join(vol, 'a/b'),
    'symlinks stay inside the volume',
  );
  await assert.rejects(volumeSubpathSource(vol, 'a/c'), /subpath "a\/c" does not exist in the volume/);
});
