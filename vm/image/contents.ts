// What goes into the guest image: Debian packages, the binaries taken from
// them, the kernel modules loaded at boot and those available on demand.
import type { GuestArch } from '../paths.js';

/** Bump when the image layout or the init changes in a way inputs do not show. */
export const IMAGE_LAYOUT_VERSION = 2;

export function kernelMetaPackage(arch: GuestArch): string {
  return arch === 'aarch64' ? 'linux-image-arm64' : 'linux-image-amd64';
}

/** Debian packages whose binaries the guest runs (their libraries come by soname). */
export const USERLAND_PACKAGES = [
  'busybox-static',
  'runc',
  'crun',
  'iptables',
  'iproute2',
  'e2fsprogs',
  'util-linux',
  'mount',
  'attr',
  'procps',
  'tini', // `docker run --init`: its static build is the containers' docker-init
  'libstdc++6', // node's and node-pty's C++ runtime
];

/**
 * Binaries copied from the unpacked packages, at their Debian paths. Where one
 * is missing from a package the build fails with its name.
 */
export const USERLAND_BINARIES = [
  '/bin/busybox',
  '/usr/sbin/runc',
  '/usr/bin/crun',
  '/usr/sbin/xtables-legacy-multi',
  '/bin/ip',
  '/sbin/mke2fs',
  '/sbin/e2fsck',
  '/bin/mount',
  '/bin/umount',
  '/sbin/blkid',
  '/sbin/fstrim',
  '/usr/bin/nsenter',
  '/usr/bin/unshare',
  '/usr/bin/setfattr',
  '/usr/bin/getfattr',
  '/bin/ps',
  '/usr/bin/tini-static',
];

/** Directories copied whole (plugins loaded with dlopen), with the libraries their files need. */
export function userlandDirs(arch: GuestArch): string[] {
  return [`/usr/lib/${arch}-linux-gnu/xtables`];
}

/** Symlinks Debian's maintainer scripts or alternatives would make. */
export const USERLAND_LINKS: Record<string, string> = {
  // The legacy (x_tables) backend: fewer kernel modules than nft for the same rules.
  '/usr/sbin/iptables': 'xtables-legacy-multi',
  '/usr/sbin/iptables-save': 'xtables-legacy-multi',
  '/usr/sbin/iptables-restore': 'xtables-legacy-multi',
  '/usr/sbin/ip6tables': 'xtables-legacy-multi',
  '/usr/sbin/ip6tables-save': 'xtables-legacy-multi',
  '/usr/sbin/ip6tables-restore': 'xtables-legacy-multi',
  '/sbin/mkfs.ext4': 'mke2fs',
  // Docker's name for its init, which the engine looks for first.
  '/usr/bin/docker-init': 'tini-static',
};

/** Loaded by the init at boot, in this order (with their dependencies). */
export const BOOT_MODULES = [
  // ext4 and nf_conntrack need a crc32c implementation, which no module dependency names.
  'crc32c_generic',
  'virtio_pci',
  'virtio_blk',
  'virtio_console',
  'virtio_net',
  'ext4',
  'overlay',
  'veth',
  'bridge',
  'br_netfilter',
  'nf_conntrack',
  'nf_nat',
  'ip_tables',
  'iptable_filter',
  'iptable_nat',
  'xt_MASQUERADE',
  'xt_addrtype',
  'xt_conntrack',
];

/** Shipped for later (on-demand) loading: shares, vsock, IPv6 tables, common matches. */
export const EXTRA_MODULES = [
  '9p',
  '9pnet_virtio',
  'virtiofs',
  'fuse',
  'vmw_vsock_virtio_transport',
  'ip6_tables',
  'ip6table_filter',
  'ip6table_nat',
  'iptable_mangle',
  'xt_mark',
  'xt_multiport',
  'xt_comment',
  'xt_nat',
  'xt_tcpudp', // -p: iptables' tcp and udp matches for published ports
  'ipt_REJECT',
  'tun',
  'dummy',
];
