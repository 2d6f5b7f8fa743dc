#!/bin/sh
# With the documented modprobe.d file, "modprobe rdma_rxe" loads rxe_migros.
# So does "rdma link add ... type rxe" when no rxe driver is loaded.
. "$(dirname "$0")/lib.sh"

conf=/checkout/rxe_migros/rxe_migros.conf
[ -f "$conf" ] || fail "$conf missing"
cp "$conf" /etc/modprobe.d/rxe_migros.conf
trap 'rm -f /etc/modprobe.d/rxe_migros.conf' EXIT
must modprobe rdma_rxe
[ -d /sys/module/rxe_migros ] || fail "modprobe rdma_rxe did not load rxe_migros"
[ ! -d /sys/module/rdma_rxe ] || fail "modprobe rdma_rxe loaded the C driver"
must rmmod rxe_migros
# Autoloading by link type, as "rdma link add" does.
veth_pair
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
[ -d /sys/module/rxe_migros ] && [ ! -d /sys/module/rdma_rxe ] ||
	fail "rdma link add autoloaded the wrong driver: $(lsmod | grep rxe | tr '\n' ' ')"
must rdma link del rxe0
must rmmod rxe_migros
