#!/bin/sh
# A live migration with stock CRIU: ib_write_bw's client (nsB, on rxe1,
# "host A") is dumped mid-transfer with our plugin and restored on "host
# B" (rxe2 in nsH, another address), in its own network namespace so that
# its TCP connection to the server survives (--tcp-established). The
# restored client resumes its QP from the new address, the server (nsA,
# rxe0) follows it, and the transfer completes with no error.
# timeout: 400
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

args="-s 65536 -n 2000 -F"
dumpable_transfer $args

rm -rf /tmp/img
criu_dump $cli /tmp/img || fail "criu dump failed: $(grep -m3 Error /tmp/criu.log | tr '\n' ' ')"
note "dump: $(plugin_lines)"
kill -0 $cli 2>/dev/null && fail "the dumped client still runs"

RXE_MIGROS_DEVICE=rxe2 RXE_MIGROS_GID=10.0.1.3 LD_PRELOAD=$CRIU_COMPAT \
	nsenter --net=/run/netns/nsB criu restore -D /tmp/img -d --libdir "$CRIU_PLUGINS" \
	--log-file /tmp/restore.log -v4 --tcp-established >/dev/null 2>&1 ||
	fail "criu restore failed: $(grep -E 'Error|rxe_migros' /tmp/restore.log | head -n 12 | tr '\n' ' ')"
note "restore: $(grep 'rxe_migros:' /tmp/restore.log | sed 's/^([ 0-9.]*) *//' | tr '\n' ';')"
kill -0 $cli 2>/dev/null || fail "no restored client (pid $cli)"
grep -q 'rxe_migros: .*1 MRs pinned, 1 QPs resumed, 1 announcing' /tmp/restore.log ||
	fail "the plugin adopted and resumed nothing"
# The restored client holds its own files, not the plugin's.
fds=$(ls -l /proc/$cli/fd | grep -c -e /dev/infiniband/uverbs -e /dev/rxe_migros)
[ "$fds" = 1 ] || fail "the restored client holds $fds uverbs and control files, not 1: $(ls -l /proc/$cli/fd)"
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/resume_rcvd) -gt 0 ]" ||
	fail "the server heard no RESUME"
note "rxe2: $(counter rxe2 resume_sent) RESUMEs sent; rxe0: $(counter rxe0 resume_rcvd) received"
wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored client did not finish"
wait $srv || fail "the server failed: $(failure_lines /tmp/srv.out)"
grep -q 'error\|failed' /tmp/cli.out && fail "the client failed: $(failure_lines /tmp/cli.out)"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/srv.out)"
