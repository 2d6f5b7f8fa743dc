#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A hub: one Ethernet segment joining network namespaces, each frame
repeated to every other port, so that every host on it sees all traffic
(as on a shared segment, or a switch port an attacker mirrors).

    hub.py NS:DEV:ADDR/LEN ...

For each port it opens a tap device, moves it into network namespace NS
as DEV with address ADDR/LEN, and brings it up; it prints "ready" once all
are, then repeats frames until it is killed (its taps go with it). Run it
in a namespace of its own, so that the selftests' cleanup kills it.
"""
import fcntl
import os
import select
import struct
import subprocess
import sys

TUNSETIFF = 0x400454ca
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def port(i, spec):
    ns, dev, addr = spec.split(":")
    name = f"hub{i}"
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    # Room for bursts: the hub copies frames in user space, and a frame a
    # full queue drops is a loss no real segment would have.
    ip("link", "set", name, "txqueuelen", "10000")
    ip("link", "set", name, "netns", ns)
    ip("-n", ns, "link", "set", name, "name", dev)
    ip("-n", ns, "addr", "add", addr, "dev", dev)
    ip("-n", ns, "link", "set", dev, "up")
    return fd


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ports = [port(i, spec) for i, spec in enumerate(sys.argv[1:])]
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select(ports, [], [])
        for fd in ready:
            frame = os.read(fd, 65536)
            for other in ports:
                if other != fd:
                    try:
                        os.write(other, frame)
                    except OSError:
                        pass  # a port going down drops it, as a wire would


if __name__ == "__main__":
    main()
