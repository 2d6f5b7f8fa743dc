#!/bin/sh
# UD multicast: our checker (multicast.py) attaches two UD QPs of the
# receiving device to group 239.1.2.3; every datagram a UD QP of the other
# device sends to the group reaches both, once and in order; after one is
# detached it gets none and the other every one. With ours on both ends,
# then against the C rxe each way. The reported limits hold: one more group
# or one more QP in a group is ENOMEM. mckey (rdma_cm's multicast example, on
# rdma_join_multicast) then runs between our devices. A receiver is
# migrated with CRIU and its QPs get every datagram after the restore.
# timeout: 900
# cost: 150
. "$(dirname "$0")/lib.sh"

GROUP=239.1.2.3

# mcast_run SENDER_NS SENDER_DEV SENDER_GID RECV_NS RECV_DEV RECV_GID RECV_IP
mcast_run() {
	ip netns exec $4 timeout $(scaled 400) python3 multicast.py recv $5 $6 $7 $GROUP 18516 200 \
		>/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 60 grep -q ready /tmp/srv.out || fail "the receiver did not start: $(failure_lines /tmp/srv.out)"
	ip netns exec $1 timeout $(scaled 400) python3 multicast.py send $2 $3 $GROUP $7 18516 200 \
		>/tmp/cli.out 2>&1 &
	wait_pair $! $srv "multicast from $2 to $5"
	note "$2 -> $5: $(grep verified /tmp/srv.out)"
}

cd "$(dirname "$0")" || fail "no test directory"
rxe_pair
mcast_run nsA rxe0 $GA nsB rxe1 $GB 10.0.0.2
mcast_run nsB rxe1 $GB nsA rxe0 $GA 10.0.0.1
# What the device reports is what it enforces.
ip netns exec nsB timeout $(scaled 300) python3 multicast.py limits rxe1 >/tmp/limits.out 2>&1 ||
	fail "limits: $(failure_lines /tmp/limits.out)"
note "limits: $(cat /tmp/limits.out)"

# mckey: rdma_cm joins the group (IGMP and the attach) and sends to it.
ip netns exec nsB timeout $(scaled 120) mckey -m $GROUP -b 10.0.0.2 -C 50 >/tmp/srv.out 2>&1 &
srv=$!
sleep 5
ip netns exec nsA timeout $(scaled 120) mckey -m $GROUP -b 10.0.0.1 -s -C 50 >/tmp/cli.out 2>&1 &
wait_pair $! $srv "mckey"
note "mckey: $(tail -n 1 /tmp/srv.out)"

# CRIU migrates a receiver whose two QPs are in the group, in place (a
# multicast group does not cross the router to host B): the image holds
# both attachments, the plugin makes them again through the core, so that
# the receiver's later detach finds its attachment, and the restored
# receiver gets every datagram sent afterwards. CRIU does not restore its
# socket's IP membership; the attachment holds the group's (the IGMP
# users of the group on veth1: the socket's and the driver's before, the
# driver's alone after).
setsid nsenter --net=/run/netns/nsB python3 multicast.py recv rxe1 $GB 10.0.0.2 $GROUP 18516 200 \
	>/tmp/srv.out 2>&1 &
cli=$! cli_out=/tmp/srv.out
wait_for 60 grep -q ready /tmp/srv.out || fail "the receiver did not start: $(failure_lines /tmp/srv.out)"
before=$(igmp_users nsB veth1 $GROUP)
criu_migrate_to rxe1 10.0.0.2 "multicast receiver"
objs=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$SELFTESTS/image.py" "$f"; done)
attached=$(echo "$objs" | grep '^mcast_attach ') || fail "the image has no multicast attachment: $objs"
[ "$(echo "$attached" | grep -c "gid=00000000000000000000ffffef010203")" = 2 ] ||
	fail "the image has not the 2 QPs' attachments to $GROUP: $attached"
grep -q '2 multicast attachments made again' /tmp/restore.log ||
	fail "the plugin did not attach the QPs again: $(grep rxe_migros /tmp/restore.log | tr '\n' ' ')"
after=$(igmp_users nsB veth1 $GROUP)
[ "$before" = 2 ] && [ "$after" = 1 ] ||
	fail "IGMP users of $GROUP on veth1: $before before the dump, $after after the restore (not 2 and 1)"
note "image: $(echo "$attached" | tr '\n' ';') IGMP users of $GROUP: $before, then $after"
ip netns exec nsA timeout $(scaled 400) python3 multicast.py send rxe0 $GA $GROUP 10.0.0.2 18516 200 \
	>/tmp/cli.out 2>&1 || fail "the sender to the restored receiver: $(failure_lines /tmp/cli.out)"
wait_for 120 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored receiver did not finish"
grep -q verified /tmp/srv.out || fail "the restored receiver: $(failure_lines /tmp/srv.out)"
note "restored: $(grep verified /tmp/srv.out)"
left=$(igmp_users nsB veth1 $GROUP)
[ -z "$left" ] || fail "the group's IGMP membership outlived its last QP: $left users"

# Against the C rxe, each way.
to_mixed_pair
mcast_run nsA mig0 $GA nsB crxe1 $GB 10.0.0.2
mcast_run nsB crxe1 $GB nsA mig0 $GA 10.0.0.1
