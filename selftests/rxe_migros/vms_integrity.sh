#!/bin/sh
# Our integrity checker (SEND, WRITE with immediate and READ, every
# message tagged and its bytes verified) migrated with stock CRIU between
# two guests, six times back and forth at random instants: its client
# runs in a container's network namespace (nsC, 10.9.0.100) on guest a's
# RoCE device and moves to guest b's and back, the image crossing the
# segment; its partner stays in nsP on guest a (two guests, not three:
# each TCG guest needs one of the machine's two cores when it works).
# Every message arrives exactly once, in order, with its content.
# vms: 2
# timeout: 1200
# cost: 600
. "$(dirname "$0")/lib.sh"
vm_setup pause_timeout_s=600

rounds=6 count=1000000 brief=1
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
note "random instants from seed $seed"
integrity_start nsP rxeP "$GP" nsC rxe0 "$GA" 10.9.0.10 $count /tmp/app/icli.out

here=a
i=0
while [ $i -lt $rounds ]; do
	i=$((i + 1))
	pause=$(awk -v s="$seed" -v i="$i" 'BEGIN { srand(s * 100 + i); printf "%.1f", 0.2 + rand() * 2.3 }')
	sleep "$pause"
	if [ $here = a ]; then to=b; else to=a; fi
	before=$(counter rxeP rcvd_pkts)
	heard=$(counter rxeP resume_rcvd)
	vm_migrate $here $to "round $i ($here to $to, after ${pause}s)"
	here=$to
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
		fail "round $i: the partner heard no RESUME"
	wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/rcvd_pkts) -gt $before ]" ||
		fail "round $i: no traffic after the restore: $(on $here cat /tmp/app/icli.out | tail -n 3)"
done
note "$rounds migrations between guests a and b; rxeP heard $(counter rxeP resume_rcvd) RESUMEs"
# Ends the run where the client is now (guest a: an even number of
# moves): it sends its end mark, and the server checks that every
# message before it arrived.
integrity_end
