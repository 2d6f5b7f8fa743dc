#!/bin/sh
# ATOMIC WRITE and FLUSH (IBA annex A19) with our checker (atomic_write.py,
# pyverbs' extended QP): the caps are reported; an ATOMIC WRITE lands in
# its eight bytes only and 200 in a row leave the last value; FLUSH of a
# range and of a whole MR complete after the WRITEs before them; a FLUSH
# to an MR without IBV_ACCESS_FLUSH_GLOBAL gets a remote access error.
# Between our devices, then against the C rxe each way.
# timeout: 300
# cost: 60
. "$(dirname "$0")/lib.sh"

# aw_run REQ_DEV REQ_GID RESP_DEV RESP_GID: the checker, from nsA.
aw_run() {
	out=$(ip netns exec nsA timeout $(scaled 200) python3 "$SELFTESTS/atomic_write.py" check "$@" 2>&1) ||
		fail "$1 -> $3: $(echo "$out" | tr '\n' ' ')"
	note "$1 -> $3: $(echo "$out" | tr '\n' ' ')"
}

rxe_pair
aw_run $DA "$GA" $DB "$GB"
to_mixed_pair
aw_run $DA "$GA" $DB "$GB"
aw_run $DB "$GB" $DA "$GA"
