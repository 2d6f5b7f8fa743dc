#!/bin/sh
# A live migration with stock CRIU: ib_write_bw's client (nsB, on rxe1,
# "host A") is dumped mid-transfer with our plugin and restored on "host
# B" (rxe2 in nsH, another address), in its own network namespace so that
# its TCP connection to the server survives (--tcp-established). The
# restored client resumes its QP from the new address, the server (nsA,
# rxe0) follows it, and the transfer completes with no error. Then the
# same for ibv_rc_pingpong -c.
# timeout: 600
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
# Host B: nsH (veth2, 10.0.1.3), a hop away from the server through nsB
# (veth3, 10.0.1.2, forwarding), so that its RoCE traffic reaches the
# server on veth0 as host A's did.
ip netns add nsH || fail "cannot create nsH"
ip link add veth2 netns nsH type veth peer name veth3 netns nsB || fail "cannot create veth2"
must ip -n nsH addr add 10.0.1.3/24 dev veth2
must ip -n nsB addr add 10.0.1.2/24 dev veth3
must ip -n nsH link set lo up
must ip -n nsH link set veth2 up
must ip -n nsB link set veth3 up
must ip netns exec nsB sysctl -qw net.ipv4.ip_forward=1
must ip -n nsH route add 10.0.0.0/24 via 10.0.1.2
must ip -n nsA route add 10.0.1.0/24 via 10.0.0.2
must ip netns exec nsH rdma link add rxe2 type rxe netdev veth2
wait_for 20 gid_index rxe2 10.0.1.3 || fail "rxe2 has no 10.0.1.3 GID"

# migrate WHAT: CRIU dumps the client ($cli, in nsB) in the middle of its
# run, and restores it on host B; it must resume there, be heard by the
# server ($srv), and both must finish without error.
migrate() {
	heard=$(counter rxe0 resume_rcvd)
	rm -rf /tmp/img
	criu_dump $cli /tmp/img || fail "$1: criu dump failed: $(grep -m3 Error /tmp/criu.log | tr '\n' ' ')"
	note "$1: dump: $(plugin_lines)"
	kill -0 $cli 2>/dev/null && fail "$1: the dumped client still runs"
	RXE_MIGROS_DEVICE=rxe2 RXE_MIGROS_GID=10.0.1.3 LD_PRELOAD=$CRIU_COMPAT \
		nsenter --net=/run/netns/nsB criu restore -D /tmp/img -d --libdir "$CRIU_PLUGINS" \
		--log-file /tmp/restore.log -v4 --tcp-established >/dev/null 2>&1 ||
		fail "$1: criu restore failed: $(grep -E 'Error|rxe_migros' /tmp/restore.log | head -n 12 | tr '\n' ' ')"
	note "$1: restore: $(grep 'rxe_migros:' /tmp/restore.log | sed 's/^([ 0-9.]*) *//' | tr '\n' ';')"
	kill -0 $cli 2>/dev/null || fail "$1: no restored client (pid $cli)"
	grep -q 'rxe_migros: .*1 MRs pinned, 1 QPs resumed, 1 announcing' /tmp/restore.log ||
		fail "$1: the plugin adopted and resumed nothing"
	# The restored client holds its own files, not the plugin's.
	fds=$(ls -l /proc/$cli/fd | grep -c -e /dev/infiniband/uverbs -e /dev/rxe_migros)
	[ "$fds" = 1 ] || fail "$1: the restored client holds $fds uverbs and control files, not 1"
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
		fail "$1: the server heard no RESUME"
	wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "$1: the restored client did not finish"
	wait $srv || fail "$1: the server failed: $(failure_lines /tmp/srv.out)"
	grep -qi 'error\|failed' /tmp/cli.out && fail "$1: the client failed: $(failure_lines /tmp/cli.out)"
	true
}

args="-s 65536 -n 2000 -F"
dumpable_transfer $args
migrate ib_write_bw
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/srv.out)"

# SEND and RECV, the data checked: receive requests wait in the restored
# ring. The client comes from host B now, so it goes back to rxe1.
args="-n 10000 -s 1024 -c"
ip netns exec nsA ibv_rc_pingpong -d rxe0 -g "$GA" $args >/tmp/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the pingpong server opened no device"
setsid nsenter --net=/run/netns/nsB ibv_rc_pingpong -d rxe1 -g "$GB" $args 10.0.0.1 >/tmp/cli.out 2>&1 &
cli=$!
sent=$(counter rxe0 rcvd_pkts)
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/rcvd_pkts) -gt $((sent + 300)) ]" ||
	fail "ibv_rc_pingpong did not begin: $(failure_lines /tmp/cli.out)"
migrate ibv_rc_pingpong
grep -q "iters in" /tmp/cli.out || fail "the restored pingpong client did not finish: $(failure_lines /tmp/cli.out)"
note "ibv_rc_pingpong $args: $(grep 'iters in' /tmp/cli.out)"
note "rxe2: $(counter rxe2 resume_sent) RESUMEs sent; rxe0: $(counter rxe0 resume_rcvd) received"
