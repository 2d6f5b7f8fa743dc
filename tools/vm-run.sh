#!/bin/bash
# Boot our kernel in QEMU and run a command in it, as root, in the checkout.
#
#   vm-run.sh [--timeout SECONDS] [GUEST...] -- COMMAND...   run COMMAND, return its status
#   vm-run.sh --interactive                                  a shell on the console
#
# GUEST options, for the guests of tools/vms-run.sh: --env NAME=VALUE (set
# in the guest's environment, repeatable), --net SWITCH:PORT:MAC (a
# virtio-net NIC with address MAC on the l2switch.py at UDP port SWITCH
# of the host's loopback, receiving on PORT).
#
# The guest's root is the cached Debian rootfs, shared read-only over 9p; the
# checkout is shared read-write at /checkout (its working directory), with
# rxe_migros.ko installed among the kernel's modules. A hung guest is killed
# after the timeout, with a message saying so.
. "$(dirname "$0")/common.sh"

timeout=1200
interactive=0
envs=()
nic=(-nic none)
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--net)
		IFS=: read -r sw port mac <<<"$2"
		nic=(-netdev "dgram,id=lan,local.type=inet,local.host=127.0.0.1,local.port=$port,remote.type=inet,remote.host=127.0.0.1,remote.port=$sw"
			-device "virtio-net-pci,netdev=lan,mac=$mac")
		shift 2 ;;
	--interactive) interactive=1; shift ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $interactive = 1 ] || [ $# -gt 0 ] || die "usage: vm-run.sh [--timeout S] -- COMMAND..."

K=$CHROOT$KOUT
[ -f "$K/.done" ] || die "no kernel: run 'make kernel' first"
R=$("$TOP/tools/rootfs.sh")
[ -f "$TOP/rxe_migros.ko" ] || die "no rxe_migros.ko: run 'make module' first"
# The guest's PID 1 lives in the rootfs; refresh it when it changed, by a
# rename: several guests of tools/vms-run.sh start at once.
if ! cmp -s "$TOP/tools/guest-init.sh" "$R/sbin/rxe_migros-init"; then
	install -m 0755 "$TOP/tools/guest-init.sh" "$R/sbin/.rxe_migros-init.$$"
	mv -f "$R/sbin/.rxe_migros-init.$$" "$R/sbin/rxe_migros-init"
fi

ctl=$(mktemp -d /tmp/rxe_migros-vm.XXXXXX)
trap 'rm -rf "$ctl"' EXIT
if [ $interactive = 1 ]; then
	echo "exec setsid -c bash -l" >"$ctl/cmd"
else
	printf '%q ' "$@" >"$ctl/cmd"
	echo >>"$ctl/cmd"
fi
for e in "${envs[@]}"; do
	printf 'export %q\n' "$e"
done >"$ctl/env"

# RXE_MIGROS_MACHINE: QEMU's machine type (default pc); RXE_MIGROS_KERNEL_ARGS:
# more kernel arguments (tools/check-debug.sh sets them).
# TCG: KVM opens on these machines but does not run guests (docs/building.md).
# One vCPU: TCG with two has oopsed at boot while patching live code.
# oops=panic: a guest whose kernel oopsed powers off at once, the oops on
# its console, instead of hanging its command until the timeout.
accel=(-accel tcg -cpu max)
[ "${RXE_MIGROS_KVM:-0}" = 1 ] && accel=(-accel kvm -cpu host)

qemu=(qemu-system-x86_64 -machine "${RXE_MIGROS_MACHINE:-pc}" "${accel[@]}" -m "${VM_MEM:-2048}" -smp 1 -nographic -no-reboot
	-kernel "$K/arch/x86/boot/bzImage"
	-append "console=ttyS0 loglevel=1 oops=panic panic=-1 ${RXE_MIGROS_KERNEL_ARGS:-} root=rootfs rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144 ro init=/sbin/rxe_migros-init"
	-fsdev "local,id=rootfs,path=$R,security_model=passthrough,readonly=on"
	-device virtio-9p-pci,fsdev=rootfs,mount_tag=rootfs
	-fsdev "local,id=kmods,path=$K/modroot/lib/modules,security_model=none,readonly=on"
	-device virtio-9p-pci,fsdev=kmods,mount_tag=kmods
	-fsdev "local,id=checkout,path=$TOP,security_model=none"
	-device virtio-9p-pci,fsdev=checkout,mount_tag=checkout
	-fsdev "local,id=vmctl,path=$ctl,security_model=none"
	-device virtio-9p-pci,fsdev=vmctl,mount_tag=vmctl
	"${nic[@]}")

if [ $interactive = 1 ]; then
	exec "${qemu[@]}"
fi
rc=0
timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null | sed -u 's/\r$//' || rc=${PIPESTATUS[0]}
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "vm-run: the guest did not finish within ${timeout} s and was killed" >&2
	exit 124
fi
[ -f "$ctl/rc" ] || { echo "vm-run: the guest stopped without reporting a status (kernel panic?)" >&2; exit 125; }
exit "$(cat "$ctl/rc")"
