#!/bin/sh
# Migration protocol: ib_write_bw and our integrity checker between nsA (A,
# their servers) and nsB (C); A is stopped for longer than C's retry budget
# lasts, its RoCE address moves, and it resumes announcing the new one;
# both transfers complete, every message verified once and in order.
# timeout: 400
# cost: 130
. "$(dirname "$0")/lib.sh"

# RoCE runs on 10.0.1.0/24, the tools' TCP on 10.0.0.0/24: A's RoCE
# address can move while the TCP connection stays.
rxe_pair pause_timeout_s=600
must ip -n nsA addr add 10.0.1.1/24 dev veth0
must ip -n nsB addr add 10.0.1.2/24 dev veth1
wait_for 20 gid_index rxe0 10.0.1.1 || fail "rxe0 has no 10.0.1.1 GID"
wait_for 20 gid_index rxe1 10.0.1.2 || fail "rxe1 has no 10.0.1.2 GID"
GA=$(gid_index rxe0 10.0.1.1)
GB=$(gid_index rxe1 10.0.1.2)

# perftest's QPs: timeout 14 (67 ms) and retry_cnt 7, so C would fail
# after about 0.5 s without the pause. The checker's 3000 messages (more on
# a slow kernel, where starting processes is slower still) outlast the
# transfer's start and the first stop.
integrity="python3 $(dirname "$0")/integrity.py"
n=$(scaled 3000)
ip netns exec nsA $integrity server rxe0 "$GA" 18600 $n >/tmp/isrv.out 2>&1 &
isrv=$!
ip netns exec nsB timeout $(scaled 280) $integrity client rxe1 "$GB" 10.0.0.1 18600 $n >/tmp/icli.out 2>&1 &
icli=$!
wait_for 30 sh -c "ls -l /proc/$isrv/fd | grep -q uverbs" || fail "the checker opened no device"
args="-s 16384 -n 6000 -F"
start_transfer $(scaled 200) $args
# Stop A in the middle of both.
stop_server
note "stopped A: $out"
kill -0 "$cli" 2>/dev/null || fail "the transfer ended before the stop: $(failure_lines /tmp/cli.out)"
ls -l "/proc/$isrv/fd" 2>/dev/null | grep -q uverbs ||
	fail "the checker ended early: $(cat /tmp/isrv.out /tmp/icli.out | tr '\n' ' ')"
out=$(python3 "$(dirname "$0")/migctl.py" stop "$isrv" 2>&1) ||
	fail "stopping the checker: $out (its server: $(failure_lines /tmp/isrv.out); client: $(failure_lines /tmp/icli.out))"
note "stopped A: $out"
sleep 3
paused_rcvd=$(counter rxe1 paused_nak_rcvd)
[ "$paused_rcvd" -gt 0 ] || fail "C received no paused NAK"
note "C: $paused_rcvd paused NAKs received; A: $(counter rxe0 paused_nak_sent) sent"

# A's RoCE address moves from 10.0.1.1 to 10.0.1.3 (removed first: a
# primary address takes its subnet's secondaries with it).
must ip -n nsA addr del 10.0.1.1/24 dev veth0
must ip -n nsA addr add 10.0.1.3/24 dev veth0
wait_for 20 gid_index rxe0 10.0.1.3 || fail "rxe0 has no 10.0.1.3 GID"
must python3 "$(dirname "$0")/migctl.py" resume "$srv" 10.0.1.3
note "resumed A at 10.0.1.3: $out"
must python3 "$(dirname "$0")/migctl.py" resume "$isrv" 10.0.1.3
note "resumed A at 10.0.1.3: $out"

wait_pair $cli $srv "the transfer across the migration"
wait_pair $icli $isrv "the integrity check across the migration" /tmp/icli.out /tmp/isrv.out
note "integrity checker: client $(cat /tmp/icli.out), server $(cat /tmp/isrv.out)"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/cli.out)"
for c in resume_sent resume_rcvd paused_ms; do
	note "$c: A $(counter rxe0 $c), C $(counter rxe1 $c)"
done
[ "$(counter rxe1 resume_rcvd)" -gt 0 ] || fail "C received no RESUME"
[ "$(counter rxe1 retry_exceeded_err)" -eq 0 ] || fail "C exceeded its retries"
