#!/bin/sh
# A QP's asynchronous events reach its process (events.py, over pyverbs):
# an RC responder that refuses a request goes to the error state with
# QP_ACCESS_ERR (a WRITE under a key it never gave) or QP_REQ_ERR (a SEND
# longer than its receive), two QPs of one device; SQD on such a pair
# raises SQ_DRAINED, holds back a WRITE posted in it, and RTS carries it
# out, while leaving SQD before it has drained is refused but for the
# error state; and a QP whose partner was stopped and never comes back gives up
# after pause_timeout_s (3 s here) with RETRY_EXC_ERR and QP_FATAL.
# cost: 40
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=3
ev="python3 $SELFTESTS/events.py"

out=$(ip netns exec nsA $ev refused rxe0 "$GA" 2>&1) || fail "$(echo "$out" | tr '\n' ' ')"
note "$(echo "$out" | tr '\n' ' ')"

rm -f /tmp/ev-a /tmp/ev-b /tmp/ev-a.go
ip netns exec nsB $ev stopped rxe1 "$GB" /tmp/ev-b /tmp/ev-a >/tmp/ev-b.out 2>&1 &
stopped=$!
ip netns exec nsA $ev lost rxe0 "$GA" /tmp/ev-a /tmp/ev-b 3 >/tmp/ev-a.out 2>&1 &
lost=$!
wait_for 30 grep -q ready /tmp/ev-b.out || fail "the ends did not connect: $(cat /tmp/ev-a.out /tmp/ev-b.out)"
must python3 "$SELFTESTS/migctl.py" stop "$stopped"
touch /tmp/ev-a.go
wait $lost
rc=$?
kill "$stopped" 2>/dev/null
wait "$stopped" 2>/dev/null
[ $rc = 0 ] || fail "$(tr '\n' ' ' </tmp/ev-a.out)"
note "$(cat /tmp/ev-a.out)"
