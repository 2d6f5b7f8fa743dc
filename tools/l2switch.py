#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The Ethernet segment that joins the guests of tools/vms-run.sh: a
learning switch on the host's loopback, for QEMU "dgram" netdevs.

    l2switch.py N PORTFILE

Each guest's NIC sends its frames as UDP datagrams to the switch's port
and receives from it on a port of its own. The switch picks its port and
the N guests' ports, writes them to PORTFILE as one line ("SWITCH G1
G2 ..."), and then forwards: a frame to a unicast address the switch has
seen as a source goes to that guest's port alone; any other frame to
every guest but its sender. No frame goes back to where it came from (a
multicast socket netdev would echo every frame to its own guest, and a
bridge in the guest would then learn its own addresses on the wire).

It runs until killed; it counts what it dropped (frames from unknown
ports, runts) and says so on SIGTERM.
"""
import os
import signal
import socket
import sys

LOOPBACK = "127.0.0.1"


def free_udp_ports(n):
    """n UDP ports on the loopback that nothing holds now."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main():
    n, portfile = int(sys.argv[1]), sys.argv[2]
    sw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sw.bind((LOOPBACK, 0))
    sw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    guests = [(LOOPBACK, p) for p in free_udp_ports(n)]
    with open(portfile + ".tmp", "w") as f:
        f.write(" ".join(str(p) for p in [sw.getsockname()[1]] +
                         [g[1] for g in guests]) + "\n")
    # Written whole, then renamed: the reader never sees half a line.
    os.rename(portfile + ".tmp", portfile)

    dropped = {"unknown port": 0, "runt": 0}

    def report(*_):
        print("l2switch: dropped " + ", ".join(f"{v} ({k})" for k, v in dropped.items()),
              file=sys.stderr)
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    where = {}  # MAC -> the guest port it was last seen from
    known = set(guests)
    while True:
        frame, src = sw.recvfrom(65536)
        if src not in known:
            dropped["unknown port"] += 1
            continue
        if len(frame) < 14:
            dropped["runt"] += 1
            continue
        dst, smac = frame[0:6], frame[6:12]
        if not smac[0] & 1:
            where[smac] = src
        to = where.get(dst) if not dst[0] & 1 else None
        for g in [to] if to else guests:
            if g != src:
                sw.sendto(frame, g)


if __name__ == "__main__":
    main()
