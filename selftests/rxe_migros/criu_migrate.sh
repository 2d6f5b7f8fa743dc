#!/bin/sh
# A live migration with stock CRIU: ib_write_bw's client (nsB, on rxe1,
# "host A") is dumped mid-transfer with our plugin and restored on "host
# B" (rxe2 in nsH, another address), in its own network namespace so that
# its TCP connection to the server survives (--tcp-established). The
# restored client resumes its QP from the new address, the server (nsA,
# rxe0) follows it, and the transfer completes with no error. Then the
# same for ibv_rc_pingpong -c -e, for ib_send_bw -b (both ends send), and
# for ibv_ud_pingpong -c (UD: the server's device learns where the client
# went from its announcement).
# timeout: 600
# cost: 300
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
host_b
# Every client here writes /tmp/cli.out: a failure shows its last words.
cli_out=/tmp/cli.out

# migrate WHAT: CRIU dumps the client ($cli, in nsB) in the middle of its
# run, and restores it on host B; it must resume there, be heard by the
# server ($srv), and both must finish without error.
migrate() {
	heard=$(counter rxe0 resume_rcvd)
	criu_migrate_to rxe2 10.0.1.3 "$1"
	finish "$1"
}

# finish WHAT: the restored client ($cli, restored since RESUME count
# $heard) must be heard by the server ($srv), and both must finish
# without error.
finish() {
	grep -q 'rxe_migros: .*1 MRs pinned, 1 QPs resumed, 1 announcing' /tmp/restore.log ||
		fail "$1: the plugin adopted and resumed nothing"
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
		fail "$1: the server heard no RESUME"
	wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "$1: the restored client did not finish"
	wait $srv || fail "$1: the server failed: $(failure_lines /tmp/srv.out)"
	grep -qi 'error\|failed' /tmp/cli.out && fail "$1: the client failed: $(failure_lines /tmp/cli.out)"
	true
}

# pingpong TOOL ARGS...: TOOL's server in nsA on rxe0 ($srv), its client
# in nsB on rxe1, in its own session ($cli), exchanging.
pingpong() {
	tool=$1; shift
	ip netns exec nsA $tool -d rxe0 -g "$GA" "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the $tool server opened no device"
	setsid nsenter --net=/run/netns/nsB $tool -d rxe1 -g "$GB" "$@" 10.0.0.1 >/tmp/cli.out 2>&1 &
	cli=$!
	sent=$(counter rxe0 rcvd_pkts)
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/rcvd_pkts) -gt $((sent + 300)) ]" ||
		fail "$tool did not begin: $(failure_lines /tmp/cli.out)"
}

args="-s 65536 -n 2000 -F"
dumpable_transfer $args
# First a damaged copy of the image: refused, with nothing left behind
# on host B's device; then the image itself.
rm -rf /tmp/img /tmp/bad
criu_dump $cli /tmp/img || fail "criu dump failed: $(criu_why)"
cp -a /tmp/img /tmp/bad
big=$(ls -S /tmp/bad/rxe_migros-*.img | head -n 1)
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(4000); b = f.read(1); f.seek(4000); f.write(bytes([b[0] ^ 0x5a]))' "$big"
empty=$(rdma_objects rxe2)
criu_restore_to rxe2 10.0.1.3 "damaged image" /tmp/bad &&
	fail "a damaged image was restored: $(grep rxe_migros: /tmp/restore.log | tr '\n' ' ')"
note "a damaged image: $(grep -m1 -E 'rxe_migros: .*(refuses|cannot)' /tmp/restore.log | sed 's/^([ 0-9.]*) *//')"
grep -q 'rxe_migros: .*Invalid argument' /tmp/restore.log || fail "the plugin did not say why it failed"
dmesg | grep -q 'image refused' || fail "the driver did not say why it refused the image"
[ "$(rdma_objects rxe2)" = "$empty" ] || fail "a refused restore left objects: $(rdma_objects rxe2), not $empty"
kill -0 $cli 2>/dev/null && fail "a refused restore left the process running"
heard=$(counter rxe0 resume_rcvd)
criu_restore_to rxe2 10.0.1.3 ib_write_bw
finish ib_write_bw
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/srv.out)"

# SEND and RECV, the data checked: receive requests wait in the restored
# ring. Both ends wait for completion events (-e): the restored client's
# CQ must keep the count of events it read, or libibverbs would wait for
# it forever when the client destroys the CQ at exit. The client comes
# from host B now, so it goes back to rxe1.
args="-n 10000 -s 1024 -c -e"
pingpong ibv_rc_pingpong $args
migrate ibv_rc_pingpong
cq=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$(dirname "$0")/image.py" "$f"; done | grep '^cq ')
note "ibv_rc_pingpong: its CQ's image: ${cq#cq }"
echo "$cq" | grep -Eq 'comp_events=[1-9]' ||
	fail "the image keeps no count of the completion events the client read"
grep -q "iters in" /tmp/cli.out || fail "the restored pingpong client did not finish: $(failure_lines /tmp/cli.out)"
note "ibv_rc_pingpong $args: $(grep 'iters in' /tmp/cli.out)"

# Both directions at once: the restored client's receive ring holds
# the server's messages to come, its send ring its own.
args="-s 16384 -n 3000 -b -F"
PERF=ib_send_bw dumpable_transfer $args
migrate "ib_send_bw -b"
note "ib_send_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/srv.out)"

# UD: the server names the client by its GID and QPN in every send; the
# restored client announces its new address to the server's device, which
# sends what is addressed to the old one there. A datagram that reached
# the client while it was stopped comes with it in the image.
# More round trips on a slow kernel: on the debug kernel the restored
# client of 3,000 was gone before the test could look at it (finished,
# most likely; its output was not shown then).
args="-n $(scaled 3000) -s 512 -c"
pingpong ibv_ud_pingpong $args
migrate ibv_ud_pingpong
qp=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$(dirname "$0")/image.py" "$f"; done | grep '^qp .*type=UD')
note "ibv_ud_pingpong: its QP held ${qp##*held=} datagrams at the dump"
grep -q "iters in" /tmp/cli.out || fail "the restored UD pingpong client did not finish: $(failure_lines /tmp/cli.out)"
note "ibv_ud_pingpong $args: $(grep 'iters in' /tmp/cli.out)"
note "rxe2: $(counter rxe2 resume_sent) RESUMEs and UD announcements sent; rxe0: $(counter rxe0 resume_rcvd) received"
