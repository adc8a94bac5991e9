// The QEMU command line for the Berth VM, per host platform, guest
// architecture and accelerator. Pure: the tests check each variant's argv.
import type { GuestArch } from '../paths.js';
import type { ShareType } from '../shares/shares.js';
import { CONTROL_PORT_NAME, KERNEL_CMDLINE_MAX } from '../../common/control.js';

/** The user-mode network's id: host forwarding rules name it (hostfwd.ts). */
export const USER_NETDEV_ID = 'net0';

export type Accel = 'hvf' | 'whpx' | 'kvm' | 'tcg';
export type HostPlatform = 'darwin' | 'win32' | 'linux';

export interface VmConfig {
  arch: GuestArch;
  platform: HostPlatform;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initramfs: string;
  /** The read-only root disk the small initramfs mounts (guest-agent/init/stage1.sh); older images have none. */
  rootDisk?: string;
  /** Extra kernel parameters (the host's key). */
  kernelParams: string[];
  disk: string;
  qmpSocket: string;
  controlSocket: string;
  serialLog: string;
  /** Shared folders: virtiofs (socket: its virtiofsd's) or 9p (QEMU serves the folder itself). */
  shares?: SharedFolder[];
}

export interface SharedFolder {
  type: ShareType;
  tag: string;
  hostPath: string;
  /** virtiofs: the vhost-user socket of the folder's virtiofsd. */
  socket?: string;
}

/** The accelerator this platform offers, tried first by `accel: auto`. */
export function platformAccel(platform: HostPlatform): Accel {
  switch (platform) {
    case 'darwin':
      return 'hvf';
    case 'win32':
      return 'whpx';
    case 'linux':
      return 'kvm';
  }
}

/**
 * Accelerators to try, in order, for a setting: auto falls back to TCG. A
 * guest of another architecture than the host's (emulated) has TCG alone.
 */
export function accelCandidates(setting: Accel | 'auto', platform: HostPlatform, emulated = false): Accel[] {
  if (setting !== 'auto') return [setting];
  return emulated ? ['tcg'] : [platformAccel(platform), 'tcg'];
}

export function qemuBinary(arch: GuestArch, platform: HostPlatform): string {
  const name = arch === 'aarch64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
  return platform === 'win32' ? `${name}.exe` : name;
}

function machine(arch: GuestArch, accel: Accel): string[] {
  if (arch === 'aarch64') {
    // virt has no legacy devices; gic-version=max picks what the host or TCG offers.
    return ['-machine', `virt,gic-version=${accel === 'hvf' ? '2' : 'max'}`];
  }
  return ['-machine', 'q35'];
}

function cpu(arch: GuestArch, accel: Accel): string[] {
  // With an accelerator the guest sees the host's CPU; under TCG on x86_64, "max" is every feature QEMU can emulate.
  // On arm64 TCG, a Cortex-A76 (ARMv8.2, as Lima picks): what arm64 distributions
  // need (LSE atomics, crypto) without what "max" adds and Debian's QEMU 7.2
  // emulates least well or most slowly (SVE, SME, MTE, pointer authentication
  // at every function return). CI saw a guest kernel fault under "max" once.
  if (accel === 'tcg') return ['-cpu', arch === 'aarch64' ? 'cortex-a76' : 'max'];
  // WHPX does not pass the host's CPU model through: QEMU's default model.
  if (accel === 'whpx') return [];
  return ['-cpu', 'host'];
}

function consoleDevice(arch: GuestArch): string {
  return arch === 'aarch64' ? 'ttyAMA0' : 'ttyS0';
}

function accelArgs(accel: Accel): string[] {
  // Multi-threaded TCG: one host thread per vCPU.
  if (accel === 'tcg') return ['-accel', 'tcg,thread=multi'];
  return ['-accel', accel];
}

/** The devices for shared folders (and, for virtiofs, guest RAM a vhost-user daemon can map). */
function shareArgs(c: VmConfig): string[] {
  const shares = c.shares ?? [];
  const out: string[] = [];
  if (shares.some((s) => s.type === 'virtiofs')) {
    // vhost-user daemons read and write guest memory directly: it must be a shared, fd-backed mapping.
    out.push(
      '-object',
      `memory-backend-memfd,id=mem,size=${c.memoryMiB}M,share=on`,
      '-numa',
      'node,memdev=mem',
    );
  }
  for (const [i, s] of shares.entries()) {
    if (s.type === 'virtiofs') {
      if (!s.socket) throw new Error(`virtiofs share ${s.tag} has no virtiofsd socket`);
      out.push(
        '-chardev',
        `socket,id=fs${i},path=${qemuOptionValue(s.socket)}`,
        '-device',
        `vhost-user-fs-pci,chardev=fs${i},tag=${s.tag}`,
      );
    } else {
      // security_model=none: files keep the owner and mode the guest gives them, as far as the host user may.
      out.push(
        '-fsdev',
        `local,id=fs${i},path=${qemuOptionValue(s.hostPath)},security_model=none`,
        '-device',
        `virtio-9p-pci,fsdev=fs${i},mount_tag=${s.tag}`,
      );
    }
  }
  return out;
}

/** A value inside a QEMU -option list: commas are doubled. */
function qemuOptionValue(v: string): string {
  return v.replace(/,/g, ',,');
}

export function qemuArgv(c: VmConfig): string[] {
  const params = [
    `console=${consoleDevice(c.arch)}`,
    'loglevel=4',
    'panic=-1', // a guest panic ends QEMU (with -no-reboot) instead of hanging
    ...c.kernelParams,
  ];
  const cmdline = params.join(' ');
  if (cmdline.length >= KERNEL_CMDLINE_MAX)
    throw new Error(
      `the VM's kernel command line is ${cmdline.length} bytes, over the kernel's ${KERNEL_CMDLINE_MAX - 1}: fewer shared folders, or a shorter daemon.json in the settings`,
    );
  return [
    ...machine(c.arch, c.accel),
    ...accelArgs(c.accel),
    ...cpu(c.arch, c.accel),
    '-smp',
    String(c.cpus),
    '-m',
    `${c.memoryMiB}M`,
    '-nodefaults',
    '-nographic',
    '-no-reboot',
    '-kernel',
    c.kernel,
    '-initrd',
    c.initramfs,
    '-append',
    cmdline,
    // The data disk: discard=unmap lets the guest's fstrim shrink the qcow2 on the host.
    // The guest finds its disks by serial (berth-data, berth-root), not by order.
    '-drive',
    `file=${qemuOptionValue(c.disk)},if=none,id=data,format=qcow2,discard=unmap,cache=writeback`,
    '-device',
    'virtio-blk-pci,drive=data,serial=berth-data',
    ...(c.rootDisk
      ? [
          // Shared by every VM of this image: read-only, so QEMU takes only a shared lock.
          '-drive',
          `file=${qemuOptionValue(c.rootDisk)},if=none,id=root,format=raw,readonly=on`,
          '-device',
          'virtio-blk-pci,drive=root,serial=berth-root',
        ]
      : []),
    // User-mode networking: the guest reaches out through QEMU; published TCP ports come in (hostfwd.ts).
    '-netdev',
    `user,id=${USER_NETDEV_ID}`,
    '-device',
    `virtio-net-pci,netdev=${USER_NETDEV_ID},romfile=`, // no iPXE option ROM: the kernel is loaded directly
    // The host↔guest channel: a virtio-serial port backed by a unix socket QEMU listens on.
    '-device',
    'virtio-serial-pci',
    '-chardev',
    `socket,id=control,path=${c.controlSocket},server=on,wait=off`,
    '-device',
    `virtserialport,chardev=control,name=${CONTROL_PORT_NAME}`,
    '-qmp',
    `unix:${c.qmpSocket},server=on,wait=off`,
    '-chardev',
    `file,id=serial,path=${c.serialLog}`,
    '-serial',
    'chardev:serial',
    '-device',
    'virtio-rng-pci',
    ...shareArgs(c),
  ];
}
