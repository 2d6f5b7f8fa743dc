#!/bin/sh
# A lossy, reordering link (tc netem: 2% loss, and one packet in ten
# overtaking the ones before it, both ways): RC WRITE and READ streams and a checked
# ping-pong of 10,000 iterations each complete with no error completion.
# The retransmissions show in the counters.
# timeout: 1500
# cost: 300
. "$(dirname "$0")/lib.sh"

rxe_pair
must ip netns exec nsA tc qdisc add dev veth0 root netem loss 2% delay 1ms reorder 10%
must ip netns exec nsB tc qdisc add dev veth1 root netem loss 2% delay 1ms reorder 10%
perf_run ib_write_bw -s 1024 -n 10000
perf_run ib_read_bw -s 1024 -n 10000
pair_run ibv_rc_pingpong 600 -n 10000 -s 1024 -c
c=/sys/class/infiniband/rxe0/ports/1/hw_counters
retries=$(cat $c/completer_retry_err)
note "rxe0: $retries retries, $(cat $c/rcvd_seq_err) sequence NAKs received"
[ "$retries" -gt 0 ] || fail "no retransmission on a lossy link: is netem working?"
