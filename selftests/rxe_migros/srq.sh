#!/bin/sh
# Shared receive queues. Our checker (srq.py, pyverbs, two QPs of one
# device): Query SRQ, receives taken in order with their data, the limit
# event once and disarmed, bad modifies refused, resizes keeping what
# waits, RNR on an empty SRQ until a receive is posted, LAST_WQE_REACHED
# when a QP on it fails, a UD QP on an SRQ. Then
# ibv_srq_pingpong -c between our devices: 16 QPs on one SRQ (its
# default), 4 QPs on an SRQ of 4 receives; against the C rxe each way.
# Then an ibv_srq_pingpong client (two QPs on one SRQ) is migrated with
# CRIU in the middle of its run to host B: its SRQ comes back with the
# receives that wait in it and its limit, each QP with the receive it had
# taken, and both ends finish with every buffer checked (-c). A pingpong
# client is rarely inside a message when it stops (CRIU freezes it first,
# and what its partner sent meanwhile completes), so then ib_send_bw
# --use-srq -b, whose server's stream of 64-packet messages keeps coming
# while the client is frozen, is migrated too, and completes; the request
# its image shows taken, if the dump found it inside a message, is noted.
# timeout: 900
# cost: 150
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600

out=$(ip netns exec nsA python3 "$SELFTESTS/srq.py" check rxe0 "$GA" 2>&1) ||
	fail "$(echo "$out" | tr '\n' ' ')"
note "$(echo "$out" | tr '\n' ' ')"

pair_run ibv_srq_pingpong 120 -n 20 -s 4096 -c
pair_run ibv_srq_pingpong 120 -q 4 -r 4 -n 100 -s 1024 -c

# The QPs on an SRQ in the images in /tmp/img, by handle, with the ID of
# the receive request each had taken (None for none).
taken_requests() {
	for f in /tmp/img/rxe_migros-*.img; do python3 "$SELFTESTS/image.py" "$f"; done |
		sed -n 's/^qp handle=\([0-9]*\).* taken=\(.*\)$/\1: \2/p' | tr '\n' ' '
}

# The migrations.
host_b
args="-q 2 -n 6000 -s 8192 -c"
dumpable_pingpong ibv_srq_pingpong $args
heard=$(counter $DA resume_rcvd)
criu_migrate_to rxe2 10.0.1.3 ibv_srq_pingpong
objs=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$SELFTESTS/image.py" "$f"; done)
srq=$(echo "$objs" | grep '^srq ') || fail "the image has no SRQ"
note "its SRQ's image: ${srq#srq }"
[ "$(echo "$objs" | grep -c '^qp .* srq=')" = 2 ] || fail "the image has not 2 QPs on the SRQ: $objs"
note "its QPs' taken requests (by handle: the request's ID): $(taken_requests)"
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/resume_rcvd) -gt $heard ]" || fail "the server heard no RESUME"
wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored client did not finish"
wait $srv || fail "the server failed: $(failure_lines /tmp/srv.out)"
grep -qi 'error\|failed\|couldn' /tmp/cli.out && fail "the client failed: $(failure_lines /tmp/cli.out)"
grep -q 'iters in' /tmp/cli.out || fail "the restored client did not finish its run: $(failure_lines /tmp/cli.out)"
note "ibv_srq_pingpong $args, migrated: $(grep -E 'bytes in' /tmp/cli.out | tail -n 1)"

# Whether the dump finds the client inside a message is timing: CRIU may
# stop its QP between two messages, or after its SRQ ran dry while it was
# frozen. The image's taken request, if any, is noted; the engine test
# a_restored_qp_keeps_the_request_it_took_from_its_shared_queue stops a QP
# inside a message every time.
PERF=ib_send_bw dumpable_transfer --use-srq -b -s 65536 -n 2000 -F
heard=$(counter $DA resume_rcvd)
criu_migrate_to rxe2 10.0.1.3 "ib_send_bw --use-srq -b"
taken=$(taken_requests)
case $taken in
*": "[0-9]*) note "its QPs' taken requests: $taken" ;;
*) note "its QPs' taken requests: $taken(the dump found it between two messages)" ;;
esac
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/resume_rcvd) -gt $heard ]" || fail "the server heard no RESUME"
wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored client did not finish"
wait $srv || fail "the server failed: $(failure_lines /tmp/srv.out)"
grep -qi 'error\|failed\|couldn' /tmp/cli.out && fail "the client failed: $(failure_lines /tmp/cli.out)"
note "ib_send_bw --use-srq -b -s 65536 -n 2000, migrated: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/srv.out)"

# Against the C rxe, each way.
must rdma link del rxe2
to_mixed_pair
pair_run ibv_srq_pingpong 120 -n 20 -s 4096 -c
swap_ends
pair_run ibv_srq_pingpong 120 -n 20 -s 4096 -c
