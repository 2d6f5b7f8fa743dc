#!/bin/sh
# Memory windows with our checker (mw.py, pyverbs): the caps are reported;
# a type 2 window bound by a BIND_MW request takes WRITEs and READs within
# it, and none after a LOCAL_INV or a SEND_WITH_INV from the peer (whose
# receive says which rkey went); a type 1 window bound through the verb
# takes a READ until bound to nothing; an MR with a window bound is not
# deregistered. Where the window is ours, also the checks the C rxe does
# not make: a WRITE one byte past the window's end, and another QP's
# partner, are refused. Between our devices, then against the C rxe each
# way. Between our devices, a process with a type 2 and a type 1 window
# bound (mw.py owner), then its peer (mw.py user), is migrated with CRIU
# mid-run to host B: the windows keep their rkeys and bindings (the
# image's records say so), every round's bytes arrive, and the last
# SEND_WITH_INV takes the window away.
# timeout: 900
# cost: 240
. "$(dirname "$0")/lib.sh"

# mw_run OWNER OWNER_GID PEER PEER_GID [strict]: the checker, from nsA.
mw_run() {
	out=$(ip netns exec nsA timeout $(scaled 240) python3 "$SELFTESTS/mw.py" check "$@" 2>&1) ||
		fail "$1 <- $3: $(echo "$out" | tr '\n' ' ')"
	note "$1 <- $3: $(echo "$out" | tr '\n' ' ')"
}

# mw_live MIGRATED PORT: the live run, the owner or the user (MIGRATED)
# in nsB, migrated to host B once it is under way; its peer in nsA.
ROUNDS=2000
mw_live() {
	if [ "$1" = owner ]; then
		setsid nsenter --net=/run/netns/nsB python3 -X faulthandler "$SELFTESTS/mw.py" owner $DB "$GB" "$2" \
			$ROUNDS </dev/null >/tmp/cli.out 2>&1 &
		cli=$! cli_out=/tmp/cli.out
		ip netns exec nsA timeout $(scaled 600) python3 "$SELFTESTS/mw.py" user $DA "$GA" 10.0.0.2 "$2" \
			$ROUNDS >/tmp/srv.out 2>&1 &
		srv=$!
	else
		ip netns exec nsA timeout $(scaled 600) python3 "$SELFTESTS/mw.py" owner $DA "$GA" "$2" \
			$ROUNDS >/tmp/srv.out 2>&1 &
		srv=$!
		setsid nsenter --net=/run/netns/nsB python3 -X faulthandler "$SELFTESTS/mw.py" user $DB "$GB" 10.0.0.1 \
			"$2" $ROUNDS </dev/null >/tmp/cli.out 2>&1 &
		cli=$! cli_out=/tmp/cli.out
	fi
	base=$(counter $DA rcvd_pkts)
	wait_for 90 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/rcvd_pkts) -gt $((base + 400)) ]" ||
		fail "$1: the run did not begin: $(failure_lines /tmp/cli.out) / $(failure_lines /tmp/srv.out)"
	heard=$(counter $DA resume_rcvd)
	criu_migrate_to rxe2 10.0.1.3 "the $1"
	if [ "$1" = owner ]; then
		objs=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$SELFTESTS/image.py" "$f"; done)
		[ "$(echo "$objs" | grep -c '^mw_binding ')" = 2 ] ||
			fail "the owner's image has not 2 window bindings: $objs"
		note "its windows in the image: $(echo "$objs" | grep '^mw' | tr '\n' ';')"
	fi
	wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
		fail "$1: the peer heard no RESUME"
	wait_for 600 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored $1 did not finish"
	wait $srv || fail "the $1's peer failed: $(failure_lines /tmp/srv.out)"
	grep -q '^verified' /tmp/cli.out ||
		fail "the migrated $1 failed: $(tr '\n' ' ' </tmp/cli.out) (its peer: $(cat /tmp/srv.out))"
	note "the $1, migrated: $(cat /tmp/cli.out)"
	note "its peer: $(cat /tmp/srv.out)"
}

rxe_pair
mw_run $DA "$GA" $DB "$GB" strict
# The live run, unmigrated.
ip netns exec nsB timeout $(scaled 300) python3 -X faulthandler "$SELFTESTS/mw.py" owner $DB "$GB" 18529 200 \
	>/tmp/srv.out 2>&1 &
srv=$!
ip netns exec nsA timeout $(scaled 300) python3 -X faulthandler "$SELFTESTS/mw.py" user $DA "$GA" 10.0.0.2 \
	18529 200 >/tmp/cli.out 2>&1 ||
	fail "the live run's user: $(tr '\n' ' ' </tmp/cli.out)"
wait $srv || fail "the live run's owner: $(tr '\n' ' ' </tmp/srv.out)"
note "live, unmigrated: $(tr '\n' ' ' </tmp/srv.out)"
host_b
mw_live owner 18530
mw_live user 18531
must rdma link del rxe2
to_mixed_pair
mw_run $DA "$GA" $DB "$GB" strict
mw_run $DB "$GB" $DA "$GA"
