#!/bin/sh
# Forged RESUMEs from an off-path host on the segment (docs/security.md,
# docs/migration.md "Authenticating RESUME"): nsA, nsB and the attacker
# nsX share one L2 segment that floods every frame, so nsX captures the
# traffic of ibv_rc_pingpong -c between the client in nsA and the server
# in nsB, reads the PSN of a request to the server's QP, and sends it:
# RESUMEs with that PSN naming its own address (with a guessed token),
# RESUMEs without a payload from its own address, RESUMEs from the client's
# address naming its own, token requests, and RC SENDs and WRITEs with the
# captured PSNs from a spoofed address. Every RESUME is refused and counted
# in rcvd_bad_resume (one log line), the rest in rcvd_bad_addr; the dump
# of the server's QP, taken mid-run through the control device, still
# names the client's address and QP (and shows that the QP holds the
# client's token, fetched by that very stop); the pingpong completes with
# its data checked. Before it runs our integrity checker, whose address
# exchange (region address and rkey) the attacker also captures: it aims
# 500 RDMA WRITEs with that rkey and the captured PSN at the server's READ
# sources, which nothing else writes; none lands (the checker compares
# them at the end).
# timeout: 900
# cost: 420
. "$(dirname "$0")/lib.sh"

C=/sys/class/infiniband/rxe1/ports/1/hw_counters
l2_with_attacker
load_ours
link_pair rxe0 rxe rxe1 rxe

# The integrity checker's server in nsB, the attacker listening for its
# address exchange, then its client in nsA. Its READ sources start at
# (32 receive slots + 64 WRITE slots) x 12 KiB into its region.
integrity="python3 $(dirname "$0")/integrity.py"
ip netns exec nsB timeout $(scaled 300) $integrity server rxe1 "$GB" 18600 3000 >/tmp/isrv.out 2>&1 &
isrv=$!
python3 "$(dirname "$0")/inject.py" --netns nsX --sniff veth9 --wire 18600:1179648 --gap 0.002 --window 32 \
	--counters $C 10.0.0.9 10.0.0.2 write:500 resume:100 >/tmp/iatt.out 2>&1 &
iatt=$!
wait_for 30 grep -q listening /tmp/iatt.out || fail "the attacker does not listen: $(cat /tmp/iatt.out)"
ip netns exec nsA timeout $(scaled 280) $integrity client rxe0 "$GA" 10.0.0.2 18600 3000 >/tmp/icli.out 2>&1 &
icli=$!
wait $iatt || fail "the attacker failed on the checker: $(cat /tmp/iatt.out)"
sed 's/^/# attacker, on the checker: /' /tmp/iatt.out
grep -q "^write 500 .*rcvd_bad_addr+500 " /tmp/iatt.out || fail "the forged WRITEs were not all dropped for their address"
grep -q "^resume 100 .*rcvd_bad_resume+100" /tmp/iatt.out || fail "the forged RESUMEs were not all refused"
# The checker ends before the pingpong begins: beside it, on the debug
# kernel, both ends of the pingpong ran out of retries on their first
# SEND (ibv_rc_pingpong's timeout 14 and retry_cnt 7 last about 0.5 s)
# while the checker's READ responses went through the segment's hub,
# which is Python.
wait_pair $icli $isrv "the integrity checker beside forged WRITEs" /tmp/icli.out /tmp/isrv.out
note "integrity checker: client $(cat /tmp/icli.out), server $(cat /tmp/isrv.out)"

ip netns exec nsB timeout $(scaled 700) stdbuf -oL ibv_rc_pingpong -d rxe1 -g "$GB" -n 30000 -s 64 -c >/tmp/srv.out 2>&1 &
srv=$!
wait_for 60 listening nsB 18515 || fail "the pingpong server did not listen: $(failure_lines /tmp/srv.out)"
ip netns exec nsA timeout $(scaled 700) ibv_rc_pingpong -d rxe0 -g "$GA" -n 30000 -s 64 -c 10.0.0.2 >/tmp/cli.out 2>&1 &
cli=$!
wait_for 20 grep -q 'remote address' /tmp/srv.out || fail "the server never connected: $(failure_lines /tmp/srv.out) (the client: $(failure_lines /tmp/cli.out))"
qpn=$(sed -n 's/.*local address: .*QPN \(0x[0-9a-f]*\).*/\1/p' /tmp/srv.out)
peer=$(sed -n 's/.*remote address: .*QPN \(0x[0-9a-f]*\).*/\1/p' /tmp/srv.out)
[ -n "$qpn" ] && [ -n "$peer" ] || fail "no QPNs in the server's output: $(cat /tmp/srv.out)"
note "server QP $qpn, client QP $peer"

# Which ends of the pingpong still run.
pingpong_alive() {
	for p in $srv $cli; do kill -0 $p 2>/dev/null && echo "$p runs" || echo "$p ended"; done | tr '\n' ' '
}

inject() {
	python3 "$(dirname "$0")/inject.py" --netns nsX --sniff veth9 --qpn "$qpn" --gap 0.001 --window 32 \
		--va 0x10000 --rkey 0x1234 --counters $C "$@" 2>&1 ||
		fail "inject.py $* failed (the pingpong's server: $(failure_lines /tmp/srv.out); its client: $(failure_lines /tmp/cli.out); $(pingpong_alive))"
}
resume0=$(cat $C/rcvd_bad_resume) addr0=$(cat $C/rcvd_bad_addr)
out=$(inject 10.0.0.9 10.0.0.2 resume:300 resume0:300 token:200)
echo "$out" | sed 's/^/# attacker: /'
# SENDs and WRITEs from a spoofed address, one of nobody on the segment.
out=$(inject 10.0.0.66 10.0.0.2 good:500 write:500)
echo "$out" | sed 's/^/# attacker, as 10.0.0.66: /'
out=$(inject --names 10.0.0.9 10.0.0.1 10.0.0.2 resume:300)
echo "$out" | sed 's/^/# attacker, as the client: /'
sleep 1
resumes=$(($(cat $C/rcvd_bad_resume) - resume0))
addr=$(($(cat $C/rcvd_bad_addr) - addr0))
note "forged: 900 RESUMEs, $resumes counted in rcvd_bad_resume; 1200 others, $addr in rcvd_bad_addr"
[ "$resumes" -eq 900 ] || fail "$resumes of 900 forged RESUMEs counted in rcvd_bad_resume"
[ "$addr" -eq 1200 ] || fail "$addr of 1200 forged packets counted in rcvd_bad_addr"
[ "$(dmesg | grep -c 'RESUME from .* refused')" -eq 1 ] ||
	fail "the forged RESUMEs were not logged exactly once: $(dmesg | grep -c 'RESUME from .* refused')"

# The server's QP still names the client, read back from its image.
pid=$(pgrep -f "^ibv_rc_pingpong -d rxe1") || fail "the server is gone: $(failure_lines /tmp/srv.out)"
paths=$(python3 "$(dirname "$0")/migctl.py" paths "$pid" 2>&1) || fail "migctl.py paths: $paths"
note "$paths"
echo "$paths" | grep -q "^QP $(printf '%#x' $qpn): partner 10.0.0.1 QP $(printf '%#x' $peer) speaks=1 token=1" ||
	fail "the server's QP does not name the client, or holds no token: $paths"

wait_pair $cli $srv "ibv_rc_pingpong -c beside forged RESUMEs"
note "ibv_rc_pingpong: $(grep -E 'bytes in' /tmp/cli.out | tail -n 1)"

must rdma link del rxe0
must rdma link del rxe1
must rmmod rxe_migros
