#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads an rxe_migros checkpoint image (docs/image.md), as the CRIU plugin
writes it (rxe_migros-<id>.img), checks it, and prints one line per
object:

    image.py FILE            the objects, with their identities and state
    image.py --json FILE     the same as JSON

Written apart from the driver's parser (proto/src/image.rs), from the
format's description, so that each checks the other. Exits 1, with the
reason, for an image it refuses.
"""
import json
import struct
import sys
import zlib

MAGIC = b"RXEMIGRS"
VERSION = 8
HEADER = struct.Struct("<8sIIII")
RECORD = struct.Struct("<HHI")
AV = struct.Struct("<16s16sIBBBB6sH")
RING = struct.Struct("<QII")
QP_FIXED = struct.Struct("<26IH8BB13s16s")
QP_STATES = ["RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"]
QP_TYPES = {2: "RC", 3: "UC", 4: "UD"}


class Refused(Exception):
    pass


def av(b):
    dgid, sgid, flow, sgid_index, hop, tclass, v6, dmac, pad = AV.unpack(b)
    if pad or v6 > 1:
        raise Refused("bad address vector")
    return {"dgid": dgid.hex(), "sgid": sgid.hex(), "sgid_index": sgid_index,
            "ipv6": bool(v6), "dmac": dmac.hex(":")}


def rings(body, at, lens):
    """The ring bytes after a record's fixed part; all of the body."""
    out = []
    for n in lens:
        out.append(body[at:at + n])
        if len(out[-1]) != n:
            raise Refused("a ring runs past its record")
        pad = (n + 7) & ~7
        if any(body[at + n:at + pad]):
            raise Refused("non-zero ring padding")
        at += pad
    if at != len(body):
        raise Refused("a record of the wrong length")
    return out


def held_datagrams(blob):
    """The datagrams a Stopped UD QP held: u16 length, two zero bytes,
    the datagram, zeroes to 4 bytes."""
    out, at = [], 0
    while at < len(blob):
        if len(blob) < at + 4:
            raise Refused("a held datagram's header runs past its record")
        n, zero = struct.unpack_from("<HH", blob, at)
        end, pad = at + 4 + n, at + 4 + ((n + 3) & ~3)
        if zero or n == 0 or pad > len(blob) or any(blob[end:pad]):
            raise Refused("a bad held datagram")
        out.append(blob[at + 4:end])
        at = pad
    return out


def ring_info(off, data):
    # The ring header: log2 of the slot size, index mask; producer at 128,
    # consumer at 256 (librxe's struct rxe_queue_buf).
    if len(data) < 384:
        return {"mmap_offset": off, "bytes": len(data)}
    log2, mask = struct.unpack_from("<II", data, 0)
    prod = struct.unpack_from("<I", data, 128)[0]
    cons = struct.unpack_from("<I", data, 256)[0]
    return {"mmap_offset": off, "bytes": len(data), "slot": 1 << log2,
            "slots": mask + 1, "producer": prod, "consumer": cons}


def record(kind, body):
    if kind == 1:
        handle, zero = struct.unpack("<II", body)
        if zero:
            raise Refused("reserved bytes in a PD")
        return {"kind": "pd", "handle": handle}
    if kind == 2:
        h, pd, access, lkey, rkey, zero, start, iova, length = struct.unpack("<6I3Q", body)
        if zero:
            raise Refused("reserved bytes in an MR")
        return {"kind": "mr", "handle": h, "pd": pd, "access": access, "lkey": lkey,
                "rkey": rkey, "start": start, "iova": iova, "length": length}
    if kind == 3:
        h, cqe, notify, channel, vector, comp, user, asyn, waiting = \
            struct.unpack_from("<6IQ2I", body)
        off, n, zero = RING.unpack_from(body, 40)
        if zero or waiting > 1:
            raise Refused("reserved bytes in a CQ")
        (data,) = rings(body, 56, [n])
        return {"kind": "cq", "handle": h, "cqe": cqe, "notify": notify,
                "channel": channel, "comp_vector": vector, "user_handle": hex(user),
                "comp_events": comp, "async_events": asyn,
                "comp_event_waiting": bool(waiting), "ring": ring_info(off, data)}
    if kind == 5:
        h, pd, num, zero = struct.unpack_from("<4I", body)
        if len(body) != 16 + AV.size or zero:
            raise Refused("an AH of the wrong length, or reserved bytes")
        return {"kind": "ah", "handle": h, "pd": pd, "num": num, "av": av(body[16:])}
    if kind == 4:
        f = QP_FIXED.unpack_from(body)
        w, pkey, b, tag, mid, tail = f[:26], f[26], f[27:35], f[35], f[36], f[37]
        at = QP_FIXED.size
        path = av(body[at:at + AV.size])
        at += AV.size
        sq_off, sq_n, z1 = RING.unpack_from(body, at)
        rq_off, rq_n, z2 = RING.unpack_from(body, at + RING.size)
        if z1 or z2 or b[6] > 1 or b[7] > 1 or mid[0] > 1:
            raise Refused("bad QP flags")
        (user, asyn, held_n, token, granted, speaks, has_srq, rest, grants_n, atomics_n,
         taken_n, srq, zero) = struct.unpack_from("<QIIQQBB2sIIIII", body, at + 2 * RING.size)
        if speaks > 1 or has_srq > 1 or any(rest) or grants_n % 24 or atomics_n % 16 or zero:
            raise Refused("bad QP migration flags")
        if not has_srq and (srq or taken_n):
            raise Refused("an SRQ or a taken request for a QP on none")
        sq, rq, held, grants, atomics, taken = rings(
            body, at + 2 * RING.size + 56, [sq_n, rq_n, held_n, grants_n, atomics_n, taken_n])
        names = ["handle", "qpn", "qp_type", "state", "pd", "send_cq", "recv_cq",
                 "max_send_wr", "max_recv_wr", "max_send_sge", "max_recv_sge",
                 "max_inline", "qkey", "access", "path_mtu", "dest_qpn", "sq_psn",
                 "rq_psn", "comp_wqe", "restart_psn", "started", "high_psn",
                 "acked_psn", "epsn", "msn", "rq_next"]
        q = dict(zip(names, w))
        q["kind"] = "qp"
        q["user_handle"] = hex(user)
        q["async_events"] = asyn
        # The migration protocol's tokens (docs/migration.md): whether the
        # QP holds one from its partner, and one it granted.
        q.update(speaks=bool(speaks), has_token=token != 0, granted=granted != 0,
                 ud_grants=len(grants) // 24)
        # The responder's atomic results kept for replay.
        q["atomic_replies"] = len(atomics) // 16
        # Its shared receive queue, and the request it took from it.
        q["srq"] = srq if has_srq else None
        q["taken"] = struct.unpack_from("<Q", taken)[0] if len(taken) >= 8 else None
        q["type"] = QP_TYPES.get(q["qp_type"], str(q["qp_type"]))
        q["state_name"] = QP_STATES[q["state"]] if q["state"] < 7 else str(q["state"])
        q.update(pkey_index=pkey, timeout=b[0], retry_cnt=b[1], rnr_retry=b[2],
                 min_rnr_timer=b[3], max_rd_atomic=b[4], max_dest_rd_atomic=b[5],
                 partner_paused=bool(b[6]), sq_sig_all=bool(mid[0]))
        q["av"] = path if b[7] else None
        if tag == 0:
            q["partial"] = None
        elif tag == 1:
            q["partial"] = {"send": struct.unpack("<Q", tail[:8])[0],
                            "offset": struct.unpack("<I", mid[9:13])[0]}
        elif tag == 2:
            q["partial"] = {"write_rkey": struct.unpack("<I", mid[5:9])[0],
                            "left": struct.unpack("<I", mid[9:13])[0],
                            "at": struct.unpack("<Q", tail[:8])[0],
                            "total": struct.unpack("<I", tail[8:12])[0]}
        else:
            raise Refused("unknown partial message %d" % tag)
        q["sq"] = ring_info(sq_off, sq)
        q["rq"] = ring_info(rq_off, rq)
        q["held"] = held_datagrams(held)
        return q
    if kind == 8:
        h, pd, num, max_wr, max_sge, limit, nxt, asyn, user = struct.unpack_from("<8IQ", body)
        off, n, zero = RING.unpack_from(body, 40)
        if zero:
            raise Refused("reserved bytes in an SRQ")
        (data,) = rings(body, 56, [n])
        return {"kind": "srq", "handle": h, "pd": pd, "num": num, "max_wr": max_wr,
                "max_sge": max_sge, "limit": limit, "next": nxt, "async_events": asyn,
                "user_handle": hex(user), "ring": ring_info(off, data)}
    if kind == 9:
        if len(body) != 16:
            raise Refused("a memory window record of the wrong length")
        h, pd, mw_type, rkey = struct.unpack("<4I", body)
        return {"kind": "mw", "handle": h, "pd": pd, "type": mw_type, "rkey": rkey}
    if kind == 10:
        if len(body) != 32:
            raise Refused("a memory window binding of the wrong length")
        mw, mr, qp, access, addr, length = struct.unpack("<4IQQ", body)
        return {"kind": "mw_binding", "mw": mw, "mr": mr,
                "qp": None if qp == 0xffffffff else qp, "access": access, "addr": addr,
                "length": length}
    if kind == 11:
        if len(body) != 24:
            raise Refused("a multicast attachment of the wrong length")
        qp, lid, zero = struct.unpack_from("<IHH", body)
        if zero:
            raise Refused("reserved bytes in a multicast attachment")
        return {"kind": "mcast_attach", "qp": qp, "lid": lid, "gid": body[8:24].hex()}
    if kind in (6, 7):
        if len(body) != 16:
            raise Refused("a context record of the wrong length")
        cookie, channel, zero = struct.unpack("<QII", body)
        if zero or (kind == 6 and channel):
            raise Refused("reserved bytes in a context record")
        if kind == 6:
            return {"kind": "context", "cookie": cookie}
        return {"kind": "event_file", "context": cookie, "channel": channel}
    raise Refused("unknown record kind %d" % kind)


def parse(data):
    if len(data) < HEADER.size:
        raise Refused("truncated header")
    magic, version, total, count, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise Refused("not an rxe_migros image")
    if version != VERSION:
        raise Refused("image version %d" % version)
    if total != len(data):
        raise Refused("%d bytes, the header says %d" % (len(data), total))
    if zlib.crc32(data[:20] + b"\0" * 4 + data[24:]) != crc:
        raise Refused("bad CRC")
    out, at = [], HEADER.size
    while at < total:
        kind, rversion, n = RECORD.unpack_from(data, at)
        if rversion != 1 or n < RECORD.size or n % 8 or at + n > total:
            raise Refused("bad record header at %d" % at)
        out.append(record(kind, data[at + RECORD.size:at + n]))
        at += n
    if len(out) != count:
        raise Refused("%d records, the header says %d" % (len(out), count))
    return out


def reseal(data):
    """`data` with its CRC made right again (as a forger would)."""
    b = bytearray(data)
    b[20:24] = bytes(4)
    b[20:24] = struct.pack("<I", zlib.crc32(bytes(b)))
    return bytes(b)


def line(o):
    k = o["kind"]
    if k == "context":
        return "context cookie=%d" % o["cookie"]
    if k == "event_file":
        return "event_file context=%d channel=%d" % (o["context"], o["channel"])
    if k == "pd":
        return "pd handle=%d" % o["handle"]
    if k == "mr":
        return ("mr handle=%d pd=%d lkey=%#x rkey=%#x start=%#x iova=%#x length=%d access=%#x"
                % (o["handle"], o["pd"], o["lkey"], o["rkey"], o["start"], o["iova"],
                   o["length"], o["access"]))
    if k == "cq":
        r = o["ring"]
        return ("cq handle=%d cqe=%d notify=%d channel=%d producer=%s consumer=%s ring=%d "
                "comp_events=%d async_events=%d comp_event_waiting=%d"
                % (o["handle"], o["cqe"], o["notify"], o["channel"], r.get("producer"),
                   r.get("consumer"), r["bytes"], o["comp_events"], o["async_events"],
                   o["comp_event_waiting"]))
    if k == "srq":
        r = o["ring"]
        return ("srq handle=%d pd=%d num=%#x max_wr=%d limit=%d next=%d producer=%s"
                % (o["handle"], o["pd"], o["num"], o["max_wr"], o["limit"], o["next"],
                   r.get("producer")))
    if k == "ah":
        return "ah handle=%d pd=%d num=%d dgid=%s" % (o["handle"], o["pd"], o["num"],
                                                      o["av"]["dgid"])
    if k == "mw":
        return "mw handle=%d pd=%d type=%d rkey=%#x" % (o["handle"], o["pd"], o["type"],
                                                        o["rkey"])
    if k == "mcast_attach":
        return "mcast_attach qp=%d lid=%#x gid=%s" % (o["qp"], o["lid"], o["gid"])
    if k == "mw_binding":
        return ("mw_binding mw=%d mr=%d qp=%s addr=%#x length=%d access=%#x"
                % (o["mw"], o["mr"], "-" if o["qp"] is None else o["qp"], o["addr"],
                   o["length"], o["access"]))
    return ("qp handle=%d qpn=%#x type=%s state=%s dest_qpn=%#x sq_psn=%#x restart_psn=%#x "
            "acked_psn=%#x epsn=%#x msn=%d comp_wqe=%d started=%d rq_next=%d partial=%s "
            "partner_paused=%d sq=%d/%d rq=%d/%d held=%d%s"
            % (o["handle"], o["qpn"], o["type"], o["state_name"], o["dest_qpn"], o["sq_psn"],
               o["restart_psn"], o["acked_psn"], o["epsn"], o["msn"], o["comp_wqe"],
               o["started"], o["rq_next"], o["partial"], o["partner_paused"],
               o["sq"].get("consumer", 0), o["sq"].get("producer", 0),
               o["rq"].get("consumer", 0), o["rq"].get("producer", 0), len(o["held"]),
               "" if o["srq"] is None else " srq=%d taken=%s" % (o["srq"], o["taken"])))


def main():
    args = sys.argv[1:]
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    if len(args) != 1:
        sys.exit(__doc__)
    try:
        with open(args[0], "rb") as f:
            objs = parse(f.read())
    except Refused as e:
        print("image.py: %s: refused: %s" % (args[0], e), file=sys.stderr)
        sys.exit(1)
    except struct.error as e:
        print("image.py: %s: refused: a record too short (%s)" % (args[0], e), file=sys.stderr)
        sys.exit(1)
    if as_json:
        json.dump(objs, sys.stdout, indent=1)
        print()
    else:
        for o in objs:
            print(line(o))


if __name__ == "__main__":
    main()
