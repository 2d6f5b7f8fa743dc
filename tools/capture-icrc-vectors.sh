#!/bin/sh
# Runs in the VM (make vm-run CMD=tools/capture-icrc-vectors.sh): captures
# RoCEv2 packets that the C rdma_rxe sends between two namespaces, over IPv4
# and IPv6, for RC SEND/ACK (ibv_rc_pingpong), RDMA WRITE and READ
# (ib_write_bw, ib_read_bw) and UD SEND (ibv_ud_pingpong). Writes
# out/icrc-capture.pcap; tools/icrc-vectors.py turns it into test vectors.
set -eu
mkdir -p out
modprobe rdma_rxe
ip netns add nsA
ip netns add nsB
ip link add veth0 netns nsA type veth peer name veth1 netns nsB
ip -n nsA addr add 10.0.0.1/24 dev veth0
ip -n nsB addr add 10.0.0.2/24 dev veth1
ip -n nsA addr add fd00::1/64 dev veth0 nodad
ip -n nsB addr add fd00::2/64 dev veth1 nodad
ip -n nsA link set veth0 up
ip -n nsB link set veth1 up
ip -n nsA link set lo up
ip -n nsB link set lo up
ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
ip netns exec nsB rdma link add rxe1 type rxe netdev veth1
sleep 2
gid_index() { # device, pattern
	for f in /sys/class/infiniband/$1/ports/1/gids/*; do
		i=${f##*/}
		if grep -q "$2" "$f" && grep -q "v2" "/sys/class/infiniband/$1/ports/1/gid_attrs/types/$i" 2>/dev/null; then
			echo "$i"; return
		fi
	done
}
g4=$(gid_index rxe0 '0000:0000:0000:0000:0000:ffff:0a00:0001')
g6=$(gid_index rxe0 'fd00:0000')
echo "GID index IPv4 $g4, IPv6 $g6"
ip netns exec nsA tcpdump -i veth0 -w out/icrc-capture.pcap -c 400 udp port 4791 2>/dev/null &
dump=$!
sleep 2
pair() { # server-cmd client-cmd
	ip netns exec nsA sh -c "$1" >/dev/null 2>&1 &
	s=$!
	sleep 1
	ip netns exec nsB sh -c "$2" >/dev/null 2>&1 || echo "client failed: $2"
	wait $s || true
}
for g in $g4 $g6; do
	pair "ibv_rc_pingpong -d rxe0 -g $g -n 3 -s 100" "ibv_rc_pingpong -d rxe1 -g $g -n 3 -s 100 10.0.0.1"
	pair "ibv_ud_pingpong -d rxe0 -g $g -n 3 -s 64" "ibv_ud_pingpong -d rxe1 -g $g -n 3 -s 64 10.0.0.1"
	pair "ib_write_bw -d rxe0 -x $g -n 5 -s 3000 -F" "ib_write_bw -d rxe1 -x $g -n 5 -s 3000 -F 10.0.0.1"
	pair "ib_read_bw -d rxe0 -x $g -n 5 -s 3000 -F" "ib_read_bw -d rxe1 -x $g -n 5 -s 3000 -F 10.0.0.1"
done
sleep 1
kill $dump 2>/dev/null || true
wait $dump 2>/dev/null || true
ls -la out/icrc-capture.pcap
