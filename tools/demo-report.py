#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make demo's account of a migration between two guests (tools/demo.sh).

    demo-report.py DIR OUT

DIR holds what the demo gathered:

  partner.pcap  the partner's RoCE traffic as it received it (tcpdump on
                its veth port in guest a, guest a's clock)
  marks         "NAME GUEST SECONDS" lines: instants on guest a's or
                guest b's CLOCK_REALTIME
  clock         "OFFSET ERROR": guest b's clock minus guest a's, and the
                bound on that figure's error (remote.py clock)
  old new       the container's RoCE address before and after

Every instant is put on guest a's clock (b's minus the offset). It
prints the throughput every 100 ms around the pause, the downtime (from
the start of criu dump to the partner's first packet from the new
address) split into its phases, and the RDMA-specific downtime: from the
last packet the partner received from the old address to its first
packet after the RESUME. It writes OUT/throughput.dat ("seconds MiB/s", from the start of
criu dump), OUT/phases.dat ("start end name") and OUT/summary.txt.
"""
import os
import struct
import sys

RESUME = 0x19  # the RC opcode of RESUME (docs/migration.md)
BIN = 0.1


def packets(path):
    """(time, source IPv4, BTH opcode, bytes) of each RoCEv2 packet in a
    pcap of Ethernet frames."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data)[0]
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14 + 20 + 8 + 1 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        src = ".".join(str(b) for b in frame[26:30])
        bth = 14 + ihl + 8
        if len(frame) <= bth:
            continue
        out.append((sec + frac * scale, src, frame[bth], orig))
    return out


def main():
    d, out = sys.argv[1], sys.argv[2]
    offset, err = (float(x) for x in open(os.path.join(d, "clock")).read().split())
    old = open(os.path.join(d, "old")).read().strip()
    new = open(os.path.join(d, "new")).read().strip()
    marks = {}
    for line in open(os.path.join(d, "marks")):
        name, guest, t = line.split()
        marks[name] = float(t) - (offset if guest == "b" else 0.0)
    pk = packets(os.path.join(d, "partner.pcap"))
    t0 = marks["dump"]
    from_old = [p for p in pk if p[1] == old and p[0] < marks["restore"]]
    from_new = [p for p in pk if p[1] == new]
    if not from_old or not from_new:
        sys.exit("demo-report: the capture has no packets from %s or from %s" % (old, new))
    gone = from_old[-1][0]
    resumes = [p for p in from_new if p[2] == RESUME]
    resume_rx = resumes[0][0] if resumes else None
    back = next((p[0] for p in from_new if p[2] != RESUME and (resume_rx is None or p[0] > resume_rx)), None)
    if back is None:
        sys.exit("demo-report: no packet from %s after its RESUME" % new)

    os.makedirs(out, exist_ok=True)
    # Throughput at the partner, in bins from the start of criu dump.
    bins = {}
    for t, _, _, n in pk:
        k = int((t - t0) // BIN)
        bins[k] = bins.get(k, 0) + n
    lo, hi = min(bins), max(bins)
    rate = {k: bins.get(k, 0) / BIN / 1048576 for k in range(lo, hi + 1)}
    with open(os.path.join(out, "throughput.dat"), "w") as f:
        for k in range(lo, hi + 1):
            f.write("%.3f %.4f\n" % (k * BIN + BIN / 2, rate[k]))

    phases = [
        ("stop", t0, marks["stopped"],
         "criu dump starts, seizes the container, the plugin stops its QPs"),
        ("dump", marks["stopped"], marks["dumped"],
         "the rest of criu dump; the memory goes to guest b's page server"),
        ("transfer", marks["dumped"], marks["sent"],
         "the other image files and the app's files, streamed to guest b"),
        ("replumb", marks["sent"], marks["restore"],
         "nsC deleted on a, made on b, gratuitous ARP"),
        ("restore", marks["restore"], marks["resumed"],
         "criu restore on guest b, to the plugin's RESUME"),
        ("resume", marks["resumed"], back,
         "RESUME to the partner's first packet from %s" % new),
    ]
    with open(os.path.join(out, "phases.dat"), "w") as f:
        for name, a, b, _ in phases:
            f.write("%.3f %.3f %s\n" % (a - t0, b - t0, name))

    lines = []
    say = lines.append
    say("the partner's throughput every 100 ms (from its RoCE packets; 0 s is the start of criu dump):")
    events = sorted([(gone, "last packet from %s" % old), (marks["stopped"], "QPs stopped on a"),
                     (marks["dumped"], "dump done"), (marks["sent"], "image on guest b"),
                     (marks["restore"], "criu restore starts on b"),
                     (marks["resumed"], "QPs resumed on b"),
                     (back, "first packet from %s" % new)]
                    + ([(resume_rx, "RESUME reaches the partner")] if resume_rx else []))
    first, last = int((gone - t0 - 1.0) // BIN), int((back - t0 + 1.0) // BIN)
    idle = None
    for k in range(max(lo, first), min(hi, last) + 1):
        at = [e for t, e in events if k * BIN <= t - t0 < (k + 1) * BIN]
        r = rate.get(k, 0.0)
        if r == 0 and not at:
            idle = (idle[0], k) if idle else (k, k)
            continue
        if idle:
            say("  %+7.1fs .. %+.1fs  no packets" % (idle[0] * BIN, idle[1] * BIN))
            idle = None
        say("  %+7.1fs %6.2f MiB/s %-30s %s" % (k * BIN, r, "#" * min(30, int(r * 10)),
                                               "; ".join("<- " + e for e in at)))
    total, rdma = back - t0, back - gone
    say("")
    say("downtime: %.3f s, from the start of criu dump on a to the partner's first packet from %s"
        % (total, new))
    for name, a, b, what in phases:
        if b < a:
            # The plugin logs its line once the RESUME has left: the
            # partner can hear it first.
            what += " (%.3f s: the RESUME arrived before the plugin's line)" % (b - a)
        say("  %-9s %8.3f s  %s" % (name, max(0.0, b - a), what))
    say("RDMA-specific downtime: %.3f s, from the partner's last packet from the old address (%s),"
        % (rdma, old))
    say("  %.3f s after criu dump started, to its first after the RESUME" % (gone - t0))
    say("clocks: guest b's CLOCK_REALTIME is guest a's %+.6f s (+-%.6f s: half the round trip of the"
        % (offset, err))
    say("  fastest of 20 exchanges over the segment, remote.py clock); every instant of b's is put on a's clock")
    for line in lines:
        print(line)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write("downtime %.3f\nrdma %.3f\nclock_error %.6f\n" % (total, rdma, err))
        for name, a, b, _ in phases:
            f.write("%s %.3f\n" % (name, b - a))


if __name__ == "__main__":
    main()
