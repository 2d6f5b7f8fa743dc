#!/bin/sh
# The device and port as libibverbs (librxe) sees them, and the port state
# and link_downed counter following the link.
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
# Served by rxe_migros: it said so, and the C driver is not even loaded.
served_by_ours rxe0 veth0 || fail "rxe0 was not created by rxe_migros"
[ ! -d /sys/module/rdma_rxe ] || fail "the C rdma_rxe is loaded"
has_v4_gid() { ibv_devinfo -v -d rxe0 | grep -q 'GID.*::ffff:10.0.0.1'; }
wait_for 10 has_v4_gid ||
	fail "no GID for 10.0.0.1: $(ibv_devinfo -v -d rxe0 2>&1 | tr '\n' ' ')"
info=$(ibv_devinfo -v -d rxe0) || fail "ibv_devinfo -v -d rxe0 failed"
echo "$info" | sed 's/^/# /'
expect() {
	echo "$info" | grep -q -E "$1" || fail "ibv_devinfo: no line matching '$1'"
}
expect 'transport:[[:space:]]+InfiniBand \(0\)'
expect 'vendor_id:[[:space:]]+0xffffff'
expect 'phys_port_cnt:[[:space:]]+1'
expect 'state:[[:space:]]+PORT_ACTIVE \(4\)'
expect 'link_layer:[[:space:]]+Ethernet'
expect 'max_mtu:[[:space:]]+4096 \(5\)'
expect 'active_mtu:[[:space:]]+1024 \(3\)'
expect 'max_qp:[[:space:]]+1048560'
expect 'max_cqe:[[:space:]]+32767'
expect 'GID\[.*\]:.*::ffff:10.0.0.1, RoCE v2'
# Atomics, multicast, SRQs and memory windows are carried out (the
# atomics, multicast, srq and mw tests, which check the multicast limits;
# objects checks the SRQ limits); what is not implemented yet is not
# advertised (issue 19: each comes with its feature).
expect 'atomic_cap:[[:space:]]+ATOMIC_HCA \(1\)'
expect 'max_mcast_grp:[[:space:]]+256$'
expect 'max_mcast_qp_attach:[[:space:]]+56$'
expect 'max_total_mcast_qp_attach:[[:space:]]+14336$'
expect 'max_srq:[[:space:]]+917503$'
expect 'max_srq_wr:[[:space:]]+1048576$'
expect 'max_srq_sge:[[:space:]]+27$'
expect 'max_mw:[[:space:]]+524287$'
# The node GUID is the EUI-64 of veth0's MAC, as with the C rxe.
mac=$(ip -n nsA -br link show veth0 | awk '{print $3}')
guid=$(cat /sys/class/infiniband/rxe0/node_guid)
set -- $(echo "$mac" | tr : ' ')
want=$(printf '%02x%s:%sff:fe%s:%s%s' $((0x$1 ^ 2)) "$2" "$3" "$4" "$5" "$6")
[ "$guid" = "$want" ] || fail "node_guid $guid, expected $want from MAC $mac"
# A jumbo MTU raises the active MTU; the port follows the link state.
must ip -n nsA link set veth0 mtu 9000
ibv_devinfo -d rxe0 | grep -q -E 'active_mtu:[[:space:]]+4096' || fail "active_mtu did not follow MTU 9000"
downed=/sys/class/infiniband/rxe0/ports/1/hw_counters/link_downed
[ "$(cat $downed)" -eq 0 ] || fail "link_downed is $(cat $downed) before any link down"
must ip -n nsA link set veth0 down
wait_for 5 port_is rxe0 DOWN
sleep 1 # hw_counters are cached for a few milliseconds
[ "$(cat $downed)" -ge 1 ] || fail "link_downed did not count the link going down"
port_state rxe0 | grep -q DOWN || fail "port state $(port_state rxe0) after link down"
ibv_devinfo -d rxe0 | grep -q 'PORT_DOWN' || fail "ibv_devinfo does not show PORT_DOWN"
must ip -n nsA link set veth0 up
wait_for 5 port_is rxe0 ACTIVE
port_state rxe0 | grep -q ACTIVE || fail "port state $(port_state rxe0) after link up"
must rdma link del rxe0
must rmmod rxe_migros
