#!/bin/bash
# make demo's picture, on the host: the partner's throughput over time
# across the migration (out/demo/throughput.dat), the downtime's phases
# shaded (out/demo/phases.dat), as out/demo/migration.svg. Needs gnuplot
# (Debian's gnuplot-nox; tools/toolchain.sh installs it).
. "$(dirname "$0")/common.sh"

O=$TOP/out/demo
[ -s "$O/throughput.dat" ] && [ -s "$O/phases.dat" ] || die "no figures in $O: run make demo"
command -v gnuplot >/dev/null || die "no gnuplot on the host (apt-get install gnuplot-nox)"

colors=(e41a1c 377eb8 4daf4a 984ea3 ff7f00 a65628)
objects=$(awk -v c="${colors[*]}" 'BEGIN { split(c, col, " ") }
	$2 > $1 {
		n++
		printf "set object %d rect from %s, graph 0 to %s, graph 1 fc rgb \"#%s\" fs transparent solid 0.25 noborder behind\n", n, $1, $2, col[n]
		printf "set label %d \"%s\" at %s, graph %.2f rotate by 90 font \",9\"\n", n, $3, ($1 + $2) / 2, 0.55 + 0.07 * (n % 2)
	}' "$O/phases.dat")
from=$(awk 'NR == 1 { print $1 - 3 }' "$O/phases.dat")
to=$(awk 'END { print $2 + 3 }' "$O/phases.dat")
summary=$(awk '$1 == "downtime" { d = $2 } $1 == "rdma" { r = $2 } END { printf "downtime %.3f s, RDMA-specific %.3f s", d, r }' "$O/summary.txt")

gnuplot <<EOF
set terminal svg size 900,420 dynamic font "sans,11" background rgb "white"
set output "$O/migration.svg"
set title "ib_write_bw's client moved from guest a to guest b: the partner's throughput\n$summary" noenhanced
set xlabel "seconds from the start of criu dump"
set ylabel "MiB/s received by the partner"
set xrange [$from:$to]
set yrange [0:*]
set grid ytics
set key off
$objects
plot "$O/throughput.dat" using 1:2 with steps lw 2 lc rgb "#222222"
EOF
echo "out/demo/migration.svg: the partner's throughput across the migration ($summary)"
