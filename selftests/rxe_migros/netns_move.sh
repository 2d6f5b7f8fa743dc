#!/bin/sh
# Moving devices between network namespaces, as a container runtime hands
# a device to a pod: `rdma dev set DEV netns NS`, in the RDMA core's
# exclusive mode. Each device goes to its netdev's namespace and
# ibv_rc_pingpong runs between the two there. A process that held a
# device when it moved is disassociated: it gets DEVICE_FATAL, still reads
# its mapped CQ ring (the core swapped in a zeroed page), is refused new
# objects with EIO, and cleans up and closes. A device comes back to the
# initial namespace from inside its namespace, with a holder there too;
# and unloading the module with a holder disassociates it instead of
# waiting for it. run.sh puts the mode back to shared.
# cost: 60
. "$(dirname "$0")/lib.sh"

# The mode changes only while no namespace but the initial one exists:
# those of earlier tests may take a moment to go.
wait_for 60 rdma system set netns exclusive ||
	fail "cannot switch to exclusive mode: $(rdma system set netns exclusive 2>&1)"

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
must ip netns exec nsB rdma link add rxe1 type rxe netdev veth1
# A device starts in the initial namespace, and only there is it seen.
must rdma dev show rxe0
must_fail ip netns exec nsA rdma dev show rxe0

# in_ns NS CMD...: a lib.sh command inside NS, where its devices are seen.
in_ns() {
	ns=$1
	shift
	ip netns exec "$ns" sh -c ". '$SELFTESTS/lib.sh'; $*"
}

# hold NS DEV: a process (verbs.py's disassociated) holding DEV with mapped
# rings, in NS ("-" for here), until the device goes from under it.
hold() {
	held=/tmp/hold-$2.out
	if [ "$1" = - ]; then
		python3 "$SELFTESTS/verbs.py" "$2" disassociated >$held 2>&1 &
	else
		ip netns exec "$1" python3 "$SELFTESTS/verbs.py" "$2" disassociated >$held 2>&1 &
	fi
	holder=$!
	wait_for 30 grep -q ready $held || fail "the holder of $2 did not start: $(cat $held)"
}

# released WHAT: the holder saw its device go, and cleaned up and exited.
released() {
	wait_for 30 sh -c "! kill -0 $holder 2>/dev/null" ||
		fail "$1: the holder is still waiting: $(cat $held)"
	wait $holder || fail "$1: the holder failed: $(tr '\n' ' ' <$held)"
	note "$1: $(tr '\n' ' ' <$held)"
}

hold - rxe0
must rdma dev set rxe0 netns nsA
released "rxe0 moved to nsA"
must rdma dev set rxe1 netns nsB
must_fail rdma dev show rxe0
must ip netns exec nsA rdma dev show rxe0
must ip netns exec nsB rdma dev show rxe1

wait_for 20 in_ns nsA gid_index rxe0 10.0.0.1 || fail "rxe0 has no IPv4 GID in nsA"
wait_for 20 in_ns nsB gid_index rxe1 10.0.0.2 || fail "rxe1 has no IPv4 GID in nsB"
DA=rxe0 DB=rxe1
GA=$(in_ns nsA gid_index rxe0 10.0.0.1)
GB=$(in_ns nsB gid_index rxe1 10.0.0.2)
pair_run ibv_rc_pingpong 60 -n 20 -s 4096 -c

# Back to the initial namespace, asked from inside nsA while a process
# there holds the device.
must ip netns attach initns 1
hold nsA rxe0
must ip netns exec nsA rdma dev set rxe0 netns initns
released "rxe0 moved back"
must ip netns del initns
must rdma dev show rxe0
must_fail ip netns exec nsA rdma dev show rxe0

# An open device no longer pins the module: unloading it disassociates
# the holder (rxe1, in nsB, goes too).
hold - rxe0
must rmmod rxe_migros
released "rmmod with rxe0 held"
[ ! -d /sys/module/rxe_migros ] || fail "the module is still loaded"
