#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Memory windows (IBA 10.6.7), through pyverbs: the OWNER device's
process binds windows on its MR, the PEER device's process (either may be
the C rxe) reaches it through them:

    mw.py check OWNER OWNER_GID_INDEX PEER PEER_GID_INDEX [strict]

Cases:
    caps        OWNER reports IB_DEVICE_MEM_WINDOW and ..._TYPE_2B, and
                max_mw.
    type2       A type 2 window bound by a BIND_MW request (completes as
                IBV_WC_BIND_MW) takes the peer's WRITE and READ within it.
    local_inv   After the owner's LOCAL_INV (IBV_WC_LOCAL_INV), a WRITE
                with the old rkey fails with IBV_WC_REM_ACCESS_ERR.
    send_inv    The peer's SEND_WITH_INV of the rkey reaches a receive
                that carries it (and, on our driver, IBV_WC_WITH_INV);
                a WRITE with it then fails with IBV_WC_REM_ACCESS_ERR.
    type1       A type 1 window bound through ibv_bind_mw takes a READ;
                bound again to nothing, it takes none.
    dereg       An MR with a window bound is not deregistered (EINVAL);
                once the window is gone, it is.
With "strict" (the owner is our driver; the C rxe checks neither):
    past_end    A WRITE one byte past the window's end fails with
                IBV_WC_REM_ACCESS_ERR, though the MR has the byte.
    other_qp    A type 2 window is its QP's: the partner of another QP
                of the owner (same PD) neither WRITEs through it
                (IBV_WC_REM_ACCESS_ERR) nor invalidates it with a
                SEND_WITH_INV (IBV_WC_REM_INV_REQ_ERR); the window still
                serves its own QP's partner.

Prints "ok CASE" or "not ok CASE: why" per case; the status is the
number of failures.

    mw.py owner DEVICE GID_INDEX PORT ROUNDS
    mw.py user DEVICE GID_INDEX OWNER_IP PORT ROUNDS

Two processes, for migrating either with CRIU: the owner binds a type 2
window (remote write) and a type 1 window (remote read) on its MR and
tells the user their rkeys over TCP (closed after); then each round the
user WRITEs a pattern through the type 2 window and SENDs the round's
number, the owner checks the pattern is in its MR and puts another under
the type 1 window and answers, and the user READs that through it and
checks it. At the end the user's SEND_WITH_INV takes the type 2 window
away (the owner's receive names its rkey, the one it had at the start),
and the user's WRITE through it then fails with IBV_WC_REM_ACCESS_ERR,
which puts the owner's QP in the error state. Each prints "verified ..."
and exits 0, or says what broke and exits 1.
"""
import errno
import socket
import struct
import sys
import time

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR, MW, MWBind, MWBindInfo
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QPCap, QPEx, QPInitAttrEx
from pyverbs.wr import RecvWR, SGE

from events import Fail, check, poll_one, post_ex, run_cases
from integrity import rc_attr, receive_info, wire_info, wire_peer

# IB_UVERBS_DEVICE_MEM_WINDOW and IB_UVERBS_DEVICE_MEM_WINDOW_TYPE_2B.
DEVICE_MEM_WINDOW = 1 << 17
DEVICE_MEM_WINDOW_TYPE_2B = 1 << 24
QP_ACCESS = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
MR_ACCESS = QP_ACCESS | e.IBV_ACCESS_MW_BIND
WIN_ACCESS = e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
OPS = (e.IBV_QP_EX_WITH_BIND_MW | e.IBV_QP_EX_WITH_LOCAL_INV | e.IBV_QP_EX_WITH_SEND |
       e.IBV_QP_EX_WITH_SEND_WITH_INV | e.IBV_QP_EX_WITH_RDMA_WRITE |
       e.IBV_QP_EX_WITH_RDMA_READ)
SIZE = 8192
# The window: 1 KiB of the owner's MR, 1 KiB in.
WIN_AT, WIN_LEN = 1024, 1024


def inc_rkey(rkey):
    """librxe's ibv_inc_rkey: the next key tag."""
    return (rkey & ~0xff) | ((rkey + 1) & 0xff)


class End:
    """A process's end: its device, PD, CQ, an extended RC QP and an MR."""

    def __init__(self, name, gid, ctx=None, pd=None, mr=None):
        self.name, self.gid = name, gid
        self.ctx = ctx or Context(name=name)
        self.pd = pd or PD(self.ctx)
        self.cq = CQ(self.ctx, 64, None, None, 0)
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=1, max_recv_sge=1)
        qia = QPInitAttrEx(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq, pd=self.pd,
                           cap=cap, send_ops_flags=OPS,
                           comp_mask=e.IBV_QP_INIT_ATTR_PD | e.IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)
        self.qp = QPEx(self.ctx, qia)
        self.mr = mr or MR(self.pd, SIZE, MR_ACCESS)

    def connect(self, other):
        self.qp.to_rts(rc_attr(other.qp.qp_num, other.ctx.query_gid(1, other.gid), self.gid,
                               rq_psn=0, sq_psn=0, max_rd_atomic=4, max_dest_rd_atomic=4,
                               qp_access_flags=QP_ACCESS))

    def post(self, wr_id, op):
        post_ex(self.qp, wr_id, op)

    def sge(self, at, length):
        return SGE(self.mr.buf + at, length, self.mr.lkey)

    def write(self, wr_id, rkey, addr, length):
        def op():
            self.qp.wr_rdma_write(rkey, addr)
            self.qp.wr_set_sge(self.sge(0, length))
        self.post(wr_id, op)

    def read(self, wr_id, rkey, addr, length):
        def op():
            self.qp.wr_rdma_read(rkey, addr)
            self.qp.wr_set_sge(self.sge(4096, length))
        self.post(wr_id, op)

    def send_inv(self, wr_id, rkey):
        def op():
            self.qp.wr_send_inv(rkey)
            self.qp.wr_set_sge(self.sge(0, 16))
        self.post(wr_id, op)

    def done(self, wr_id, opcode=None, status=e.IBV_WC_SUCCESS):
        wc = poll_one(self.cq, 30)
        check((wc.wr_id, wc.status) == (wr_id, status),
              f"{self.name}: request {wr_id} completed as {wc.wr_id} with status "
              f"{wc.status}, not {status}")
        if opcode is not None and status == e.IBV_WC_SUCCESS:
            check(wc.opcode == opcode, f"{self.name}: request {wr_id} completed as opcode "
                  f"{wc.opcode}, not {opcode}")
        return wc


class Pair:
    """The owner's QP connected to the peer's, the owner's MR filled with
    a pattern, and a type 2 window of the owner's bound over
    WIN_LEN bytes at WIN_AT of it (`rkey`, the window's address `addr`)."""

    def __init__(self, owner, owner_gid, peer, peer_gid, bind=True):
        self.o = End(owner, owner_gid)
        self.p = End(peer, peer_gid)
        self.o.connect(self.p)
        self.p.connect(self.o)
        self.pattern = bytes((i * 7 + 3) & 0xff for i in range(SIZE))
        self.o.mr.write(self.pattern, SIZE, 0)
        self.addr = self.o.mr.buf + WIN_AT
        if bind:
            self.mw = MW(self.o.pd, e.IBV_MW_TYPE_2)
            self.rkey = self.bind_type2(self.o, self.mw)

    def bind_type2(self, end, mw):
        rkey = inc_rkey(mw.rkey)
        info = MWBindInfo(self.o.mr, self.addr, WIN_LEN, WIN_ACCESS)
        end.post(50, lambda: end.qp.wr_bind_mw(mw, rkey, info))
        end.done(50, e.IBV_WC_BIND_MW)
        return rkey

    def peer_writes(self, wr_id, at, length, status=e.IBV_WC_SUCCESS, rkey=None):
        data = bytes((wr_id + i) & 0xff for i in range(length))
        self.p.mr.write(data, length, 0)
        self.p.write(wr_id, self.rkey if rkey is None else rkey, self.addr + at, length)
        self.p.done(wr_id, e.IBV_WC_RDMA_WRITE, status)
        if status == e.IBV_WC_SUCCESS:
            got = self.o.mr.read(length, WIN_AT + at)
            check(got == data, f"the WRITE through the window did not land ({length} at {at})")


def caps(owner, owner_gid, peer, peer_gid):
    attr = Context(name=owner).query_device_ex()
    flags = attr.device_cap_flags_ex
    for bit, name in ((DEVICE_MEM_WINDOW, "MEM_WINDOW"),
                      (DEVICE_MEM_WINDOW_TYPE_2B, "MEM_WINDOW_TYPE_2B")):
        check(flags & bit, f"{owner} does not report IB_DEVICE_{name} ({flags:#x})")
    check(attr.orig_attr.max_mw > 0, f"{owner} reports max_mw {attr.orig_attr.max_mw}")


def type2(owner, owner_gid, peer, peer_gid):
    p = Pair(owner, owner_gid, peer, peer_gid)
    p.peer_writes(1, 0, 256)
    p.peer_writes(2, WIN_LEN - 64, 64)
    p.p.read(3, p.rkey, p.addr + 512, 128)
    p.p.done(3, e.IBV_WC_RDMA_READ)
    got = p.p.mr.read(128, 4096)
    check(got == p.pattern[WIN_AT + 512:WIN_AT + 640], "the READ through the window")


def local_inv(owner, owner_gid, peer, peer_gid):
    p = Pair(owner, owner_gid, peer, peer_gid)
    p.peer_writes(1, 0, 64)
    p.o.post(51, lambda: p.o.qp.wr_local_inv(p.rkey))
    p.o.done(51, e.IBV_WC_LOCAL_INV)
    p.peer_writes(2, 0, 64, e.IBV_WC_REM_ACCESS_ERR)


def send_inv(owner, owner_gid, peer, peer_gid, strict=False):
    p = Pair(owner, owner_gid, peer, peer_gid)
    p.o.qp.post_recv(RecvWR(77, 1, [p.o.sge(6144, 64)]))
    p.p.send_inv(1, p.rkey)
    p.p.done(1, e.IBV_WC_SEND)
    wc = p.o.done(77, e.IBV_WC_RECV)
    check(wc.imm_data == p.rkey,
          f"the receive says rkey {wc.imm_data:#x} went, not {p.rkey:#x}")
    if strict:
        check(wc.wc_flags & e.IBV_WC_WITH_INV, f"the receive's flags are {wc.wc_flags:#x}")
    p.peer_writes(2, 0, 64, e.IBV_WC_REM_ACCESS_ERR)


def type1(owner, owner_gid, peer, peer_gid):
    p = Pair(owner, owner_gid, peer, peer_gid, bind=False)
    mw = MW(p.o.pd, e.IBV_MW_TYPE_1)
    info = MWBindInfo(p.o.mr, p.addr, WIN_LEN, e.IBV_ACCESS_REMOTE_READ)
    p.o.qp.bind_mw(mw, MWBind(info, e.IBV_SEND_SIGNALED, 60))
    p.o.done(60, e.IBV_WC_BIND_MW)
    p.p.read(1, mw.rkey, p.addr, 256)
    p.p.done(1, e.IBV_WC_RDMA_READ)
    check(p.p.mr.read(256, 4096) == p.pattern[WIN_AT:WIN_AT + 256], "the READ through it")
    old = mw.rkey
    none = MWBindInfo(p.o.mr, p.addr, 0, e.IBV_ACCESS_REMOTE_READ)
    p.o.qp.bind_mw(mw, MWBind(none, e.IBV_SEND_SIGNALED, 61))
    p.o.done(61, e.IBV_WC_BIND_MW)
    check(mw.rkey != old, "binding again kept the rkey")
    p.p.read(2, mw.rkey, p.addr, 256)
    p.p.done(2, e.IBV_WC_RDMA_READ, e.IBV_WC_REM_ACCESS_ERR)


def dereg(owner, owner_gid, peer, peer_gid):
    p = Pair(owner, owner_gid, peer, peer_gid)
    try:
        p.o.mr.close()
        raise Fail("an MR with a window bound was deregistered")
    except PyverbsRDMAError as err:
        check(err.error_code == errno.EINVAL, f"deregistering it failed with {err}")
    p.mw.close()
    p.o.mr.close()


def past_end(owner, owner_gid, peer, peer_gid):
    p = Pair(owner, owner_gid, peer, peer_gid)
    p.peer_writes(1, WIN_LEN - 63, 64, e.IBV_WC_REM_ACCESS_ERR)
    got = p.o.mr.read(64, WIN_AT + WIN_LEN - 63)
    check(got == p.pattern[WIN_AT + WIN_LEN - 63:WIN_AT + WIN_LEN + 1],
          "the refused WRITE changed the MR")


def other_qp(owner, owner_gid, peer, peer_gid):
    p = Pair(owner, owner_gid, peer, peer_gid)
    # A second QP of the owner's, in its PD, with a partner of its own.
    o2 = End(owner, owner_gid, ctx=p.o.ctx, pd=p.o.pd, mr=p.o.mr)
    p2 = End(peer, peer_gid)
    o2.connect(p2)
    p2.connect(o2)
    p2.write(1, p.rkey, p.addr, 64)
    p2.done(1, e.IBV_WC_RDMA_WRITE, e.IBV_WC_REM_ACCESS_ERR)
    o3 = End(owner, owner_gid, ctx=p.o.ctx, pd=p.o.pd, mr=p.o.mr)
    p3 = End(peer, peer_gid)
    o3.connect(p3)
    p3.connect(o3)
    o3.qp.post_recv(RecvWR(78, 1, [o3.sge(6144, 64)]))
    p3.send_inv(2, p.rkey)
    p3.done(2, e.IBV_WC_SEND, e.IBV_WC_REM_INV_REQ_ERR)
    p.peer_writes(3, 0, 64)


# The live run: the user's WRITEs land in one of four 256-byte slots of
# the type 2 window; the owner's answers wait in one of four of the type
# 1 window, WIN1_AT in.
SLOT_BYTES, SLOTS, WIN1_AT = 256, 4, 4096
WINDOWS = struct.Struct("=QIQI")   # type 2 window address, rkey; type 1's


def stamp(k, salt):
    """What round `k` puts in a slot (`salt` tells the two windows apart)."""
    return struct.pack("=QQ", k, salt) * (SLOT_BYTES // 16)


class Live(End):
    """One end of the live run, connected over TCP to the other."""

    def __init__(self, name, gid, sock):
        super().__init__(name, int(gid))
        self.stash = {}
        sock.sendall(wire_info(self.qp, 0, self.ctx.query_gid(1, self.gid), self.mr))
        qpn, _, dgid, _, _ = wire_peer(receive_info(sock))
        self.qp.to_rts(rc_attr(qpn, dgid, self.gid, rq_psn=0, sq_psn=0, max_rd_atomic=4,
                               max_dest_rd_atomic=4, qp_access_flags=QP_ACCESS))
        self.post_recv()

    def post_recv(self):
        self.qp.post_recv(RecvWR(1000, 1, [self.sge(6144, 64)]))

    def expect(self, wr_id, status=e.IBV_WC_SUCCESS):
        """The completion of `wr_id`, checked; others are kept for later."""
        end = time.monotonic() + 120
        while wr_id not in self.stash:
            if time.monotonic() > end:
                raise Fail(f"no completion {wr_id} within 120 s")
            n, wcs = self.cq.poll(4)
            for wc in wcs[:n]:
                self.stash[wc.wr_id] = wc
        wc = self.stash.pop(wr_id)
        check(wc.status == status, f"completion {wr_id} with status {wc.status}, not {status}")
        return wc

    def receive(self):
        """The next message's round number (and its completion)."""
        wc = self.expect(1000)
        k = struct.unpack("=Q", self.mr.read(8, 6144))[0]
        self.post_recv()
        return k, wc

    def send(self, k):
        self.mr.write(struct.pack("=Q", k), 8, 0)

        def op():
            self.qp.wr_send()
            self.qp.wr_set_sge(self.sge(0, 8))
        self.post(1, op)
        self.expect(1)


def owner(dev, gid, port, rounds):
    rounds = int(rounds)
    ls = socket.create_server(("", int(port)))
    sock, _ = ls.accept()
    ls.close()
    me = Live(dev, gid, sock)
    base = me.mr.buf
    mw2 = MW(me.pd, e.IBV_MW_TYPE_2)
    rkey2 = inc_rkey(mw2.rkey)
    info = MWBindInfo(me.mr, base + WIN_AT, SLOTS * SLOT_BYTES, e.IBV_ACCESS_REMOTE_WRITE)
    me.post(50, lambda: me.qp.wr_bind_mw(mw2, rkey2, info))
    me.expect(50)
    mw1 = MW(me.pd, e.IBV_MW_TYPE_1)
    info1 = MWBindInfo(me.mr, base + WIN1_AT, SLOTS * SLOT_BYTES, e.IBV_ACCESS_REMOTE_READ)
    me.qp.bind_mw(mw1, MWBind(info1, e.IBV_SEND_SIGNALED, 51))
    me.expect(51)
    sock.sendall(WINDOWS.pack(base + WIN_AT, rkey2, base + WIN1_AT, mw1.rkey))
    sock.close()
    for k in range(int(rounds)):
        got, _ = me.receive()
        check(got == k, f"round {got} came when {k} was due")
        at = (k % SLOTS) * SLOT_BYTES
        check(me.mr.read(SLOT_BYTES, WIN_AT + at) == stamp(k, 2),
              f"round {k}: the WRITE through the type 2 window is not there")
        me.mr.write(stamp(k, 1), SLOT_BYTES, WIN1_AT + at)
        me.send(k)
    _, wc = me.receive()
    check(wc.opcode == e.IBV_WC_RECV and wc.wc_flags & e.IBV_WC_WITH_INV,
          f"the last message did not invalidate (flags {wc.wc_flags:#x})")
    check(wc.imm_data == rkey2, f"it invalidated {wc.imm_data:#x}, not {rkey2:#x}")
    me.send(rounds)
    # The user's WRITE with the old rkey: refused, and the QP fails.
    end = time.monotonic() + 60
    while me.qp.query(e.IBV_QP_STATE)[0].qp_state != e.IBV_QPS_ERR:
        check(time.monotonic() < end, "a WRITE through the invalidated window did not fail")
        time.sleep(0.05)
    rkey1 = mw1.rkey
    mw1.close()
    mw2.close()
    print(f"verified {rounds} rounds through a type 2 and a type 1 window (rkeys {rkey2:#x}, "
          f"{rkey1:#x}), then the SEND_WITH_INV of the first", flush=True)


def user(dev, gid, host, port, rounds):
    for _ in range(240):
        try:
            sock = socket.create_connection((host, int(port)), timeout=120)
            break
        except ConnectionRefusedError:
            time.sleep(0.5)
    else:
        raise Fail("no owner")
    me = Live(dev, gid, sock)
    data = b""
    while len(data) < WINDOWS.size:
        chunk = sock.recv(WINDOWS.size - len(data))
        check(chunk, "the owner closed the connection")
        data += chunk
    sock.close()
    addr2, rkey2, addr1, rkey1 = WINDOWS.unpack(data)
    start = time.monotonic()
    for k in range(int(rounds)):
        at = (k % SLOTS) * SLOT_BYTES
        me.mr.write(stamp(k, 2), SLOT_BYTES, 1024)
        me.post(2, lambda: (me.qp.wr_rdma_write(rkey2, addr2 + at),
                            me.qp.wr_set_sge(me.sge(1024, SLOT_BYTES))))
        me.expect(2)
        me.send(k)
        got, _ = me.receive()
        check(got == k, f"the owner answered {got} in round {k}")
        me.read(3, rkey1, addr1 + at, SLOT_BYTES)
        me.expect(3)
        check(me.mr.read(SLOT_BYTES, 4096) == stamp(k, 1),
              f"round {k}: the READ through the type 1 window brought other bytes")
    secs = time.monotonic() - start
    me.send_inv(4, rkey2)
    me.expect(4)
    got, _ = me.receive()
    check(got == int(rounds), "the owner did not answer the SEND_WITH_INV")
    me.write(5, rkey2, addr2, 8)
    me.expect(5, e.IBV_WC_REM_ACCESS_ERR)
    print(f"verified {rounds} rounds in {secs:.1f} s, then the window invalidated", flush=True)


def live(fn, args):
    try:
        fn(*args)
    except (Fail, PyverbsRDMAError) as f:
        print(f"FAIL: {f}", flush=True)
        sys.exit(1)


def main():
    if sys.argv[1] == "owner" and len(sys.argv) == 6:
        live(owner, sys.argv[2:])
        return
    if sys.argv[1] == "user" and len(sys.argv) == 7:
        live(user, sys.argv[2:])
        return
    a = sys.argv[2:]
    strict = len(a) > 4 and a[4] == "strict"
    cases = [caps, type2, local_inv, send_inv, type1, dereg]
    if strict:
        def send_inv_strict(*args):
            send_inv(*args, strict=True)
        send_inv_strict.__name__ = "send_inv"
        cases = [caps, type2, local_inv, send_inv_strict, type1, dereg, past_end, other_qp]
    run_cases(cases, a[0], int(a[1]), a[2], int(a[3]))


if __name__ == "__main__":
    main()
