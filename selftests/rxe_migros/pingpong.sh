#!/bin/sh
# Data path, our driver on both ends of a veth pair: ibv_ud_pingpong and
# ibv_rc_pingpong with data checking (-c), from 1 byte to the path MTU (UD)
# and to 1 MiB (RC), over IPv4, then over IPv6. Iteration counts are sized
# for TCG.
# cost: 60
. "$(dirname "$0")/lib.sh"

rxe_pair
# veth's MTU of 1500 makes the active MTU 1024.
for s in 1 64 1024; do
	pair_run ibv_ud_pingpong 60 -n 10 -s $s -c
done
for s in 1 4096 65536; do
	pair_run ibv_rc_pingpong 60 -n 10 -s $s -c
done
pair_run ibv_rc_pingpong 120 -n 3 -s 1048576 -c
use_ipv6
pair_run ibv_ud_pingpong 60 -n 10 -s 1024 -c
pair_run ibv_rc_pingpong 60 -n 10 -s 65536 -c
