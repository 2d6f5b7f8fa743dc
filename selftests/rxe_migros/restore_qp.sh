#!/bin/sh
# A migration without CRIU: an RC QP stopped mid-traffic, dumped,
# destroyed and restored from its image on a fresh context, resumes from a
# new address (and, when its number is taken, a new QPN); every message
# in both directions arrives once, in order, intact (restore_qp.py).
# timeout: 300
. "$(dirname "$0")/lib.sh"

rxe_pair
# A's second address: where it moves to.
must ip -n nsA addr add 10.0.0.3/24 dev veth0
wait_for 20 gid_index rxe0 10.0.0.3 || fail "rxe0 has no 10.0.0.3 GID"
out=$(timeout $(scaled 280) python3 -u "$(dirname "$0")/restore_qp.py" \
	rxe0 "$GA" "$(gid_index rxe0 10.0.0.3)" rxe1 "$GB" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc = 0 ] || fail "$rc restore checks failed"
paused=$(counter rxe1 paused_nak_rcvd)
note "A: $(counter rxe0 resume_sent) RESUMEs sent; C: $paused paused NAKs received, $(counter rxe1 duplicate_request) duplicate requests"
[ "$paused" -gt 0 ] || fail "C sent to the stopped A but was never paused"
