#!/bin/sh
# Memory regions paged on demand (IBV_ACCESS_ON_DEMAND). Our checker
# (odp.py, pyverbs, loopback on one device): an ODP MR pins nothing and
# faults nothing in until used; WRITE, READ, SEND and FETCH_ADD into
# memory never touched; pages taken away under the MR (MADV_DONTNEED) and
# written again are the process's new pages; ibv_advise_mr's prefetches
# (through its uverbs command: trixie's librxe has no ibv_advise_mr, so
# ibv_rc_pingpong -P cannot reach it) and its refusals; implicit ODP
# refused. Then, between our devices: ibv_rc_pingpong -o and
# ibv_srq_pingpong -o with their buffers checked; ib_write_bw, ib_read_bw,
# ib_send_bw (RC and UD) and ib_atomic_bw --odp; ATOMIC WRITE and FLUSH
# into ODP MRs (atomic_write.py odp): each ODP cap we report, used. Then an ibv_rc_pingpong -o
# client migrated with CRIU mid-run to host B: its image's MR is paged on
# demand, the restored MR is too (nothing pinned), and the client
# finishes with its buffers checked. Last, against the C rxe: the ODP
# caps ours reports are the C rxe's, and ibv_rc_pingpong -o each way.
# timeout: 900
# cost: 200
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600

out=$(ip netns exec nsA timeout $(scaled 300) python3 "$SELFTESTS/odp.py" check $DA "$GA" 2>&1) ||
	fail "$(echo "$out" | tr '\n' ' ')"
note "$(echo "$out" | tr '\n' ' ')"

pair_run ibv_rc_pingpong 120 -o -n 200 -s 4096 -c
pair_run ibv_rc_pingpong 120 -o -n 100 -s 65536 -c
pair_run ibv_srq_pingpong 120 -o -n 100 -s 4096 -c
perf_run ib_write_bw --odp -n 1000 -s 65536
perf_run ib_read_bw --odp -n 500 -s 65536
perf_run ib_send_bw --odp -n 1000 -s 65536
perf_run ib_send_bw -c UD --odp -n 1000 -s 1024
perf_run ib_atomic_bw --odp -n 1000
out=$(ip netns exec nsA timeout $(scaled 200) python3 "$SELFTESTS/atomic_write.py" check $DA "$GA" $DB "$GB" odp 2>&1) ||
	fail "ATOMIC WRITE and FLUSH to ODP memory: $(echo "$out" | tr '\n' ' ')"
note "ATOMIC WRITE and FLUSH to ODP memory: $(echo "$out" | tr '\n' ' ')"

# The migration.
host_b
args="-o -n 10000 -s 1024 -c"
dumpable_pingpong ibv_rc_pingpong $args
heard=$(counter $DA resume_rcvd)
criu_migrate_to rxe2 10.0.1.3 "ibv_rc_pingpong -o"
# Read at once: on a slow kernel the restored client can finish what is
# left of its run in the time the image's check below takes.
pinned=$(awk '/^VmPin:/ { print $2 }' /proc/$cli/status 2>/dev/null) ||
	fail "the restored client is gone: $(failure_lines /tmp/cli.out) $(dmesg | tail -n 5 | tr '\n' ' ')"
[ "$pinned" = 0 ] || fail "the restored client has $pinned KiB pinned"
mr=$(for f in /tmp/img/rxe_migros-*.img; do python3 "$SELFTESTS/image.py" "$f"; done | grep '^mr ')
note "its MR's image: ${mr#mr }"
access=$(echo "$mr" | sed -n 's/.* access=\(0x[0-9a-f]*\).*/\1/p')
[ -n "$access" ] && [ $((access & 0x40)) != 0 ] || fail "the image's MR is not paged on demand: $mr"
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/$DA/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
	fail "the server heard no RESUME"
wait_for 300 sh -c "! kill -0 $cli 2>/dev/null" || fail "the restored client did not finish"
wait $srv || fail "the server failed: $(failure_lines /tmp/srv.out)"
grep -qi 'error\|failed\|couldn' /tmp/cli.out && fail "the client failed: $(failure_lines /tmp/cli.out)"
grep -q 'iters in' /tmp/cli.out || fail "the restored client did not finish its run: $(failure_lines /tmp/cli.out)"
note "ibv_rc_pingpong $args, migrated: $(grep 'iters in' /tmp/cli.out)"

# Against the C rxe, each way; its caps first.
must rdma link del rxe2
to_mixed_pair
odp_caps() {
	ibv_devinfo -v -d "$1" | sed -n '/general_odp_caps:/,/xrc_odp_caps:/p' | tr -s ' \t\n' ' '
}
ours=$(odp_caps $DA)
theirs=$(odp_caps $DB)
[ "$ours" = "$theirs" ] || fail "ODP caps: ours '$ours', the C rxe's '$theirs'"
note "ODP caps, as the C rxe's: $ours"
pair_run ibv_rc_pingpong 120 -o -n 200 -s 4096 -c
swap_ends
pair_run ibv_rc_pingpong 120 -o -n 200 -s 4096 -c
