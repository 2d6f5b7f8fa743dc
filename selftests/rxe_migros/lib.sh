# shellcheck shell=sh
# Helpers shared by the rxe_migros selftests. Each test is a script that
# exits 0 (pass), 1 (fail) or 4 (skip, kselftest's KSFT_SKIP), printing
# diagnostics as "# " lines.

set -u

note() { echo "# $*"; }
fail() { echo "# FAIL: $*"; exit 1; }

# Runs "$@", failing the test with its output when it fails.
must() {
	out=$("$@" 2>&1) || fail "'$*' failed: $(echo "$out" | tr '\n' ' ')"
}

# Runs "$@", failing the test if it succeeds; prints its output as a note.
must_fail() {
	if out=$("$@" 2>&1); then
		fail "'$*' succeeded but should have failed"
	fi
	note "'$*' refused as expected: $(echo "$out" | head -n1)"
}

# Waits up to $1 seconds for "$2..." to succeed.
wait_for() {
	t=$1; shift
	while [ "$t" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
		t=$((t - 1))
	done
	"$@" >/dev/null 2>&1
}

# Two network namespaces joined by a veth pair: nsA/veth0 10.0.0.1 and
# nsB/veth1 10.0.0.2.
veth_pair() {
	ip netns add nsA && ip netns add nsB || fail "cannot create namespaces"
	ip link add veth0 netns nsA type veth peer name veth1 netns nsB || fail "cannot create veth"
	ip -n nsA addr add 10.0.0.1/24 dev veth0
	ip -n nsB addr add 10.0.0.2/24 dev veth1
	for ns in nsA nsB; do ip -n $ns link set lo up; done
	ip -n nsA link set veth0 up
	ip -n nsB link set veth1 up
}

# Loads our driver (with optional module parameters).
load_ours() {
	modprobe rxe_migros "$@" || fail "modprobe rxe_migros $* failed"
}

# The driver module behind an RDMA device, from the kernel's own word: the
# module holding the device's link ops. Our driver logs "NAME: added on".
served_by_ours() {
	dmesg | grep -q "rxe_migros: $1: added on $2"
}

# Port state as sysfs tells it ("4: ACTIVE").
port_state() {
	cat "/sys/class/infiniband/$1/ports/1/state" 2>/dev/null
}

# Whether device $1's port state contains $2.
port_is() {
	port_state "$1" | grep -q "$2"
}

# The first 16 entries of device $1's GID table, one GID per line, empty
# entries left out (reading all 1024 one by one is slow under TCG).
gids() {
	d=/sys/class/infiniband/$1/ports/1/gids
	cat "$d"/[0-9] "$d"/1[0-5] 2>/dev/null | grep -v '^0000:0000:0000:0000:0000:0000:0000:0000$'
}

# The GID of an IPv4 address, in sysfs notation.
gid_of_ipv4() {
	printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x\n' $(echo "$1" | tr . ' ')
}
