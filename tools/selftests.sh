#!/bin/bash
# make selftests: the VM selftests in as many VMs side by side as the machine
# has cores (at most SHARDS, default 2), each running its share of the tests
# (selftests/run.sh --shard K/N). TCG runs a guest on one core, so two VMs on
# two cores take about half the time of one. The first VM's KTAP streams as
# it comes; the others' follow when they are done. Then the cross-VM tests
# run in a group of guests (tools/vms-run.sh); the totals close it.
#
#   selftests.sh [PATTERN]
. "$(dirname "$0")/common.sh"

pattern=${1:-}
max=${SHARDS:-2}
n=$(nproc)
[ "$n" -le "$max" ] || n=$max
timeout=${TIMEOUT:-3600}
logs=$TOP/out/selftests
mkdir -p "$logs"
rm -f "$logs"/shard-*.log

pids=()
for k in $(seq 2 "$n"); do
	"$TOP/tools/vm-run.sh" --timeout "$timeout" -- selftests/run.sh --shard "$k/$n" "$pattern" \
		>"$logs/shard-$k.log" 2>&1 &
	pids+=($!)
	# Let each guest start before the next one reads the same rootfs.
	sleep 2
done
"$TOP/tools/vm-run.sh" --timeout "$timeout" -- selftests/run.sh --shard "1/$n" "$pattern" 2>&1 |
	tee "$logs/shard-1.log" || true
for p in "${pids[@]}"; do
	wait "$p" || true
done

# The cross-VM tests ("# vms: N"), once the others are done: one group
# of as many guests as the largest of them needs (tools/vms-run.sh).
group=$(cd "$TOP/selftests" && ls rxe_migros/*.sh | grep -e "$pattern" | xargs sed -n 's/^# vms: //p' | sort -n | tail -n 1)
if [ -n "$group" ]; then
	echo "# the cross-VM tests, in $group guests on one segment"
	"$TOP/tools/vms-run.sh" --vms "$group" --timeout "$timeout" -- selftests/run.sh "$pattern" 2>&1 |
		tee "$logs/vms.log" || true
fi

# count LOG WHO: adds LOG's summary line to the totals; a log without one
# counts as a failure, with WHO named.
pass=0 fail=0
count() {
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1 || true)
	if [ -z "$line" ]; then
		echo "# $2 ended without a summary: $(tail -n 2 "$1" | tr '\n' ' ')"
		fail=$((fail + 1))
		return
	fi
	set -- $line
	pass=$((pass + $1)) fail=$((fail + $3))
}
[ -z "$group" ] || count "$logs/vms.log" "the cross-VM guests"
for k in $(seq 1 "$n"); do
	[ "$k" = 1 ] || { echo "# VM $k of $n:"; cat "$logs/shard-$k.log"; }
	count "$logs/shard-$k.log" "VM $k of $n"
done
echo "# selftests in $n VMs side by side${group:+, then $group guests on one segment} (logs in out/selftests/)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
