// --security-opt, Docker-format seccomp profiles, --device-cgroup-rule and the
// namespace modes, checked on the parsed values and the built spec: the parts
// of dockerd's rules a container run does not show one by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { buildOciSpec, type ContainerSpecInput } from '../../guest-agent/runtime/oci-spec.js';
import { plainSpecInput } from '../helpers/oci-process.js';
import { parseSeccompProfile, seccompFromProfile } from '../../guest-agent/runtime/seccomp-custom.js';
import { parseDeviceCgroupRule } from '../../guest-agent/runtime/devices.js';
import { parseSecurityOptions } from '../../guest-agent/engine/security-options.js';
import { normalizeNamespaceModes } from '../../guest-agent/engine/namespace-modes.js';
import { EngineError } from '../../guest-agent/errors.js';

const isInvalid = (pattern: RegExp) => (err: unknown) =>
  err instanceof EngineError && err.kind === 'invalid' && pattern.test(err.message);

function input(over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return { ...plainSpecInput('c1', '/var/lib/berth/overlay/c1/merged', ['sh']), ...over };
}

test('security options: dockerd spellings, booleans, seccomp values; the rest refused', () => {
  assert.deepEqual(parseSecurityOptions([]), { noNewPrivileges: false, writableCgroups: false });
  assert.equal(parseSecurityOptions(['no-new-privileges']).noNewPrivileges, true);
  assert.equal(parseSecurityOptions(['no-new-privileges:true']).noNewPrivileges, true);
  assert.equal(parseSecurityOptions(['no-new-privileges=false']).noNewPrivileges, false);
  assert.equal(parseSecurityOptions(['seccomp=unconfined']).seccomp, 'unconfined');
  assert.equal(parseSecurityOptions(['seccomp=builtin']).seccomp, undefined);
  assert.equal(parseSecurityOptions(['writable-cgroups=true']).writableCgroups, true);
  // No AppArmor or SELinux in the VM: taken, without effect.
  parseSecurityOptions(['apparmor=unconfined', 'label=disable', 'label:type:svirt_t', 'disable']);
  assert.throws(
    () => parseSecurityOptions(['no-new-privileges=maybe']),
    isInvalid(/invalid --security-opt 2/),
  );
  assert.throws(() => parseSecurityOptions(['bogus']), isInvalid(/invalid --security-opt 1: "bogus"/));
  assert.throws(() => parseSecurityOptions(['foo=bar']), isInvalid(/invalid --security-opt 2: "foo=bar"/));
  assert.throws(
    () => parseSecurityOptions(['seccomp={not json']),
    isInvalid(/Decoding seccomp profile failed/),
  );
});

test('seccomp profile: archMap picks this machine, includes/excludes decide by arch, caps and kernel', () => {
  const [major, minor] = os.release().split('.').map(Number) as [number, number];
  const profile = parseSeccompProfile(
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
      ],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
        { names: ['old_kernel'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '2.6' } },
        { names: ['future_kernel'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: `${major + 1}.0` } },
        { names: ['only_before'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: `${major}.${minor}` } },
        {
          names: ['personality'],
          action: 'SCMP_ACT_ALLOW',
          args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }],
        },
      ],
    }),
  );
  const names = (caps: string[], arch: string) =>
    seccompFromProfile(profile, caps, arch).syscalls!.flatMap((s) => s.names);

  const x64 = seccompFromProfile(profile, [], 'x64');
  assert.equal(x64.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(x64.defaultErrnoRet, 1);
  assert.deepEqual(x64.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.deepEqual(seccompFromProfile(profile, [], 'arm64').architectures, [
    'SCMP_ARCH_AARCH64',
    'SCMP_ARCH_ARM',
  ]);
  assert.deepEqual(names([], 'x64'), ['read', 'write', 'ptrace', 'arch_prctl', 'old_kernel', 'personality']);
  assert.deepEqual(names(['CAP_SYS_ADMIN'], 'arm64'), [
    'read',
    'write',
    'mount',
    'set_tls',
    'old_kernel',
    'personality',
  ]);
  assert.deepEqual(x64.syscalls!.at(-1)!.args, [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);

  assert.throws(
    () =>
      parseSeccompProfile(
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86_64'],
          archMap: [{ architecture: 'SCMP_ARCH_X86_64' }],
        }),
      ),
    isInvalid(/both 'architectures' and 'archMap'/),
  );
  assert.throws(
    () =>
      parseSeccompProfile(
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }],
        }),
      ),
    isInvalid(/use either 'name' or 'names'/),
  );
  assert.throws(() => parseSeccompProfile('[]'), isInvalid(/not a JSON object/));
  assert.throws(() => parseSeccompProfile('{"defaultAction":"ALLOW"}'), isInvalid(/"defaultAction"/));
});

test('device cgroup rules: type, numbers or *, access; anything else refused', () => {
  assert.deepEqual(parseDeviceCgroupRule('c 10:229 rwm'), {
    allow: true,
    type: 'c',
    major: 10,
    minor: 229,
    access: 'rwm',
  });
  assert.deepEqual(parseDeviceCgroupRule('b *:* r'), { allow: true, type: 'b', access: 'r' });
  assert.deepEqual(parseDeviceCgroupRule('a 7:* mw'), { allow: true, type: 'a', major: 7, access: 'mw' });
  for (const bad of ['c 10:229', 'x 1:2 r', 'c 1:2 rx', 'c a:2 r', ' c 1:2 r'])
    assert.throws(() => parseDeviceCgroupRule(bad), isInvalid(/invalid device cgroup rule format/), bad);
});

test('namespace modes: defaults filled, bad values and the hostname conflict refused, containers looked up', () => {
  const hc: Record<string, unknown> = {};
  normalizeNamespaceModes(hc, false, () => {});
  assert.deepEqual(hc, { PidMode: '', UTSMode: '', IpcMode: 'private', CgroupnsMode: 'private' });
  const looked: string[] = [];
  normalizeNamespaceModes(
    { PidMode: 'container:a', IpcMode: 'container:b' },
    false,
    (r) => void looked.push(r),
  );
  assert.deepEqual(looked, ['a', 'b']);
  assert.throws(
    () => normalizeNamespaceModes({ PidMode: 'bogus' }, false, () => {}),
    isInvalid(/invalid PID mode: bogus/),
  );
  assert.throws(
    () => normalizeNamespaceModes({ IpcMode: 'container:' }, false, () => {}),
    isInvalid(/invalid IPC mode/),
  );
  assert.throws(
    () => normalizeNamespaceModes({ UTSMode: 'private' }, false, () => {}),
    isInvalid(/invalid UTS mode/),
  );
  assert.throws(
    () => normalizeNamespaceModes({ CgroupnsMode: 'x' }, false, () => {}),
    isInvalid(/cgroup namespace mode/),
  );
  assert.throws(
    () => normalizeNamespaceModes({ UTSMode: 'host' }, true, () => {}),
    isInvalid(/hostname and the UTS mode/),
  );
});

test('spec: shared namespaces by path or left out, /dev/shm as the IPC mode says, init as PID 1', () => {
  const spec = buildOciSpec(
    input({
      pid: { mode: 'join', path: '/proc/42/ns/pid' },
      ipc: { mode: 'join', path: '/proc/42/ns/ipc', shm: '/data/overlay/x/shm' },
      utsHost: true,
      cgroupnsHost: true,
      initPath: '/usr/bin/tini-static',
    }),
  );
  const ns = Object.fromEntries(spec.linux.namespaces.map((n) => [n.type, n.path ?? 'new']));
  assert.deepEqual(ns, { mount: 'new', pid: '/proc/42/ns/pid', ipc: '/proc/42/ns/ipc' });
  assert.equal(spec.hostname, undefined); // runc refuses one without a UTS namespace
  assert.deepEqual(spec.process.args, ['/sbin/docker-init', '--', 'sh']);
  assert.deepEqual(
    spec.mounts.filter((m) => m.destination === '/dev/shm' || m.destination === '/sbin/docker-init'),
    [
      {
        destination: '/dev/shm',
        type: 'bind',
        source: '/data/overlay/x/shm',
        options: ['rbind', 'nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sbin/docker-init',
        type: 'bind',
        source: '/usr/bin/tini-static',
        options: ['bind', 'ro'],
      },
    ],
  );
  const host = buildOciSpec(input({ pid: { mode: 'host' }, ipc: { mode: 'host' } }));
  assert.deepEqual(
    host.linux.namespaces.map((n) => n.type).filter((t) => t === 'pid' || t === 'ipc'),
    [],
  );
  assert.equal(host.mounts.find((m) => m.destination === '/dev/shm')?.source, '/dev/shm');
  const none = buildOciSpec(input({ ipc: { mode: 'none' } }));
  assert.equal(
    none.mounts.some((m) => m.destination === '/dev/shm'),
    false,
  );
  assert.ok(none.linux.namespaces.some((n) => n.type === 'ipc' && !n.path));
});

test('spec: seccomp unconfined or from a profile, system paths unmasked, annotations and cgroup rules passed on', () => {
  assert.equal(buildOciSpec(input({ seccomp: 'unconfined' })).linux.seccomp, undefined);
  const custom = buildOciSpec(
    input({
      seccomp: parseSeccompProfile(
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}',
      ),
    }),
  );
  assert.equal(custom.linux.seccomp?.defaultAction, 'SCMP_ACT_ALLOW');
  assert.deepEqual(custom.linux.seccomp?.syscalls, [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }]);
  // Privileged: no filter at all, as with dockerd.
  assert.equal(
    buildOciSpec(
      input({ privileged: true, seccomp: parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW"}') }),
    ).linux.seccomp,
    undefined,
  );
  const open = buildOciSpec(input({ maskedPaths: [], readonlyPaths: [], writableCgroups: true }));
  assert.deepEqual(open.linux.maskedPaths, []);
  assert.deepEqual(open.linux.readonlyPaths, []);
  assert.deepEqual(open.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options, [
    'nosuid',
    'noexec',
    'nodev',
    'relatime',
  ]);
  const extra = buildOciSpec(
    input({
      annotations: { 'org.example/a': 'b' },
      deviceCgroupRules: [parseDeviceCgroupRule('c 10:229 rwm')],
    }),
  );
  assert.deepEqual(extra.annotations, { 'org.example/a': 'b' });
  assert.deepEqual(extra.linux.resources?.devices?.at(-1), {
    allow: true,
    type: 'c',
    major: 10,
    minor: 229,
    access: 'rwm',
  });
});
