#!/bin/sh
# Shared receive queues. Our checker (srq.py, pyverbs, two QPs of one
# device): Query SRQ, receives taken in order with their data, the limit
# event once and disarmed, bad modifies refused, resizes keeping what
# waits, RNR on an empty SRQ until a receive is posted, LAST_WQE_REACHED
# when a QP on it fails, a UD QP on an SRQ. Then
# ibv_srq_pingpong -c between our devices: 16 QPs on one SRQ (its
# default), 4 QPs on an SRQ of 4 receives; against the C rxe each way.
# Then CRIU's dump of an ibv_srq_pingpong client is refused (an image
# cannot hold an SRQ yet), and the client goes on to finish its run.
# timeout: 600
# cost: 90
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600

out=$(ip netns exec nsA python3 "$SELFTESTS/srq.py" check rxe0 "$GA" 2>&1) ||
	fail "$(echo "$out" | tr '\n' ' ')"
note "$(echo "$out" | tr '\n' ' ')"

pair_run ibv_srq_pingpong 120 -n 20 -s 4096 -c
pair_run ibv_srq_pingpong 120 -q 4 -r 4 -n 100 -s 1024 -c

# The dump is refused and the process resumed in place: it finishes.
ip netns exec nsA ibv_srq_pingpong -d $DA -g "$GA" -q 2 -n 4000 -s 1024 -c >/tmp/srv.out 2>&1 &
srv=$!
wait_for 60 sh -c 'ip netns exec nsA ss -ltnH "sport = :18515" | grep -q .' || fail "the server did not listen"
setsid nsenter --net=/run/netns/nsB ibv_srq_pingpong -d $DB -g "$GB" -q 2 -n 4000 -s 1024 -c 10.0.0.1 >/tmp/cli.out 2>&1 &
cli=$!
wait_for 30 qp_connected "$cli" || fail "the client never connected: $(failure_lines /tmp/cli.out)"
dump_refused $cli /tmp/cli.out 'SRQ .* cannot be carried by an image'
wait_pair $cli $srv "ibv_srq_pingpong across a refused dump"
note "ibv_srq_pingpong -q 2 -n 4000 across the refused dump: $(grep -E 'bytes in' /tmp/cli.out | tail -n 1)"

# Against the C rxe, each way.
to_mixed_pair
pair_run ibv_srq_pingpong 120 -n 20 -s 4096 -c
swap_ends
pair_run ibv_srq_pingpong 120 -n 20 -s 4096 -c
