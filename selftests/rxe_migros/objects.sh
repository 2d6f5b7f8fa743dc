#!/bin/sh
# Verbs objects made and destroyed by a process through the stock
# libibverbs and librxe: CQs of every size, resizing, completion channels and
# notification requests; memory regions and their keys; QPs of each type, the capacities granted, the IBTA
# state machine and its attribute checks; limits and bad transitions refused
# with EINVAL; and objects left for the device's closing to clean up. The device and the module go away
# cleanly afterwards, which they would not with an object leaked.
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
out=$(python3 "$(dirname "$0")/verbs.py" rxe0 \
	cq_sizes cq_too_big cq_resize cq_channel many_cqs cq_left_open \
	mr_keys mr_refused mr_reuse mr_rereg mr_left_open 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] || fail "$rc CQ and MR test(s) failed"
out=$(python3 "$(dirname "$0")/qp.py" rxe0 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] || fail "$rc QP test(s) failed"
must rdma link del rxe0
must rmmod rxe_migros
