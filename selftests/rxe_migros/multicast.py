#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A UD multicast checker over pyverbs: two UD QPs of the receiving
device are attached to one group; a sender's datagrams to the group reach
both, each datagram once, in order, from the sender's QP. Then one QP is
detached, and of the sender's next datagrams the other QP gets every one
and the detached QP none. Detaching again is EINVAL.

    multicast.py recv DEVICE GID_INDEX LOCAL_IP GROUP_IP PORT COUNT
    multicast.py send DEVICE GID_INDEX GROUP_IP RECEIVER_IP PORT COUNT
    multicast.py limits DEVICE

The third checks the device's reported limits: max_mcast_grp groups for
one QP and max_mcast_qp_attach QPs in one group attach, one more is
ENOMEM.

The receiver joins the group's IP membership (IGMP) with a socket, as
rdma_cm's rdma_join_multicast would: without it the IP stack drops the
datagrams before any RDMA device sees them, on the C rxe as on ours.
pyverbs has no ibv_attach_mcast, so the receiver sends the uverbs write
command itself, on its context's own file.

Each prints "verified ..." and exits 0, or says what broke and exits 1.
"""
import ctypes
import errno
import os
import socket
import struct
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GID, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

QKEY = 0x11110000
MULTICAST_QPN = 0xFFFFFF
SLOT = 128             # a receive: the 40 bytes of GRH room, then the payload
PAYLOAD = 64
CMD_QUERY_QP, CMD_ATTACH_MCAST, CMD_DETACH_MCAST = 25, 30, 31


def fail(why):
    print(f"FAIL: {why}", flush=True)
    sys.exit(1)


def group_gid(ip):
    """The IPv4-mapped GID of group address `ip`, in GID notation."""
    a = socket.inet_aton(ip)
    return "0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x" % tuple(a)


def ud_qp(pd, cq, depth, sq_psn, srq=None):
    """A UD QP in RTS with Q_Key QKEY, taking its receives from `srq` if
    given."""
    qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=cq, rcq=cq, srq=srq,
                           cap=QPCap(max_send_wr=depth, max_recv_wr=depth,
                                     max_send_sge=1, max_recv_sge=1)))
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index, a.port_num, a.qkey = 0, 1, QKEY
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_QKEY)
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.sq_psn = sq_psn
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)
    return qp


def uverbs_fd(dev):
    """This process's descriptor of `dev`'s uverbs file (libibverbs
    opened it for the context)."""
    base = "/sys/class/infiniband_verbs"
    names = [n for n in os.listdir(base) if n.startswith("uverbs")
             and open(f"{base}/{n}/ibdev").read().strip() == dev]
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/infiniband/") and os.path.basename(target) in names:
            return int(fd)
    fail(f"no uverbs descriptor for {dev}")


def command(fd, cmd, body, out_words=0):
    hdr = struct.pack("=IHH", cmd, (8 + len(body)) // 4, out_words)
    try:
        os.write(fd, hdr + body)
    except OSError as err:
        return err.errno
    return 0


def qp_handle(fd, sq_psn):
    """The uverbs handle of this context's QP with send PSN `sq_psn`."""
    resp = ctypes.create_string_buffer(128)
    for h in range(64):
        body = struct.pack("=QII", ctypes.addressof(resp), h, e.IBV_QP_SQ_PSN)
        if command(fd, CMD_QUERY_QP, body, out_words=32) == 0:
            if struct.unpack_from("=I", resp.raw, 92)[0] == sq_psn:
                return h
    fail(f"no QP handle with send PSN {sq_psn:#x}")


def mcast(fd, cmd, handle, gid):
    return command(fd, cmd, bytes.fromhex(gid.replace(":", "")) + struct.pack("=IHH", handle, 0, 0))


def take(cq, want, seconds):
    """Up to `want` receive completions within `seconds`, by QP number."""
    got = {}
    deadline = time.monotonic() + seconds
    n = 0
    while n < want and time.monotonic() < deadline:
        k, wcs = cq.poll(64)
        for wc in wcs[:k]:
            if wc.status != e.IBV_WC_SUCCESS:
                fail(f"receive {wc.wr_id} completed with status {wc.status}")
            got.setdefault(wc.qp_num, []).append(wc)
            n += 1
        if not k:
            time.sleep(0.005)
    return got


def receiver(dev, gid_index, local_ip, group_ip, port, count):
    count = int(count)
    # The IP membership, as rdma_cm joins it for its users.
    igmp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    igmp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group_ip) + socket.inet_aton(local_ip))
    ctx = Context(name=dev)
    pd = PD(ctx)
    depth = 2 * count
    mr = MR(pd, 2 * depth * SLOT, e.IBV_ACCESS_LOCAL_WRITE)
    cq = CQ(ctx, 2 * depth + 8, None, None, 0)
    qps = [ud_qp(pd, cq, depth, 0x100 + i) for i in range(2)]
    for i, qp in enumerate(qps):
        for k in range(depth):
            slot = (i * depth + k) * SLOT
            qp.post_recv(RecvWR(wr_id=k, num_sge=1, sg=[SGE(mr.buf + slot, SLOT, mr.lkey)]))
    fd = uverbs_fd(dev)
    handles = [qp_handle(fd, 0x100 + i) for i in range(2)]
    gid = group_gid(group_ip)
    for h in handles:
        err = mcast(fd, CMD_ATTACH_MCAST, h, gid)
        if err:
            fail(f"attach to {group_ip}: {os.strerror(err)}")
    # Attaching again is no error.
    if mcast(fd, CMD_ATTACH_MCAST, handles[0], gid):
        fail("a second attach of the same QP failed")
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((local_ip, int(port)))
    lsock.listen(1)
    print("ready", flush=True)
    conn, _ = lsock.accept()
    conn.sendall(b"go\n")
    sender_qpn = int(conn.recv(64).split()[0])

    def check(wcs, who, first):
        seqs = []
        for wc in wcs:
            if not wc.wc_flags & e.IBV_WC_GRH:
                fail(f"{who}: a multicast receive without its GRH")
            if wc.src_qp != sender_qpn:
                fail(f"{who}: a datagram from QP {wc.src_qp}, not {sender_qpn}")
            if wc.byte_len != 40 + PAYLOAD:
                fail(f"{who}: {wc.byte_len} bytes, not {40 + PAYLOAD}")
            slot = ((0 if who == "QP A" else depth) + wc.wr_id) * SLOT
            seqs.append(struct.unpack("=I", mr.read(4, slot + 40))[0])
        if seqs != list(range(first, first + count)):
            fail(f"{who} received {len(seqs)} datagrams, not {count} in order "
                 f"(first {seqs[:5]}, last {seqs[-5:]})")

    # Phase 1: both QPs get every datagram.
    got = take(cq, 2 * count, 120)
    check(got.get(qps[0].qp_num, []), "QP A", 0)
    check(got.get(qps[1].qp_num, []), "QP B", 0)
    # Phase 2: QP B leaves; it gets none of what follows, A all of it.
    if mcast(fd, CMD_DETACH_MCAST, handles[1], gid):
        fail("detach failed")
    err = mcast(fd, CMD_DETACH_MCAST, handles[1], gid)
    if err != errno.EINVAL:
        fail(f"a second detach: {os.strerror(err) if err else 'accepted'}, not EINVAL")
    conn.sendall(b"again\n")
    got = take(cq, count, 120)
    check(got.get(qps[0].qp_num, []), "QP A", count)
    # Whatever was coming for B would have come with A's.
    got.update({q: w for q, w in take(cq, 1, 2).items()})
    if got.get(qps[1].qp_num):
        fail(f"the detached QP received {len(got[qps[1].qp_num])} datagrams")
    conn.sendall(b"done\n")
    mcast(fd, CMD_DETACH_MCAST, handles[0], gid)
    print(f"verified: 2 QPs received all {count} datagrams, then the attached one all "
          f"{count} more and the detached one none", flush=True)


def sender(dev, gid_index, group_ip, host, port, count):
    count = int(count)
    ctx = Context(name=dev)
    pd = PD(ctx)
    mr = MR(pd, 2 * count * PAYLOAD, e.IBV_ACCESS_LOCAL_WRITE)
    cq = CQ(ctx, 64, None, None, 0)
    qp = ud_qp(pd, cq, 32, 0)
    gr = GlobalRoute(dgid=GID(group_gid(group_ip)), sgid_index=int(gid_index), hop_limit=1)
    ah = AH(pd, attr=AHAttr(gr=gr, is_global=1, port_num=1))
    for _ in range(100):
        try:
            conn = socket.create_connection((host, int(port)))
            break
        except OSError:
            time.sleep(0.1)
    else:
        fail("cannot reach the receiver")
    rfile = conn.makefile()

    def burst(first):
        outstanding = 0
        for seq in range(first, first + count):
            at = seq * PAYLOAD
            mr.write(struct.pack("=I", seq) + bytes(PAYLOAD - 4), PAYLOAD, at)
            wr = SendWR(wr_id=seq, opcode=e.IBV_WR_SEND, num_sge=1,
                        sg=[SGE(mr.buf + at, PAYLOAD, mr.lkey)], send_flags=e.IBV_SEND_SIGNALED)
            wr.set_wr_ud(ah, MULTICAST_QPN, QKEY)
            qp.post_send(wr)
            outstanding += 1
            # UD sends as fast as it is posted: a short pause now and then
            # keeps the receivers' softirq backlog from overflowing.
            if seq % 16 == 15:
                time.sleep(0.02)
            while outstanding >= 16 or (seq == first + count - 1 and outstanding):
                k, wcs = cq.poll(16)
                for wc in wcs[:k]:
                    if wc.status != e.IBV_WC_SUCCESS:
                        fail(f"send {wc.wr_id} completed with status {wc.status}")
                outstanding -= k

    if rfile.readline().strip() != "go":
        fail("the receiver did not start")
    conn.sendall(f"{qp.qp_num}\n".encode())
    burst(0)
    if rfile.readline().strip() != "again":
        fail("the receiver stopped after the first burst")
    burst(count)
    if rfile.readline().strip() != "done":
        fail("the receiver failed")
    print(f"verified: sent 2 x {count} datagrams to {group_ip}", flush=True)


def limits(dev):
    ctx = Context(name=dev)
    attr = ctx.query_device()
    groups, per_group = attr.max_mcast_grp, attr.max_mcast_qp_attach
    if not groups or not per_group:
        fail(f"caps {groups} groups, {per_group} QPs a group")
    pd = PD(ctx)
    cq = CQ(ctx, 8, None, None, 0)
    qps = [ud_qp(pd, cq, 1, 0x200 + i) for i in range(per_group + 1)]
    fd = uverbs_fd(dev)
    handles = [qp_handle(fd, 0x200 + i) for i in range(per_group + 1)]
    gids = [group_gid(f"239.2.{n // 256}.{n % 256}") for n in range(groups + 1)]
    for n, gid in enumerate(gids[:groups]):
        err = mcast(fd, CMD_ATTACH_MCAST, handles[0], gid)
        if err:
            fail(f"attach to group {n + 1} of {groups}: {os.strerror(err)}")
    err = mcast(fd, CMD_ATTACH_MCAST, handles[0], gids[groups])
    if err != errno.ENOMEM:
        fail(f"group {groups + 1}: {os.strerror(err) if err else 'attached'}, not ENOMEM")
    for gid in gids[:groups]:
        if mcast(fd, CMD_DETACH_MCAST, handles[0], gid):
            fail("a detach failed")
    for n, h in enumerate(handles[:per_group]):
        err = mcast(fd, CMD_ATTACH_MCAST, h, gids[0])
        if err:
            fail(f"QP {n + 1} of {per_group} in one group: {os.strerror(err)}")
    err = mcast(fd, CMD_ATTACH_MCAST, handles[per_group], gids[0])
    if err != errno.ENOMEM:
        fail(f"QP {per_group + 1} in one group: {os.strerror(err) if err else 'attached'}, not ENOMEM")
    # Destroying a QP that is attached is the core's EBUSY; detached, it goes.
    for h in handles[:per_group]:
        mcast(fd, CMD_DETACH_MCAST, h, gids[0])
    for qp in qps:
        qp.close()
    print(f"verified: {groups} groups for one QP and {per_group} QPs in one group, "
          "one more of either ENOMEM", flush=True)


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    {"recv": receiver, "send": sender, "limits": limits}[role](*args)
