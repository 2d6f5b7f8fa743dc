#!/bin/sh
# The control device refuses bad input with an errno: descriptors that are
# not ours, bad structs, callers without the capabilities; and who
# announces itself on resume (control.py).
. "$(dirname "$0")/lib.sh"

mixed_pair
out=$(python3 "$(dirname "$0")/control.py" $DA $DB $GA "$(gid_of_ipv4 10.0.0.2)" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc = 0 ] || fail "$rc control checks failed"
