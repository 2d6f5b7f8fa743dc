#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send hand-made RoCEv2 packets to UDP port 4791, to see what a receiver
does with bad ones.

    inject.py [--netns NS] [--counters DIR [--window N]] [--sniff IFACE]
              [--names IP] [--gap S] SRC DST CASE[:COUNT]...

SRC and DST are IPv4 or IPv6 addresses; the packets go from SRC (which must
be local, in network namespace NS if given) to DST. IPv4 packets are built whole on a raw socket, so that the
ICRC, which covers most of the IP header, can be made right or wrong at
will; IPv6 ones go out of a UDP socket bound to a known port, as the rest of
their header is fixed or masked out of the ICRC.

Cases (each packet is otherwise a valid RC SEND Only with a correct ICRC):
  good       addressed to QP 0x123456, which the receiver should not have
             (or to --qpn, from --psn on, one PSN further each packet)
  write      an RDMA WRITE Only of 16 bytes to --va with --rkey, addressed
             as good is
  pkey       a P_Key that is not the default one (0x1234)
  resume     a RESUME to --qpn with the PSN the capture gave (--sniff) or
             --psn, and an address update naming --names (default SRC),
             a random QPN and a random 64-bit token: a forged migration
  resume0    the same without a payload (the MigrOS form, whose address
             is the packet's source)
  token      a token request (opcode 0x1a) to --qpn with a random nonce
  udmove1    a UD move announcement (RESUME to QPN 1) saying that QP 1,
             the GSI QP, moved from 10.9.9.9 to SRC: well-formed, from
             the address it announces, and refused all the same
  udmove     a UD move announcement saying that --qpn moved from --old to
             SRC, from SRC, with a random token: forged
  truncated  shorter than a BTH
  opcode     an opcode no transport defines (0x1f)
  version    transport header version 1
  pad        a pad count larger than the payload
  icrc       a wrong ICRC
  noise      random bytes of random length, with a right ICRC
With --sniff IFACE it first captures, on IFACE, a RoCEv2 packet to DST
and --qpn, as an off-path host on a shared segment can, and takes its PSN
(good and write then go on from the PSN after it). With --wire PORT:OFF it
first captures the address exchange of integrity.py's server (TCP from
PORT, its QPN, PSN, GID, region address and rkey, in the clear) and aims
at that QP, WRITEs at the region's address plus OFF with its rkey.
For each case it prints a line: the case, how many packets were sent and,
with --counters (a device's hw_counters directory), how much each of the
receiver's drop counters grew. With --window N as well, it lets no more
than 2N packets be on their way uncounted (waiting up to 30 s for the
receiver), so that a slow receiver or segment loses none to a full queue,
and waits for the whole case to be counted before its line.
"""
import argparse
import ipaddress
import os
import random
import socket
import struct
import sys
import time
import zlib

ROCE_PORT = 4791
SRC_PORT = 49152
RC_SEND_ONLY = 0x04
QPN = 0x123456


RC_WRITE_ONLY = 0x0a
RC_RESUME = 0x19
RC_TOKEN = 0x1a
UD_RESUME = 0x79    # the migration protocol's RESUME (0x19) on UD

# Where good and write packets go: set by --qpn, --psn, --va and --rkey.
target = {"qpn": QPN, "psn": 1, "va": 0, "rkey": 0}


def bth(opcode, pad=0, tver=0, qpn=None, psn=None, pkey=0xffff):
    flags = (pad & 3) << 4 | (tver & 0xf)
    if qpn is None:
        qpn = target["qpn"]
    if psn is None:
        psn = target["psn"]
        target["psn"] += 1
    return struct.pack(">BBHI", opcode, flags, pkey, qpn & 0xffffff) + \
        struct.pack(">I", 0x80000000 | (psn & 0xffffff))


def icrc(ip_udp, roce):
    """The invariant CRC (IBTA A17.3.3) of a packet whose IP and UDP
    headers are ip_udp and whose transport bytes (BTH to pad) are roce."""
    p = bytearray(ip_udp)
    if p[0] >> 4 == 4:
        ip = 20
        p[1] = 0xff           # type of service
        p[8] = 0xff           # time to live
        p[10:12] = b"\xff\xff"  # header checksum
    else:
        ip = 40
        p[0] |= 0x0f          # traffic class and flow label
        p[1:4] = b"\xff\xff\xff"
        p[7] = 0xff           # hop limit
    p[ip + 6:ip + 8] = b"\xff\xff"  # UDP checksum
    r = bytearray(roce)
    r[4] = 0xff               # BTH reserved byte (FECN, BECN)
    crc = zlib.crc32(b"\xff" * 8 + bytes(p) + bytes(r))
    return struct.pack("<I", crc)


def transport(case):
    """The RoCEv2 bytes (BTH to ICRC exclusive) of a case, and whether to
    spoil the ICRC."""
    payload = b"\x7b" * 16
    if case == "good" or case == "icrc":
        return bth(RC_SEND_ONLY) + payload, case == "icrc"
    if case == "write":
        reth = struct.pack(">QII", target["va"], target["rkey"], len(payload))
        return bth(RC_WRITE_ONLY) + reth + payload, False
    if case == "pkey":
        return bth(RC_SEND_ONLY, pkey=0x1234) + payload, False
    if case in ("resume", "resume0"):
        psn = target["resume_psn"]
        if case == "resume0":
            return bth(RC_RESUME, psn=psn), False
        update = struct.pack(">BxxxI", 2, random.randrange(1 << 24)) + \
            target["names"] + os.urandom(8)
        return bth(RC_RESUME, psn=psn) + update, False
    if case == "token":
        msg = struct.pack(">BBxxI", 1, 1, random.randrange(1 << 24)) + os.urandom(8) + \
            bytes(8)
        return bth(RC_TOKEN, psn=target["resume_psn"]) + msg, False
    if case in ("udmove1", "udmove"):
        qpn = 1 if case == "udmove1" else target["qpn"]
        deth = struct.pack(">II", 0x80010000, qpn)
        old = target["old"] if case == "udmove" else \
            ipaddress.ip_address("::ffff:10.9.9.9").packed
        news = struct.pack(">BxxxI", 2, qpn) + old + target["src_gid"] + os.urandom(8)
        return bth(UD_RESUME, qpn=1, psn=0) + deth + news, False
    if case == "truncated":
        return bth(RC_SEND_ONLY)[:6], False
    if case == "opcode":
        return bth(0x1f) + payload, False
    if case == "version":
        return bth(RC_SEND_ONLY, tver=1) + payload, False
    if case == "pad":
        return bth(0x11, pad=3) + b"\0\0\0\0", False  # an ACK has no payload
    if case == "noise":
        return os.urandom(random.randrange(0, 200)), False
    sys.exit(f"unknown case {case}")


def ipv4_frames(iface, proto, seconds):
    """The IPv4 packets of protocol `proto` seen on `iface` for up to
    `seconds`: (the IP header and payload, the payload after the IP
    header)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((iface, 0))
    s.settimeout(1)
    print(f"listening on {iface}", flush=True)
    end = time.time() + seconds
    while time.time() < end:
        try:
            f = s.recv(2048)
        except socket.timeout:
            continue
        ip = f[14:]
        if len(ip) >= 20 and ip[0] >> 4 == 4 and ip[9] == proto:
            length = struct.unpack(">H", ip[2:4])[0]
            yield ip, ip[(ip[0] & 0xf) * 4:length]


def sniff(iface, dst, qpn, seconds=30):
    """The PSN of the first RoCEv2 packet to `dst` and QP `qpn` seen on
    `iface` (IPv4)."""
    for ip, udp in ipv4_frames(iface, socket.IPPROTO_UDP, seconds):
        if ip[16:20] != dst.packed or len(udp) < 20:
            continue
        if struct.unpack(">H", udp[2:4])[0] != ROCE_PORT:
            continue
        b = udp[8:]
        if struct.unpack(">I", b[4:8])[0] & 0xffffff == qpn:
            return struct.unpack(">I", b[8:12])[0] & 0xffffff
    sys.exit(f"no packet to {dst} QP {qpn:#x} seen on {iface} in {seconds} s")


def sniff_wire(iface, port, seconds=60):
    """The (QPN, region address, rkey) integrity.py's server sends from TCP
    port `port`, seen on `iface`."""
    wire = struct.Struct("=I I 16s Q I")
    for _, tcp in ipv4_frames(iface, socket.IPPROTO_TCP, seconds):
        if len(tcp) < 20 or struct.unpack(">H", tcp[:2])[0] != port:
            continue
        payload = tcp[(tcp[12] >> 4) * 4:]
        if len(payload) == wire.size:
            qpn, _, _, addr, rkey = wire.unpack(payload)
            return qpn, addr, rkey
    sys.exit(f"no address exchange from TCP port {port} seen on {iface} in {seconds} s")


def ipv4_udp(src, dst, length):
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + 8 + length, 0x1234, 0x4000,
                     64, socket.IPPROTO_UDP, 0, src.packed, dst.packed)
    return ip + struct.pack(">HHHH", SRC_PORT, ROCE_PORT, 8 + length, 0)


def ipv6_udp(src, dst, length):
    ip = struct.pack(">IHBB16s16s", 6 << 28, 8 + length, socket.IPPROTO_UDP, 64,
                     src.packed, dst.packed)
    return ip + struct.pack(">HHHH", SRC_PORT, ROCE_PORT, 8 + length, 0)


DROP_COUNTERS = ("rcvd_malformed", "rcvd_bad_icrc", "rcvd_no_dest", "rcvd_bad_pkey",
                 "rcvd_bad_addr", "rcvd_bad_resume")


def read_counters(d):
    return [int(open(os.path.join(d, c)).read()) for c in DROP_COUNTERS]


def wait_counted(d, base, n, limit):
    """Waits until the drop counters in `d` have grown by `n` since they
    summed to `base`, or `limit` seconds have passed."""
    end = time.monotonic() + limit
    while sum(read_counters(d)) - base < n and time.monotonic() < end:
        time.sleep(0.005)


def send(s, src, dst, case, count, gap=0.0, counters=None, window=0):
    v6 = dst.version == 6
    base = sum(read_counters(counters)) if window else 0
    for i in range(count):
        if gap:
            time.sleep(gap)
        if window and i and i % window == 0:
            # At most two windows on their way: a slow receiver (or the
            # user-space hub before it) takes them all, and none is lost
            # to a full queue on the way.
            wait_counted(counters, base, i - window, 30)
        roce, spoil = transport(case)
        hdrs = (ipv6_udp if v6 else ipv4_udp)(src, dst, len(roce) + 4)
        crc = icrc(hdrs, roce) if len(roce) >= 12 else b"\0\0\0\0"
        if spoil:
            crc = bytes([crc[0] ^ 1]) + crc[1:]
        if v6:
            s.sendto(roce + crc, (str(dst), ROCE_PORT))
        else:
            s.sendto(hdrs + roce + crc, (str(dst), 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netns")
    ap.add_argument("--counters")
    ap.add_argument("--sniff")
    ap.add_argument("--names")
    ap.add_argument("--old")
    ap.add_argument("--wire")
    ap.add_argument("--gap", type=float, default=0.0,
                    help="seconds between packets (the selftests' segment is a hub in user space)")
    ap.add_argument("--window", type=int, default=0,
                    help="with --counters, at most twice this many packets sent and not yet "
                    "counted by the receiver (every case sent must be one it counts)")
    for k in target:
        ap.add_argument(f"--{k}", type=lambda v: int(v, 0))
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("cases", nargs="+")
    a = ap.parse_args()
    src, dst = ipaddress.ip_address(a.src), ipaddress.ip_address(a.dst)
    for k in target:
        if getattr(a, k) is not None:
            target[k] = getattr(a, k)
    target["src_gid"] = (src.packed if src.version == 6 else
                         ipaddress.ip_address(f"::ffff:{src}").packed)
    old = ipaddress.ip_address(a.old or "10.9.9.9")
    target["old"] = (old.packed if old.version == 6 else
                     ipaddress.ip_address(f"::ffff:{old}").packed)
    names = ipaddress.ip_address(a.names) if a.names else src
    target["names"] = (names.packed if names.version == 6 else
                       ipaddress.ip_address(f"::ffff:{names}").packed)
    if a.netns:
        with open(f"/run/netns/{a.netns}") as f:
            os.setns(f.fileno(), os.CLONE_NEWNET)
    if a.wire:
        port, _, off = a.wire.partition(":")
        qpn, addr, rkey = sniff_wire(a.sniff, int(port))
        target.update(qpn=qpn, va=addr + int(off or 0), rkey=rkey)
        print(f"captured QP {qpn:#x}, region {addr:#x}, rkey {rkey:#x}", flush=True)
    target["resume_psn"] = target["psn"]
    if a.sniff:
        seen = sniff(a.sniff, dst, target["qpn"])
        print(f"captured PSN {seen:#x}", flush=True)
        target["resume_psn"] = seen
        target["psn"] = seen + 1
    if dst.version == 6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((str(src), SRC_PORT))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for arg in a.cases:
        case, _, n = arg.partition(":")
        count = int(n or 1)
        before = read_counters(a.counters) if a.counters else None
        window = a.window if a.counters else 0
        send(s, src, dst, case, count, a.gap, a.counters, window)
        line = f"{case} {count}"
        if before is not None:
            if window:
                wait_counted(a.counters, sum(before), count, 30)
            else:
                time.sleep(0.2)
            after = read_counters(a.counters)
            line += "".join(f" {c}+{y - x}" for c, x, y in zip(DROP_COUNTERS, before, after))
        print(line, flush=True)


if __name__ == "__main__":
    main()
