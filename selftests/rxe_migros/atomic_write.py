#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""ATOMIC WRITE and FLUSH (IBA annex A19), through pyverbs' extended QP
(ibv_wr_atomic_write, ibv_wr_flush), from an RC QP of the requester's
device to one of the responder's device (either may be the C rxe):

    atomic_write.py check REQ_DEVICE REQ_GID_INDEX RESP_DEVICE RESP_GID_INDEX [odp]

With "odp", the responder's MRs are paged on demand (IBV_ACCESS_ON_DEMAND).

Cases:
    caps       The requester's device reports IB_DEVICE_ATOMIC_WRITE and
               IB_DEVICE_FLUSH_GLOBAL (what these cases exercise).
    write      An ATOMIC WRITE of eight bytes lands at its aligned address
               and nowhere else, and completes as IBV_WC_ATOMIC_WRITE; 200
               more to one word, eight outstanding, leave the last value.
    flush      FLUSH to global visibility of a range and of the whole MR
               complete as IBV_WC_FLUSH, after WRITEs they follow.
    refused    A FLUSH to an MR registered without IBV_ACCESS_FLUSH_GLOBAL
               completes with IBV_WC_REM_ACCESS_ERR.

Prints "ok CASE" or "not ok CASE: why" per case; the status is the
number of failures.
"""
import struct
import sys

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPCap, QPEx, QPInitAttr, QPInitAttrEx
from pyverbs.wr import SGE

from events import check, poll_one, post_ex, run_cases
from integrity import rc_attr

# IB_UVERBS_DEVICE_FLUSH_GLOBAL and IB_UVERBS_DEVICE_ATOMIC_WRITE.
DEVICE_FLUSH_GLOBAL = 1 << 38
DEVICE_ATOMIC_WRITE = 1 << 40
RESP_ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
               e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_FLUSH_GLOBAL)
SIZE = 4096
# The access of the responder's MRs: RESP_ACCESS, with ON_DEMAND for "odp".
mr_access = RESP_ACCESS


class Pair:
    """An extended RC QP on the requester's device, connected to a QP on
    the responder's, whose MR it writes and flushes."""

    def __init__(self, req, req_gid, resp, resp_gid, access=None):
        self.rctx, self.sctx = Context(name=req), Context(name=resp)
        self.rpd, self.spd = PD(self.rctx), PD(self.sctx)
        self.rcq = CQ(self.rctx, 64, None, None, 0)
        self.scq = CQ(self.sctx, 64, None, None, 0)
        cap = QPCap(max_send_wr=16, max_recv_wr=1, max_send_sge=1, max_recv_sge=1)
        ops = (e.IBV_QP_EX_WITH_ATOMIC_WRITE | e.IBV_QP_EX_WITH_FLUSH |
               e.IBV_QP_EX_WITH_RDMA_WRITE)
        qia = QPInitAttrEx(qp_type=e.IBV_QPT_RC, scq=self.rcq, rcq=self.rcq, pd=self.rpd,
                           cap=cap, send_ops_flags=ops,
                           comp_mask=e.IBV_QP_INIT_ATTR_PD | e.IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)
        self.qp = QPEx(self.rctx, qia)
        self.peer = QP(self.spd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.scq,
                                            rcq=self.scq, cap=cap))
        self.local = MR(self.rpd, SIZE, e.IBV_ACCESS_LOCAL_WRITE)
        self.mr = MR(self.spd, SIZE, mr_access if access is None else access)
        self.mr.write(bytes(SIZE), SIZE, 0)
        self.qp.to_rts(rc_attr(self.peer.qp_num, self.sctx.query_gid(1, resp_gid), req_gid,
                               rq_psn=0, sq_psn=0, max_rd_atomic=8))
        self.peer.to_rts(rc_attr(self.qp.qp_num, self.rctx.query_gid(1, req_gid), resp_gid,
                                 rq_psn=0, sq_psn=0, max_dest_rd_atomic=8,
                                 qp_access_flags=RESP_ACCESS))

    def post(self, wr_id, op):
        post_ex(self.qp, wr_id, op)

    def atomic_write(self, wr_id, at, value):
        self.post(wr_id, lambda: self.qp.wr_atomic_write(self.mr.rkey, self.mr.buf + at,
                                                         struct.pack("=Q", value)))

    def flush(self, wr_id, at, length, level):
        self.post(wr_id, lambda: self.qp.wr_flush(self.mr.rkey, self.mr.buf + at, length,
                                                  e.IBV_FLUSH_GLOBAL, level))

    def write(self, wr_id, at, data):
        self.local.write(data, len(data), 0)

        def op():
            self.qp.wr_rdma_write(self.mr.rkey, self.mr.buf + at)
            self.qp.wr_set_sge(SGE(self.local.buf, len(data), self.local.lkey))
        self.post(wr_id, op)

    def done(self, wr_id, opcode, status=e.IBV_WC_SUCCESS):
        wc = poll_one(self.rcq, 30)
        check((wc.wr_id, wc.status) == (wr_id, status),
              f"request {wr_id}: completion {wc.wr_id} with status {wc.status}, "
              f"not {status}")
        if status == e.IBV_WC_SUCCESS:
            check(wc.opcode == opcode, f"request {wr_id} completed as opcode {wc.opcode}")

    def word(self, at):
        return struct.unpack("=Q", self.mr.read(8, at))[0]


def caps(req, req_gid, resp, resp_gid):
    flags = Context(name=req).query_device_ex().device_cap_flags_ex
    for bit, name in ((DEVICE_ATOMIC_WRITE, "ATOMIC_WRITE"), (DEVICE_FLUSH_GLOBAL, "FLUSH_GLOBAL")):
        check(flags & bit, f"{req} does not report IB_DEVICE_{name} ({flags:#x})")


def write(req, req_gid, resp, resp_gid):
    p = Pair(req, req_gid, resp, resp_gid)
    p.atomic_write(1, 64, 0x1122334455667788)
    p.done(1, e.IBV_WC_ATOMIC_WRITE)
    check(p.word(64) == 0x1122334455667788, f"the word holds {p.word(64):#x}")
    around = p.mr.read(32, 32) + p.mr.read(32, 72)
    check(around == bytes(64), "bytes around the word changed")
    posted = done = 0
    while done < 200:
        while posted < 200 and posted - done < 8:
            p.atomic_write(100 + posted, 128, 0xA5A5_0000_0000_0000 + posted)
            posted += 1
        p.done(100 + done, e.IBV_WC_ATOMIC_WRITE)
        done += 1
    check(p.word(128) == 0xA5A5_0000_0000_0000 + 199, f"the last value is {p.word(128):#x}")


def flush(req, req_gid, resp, resp_gid):
    p = Pair(req, req_gid, resp, resp_gid)
    p.write(1, 256, b"flushed" * 8)
    p.flush(2, 256, 56, e.IBV_FLUSH_RANGE)
    p.flush(3, 0, 0, e.IBV_FLUSH_MR)
    p.done(1, e.IBV_WC_RDMA_WRITE)
    p.done(2, e.IBV_WC_FLUSH)
    p.done(3, e.IBV_WC_FLUSH)
    check(p.mr.read(56, 256) == b"flushed" * 8, "the WRITE before the FLUSH is not there")


def refused(req, req_gid, resp, resp_gid):
    plain = mr_access & ~e.IBV_ACCESS_FLUSH_GLOBAL
    p = Pair(req, req_gid, resp, resp_gid, access=plain)
    p.flush(1, 0, 64, e.IBV_FLUSH_RANGE)
    p.done(1, e.IBV_WC_FLUSH, e.IBV_WC_REM_ACCESS_ERR)


def main():
    global mr_access
    a = sys.argv[2:]
    if a[4:] == ["odp"]:
        mr_access |= e.IBV_ACCESS_ON_DEMAND
    run_cases((caps, write, flush, refused), a[0], int(a[1]), a[2], int(a[3]))


if __name__ == "__main__":
    main()
