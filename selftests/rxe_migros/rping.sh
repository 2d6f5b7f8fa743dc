#!/bin/sh
# rdma_cm with our driver on both ends: rping -v -C 1000 over IPv4, then
# IPv6. The connection manager's MADs go through the MAD layer's GSI QP
# (QP 1), a kernel consumer's UD QP of ours: kernel post_send, post_recv,
# poll_cq and AHs made with interrupts off. Every ping's data is checked
# on both ends (-v prints it, -V compares it). The port's PMA counters
# (sysfs ports/1/counters, answered through process_mad) count the IPv4
# run's bytes and packets alike on both ends.
# timeout: 600
# cost: 40
. "$(dirname "$0")/lib.sh"

rxe_pair
dmesg | grep -q "Couldn't create ib_mad QP1" && fail "the MAD layer could not create its GSI QP"
pma() { # DEV NAME
	cat "/sys/class/infiniband/$1/ports/1/counters/$2"
}
for d in rxe0 rxe1; do
	[ -r /sys/class/infiniband/$d/ports/1/counters/port_xmit_data ] ||
		fail "$d has no PMA counters: $(ls /sys/class/infiniband/$d/ports/1/ | tr '\n' ' ')"
done
a_tx=$(pma rxe0 port_xmit_data) b_rx=$(pma rxe1 port_rcv_data)
b_tx=$(pma rxe1 port_xmit_data) a_rx=$(pma rxe0 port_rcv_data)
a_txp=$(pma rxe0 port_xmit_packets) b_rxp=$(pma rxe1 port_rcv_packets)
rping_run 1000 10.0.0.2
sleep 1 # the last ACKs
a_tx=$(($(pma rxe0 port_xmit_data) - a_tx)) b_rx=$(($(pma rxe1 port_rcv_data) - b_rx))
b_tx=$(($(pma rxe1 port_xmit_data) - b_tx)) a_rx=$(($(pma rxe0 port_rcv_data) - a_rx))
a_txp=$(($(pma rxe0 port_xmit_packets) - a_txp)) b_rxp=$(($(pma rxe1 port_rcv_packets) - b_rxp))
note "PMA port_xmit_data/port_rcv_data: rxe0 sent $a_tx, rxe1 received $b_rx; rxe1 sent $b_tx, rxe0 received $a_rx; packets rxe0 sent $a_txp, rxe1 received $b_rxp"
# 1000 pings of 64 bytes each way at least (the counters are in 4-byte words).
[ "$a_tx" -gt 16000 ] && [ "$b_tx" -gt 16000 ] || fail "the PMA counters did not count the pings"
[ "$a_tx" = "$b_rx" ] && [ "$b_tx" = "$a_rx" ] && [ "$a_txp" = "$b_rxp" ] ||
	fail "the two ends' PMA counters disagree"
use_ipv6
rping_run 200 fd00::2
