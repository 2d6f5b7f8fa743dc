#!/bin/sh
# make demo, inside the VM: two "hosts" (network namespaces) joined by a
# veth pair, an rxe_migros RoCE device on each, shown as rdma-core sees them.
set -e
step() { printf '\n=== %s\n' "$*"; }

step "booted $(uname -r); loading rxe_migros"
modprobe rxe_migros
dmesg | grep rxe_migros | tail -n1

step "two hosts: nsA (10.0.0.1) and nsB (10.0.0.2) on a veth pair"
ip netns add nsA
ip netns add nsB
ip link add veth0 netns nsA type veth peer name veth1 netns nsB
ip -n nsA addr add 10.0.0.1/24 dev veth0
ip -n nsB addr add 10.0.0.2/24 dev veth1
ip -n nsA link set veth0 up
ip -n nsB link set veth1 up
ip netns exec nsA ping -c1 -W2 10.0.0.2 | head -n2

step "rdma link add rxe0 (nsA) and rxe1 (nsB)"
ip netns exec nsA rdma link add rxe0 type rxe netdev veth0
ip netns exec nsB rdma link add rxe1 type rxe netdev veth1
sleep 1
rdma link show
dmesg | grep 'rxe_migros: rxe[01]: added'

step "ibv_devices"
ibv_devices
step "ibv_devinfo -v -d rxe0"
ibv_devinfo -v -d rxe0

step "done; the RDMA data path arrives with issue #3"
rdma link del rxe0
rdma link del rxe1
rmmod rxe_migros
