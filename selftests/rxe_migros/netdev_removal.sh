#!/bin/sh
# Removing the netdev, or unloading with devices present, removes the devices.
# Nothing is left behind either way.
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
must ip netns exec nsB rdma link add rxe1 type rxe netdev veth1
must ip -n nsA link del veth0
wait_for 10 sh -c '[ ! -e /sys/class/infiniband/rxe0 ] && [ ! -e /sys/class/infiniband/rxe1 ]' ||
	fail "devices left after deleting the veth pair: $(ls /sys/class/infiniband)"
dmesg | grep -q "rxe_migros: rxe0: veth0 is going away" || fail "no log line for the netdev removal"

ip link add veth2 netns nsA type veth peer name veth3 netns nsB
ip -n nsA link set veth2 up
must ip netns exec nsA rdma link add rxe2 type rxe netdev veth2
must ip netns exec nsB rdma link add rxe3 type rxe netdev veth3
must rmmod rxe_migros
[ -z "$(ls /sys/class/infiniband)" ] || fail "devices left after rmmod: $(ls /sys/class/infiniband)"
# The netdevs are free for a new driver instance.
load_ours
must ip netns exec nsA rdma link add rxe2 type rxe netdev veth2
must rmmod rxe_migros
