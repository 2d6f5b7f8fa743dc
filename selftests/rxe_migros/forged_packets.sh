#!/bin/sh
# Off-path packets into a running RC connection (docs/security.md): while
# ibv_rc_pingpong -c runs between nsA and nsB, RC SENDs and RDMA WRITEs
# with the server QP's number and the PSNs it expects next, from a source
# address that is not its partner's (10.0.0.66, spoofed on a raw socket),
# are each dropped before the transport sees them and counted in
# hw_counters/rcvd_bad_addr, as the C rxe's check_addr drops them; the
# pingpong completes with its data checked. (Forged packets from the
# partner's own address are the PSN's to stop, as in the C rxe: RoCE has
# no other defence against them; see docs/security.md.)
# timeout: 240
# cost: 60
. "$(dirname "$0")/lib.sh"

C=/sys/class/infiniband/rxe0/ports/1/hw_counters
rxe_pair
swap_ends

ends
# On a slow (debug) kernel the forger takes longer to start: the pingpong
# lasts longer to match.
n=$(scaled 4000) t=$(scaled 120)
ip netns exec nsA timeout $t stdbuf -oL ibv_rc_pingpong -d $SD -g "$SG" -n $n -s 64 -c >/tmp/srv.out 2>&1 &
srv=$!
wait_for 60 listening nsA 18515 || fail "the pingpong server did not listen: $(failure_lines /tmp/srv.out)"
ip netns exec nsB timeout $t ibv_rc_pingpong -d $CD -g "$CG" -n $n -s 64 -c 10.0.0.1 >/tmp/cli.out 2>&1 &
cli=$!
wait_for 20 grep -q 'remote address' /tmp/srv.out || fail "the server never connected: $(failure_lines /tmp/srv.out) (the client: $(failure_lines /tmp/cli.out))"
# "local address:  LID 0x0000, QPN 0x000011, PSN 0x0a1b2c, GID ..." and the
# client's ("remote address") PSN, from which the server expects requests.
qpn=$(sed -n 's/.*local address: .*QPN \(0x[0-9a-f]*\).*/\1/p' /tmp/srv.out)
psn=$(sed -n 's/.*remote address: .*PSN \(0x[0-9a-f]*\).*/\1/p' /tmp/srv.out)
[ -n "$qpn" ] && [ -n "$psn" ] || fail "no QPN and PSN in the server's output: $(cat /tmp/srv.out)"
note "server QP $qpn, expecting PSNs from $psn"

before=$(cat $C/rcvd_bad_addr)
# 2,000 SENDs and 1,000 WRITEs, PSNs from the client's first on: many of them
# fall in the window the server expects while the pingpong runs.
out=$(python3 "$(dirname "$0")/inject.py" --netns nsB --qpn "$qpn" --psn "$psn" \
	--va 0x10000 --rkey 0x1234 10.0.0.66 10.0.0.1 good:2000 write:1000 2>&1) ||
	fail "inject.py failed: $out"
sleep 1
forged=$(($(cat $C/rcvd_bad_addr) - before))
note "forged: 3000 sent, $forged counted in rcvd_bad_addr"
# Packets for a QP that is gone are counted elsewhere (rcvd_no_dest).
[ "$forged" -eq 3000 ] || kill -0 $srv 2>/dev/null ||
	fail "the pingpong ended before the forged packets were all sent (the test's sizing, not the defence): $(failure_lines /tmp/srv.out)"
[ "$forged" -eq 3000 ] || fail "$forged of 3000 forged packets counted in rcvd_bad_addr"
dmesg | grep -q "QP $((qpn)): dropped a packet from 10.0.0.66 to 10.0.0.1, not its path" ||
	fail "no log line for the forged packets"
[ "$(dmesg | grep -c 'not its path')" -eq 1 ] || fail "the forged packets were logged more than once"
wait_pair $cli $srv "ibv_rc_pingpong -c beside forged packets"
note "ibv_rc_pingpong: $(grep -E 'bytes in' /tmp/cli.out | tail -n 1)"

must rdma link del rxe0
must rdma link del rxe1
must rmmod rxe_migros
