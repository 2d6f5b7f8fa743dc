#!/bin/sh
# An aborted checkpoint: A (ib_write_bw's server) is stopped, then resumed
# in place while its packets are lost, so that its RESUME must be sent
# again; once the link heals, its partner leaves Paused and the transfer
# completes.
# timeout: 300
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
migctl="python3 $(dirname "$0")/migctl.py"

args="-s 16384 -D $(scaled 30) -F"
start_transfer $(scaled 200) $args
stop_server
wait_for 10 sh -c "[ \$(cat /sys/class/infiniband/rxe1/ports/1/hw_counters/paused_nak_rcvd) -gt 0 ]" ||
	fail "C received no paused NAK"

# Everything A sends is lost for a while: its RESUME goes again.
must ip netns exec nsA tc qdisc add dev veth0 root netem loss 100%
must $migctl resume "$srv"
note "resumed A in place: $out"
wait_for 20 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/resume_sent) -gt 2 ]" ||
	fail "RESUME was not sent again: $(counter rxe0 resume_sent)"
[ "$(counter rxe1 resume_rcvd)" -eq 0 ] || fail "C received a RESUME through a dead link"
must ip netns exec nsA tc qdisc del dev veth0 root

wait_pair $cli $srv "the transfer across the aborted checkpoint"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/cli.out)"
note "RESUMEs sent by A: $(counter rxe0 resume_sent), received by C: $(counter rxe1 resume_rcvd)"
[ "$(counter rxe1 resume_rcvd)" -gt 0 ] || fail "C received no RESUME"
