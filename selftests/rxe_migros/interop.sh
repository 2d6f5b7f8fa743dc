#!/bin/sh
# Wire compatibility: our driver on one end and the C rdma_rxe on the other,
# each end as server and as client: ibv_ud_pingpong and ibv_rc_pingpong with
# data checking, perftest RC send, write, read and atomics (fetch and add,
# compare and swap), UD send, and rping
# (rdma_cm: each end's MAD layer talks to the other's through its GSI QP).
# timeout: 900
# cost: 210
. "$(dirname "$0")/lib.sh"

mixed_pair
for side in "ours as client" "ours as server"; do
	note "$side"
	pair_run ibv_ud_pingpong 60 -n 10 -s 1024 -c
	pair_run ibv_rc_pingpong 60 -n 10 -s 1 -c
	pair_run ibv_rc_pingpong 120 -n 5 -s 1048576 -c
	for t in ib_send_bw ib_write_bw ib_read_bw ib_send_lat ib_write_lat ib_read_lat; do
		perf_run $t -s 65536 -n 20
	done
	perf_run ib_atomic_bw -A FETCH_AND_ADD -n 200
	perf_run ib_atomic_lat -A CMP_AND_SWAP -n 100
	perf_run ib_send_bw -c UD -s 1024 -n 20
	perf_run ib_send_lat -c UD -s 1024 -n 20
	rping_run 300 $SERVER_IP
	swap_ends
done
