#!/bin/sh
# A partner paused for longer than pause_timeout_s (here 3 s) gives up:
# its QP goes to the error state with one log line, and its work requests
# complete with an error instead of hanging. The stopped process then
# exits, destroying its Stopped QP.
# timeout: 200
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=3

# A duration, not a count: a fast moment could finish 2000 messages
# before the stop (CI once found the server gone, its device closed).
start_transfer 100 -s 16384 -D 60 -F
# The pause cannot begin before the stop does.
start=$(cut -d' ' -f1 /proc/uptime)
stop_server
wait $cli
crc=$?
took=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%d", b - a }')
note "client exit $crc after $took s: $(grep -i 'error\|status' /tmp/cli.out | head -n 2 | tr '\n' ' ')"
[ "$crc" != 0 ] && [ "$crc" != 124 ] || fail "the client did not end with an error (exit $crc)"
[ "$took" -ge 3 ] || fail "the client gave up before the pause bound"
lines=$(dmesg | grep -c 'stayed paused for more than 3 s')
[ "$lines" = 1 ] || fail "$lines log lines about the pause, not 1"
note "$(dmesg | grep 'stayed paused')"
kill "$srv" 2>/dev/null
wait "$srv"
exit 0
