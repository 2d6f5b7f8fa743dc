#!/bin/sh
# Our integrity checker (SEND, WRITE with immediate and READ, every message
# tagged and its bytes verified) migrated with stock CRIU 20 times in a
# row, at random instants, back and forth between host A (rxe1, nsB's
# 10.0.0.2) and host B (rxe2, 10.0.1.3): every message arrives exactly
# once, in order, with its content.
# timeout: 1500
# cost: 720
. "$(dirname "$0")/lib.sh"
rxe_pair pause_timeout_s=600
host_b

rounds=20 count=1000000 brief=1
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
note "random instants from seed $seed"
integrity_start nsA rxe0 "$GA" nsB rxe1 "$GB" 10.0.0.1 $count /tmp/icli.out

here=rxe1
i=0
while [ $i -lt $rounds ]; do
	i=$((i + 1))
	# Somewhere in the next 0.2 to 2.5 s of traffic.
	pause=$(awk -v s="$seed" -v i="$i" 'BEGIN { srand(s * 100 + i); printf "%.1f", 0.2 + rand() * 2.3 }')
	sleep "$pause"
	kill -0 $cli 2>/dev/null || fail "round $i: the checker's client is gone: $(failure_lines /tmp/icli.out)"
	if [ $here = rxe1 ]; then to=rxe2 gid=10.0.1.3; else to=rxe1 gid=10.0.0.2; fi
	before=$(counter rxe0 rcvd_pkts)
	label="round $i ($here to $to, after ${pause}s)"
	criu_migrate_to $to $gid "$label"
	note "$label: $(grep -o 'QPs resumed, [0-9]* announcing' /tmp/restore.log), image $(cat /tmp/img/rxe_migros-*.img | wc -c) bytes"
	# The checker freed two CQs at setup, and reused one's handle: every
	# image has a gap and a reused handle, two placeholders.
	grep -q 'rxe_migros: 2 placeholders filled handle gaps' /tmp/restore.log ||
		fail "$label: the restore filled no handle gap: $(grep rxe_migros: /tmp/restore.log | tr '\n' ' ')"
	here=$to
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxe0/ports/1/hw_counters/rcvd_pkts) -gt $before ]" ||
		fail "round $i: no traffic after the restore: $(failure_lines /tmp/icli.out)"
done
note "$rounds migrations; rxe0 heard $(counter rxe0 resume_rcvd) RESUMEs"
# Ends the run: the client sends its end mark, and the server checks that
# every message before it arrived.
integrity_end
