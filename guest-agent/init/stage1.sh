#!/bin/busybox sh
# Berth guest, first stage (/init in the initramfs). The initramfs is the
# kernel's rootfs, which pivot_root cannot leave, and runc/crun pivot_root
# into every container: so copy the tree onto a tmpfs and switch_root there.
/bin/busybox mkdir -p /dev /newroot
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t tmpfs -o mode=0755 root /newroot
for entry in /*; do
  case "$entry" in
  /newroot | /dev | /proc | /sys | /init) ;;
  *) /bin/busybox cp -a "$entry" /newroot/ ;;
  esac
done
/bin/busybox mkdir -p /newroot/dev /newroot/proc /newroot/sys
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /sbin/berth-init
