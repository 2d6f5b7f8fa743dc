#!/bin/sh
# Wrong requests get an error and leave everything as it was.
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must_fail rdma link add rxe9 type rxe netdev nosuchdev
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
# Same name again, on another netdev.
must_fail ip netns exec nsB rdma link add rxe0 type rxe netdev veth1
# A second device on a netdev that has one.
must_fail ip netns exec nsA rdma link add rxe5 type rxe netdev veth0
# A VLAN is refused: the device belongs on the netdev under it.
if ip -n nsA link add link veth0 name veth0.5 type vlan id 5 2>/dev/null; then
	must_fail ip netns exec nsA rdma link add rxe6 type rxe netdev veth0.5
else
	note "no 8021q in this kernel: VLAN case not run"
fi
[ "$(ls /sys/class/infiniband)" = rxe0 ] || fail "devices after the refusals: $(ls /sys/class/infiniband)"
# Removing the device while a process holds it open is not refused and
# does not wait for it: the process is disassociated (netns_move.sh shows
# its side).
exec 3</dev/infiniband/uverbs0
must rdma link del rxe0
exec 3<&-
must rmmod rxe_migros
