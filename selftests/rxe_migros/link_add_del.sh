#!/bin/sh
# rdma link add/del on a veth pair across two namespaces, served by rxe_migros.
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
must ip netns exec nsB rdma link add rxe1 type rxe netdev veth1
[ ! -d /sys/module/rdma_rxe ] || fail "the C rdma_rxe got loaded"
served_by_ours rxe0 veth0 || fail "rxe0 was not created by rxe_migros"
served_by_ours rxe1 veth1 || fail "rxe1 was not created by rxe_migros"
ip netns exec nsA rdma link show rxe0/1 | grep -q "link rxe0/1 state ACTIVE physical_state LINK_UP netdev veth0" ||
	fail "rdma link show: $(ip netns exec nsA rdma link show | tr '\n' ' ')"
ibv_devices | grep -q rxe1 || fail "ibv_devices does not list rxe1"
must rdma link del rxe0
[ ! -e /sys/class/infiniband/rxe0 ] || fail "rxe0 still present after rdma link del"
ibv_devices | grep -q rxe0 && fail "ibv_devices still lists rxe0"
must rdma link del rxe1
# And again on the same netdevs: nothing of the old devices is left behind.
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
must rdma link del rxe0
must rmmod rxe_migros
