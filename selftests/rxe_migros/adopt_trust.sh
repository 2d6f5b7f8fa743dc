#!/bin/sh
# Who may ADOPT (docs/security.md): as uid 1000 with CAP_CHECKPOINT_RESTORE
# (and /dev/rxe_migros opened for it by root, the most an attacker could
# be handed), ADOPT of its own context with the pid of a root process that
# does not hold its file, and ADOPT of a context RESTORE never made into a
# child that inherited the file, are refused with EPERM and one log line
# each; the victim runs on untouched. Then 1,000 ADOPTs, each of a
# fresh context of its own, while a thread swaps a uverbs file root opened
# into the same descriptor with dup2: each adopts its context or finds
# root's file (ENODEV), and root's file keeps its credentials (a write on
# it still fails the RDMA core's opener check).
# A second ADOPT of a restored context is refused in restore_qp.
# cost: 70
. "$(dirname "$0")/lib.sh"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
sleep 600 &
victim=$!
uverbs=$(grep -lx rxe0 /sys/class/infiniband_verbs/uverbs*/ibdev | head -n1)
uverbs=/dev/infiniband/$(basename "$(dirname "$uverbs")")
[ -c "$uverbs" ] || fail "no uverbs device for rxe0"
cd "$(dirname "$0")" || fail "no test directory"
out=$(setpriv --reuid=1000 --regid=1000 --clear-groups \
	--inh-caps=+checkpoint_restore --ambient-caps=+checkpoint_restore \
	python3 adopt_trust.py rxe0 $victim 3<>/dev/rxe_migros 4<>"$uverbs" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] || fail "$rc check(s) failed"
dmesg | grep -q "restore: process $victim does not hold the context's file: adopt refused" ||
	fail "no log line for the ADOPT of another process"
dmesg | grep -q "restore: adopt of a context that RESTORE did not make, into another process: refused" ||
	fail "no log line for the ADOPT of a context never restored"
kill -0 $victim || fail "the victim is gone"
kill $victim
wait $victim 2>/dev/null
must rdma link del rxe0
must rmmod rxe_migros
