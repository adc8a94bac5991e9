#!/bin/sh
# Berth guest init (pid 1 after switch_root): mounts, modules, network, the
# persistent data disk, then the control server and the engine, each
# supervised (restarted when it dies). SIGUSR2 (busybox poweroff) or SIGTERM
# stops them, unmounts the disk and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
DATA_ROOT=/var/lib/berth
EXEC_ROOT=/run/berth
ENGINE_SOCKET=$EXEC_ROOT/docker.sock

say() { echo "berth-init: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
mount -t tmpfs -o mode=0755,nosuid,nodev run /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# cgroup v2 only: crun runs there, and the engine puts containers under /berth.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in cpuset cpu io memory pids hugetlb; do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
hwclock -s -u 2>/dev/null
hostname berth
say "mounts done at $(uptime_s) s"

# Modules (listed at image build time; the rest load on demand): all at once,
# each modprobe bringing its dependencies, then once more in order for any
# that lost a race over a shared dependency.
while read -r module; do
  modprobe "$module" 2>/dev/null &
done </etc/berth/modules
wait
while read -r module; do
  [ -d "/sys/module/$module" ] || modprobe "$module" 2>/dev/null || say "could not load $module"
done </etc/berth/modules
sysctl -qw net.ipv4.ip_forward=1 2>/dev/null
say "modules loaded at $(uptime_s) s"

# What udev would do for the host↔guest channel: /dev/virtio-ports/NAME.
mkdir -p /dev/virtio-ports
for port in /sys/class/virtio-ports/*; do
  [ -f "$port/name" ] && ln -sf "/dev/${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
done

# QEMU user-mode networking: fixed addresses, no DHCP round trip. The host forwards published
# ports to 10.0.2.15 (vm/ports/port-forwarder.ts); the engine delivers them (--forward-iface).
ip link set lo up
ENGINE_UPLINK=
if ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
  ENGINE_UPLINK="--forward-iface eth0"
fi

# The persistent data disk (the virtio disk with serial berth-data; vm/qemu/argv.ts):
# formatted on first boot, then mounted at the data root.
DATA_DISK=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  for b in /sys/block/vd*; do
    [ "$(cat "$b/serial" 2>/dev/null)" = berth-data ] && DATA_DISK=/dev/${b##*/}
  done
  [ -n "$DATA_DISK" ] && [ -b "$DATA_DISK" ] && break
  sleep 0.2
done
mkdir -p $DATA_ROOT $EXEC_ROOT
if [ -n "$DATA_DISK" ] && [ -b "$DATA_DISK" ]; then
  if ! blkid $DATA_DISK >/dev/null 2>&1; then
    say "formatting $DATA_DISK (first boot)"
    mkfs.ext4 -q -F -L berth-data -E nodiscard $DATA_DISK
  fi
  if mount -t ext4 -o noatime $DATA_DISK $DATA_ROOT; then
    fstrim $DATA_ROOT >/dev/null 2>&1 &
  else
    say "ERROR: cannot mount $DATA_DISK; the engine keeps its data in memory"
  fi
else
  say "ERROR: no data disk (serial berth-data); the engine keeps its data in memory"
fi
say "data disk ready at $(uptime_s) s"

# Shared host folders, each at its host path (berth.share=TYPE:TAG:HEXPATH on the
# kernel command line; see common/control.ts), before the engine starts so
# that bind mounts of them work from its first container.
set -f
for arg in $(cat /proc/cmdline); do
  case "$arg" in
  berth.share=*) ;;
  *) continue ;;
  esac
  spec=${arg#berth.share=}
  type=${spec%%:*}
  rest=${spec#*:}
  tag=${rest%%:*}
  dir=$(printf '%b' "$(echo "${rest#*:}" | sed 's/../\\x&/g')")
  mkdir -p "$dir"
  case "$type" in
  virtiofs)
    modprobe virtiofs 2>/dev/null
    mount -t virtiofs "$tag" "$dir"
    ;;
  9p)
    modprobe 9pnet_virtio 2>/dev/null
    modprobe 9p 2>/dev/null
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=mmap "$tag" "$dir"
    ;;
  *) false ;;
  esac || say "ERROR: cannot mount the shared folder $dir ($type $tag)"
done
set +f
say "shares mounted at $(uptime_s) s"

# supervise NAME CMD…: run CMD, restart it a second after it exits; on TERM
# pass TERM on, wait for it, and stop.
supervise() {
  name=$1
  shift
  (
    stopping=
    child=
    trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
    while [ -z "$stopping" ]; do
      "$@" &
      child=$!
      wait "$child"
      code=$?
      # wait returns early when the trap fires: wait again for the child itself.
      while kill -0 "$child" 2>/dev/null; do
        wait "$child"
        code=$?
      done
      [ -n "$stopping" ] && break
      say "$name exited ($code); restarting"
      sleep 1
    done
  ) &
}

# The engine's daemon.json from the host's settings (berth.daemon=HEX on the
# kernel command line; see common/control.ts): written fresh at every boot, so
# it is always what the settings say now.
ENGINE_CONFIG=
set -f
for arg in $(cat /proc/cmdline); do
  case "$arg" in
  berth.daemon=*)
    mkdir -p $EXEC_ROOT
    printf '%b' "$(echo "${arg#berth.daemon=}" | sed 's/../\\x&/g')" >$EXEC_ROOT/daemon.json
    ENGINE_CONFIG="--config-file $EXEC_ROOT/daemon.json"
    ;;
  esac
done
set +f

supervise control /usr/bin/node /opt/berth/dist/berth-guest-control.mjs
control_sup=$!
# The engine socket is root:berth 0660: members of berth (and root) may use it, nobody else.
grep -q '^berth:' /etc/group 2>/dev/null || echo 'berth:x:990:' >>/etc/group
supervise engine /usr/bin/node /opt/berth/bin/berth-engine -H unix://$ENGINE_SOCKET \
  --data-root $DATA_ROOT --exec-root $EXEC_ROOT --pidfile $EXEC_ROOT/berth-engine.pid $ENGINE_CONFIG $ENGINE_UPLINK
engine_sup=$!
say "engine started at $(uptime_s) s"

shutdown() {
  say "shutting down"
  kill -TERM "$engine_sup" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$engine_sup" 2>/dev/null || break; sleep 0.1; done
  kill -TERM "$control_sup" 2>/dev/null
  sync
  fstrim $DATA_ROOT >/dev/null 2>&1
  umount -l $DATA_ROOT 2>/dev/null
  sync
  say "power off"
  poweroff -f
}
trap shutdown USR2 TERM

# pid 1 waits (and so reaps orphans) until told to stop.
while :; do
  sleep 3600 &
  wait $!
done
