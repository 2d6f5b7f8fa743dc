#!/bin/sh
# Between two guests: ibv_ud_pingpong's client moves from guest a to guest
# b with stock CRIU (UD: the partner's device learns the client's new
# address from its announcement), and completes; so does ibv_uc_pingpong's
# (UC: the client's QP announces itself with a UC RESUME), and a UD
# multicast receiver, which gets its group's datagrams on b. Then a migration of
# ib_write_bw's client whose destination, guest b, is powered off in the
# middle of the transfer: the dump fails, the plugin resumes the QP in
# place, and the transfer completes on guest a. The partner runs in nsP
# on guest a (vms_integrity.sh says why).
# vms: 2
# timeout: 1100
# cost: 520
. "$(dirname "$0")/lib.sh"
vm_setup pause_timeout_s=600

# pingpong_moves TOOL: TOOL -c with its server in nsP and its client in
# the container, which moves from guest a to guest b mid-run; the server's
# device must hear from the client's new address (resume_rcvd: UD's
# announcement to the device, UC's RESUME to the QP) and refuse none of
# it, and both ends finish. The run outlasts a migration between guests
# (half a minute here).
pingpong_moves() {
	tool=$1 args="-n 15000 -s 512 -c"
	ip netns exec nsP $tool -d rxeP -g "$GP" $args >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "$tool: the server opened no device"
	setsid nsenter --net=/run/netns/nsC $tool -d rxe0 -g "$GA" $args 10.9.0.10 </dev/null >/tmp/app/cli.out 2>&1 &
	cli=$!
	sent=$(counter rxeP rcvd_pkts)
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/rcvd_pkts) -gt $((sent + 300)) ]" ||
		fail "$tool did not begin: $(failure_lines /tmp/app/cli.out)"
	heard=$(counter rxeP resume_rcvd) bad=$(counter rxeP rcvd_bad_resume)
	vm_migrate a b "$tool"
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
		fail "$tool: rxeP heard nothing from the client's new address"
	wait $srv || fail "$tool: the server failed: $(failure_lines /tmp/srv.out)"
	out=$(on b "wait_for 60 sh -c '! kill -0 $cli' && cat /tmp/app/cli.out") ||
		fail "$tool: the restored client did not finish on b"
	echo "$out" | grep -q "iters in" || fail "$tool: the restored client failed: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
	bad=$(($(counter rxeP rcvd_bad_resume) - bad))
	[ "$bad" = 0 ] || fail "$tool: rxeP refused $bad of the moved client's announcements"
	note "$tool $args, moved to b: $(echo "$out" | grep 'iters in'); rxeP heard $(($(counter rxeP resume_rcvd) - heard)) announcements"
	on b "ip netns del nsC"
	vm_ns nsC $APP_IP $APP_MAC
	mkdir -p /tmp/app
}

# UD: the partner's device learns the client's new address from its
# announcement. UC: no ACKs, so the client's QP announces itself with a
# UC RESUME carrying the server's token, until the server's QP says it
# heard it; without, its pings would go unanswered for ever.
pingpong_moves ibv_ud_pingpong
pingpong_moves ibv_uc_pingpong

# A UD multicast receiver moves: multicast.py's, its two QPs on rxe0 in
# group 239.1.2.5, in the container on guest a, moves to guest b; then
# the partner (nsP) sends to the group, and on b the restored receiver
# gets every datagram of both phases. The group's IP membership on br0,
# rxe0's netdev, is the attachments': a socket of the container could not
# take it (its sockets are in nsC); one IGMP user on a's br0 before the
# move, none after, one on b's, none once the receiver is done.
GROUP=239.1.2.5
setsid nsenter --net=/run/netns/nsC python3 "$SELFTESTS/multicast.py" recv rxe0 "$GA" $APP_IP $GROUP 18516 200 \
	</dev/null >/tmp/app/cli.out 2>&1 &
cli=$!
wait_for 60 grep -q ready /tmp/app/cli.out || fail "multicast: the receiver did not start: $(failure_lines /tmp/app/cli.out)"
on_a=$(igmp_users "" br0 $GROUP)
vm_migrate a b "multicast receiver"
left_a=$(igmp_users "" br0 $GROUP) on_b=$(on b "igmp_users '' br0 $GROUP")
[ "$on_a/$left_a/$on_b" = "1//1" ] ||
	fail "multicast: IGMP users of $GROUP on br0: $on_a on a before, '$left_a' after, '$on_b' on b (not 1, none, 1)"
ip netns exec nsP timeout $(scaled 400) python3 "$SELFTESTS/multicast.py" send rxeP "$GP" $GROUP $APP_IP 18516 200 \
	>/tmp/snd.out 2>&1 || fail "multicast: the sender: $(failure_lines /tmp/snd.out)"
out=$(on b "wait_for 60 sh -c '! kill -0 $cli' && cat /tmp/app/cli.out") ||
	fail "multicast: the restored receiver did not finish on b"
echo "$out" | grep -q verified || fail "multicast: the restored receiver: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
left_b=$(on b "igmp_users '' br0 $GROUP")
[ -z "$left_b" ] || fail "multicast: $left_b IGMP users of $GROUP on b's br0 after the receiver ended"
note "multicast receiver moved to b: $(echo "$out" | grep verified); IGMP users on br0: a $on_a, then b $on_b"
on b "ip netns del nsC"
vm_ns nsC $APP_IP $APP_MAC
mkdir -p /tmp/app

# The destination powered off mid-migration.
args="-s 16384 -D 90 -F"
ip netns exec nsP ib_write_bw -d rxeP -x "$GP" $args >/tmp/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
setsid nsenter --net=/run/netns/nsC ib_write_bw -d rxe0 -x "$GA" $args 10.9.0.10 </dev/null >/tmp/app/cli.out 2>&1 &
cli=$!
DA=rxeP
transfer_under_way
# The dump's way to guest b (from nsC, where CRIU runs) is slowed to
# 100 kbit/s, so that its pages are still on their way when b goes: TCP
# then has data in flight, whose retransmissions meet guest b's new
# kernel, which resets the connection. (Gone while CRIU waits for an
# answer with nothing in flight, b would leave the dump waiting forever:
# the test fails if it does not end within 240 s.)
out=$(on b "rm -rf /tmp/img && mkdir -p /tmp/img &&
	criu page-server -D /tmp/img --address 10.9.0.2 --port 27000 -d -o /tmp/page-server.log </dev/null >/dev/null 2>&1") ||
	fail "no page server on b: $out"
must ip netns exec nsC tc qdisc add dev eth0 root netem rate 100kbit
rm -rf /tmp/img /tmp/criu.log
started=$(cut -d' ' -f1 /proc/uptime)
criu_dump $cli /tmp/img --page-server --address 10.9.0.2 --port 27000 &
dump=$!
wait_for 60 grep -q 'rxe_migros: .*QPs stopped' /tmp/criu.log || fail "the plugin stopped no QP: $(criu_why)"
wait_for 60 on b "[ \$(cat /tmp/img/pages-*.img 2>/dev/null | wc -c) -gt 0 ]" ||
	fail "no pages reached guest b: $(criu_why)"
running $dump || fail "criu dump ended before guest b went: $(criu_why)"
note "guest b holds $(on b 'cat /tmp/img/pages-*.img | wc -c') bytes of pages; it goes now"
# Its agent never answers: the guest is gone (vms-run.sh boots it again).
python3 "$(dirname "$0")/remote.py" run 10.9.0.2 "busybox poweroff -f" >/dev/null 2>&1 &
left=240
while running $dump && [ $left -gt 0 ]; do sleep 1; left=$((left - 1)); done
running $dump && fail "criu dump still waits 240 s after guest b went"
wait $dump && fail "criu dump succeeded with its page server's guest powered off"
must ip netns exec nsC tc qdisc del dev eth0 root
note "criu dump failed, as it must, $(awk -v a="$started" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }') s after it began: $(grep -m1 'Error' /tmp/criu.log)"
grep -q 'rxe_migros: .*1 QPs resumed in place' /tmp/criu.log ||
	fail "the plugin resumed no QP: $(plugin_lines)"
note "$(plugin_lines)"
wait_pair $cli $srv "the transfer across the dump that failed" /tmp/app/cli.out
note "ib_write_bw $args, resumed on a: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/srv.out)"
# Guest b is back, for the clean slate after this test.
on b true >/dev/null || fail "guest b did not come back"
