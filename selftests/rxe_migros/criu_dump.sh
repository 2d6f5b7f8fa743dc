#!/bin/sh
# Stock CRIU with our plugin dumps a running ib_write_bw client, leaving it
# running (-R): the plugin stops its QP, writes an image of its uverbs file
# (context, PD, MR, CQ, QP with the numbers the tool printed) and of its
# event file, and resumes it in place; the transfer completes. A damaged
# or truncated image is refused by the reader (image.py). Then the same for
# ibv_rc_pingpong -e (a completion channel) and ibv_ud_pingpong (a UD QP
# and its address handle).
# timeout: 480
# cost: 180
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
here=$(dirname "$0")

# 60 s (more on a slow kernel): CRIU itself takes 10 s and more to start
# under TCG on a busy machine, and the transfer must still run when it
# seizes the client.
args="-s 16384 -D $(scaled 60) -F"
dumpable_transfer $args

rm -rf /tmp/img
kill -0 $cli 2>/dev/null || fail "the transfer ended before its dump: $(failure_lines /tmp/cli.out)"
criu_dump $cli /tmp/img -R || fail "criu dump failed: $(criu_why)"
note "$(plugin_lines)"
grep -q 'rxe_migros: .*1 QPs resumed in place' /tmp/criu.log || fail "the plugin resumed no QP"

set -- /tmp/img/rxe_migros-*.img
[ $# = 2 ] || fail "$# rxe_migros images, not 2 (a uverbs file and its event file): $*"
python3 "$here/image.py" "$1" >/tmp/img1.txt 2>&1 || fail "$(cat /tmp/img1.txt)"
python3 "$here/image.py" "$2" >/tmp/img2.txt 2>&1 || fail "$(cat /tmp/img2.txt)"
cat /tmp/img1.txt /tmp/img2.txt | sed 's/^/# /'

# A damaged image, and a truncated one, are refused.
# (Byte 100's bits are flipped: writing a fixed value there leaves the
# image intact whenever that byte already held it.)
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 0xff; open(sys.argv[2], "wb").write(b)' "$1" /tmp/bad.img
cmp -s "$1" /tmp/bad.img && fail "the damaged copy equals the image"
must_fail python3 "$here/image.py" /tmp/bad.img
head -c 1000 "$1" >/tmp/bad.img
must_fail python3 "$here/image.py" /tmp/bad.img

wait_pair $cli $srv "the transfer across the dump"
note "ib_write_bw $args: $(awk '$1 ~ /^[0-9]+$/ { last = $0 } END { print last }' /tmp/cli.out)"

# The numbers ib_write_bw printed for its side and its partner's (its
# stdout is a file, written out when it exits).
field() { sed -n "s/^ *$1 address:.* $2 \(0x[0-9a-f]*\).*/\1/p" /tmp/cli.out | head -n1; }
qpn=$(field local QPN) rkey=$(field local RKey) va=$(field local VAddr) peer=$(field remote QPN)
[ -n "$qpn" ] && [ -n "$peer" ] || fail "no addresses in the client's output: $(head -c 300 /tmp/cli.out)"
img=$(cat /tmp/img1.txt /tmp/img2.txt)
get() { echo "$img" | sed -n "s/^$1 .*$2=\([^ ]*\).*/\1/p" | head -n1; }
[ "$(get qp qpn)" = "$(printf '%#x' $qpn)" ] || fail "the QP's number is $(get qp qpn), ib_write_bw said $qpn"
[ "$(get qp dest_qpn)" = "$(printf '%#x' $peer)" ] || fail "the QP's partner is $(get qp dest_qpn), not $peer"
[ "$(get qp state)" = RTS ] || fail "the QP is in $(get qp state), not RTS"
[ "$(get mr rkey)" = "$(printf '%#x' $rkey)" ] || fail "the MR's rkey is $(get mr rkey), ib_write_bw said $rkey"
start=$(get mr start) length=$(get mr length)
[ $((start <= va && va < start + length)) = 1 ] || fail "the MR ($start, $length bytes) does not hold VAddr $va"
[ "$(get context cookie)" = "$(get event_file context)" ] || fail "the event file names another context"

# pingpong TOOL WANT ARGS...: dumps TOOL's server mid-run, whose images
# must hold the records WANT names (an egrep of image.py's lines).
pingpong() {
	tool=$1 want=$2; shift 2
	setsid nsenter --net=/run/netns/nsA $tool -d $DA -g $GA "$@" >/tmp/srv.out 2>&1 &
	srv=$!
	wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "$tool opened no device"
	ip netns exec nsB timeout $(scaled 200) $tool -d $DB -g $GB "$@" 10.0.0.1 >/tmp/cli.out 2>&1 &
	cli=$!
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/rcvd_pkts) -gt 300 ]" ||
		fail "$tool did not begin: $(failure_lines /tmp/cli.out)"
	rm -rf /tmp/img
	criu_dump $srv /tmp/img -R || fail "criu dump of $tool failed: $(criu_why)"
	lines=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$here/image.py" "$f" || echo "refused $f"; done)
	echo "$lines" | grep -q refused && fail "an image of $tool was refused: $lines"
	n=$(echo "$lines" | grep -cE "$want")
	[ "$n" = "$(echo "$want" | tr '|' '\n' | wc -l)" ] ||
		fail "the images of $tool lack one of '$want': $(echo "$lines" | cut -c1-90 | tr '\n' ';')"
	note "$tool $*: $(echo "$lines" | cut -d' ' -f1-3 | tr '\n' ';')"
	wait_pair $cli $srv "$tool across the dump"
}

pingpong ibv_rc_pingpong "^cq .*channel=1 |^event_file .*channel=1$|^qp .*type=RC" -e -n 4000 -s 1024 -c
pingpong ibv_ud_pingpong "^ah |^qp .*type=UD" -n 4000 -s 1024 -c
