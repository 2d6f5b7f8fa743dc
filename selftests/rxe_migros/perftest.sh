#!/bin/sh
# perftest over our driver on both ends: RC send, write and read, bandwidth
# and latency, every size from 2 B to 8 MiB (-a); UD send bandwidth and
# latency up to the path MTU. Iteration counts are sized for TCG; the
# figures are printed, not judged (bench/ compares them with the C rxe).
# timeout: 1200
# cost: 520
. "$(dirname "$0")/lib.sh"

rxe_pair
for t in ib_send_bw ib_write_bw ib_read_bw ib_send_lat ib_write_lat ib_read_lat; do
	perf_run $t -a -n 5
done
perf_run ib_send_bw -c UD -a -n 5
perf_run ib_send_lat -c UD -a -n 5
