#!/bin/sh
# Stock CRIU with our plugin, a dump that fails after the stop: criu dump
# of ib_write_bw's server mid-transfer into a read-only image directory.
# The plugin stops its QPs as CRIU seizes it; CRIU cannot write the dump;
# the plugin resumes the QPs in place, the partner leaves Paused, and the
# transfer completes. Then criu dump of rping's server (rdma_cm), which
# the plugin refuses before it stops anything: rping completes.
# timeout: 300
# cost: 130
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600

# 60 s (more on a slow kernel): CRIU itself takes 10 s and more to start
# under TCG on a busy machine, and the transfer must still run when it
# seizes the server.
args="-s 16384 -D $(scaled 60) -F"
# Its own session, in nsA's network but our mount namespace.
setsid nsenter --net=/run/netns/nsA ib_write_bw -d $DA -x "$GA" $args >/tmp/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
ip netns exec nsB timeout $(scaled 200) ib_write_bw -d $DB -x "$GB" $args 10.0.0.1 >/tmp/cli.out 2>&1 &
cli=$!
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/rcvd_pkts) -gt 300 ]" ||
	fail "no transfer began: $(failure_lines /tmp/cli.out)"

kill -0 $srv 2>/dev/null || fail "the transfer ended before its dump: $(failure_lines /tmp/srv.out)"
mkdir -p /tmp/ro
mount -t tmpfs -o ro,size=1m none /tmp/ro || fail "cannot mount a read-only directory"
if criu_dump $srv /tmp/ro; then
	umount /tmp/ro
	fail "criu dump succeeded"
fi
umount /tmp/ro
note "criu dump failed, as it must: $(grep -m1 'Error' /tmp/criu.log)"
grep -q 'rxe_migros: task [0-9]* fd [0-9]*: 1 QPs stopped' /tmp/criu.log ||
	fail "the plugin stopped no QP: $(plugin_lines) (CRIU: $(criu_why); the server: $(failure_lines /tmp/srv.out))"
grep -q 'rxe_migros: .*1 QPs resumed in place, 1 announcing' /tmp/criu.log ||
	fail "the plugin resumed no QP: $(plugin_lines)"
note "$(plugin_lines)"

wait_pair $cli $srv "the transfer across the failed dump"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/cli.out)"
note "paused NAKs received by C: $(counter rxe1 paused_nak_rcvd), RESUMEs: $(counter rxe1 resume_rcvd)"
[ "$(counter rxe1 resume_rcvd)" -gt 0 ] || fail "C received no RESUME"

# A process of the RDMA connection manager, rping's server: its connection
# lives in the RDMA core, which cannot save it, so the plugin refuses the
# dump before it stops anything, and the pings go on.
setsid nsenter --net=/run/netns/nsA stdbuf -oL rping -s -a 10.0.0.1 -C 3000 -v -V >/tmp/srv.out 2>&1 &
srv=$!
sleep 2
ip netns exec nsB timeout $(scaled 250) stdbuf -oL rping -c -a 10.0.0.1 -C 3000 -v -V >/tmp/cli.out 2>&1 &
cli=$!
wait_for 60 grep -q 'ping data' /tmp/cli.out || fail "rping began no pings: $(failure_lines /tmp/cli.out)"
kill -0 $srv || fail "rping's server ended before its dump"
criu_dump $srv /tmp/img-cm && fail "criu dump of an rdma_cm process succeeded"
grep -q "Seized task $srv" /tmp/criu.log && fail "CRIU seized rping's server after the plugin refused it"
grep -q "rxe_migros: task $srv fd [0-9]*: rdma_cm connections cannot be migrated" /tmp/criu.log ||
	fail "the plugin did not refuse rping: $(plugin_lines)"
grep -q 'QPs stopped' /tmp/criu.log && fail "the plugin stopped rping's QPs: $(plugin_lines)"
note "$(plugin_lines)"
rping_check $cli $srv 3000 10.0.0.1
