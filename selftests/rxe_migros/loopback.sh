#!/bin/sh
# Loopback: two QPs of one device, server and client in one namespace on
# the same GID, as on one host with one device: ibv_rc_pingpong and
# ibv_ud_pingpong with data checking, ib_write_bw and ib_read_bw, and rping
# to the device's own address over IPv4 and IPv6. Packets to the device's
# own addresses go straight to its receive path (the C rxe's
# rxe_loopback): none reaches the wire.
# cost: 60
. "$(dirname "$0")/lib.sh"

rxe_pair
# Both ends are rxe0 in nsA.
DB=$DA GB=$GA
SERVER_NS=nsA CLIENT_NS=nsA SERVER_IP=10.0.0.1
wire_before=$(counter rxe1 rcvd_pkts)
sent_before=$(counter rxe0 sent_pkts)
rcvd_before=$(counter rxe0 rcvd_pkts)
pair_run ibv_rc_pingpong 60 -n 20 -s 4096 -c
pair_run ibv_rc_pingpong 120 -n 3 -s 1048576 -c
pair_run ibv_ud_pingpong 60 -n 20 -s 1024 -c
perf_run ib_write_bw -s 65536 -n 20
perf_run ib_read_bw -s 65536 -n 20
rping_run 200 10.0.0.1
use_ipv6
GB=$GA
pair_run ibv_rc_pingpong 60 -n 20 -s 4096 -c
rping_run 100 fd00::1

sent=$(($(counter rxe0 sent_pkts) - sent_before))
rcvd=$(($(counter rxe0 rcvd_pkts) - rcvd_before))
wire=$(($(counter rxe1 rcvd_pkts) - wire_before))
note "rxe0 sent $sent packets and received $rcvd; rxe1 received $wire"
[ "$rcvd" -gt 1000 ] || fail "rxe0 received only $rcvd packets"
[ "$wire" -eq 0 ] || fail "$wire looped-back packets reached the wire (rxe1)"
[ "$(counter rxe0 rcvd_no_dest)" -eq 0 ] || fail "rxe0 dropped packets for want of a QP"
