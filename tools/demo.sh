#!/bin/sh
# make demo, in the guests of tools/vms-run.sh: a live migration of a
# running RDMA application in a container, with stock CRIU and our
# plugin, from guest a to guest b, two kernels on one Ethernet segment.
#
#   guest a (10.9.0.1, rxe0 on br0)   where the container starts
#   guest b (10.9.0.2, rxe0 on br0)   where it is restored
#   nsP on guest a (10.9.0.10, rxeP)  the partner: ib_write_bw's server
#
# The partner lives in a namespace of guest a, not in a third guest: each
# TCG guest needs one of the machine's two cores while it works, and a
# third would slow the two that matter.
#
# The container is ib_write_bw's client in network namespace nsC
# (10.9.0.100, a veth on its guest's bridge, MAC 02:00:00:00:00:64), with
# its own PID and mount namespaces. Its TCP connection to the server goes
# through nsC's address, which moves with it: guest a deletes nsC, guest b
# makes it again and announces it with a gratuitous ARP. Its RDMA traffic
# goes through its guest's RoCE device, whose address changes from a's to
# b's: the change its QP's RESUME announces. The image crosses the
# segment: the memory to CRIU's page server on b, the rest (and the
# container's output file) streamed by remote.py. The container's mounts
# are the guest's: CRIU takes them as external bind mounts and binds them
# again from guest b's, which are the same (--root /).
#
# It prints the partner's throughput every 100 ms across the migration,
# the downtime split into stop, dump, transfer, restore and resume, and
# the RDMA-specific downtime (tools/demo-report.py), and leaves the
# figures in out/demo/ for the host to plot (tools/demo-plot.sh).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
sel=$here/selftests/rxe_migros
if [ "${RXE_MIGROS_VM:-}" != a ]; then
	exec python3 "$sel/remote.py" serve "$RXE_MIGROS_ADDR"
fi
cd "$sel" || exit 1
SELFTESTS=$sel
. ./lib.sh
step() { printf '\n=== %s\n' "$*"; }
now() { date +%s.%N; }
D=/tmp/demo O=$here/out/demo
rm -rf $D $O && mkdir -p $D/img $O
mark() { echo "$1 a $(now)" >>$D/marks; }

# post_mortem WHY: fails the demo, keeping in out/demo/ what tells why:
# both ends' output, the RoCE counters that are not zero and the kernel
# log of each guest.
post_mortem() {
	cp $D/srv.out $O/srv.out
	{ echo "guest a:"; grep . /sys/class/infiniband/*/ports/1/hw_counters/* | grep -v ':0$'
	  dmesg | tail -n 40
	  echo "guest a's trace:"; trace_lines 200
	  echo "guest b:"; on b 'grep . /sys/class/infiniband/*/ports/1/hw_counters/* | grep -v ":0$"; dmesg | tail -n 40
		echo "guest b'"'"'s trace:"; trace_lines 200'
	} >$O/post-mortem.txt 2>&1
	on b 'cat /tmp/demo/restore.log' >$O/restore.log 2>&1
	fail "$1; the client: $(failure_lines $O/cli.out) (out/demo/: srv.out, cli.out, post-mortem.txt, restore.log)"
}

step "booted $(uname -r) in two guests; guest b is $(on b 'uname -n')"
vm_setup
# Both guests trace the signals that end a process and TCP's resets, for
# post_mortem: two runs in sessions 20 and 21 lost the client without its
# result line or an error (docs/bench.md), as a kill or a reset of the
# restored TCP connection (SIGPIPE) would.
trace_ends || fail "no tracing on guest a"
out=$(on b trace_ends) || fail "no tracing on guest b: $out"
echo "guest a:"; rdma link show | sed 's/^/  /'
echo "guest b:"; on b 'rdma link show' | sed 's/^/  /'
echo 10.9.0.1 >$D/old
echo 10.9.0.2 >$D/new

args="-s 65536 -n 5000 -F"
step "ib_write_bw $args: server in nsP on guest a, client in the container on guest a"
ip netns exec nsP ib_write_bw -d rxeP -x "$GP" $args >$D/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
# The partner's RoCE traffic as it receives it, on its bridge port.
tcpdump -i v-nsP -n -s 80 -w $D/partner.pcap -Q out 'udp port 4791' >$D/tcpdump.log 2>&1 &
dump_pid=$!
# The container: PID and mount namespaces of its own, whose init leads
# its own session (CRIU dumps it alone), in nsC's network. Inside, it
# drops the netns mounts it inherited (nsfs, which CRIU cannot restore)
# and opens its own output in /tmp/app, which goes with it.
nsenter --net=/run/netns/nsC unshare --pid --fork --mount --propagation private \
	sh -c 'umount -l /run/netns; exec setsid "$@" </dev/null >/tmp/app/cli.out 2>&1' - \
	ib_write_bw -d rxe0 -x "$GA" $args 10.9.0.10 >/dev/null 2>&1 &
wait_for 10 sh -c "pgrep -f '^ib_write_bw -d rxe0' >/dev/null" || fail "no container"
ctr=$(pgrep -n -f '^ib_write_bw -d rxe0')
printf '  the container (pid %s):' "$ctr"
for n in net pid mnt; do
	[ "$(readlink /proc/$ctr/ns/$n)" != "$(readlink /proc/self/ns/$n)" ] ||
		fail "the container shares the host's $n namespace"
	printf ' %s' "$(readlink /proc/$ctr/ns/$n)"
done
echo
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/rcvd_pkts) -gt 1000 ]" ||
	fail "the transfer did not begin: $(failure_lines /tmp/app/cli.out)"
sleep 2

step "guest b: CRIU's page server, and the clocks compared"
out=$(on b "rm -rf /tmp/demo && mkdir -p /tmp/demo/img && criu page-server -D /tmp/demo/img \
	--address 10.9.0.2 --port 27000 -d -o /tmp/demo/page-server.log </dev/null >/dev/null 2>&1") ||
	fail "no page server on b: $out"
python3 remote.py clock 10.9.0.2 >$D/clock || fail "cannot compare the clocks"
echo "  guest b's clock minus guest a's: $(cut -d' ' -f1 $D/clock) s (error bound $(cut -d' ' -f2 $D/clock) s)"

step "criu dump of the container (pid $ctr) on guest a, its memory to guest b"
kill -0 $ctr 2>/dev/null || fail "the container ended before its dump: $(failure_lines /tmp/app/cli.out)"
python3 "$here/tools/demo-mark.py" $D/dump.log 'QPs stopped' $D/t_stopped &
mark dump
LD_PRELOAD=$CRIU_COMPAT nsenter --net=/proc/$ctr/ns/net \
	criu dump -t "$ctr" -D $D/img --libdir "$CRIU_PLUGINS" --log-file $D/dump.log -v4 \
	--tcp-established --network-lock nftables --external 'mnt[]' \
	--page-server --address 10.9.0.2 --port 27000 >/dev/null 2>&1 ||
	{ cp $D/dump.log /tmp/app/cli.out $O/; fail "criu dump failed (its log: out/demo/dump.log): $(criu_why $D/dump.log)"; }
mark dumped
wait_for 5 test -s $D/t_stopped || fail "the plugin did not stop the QPs: $(grep rxe_migros: $D/dump.log)"
echo "stopped a $(cat $D/t_stopped)" >>$D/marks
grep 'rxe_migros:' $D/dump.log | sed 's/^([ 0-9.]*) */  /'

step "the rest of the image, and the container's files, streamed to guest b"
python3 remote.py put 10.9.0.2 $D/img /tmp/demo/img >$D/put.out || fail "the image did not reach b: $(cat $D/put.out)"
python3 remote.py put 10.9.0.2 /tmp/app /tmp/app >>$D/put.out || fail "/tmp/app did not reach b: $(cat $D/put.out)"
mark sent
echo "  image files: $(head -n1 $D/put.out); the container's: $(sed -n 2p $D/put.out)"
echo "  guest b holds $(on b 'du -sb /tmp/demo/img | cut -f1') bytes of image (pages from its page server)"

step "nsC moves to guest b: same address and MAC, announced by a gratuitous ARP"
ip netns del nsC
out=$(on b app_ns_here) ||
	fail "nsC on b: $out"

step "criu restore on guest b (rxe0, 10.9.0.2)"
out=$(on b "python3 /checkout/tools/demo-mark.py /tmp/demo/restore.log 'QPs resumed' /tmp/demo/t_resumed &
	echo restore b \$(date +%s.%N) >/tmp/demo/marks
	RXE_MIGROS_DEVICE=rxe0 RXE_MIGROS_GID=10.9.0.2 LD_PRELOAD=$CRIU_COMPAT \
		nsenter --net=/run/netns/nsC criu restore -D /tmp/demo/img -d --libdir $CRIU_PLUGINS \
		--log-file /tmp/demo/restore.log -v4 --tcp-established --pidfile /tmp/demo/pid \
		--external 'mnt[]' --root / >/dev/null 2>&1 || fail \"criu restore failed: \$(criu_why /tmp/demo/restore.log)\"
	echo restored b \$(date +%s.%N) >>/tmp/demo/marks
	wait_for 5 test -s /tmp/demo/t_resumed || fail 'the plugin did not resume'
	echo resumed b \$(cat /tmp/demo/t_resumed) >>/tmp/demo/marks
	grep 'rxe_migros:' /tmp/demo/restore.log | sed 's/^([ 0-9.]*) *[0-9]*:* */  /'") ||
	fail "on b: $out"
echo "$out"
on b 'cat /tmp/demo/marks' >>$D/marks

step "the container runs on guest b; waiting for it to finish"
pid=$(on b 'cat /tmp/demo/pid')
out=$(on b "wait_for 600 sh -c '! kill -0 $pid 2>/dev/null' && cat /tmp/app/cli.out") ||
	fail "the restored container did not finish: $out"
echo "$out" >$O/cli.out
wait $srv || post_mortem "the server failed: $(failure_lines $D/srv.out)"
grep -qi 'error\|failed' $O/cli.out && post_mortem "the client failed"
grep -qE '^ *[0-9]+ +[0-9]+ +[0-9.]+ ' $O/cli.out || post_mortem "the client ended without its result line"
tail -n 3 $D/srv.out
sleep 1
kill -INT $dump_pid
wait $dump_pid 2>/dev/null
echo "  rxe0 on guest b sent $(on b 'counter rxe0 resume_sent') RESUME; rxeP received $(counter rxeP resume_rcvd)"

step "the migration, seen from the partner"
python3 "$here/tools/demo-report.py" $D $O | tee $O/timeline.txt || fail "no report"
echo "(figures in out/demo/; make demo plots them on the host: out/demo/migration.svg)"
python3 remote.py stop 10.9.0.2 >/dev/null
