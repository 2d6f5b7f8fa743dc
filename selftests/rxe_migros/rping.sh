#!/bin/sh
# rdma_cm with our driver on both ends: rping -v -C 1000 over IPv4, then
# IPv6. The connection manager's MADs go through the MAD layer's GSI QP
# (QP 1), a kernel consumer's UD QP of ours: kernel post_send, post_recv,
# poll_cq and AHs made with interrupts off. Every ping's data is checked
# on both ends (-v prints it, -V compares it).
# timeout: 600
# cost: 40
. "$(dirname "$0")/lib.sh"

rxe_pair
dmesg | grep -q "Couldn't create ib_mad QP1" && fail "the MAD layer could not create its GSI QP"
rping_run 1000 10.0.0.2
use_ipv6
rping_run 200 fd00::2
