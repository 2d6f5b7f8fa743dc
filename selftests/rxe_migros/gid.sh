#!/bin/sh
# The GID table follows the netdev's IPv4 and IPv6 addresses.
. "$(dirname "$0")/lib.sh"

has_gid() { gids rxe0 | grep -q "$1"; }
no_gid() { ! has_gid "$1"; }

veth_pair
load_ours
must ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
g1=$(gid_of_ipv4 10.0.0.1)
wait_for 10 has_gid "$g1" || fail "no GID $g1 for 10.0.0.1: $(gids rxe0 | tr '\n' ' ')"

must ip -n nsA addr add 10.9.8.7/24 dev veth0
g2=$(gid_of_ipv4 10.9.8.7)
wait_for 10 has_gid "$g2" || fail "no GID $g2 after adding 10.9.8.7"
must ip -n nsA addr del 10.9.8.7/24 dev veth0
wait_for 10 no_gid "$g2" ||
	fail "GID $g2 still present after removing 10.9.8.7"

must ip -n nsA addr add fd00:1234::1/64 dev veth0 nodad
g6=fd00:1234:0000:0000:0000:0000:0000:0001
wait_for 10 has_gid "$g6" || fail "no GID $g6 after adding fd00:1234::1: $(gids rxe0 | tr '\n' ' ')"
must ip -n nsA addr del fd00:1234::1/64 dev veth0
wait_for 10 no_gid "$g6" ||
	fail "GID $g6 still present after removing fd00:1234::1"
must rdma link del rxe0
must rmmod rxe_migros
