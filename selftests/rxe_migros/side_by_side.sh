#!/bin/sh
# With link_type=rxe_migros, ours and the C rdma_rxe run side by side.
# Each link type reaches its own driver; unloading one spares the other's devices.
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours link_type=rxe_migros
must modprobe rdma_rxe
must ip netns exec nsA rdma link add mig0 type rxe_migros netdev veth0
must ip netns exec nsB rdma link add crxe1 type rxe netdev veth1
served_by_ours mig0 veth0 || fail "mig0 not created by rxe_migros"
served_by_ours crxe1 veth1 && fail "crxe1 was created by rxe_migros, not the C rxe"
ibv_devices | grep -q mig0 && ibv_devices | grep -q crxe1 || fail "ibv_devices: $(ibv_devices | tr '\n' ' ')"
must rmmod rxe_migros
[ -e /sys/class/infiniband/crxe1 ] || fail "unloading rxe_migros removed the C rxe's device"
[ ! -e /sys/class/infiniband/mig0 ] || fail "mig0 survived rmmod rxe_migros"
must rdma link del crxe1
must rmmod rdma_rxe
