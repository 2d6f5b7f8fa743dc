#!/bin/sh
# Forged UD move announcements from an off-path host on the segment
# (docs/security.md, docs/migration.md "UD moves"): while ibv_ud_pingpong
# -c runs between its server in nsA (rxe0) and its client in nsB (rxe1),
# the attacker nsX, on the same L2 segment, sends nsA's device 10,000
# well-formed announcements from its own address, half saying that the
# client's QP moved there, half that QP 1 (the GSI QP rdma_cm talks
# through) did, with guessed tokens. None is taken: the first half are
# counted in rcvd_bad_resume, the rest in rcvd_malformed, one log line
# each; the pingpong completes with its data checked, and so does an
# rping. Then the genuine move still works: a UD pingpong client is
# migrated with CRIU to host B (rxe2, another address) and the server
# follows it, its device having taken the announcement with the token it
# granted.
# timeout: 600
# cost: 200
. "$(dirname "$0")/lib.sh"
C=/sys/class/infiniband/rxe0/ports/1/hw_counters
l2_with_attacker
load_ours pause_timeout_s=600
link_pair rxe0 rxe rxe1 rxe
host_b

# ud_pingpong ARGS...: ibv_ud_pingpong's server in nsA on rxe0 ($srv), its
# client in nsB on rxe1, in its own session ($cli), exchanging.
ud_pingpong() {
	ip netns exec nsA stdbuf -oL ibv_ud_pingpong -d rxe0 -g "$GA" "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 10 sh -c "ip netns exec nsA ss -ltn | grep -q :18515" || fail "the server does not listen"
	setsid nsenter --net=/run/netns/nsB ibv_ud_pingpong -d rxe1 -g "$GB" "$@" 10.0.0.1 >/tmp/cli.out 2>&1 &
	cli=$!
	wait_for 30 grep -q "remote address" /tmp/srv.out || fail "the server never connected: $(failure_lines /tmp/srv.out) (client: $(failure_lines /tmp/cli.out))"
}

ud_pingpong -n $(scaled 3000) -s 512 -c
qpn=$(sed -n 's/.*remote address: .*QPN \(0x[0-9a-f]*\).*/\1/p' /tmp/srv.out)
[ -n "$qpn" ] || fail "no client QPN in the server's output: $(cat /tmp/srv.out)"
bad0=$(cat $C/rcvd_bad_resume) mal0=$(cat $C/rcvd_malformed)
# No more than 64 on their way uncounted: faster than a slow (debug)
# kernel takes them, they fill a queue on the way (the hub is Python) and
# are lost before any protocol sees them (the debug kernel lost 12 to 19%).
out=$(python3 "$(dirname "$0")/inject.py" --netns nsX --qpn "$qpn" --old 10.0.0.2 \
	--gap 0.001 --window 32 --counters $C 10.0.0.9 10.0.0.1 udmove:5000 udmove1:5000 2>&1) ||
	fail "inject.py failed: $out"
echo "$out" | sed 's/^/# attacker: /'
sleep 1
bad=$(($(cat $C/rcvd_bad_resume) - bad0)) mal=$(($(cat $C/rcvd_malformed) - mal0))
note "forged: 5000 moves of QP $qpn, $bad in rcvd_bad_resume; 5000 of QP 1, $mal in rcvd_malformed"
[ "$bad" -eq 5000 ] || fail "$bad of 5000 forged moves of the client's QP refused for their token"
[ "$mal" -eq 5000 ] || fail "$mal of 5000 forged moves of QP 1 refused"
[ "$(dmesg | grep -c 'a UD announcement from 10.0.0.9 refused')" -eq 2 ] ||
	fail "the forged announcements were not logged once per kind"
wait_pair $cli $srv "ibv_ud_pingpong -c beside 10,000 forged announcements"
note "ibv_ud_pingpong: $(grep 'iters in' /tmp/cli.out)"
SERVER_NS=nsA CLIENT_NS=nsB rping_run 20 10.0.0.1

# The genuine move, right after, in the middle of a run of about a minute.
ud_pingpong -n $(scaled 6000) -s 512 -c
sleep 5
kill -0 $cli 2>/dev/null || fail "the second pingpong ended early: $(failure_lines /tmp/cli.out)"
criu_migrate_to rxe2 10.0.1.3 "ibv_ud_pingpong"
wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored client did not finish"
wait $srv || fail "the server failed: $(failure_lines /tmp/srv.out)"
grep -q "iters in" /tmp/cli.out || fail "the restored UD client did not finish: $(failure_lines /tmp/cli.out)"
note "after the move: ibv_ud_pingpong $(grep 'iters in' /tmp/cli.out)"
