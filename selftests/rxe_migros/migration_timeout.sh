#!/bin/sh
# A partner paused for longer than pause_timeout_s (here 3 s) gives up:
# its QP goes to the error state with one log line, and its work requests
# complete with an error instead of hanging. The stopped process then
# exits, destroying its Stopped QP.
# timeout: 200
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=3
migctl="python3 $(dirname "$0")/migctl.py"

args="-s 16384 -n 2000 -F"
ip netns exec nsA ib_write_bw -d rxe0 -x "$GA" $args >/tmp/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
ip netns exec nsB timeout 100 ib_write_bw -d rxe1 -x "$GB" $args 10.0.0.1 >/tmp/cli.out 2>&1 &
cli=$!
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/rcvd_pkts) -gt 300 ]" ||
	fail "no transfer began: $(failure_lines /tmp/cli.out)"
must $migctl stop "$srv"
start=$(cut -d' ' -f1 /proc/uptime)
wait $cli
crc=$?
took=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }')
note "client exit $crc after $took s: $(grep -i 'error\|status' /tmp/cli.out | head -n 2 | tr '\n' ' ')"
[ "$crc" != 0 ] && [ "$crc" != 124 ] || fail "the client did not end with an error (exit $crc)"
[ "$took" -ge 3 ] || fail "the client gave up before the pause bound"
lines=$(dmesg | grep -c 'stayed paused for more than 3 s')
[ "$lines" = 1 ] || fail "$lines log lines about the pause, not 1"
note "$(dmesg | grep 'stayed paused')"
kill "$srv" 2>/dev/null
wait "$srv"
exit 0
