#!/bin/sh
# The rxe_migros selftests, run inside the test VM (make check). Prints KTAP;
# ends with "N passed, N failed". Usage: run.sh [--shard K/N] [NAME-PATTERN]
#
# With --shard, only the K-th of N shares of the tests, for N VMs side by
# side (tools/selftests.sh): the tests are dealt out longest first, each to
# the share with the least so far, by their "# cost: SECONDS" lines (the
# time they take under TCG; 30 if none).
#
# Every test starts from a clean slate (no test namespaces, no rxe module,
# an empty kernel log). After each, the kernel log is scanned for BUG,
# WARNING, Oops, KASAN, KFENCE and UBSAN reports, and for work of ours
# queued on a workqueue the kernel calls deprecated; and on a kernel with
# kmemleak (make check-debug) memory is scanned for leaks once the test's
# modules are gone: any report fails that test. A final test fails if the
# boot left one. On such a debug kernel every test's time limit is four
# times its own.
#
# Tests with a "# vms: N" line run across N guests on one segment
# (tools/vms-run.sh, make check-vms), and only there: in guest a, run.sh
# runs them, the other guests serve it (rxe_migros/remote.py), and each
# is brought to a clean slate and has its kernel log scanned after every
# test as a's is. "run.sh --clean NAME" is that, for the other guests.
cd "$(dirname "$0")" || exit 1
shard=1/1
if [ "${1:-}" = --shard ]; then
	shard=$2
	shift 2
fi
vms=${RXE_MIGROS_VMS:-}
peers=
if [ -n "$vms" ]; then
	for k in $(seq 2 "$vms"); do peers="$peers 10.9.0.$k"; done
	if [ "${1:-}" != --clean ]; then
		[ "$RXE_MIGROS_VM" = a ] || exec python3 rxe_migros/remote.py serve "$RXE_MIGROS_ADDR"
		# Guest a serves too: a test moves things from b to a.
		python3 rxe_migros/remote.py serve "$RXE_MIGROS_ADDR" >/dev/null 2>&1 &
	fi
fi
pattern=${1:-}
tests=$(ls rxe_migros/*.sh | grep -v '/lib.sh$' | grep -e "$pattern" | while read -r t; do
	# Cross-VM tests in a group of guests, the others alone.
	if grep -q '^# vms: ' "$t"; then [ -n "$vms" ]; else [ -z "$vms" ]; fi && echo "$t"
done)
if [ "$shard" != 1/1 ]; then
	tests=$(for t in $tests; do
		c=$(sed -n 's/^# cost: //p' "$t")
		echo "${c:-30} $t"
	done | sort -k1,1nr -k2,2 | awk -v k="${shard%/*}" -v n="${shard#*/}" '{
		best = 1
		for (i = 2; i <= n; i++) if (load[i] < load[best]) best = i
		load[best] += $1
		if (best == k) print $2
	}' | sort)
fi
n=$(($(echo "$tests" | grep -c .) + 1))

bad_kernel_log='BUG:|WARNING:|Oops|KASAN|KFENCE|UBSAN|general protection fault|Call Trace:|rxe_migros\] enqueued on deprecated workqueue'
kmemleak=/sys/kernel/debug/kmemleak
slow=1
[ -w $kmemleak ] && slow=4
# Tests that bound their own steps scale those bounds by it too.
export RXE_MIGROS_SLOW=$slow

# What the last test left in the kernel log that must not be there, and the
# leaks kmemleak finds (objects at least 5 s old that nothing points to:
# the test's modules are unloaded by now, so what they allocated and did
# not free is no longer reachable). Prints the reports, empties the log
# and forgets the leaks for the next test.
kernel_reports() {
	dmesg >/tmp/dmesg.last
	if [ -w $kmemleak ]; then
		sleep 6
		# Two scans: an object a first scan finds unreferenced while it is
		# in flight between lists is found referenced by the second.
		echo scan >$kmemleak
		echo scan >$kmemleak
		l=$(head -n 40 $kmemleak)
		[ -n "$l" ] && echo "kmemleak: $l"
		echo clear >$kmemleak
	fi
	grep -E -A20 "$bad_kernel_log" /tmp/dmesg.last | head -n 60
	dmesg -C
}

reset_state() {
	rm -f /etc/modprobe.d/rxe_migros.conf
	# What a failed test left running in its namespaces would hold their
	# devices open, and deleting the namespace would wait for it forever.
	# (A name for the initial namespace, as netns_move.sh makes, is not
	# one of them: its processes are everyone's.)
	init=$(stat -L -c %i /proc/1/ns/net)
	for ns in $(ip netns list | awk '{print $1}'); do
		[ "$(stat -L -c %i "/run/netns/$ns")" = "$init" ] && continue
		ip netns pids "$ns" | xargs -r kill -9 2>/dev/null
	done
	# So would a verbs user outside them, and removing the device waits for
	# its users to close it.
	find /proc/[0-9]*/fd -maxdepth 1 -lname '/dev/infiniband/*' 2>/dev/null |
		cut -d/ -f3 | sort -u | xargs -r kill -9 2>/dev/null
	sleep 0.2
	# The devices go first, each removed in full before the next step:
	# a device whose netdev vanishes with its namespace is unregistered
	# from a work item instead, and the RDMA core's removal of its
	# per-namespace sysfs copies races the other namespaces' teardown
	# (an oops in kobject_uevent_net_broadcast; docs/building.md).
	# (In the RDMA core's exclusive mode a device is seen, and removed,
	# only in its own namespace.)
	for d in $(ls /sys/class/infiniband 2>/dev/null); do rdma link del "$d" 2>/dev/null; done
	for ns in $(ip netns list | awk '{print $1}'); do
		for d in $(ip netns exec "$ns" ls /sys/class/infiniband 2>/dev/null); do
			ip netns exec "$ns" rdma link del "$d" 2>/dev/null
		done
	done
	for ns in $(ip netns list | awk '{print $1}'); do ip netns del "$ns"; done
	rmmod rxe_migros 2>/dev/null
	rmmod rdma_rxe 2>/dev/null
	# Back to the shared mode (netns_move.sh leaves exclusive): possible
	# only once the deleted namespaces are gone.
	if rdma system show 2>/dev/null | grep -q 'netns exclusive'; then
		k=0
		until rdma system set netns shared 2>/dev/null || [ $k -ge 60 ]; do
			sleep 1
			k=$((k + 1))
		done
	fi
	# Let the RDMA core's work items settle between tests.
	sleep 0.2
}

# clean_slate NAME: the clean slate after test NAME, printing what the
# kernel reported; the whole kernel log of a test that left reports is
# kept beside the logs (named for the guest too, in a group).
clean_slate() {
	reset_state
	reports=$(kernel_reports)
	[ -n "$reports" ] || return 0
	mkdir -p ../out/selftests
	cp /tmp/dmesg.last "../out/selftests/dmesg-$1${RXE_MIGROS_VM:+-$RXE_MIGROS_VM}.log"
	echo "$reports"
}

# The other guests' clean slate and reports, after test $1, each report
# line led by the guest's address.
peer_reports() {
	for p in $peers; do
		python3 rxe_migros/remote.py run "$p" "sh ../run.sh --clean $1" 2>&1 | sed "s/^/$p: /"
	done
}

if [ "${1:-}" = --clean ]; then
	clean_slate "$2"
	exit 0
fi

reset_state
boot_reports=$(kernel_reports; peer_reports boot)
echo "KTAP version 1"
echo "1..$n"
i=0 pass=0 fail=0 skip=0
for t in $tests; do
	i=$((i + 1))
	name=$(basename "$t" .sh)
	echo "# $name: $(sed -n '2s/^# //p' "$t")"
	start=$(cut -d' ' -f1 /proc/uptime)
	# A test may ask for more than 120 s with a "# timeout: N" line.
	limit=$(sed -n 's/^# timeout: //p' "$t")
	limit=$((${limit:-120} * slow))
	out=$(timeout "$limit" sh "$t" 2>&1)
	rc=$?
	[ -n "$out" ] && echo "$out" | sed -e 's/^# //' -e 's/^/# /'
	secs=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%.1f", b-a}')
	reports=$(clean_slate "$name"; peer_reports "$name")
	if [ -n "$reports" ] && [ $rc != 124 ]; then
		echo "$reports" | sed 's/^/# /'
		rc=kernel
	fi
	case $rc in
	0) echo "ok $i $name # ${secs}s"; pass=$((pass + 1)) ;;
	4) echo "ok $i $name # SKIP"; skip=$((skip + 1)) ;;
	124) echo "not ok $i $name # timed out after $limit s"; fail=$((fail + 1)) ;;
	kernel) echo "not ok $i $name # the kernel reported a problem (above)"; fail=$((fail + 1)) ;;
	*) echo "not ok $i $name # exit $rc"; fail=$((fail + 1)) ;;
	esac
	[ -n "$reports" ] && [ $rc = 124 ] && echo "$reports" | sed 's/^/# /'
done

i=$((i + 1))
if [ -z "$boot_reports" ]; then
	echo "ok $i dmesg_clean"
	pass=$((pass + 1))
else
	echo "$boot_reports" | sed 's/^/# /'
	echo "not ok $i dmesg_clean # the boot left kernel reports (above)"
	fail=$((fail + 1))
fi
for p in $peers ${RXE_MIGROS_ADDR:-}; do python3 rxe_migros/remote.py stop "$p" >/dev/null; done
echo "# totals: pass:$pass fail:$fail skip:$skip"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
