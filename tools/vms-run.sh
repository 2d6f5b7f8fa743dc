#!/bin/bash
# Boot N guests on one Ethernet segment and run a command in each.
#
#   vms-run.sh [--vms N] [--timeout SECONDS] -- COMMAND...
#
# Guests a, b, c... (N of them, default 2) each boot our kernel and rootfs
# as tools/vm-run.sh boots one, with their own writable state (tmpfs) and
# one more NIC, eth0, with MAC 52:54:00:00:01:0K (K = 1, 2, ...). The NICs
# are joined by tools/l2switch.py on the host's loopback. Every guest runs
# COMMAND in the checkout, with RXE_MIGROS_VM set to its name,
# RXE_MIGROS_VMS to N and RXE_MIGROS_ADDR to its address on the segment,
# 10.9.0.K (guest-init.sh gives it to br0): the command tells its role
# from them (in
# selftests/run.sh, guest a runs the tests and the others serve it).
#
# Guest a's console streams here; every guest's goes to out/vms/NAME.log.
# The status is guest a's. When a finishes, the others get 60 s to power
# off; a guest still running then, or any guest past the timeout, is
# killed, and the status says which (124) unless a already failed. A guest
# other than a that powers off without finishing its command, while a
# runs, is booted again (a test may power off a destination in the middle
# of a migration): its log says how many times.
. "$(dirname "$0")/common.sh"

n=2
timeout=1200
while [ $# -gt 0 ]; do
	case $1 in
	--vms) n=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || die "usage: vms-run.sh [--vms N] [--timeout S] -- COMMAND..."
[ "$n" -ge 2 ] && [ "$n" -le 9 ] || die "--vms takes 2 to 9 guests"

logs=$TOP/out/vms
mkdir -p "$logs"
ctl=$(mktemp -d /tmp/rxe_migros-vms.XXXXXX)
pids=()
# Each guest's loop leads its own process group, so that killing the
# group takes QEMU with it.
set -m
cleanup() {
	for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done
	[ -n "${switch:-}" ] && kill "$switch" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$ctl"
}
trap cleanup EXIT

python3 "$TOP/tools/l2switch.py" "$n" "$ctl/ports" 2>"$logs/l2switch.log" &
switch=$!
for _ in $(seq 50); do [ -s "$ctl/ports" ] && break; sleep 0.1; done
[ -s "$ctl/ports" ] || die "the L2 switch did not start: $(cat "$logs/l2switch.log")"
read -r sw ports <"$ctl/ports"
read -r -a ports <<<"$ports"

names=(a b c d e f g h i)
# guest K: boots guest K (0-based) once, its console into its log.
guest() {
	local k=$1 name=${names[$1]}
	shift
	"$TOP/tools/vm-run.sh" --timeout "$timeout" \
		--env "RXE_MIGROS_VM=$name" --env "RXE_MIGROS_VMS=$n" --env "RXE_MIGROS_ADDR=10.9.0.$((k + 1))" \
		--net "$sw:${ports[$k]}:52:54:00:00:01:0$((k + 1))" -- "$@"
}

start=$(date +%s)
for k in $(seq 1 $((n - 1))); do
	name=${names[$k]}
	(
		boots=0
		while :; do
			boots=$((boots + 1))
			echo "=== vms-run: guest $name, boot $boots"
			rc=0
			guest "$k" "$@" || rc=$?
			echo "=== vms-run: guest $name stopped with status $rc"
			# Powered off from inside (no status: vm-run.sh's 125) while
			# a runs and time is left: booted again.
			[ "$rc" = 125 ] || exit "$rc"
			[ -e "$ctl/a-done" ] && exit "$rc"
			[ $(($(date +%s) - start)) -lt "$timeout" ] || exit 124
			sleep 1
		done
	) >"$logs/$name.log" 2>&1 &
	pids+=($!)
done

guest 0 "$@" 2>&1 | tee "$logs/a.log"
rc=${PIPESTATUS[0]}
touch "$ctl/a-done"

# The others, given 60 s to finish.
k=1
for p in "${pids[@]}"; do
	name=${names[$k]}
	for _ in $(seq 60); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
	if kill -0 "$p" 2>/dev/null; then
		kill -- "-$p" 2>/dev/null
		echo "vms-run: guest $name did not power off after guest a finished; killed (log: out/vms/$name.log)" >&2
		[ "$rc" != 0 ] || rc=124
	fi
	k=$((k + 1))
done
exit "$rc"
