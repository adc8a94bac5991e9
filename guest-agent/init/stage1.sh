#!/bin/busybox sh
# Berth guest, first stage (/init in the small initramfs): load the drivers for
# the read-only root disk, mount it under a tmpfs overlay (the root is
# writable, its files are read from the disk only when used) and switch_root
# into it. The initramfs itself stays small: unpacking and copying the whole
# tree in the guest is what took seconds under TCG. runc/crun pivot_root into
# every container, which the initramfs (the kernel's rootfs) cannot be left by;
# an overlay mount can.
BB=/bin/busybox
$BB mkdir -p /dev /proc /sys /lower /upper /newroot
$BB mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
$BB mount -t proc proc /proc
$BB mount -t sysfs sysfs /sys
fail() {
  echo "berth-init: ERROR: $*; powering off"
  $BB poweroff -f
}
while read -r module; do
  $BB modprobe "$module" || echo "berth-init: could not load $module"
done </etc/berth/stage1-modules
# The root disk is the virtio disk with serial berth-root (vm/qemu/argv.ts).
root=
for _ in $($BB seq 1 50); do
  for b in /sys/block/vd*; do
    [ "$($BB cat "$b/serial" 2>/dev/null)" = berth-root ] && root=/dev/${b##*/}
  done
  [ -n "$root" ] && [ -b "$root" ] && break
  $BB sleep 0.1
done
[ -n "$root" ] || fail "no root disk (serial berth-root)"
$BB mount -t ext4 -o ro "$root" /lower || fail "cannot mount the root disk $root"
$BB mount -t tmpfs -o mode=0755 upper /upper
$BB mkdir -p /upper/data /upper/work
$BB mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work root /newroot ||
  fail "cannot mount the root overlay"
$BB umount /proc /sys
$BB mount --move /dev /newroot/dev
exec $BB switch_root /newroot /sbin/berth-init
