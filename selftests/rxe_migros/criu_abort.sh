#!/bin/sh
# Stock CRIU with our plugin, a dump that fails after the stop: criu dump
# of ib_write_bw's server mid-transfer. The plugin stops its QPs as CRIU
# seizes it; CRIU cannot complete the dump (the guest has no iptables for
# --tcp-established, and the plugin cannot dump a uverbs file yet); the
# plugin resumes the QPs in place, the partner leaves Paused, and the
# transfer completes.
# timeout: 300
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
plugins=$(cd "$(dirname "$0")/../.." && pwd)/out/criu
[ -f "$plugins/rxe_migros.so" ] || fail "no plugin at $plugins (make plugin)"

args="-s 16384 -D 30 -F"
start_transfer 200 $args
mkdir -p /tmp/img
if criu dump -t "$srv" -D /tmp/img --libdir "$plugins" --log-file /tmp/criu.log -v4 \
	--tcp-established >/dev/null 2>&1; then
	fail "criu dump succeeded"
fi
note "criu dump failed, as it must: $(grep -m1 'Error' /tmp/criu.log)"
grep -q 'rxe_migros: task [0-9]* fd [0-9]*: 1 QPs stopped' /tmp/criu.log ||
	fail "the plugin stopped no QP: $(grep -m3 rxe_migros /tmp/criu.log | tr '\n' ' ')"
grep -q 'rxe_migros: .*1 QPs resumed in place, 1 announcing' /tmp/criu.log ||
	fail "the plugin resumed no QP: $(grep -m3 rxe_migros /tmp/criu.log | tr '\n' ' ')"
note "$(grep 'rxe_migros:' /tmp/criu.log | sed 's/^.*rxe_migros/rxe_migros/' | tr '\n' ';')"

wait_pair $cli $srv "the transfer across the failed dump"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/cli.out)"
note "paused NAKs received by C: $(counter rxe1 paused_nak_rcvd), RESUMEs: $(counter rxe1 resume_rcvd)"
[ "$(counter rxe1 resume_rcvd)" -gt 0 ] || fail "C received no RESUME"
