#!/bin/sh
# make demo, inside the VM: a live migration of a running RDMA application
# in a container, with stock CRIU and our plugin.
#
#   host C (hostC, 10.0.0.1, rxeC)   the peer: ib_write_bw's server
#   host A (hostA, 10.0.0.2, rxeA)   where the container starts
#   host B (hostB, 10.0.1.3, rxeB)   where it is restored
#
# The container is ib_write_bw's client in its own network namespace
# (ctr, 10.9.0.2, routed through its host), PID namespace and mount
# namespace. Its TCP
# connection to the server goes through ctr's address, which moves with
# it; its RDMA traffic goes through its host's RoCE device, whose address
# changes from host A's to host B's: the change its QP's RESUME
# announces. (Without a bridge in the guest's kernel, host B reaches host
# C through host A, as if A were a switch.) The container's mounts are
# the guest's (its root is the guest's 9p root, not an image of its own):
# CRIU takes them as external bind mounts (--external 'mnt[]') and binds
# them again from host B's, whose root is the same (--root /).
#
# While the transfer runs, the demo checkpoints the container with
# `criu dump`, copies the image to host B, restores it there with `criu
# restore`, re-plumbs ctr to host B, and prints what it saw: the server's
# throughput every 100 ms across the migration, the downtime split into
# stop, dump, transfer, restore and resume, and the image's size.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/selftests/rxe_migros/lib.sh"
CRIU_PLUGINS=$here/out/criu CRIU_COMPAT=$here/out/criu-compat/sockopt.so
step() { printf '\n=== %s\n' "$*"; }
now() { cut -d' ' -f1 /proc/uptime; }
D=/tmp/demo
rm -rf $D && mkdir -p $D/hostA $D/hostB

step "booted $(uname -r); three hosts and a container"
modprobe rxe_migros || fail "cannot load rxe_migros"
for ns in hostA hostB hostC ctr; do ip netns add $ns; done
# C -- A: the fabric; A -- B: B's way to it; A -- ctr: the container.
ip link add vc netns hostC type veth peer name va netns hostA
ip link add vb netns hostB type veth peer name vab netns hostA
ip link add ctr0 netns ctr type veth peer name vctr netns hostA
ip -n hostC addr add 10.0.0.1/24 dev vc
ip -n hostA addr add 10.0.0.2/24 dev va
ip -n hostA addr add 10.0.1.2/24 dev vab
ip -n hostB addr add 10.0.1.3/24 dev vb
ip -n hostA addr add 10.9.0.1/24 dev vctr
ip -n ctr addr add 10.9.0.2/24 dev ctr0
for l in hostC:vc hostA:va hostA:vab hostA:vctr hostB:vb ctr:ctr0 hostA:lo hostB:lo hostC:lo ctr:lo; do
	ip -n "${l%%:*}" link set "${l#*:}" up
done
ip netns exec hostA sysctl -qw net.ipv4.ip_forward=1
ip netns exec hostB sysctl -qw net.ipv4.ip_forward=1
ip -n hostC route add 10.0.1.0/24 via 10.0.0.2
ip -n hostC route add 10.9.0.0/24 via 10.0.0.2
ip -n hostB route add default via 10.0.1.2
ip -n ctr route add default via 10.9.0.1
ip netns exec hostC rdma link add rxeC type rxe netdev vc
ip netns exec hostA rdma link add rxeA type rxe netdev va
ip netns exec hostB rdma link add rxeB type rxe netdev vb
wait_for 20 gid_index rxeC 10.0.0.1 && wait_for 20 gid_index rxeA 10.0.0.2 &&
	wait_for 20 gid_index rxeB 10.0.1.3 || fail "the RoCE devices have no IPv4 GIDs"
rdma link show
GC=$(gid_index rxeC 10.0.0.1) GA=$(gid_index rxeA 10.0.0.2) GB=$(gid_index rxeB 10.0.1.3)

args="-s 65536 -n 2000 -F"
step "ib_write_bw $args: server on host C, client in the container on host A"
ip netns exec hostC ib_write_bw -d rxeC -x "$GC" $args >$D/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
# The container: PID and mount namespaces of its own, whose init leads
# its own session (CRIU dumps it alone), in ctr's network. Inside, it
# drops the netns mounts it inherited (nsfs, which CRIU cannot restore)
# and opens its own output: a descriptor opened outside would name a
# mount of the host's namespace.
nsenter --net=/run/netns/ctr unshare --pid --fork --mount --propagation private \
	sh -c 'umount -l /run/netns; exec setsid "$@" </dev/null >'$D/cli.out' 2>&1' - \
	ib_write_bw -d rxeA -x "$GA" $args 10.0.0.1 >/dev/null 2>&1 &
wait_for 10 sh -c "pgrep -f '^ib_write_bw -d rxeA' >/dev/null" || fail "no container"
# CRIU checkpoints the init of the container's PID namespace and its tree.
ctr=$(pgrep -n -f '^ib_write_bw -d rxeA')
# namespaces PID: prints the network, PID and mount namespaces of the
# container's process PID, each of which must be other than the demo's.
namespaces() {
	printf '  the container (pid %s):' "$1"
	for n in net pid mnt; do
		[ "$(readlink /proc/$1/ns/$n)" != "$(readlink /proc/self/ns/$n)" ] ||
			fail "the container shares the host's $n namespace"
		printf ' %s' "$(readlink /proc/$1/ns/$n)"
	done
	echo
}
namespaces $ctr
# The sampler: every 100 ms, the server's received packets, and the
# instants the plugin's lines appear in CRIU's logs.
python3 - $D <<'SAMPLER' &
import os, sys, time
d = sys.argv[1]
pkts = "/sys/class/infiniband/rxeC/ports/1/hw_counters/rcvd_pkts"
marks = [("dump.log", "QPs stopped", "stopped"), ("restore.log", "QPs resumed", "resumed")]
with open(d + "/samples", "w", buffering=1) as out:
    while True:
        up = open("/proc/uptime").read().split()[0]
        out.write("%s %s\n" % (up, open(pkts).read().strip()))
        for m in list(marks):
            try:
                if m[1] in open(os.path.join(d, m[0])).read():
                    out.write("%s mark %s\n" % (up, m[2]))
                    marks.remove(m)
            except OSError:
                pass
        time.sleep(0.1)
SAMPLER
sampler=$!
trap 'kill $sampler 2>/dev/null' EXIT
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/rxeC/ports/1/hw_counters/rcvd_pkts) -gt 1000 ]" ||
	fail "the transfer did not begin: $(failure_lines $D/cli.out)"
sleep 2

step "criu dump of the container (pid $ctr) on host A"
t_dump=$(now)
LD_PRELOAD=$CRIU_COMPAT nsenter --net=/proc/$ctr/ns/net \
	criu dump -t "$ctr" -D $D/hostA --libdir "$CRIU_PLUGINS" --log-file $D/dump.log -v4 \
	--tcp-established --network-lock nftables --external 'mnt[]' >/dev/null 2>&1 ||
	fail "criu dump failed: $(grep -m5 Error $D/dump.log | tr '\n' ' ')"
t_dumped=$(now)
grep 'rxe_migros:' $D/dump.log | sed 's/^([ 0-9.]*) */  /'

step "the image goes to host B"
cp -a $D/hostA/. $D/hostB/
t_copied=$(now)
ls -l $D/hostB | grep rxe_migros-

step "ctr is re-plumbed to host B: its address moves with it"
# (ip's batch mode: one process per namespace, processes are slow here.)
printf 'link del vctr\nroute add 10.9.0.0/24 via 10.0.1.3\n' | ip -n hostA -batch -
ip link add ctr0 netns ctr type veth peer name vctr netns hostB
printf 'addr add 10.9.0.1/24 dev vctr\nlink set vctr up\n' | ip -n hostB -batch -
printf 'addr add 10.9.0.2/24 dev ctr0\nlink set ctr0 up\nroute add default via 10.9.0.1\n' |
	ip -n ctr -batch -

step "criu restore on host B (rxeB, 10.0.1.3)"
t_restore=$(now)
RXE_MIGROS_DEVICE=rxeB RXE_MIGROS_GID=10.0.1.3 LD_PRELOAD=$CRIU_COMPAT \
	nsenter --net=/run/netns/ctr criu restore -D $D/hostB -d --libdir "$CRIU_PLUGINS" \
	--log-file $D/restore.log -v4 --tcp-established --pidfile $D/pid \
	--external 'mnt[]' --root / >/dev/null 2>&1 ||
	fail "criu restore failed: $(grep -E 'Error|rxe_migros' $D/restore.log | head -n 8 | tr '\n' ' ')"
grep 'rxe_migros:' $D/restore.log | sed 's/^([ 0-9.]*) *[0-9]*:* */  /'
pid=$(cat $D/pid)

step "the container runs on host B; waiting for it to finish"
namespaces $pid
wait_for 600 sh -c "! kill -0 $pid 2>/dev/null" || fail "the restored container did not finish"
wait $srv || fail "the server failed: $(failure_lines $D/srv.out)"
kill $sampler 2>/dev/null
t_stopped=$(awk '$3 == "stopped" { print $1 }' $D/samples)
t_resumed=$(awk '$3 == "resumed" { print $1 }' $D/samples)
grep -v mark $D/samples >$D/rates
grep -qi 'error\|failed' $D/cli.out && fail "the client failed: $(failure_lines $D/cli.out)"
tail -n 3 $D/srv.out

# Downtime: the longest time without a packet at host C, after the dump
# began: from the last packet before it to the first after it.
down=$(awk -v t0="$t_dump" 'NR > 1 && $1 > t0 && $2 > pp {
	if (last != "" && pt - last > best) { best = pt - last; from = last; to = $1 }
	last = $1
} { pt = $1; pp = $2 } END { print from, to }' $D/rates)
t_gone=${down% *} t_back=${down#* }
# The time from $1 to $2, at the sampler's resolution.
span() { awk -v a="$1" -v b="$2" 'BEGIN { d = b - a; if (d < 0.1) printf "  <0.1 s"; else printf "%6.1f s", d }'; }

step "the server's throughput, every 100 ms (RoCE packets x 1 KiB payload)"
# From 1.5 s before the pause to 1.5 s after it; idle intervals collapse
# into one line; the migration's instants are marked.
awk -v stop="$t_stopped" -v dumped="$t_dumped" -v copied="$t_copied" \
	-v restore="$t_restore" -v resumed="$t_resumed" -v t0="$t_dump" \
	-v from="$t_gone" -v to="$t_back" '
function mark(t) {
	s = ""
	if (t >= t0 && !m0 && t0 > from - 1.5) { s = s " <- criu dump starts"; m0 = 1 }
	if (stop != "" && t >= stop && !m1) { s = s " <- QPs stopped"; m1 = 1 }
	if (t >= dumped && !m2) { s = s " <- dump done"; m2 = 1 }
	if (t >= copied && !m3) { s = s " <- image on host B"; m3 = 1 }
	if (t >= restore && !m4) { s = s " <- criu restore starts"; m4 = 1 }
	if (resumed != "" && t >= resumed && !m5) { s = s " <- QPs resumed on host B"; m5 = 1 }
	return s
}
function flush() {
	if (idle > 0) printf "  %7s .. %-7s   %d intervals without a packet\n", idle_from, idle_to, idle
	idle = 0
}
NR > 1 && $1 > from - 1.5 && $1 < to + 1.5 {
	dt = $1 - pt; rate = (dt > 0) ? ($2 - pp) * 1024 / dt / 1048576 : 0
	m = mark($1); t = sprintf("%+.1fs", $1 - t0)
	if (rate == 0 && m == "") { if (!idle) idle_from = t; idle_to = t; idle++ }
	else {
		flush(); bar = ""
		for (i = 0; i < rate * 10 && i < 60; i++) bar = bar "#"
		printf "  %7s %6.2f MiB/s %s%s\n", t, rate, bar, m
	}
}
{ pt = $1; pp = $2 }
END { flush() }' $D/rates
echo "  (times from the start of criu dump, which ran $(span "$t_dump" "$t_stopped" | tr -d ' ')"
echo "  before its QPs stopped: CRIU starting and seizing the container pause nothing)"

step "downtime: $(awk -v a="$t_gone" -v b="$t_back" 'BEGIN { printf "%.1f s", b - a }')"
echo "  stop      $(span "$t_gone" "$t_stopped")  the plugin stops the container's QPs"
echo "  dump      $(span "$t_stopped" "$t_dumped")  the rest of the dump (memory, files, TCP, our objects)"
echo "  transfer  $(span "$t_dumped" "$t_copied")  the image to host B (a copy between directories here)"
echo "  (re-plumb $(span "$t_copied" "$t_restore")  ctr's link moves to host B)"
echo "  restore   $(span "$t_restore" "$t_resumed")  criu restore up to the plugin's RESUME"
echo "  resume    $(span "$t_resumed" "$t_back")  from the plugin's RESUME to the next packet at host C"
step "image: $(du -sb $D/hostA | cut -f1) bytes in all; ours: $(cat $D/hostA/rxe_migros-*.img | wc -c) bytes"
echo "  rxeB sent $(counter rxeB resume_sent) RESUME; rxeC received $(counter rxeC resume_rcvd)"
