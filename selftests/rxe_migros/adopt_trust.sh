#!/bin/sh
# Who may act on a context through the control device (docs/security.md):
# as uid 1000 with CAP_CHECKPOINT_RESTORE (and /dev/rxe_migros opened for it
# by root, the most an attacker could be handed), handed the uverbs and
# event files of a root process's live context: STOP, RESUME, DUMP and
# IDENTIFY are refused with EPERM (it may not ptrace the process), with one
# log line each, and the root process's pingpong runs on throughout. ADOPT
# of its own context with the root process's pid, and ADOPT of a context
# RESTORE never made into a child that inherited the file, are refused
# with EPERM and one log line each. Then 1,000 ADOPTs, each of a fresh
# context of its own, while a thread swaps a uverbs file root opened into
# the same descriptor with dup2: each adopts its context or finds root's
# file (ENODEV), and root's file keeps its credentials (a write on it
# still fails the RDMA core's opener check).
# A second ADOPT of a restored context is refused in restore_qp.
# timeout: 400
# cost: 110
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
uverbs=$(grep -lx rxe0 /sys/class/infiniband_verbs/uverbs*/ibdev | head -n1)
uverbs=/dev/infiniband/$(basename "$(dirname "$uverbs")")
[ -c "$uverbs" ] || fail "no uverbs device for rxe0"
cd "$(dirname "$0")" || fail "no test directory"
out=$(ip netns exec nsA python3 adopt_trust.py victim rxe0 3<>/dev/rxe_migros 4<>"$uverbs" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] || fail "$rc check(s) failed"
victim=$(echo "$out" | sed -n 's/.*, victim \([0-9]*\)$/\1/p')
[ -n "$victim" ] || fail "the attacker did not say the victim's pid"
for op in STOP RESUME DUMP IDENTIFY; do
	dmesg | grep -q "control: $op: the caller may not ptrace process $victim, whose context it is: refused" ||
		fail "no log line for the $op of the root process's context"
done
dmesg | grep -q "restore: the caller may not ptrace process $victim: adopt refused" ||
	fail "no log line for the ADOPT of another user's process"
dmesg | grep -q "restore: adopt of a context that RESTORE did not make, into another process: refused" ||
	fail "no log line for the ADOPT of a context never restored"
must rdma link del rxe0
must rmmod rxe_migros
