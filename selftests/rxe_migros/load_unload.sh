#!/bin/sh
# Loading registers the link type; unloading removes it cleanly, twice over.
. "$(dirname "$0")/lib.sh"

for round in 1 2; do
	load_ours
	[ -d /sys/module/rxe_migros ] || fail "round $round: /sys/module/rxe_migros missing after load"
	[ "$(cat /sys/module/rxe_migros/parameters/link_type)" = rxe ] ||
		fail "round $round: link_type is not rxe"
	must rmmod rxe_migros
	[ ! -d /sys/module/rxe_migros ] || fail "round $round: module still present after rmmod"
done
dmesg | grep -q "rxe_migros: loaded, rdma link type \"rxe\"" || fail "no load message in dmesg"
# A link type rdma link add could never name is refused.
must_fail modprobe rxe_migros link_type=
must_fail modprobe rxe_migros link_type=a_name_longer_than_ifnamsiz
[ ! -d /sys/module/rxe_migros ] || fail "module loaded with a bad link_type"
