#!/bin/sh
# The worst instants for a live migration with stock CRIU, on a link that
# loses 2% of packets both ways (tc netem), each partner paused for far
# longer than its retry budget (perftest's QPs give up after about 0.5 s
# without the pause; a CRIU migration takes seconds):
# - ib_write_bw's server, the responder of 64 KiB WRITEs (64 packets
#   each), is migrated until its image shows it inside a WRITE;
# - ib_read_bw's client is migrated until its image shows it inside a
#   READ response of 16 KiB (16 packets), some of them placed.
# Both transfers complete without an error completion.
# timeout: 900
# cost: 200
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
host_b
must ip netns exec nsA tc qdisc add dev veth0 root netem loss 2%
must ip netns exec nsB tc qdisc add dev veth1 root netem loss 2%
trace_ends || fail "no tracing"

# The QP lines of the image in /tmp/img (image.py).
image_qps() {
	for f in /tmp/img/rxe_migros-*.img; do python3 "$(dirname "$0")/image.py" "$f"; done | grep '^qp '
}

# wait_end LABEL: the migrated process ($cli, restored, not our child) and
# its partner ($peer, our child) finish, with no error in their output.
wait_end() {
	wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "$1: the migrated process did not finish"
	wait $peer || fail "$1: its partner failed: $(failure_lines /tmp/peer.out) (the migrated process: $(failure_lines /tmp/mig.out); ends and resets traced: $(trace_lines | tr '\n' ' '); counters: rxe0 $(counters_set rxe0); rxe1 $(counters_set rxe1); rxe2 $(counters_set rxe2); the kernel log: $(dmesg | grep rxe_migros | tail -n 6 | tr '\n' ' '))"
	grep -qi 'error\|failed' /tmp/mig.out && fail "$1: the migrated process failed: $(failure_lines /tmp/mig.out)"
	true
}

# A WRITE stream into the process that moves: its server, in nsB.
cli_out=/tmp/mig.out
args="-s 65536 -n 600 -F"
setsid nsenter --net=/run/netns/nsB ib_write_bw -d rxe1 -x "$GB" $args >/tmp/mig.out 2>&1 &
cli=$!
wait_for 10 sh -c "ls -l /proc/$cli/fd | grep -q uverbs" || fail "the WRITE server opened no device"
ip netns exec nsA ib_write_bw -d rxe0 -x "$GA" $args 10.0.0.2 >/tmp/peer.out 2>&1 &
peer=$!
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe1/ports/1/hw_counters/rcvd_pkts) -gt 300 ]" ||
	fail "no WRITE stream began: $(failure_lines /tmp/peer.out)"
here=rxe1 tries=0
while :; do
	tries=$((tries + 1))
	if [ $here = rxe1 ]; then to=rxe2 ip=10.0.1.3; else to=rxe1 ip=10.0.0.2; fi
	brief=1 criu_migrate_to $to $ip "the WRITE server, migration $tries"
	here=$to
	qp=$(image_qps)
	echo "$qp" | grep -q "partial={'write_rkey'" && break
	[ $tries -lt 3 ] || fail "three migrations, none inside a WRITE: ${qp#qp }"
	note "migration $tries fell between two WRITEs; again"
done
note "the WRITE server, migrated inside a WRITE: $(echo "$qp" | grep -o "partial={[^}]*}")"
wait_end "the WRITE stream"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/peer.out)"

# A READ stream from the process that moves: its client, in nsB, on the
# device the WRITE server left.
if [ $here = rxe1 ]; then dev=rxe1 gid=$GB to=rxe2 ip=10.0.1.3; else dev=rxe2 gid=$(gid_index rxe2 10.0.1.3) to=rxe1 ip=10.0.0.2; fi
# Long enough to outlive three migrations on a loaded machine (CI saw a
# 2000-READ client end before its third).
args="-s 16384 -n 6000 -F"
ip netns exec nsA ib_read_bw -d rxe0 -x "$GA" $args >/tmp/peer.out 2>&1 &
peer=$!
wait_for 10 sh -c "ls -l /proc/$peer/fd | grep -q uverbs" || fail "the READ server opened no device"
sent=$(counter rxe0 rcvd_pkts)
setsid nsenter --net=/run/netns/nsB ib_read_bw -d $dev -x "$gid" $args 10.0.0.1 >/tmp/mig.out 2>&1 &
cli=$!
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/rcvd_pkts) -gt $((sent + 100)) ]" ||
	fail "no READ stream began: $(failure_lines /tmp/mig.out)"
# The image shows a READ response cut in the middle when READs were in
# flight (comp_wqe != started) and the completer had placed some but not
# all of the oldest one's 16 packets (acked_psn past its restart_psn).
reads=0
while :; do
	reads=$((reads + 1))
	brief=1 criu_migrate_to $to $ip "the READ client, migration $reads"
	if [ $to = rxe1 ]; then to=rxe2 ip=10.0.1.3; else to=rxe1 ip=10.0.0.2; fi
	qp=$(image_qps)
	set -- $(echo "$qp" | sed -n 's/.* restart_psn=\(0x[0-9a-f]*\) acked_psn=\(0x[0-9a-f]*\) .* comp_wqe=\([0-9]*\) started=\([0-9]*\) .*/\1 \2 \3 \4/p')
	[ $# = 4 ] || fail "the READ client's image has no QP line: ${qp#qp }"
	placed=$((($2 - $1) & 0xffffff))
	[ "$3" != "$4" ] && [ $placed -gt 0 ] && [ $placed -lt 16 ] && break
	[ $reads -lt 3 ] || fail "three migrations, none inside a READ response: ${qp#qp }"
	note "migration $reads: READs $3 to $4 in flight, $placed packets of the oldest placed; again"
done
note "the READ client, migrated inside a READ response: $placed of its 16 packets placed, READs from WQE $3 to $4 in flight"
wait_end "the READ stream"
note "ib_read_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/mig.out)"
note "rxe0: $(counter rxe0 completer_retry_err) retransmissions, $(counter rxe0 paused_nak_rcvd) paused NAKs, $(counter rxe0 resume_rcvd) RESUMEs heard"
# The WRITE client's retry budget: perftest's QPs time out after 4.096 us
# x 2^14 (67 ms), 7 retries then fail: 8 x 67 ms = 537 ms. The WRITE
# server's migrations paused it for longer than that each, on average,
# and it failed no QP for retries. (The READ server, a responder, has no
# budget to spend: it only answers.)
paused=$(counter rxe0 paused_ms)
note "rxe0 was paused $paused ms in $tries migrations of its partner, against a retry budget of 537 ms"
[ "$paused" -gt $((537 * tries)) ] || fail "the partner was paused no longer than its retry budget"
[ "$(counter rxe0 retry_exceeded_err)" -eq 0 ] || fail "the partner exceeded its retries"
