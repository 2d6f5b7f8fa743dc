#!/bin/sh
# Restore planning scales linearly with an image's records, and a fatal
# signal stops a long one (restore_scale.py): times for 10^4, 10^5 and
# 10^6 records, and a kill during a 64 MiB image's check.
# cost: 60
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
cd "$(dirname "$0")" || fail "no test directory"
out=$(python3 restore_scale.py rxe0 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] || fail "$rc check(s) failed"
must rdma link del rxe0
must rmmod rxe_migros
