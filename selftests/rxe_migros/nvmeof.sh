#!/bin/sh
# A kernel ULP on our driver: NVMe over Fabrics over RDMA between two
# guests. Guest a exports a 96 MiB file through nvmet-rdma on its RoCE
# device; guest b connects with nvme-rdma (through rdma_cm, as
# `nvme connect` does, by writing to /dev/nvme-fabrics), formats the
# namespace (ext2 of 4 KiB blocks, the namespace's, with busybox's
# mke2fs), mounts it, writes 64 MiB of random
# data, mounts it again with its caches dropped and checks the file's
# SHA-256, then reads the whole namespace with O_DIRECT and checks it
# against the target's file. nvme-rdma registers every I/O's pages with
# fast registration (REG_MR, under keys of its choosing), and the target
# answers with SEND_WITH_INV of those keys; the target's RDMA READs and
# WRITEs use its DMA MR. Then b disconnects, both ends unload their
# modules (ours with its device deleted), and it all runs again with the
# C rxe as the target (but on the debug kernel, below). Kernel ULPs use rdma_cm in the initial network
# namespace, hence a guest for each end.
# vms: 2
# timeout: 900
# cost: 300
. "$(dirname "$0")/lib.sh"

NQN=nqn.2026-12.org.rxe-migros:nvmeof
CFG=/sys/kernel/config/nvmet

# target DRIVER: (in guest a) the RoCE device DRIVER (ours, "rxe", or the
# C rxe, "crxe") on br0 and the subsystem on a 96 MiB file, listening on
# 10.9.0.1:4420.
target() {
	if [ "$1" = rxe ]; then
		vm_roce
	else
		must modprobe rdma_rxe
		must rdma link add crxe0 type rxe netdev br0
		wait_for 20 gid_index crxe0 10.9.0.1 || fail "crxe0 has no GID"
	fi
	must modprobe nvmet-rdma
	mountpoint -q /sys/kernel/config || must mount -t configfs none /sys/kernel/config
	must truncate -s 96M /tmp/nvme.img
	must mkdir $CFG/subsystems/$NQN
	echo 1 >$CFG/subsystems/$NQN/attr_allow_any_host
	must mkdir $CFG/subsystems/$NQN/namespaces/1
	echo /tmp/nvme.img >$CFG/subsystems/$NQN/namespaces/1/device_path
	echo 1 >$CFG/subsystems/$NQN/namespaces/1/buffered_io
	echo 1 >$CFG/subsystems/$NQN/namespaces/1/enable || fail "the namespace did not enable"
	must mkdir $CFG/ports/1
	echo rdma >$CFG/ports/1/addr_trtype
	echo ipv4 >$CFG/ports/1/addr_adrfam
	echo 10.9.0.1 >$CFG/ports/1/addr_traddr
	echo 4420 >$CFG/ports/1/addr_trsvcid
	must ln -s $CFG/subsystems/$NQN $CFG/ports/1/subsystems/$NQN
}

# target_down DRIVER: (in guest a) the device goes first, then the port
# and subsystem, nvmet-rdma and the device's module. In this order the
# listener's rdma_cm ID goes with the device (DEVICE_REMOVAL): removing
# the port through configfs with the ID still there destroys it under
# nvmet_config_sem, which lockdep reports against the connect path's
# order of the two (an upstream nvmet-rdma matter, whichever driver).
target_down() {
	if [ "$1" = rxe ]; then
		must rdma link del rxe0
	else
		must rdma link del crxe0
	fi
	rm -f $CFG/ports/1/subsystems/$NQN
	rmdir $CFG/ports/1
	echo 0 >$CFG/subsystems/$NQN/namespaces/1/enable
	rmdir $CFG/subsystems/$NQN/namespaces/1 $CFG/subsystems/$NQN
	must modprobe -r nvmet-rdma
	if [ "$1" = rxe ]; then
		must rmmod rxe_migros
	else
		must rmmod rdma_rxe
	fi
	rm -f /tmp/nvme.img
}

# host: (in guest b, as `nvmeof.sh host`) connects to the target,
# formats, writes and reads back; its last line is the SHA-256 of the
# whole namespace.
host() {
	vm_roce
	must modprobe nvme-rdma
	echo "transport=rdma,traddr=10.9.0.1,trsvcid=4420,nqn=$NQN" >/dev/nvme-fabrics ||
		fail "the connection to the target failed: $(dmesg | grep -i nvme | tail -n 3 | tr '\n' ' ')"
	wait_for 20 test -b /dev/nvme0n1 || fail "no namespace came: $(dmesg | grep -i nvme | tail -n 3 | tr '\n' ' ')"
	# The block device itself first: 4 KiB writes (in the command
	# capsule) and 1 MiB ones (fast-registered, READ by the target), read
	# back with O_DIRECT (RDMA WRITEs into fast-registered pages).
	head -c 8M /dev/urandom >/tmp/raw || fail "no random data"
	for bs in 4k:2048 1M:8; do
		n=${bs#*:} bs=${bs%:*}
		must dd if=/tmp/raw of=/dev/nvme0n1 bs=$bs oflag=direct status=none
		dd if=/dev/nvme0n1 bs=$bs count=$n iflag=direct status=none | cmp -s - /tmp/raw ||
			fail "8 MiB written and read back in blocks of $bs differ: $(dmesg | grep -iE 'nvme|rxe' | tail -n 5 | tr '\n' ' ')"
	done
	rm -f /tmp/raw
	busybox mke2fs -q -b 4096 /dev/nvme0n1 || fail "mke2fs failed"
	sync
	mkdir -p /mnt/nvme
	mount -t ext2 /dev/nvme0n1 /mnt/nvme ||
		fail "cannot mount the new file system: $(dmesg | grep -iE 'ext2|nvme' | tail -n 5 | tr '\n' ' ')"
	head -c 64M /dev/urandom >/tmp/data || fail "no random data"
	sum=$(sha256sum </tmp/data)
	must cp /tmp/data /mnt/nvme/data
	must umount /mnt/nvme
	echo 3 >/proc/sys/vm/drop_caches
	must mount -t ext2 /dev/nvme0n1 /mnt/nvme
	back=$(sha256sum </mnt/nvme/data) || fail "cannot read the file back"
	[ "$back" = "$sum" ] || fail "64 MiB came back different: $back, not $sum"
	must umount /mnt/nvme
	rm -f /tmp/data
	dd if=/dev/nvme0n1 iflag=direct bs=1M 2>/dev/null | sha256sum
	echo 1 >/sys/class/nvme/nvme0/delete_controller
	wait_for 20 sh -c '! test -e /dev/nvme0n1' || fail "the controller did not go"
	must modprobe -r nvme-rdma
	must rdma link del rxe0
	must rmmod rxe_migros
}

[ "${1:-}" = host ] && { host; exit 0; }

# run DRIVER: the whole exchange with DRIVER as the target.
run() {
	target "$1"
	lap
	out=$(on b sh ./nvmeof.sh host) || { echo "$out"; note "target first 8M $(head -c 8M /tmp/nvme.img | sha256sum)"; od -A d -t x1 /tmp/nvme.img | head -n 8; fail "guest b, against the $1 target"; }
	lap
	whole=$(echo "$out" | tail -n 1)
	[ "$(sha256sum </tmp/nvme.img)" = "$whole" ] ||
		fail "the namespace b read differs from the target's file ($1 target)"
	note "$1 target: 8 MiB through the block device in 4 KiB and 1 MiB blocks, ext2 on the namespace, 64 MiB written and read back, 96 MiB read whole, each checked: ${secs}s"
	target_down "$1"
}

run rxe
# The C rxe part is a reference, not a check of ours, and on the debug
# kernel (make check-debug) the C rxe trips lockdep itself: its completer
# frees queued responses (drain_resp_pkts) under spin_lock_irqsave of the
# QP's state lock, and freeing virtio-net's page-pool skbs with
# interrupts off is an inconsistent lock state (docs/building.md). A
# report fails the test it appears in, so there it is left out.
if [ "${RXE_MIGROS_SLOW:-1}" -gt 1 ]; then
	note "crxe target: left out on the debug kernel (the C rxe's own lockdep report, docs/building.md)"
else
	run crxe
fi
