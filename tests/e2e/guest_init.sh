#!/bin/busybox sh
# /init of the e2e guest: load virtio/9p, mount the host root read-only and the share read-write at its host path,
# load v4l2loopback with the options the test wrote, chroot into the host root, run the share's guest.sh, power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
SHARE=$(sed -n 's/.*vcamshare=\([^ ]*\).*/\1/p' /proc/cmdline)

fail() { echo "e2e-init: $*"; sync; poweroff -f; }
load() { while read -r m; do insmod "/lib/modules/$m" || fail "insmod $m"; done < "$1"; }

load /base.list
mkdir -p /host /share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host || fail "mount hostroot"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /share || fail "mount share"

# video.list ends with v4l2loopback itself: only it gets the options.
OPTS=$(cat /share/v4l2loopback.opts)
while read -r m; do
  case "$m" in v4l2loopback.ko) insmod "/lib/modules/$m" $OPTS || fail "insmod $m $OPTS" ;;
               *) insmod "/lib/modules/$m" || fail "insmod $m" ;; esac
done < /video.list

mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/shm /host/dev/pts
mount -t tmpfs shm /host/dev/shm
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t tmpfs run /host/run
mount --bind /share "/host$SHARE" || fail "bind share to $SHARE"
mkdir -p /host/run/tmp /host/run/home
echo "e2e-init: running $SHARE/guest.sh"
chroot /host /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/run/home TMPDIR=/run/tmp \
  E2E_SHARE="$SHARE" /bin/sh "$SHARE/guest.sh" > /share/guest.log 2>&1
echo $? > /share/exit_code
echo "e2e-init: guest.sh exited $(cat /share/exit_code)"
sync
umount /host"$SHARE" 2>/dev/null
umount /share
poweroff -f
