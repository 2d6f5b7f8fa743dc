#!/bin/sh
# Measures rxe_migros against the C rdma_rxe in the same boot (run inside
# the VM: `make bench`). Each round loads one driver, creates a device on
# each end of a veth pair between two namespaces, runs every case with
# perftest, and unloads it; the drivers alternate over the rounds. Prints
# the median of each case per driver and the ratio ours/C.
#
# Cases: ib_send_lat at 64 B, ib_write_bw at 64 KiB, ib_read_lat at 4 KiB.
# Latencies are typical microseconds (lower is better); bandwidth is
# average MB/s (higher is better). A case a driver cannot run yet shows
# "fail", with the tool's complaint in the notes below the table.
#
# Then, per driver, sharing: ibv_rc_pingpong's latency (64 B) alone, and
# while ib_read_bw moves READs of SHARE_READ bytes (16 MiB, 12 of them, by
# default; 5, perftest's fewest, when larger) between the same two devices
# on another QP. A responder that sent a whole READ in one go would hold
# the other QP's packets behind it for seconds. 1 GiB READs (perftest
# gives each end a buffer of twice the message: 4 GiB in the guest, which
# a 4 GiB guest cannot hold; about half an hour per driver under TCG),
# without the other cases:
#   VM_MEM=8192 tools/vm-run.sh --timeout 7200 -- \
#       env SHARE_READ=1073741824 ROUNDS=0 bench/run.sh
# (SHARE_DRIVERS=ours for ours alone).
. "$(dirname "$0")/../selftests/rxe_migros/lib.sh"
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-500}
GID=1 # the IPv4-mapped GID of each device: RoCEv2 over IPv4
OUT=$(mktemp -d)

# load DRIVER: "c" or "ours"; creates rxe0 on veth0 (nsA), rxe1 on veth1.
load() {
	case $1 in
	c) modprobe rdma_rxe ;;
	ours) modprobe rxe_migros ;;
	esac || return 1
	ip netns exec nsA rdma link add rxe0 type rxe netdev veth0 &&
		ip netns exec nsB rdma link add rxe1 type rxe netdev veth1
	# The GID table fills in from the addresses in the background.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -e /sys/class/infiniband/rxe1/ports/1/gids/$GID ] &&
			grep -q ffff /sys/class/infiniband/rxe1/ports/1/gids/$GID && break
		sleep 1
	done
}

unload() {
	rdma link del rxe0 2>/dev/null
	rdma link del rxe1 2>/dev/null
	rmmod rdma_rxe 2>/dev/null
	rmmod rxe_migros 2>/dev/null
}

# run CASE TOOL SIZE: prints the figure, or "fail".
run() {
	name=$1 tool=$2 size=$3
	log=$OUT/$name.$driver.$round
	ip netns exec nsB timeout 120 $tool -d rxe1 -x $GID -s $size -n $ITERS -F \
		>$log.server 2>&1 &
	srv=$!
	sleep 2
	ip netns exec nsA timeout 120 $tool -d rxe0 -x $GID -s $size -n $ITERS -F 10.0.0.2 \
		>$log 2>&1
	rc=$?
	wait $srv
	if [ $rc -ne 0 ]; then
		echo fail
		return
	fi
	case $tool in
	# #bytes #iterations t_min t_max t_typical ...
	*_lat) awk -v s=$size '$1 == s { print $5; exit }' $log ;;
	# #bytes #iterations BW_peak BW_average MsgRate
	*_bw) awk -v s=$size '$1 == s { print $4; exit }' $log ;;
	esac
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "fail"; else print v[int((NR + 1) / 2)] }'
}

# pingpong: ibv_rc_pingpong's usec/iter (64 B, PP_ITERS round trips).
PP_ITERS=${PP_ITERS:-300}
pingpong() {
	ip netns exec nsB timeout 120 ibv_rc_pingpong -d rxe1 -g $GID -p 18600 -s 64 -n $PP_ITERS \
		>/dev/null 2>&1 &
	pp=$!
	sleep 1
	ip netns exec nsA timeout 120 ibv_rc_pingpong -d rxe0 -g $GID -p 18600 -s 64 -n $PP_ITERS \
		10.0.0.2 2>&1 | awk '/usec\/iter/ { print $(NF-1) }'
	wait $pp
}

# share DRIVER: one table row: pingpong alone, beside READs, the factor,
# and the READs' MB/s.
SHARE_READ=${SHARE_READ:-16777216}
share_n=12 share_t=300
if [ "$SHARE_READ" -gt 16777216 ]; then
	# perftest's fewest (5), at 2 MB/s or more under TCG.
	share_n=5 share_t=$((SHARE_READ * 5 / 2000000 + 300))
fi
share() {
	idle=$(pingpong)
	log=$OUT/share.$1
	ip netns exec nsB timeout $share_t ib_read_bw -d rxe1 -x $GID -s $SHARE_READ -n $share_n -F \
		>$log.server 2>&1 &
	srv=$!
	sleep 2
	ip netns exec nsA timeout $share_t ib_read_bw -d rxe0 -x $GID -s $SHARE_READ -n $share_n -F \
		10.0.0.2 >$log 2>&1 &
	cli=$!
	sleep 4
	busy=$(pingpong)
	wait $cli
	wait $srv
	mbs=$(awk -v s=$SHARE_READ '$1 == s { print $4; exit }' $log)
	if [ -z "$mbs" ]; then
		echo "note: ib_read_bw of $SHARE_READ bytes with $1 failed:" >&2
		tail -n 4 $log $log.server | sed 's/^/#   /' >&2
	fi
	factor=$(awk -v b="${busy:-0}" -v i="${idle:-0}" 'BEGIN { if (i > 0 && b > 0) printf "%.1f", b / i; else print "n/a" }')
	label=rxe_migros
	[ "$1" = c ] && label="C rdma_rxe"
	echo "| $label | ${idle:-fail} | ${busy:-fail} | $factor | ${mbs:-fail} |"
}

veth_pair
CASES="send_lat:ib_send_lat:64 write_bw:ib_write_bw:65536 read_lat:ib_read_lat:4096"
round=1
while [ $round -le $ROUNDS ]; do
	for driver in c ours; do
		unload
		if ! load $driver; then
			echo "# round $round: cannot load $driver" >&2
			continue
		fi
		for c in $CASES; do
			IFS=: read -r name tool size <<-EOC
				$c
			EOC
			echo "$(run $name $tool $size)" >>$OUT/$name.$driver
		done
		unload
	done
	round=$((round + 1))
done

printf '| case | C rdma_rxe | rxe_migros | ours/C |\n|---|---|---|---|\n'
for c in $CASES; do
	name=${c%%:*}
	cm=$(grep -v fail $OUT/$name.c 2>/dev/null | median)
	om=$(grep -v fail $OUT/$name.ours 2>/dev/null | median)
	ratio=n/a
	if [ "$cm" != fail ] && [ "$om" != fail ]; then
		ratio=$(awk -v o=$om -v c=$cm 'BEGIN { printf "%.2f", o / c }')
	fi
	unit=us
	case $name in *_bw) unit=MB/s ;; esac
	echo "| $name ($unit) | $cm | $om | $ratio |"
done
echo
echo "rounds: $ROUNDS, iterations per case: $ITERS"
echo
printf '| sharing | pingpong alone (us/iter) | beside %s-byte READs (us/iter) | factor | READ MB/s |\n|---|---|---|---|---|\n' "$SHARE_READ"
for driver in ${SHARE_DRIVERS:-c ours}; do
	unload
	load $driver || continue
	share $driver
	unload
done
for f in $OUT/*.ours.1; do
	[ -e "$f" ] || continue
	grep -q -i -E 'fail|error|couldn' "$f" &&
		echo "note: $(basename "$f" .ours.1) with rxe_migros: $(grep -i -m1 -E 'fail|error|couldn' "$f")"
done
exit 0
