#!/bin/sh
# A lossy, reordering link (tc netem: 2% loss, and one packet in ten
# overtaking the ones before it, both ways): RC WRITE and READ streams
# complete with no error completion, and our integrity checker's 2,000
# messages (SEND, WRITE with immediate and READ, up to 12 packets each)
# arrive once, in order, intact. The retransmissions show in the counters.
#
# Not ibv_rc_pingpong: its two ends exit as soon as their own last
# completion is in, with no handshake after, so on a lossy link the last
# ACK one of them needs can be lost with its partner's QP already gone,
# and it ends in a retry-exceeded error on any RC driver (the C rxe too).
# The checker's ends part over TCP once both have everything.
# timeout: 1500
# cost: 300
. "$(dirname "$0")/lib.sh"

rxe_pair
must ip netns exec nsA tc qdisc add dev veth0 root netem loss 2% delay 1ms reorder 10%
must ip netns exec nsB tc qdisc add dev veth1 root netem loss 2% delay 1ms reorder 10%
perf_run ib_write_bw -s 1024 -n 10000
perf_run ib_read_bw -s 1024 -n 10000
lap
integrity="python3 $(dirname "$0")/integrity.py"
ip netns exec nsB timeout $(scaled 600) $integrity server rxe1 "$GB" 18600 2000 >/tmp/isrv.out 2>&1 &
isrv=$!
ip netns exec nsA timeout $(scaled 600) $integrity client rxe0 "$GA" 10.0.0.2 18600 2000 >/tmp/icli.out 2>&1 &
wait_pair $! $isrv "the integrity checker" /tmp/icli.out /tmp/isrv.out
lap
grep -q '^verified 2000 messages$' /tmp/icli.out && grep -q '^verified 2000 messages$' /tmp/isrv.out ||
	fail "the integrity checker did not verify 2000 messages: $(cat /tmp/icli.out /tmp/isrv.out)"
note "integrity checker ($secs s): client $(cat /tmp/icli.out), server $(cat /tmp/isrv.out)"
c=/sys/class/infiniband/rxe0/ports/1/hw_counters
retries=$(cat $c/completer_retry_err)
note "rxe0: $retries retries, $(cat $c/rcvd_seq_err) sequence NAKs received"
[ "$retries" -gt 0 ] || fail "no retransmission on a lossy link: is netem working?"
