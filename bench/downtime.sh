#!/bin/bash
# The downtime of `make demo`'s migration between two guests, over RUNS
# runs (default 3; run on the host: `make bench-downtime`). Each run boots
# the two guests afresh and runs tools/demo.sh; its out/demo/summary.txt
# (tools/demo-report.py: the phases, the total and the RDMA-specific
# downtime, from the partner's capture and both guests' marks) is kept as
# out/downtime/run-K.txt. Prints one row per run that succeeded, then the
# median and the spread (smallest to largest) of each column, and names
# the runs that failed (their logs stay in out/downtime/, with what the
# demo kept of them in run-K-demo/); any failure makes the status 1.
#
#   downtime.sh [RUNS]
. "$(dirname "$0")/../tools/common.sh"

runs=${1:-3}
out=$TOP/out/downtime
rm -rf "$out" && mkdir -p "$out"
cols="downtime stop dump transfer replumb restore resume rdma"

failed=
for k in $(seq 1 "$runs"); do
	rm -f "$TOP/out/demo/summary.txt"
	if ! "$TOP/tools/vms-run.sh" --vms 2 --timeout 900 -- sh tools/demo.sh >"$out/run-$k.log" 2>&1 ||
		[ ! -f "$TOP/out/demo/summary.txt" ]; then
		echo "downtime: run $k failed (log: out/downtime/run-$k.log): $(grep -m1 FAIL "$out/run-$k.log")" >&2
		failed="$failed $k"
		cp -r "$TOP/out/demo" "$out/run-$k-demo" 2>/dev/null
		continue
	fi
	cp "$TOP/out/demo/summary.txt" "$out/run-$k.txt"
	echo "run $k of $runs: downtime $(awk '$1 == "downtime" { print $2 }' "$out/run-$k.txt") s" >&2
done
ls "$out"/run-*.txt >/dev/null 2>&1 || { echo "downtime: every run failed" >&2; exit 1; }

python3 - "$out" $cols <<'EOF'
import glob, re, statistics, sys
out, cols = sys.argv[1], sys.argv[2:]
runs = sorted((int(re.search(r"(\d+)\.txt$", f).group(1)), f) for f in glob.glob(out + "/run-*.txt"))
ks = [k for k, _ in runs]
rows = []
for _, f in runs:
    vals = dict(line.split()[:2] for line in open(f))
    rows.append([float(vals[c]) for c in cols])
head = ["run"] + [("RDMA-specific" if c == "rdma" else c) for c in cols]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for k, r in zip(ks, rows):
    print("| %d | " % k + " | ".join("%.3f s" % max(0.0, v) for v in r) + " |")
med = [statistics.median(c) for c in zip(*rows)]
print("| median | " + " | ".join("%.3f s" % max(0.0, v) for v in med) + " |")
print("| spread | " + " | ".join("%.3f s" % (max(c) - min(c)) for c in zip(*rows)) + " |")
EOF
[ -z "$failed" ] || { echo "failed runs:$failed (logs in out/downtime/)"; exit 1; }
