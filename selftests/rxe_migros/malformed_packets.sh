#!/bin/sh
# Bad RoCEv2 packets from the network are dropped and counted, each kind in
# its own hw_counter, and never hurt the receiver; a well-formed packet for a
# QP the device lacks is counted apart, and so are packets with another
# P_Key and packets to an address of the host that is not the device's.
# Over IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"

C=/sys/class/infiniband/rxe0/ports/1/hw_counters

veth_pair
ip -n nsA addr add fd00::1/64 dev veth0 nodad
ip -n nsB addr add fd00::2/64 dev veth1 nodad
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
[ -d $C ] || fail "no hw_counters for rxe0"

# An address of nsA's that is not the device's: the socket takes datagrams
# for it (it is local), the device must not (the C rxe's rxe_chk_dgid).
ip -n nsA addr add 10.0.9.1/32 dev lo
ip -n nsB route add 10.0.9.1/32 via 10.0.0.1

# Each line: case, count, then how much rcvd_malformed, rcvd_bad_icrc,
# rcvd_no_dest, rcvd_bad_pkey, rcvd_bad_addr and rcvd_bad_resume grew;
# checked against what each case must move (none moves rcvd_bad_resume).
inject() {
	python3 "$(dirname "$0")/inject.py" --netns nsB --counters $C "$@" ||
		fail "inject.py $* failed"
}
cases="good:5 truncated:5 opcode:5 version:5 pad:5 icrc:5 pkey:5 udmove1:5"
out=$( (inject 10.0.0.2 10.0.0.1 $cases noise:300; inject fd00::2 fd00::1 $cases
	inject 10.0.0.2 10.0.9.1 good:5 | sed 's/^good/elsewhere/') 2>&1)
echo "$out" | sed 's/^/# /'
echo "$out" | while read -r case n m i d p a r; do
	m=${m#*+} i=${i#*+} d=${d#*+} p=${p#*+} a=${a#*+} r=${r#*+}
	[ "$r" = 0 ] || echo "$case: rcvd_bad_resume moved by $r"
	case $case in
	good) want="0 0 $n 0 0" ;;
	icrc) want="0 $n 0 0 0" ;;
	pkey) want="0 0 0 $n 0" ;;
	elsewhere) want="0 0 0 0 $n" ;;
	# Noise gets a right ICRC: now and then it is a well-formed packet.
	noise) [ $((m + i + d + p + a)) -eq "$n" ] || echo "noise: $m + $i + $d + $p + $a != $n"; continue ;;
	*) want="$n 0 0 0 0" ;;
	esac
	[ "$m $i $d $p $a" = "$want" ] || echo "$case: got $m $i $d $p $a, want $want"
done | grep . && fail "counters moved wrongly"

# Each kind of drop is logged once, not once per packet.
n=$(dmesg | grep -c "rxe0: dropped a bad RoCEv2 packet")
[ "$n" -eq 2 ] || fail "expected 2 drop log lines (malformed, bad ICRC), got $n"
n=$(dmesg | grep -c "rxe0: dropped a packet from .* to .* (")
[ "$n" -eq 2 ] || fail "expected 2 drop log lines (P_Key, address), got $n"
# The C rxe keeps the P_Key drops in the port's bad_pkey_cntr.
bad=$(python3 -c "from pyverbs.device import Context; print(Context(name='rxe0').query_port(1).bad_pkey_cntr)")
[ "$bad" = "$(cat $C/rcvd_bad_pkey)" ] || fail "bad_pkey_cntr $bad, rcvd_bad_pkey $(cat $C/rcvd_bad_pkey)"
# The C rxe's counters are there too, by their names.
for c in sent_pkts rcvd_pkts duplicate_request retry_exceeded_err rcvd_bytes; do
	[ -e $C/$c ] || fail "hw_counters/$c missing"
done
[ "$(cat $C/rcvd_pkts)" -eq 0 ] || fail "rcvd_pkts counted dropped packets"

must rdma link del rxe0
must rmmod rxe_migros
