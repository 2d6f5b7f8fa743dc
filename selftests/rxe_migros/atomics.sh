#!/bin/sh
# Atomics between our devices: ib_atomic_bw and ib_atomic_lat,
# FETCH_AND_ADD and CMP_AND_SWAP (interop has them against the C rxe).
# Then our checker (atomics.py): two clients FETCH_ADD 1 50,000 times
# each, eight at a time, to one counter of the server's over a link that
# loses 2% of the packets each way: the counter ends at 100,000 and each
# value from 0 to 99,999 was returned once, so no atomic ran twice or not
# at all although many were sent again (the responder answered those from
# its replies); COMPARE_SWAP swaps on a match only and returns the old
# value. Then the same with one of two clients migrated with CRIU mid-run
# to another device and address: the count stays exact.
# timeout: 1800
# cost: 270
. "$(dirname "$0")/lib.sh"

atomic_perf() {
	for op in FETCH_AND_ADD CMP_AND_SWAP; do
		perf_run ib_atomic_bw -A $op -n 2000
		perf_run ib_atomic_lat -A $op -n 500
	done
}

rxe_pair
atomic_perf
# The checker under loss.
must ip netns exec nsA tc qdisc add dev veth0 root netem loss 2%
must ip netns exec nsB tc qdisc add dev veth1 root netem loss 2%
cd "$(dirname "$0")" || fail "no test directory"
dup_before=$(counter rxe1 duplicate_request)
ip netns exec nsB timeout $(scaled 900) python3 atomics.py server rxe1 "$GB" 18515 2 >/tmp/srv.out 2>&1 &
srv=$!
wait_for 60 listening nsB 18515 || fail "the atomics server did not listen: $(failure_lines /tmp/srv.out)"
ip netns exec nsA timeout $(scaled 900) python3 atomics.py client rxe0 "$GA" 10.0.0.2 18515 50000 >/tmp/cli.out 2>&1 &
c1=$!
sleep 1
ip netns exec nsA timeout $(scaled 900) python3 atomics.py client rxe0 "$GA" 10.0.0.2 18515 50000 >/tmp/cli2.out 2>&1 &
c2=$!
wait $c2
c2rc=$?
wait_pair $c1 $srv "the atomics checker"
[ $c2rc = 0 ] || fail "the second client failed: $(failure_lines /tmp/cli2.out)"
note "$(cat /tmp/srv.out)"
note "clients: $(cat /tmp/cli.out) / $(cat /tmp/cli2.out)"
dups=$(($(counter rxe1 duplicate_request) - dup_before))
note "rxe1 answered $dups duplicate requests; rxe0 retried $(counter rxe0 completer_retry_err) times"
[ "$dups" -gt 0 ] || fail "no duplicate request under loss: was anything replayed?"

# Migration: the checker again, its server in nsA and two clients in nsB,
# one of them migrated with CRIU in the middle of its run to host B. The
# FETCH_ADDs it had in flight are sent again by its restored QP, and the
# server's QP, which stays where it is, answers those it had carried out
# from its replies: the count stays exact.
must ip netns exec nsA tc qdisc del dev veth0 root
must ip netns exec nsB tc qdisc del dev veth1 root
host_b
ip netns exec nsA timeout $(scaled 900) python3 atomics.py server rxe0 "$GA" 18516 2 >/tmp/srv.out 2>&1 &
srv=$!
wait_for 60 listening nsA 18516 || fail "the atomics server did not listen: $(failure_lines /tmp/srv.out)"
setsid nsenter --net=/run/netns/nsB python3 atomics.py client rxe1 "$GB" 10.0.0.1 18516 30000 \
	</dev/null >/tmp/cli.out 2>&1 &
cli=$! cli_out=/tmp/cli.out
ip netns exec nsB timeout $(scaled 900) python3 atomics.py client rxe1 "$GB" 10.0.0.1 18516 30000 >/tmp/cli2.out 2>&1 &
c2=$!
base=$(counter rxe0 rcvd_pkts)
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/rcvd_pkts) -gt $((base + 2000)) ]" ||
	fail "the FETCH_ADDs did not begin: $(failure_lines /tmp/cli.out)"
heard=$(counter rxe0 resume_rcvd)
criu_migrate_to rxe2 10.0.1.3 "an atomics client"
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
	fail "the server heard no RESUME"
wait_for 600 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored client did not finish"
wait $c2 || fail "the second client failed: $(failure_lines /tmp/cli2.out)"
wait $srv || fail "the checker's server failed after the migration: $(failure_lines /tmp/srv.out)"
grep -q '^verified 30000 FETCH_ADDs' /tmp/cli.out || fail "the migrated client failed: $(failure_lines /tmp/cli.out)"
note "with one client migrated: $(cat /tmp/srv.out)"
note "the migrated client: $(cat /tmp/cli.out)"
