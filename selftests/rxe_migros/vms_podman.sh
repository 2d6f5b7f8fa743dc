#!/bin/sh
# A podman container migrated between two guests with podman's own
# commands, as a user does it (docs/criu.md, "Podman"): ib_write_bw's
# client runs in a container on guest a, in network namespace nsC
# (10.9.0.100), with guest a's uverbs device passed in; `podman container
# checkpoint --export --tcp-established` takes it, the archive crosses the
# segment, nsC moves to guest b, and `podman container restore --import
# --tcp-established` brings it back on guest b's rxe0, from b's RoCE
# address. Podman runs crun, crun runs stock CRIU, and CRIU loads our
# plugin from its plugin directory. The partner, ib_write_bw's server,
# stays in nsP on guest a. Both ends finish with status 0, and the
# partner sees no error completion.
# vms: 2
# timeout: 1200
# cost: 500
. "$(dirname "$0")/lib.sh"
vm_setup
podman_setup 10.9.0.1
mkdir -p /tmp/image
out=$(pod save -o /tmp/image/rdma-tools.tar localhost/rdma-tools 2>&1) || fail "podman save: $out"
out=$(python3 "$SELFTESTS/remote.py" put 10.9.0.2 /tmp/image /tmp/image) || fail "the image did not reach b: $out"
out=$(on b podman_setup 10.9.0.2 /tmp/image/rdma-tools.tar) || fail "podman on b: $out"
# Our devices are visible in every network namespace (the RDMA core's
# default, shared): the container's nsC sees rxe0.
rdma system show | grep -q 'netns shared' || fail "RDMA namespaces are not shared: $(rdma system show)"
uverbs=$(grep -lx rxe0 /sys/class/infiniband_verbs/*/ibdev | cut -d/ -f5)
on b "grep -qx rxe0 /sys/class/infiniband_verbs/$uverbs/ibdev" ||
	fail "rxe0 is not $uverbs on guest b too"

args="-s 65536 -n 5000 -F"
ip netns exec nsP ib_write_bw -d rxeP -x "$GP" $args >/tmp/srv.out 2>&1 &
srv=$!
wait_for 10 sh -c "ls -l /proc/$srv/fd | grep -q uverbs" || fail "the server opened no device"
# The restore runs in the container, under its device rules: it needs
# the control device there too (docs/criu.md, "Podman").
out=$(pod run -d --name cli --network ns:/run/netns/nsC \
	--device /dev/infiniband/$uverbs --device /dev/rxe_migros --ulimit memlock=-1:-1 \
	localhost/rdma-tools ib_write_bw -d rxe0 -x "$GA" $args 10.9.0.10 2>&1) ||
	fail "podman run: $out"
wait_for 60 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/rcvd_pkts) -gt 1000 ]" ||
	fail "the transfer did not begin: $(pod logs cli 2>&1 | tail -n 3)"
[ "$(pod inspect -f '{{.State.Status}}' cli)" = running ] ||
	fail "the container is not running: $(pod logs cli 2>&1 | tail -n 3)"

mkdir -p /tmp/ckpt
out=$(pod container checkpoint --export /tmp/ckpt/cli.tar --tcp-established cli 2>&1) ||
	fail "podman container checkpoint: $out: $(pod_why dump.log)"
note "checkpoint: $(du -b /tmp/ckpt/cli.tar | cut -f1) bytes"
out=$(python3 "$SELFTESTS/remote.py" put 10.9.0.2 /tmp/ckpt /tmp/ckpt) || fail "the archive did not reach b: $out"
ip netns del nsC
out=$(on b app_ns_here) ||
	fail "nsC on b: $out"
heard=$(counter rxeP resume_rcvd)
out=$(on b 'out=$(pod container restore --import /tmp/ckpt/cli.tar --tcp-established 2>&1) ||
	fail "podman container restore: $out: $(pod_why restore.log)"') ||
	fail "on b: $out"
wait_for 30 sh -c "[ \$(cat /sys/class/infiniband/rxeP/ports/1/hw_counters/resume_rcvd) -gt $heard ]" ||
	fail "the partner heard no RESUME"
out=$(on b 'wait_for 600 sh -c ". ./lib.sh; [ \$(pod inspect -f {{.State.Status}} cli) = exited ]" ||
		fail "the restored container did not finish: $(pod logs cli 2>&1 | tail -n 3)"
	pod logs cli 2>&1 | tail -n 4; echo "status $(pod inspect -f {{.State.ExitCode}} cli)"') || fail "on b: $out"
echo "$out" | sed 's/^/# b: /'
echo "$out" | grep -qx 'status 0' || fail "the container ended with $(echo "$out" | tail -n 1)"
echo "$out" | grep -qi 'error\|fail' && fail "the client reported an error"
wait $srv || fail "the server failed: $(failure_lines /tmp/srv.out)"
grep -qi 'error\|fail' /tmp/srv.out && fail "the server reported an error: $(failure_lines /tmp/srv.out)"
note "server: $(tail -n 2 /tmp/srv.out | tr -s ' ' | tr '\n' ' ')"
