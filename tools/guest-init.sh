#!/bin/sh
# PID 1 of the test VM (installed into the rootfs by tools/vm-run.sh): sets up
# a writable system over the read-only root, installs rxe_migros.ko among the
# kernel's modules, runs the command from /vmctl/cmd in /checkout and hands
# its exit status back through /vmctl/rc.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=linux LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
for d in /tmp /run /var/tmp /var/log /var/lib /var/cache /root /mnt /etc/modprobe.d /lib/modules; do
	[ -d "$d" ] && mount -t tmpfs "tmpfs$d" "$d"
done
mkdir -p /run/netns /var/run /mnt/kmods /mnt/vmctl
for t in debugfs:/sys/kernel/debug cgroup2:/sys/fs/cgroup; do
	mount -t "${t%%:*}" none "${t#*:}" 2>/dev/null
done
p9="trans=virtio,version=9p2000.L,msize=262144"
mount -t 9p -o "$p9" checkout /checkout
mount -t 9p -o "$p9" vmctl /mnt/vmctl
mount -t 9p -o "ro,$p9" kmods /mnt/kmods
kver=$(uname -r)
cp -a /mnt/kmods/. /lib/modules/
mkdir -p "/lib/modules/$kver/extra"
cp /checkout/rxe_migros.ko "/lib/modules/$kver/extra/"
depmod -a
# A guest of tools/vms-run.sh learns its name (RXE_MIGROS_VM), how many
# guests there are (RXE_MIGROS_VMS) and its address on their segment
# (RXE_MIGROS_ADDR).
. /mnt/vmctl/env
hostname "rxe-vm${RXE_MIGROS_VM:+-$RXE_MIGROS_VM}"
ip link set lo up
# eth0 (vms-run.sh's segment) is a port of bridge br0, where namespaces
# join the segment too; br0 holds the guest's address.
if [ -n "${RXE_MIGROS_ADDR:-}" ] && [ -e /sys/class/net/eth0 ]; then
	ip link add br0 type bridge
	ip link set eth0 master br0
	ip link set eth0 up
	ip addr add "$RXE_MIGROS_ADDR/24" dev br0
	ip link set br0 up
fi
ulimit -l unlimited
cd /checkout
sh /mnt/vmctl/cmd
echo $? >/mnt/vmctl/rc
sync
busybox poweroff -f
