#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Shared receive queues, through pyverbs, on two RC QPs of one device
connected to each other (loopback): QP a sends, QP b takes its receives
from an SRQ.

    srq.py check DEVICE GID_INDEX

Cases:
    limit     Query SRQ reports the sizes granted; receives are taken in the
              order they were posted, one per message, with the data in
              them; with the limit armed at 4 and 8 posted, four SENDs leave
              it armed, the fifth fires SRQ_LIMIT_REACHED once and disarms
              it (Query SRQ says 0).
    refused   A limit above the SRQ's size, and a size of 0, below what
              waits or below the limit, are EINVAL; the SRQ is unchanged
              and what waits is taken in order afterwards.
    resize    An SRQ of 4 with two receives waiting resized to 40: they
              are taken first, in order, then 27 posted after it; resized
              to 2 with none waiting, it still serves.
    rnr       A SEND while the SRQ is empty gets RNR and waits; it
              completes once a receive is posted to the SRQ.
    last_wqe  b moved to the error state raises QP_LAST_WQE_REACHED on it.
    ud        A UD QP on an SRQ: a datagram from another UD QP of the device
              lands in the SRQ's receive after its 40 bytes of GRH room,
              with the sender's QP number and IBV_WC_GRH.

Prints "ok CASE" or "not ok CASE: why" per case; the status is the
number of failures.
"""
import errno
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr
from pyverbs.wr import RecvWR, SGE, SendWR

from events import Fail, check, connect, next_event, poll_one, run_cases
from multicast import QKEY, ud_qp

# The receive buffers start halfway into the MR, one 64-byte slice each.
RECV_AT = 2048
SLICE = 64


class Pair:
    """QP a (its own receive queue) and QP b (on an SRQ of `max_wr`), on
    one device, connected to each other."""

    def __init__(self, dev, gid_index, max_wr=16):
        self.ctx = Context(name=dev)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 64, None, None, 0)
        self.mr = MR(self.pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
        self.srq = SRQ(self.pd, SrqInitAttr(SrqAttr(max_wr=max_wr, max_sge=1)))
        cap = QPCap(max_send_wr=8, max_recv_wr=1, max_send_sge=1, max_recv_sge=1)
        self.a = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq,
                                        rcq=self.cq, cap=cap))
        self.b = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq,
                                        rcq=self.cq, srq=self.srq, cap=cap))
        gid = self.ctx.query_gid(1, gid_index)
        connect(self.a, self.b.qp_num, gid, gid_index)
        connect(self.b, self.a.qp_num, gid, gid_index)

    def post_recv(self, i):
        sge = SGE(self.mr.buf + RECV_AT + i * SLICE, SLICE, self.mr.lkey)
        self.srq.post_recv(RecvWR(wr_id=100 + i, num_sge=1, sg=[sge]))

    def send(self, seq):
        """A SEND of 16 bytes that say `seq`."""
        self.mr.write(bytes([seq]) * 16, 16, 0)
        wr = SendWR(wr_id=seq, opcode=e.IBV_WR_SEND, num_sge=1,
                    sg=[SGE(self.mr.buf, 16, self.mr.lkey)],
                    send_flags=e.IBV_SEND_SIGNALED)
        self.a.post_send(wr)

    def exchange(self, seq):
        """Sends `seq` and returns the receive's completion, after the
        send's."""
        self.send(seq)
        got = {}
        for _ in range(2):
            wc = poll_one(self.cq, 20)
            check(wc.status == e.IBV_WC_SUCCESS,
                  f"QP {wc.qp_num} completed with status {wc.status}")
            got[wc.qp_num] = wc
        check(self.b.qp_num in got, "no receive completion")
        return got[self.b.qp_num]


def limit(dev, gid_index):
    p = Pair(dev, gid_index)
    attr = p.srq.query()
    check(attr.max_wr >= 16 and attr.max_sge == 1 and attr.srq_limit == 0,
          f"Query SRQ: max_wr {attr.max_wr}, max_sge {attr.max_sge}, limit {attr.srq_limit}")
    for i in range(8):
        p.post_recv(i)
    p.srq.modify(SrqAttr(srq_limit=4), e.IBV_SRQ_LIMIT)
    check(p.srq.query().srq_limit == 4, "the limit did not take")
    for seq in range(4):
        wc = p.exchange(seq)
        check(wc.wr_id == 100 + seq, f"message {seq} took receive {wc.wr_id}")
        check(wc.byte_len == 16, f"message {seq} has {wc.byte_len} bytes")
        data = p.mr.read(16, RECV_AT + seq * SLICE)
        check(data == bytes([seq]) * 16, f"message {seq} arrived as {data!r}")
    check(p.srq.query().srq_limit == 4, "the limit fired with 4 receives left")
    p.exchange(4)
    kind = next_event(p.ctx, 10)
    check(kind == e.IBV_EVENT_SRQ_LIMIT_REACHED, f"async event {kind}, wanted SRQ_LIMIT_REACHED")
    check(p.srq.query().srq_limit == 0, "the limit is still armed after its event")


def refused(dev, gid_index):
    p = Pair(dev, gid_index)
    before = p.srq.query()
    for i in range(3):
        p.post_recv(i)

    def refuse(what, attr, mask):
        try:
            p.srq.modify(attr, mask)
        except PyverbsRDMAError as err:
            check(err.error_code == errno.EINVAL,
                  f"{what}: {errno.errorcode.get(err.error_code)}, wanted EINVAL")
        else:
            raise Fail(f"{what} was accepted")

    refuse("a limit above the size", SrqAttr(srq_limit=before.max_wr + 1), e.IBV_SRQ_LIMIT)
    refuse("a size of 0", SrqAttr(max_wr=0), e.IBV_SRQ_MAX_WR)
    refuse("a size below the 3 waiting", SrqAttr(max_wr=1), e.IBV_SRQ_MAX_WR)
    p.srq.modify(SrqAttr(srq_limit=8), e.IBV_SRQ_LIMIT)
    refuse("a size below the limit", SrqAttr(max_wr=4), e.IBV_SRQ_MAX_WR)
    after = p.srq.query()
    check((after.max_wr, after.max_sge, after.srq_limit) ==
          (before.max_wr, before.max_sge, 8), "a refused modify changed the SRQ")
    # What waits is still there, in order.
    for seq in range(3):
        wc = p.exchange(seq)
        check(wc.wr_id == 100 + seq, f"message {seq} took receive {wc.wr_id}")


def resize(dev, gid_index):
    p = Pair(dev, gid_index, max_wr=4)
    for i in range(3):
        p.post_recv(i)
    p.exchange(0)
    # Two wait (101, 102), behind a consumer index the new ring starts
    # again from.
    p.srq.modify(SrqAttr(max_wr=40), e.IBV_SRQ_MAX_WR)
    got = p.srq.query()
    check(got.max_wr >= 40, f"resized to 40, Query SRQ says {got.max_wr}")
    for i in range(3, 30):
        p.post_recv(i)
    for seq in range(1, 30):
        wc = p.exchange(seq)
        check(wc.wr_id == 100 + seq, f"message {seq} took receive {wc.wr_id} after the resize")
        data = p.mr.read(16, RECV_AT + seq * SLICE)
        check(data == bytes([seq]) * 16, f"message {seq} arrived as {data!r}")
    # And smaller again, with nothing waiting.
    p.srq.modify(SrqAttr(max_wr=2), e.IBV_SRQ_MAX_WR)
    check(p.srq.query().max_wr >= 2, "the second resize")
    p.post_recv(30)
    check(p.exchange(30).wr_id == 130, "the receive posted after the second resize")


def rnr(dev, gid_index):
    p = Pair(dev, gid_index)
    p.send(7)
    time.sleep(1)
    n, wcs = p.cq.poll(1)
    check(n == 0, "a SEND completed with no receive posted: " +
          " ".join(f"QP {w.qp_num} (a {p.a.qp_num}) wr {w.wr_id} status {w.status}" for w in wcs[:n]))
    p.post_recv(0)
    got = {}
    for _ in range(2):
        wc = poll_one(p.cq, 20)
        got[wc.qp_num] = wc
    check(all(w.status == e.IBV_WC_SUCCESS for w in got.values()),
          f"statuses {[w.status for w in got.values()]}")
    check(p.b.qp_num in got and got[p.b.qp_num].wr_id == 100, "the SRQ's receive was not taken")


def last_wqe(dev, gid_index):
    p = Pair(dev, gid_index)
    p.post_recv(0)
    p.exchange(1)
    p.b.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
    kind = next_event(p.ctx, 10)
    check(kind == e.IBV_EVENT_QP_LAST_WQE_REACHED,
          f"async event {kind}, wanted QP_LAST_WQE_REACHED")


def ud(dev, gid_index):
    ctx = Context(name=dev)
    pd = PD(ctx)
    cq = CQ(ctx, 16, None, None, 0)
    mr = MR(pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
    srq = SRQ(pd, SrqInitAttr(SrqAttr(max_wr=8, max_sge=1)))
    sender, receiver = (ud_qp(pd, cq, 4, 0, srq=q) for q in (None, srq))
    srq.post_recv(RecvWR(wr_id=55, num_sge=1, sg=[SGE(mr.buf + RECV_AT, 40 + 16, mr.lkey)]))
    gr = GlobalRoute(dgid=ctx.query_gid(1, gid_index), sgid_index=gid_index, hop_limit=64)
    ah = AH(pd, attr=AHAttr(gr=gr, is_global=1, port_num=1))
    mr.write(b"ud-on-an-srq-16b", 16, 0)
    wr = SendWR(wr_id=1, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(mr.buf, 16, mr.lkey)],
                send_flags=e.IBV_SEND_SIGNALED)
    wr.set_wr_ud(ah, receiver.qp_num, QKEY)
    sender.post_send(wr)
    got = {}
    for _ in range(2):
        wc = poll_one(cq, 20)
        got[wc.qp_num] = wc
    wc = got.get(receiver.qp_num)
    check(wc is not None and wc.status == e.IBV_WC_SUCCESS,
          f"the datagram's receive: {wc.status if wc else 'none'}")
    check(wc.wr_id == 55 and wc.byte_len == 40 + 16, f"receive {wc.wr_id} of {wc.byte_len} bytes")
    check(wc.src_qp == sender.qp_num and wc.wc_flags & e.IBV_WC_GRH, "no source QP or GRH")
    data = mr.read(16, RECV_AT + 40)
    check(data == b"ud-on-an-srq-16b", f"the datagram arrived as {data!r}")


def main():
    run_cases((limit, refused, resize, rnr, last_wqe, ud), sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    main()
