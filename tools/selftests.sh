#!/bin/bash
# make selftests: the VM selftests in as many VMs side by side as the machine
# has cores (at most SHARDS, default 2), each running its share of the tests
# (selftests/run.sh --shard K/N). TCG runs a guest on one core, so two VMs on
# two cores take about half the time of one. The first VM's KTAP streams as
# it comes; the others' follow when they are done; the totals close it.
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

pass=0 fail=0
for k in $(seq 1 "$n"); do
	f=$logs/shard-$k.log
	[ "$k" = 1 ] || { echo "# VM $k of $n:"; cat "$f"; }
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$f" | tail -n 1 || true)
	if [ -z "$line" ]; then
		echo "# VM $k of $n ended without a summary: $(tail -n 2 "$f" | tr '\n' ' ')"
		fail=$((fail + 1))
		continue
	fi
	set -- $line
	pass=$((pass + $1)) fail=$((fail + $3))
done
echo "# selftests in $n VMs side by side (logs in out/selftests/)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
