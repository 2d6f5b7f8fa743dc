#!/bin/sh
# UD multicast: our checker (multicast.py) attaches two UD QPs of the
# receiving device to group 239.1.2.3; every datagram a UD QP of the other
# device sends to the group reaches both, once and in order; after one is
# detached it gets none and the other every one. With ours on both ends,
# then against the C rxe each way. The reported limits hold: one more group
# or one more QP in a group is ENOMEM. mckey (rdma_cm's multicast example, on
# rdma_join_multicast) then runs between our devices. CRIU's dump of a
# receiver is refused, and the receiver goes on to get every datagram.
# timeout: 900
# cost: 150
. "$(dirname "$0")/lib.sh"

GROUP=239.1.2.3

# mcast_run SENDER_NS SENDER_DEV SENDER_GID RECV_NS RECV_DEV RECV_GID RECV_IP
mcast_run() {
	ip netns exec $4 timeout 400 python3 multicast.py recv $5 $6 $7 $GROUP 18516 200 \
		>/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 60 grep -q ready /tmp/srv.out || fail "the receiver did not start: $(failure_lines /tmp/srv.out)"
	ip netns exec $1 timeout 400 python3 multicast.py send $2 $3 $GROUP $7 18516 200 \
		>/tmp/cli.out 2>&1 &
	wait_pair $! $srv "multicast from $2 to $5"
	note "$2 -> $5: $(grep verified /tmp/srv.out)"
}

cd "$(dirname "$0")" || fail "no test directory"
rxe_pair
mcast_run nsA rxe0 $GA nsB rxe1 $GB 10.0.0.2
mcast_run nsB rxe1 $GB nsA rxe0 $GA 10.0.0.1
# What the device reports is what it enforces.
ip netns exec nsB timeout 300 python3 multicast.py limits rxe1 >/tmp/limits.out 2>&1 ||
	fail "limits: $(failure_lines /tmp/limits.out)"
note "limits: $(cat /tmp/limits.out)"

# mckey: rdma_cm joins the group (IGMP and the attach) and sends to it.
ip netns exec nsB timeout 120 mckey -m $GROUP -b 10.0.0.2 -C 50 >/tmp/srv.out 2>&1 &
srv=$!
sleep 5
ip netns exec nsA timeout 120 mckey -m $GROUP -b 10.0.0.1 -s -C 50 >/tmp/cli.out 2>&1 &
wait_pair $! $srv "mckey"
note "mckey: $(tail -n 1 /tmp/srv.out)"

# CRIU's dump of a process with QPs in a group is refused (its image
# cannot hold the attachments yet), with one log line saying so; the
# process is resumed in place and gets every datagram sent afterwards.
setsid nsenter --net=/run/netns/nsB python3 multicast.py recv rxe1 $GB 10.0.0.2 $GROUP 18516 200 \
	>/tmp/srv.out 2>&1 &
srv=$!
wait_for 60 grep -q ready /tmp/srv.out || fail "the receiver did not start: $(failure_lines /tmp/srv.out)"
dump_refused $srv /tmp/srv.out 'is attached to multicast group'
ip netns exec nsA timeout 400 python3 multicast.py send rxe0 $GA $GROUP 10.0.0.2 18516 200 \
	>/tmp/cli.out 2>&1 &
wait_pair $! $srv "multicast after a refused dump"
note "after the refused dump: $(grep verified /tmp/srv.out)"

# Against the C rxe, each way.
to_mixed_pair
mcast_run nsA mig0 $GA nsB crxe1 $GB 10.0.0.2
mcast_run nsB crxe1 $GB nsA mig0 $GA 10.0.0.1
