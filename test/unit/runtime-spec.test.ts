// config.json shape: Docker's defaults for namespaces, mounts, devices, caps,
// seccomp and resources, checked on the built object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  buildExecProcess,
  buildOciSpec,
  ociJson,
  type ContainerSpecInput,
} from '../../guest-agent/runtime/oci-spec.js';
import { DEFAULT_CAPABILITIES, effectiveCapabilities } from '../../guest-agent/runtime/capabilities.js';
import { defaultSeccompProfile } from '../../guest-agent/runtime/seccomp-profile.js';
import { EngineError } from '../../guest-agent/errors.js';

function input(over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    id: 'c1',
    rootfsPath: '/var/lib/berth/overlay/c1/merged',
    args: ['sh'],
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [0, 10] },
    hostname: 'c1host',
    tty: false,
    readonlyRootfs: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    resources: {},
    network: { mode: 'netns', path: '/run/berth/netns/c1' },
    mounts: [],
    cgroupsPath: '/berth/c1',
    ...over,
  };
}

test('capabilities: default set, add/drop in any spelling, ALL, unknown names', () => {
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  assert.deepEqual(effectiveCapabilities([], [], false), DEFAULT_CAPABILITIES);
  const caps = effectiveCapabilities(['net_admin', 'CAP_SYS_TIME'], ['chown', 'Cap_Kill'], false);
  assert.ok(caps.includes('CAP_NET_ADMIN') && caps.includes('CAP_SYS_TIME'));
  assert.ok(!caps.includes('CAP_CHOWN') && !caps.includes('CAP_KILL'));
  assert.deepEqual(effectiveCapabilities(['NET_RAW'], ['ALL'], false), ['CAP_NET_RAW']);
  const all = effectiveCapabilities(['all'], ['SYS_ADMIN'], false);
  assert.ok(all.length > 30 && !all.includes('CAP_SYS_ADMIN') && all.includes('CAP_NET_ADMIN'));
  assert.ok(effectiveCapabilities([], [], true).includes('CAP_SYS_ADMIN'));
  assert.throws(
    () => effectiveCapabilities(['FOO'], [], false),
    (e: unknown) =>
      e instanceof EngineError && e.kind === 'invalid' && e.message === 'unknown capability: "CAP_FOO"',
  );
  assert.throws(() => effectiveCapabilities([], ['cap_bar'], true), /unknown capability: "CAP_BAR"/);
});

test('namespaces: netns by path, none for host network, cgroup ns where the kernel has it', () => {
  const spec = buildOciSpec(input());
  const types = spec.linux.namespaces.map((n) => n.type).sort();
  const expected = ['ipc', 'mount', 'network', 'pid', 'uts'];
  let hasCgroupNs = true;
  try {
    readFileSync('/proc/self/ns/cgroup');
  } catch (e) {
    hasCgroupNs = (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  if (hasCgroupNs) expected.push('cgroup');
  assert.deepEqual(types, expected.sort());
  assert.equal(spec.linux.namespaces.find((n) => n.type === 'network')?.path, '/run/berth/netns/c1');
  const host = buildOciSpec(input({ network: { mode: 'host' } }));
  assert.equal(
    host.linux.namespaces.some((n) => n.type === 'network'),
    false,
  );
  assert.equal(spec.hostname, 'c1host');
  assert.equal(spec.linux.cgroupsPath, '/berth/c1');
  assert.equal(spec.root.path, '/var/lib/berth/overlay/c1/merged');
});

test('default mounts, masked and readonly paths as Docker; privileged drops the masks', () => {
  const spec = buildOciSpec(input({ shmSize: 128 * 1024 * 1024 }));
  const byDest = Object.fromEntries(spec.mounts.map((m) => [m.destination, m]));
  assert.deepEqual(Object.keys(byDest), [
    '/proc',
    '/dev',
    '/dev/pts',
    '/sys',
    '/sys/fs/cgroup',
    '/dev/mqueue',
    '/dev/shm',
  ]);
  assert.deepEqual(byDest['/dev/pts'].options, [
    'nosuid',
    'noexec',
    'newinstance',
    'ptmxmode=0666',
    'mode=0620',
    'gid=5',
  ]);
  assert.ok(byDest['/sys'].options?.includes('ro'));
  assert.ok(byDest['/sys/fs/cgroup'].options?.includes('ro'));
  assert.ok(byDest['/dev/shm'].options?.includes('size=131072k'));
  assert.ok(spec.linux.maskedPaths?.includes('/proc/kcore'));
  assert.ok(spec.linux.maskedPaths?.includes('/sys/devices/virtual/powercap'));
  assert.deepEqual(spec.linux.readonlyPaths, [
    '/proc/bus',
    '/proc/fs',
    '/proc/irq',
    '/proc/sys',
    '/proc/sysrq-trigger',
  ]);
  assert.ok(
    buildOciSpec(input())
      .mounts.find((m) => m.destination === '/dev/shm')
      ?.options?.includes('size=65536k'),
  );

  const priv = buildOciSpec(input({ privileged: true }));
  assert.equal(priv.linux.maskedPaths, undefined);
  assert.equal(priv.linux.readonlyPaths, undefined);
  assert.equal(priv.linux.seccomp, undefined);
  assert.equal(priv.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'), false);
  assert.deepEqual(priv.linux.resources?.devices, [{ allow: true, access: 'rwm' }]);
  assert.ok(
    priv.linux.devices?.some(
      (d) => d.path === '/dev/null' && d.type === 'c' && d.major === 1 && d.minor === 3,
    ),
  );
});

test('user mounts come after the defaults and replace a default at the same place', () => {
  const spec = buildOciSpec(
    input({
      mounts: [
        { destination: '/etc/hosts', source: '/var/lib/berth/c1/hosts', type: 'bind', options: ['ro'] },
        { destination: '/dev/shm', source: 'tmpfs', type: 'tmpfs', options: ['size=1m'] },
      ],
    }),
  );
  const shm = spec.mounts.filter((m) => m.destination === '/dev/shm');
  assert.deepEqual(shm, [{ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }]);
  assert.deepEqual(spec.mounts.at(-2), {
    destination: '/etc/hosts',
    type: 'bind',
    source: '/var/lib/berth/c1/hosts',
    options: ['rbind', 'ro'],
  });
  assert.throws(
    () => buildOciSpec(input({ mounts: [{ destination: 'rel', source: '/x', type: 'bind', options: [] }] })),
    /absolute/,
  );
});

test('devices: deny all but the basic ones', () => {
  const devs = buildOciSpec(input()).linux.resources?.devices ?? [];
  assert.deepEqual(devs[0], { allow: false, access: 'rwm' });
  const allowed = devs
    .filter((d) => d.allow && d.access === 'rwm')
    .map((d) => `${d.major}:${d.minor ?? '*'}`);
  assert.deepEqual(allowed.sort(), ['1:3', '1:5', '1:7', '1:8', '1:9', '136:*', '5:0', '5:1', '5:2'].sort());
});

test('--device: the node at its new path with the host major/minor/mode, and a cgroup rule with its access', () => {
  const spec = buildOciSpec(
    input({ devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'r' }] }),
  );
  assert.deepEqual(spec.linux.devices, [
    { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  ]);
  const rules = spec.linux.resources?.devices ?? [];
  assert.deepEqual(rules.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'r' });
  // Without a path in the container it keeps the host's; permissions default to rwm.
  const same = buildOciSpec(input({ devices: [{ PathOnHost: '/dev/zero' }] }));
  assert.equal(same.linux.devices?.[0].path, '/dev/zero');
  assert.equal(same.linux.resources?.devices?.at(-1)?.access, 'rwm');
  // A directory maps every device below it, under the path given in the container.
  const dir = buildOciSpec(input({ devices: [{ PathOnHost: '/dev/net', PathInContainer: '/dev/mynet' }] }));
  assert.deepEqual(
    dir.linux.devices?.map((d) => [d.path, d.type, d.major, d.minor]),
    [['/dev/mynet/tun', 'c', 10, 200]],
  );
  assert.throws(
    () => buildOciSpec(input({ devices: [{ PathOnHost: '/dev/no-such-device' }] })),
    /error gathering device information while adding custom device "\/dev\/no-such-device": no such file or directory/,
  );
  assert.throws(
    () => buildOciSpec(input({ devices: [{ PathOnHost: '/etc/hostname' }] })),
    /"\/etc\/hostname": not a device node/,
  );
  assert.throws(
    () => buildOciSpec(input({ devices: [{ PathOnHost: '/dev/null', CgroupPermissions: 'rx' }] })),
    /invalid device cgroup permissions "rx"/,
  );
});

test('--ulimit: rlimits by name replace the defaults; -1 is RLIM_INFINITY in the JSON runc reads', () => {
  const spec = buildOciSpec(
    input({
      ulimits: [
        { Name: 'nofile', Soft: 512, Hard: 1024 },
        { Name: 'core', Soft: -1, Hard: -1 },
        { Name: 'nproc', Soft: 100, Hard: 200 },
      ],
    }),
  );
  assert.deepEqual(spec.process.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 },
    { type: 'RLIMIT_CORE', soft: -1, hard: -1 },
    { type: 'RLIMIT_NPROC', soft: 100, hard: 200 },
  ]);
  const json = ociJson(spec);
  assert.match(json, /"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615/);
  assert.match(json, /"type":"RLIMIT_NOFILE","hard":1024,"soft":512/);
  const u = (ulimits: ContainerSpecInput['ulimits']) => () => buildOciSpec(input({ ulimits }));
  assert.throws(u([{ Name: 'bogus', Soft: 1, Hard: 1 }]), /invalid ulimit type: bogus/);
  assert.throws(
    u([{ Name: 'nofile', Soft: 20, Hard: 10 }]),
    /soft limit must be less than or equal to hard limit/,
  );
  // An exec runs under its container's limits.
  const exec = buildExecProcess({
    args: ['sh'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    tty: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    ulimits: [{ Name: 'nofile', Soft: 100, Hard: 100 }],
  });
  assert.deepEqual(exec.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 100 }]);
});

test('process: user, caps with empty inheritable, rlimit under the engine limit, tty, oom score', () => {
  const spec = buildOciSpec(input({ tty: true, oomScoreAdj: -500, noNewPrivileges: true }));
  const p = spec.process;
  assert.equal(p.terminal, true);
  assert.deepEqual(p.user, { uid: 0, gid: 0, additionalGids: [0, 10] });
  assert.deepEqual(p.capabilities?.effective, DEFAULT_CAPABILITIES);
  assert.equal(p.capabilities?.inheritable, undefined);
  assert.equal(p.capabilities?.ambient, undefined);
  assert.equal(p.noNewPrivileges, true);
  assert.equal(p.oomScoreAdj, -500);
  const hard = Number(/Max open files\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
  const nofile = p.rlimits?.find((r) => r.type === 'RLIMIT_NOFILE');
  assert.ok(nofile && nofile.hard <= hard && nofile.soft <= nofile.hard, JSON.stringify(nofile));
  assert.equal(buildOciSpec(input()).process.noNewPrivileges, undefined);
  assert.throws(() => buildOciSpec(input({ args: [] })), /no command specified/);
  assert.throws(() => buildOciSpec(input({ cwd: 'work' })), /absolute path/);
});

test('resources: memory, swap as dockerd, cpus, shares, pids, cpuset', () => {
  const r = (res: ContainerSpecInput['resources']) => buildOciSpec(input({ resources: res })).linux.resources;
  const m = 64 * 1024 * 1024;
  assert.deepEqual(r({ memory: m })?.memory, { limit: m, swap: 2 * m });
  assert.deepEqual(r({ memory: m, memorySwap: -1 })?.memory, { limit: m, swap: -1 });
  assert.deepEqual(r({ memory: m, memorySwap: 3 * m })?.memory, { limit: m, swap: 3 * m });
  assert.throws(() => r({ memory: m, memorySwap: m / 2 }), /larger than memory/);
  assert.throws(() => r({ memorySwap: m }), /set the Memory limit/);
  assert.deepEqual(r({ nanoCpus: 1_500_000_000, cpuShares: 256, cpusetCpus: '0-1' })?.cpu, {
    period: 100000,
    quota: 150000,
    shares: 256,
    cpus: '0-1',
  });
  assert.deepEqual(r({ pidsLimit: 50 })?.pids, { limit: 50 });
  assert.equal(r({ pidsLimit: -1 })?.pids, undefined);
  assert.equal(r({})?.memory, undefined);
  const withSysctl = buildOciSpec(input({ sysctls: { 'net.ipv4.ip_forward': '1' }, readonlyRootfs: true }));
  assert.deepEqual(withSysctl.linux.sysctl, { 'net.ipv4.ip_forward': '1' });
  assert.equal(withSysctl.root.readonly, true);
});

test('seccomp: EPERM default, allow-list, capability-gated syscalls, clone and personality rules', () => {
  const prof = defaultSeccompProfile(DEFAULT_CAPABILITIES, 'x64');
  assert.equal(prof.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(prof.defaultErrnoRet, 1);
  assert.deepEqual(prof.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.deepEqual(defaultSeccompProfile([], 'arm64').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  const allowAll = new Set(
    (prof.syscalls ?? []).filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names),
  );
  for (const name of ['read', 'write', 'execve', 'futex', 'arch_prctl', 'chroot'])
    assert.ok(allowAll.has(name), name);
  for (const name of [
    'mount',
    'umount2',
    'unshare',
    'setns',
    'reboot',
    'init_module',
    'keyctl',
    'add_key',
    'clone',
    'bpf',
  ]) {
    assert.ok(!allowAll.has(name), name);
  }
  const clone = prof.syscalls?.find((s) => s.names.includes('clone'));
  assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  assert.deepEqual(
    prof.syscalls?.find((s) => s.names.includes('clone3')),
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
  );
  const personality = prof.syscalls
    ?.filter((s) => s.names.includes('personality'))
    .map((s) => s.args?.[0].value);
  assert.deepEqual(personality, [0, 8, 0x20000, 0x20008, 0xffffffff]);

  const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT'], 'x64');
  const adminAllow = new Set(
    (admin.syscalls ?? []).filter((s) => !s.args && s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names),
  );
  for (const name of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'reboot'])
    assert.ok(adminAllow.has(name), name);
  assert.equal(
    admin.syscalls?.some((s) => s.action === 'SCMP_ACT_ERRNO'),
    false,
  );
  assert.ok(!adminAllow.has('init_module'));
});

test('exec process: same caps/user rules as the container', () => {
  const p = buildExecProcess({
    args: ['ls', '-l'],
    env: ['A=1'],
    cwd: '/tmp',
    user: { uid: 5, gid: 6, additionalGids: [6, 6, 7] },
    tty: true,
    privileged: false,
    capAdd: ['SYS_PTRACE'],
    capDrop: [],
  });
  assert.deepEqual(p.args, ['ls', '-l']);
  assert.deepEqual(p.user, { uid: 5, gid: 6, additionalGids: [6, 7] });
  assert.equal(p.terminal, true);
  assert.ok(p.capabilities?.bounding?.includes('CAP_SYS_PTRACE'));
  assert.equal(p.cwd, '/tmp');
});
