# shellcheck shell=sh
# Helpers shared by the rxe_migros selftests. Each test is a script that
# exits 0 (pass), 1 (fail) or 4 (skip, kselftest's KSFT_SKIP), printing
# diagnostics as "# " lines.

set -u

# This directory (a test's, or what the sourcing script sets).
SELFTESTS=${SELFTESTS:-$(cd "$(dirname "$0")" && pwd)}

note() { echo "# $*"; }
fail() { echo "# FAIL: $*"; exit 1; }

# scaled N: N times run.sh's slowness factor (RXE_MIGROS_SLOW: 4 on the
# debug kernel, else 1), for a test's own counts, durations and limits
# that must outlast what a slow kernel stretches (process starts most of
# all).
scaled() {
	echo $(($1 * ${RXE_MIGROS_SLOW:-1}))
}

# trace_ends: from now on the kernel traces every signal that ends a
# process (SIGABRT, SIGBUS, SIGKILL, SIGSEGV, SIGPIPE, SIGTERM: sender and
# target), the end of every process whose name starts with "ib"
# (perftest, the verbs examples) and every TCP reset sent or received
# (tracefs), the buffer emptied first; trace_lines [N] prints its last N
# lines (12). A migrated process that dies without a word shows there.
trace_ends() {
	T=/sys/kernel/tracing
	mountpoint -q $T || mount -t tracefs nodev $T || return 1
	echo "sig==6||sig==7||sig==9||sig==11||sig==13||sig==15" >$T/events/signal/signal_generate/filter &&
		echo 'comm ~ "ib*"' >$T/events/sched/sched_process_exit/filter &&
		for e in signal/signal_generate sched/sched_process_exit tcp/tcp_send_reset tcp/tcp_receive_reset; do
			echo 1 >$T/events/$e/enable || return 1
		done && echo >$T/trace
}
trace_lines() {
	grep -v '^#' /sys/kernel/tracing/trace | sed 's/^ *//' | tail -n "${1:-12}"
}

# Runs "$@", failing the test with its output when it fails.
must() {
	out=$("$@" 2>&1) || fail "'$*' failed: $(echo "$out" | tr '\n' ' ')"
}

# Runs "$@", failing the test if it succeeds; prints its output as a note.
must_fail() {
	if out=$("$@" 2>&1); then
		fail "'$*' succeeded but should have failed"
	fi
	note "'$*' refused as expected: $(echo "$out" | head -n1)"
}

# Waits up to $1 seconds (times the slowness factor, see scaled) for
# "$2..." to succeed. (Its counter is its own: callers keep their
# variables, client_server its timeout t.)
wait_for() {
	local left=$(($1 * ${RXE_MIGROS_SLOW:-1}))
	shift
	while [ "$left" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
		left=$((left - 1))
	done
	"$@" >/dev/null 2>&1
}

# Two network namespaces joined by a veth pair: nsA/veth0 10.0.0.1 and
# nsB/veth1 10.0.0.2.
veth_pair() {
	ip netns add nsA && ip netns add nsB || fail "cannot create namespaces"
	ip link add veth0 netns nsA type veth peer name veth1 netns nsB || fail "cannot create veth"
	ip -n nsA addr add 10.0.0.1/24 dev veth0
	ip -n nsB addr add 10.0.0.2/24 dev veth1
	for ns in nsA nsB; do ip -n $ns link set lo up; done
	ip -n nsA link set veth0 up
	ip -n nsB link set veth1 up
}

# veth_pair's nsA/veth0 10.0.0.1 and nsB/veth1 10.0.0.2, and an attacker,
# nsX/veth9 10.0.0.9, on one Ethernet segment instead of a veth pair: a
# hub (hub.py, in nsL2, over tap devices) repeats every frame to every
# port, so that nsX sees the traffic between nsA and nsB as an off-path
# host on a shared segment may. Use instead of veth_pair.
l2_with_attacker() {
	for ns in nsA nsB nsX nsL2; do ip netns add $ns || fail "cannot create $ns"; done
	for ns in nsA nsB nsX; do must ip -n $ns link set lo up; done
	ip netns exec nsL2 python3 "$SELFTESTS/hub.py" nsA:veth0:10.0.0.1/24 \
		nsB:veth1:10.0.0.2/24 nsX:veth9:10.0.0.9/24 >/tmp/hub.out 2>&1 &
	wait_for 20 grep -q ready /tmp/hub.out || fail "the hub did not start: $(cat /tmp/hub.out)"
}

# Loads our driver (with optional module parameters).
load_ours() {
	modprobe rxe_migros "$@" || fail "modprobe rxe_migros $* failed"
}

# The driver module behind an RDMA device, from the kernel's own word: the
# module holding the device's link ops. Our driver logs "NAME: added on".
served_by_ours() {
	dmesg | grep -q "rxe_migros: $1: added on $2"
}

# Port state as sysfs tells it ("4: ACTIVE").
port_state() {
	cat "/sys/class/infiniband/$1/ports/1/state" 2>/dev/null
}

# Whether device $1's port state contains $2.
port_is() {
	port_state "$1" | grep -q "$2"
}

# The first 16 entries of device $1's GID table, one GID per line, empty
# entries left out (reading all 1024 one by one is slow under TCG).
gids() {
	d=/sys/class/infiniband/$1/ports/1/gids
	cat "$d"/[0-9] "$d"/1[0-5] 2>/dev/null | grep -v '^0000:0000:0000:0000:0000:0000:0000:0000$'
}

# The GID of an IPv4 address, in sysfs notation.
gid_of_ipv4() {
	printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x\n' $(echo "$1" | tr . ' ')
}

# The index of device $1's GID for IPv4 address $2.
gid_index() {
	want=$(gid_of_ipv4 "$2")
	for i in 0 1 2 3 4 5 6 7; do
		g=$(cat "/sys/class/infiniband/$1/ports/1/gids/$i" 2>/dev/null) || continue
		[ "$g" = "$want" ] && { echo "$i"; return 0; }
	done
	return 1
}

# The index of device $1's GID whose sysfs form starts with $2.
gid_index_prefix() {
	for i in 0 1 2 3 4 5 6 7; do
		g=$(cat "/sys/class/infiniband/$1/ports/1/gids/$i" 2>/dev/null) || continue
		case $g in "$2"*) echo "$i"; return 0 ;; esac
	done
	return 1
}

# Gives the veth pair the IPv6 addresses fd00::1 (nsA) and fd00::2 (nsB)
# and switches GA and GB to their GIDs: RoCEv2 then runs over IPv6 (the
# tools' own exchange of QP numbers stays on IPv4).
use_ipv6() {
	must ip -n nsA addr add fd00::1/64 dev veth0 nodad
	must ip -n nsB addr add fd00::2/64 dev veth1 nodad
	wait_for 20 gid_index_prefix $DA fd00: || fail "$DA has no fd00:: GID"
	wait_for 20 gid_index_prefix $DB fd00: || fail "$DB has no fd00:: GID"
	GA=$(gid_index_prefix $DA fd00:)
	GB=$(gid_index_prefix $DB fd00:)
}

# link_pair NAME_A TYPE_A NAME_B TYPE_B: RDMA devices NAME_A (link type
# TYPE_A) on nsA/veth0 and NAME_B (TYPE_B) on nsB/veth1, up with their IPv4
# GIDs; sets DA and DB to the names, GA and GB to the GIDs' indices.
link_pair() {
	must ip netns exec nsA rdma link add "$1" type "$2" netdev veth0
	must ip netns exec nsB rdma link add "$3" type "$4" netdev veth1
	wait_for 20 gid_index "$1" 10.0.0.1 || fail "$1 has no IPv4 GID: $(gids "$1" | tr '\n' ' ')"
	wait_for 20 gid_index "$3" 10.0.0.2 || fail "$3 has no IPv4 GID: $(gids "$3" | tr '\n' ' ')"
	GA=$(gid_index "$1" 10.0.0.1)
	GB=$(gid_index "$3" 10.0.0.2)
	DA=$1 DB=$3
}

# Our devices rxe0 (nsA, 10.0.0.1) and rxe1 (nsB, 10.0.0.2) on a veth pair.
rxe_pair() {
	veth_pair
	load_ours "$@"
	link_pair rxe0 rxe rxe1 rxe
}

# Ours in nsA (mig0 on veth0, 10.0.0.1) and the C rdma_rxe in nsB (crxe1 on
# veth1, 10.0.0.2).
mixed_pair() {
	veth_pair
	load_ours link_type=rxe_migros
	must modprobe rdma_rxe
	link_pair mig0 rxe_migros crxe1 rxe
}

# After rxe_pair: the same veths, with ours as mig0 in nsA and the C
# rdma_rxe as crxe1 in nsB (link_pair's DA, DB, GA and GB).
to_mixed_pair() {
	must rdma link del rxe0
	must rdma link del rxe1
	must rmmod rxe_migros
	load_ours link_type=rxe_migros
	must modprobe rdma_rxe
	link_pair mig0 rxe_migros crxe1 rxe
}

# Swaps the roles of the two ends for pair_run and perf_run: the server
# runs in nsA and the client in nsB.
SERVER_NS=nsB CLIENT_NS=nsA SERVER_IP=10.0.0.2
swap_ends() {
	if [ $SERVER_NS = nsB ]; then
		SERVER_NS=nsA CLIENT_NS=nsB SERVER_IP=10.0.0.1
	else
		SERVER_NS=nsB CLIENT_NS=nsA SERVER_IP=10.0.0.2
	fi
}

# The device and GID index of the server's and the client's end.
ends() {
	if [ $SERVER_NS = nsB ]; then
		SD=$DB SG=$GB CD=$DA CG=$GA
	else
		SD=$DA SG=$GA CD=$DB CG=$GB
	fi
}

# The lines of a tool's output that tell why it failed (stderr comes
# before buffered stdout in the file), and its last lines, on one line.
failure_lines() {
	{ grep -iE 'error|fail|couldn|unable|status' "$1" | head -n 5; tail -n 3 "$1"; } | tr '\n' ' '
}

# client_server T GIDFLAG TOOL ARGS...: TOOL as server on the server's end
# (SERVER_NS) and as client on the other against it, each with -d DEVICE
# GIDFLAG INDEX, ARGS, and a timeout of T seconds. Fails the test with both
# outputs if either fails.
client_server() {
	t=$1 gflag=$2 tool=$3; shift 3
	ends
	ip netns exec $SERVER_NS timeout "$(scaled "$t")" $tool -d $SD $gflag "$SG" "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	# The client does not retry its connection: start it once the server
	# listens (the debug kernel of make check-debug can take seconds).
	wait_for 60 listening $SERVER_NS 18515
	ip netns exec $CLIENT_NS timeout "$(scaled "$t")" $tool -d $CD $gflag "$CG" "$@" $SERVER_IP >/tmp/cli.out 2>&1 &
	wait_pair $! $srv "$tool $*"
}

# listening NS PORT: whether a process in network namespace NS listens on
# TCP port PORT. The libibverbs examples and perftest (on 18515) and our
# checkers exchange their addresses over TCP and their clients do not
# retry a connection, so a client starts once its server listens.
listening() {
	ip netns exec "$1" ss -ltnH "sport = :$2" | grep -q .
}

# wait_pair CLIENT_PID SERVER_PID WHAT [CLIENT_OUT SERVER_OUT]: waits for
# a client and a server running in the background (output in /tmp/cli.out
# and /tmp/srv.out unless named); fails the test with both outputs if
# either fails.
wait_pair() {
	wait $1
	crc=$?
	wait $2
	src=$?
	if [ $crc != 0 ] || [ $src != 0 ]; then
		note "server ($src): $(failure_lines "${5:-/tmp/srv.out}")"
		note "client ($crc): $(failure_lines "${4:-/tmp/cli.out}")"
		fail "$3 failed"
	fi
}

# pair_run TOOL T ARGS...: a libibverbs example pair (-g for the GID) with
# a timeout of T seconds; prints the client's summary.
pair_run() {
	tool=$1 t=$2; shift 2
	client_server "$t" -g $tool "$@"
	note "$tool $*: $(grep -E 'bytes in|usec/iter' /tmp/cli.out | tail -n 1)"
}

# rping_run N ADDR: rping (rdma_cm) with -v, N pings: its server on the
# server's end (SERVER_NS) at ADDR, its client on the other; both must
# print every ping's data. Their stdout is line-buffered so that what they
# print on stderr cannot split a line.
rping_run() {
	n=$1 addr=$2
	ip netns exec $SERVER_NS timeout $(scaled 300) stdbuf -oL rping -s -a "$addr" -C "$n" -v -V >/tmp/srv.out 2>&1 &
	srv=$!
	sleep 2
	ip netns exec $CLIENT_NS timeout $(scaled 300) stdbuf -oL rping -c -a "$addr" -C "$n" -v -V >/tmp/cli.out 2>&1 &
	rping_check $! $srv "$n" "$addr"
}

# rping_check CLIENT SERVER N ADDR: the rping pair of pids CLIENT and
# SERVER (outputs /tmp/cli.out and /tmp/srv.out) exits 0 with all N pings
# printed by both.
rping_check() {
	n=$3 addr=$4
	wait_pair $1 $2 "rping -C $n to $addr"
	c=$(grep -o 'ping data: rdma-ping-[0-9]*' /tmp/cli.out | sort -u | wc -l)
	s=$(grep -o 'server ping data: rdma-ping-[0-9]*' /tmp/srv.out | sort -u | wc -l)
	[ "$c" = "$n" ] && [ "$s" = "$n" ] ||
		fail "rping to $addr: the client printed $c pings and the server $s, not $n: $(failure_lines /tmp/cli.out)"
	note "rping -v -V -C $n to $addr: $c pings, every one's data checked"
}

# lap: the seconds since the last lap in $secs. Not for a command
# substitution, whose subshell would keep the new start to itself.
t0=$(cut -d' ' -f1 /proc/uptime)
lap() {
	t1=$(cut -d' ' -f1 /proc/uptime)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
	t0=$t1
}

# perf_run TOOL ARGS...: a perftest pair (-x for the GID, -F) with a
# timeout of 400 s; prints the time taken and the last line of figures.
perf_run() {
	tool=$1; shift
	lap
	client_server 400 -x $tool -F "$@"
	lap
	note "$tool $* ($secs s): $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/cli.out)"
}

# Whether process $1 runs: it exists and is not a zombie (a dumped child
# of a shell that cannot reap it yet is one).
running() {
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$state" ] && [ "$state" != Z ]
}

# The port counter NAME of device DEV.
counter() { # DEV NAME
	cat "/sys/class/infiniband/$1/ports/1/hw_counters/$2"
}

# The counters of device DEV that are not 0, as NAME=VALUE on one line.
counters_set() {
	grep -v '^0$' /sys/class/infiniband/"$1"/ports/1/hw_counters/* 2>/dev/null |
		sed 's|.*/||; s|:|=|' | tr '\n' ' '
}

# start_transfer T ARGS...: ib_write_bw ARGS with its server in nsA (on
# DA, GID GA) and its client in nsB (on DB, GID GB, killed after T
# seconds), both in the background: srv and cli are their pids, their
# outputs /tmp/srv.out and /tmp/cli.out. Returns once the transfer is
# under way.
start_transfer() {
	limit=$1; shift
	ip netns exec nsA ib_write_bw -d $DA -x "$GA" "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
	ip netns exec nsB timeout "$limit" ib_write_bw -d $DB -x "$GB" "$@" 10.0.0.1 >/tmp/cli.out 2>&1 &
	cli=$!
	transfer_under_way
}

# stop_server: stops start_transfer's server $srv through the control
# device (migctl.py); fails the test with both ends' output if it cannot.
stop_server() {
	out=$(python3 "$SELFTESTS/migctl.py" stop "$srv" 2>&1) ||
		fail "stopping A: $out (A: $(failure_lines /tmp/srv.out); C: $(failure_lines /tmp/cli.out))"
}

# transfer_under_way: returns once the server $srv has a connected QP and
# $DA has received 300 packets since, so that a stop catches the
# transfer itself, not its set-up (other traffic may share $DA).
transfer_under_way() {
	wait_for 30 qp_connected "$srv" || fail "the server's QP never reached RTR: $(failure_lines /tmp/srv.out) $(failure_lines /tmp/cli.out)"
	base=$(counter $DA rcvd_pkts)
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/rcvd_pkts) -gt $((base + 300)) ]" ||
		fail "no transfer began: $(failure_lines /tmp/cli.out)"
}

# igmp_users NS DEV GROUP: how many hold IPv4 multicast group GROUP
# (dotted) on DEV in network namespace NS (the current one if empty), as
# /proc/net/igmp counts them; nothing if none.
igmp_users() {
	hex=$(printf '%02X' $(echo "$3" | tr . ' ' | awk '{ print $4, $3, $2, $1 }'))
	${1:+ip netns exec $1} cat /proc/net/igmp |
		awk -v dev="$2" -v g="$hex" '$3 == ":" { at = $2 } $1 == g && at == dev { print $2 }'
}

# qp_connected PID: PID owns a QP in RTR or RTS (perftest's servers stay
# in RTR), as `rdma resource` shows it.
qp_connected() {
	rdma resource show qp | grep " pid $1 " | grep -qE " state RT[RS] "
}

# dumpable_transfer ARGS...: like start_transfer, but the client runs in
# its own session, in nsB's network and our mount namespace, so that CRIU
# dumps it alone; no time limit. The tool is $PERF (ib_write_bw unless
# set).
dumpable_transfer() {
	tool=${PERF:-ib_write_bw}
	ip netns exec nsA $tool -d $DA -x "$GA" "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
	setsid nsenter --net=/run/netns/nsB $tool -d $DB -x "$GB" "$@" 10.0.0.1 >/tmp/cli.out 2>&1 &
	cli=$!
	transfer_under_way
}

# dumpable_pingpong TOOL ARGS...: a libibverbs example (-g for the GID)
# as dumpable_transfer runs perftest: its server in nsA (on DA; $srv,
# /tmp/srv.out), its client in nsB in its own session (on DB; $cli,
# /tmp/cli.out). Returns once the client is connected and $DA has
# received 300 packets since.
dumpable_pingpong() {
	tool=$1; shift
	ip netns exec nsA $tool -d $DA -g "$GA" "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 60 listening nsA 18515 || fail "the $tool server did not listen"
	setsid nsenter --net=/run/netns/nsB $tool -d $DB -g "$GB" "$@" 10.0.0.1 >/tmp/cli.out 2>&1 &
	cli=$! cli_out=/tmp/cli.out
	wait_for 30 qp_connected "$cli" || fail "the $tool client never connected: $(failure_lines /tmp/cli.out)"
	base=$(counter $DA rcvd_pkts)
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/rcvd_pkts) -gt $((base + 300)) ]" ||
		fail "the $tool run did not begin: $(failure_lines /tmp/cli.out)"
}

# The checkout, and where the CRIU plugin and the compatibility preload
# are in it (make plugin).
CHECKOUT=$(cd "$SELFTESTS/../.." && pwd)
CRIU_PLUGINS=$CHECKOUT/out/criu
CRIU_COMPAT=$CHECKOUT/out/criu-compat/sockopt.so

# criu_dump PID DIR ARGS...: stock CRIU dumps the process tree of PID into
# DIR (log /tmp/criu.log) with our plugin, from PID's network namespace,
# keeping its TCP connections (--tcp-established, locked with nftables);
# its status is CRIU's. PID must lead its own session (setsid).
criu_dump() {
	pid=$1 dir=$2; shift 2
	[ -f "$CRIU_PLUGINS/rxe_migros.so" ] || fail "no plugin in $CRIU_PLUGINS (make plugin)"
	mkdir -p "$dir"
	LD_PRELOAD=$CRIU_COMPAT nsenter --net=/proc/$pid/ns/net \
		criu dump -t "$pid" -D "$dir" --libdir "$CRIU_PLUGINS" --log-file /tmp/criu.log -v4 \
		--tcp-established --network-lock nftables "$@" >/dev/null 2>&1
}

# criu_why [LOG]: why a CRIU run failed, on one line: its errors and the
# last lines of its log (default /tmp/criu.log).
criu_why() {
	{ grep -m3 Error "${1:-/tmp/criu.log}"; echo "... last lines:"; tail -n 6 "${1:-/tmp/criu.log}"; } | tr '\n' ' '
}

# Host B for live migrations: nsH (veth2, 10.0.1.3, rxe2), a hop away
# from nsA through nsB (veth3, 10.0.1.2, forwarding), so that its RoCE
# traffic reaches nsA's veth0 as nsB's did. Needs rxe_pair.
host_b() {
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
}

# criu_migrate_to DEV IP LABEL: CRIU dumps the process tree of $cli (in
# nsB's network, its own session) into /tmp/img, and restores it on
# device DEV with RoCE address IP (criu_restore_to). A failed dump of a
# process that is gone says so, with the end of its output ($cli_out).
criu_migrate_to() {
	rm -rf /tmp/img
	if ! criu_dump $cli /tmp/img; then
		kill -0 $cli 2>/dev/null ||
			fail "$3: the process ended before or during its dump: ${cli_out:+$(failure_lines $cli_out) }(CRIU: $(grep -m2 Error /tmp/criu.log | tr '\n' ' '))"
		fail "$3: criu dump failed: $(criu_why)"
	fi
	[ -n "${brief:-}" ] || note "$3: dump: $(plugin_lines)"
	kill -0 $cli 2>/dev/null && fail "$3: the dumped process still runs"
	criu_restore_to "$@"
}

# criu_restore_to DEV IP LABEL [DIR]: CRIU restores the images in DIR
# (/tmp/img) on device DEV with RoCE address IP, in nsB's network
# namespace, or $APP_NS's if set (so its TCP connections stay; log
# /tmp/restore.log); CRIU's
# status. Without DIR, the restored process must hold its own uverbs file,
# its MRs pinned and its QPs resumed. The plugin's lines become notes
# (unless $brief is set); LABEL names the migration in them.
criu_restore_to() {
	dev=$1 ip=$2 label=$3 dir=${4:-/tmp/img}
	RXE_MIGROS_DEVICE=$dev RXE_MIGROS_GID=$ip LD_PRELOAD=$CRIU_COMPAT \
		nsenter --net="/run/netns/${APP_NS:-nsB}" criu restore -D "$dir" -d --libdir "$CRIU_PLUGINS" \
		--log-file /tmp/restore.log -v4 --tcp-established >/dev/null 2>&1
	rc=$?
	[ $# -lt 4 ] || return $rc
	[ $rc = 0 ] ||
		fail "$label: criu restore failed: $(grep -E 'Error|rxe_migros' /tmp/restore.log | head -n 12 | tr '\n' ' ')"
	[ -n "${brief:-}" ] ||
		note "$label: restore: $(grep 'rxe_migros:' /tmp/restore.log | sed 's/^([ 0-9.]*) *//' | tr '\n' ';')"
	kill -0 $cli 2>/dev/null ||
		fail "$label: no restored process (pid $cli)${cli_out:+: $(failure_lines $cli_out)}; the restore's last lines: $(tail -n 4 /tmp/restore.log | tr '\n' ' ')"
	grep -q 'rxe_migros: .*MRs pinned, [1-9][0-9]* QPs resumed' /tmp/restore.log ||
		fail "$label: the plugin adopted and resumed nothing"
	# The restored process holds its own files, not the plugin's.
	fds=$(ls -l /proc/$cli/fd | grep -c -e /dev/infiniband/uverbs -e /dev/rxe_migros)
	[ "$fds" = 1 ] || fail "$label: the restored process holds $fds uverbs and control files, not 1"
}

# integrity_start SRV_NS SRV_DEV SRV_GID CLI_NS CLI_DEV CLI_GID SRV_IP
# COUNT CLI_OUT: our integrity checker (integrity.py, port 18600, COUNT
# messages at most): its server in SRV_NS ($srv, output /tmp/isrv.out),
# its client in CLI_NS's network and its own session ($cli, output
# CLI_OUT). Returns once the server's device has received 200 packets.
integrity_start() {
	integrity="python3 $SELFTESTS/integrity.py" icli_out=$9
	ip netns exec "$1" $integrity server "$2" "$3" 18600 "$8" >/tmp/isrv.out 2>&1 &
	srv=$!
	wait_for 30 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the checker's server opened no device"
	setsid nsenter --net="/run/netns/$4" $integrity client "$5" "$6" "$7" 18600 "$8" \
		</dev/null >"$icli_out" 2>&1 &
	cli=$!
	sent=$(counter "$2" rcvd_pkts)
	wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/$2/ports/1/hw_counters/rcvd_pkts) -gt $((sent + 200)) ]" ||
		fail "the checker did not begin: $(failure_lines "$icli_out")"
}

# integrity_end: ends integrity_start's run (the client must be in this
# guest): the client sends its end mark, and the server checks that every
# message before it arrived; both must count the same.
integrity_end() {
	kill -USR1 $cli
	wait_for 120 sh -c "! kill -0 $cli 2>/dev/null" || fail "the checker's client did not finish"
	wait $srv || fail "the checker's server failed: $(failure_lines /tmp/isrv.out)"
	sent=$(sed -n 's/^verified \([0-9]*\) messages$/\1/p' "$icli_out")
	[ -n "$sent" ] || fail "the checker's client failed: $(failure_lines "$icli_out")"
	grep -q "^verified $sent messages$" /tmp/isrv.out ||
		fail "the server's count differs: $(cat /tmp/isrv.out)"
	note "client and server verified $sent messages"
}

# The RDMA objects of device $1 (pd, cq, qp, mr, ctx counts), as `rdma
# resource` shows them.
rdma_objects() {
	rdma resource show | grep " $1: " | grep -o -E '(pd|cq|qp|mr|ctx) [0-9]+' | tr '\n' ' '
}

# The plugin's lines of the CRIU log, on one line.
plugin_lines() {
	grep 'rxe_migros:' /tmp/criu.log | sed 's/^([ 0-9.]*) *//' | tr '\n' ';'
}

# Cross-VM tests (a "# vms: N" line: selftests/run.sh in a group of
# guests booted by tools/vms-run.sh). The guests are a, b, c..., each
# with its address 10.9.0.K on its br0, a bridge with its port eth0 on
# the segment that joins them; every guest serves the others
# (remote.py). The test runs in guest a.

# The segment address of guest $1.
vm_addr() {
	echo "10.9.0.$(($(printf %d "'$1") - 96))"
}

# on GUEST COMMAND: the sh command line COMMAND in guest GUEST, in the
# selftests' directory, with these helpers; its output and status.
on() {
	g=$1
	shift
	if [ "$g" = "${RXE_MIGROS_VM:-a}" ]; then
		(cd "$SELFTESTS" && SELFTESTS= sh -c ". ./lib.sh; $*")
	else
		python3 "$SELFTESTS/remote.py" run "$(vm_addr "$g")" \
			"RXE_MIGROS_SLOW=${RXE_MIGROS_SLOW:-1}; . ./lib.sh; $*"
	fi
}

# vm_roce [PARAM...]: (in a guest) loads our driver with PARAMs and
# makes the guest's own RoCE device, rxe0 on br0, with its address.
vm_roce() {
	load_ours "$@"
	must rdma link add rxe0 type rxe netdev br0
	addr=$(ip -4 -o addr show br0 | awk '{ print $4 }' | cut -d/ -f1)
	wait_for 20 gid_index rxe0 "$addr" || fail "rxe0 has no GID for $addr: $(gids rxe0 | tr '\n' ' ')"
}

# vm_ns NS ADDR MAC: (in a guest) network namespace NS on the segment:
# its eth0, with MAC and ADDR/24, is a veth whose other end (v-NS) is a
# port of br0.
vm_ns() {
	must ip netns add "$1"
	must ip link add "v-$1" type veth peer name eth0 netns "$1"
	must ip -n "$1" link set eth0 address "$3"
	must ip -n "$1" addr add "$2/24" dev eth0
	must ip -n "$1" link set lo up
	must ip -n "$1" link set eth0 up
	must ip link set "v-$1" master br0 up
}

# The application's network namespace, nsC, a container's: what runs
# in it moves between guests with its address and MAC.
APP_IP=10.9.0.100 APP_MAC=02:00:00:00:00:64

# app_ns_here: (in a guest) nsC arrives here: made again with the
# application's address and MAC, and announced by a gratuitous ARP so
# that the segment and the partner's bridge learn where it went.
app_ns_here() {
	vm_ns nsC $APP_IP $APP_MAC
	must ip netns exec nsC busybox arping -U -c 1 -I eth0 $APP_IP
}

# vm_setup [PARAM...]: (in guest a) our driver with PARAMs and rxe0 in
# guests a and b; the partner in nsP on guest a (10.9.0.10, rxeP on its
# eth0, GID index GP); nsC, the container's network, on guest a (GA: the
# index of rxe0's GID there); /tmp/app for the application's files. The
# pids of what starts next are taken far above guest b's own: CRIU
# restores a process with its pid (a container would have a pid namespace
# of its own).
vm_setup() {
	vm_roce "$@"
	out=$(on b vm_roce "$@") || fail "guest b: $out"
	vm_ns nsP 10.9.0.10 02:00:00:00:00:0a
	must ip netns exec nsP rdma link add rxeP type rxe netdev eth0
	wait_for 20 gid_index rxeP 10.9.0.10 || fail "rxeP has no GID"
	GP=$(gid_index rxeP 10.9.0.10) GA=$(gid_index rxe0 10.9.0.1)
	vm_ns nsC $APP_IP $APP_MAC
	mkdir -p /tmp/app
	echo 30000 >/proc/sys/kernel/ns_last_pid
}

# vm_migrate FROM TO LABEL: CRIU moves the process tree of $cli, in nsC
# on guest FROM (its own session), to guest TO, where it resumes on TO's
# rxe0 from TO's address. The image crosses the segment: the memory
# through CRIU's page server on TO, the rest of the images and the
# application's files (/tmp/app, where its output goes) by remote.py
# put. nsC moves too: FROM deletes it, TO makes it again with the same
# address and MAC and announces it with a gratuitous ARP. The
# restore's checks are criu_restore_to's; the log stays on TO.
vm_migrate() {
	from=$1 to=$2 label=$3 dst=$(vm_addr "$2")
	out=$(on "$to" "rm -rf /tmp/img /tmp/app && mkdir -p /tmp/img && criu page-server -D /tmp/img --address $dst --port 27000 -d -o /tmp/page-server.log -v4 </dev/null >/dev/null 2>&1") ||
		fail "$label: no page server on $to: $out"
	out=$(on "$from" "rm -rf /tmp/img /tmp/criu.log
		criu_dump $cli /tmp/img --page-server --address $dst --port 27000 || { mkdir -p ../../out/selftests; cp /tmp/criu.log ../../out/selftests/criu-dump-failed.log; fail \"criu dump failed (its log: out/selftests/criu-dump-failed.log): \$(criu_why)\"; }
		[ -n '${brief:-}' ] || note \"dump: \$(plugin_lines)\"
		running $cli && fail 'the dumped process still runs'
		must python3 remote.py put $dst /tmp/img /tmp/img
		note \"image: \$out\"
		must python3 remote.py put $dst /tmp/app /tmp/app
		rm -rf /tmp/img /tmp/app
		ip netns del nsC") || fail "$label: on $from: $out"
	[ -n "${brief:-}" ] && out=$(echo "$out" | grep image:)
	[ -z "$out" ] || echo "$out" | sed "s/^# /# $label: /"
	out=$(on "$to" "app_ns_here
		cli=$cli brief=${brief:-} APP_NS=nsC criu_restore_to rxe0 $dst '$label'") ||
		fail "$label: on $to: $out"
	[ -z "$out" ] || echo "$out"
}

# Podman in a guest (podman_setup), as a user sets it up for our plugin
# (docs/criu.md, "Podman"), in $PODMAN_DIR; pod runs podman with it.
PODMAN_DIR=/run/rxe_migros-podman
pod() {
	CONTAINERS_CONF=$PODMAN_DIR/containers.conf CONTAINERS_STORAGE_CONF=$PODMAN_DIR/storage.conf \
		PATH=$PODMAN_DIR/bin:$PATH podman "$@"
}

# podman_setup GID [IMAGE]: (in a guest) podman whose CRIU loads our plugin from
# CRIU's own plugin directory, with the compatibility preload and the
# nftables network lock (a wrapper first on PATH: podman hands the runtime
# no other environment), and restores onto rxe0 with RoCE address GID
# (conmon's environment, which the runtime and so CRIU inherit on a
# restore). Storage is vfs: overlayfs needs xattrs, which our guest's
# tmpfs lacks. The image localhost/rdma-tools holds ib_write_bw, librxe
# and the libraries they need, nothing else; it is built here, or loaded
# from IMAGE (`podman save` of another guest's: a restore needs the very
# image, and every import makes a new one).
podman_setup() {
	d=$PODMAN_DIR
	[ -f "$CRIU_PLUGINS/rxe_migros.so" ] || fail "no plugin in $CRIU_PLUGINS (make plugin)"
	mkdir -p $d/bin
	mountpoint -q /usr/lib/criu || must mount --bind "$CRIU_PLUGINS" /usr/lib/criu
	printf '#!/bin/sh\nexport LD_PRELOAD=%s CRIU_CONFIG_FILE=%s\nexec /usr/sbin/criu "$@"\n' \
		"$CRIU_COMPAT" $d/criu.conf >$d/bin/criu
	chmod +x $d/bin/criu
	echo 'network-lock nftables' >$d/criu.conf
	printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' \
		>$d/storage.conf
	cat >$d/containers.conf <<-END
	[engine]
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	conmon_env_vars = ["PATH=$d/bin:/usr/sbin:/usr/bin:/sbin:/bin", "RXE_MIGROS_DEVICE=rxe0", "RXE_MIGROS_GID=$1"]
	END
	if [ -n "${2:-}" ]; then
		out=$(pod load -i "$2" 2>&1) || fail "podman load: $out"
		return
	fi
	r=$d/image
	rm -rf $r && mkdir -p $r/etc/libibverbs.d $r/tmp $r/dev $r/proc $r/sys
	for f in $(for b in /usr/bin/ib_write_bw /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so; do
		echo $b; ldd $b | grep -o '/[^ ]*'; done | sort -u); do
		mkdir -p $r$(dirname $f) && cp -L $f $r$f || fail "cannot copy $f into the image"
	done
	cp /etc/libibverbs.d/rxe.driver $r/etc/libibverbs.d/
	tar -C $r -cf $d/image.tar . || fail "cannot pack the image"
	out=$(pod import $d/image.tar localhost/rdma-tools 2>&1) || fail "podman import: $out"
}

# pod_why NAME: why podman's CRIU failed, from its log NAME (dump.log,
# restore.log) of the one container, which is kept as
# out/selftests/podman-NAME.
pod_why() {
	log=$(find /var/lib/containers -name "$1" | head -n 1)
	[ -n "$log" ] || { echo "(CRIU left no $1)"; return; }
	mkdir -p "$CHECKOUT/out/selftests" && cp "$log" "$CHECKOUT/out/selftests/podman-$1"
	echo "$(criu_why "$log") (the log: out/selftests/podman-$1)"
}
