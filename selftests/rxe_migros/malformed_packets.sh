#!/bin/sh
# Bad RoCEv2 packets from the network are dropped and counted, each kind in
# its own hw_counter, and never hurt the receiver; a well-formed packet for a
# QP the device lacks is counted apart. Over IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"

C=/sys/class/infiniband/rxe0/ports/1/hw_counters

veth_pair
ip -n nsA addr add fd00::1/64 dev veth0 nodad
ip -n nsB addr add fd00::2/64 dev veth1 nodad
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
[ -d $C ] || fail "no hw_counters for rxe0"

# Each line: case, count, then how much rcvd_malformed, rcvd_bad_icrc and
# rcvd_no_dest grew; checked against what each case must move.
inject() {
	python3 "$(dirname "$0")/inject.py" --netns nsB --counters $C "$@" ||
		fail "inject.py $* failed"
}
cases="good:5 truncated:5 opcode:5 version:5 pad:5 icrc:5"
out=$( (inject 10.0.0.2 10.0.0.1 $cases noise:300; inject fd00::2 fd00::1 $cases) 2>&1)
echo "$out" | sed 's/^/# /'
echo "$out" | while read -r case n m i d; do
	m=${m#*+} i=${i#*+} d=${d#*+}
	case $case in
	good) want="0 0 $n" ;;
	icrc) want="0 $n 0" ;;
	# Noise gets a right ICRC: now and then it is a well-formed packet.
	noise) [ $((m + i + d)) -eq "$n" ] || echo "noise: $m + $i + $d != $n"; continue ;;
	*) want="$n 0 0" ;;
	esac
	[ "$m $i $d" = "$want" ] || echo "$case: got $m $i $d, want $want"
done | grep . && fail "counters moved wrongly"

# Each kind of drop is logged once, not once per packet.
n=$(dmesg | grep -c "rxe0: dropped a bad RoCEv2 packet")
[ "$n" -eq 2 ] || fail "expected 2 drop log lines (malformed, bad ICRC), got $n"
# The C rxe's counters are there too, by their names.
for c in sent_pkts rcvd_pkts duplicate_request retry_exceeded_err rcvd_bytes; do
	[ -e $C/$c ] || fail "hw_counters/$c missing"
done
[ "$(cat $C/rcvd_pkts)" -eq 0 ] || fail "rcvd_pkts counted dropped packets"

must rdma link del rxe0
must rmmod rxe_migros
