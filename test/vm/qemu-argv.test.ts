// The QEMU command line for each platform and accelerator, and auto's fallback order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accelCandidates, qemuArgv, qemuBinary, type VmConfig } from '../../vm/qemu/argv.js';

function config(over: Partial<VmConfig>): VmConfig {
  return {
    arch: 'x86_64',
    platform: 'linux',
    accel: 'tcg',
    cpus: 2,
    memoryMiB: 2048,
    kernel: '/c/vmlinuz',
    initramfs: '/c/initramfs.img',
    kernelParams: ['berth.key=AAAA'],
    disk: '/h/vm/data.qcow2',
    qmpSocket: '/h/vm/qmp.sock',
    controlSocket: '/h/vm/control.sock',
    serialLog: '/h/vm/console.log',
    ...over,
  };
}

/** The value after a flag (the first occurrence). */
function after(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

function allAfter(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
}

test('common to every variant: disk, user networking, channel, QMP, serial log, no display', () => {
  const argv = qemuArgv(config({}));
  assert.ok(argv.includes('-nographic'));
  assert.ok(argv.includes('-no-reboot'));
  assert.equal(after(argv, '-smp'), '2');
  assert.equal(after(argv, '-m'), '2048M');
  assert.equal(after(argv, '-kernel'), '/c/vmlinuz');
  assert.equal(after(argv, '-initrd'), '/c/initramfs.img');
  assert.match(after(argv, '-append')!, /\bberth\.key=AAAA\b/);
  assert.match(after(argv, '-drive')!, /^file=\/h\/vm\/data\.qcow2,.*format=qcow2,discard=unmap/);
  assert.ok(allAfter(argv, '-device').includes('virtio-blk-pci,drive=data,serial=berth-data'));
  assert.equal(allAfter(argv, '-drive').length, 1, 'no root disk: an image from before it had one');
  // Networking is user-mode only, with no host forwards.
  assert.deepEqual(allAfter(argv, '-netdev'), ['user,id=net0']);
  assert.ok(!argv.some((a) => /hostfwd|bridge|tap/.test(a)));
  const chardevs = allAfter(argv, '-chardev');
  assert.ok(chardevs.includes('socket,id=control,path=/h/vm/control.sock,server=on,wait=off'));
  assert.ok(chardevs.includes('file,id=serial,path=/h/vm/console.log'));
  assert.ok(allAfter(argv, '-device').includes('virtserialport,chardev=control,name=berth.0'));
  assert.equal(after(argv, '-qmp'), 'unix:/h/vm/qmp.sock,server=on,wait=off');
  assert.equal(after(argv, '-serial'), 'chardev:serial');
});

test('Linux x86_64: kvm with the host CPU, q35, ttyS0', () => {
  const argv = qemuArgv(config({ accel: 'kvm' }));
  assert.equal(after(argv, '-accel'), 'kvm');
  assert.equal(after(argv, '-cpu'), 'host');
  assert.equal(after(argv, '-machine'), 'q35');
  assert.match(after(argv, '-append')!, /console=ttyS0/);
  assert.equal(qemuBinary('x86_64', 'linux'), 'qemu-system-x86_64');
});

test('TCG: multi-threaded, every emulated CPU feature', () => {
  const argv = qemuArgv(config({ accel: 'tcg' }));
  assert.equal(after(argv, '-accel'), 'tcg,thread=multi');
  assert.equal(after(argv, '-cpu'), 'max');
});

test('macOS: hvf, x86_64 on q35 and aarch64 on virt with ttyAMA0', () => {
  const x86 = qemuArgv(config({ platform: 'darwin', accel: 'hvf' }));
  assert.equal(after(x86, '-accel'), 'hvf');
  assert.equal(after(x86, '-cpu'), 'host');
  assert.equal(after(x86, '-machine'), 'q35');
  const arm = qemuArgv(config({ platform: 'darwin', accel: 'hvf', arch: 'aarch64', kernel: '/c/Image' }));
  assert.equal(after(arm, '-accel'), 'hvf');
  assert.equal(after(arm, '-cpu'), 'host');
  assert.equal(after(arm, '-kernel'), '/c/Image');
  assert.ok(allAfter(arm, '-device').includes('virtserialport,chardev=control,name=berth.0'));
  assert.equal(after(arm, '-machine'), 'virt,gic-version=2');
  assert.match(after(arm, '-append')!, /console=ttyAMA0/);
  assert.equal(qemuBinary('aarch64', 'darwin'), 'qemu-system-aarch64');
});

test('Windows: whpx without -cpu host, .exe binary', () => {
  const argv = qemuArgv(config({ platform: 'win32', accel: 'whpx' }));
  assert.equal(after(argv, '-accel'), 'whpx');
  assert.equal(after(argv, '-cpu'), undefined);
  assert.equal(qemuBinary('x86_64', 'win32'), 'qemu-system-x86_64.exe');
});

test('aarch64 under TCG: virt with the best GIC TCG has, a Cortex-A76 (ARMv8.2 without SVE, SME or pointer auth)', () => {
  const argv = qemuArgv(config({ arch: 'aarch64', accel: 'tcg' }));
  assert.equal(after(argv, '-machine'), 'virt,gic-version=max');
  assert.equal(after(argv, '-cpu'), 'cortex-a76');
  assert.equal(after(argv, '-accel'), 'tcg,thread=multi');
});

test('Linux, an aarch64 guest emulated under TCG: the arm64 Image booted directly, the same disks and channel on virt PCI', () => {
  const argv = qemuArgv(
    config({ arch: 'aarch64', accel: 'tcg', kernel: '/c/Image', rootDisk: '/c/root.img' }),
  );
  assert.equal(qemuBinary('aarch64', 'linux'), 'qemu-system-aarch64');
  // No firmware: -kernel loads the Image, the initramfs and the command line itself.
  assert.ok(!argv.includes('-bios') && !argv.includes('-pflash'));
  assert.equal(after(argv, '-kernel'), '/c/Image');
  assert.equal(after(argv, '-initrd'), '/c/initramfs.img');
  assert.match(after(argv, '-append')!, /^console=ttyAMA0 /);
  // virt's PCIe host bridge carries the same virtio devices as q35.
  const devices = allAfter(argv, '-device');
  for (const d of [
    'virtio-blk-pci,drive=data,serial=berth-data',
    'virtio-blk-pci,drive=root,serial=berth-root',
    'virtio-net-pci,netdev=net0,romfile=',
    'virtio-serial-pci',
    'virtserialport,chardev=control,name=berth.0',
    'virtio-rng-pci',
  ])
    assert.ok(devices.includes(d), `${d} in ${devices.join(' ')}`);
  assert.equal(after(argv, '-serial'), 'chardev:serial');
  assert.equal(after(argv, '-qmp'), 'unix:/h/vm/qmp.sock,server=on,wait=off');
});

test('Linux arm64 host: kvm with the host CPU and its GIC on virt', () => {
  const argv = qemuArgv(config({ arch: 'aarch64', accel: 'kvm' }));
  assert.equal(after(argv, '-accel'), 'kvm');
  assert.equal(after(argv, '-cpu'), 'host');
  assert.equal(after(argv, '-machine'), 'virt,gic-version=max');
});

test('a guest of another architecture than the host has TCG alone, unless one is forced', () => {
  assert.deepEqual(accelCandidates('auto', 'linux', true), ['tcg']);
  assert.deepEqual(accelCandidates('auto', 'darwin', true), ['tcg']);
  assert.deepEqual(accelCandidates('auto', 'darwin', false), ['hvf', 'tcg']);
  assert.deepEqual(accelCandidates('tcg', 'linux', true), ['tcg']);
});

test('accel auto tries the platform accelerator, then TCG; a forced one alone', () => {
  assert.deepEqual(accelCandidates('auto', 'linux'), ['kvm', 'tcg']);
  assert.deepEqual(accelCandidates('auto', 'darwin'), ['hvf', 'tcg']);
  assert.deepEqual(accelCandidates('auto', 'win32'), ['whpx', 'tcg']);
  assert.deepEqual(accelCandidates('tcg', 'linux'), ['tcg']);
  assert.deepEqual(accelCandidates('kvm', 'linux'), ['kvm']);
});

test('shares: virtiofs devices on shared guest memory; 9p served by QEMU itself', () => {
  const virtiofs = qemuArgv(
    config({
      shares: [
        { type: 'virtiofs', tag: 'berth0', hostPath: '/home/u', socket: '/h/vm/virtiofs-0.sock' },
        { type: 'virtiofs', tag: 'berth1', hostPath: '/srv', socket: '/h/vm/virtiofs-1.sock' },
      ],
    }),
  );
  assert.deepEqual(allAfter(virtiofs, '-object'), ['memory-backend-memfd,id=mem,size=2048M,share=on']);
  assert.equal(after(virtiofs, '-numa'), 'node,memdev=mem');
  assert.ok(virtiofs.includes('socket,id=fs0,path=/h/vm/virtiofs-0.sock'));
  assert.ok(virtiofs.includes('vhost-user-fs-pci,chardev=fs1,tag=berth1'));

  const ninep = qemuArgv(config({ shares: [{ type: '9p', tag: 'berth0', hostPath: '/Users/u,x' }] }));
  assert.deepEqual(allAfter(ninep, '-object'), [], 'no shared memory without a vhost-user device');
  assert.equal(after(ninep, '-fsdev'), 'local,id=fs0,path=/Users/u,,x,security_model=none');
  assert.ok(ninep.includes('virtio-9p-pci,fsdev=fs0,mount_tag=berth0'));

  assert.deepEqual(allAfter(qemuArgv(config({})), '-object'), [], 'no shares: nothing extra');
});

test('qemu argv: the read-only root disk, found by the guest by its serial', () => {
  const argv = qemuArgv(config({ rootDisk: '/c/root,1.img' }));
  assert.deepEqual(allAfter(argv, '-drive').slice(1), [
    'file=/c/root,,1.img,if=none,id=root,format=raw,readonly=on',
  ]);
  assert.ok(allAfter(argv, '-device').includes('virtio-blk-pci,drive=root,serial=berth-root'));
});
