#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A QP's asynchronous events, as its process reads them from its device's
async event file (pyverbs).

    events.py refused DEVICE GID_INDEX
        Two RC QPs of one device, connected to each other (loopback). A
        WRITE under a key the responder never gave must complete with
        REM_ACCESS_ERR and raise QP_ACCESS_ERR on the responder's QP; a
        SEND longer than the receive waiting for it must complete with
        REM_INV_REQ_ERR (the receive with LOC_LEN_ERR) and raise QP_REQ_ERR.
        Both responders end in the error state. Then SQD on such a pair:
        SQ_DRAINED once what was sent is acknowledged, a WRITE posted in
        SQD waits, and back in RTS it is carried out. Then SQD while it
        drains (towards a partner in the error state): Query QP says so,
        RTS and SQD are refused with EINVAL, the error state is not.
    events.py stopped DEVICE GID_INDEX OURS THEIRS
    events.py lost DEVICE GID_INDEX OURS THEIRS LIMIT
        One RC QP, connected to a QP of another process (another device):
        each writes "QPN GID" to file OURS and reads the other's from
        THEIRS. "stopped" then says "ready" and waits to be stopped
        through the control device and killed. "lost", once the file
        OURS.go appears, sends a SEND, which its stopped partner
        answers with the paused NAK, and must see it complete with
        RETRY_EXC_ERR and QP_FATAL raised once the driver's bound on a pause
        (pause_timeout_s, given as LIMIT seconds) has passed, and not
        before.

Prints "ok CASE" or "not ok CASE: why" per case; the status is the
number of failures.
"""
import errno
import os
import signal
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import GID
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

from integrity import ACCESS, rc_attr


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def new_qp(pd, cq):
    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    return QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))


def connect(qp, qpn, gid, gid_index, **more):
    qp.to_rts(rc_attr(qpn, gid, gid_index, rq_psn=0, sq_psn=0,
                      qp_access_flags=ACCESS, **more))


def run_cases(cases, *args):
    """Runs each case with `args`, printing "ok CASE" or "not ok CASE:
    why"; exits with the number of failures."""
    failed = 0
    for case in cases:
        try:
            case(*args)
            print(f"ok {case.__name__}", flush=True)
        except (Fail, PyverbsRDMAError) as f:
            print(f"not ok {case.__name__}: {f}", flush=True)
            failed += 1
    sys.exit(failed)


def post_ex(qp, wr_id, op):
    """Posts one signalled request to extended QP `qp` under `wr_id`,
    which `op` (its wr_* calls) builds."""
    qp.wr_start()
    qp.wr_id = wr_id
    qp.wr_flags = e.IBV_SEND_SIGNALED
    op()
    qp.wr_complete()


def poll_one(cq, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n, wcs = cq.poll(1)
        if n:
            return wcs[0]
        time.sleep(0.01)
    raise Fail(f"no completion within {seconds} s")


def next_event(ctx, seconds):
    """The next async event's type. libibverbs blocks in read() for it:
    an alarm ends the wait (a hang the test's time limit would end)."""
    def late(*_):
        raise Fail(f"no async event within {seconds} s")
    signal.signal(signal.SIGALRM, late)
    signal.alarm(seconds)
    try:
        ev = ctx.get_async_event()
    finally:
        signal.alarm(0)
    kind = ev.event_type
    ev.ack()
    return kind


def send(qp, mr, opcode, length, rkey=0, addr=0):
    wr = SendWR(opcode=opcode, num_sge=1,
                sg=[SGE(mr.buf, length, mr.lkey)],
                send_flags=e.IBV_SEND_SIGNALED)
    if opcode == e.IBV_WR_RDMA_WRITE:
        wr.set_wr_rdma(rkey, addr)
    qp.post_send(wr)


def loopback_pair(dev, gid_index, **more):
    """Two RC QPs of one device connected to each other (with the RTS
    attributes `more`), one CQ and an MR of 4 KiB: (context, CQ, MR, QP a,
    QP b)."""
    ctx = Context(name=dev)
    pd = PD(ctx)
    cq = CQ(ctx, 16, None, None, 0)
    mr = MR(pd, 4096, ACCESS)
    a, b = new_qp(pd, cq), new_qp(pd, cq)
    gid = ctx.query_gid(1, gid_index)
    connect(a, b.qp_num, gid, gid_index, **more)
    connect(b, a.qp_num, gid, gid_index, **more)
    # The PD goes with the context's other objects: pyverbs keeps it.
    return ctx, cq, mr, a, b


def refused(dev, gid_index):
    failed = 0
    cases = [
        ("access", e.IBV_WR_RDMA_WRITE, e.IBV_WC_REM_ACCESS_ERR,
         e.IBV_EVENT_QP_ACCESS_ERR),
        ("invalid", e.IBV_WR_SEND, e.IBV_WC_REM_INV_REQ_ERR,
         e.IBV_EVENT_QP_REQ_ERR),
    ]
    for name, opcode, status, event in cases:
        try:
            ctx, cq, mr, a, b = loopback_pair(dev, gid_index)
            if opcode == e.IBV_WR_SEND:
                b.post_recv(RecvWR(num_sge=1, sg=[SGE(mr.buf + 2048, 16, mr.lkey)]))
                send(a, mr, opcode, 64)
            else:
                send(a, mr, opcode, 64, rkey=mr.rkey ^ 0x100, addr=mr.buf + 2048)
            got = {}
            for _ in range(2 if opcode == e.IBV_WR_SEND else 1):
                wc = poll_one(cq, 10)
                got[wc.qp_num] = wc.status
            check(got.get(a.qp_num) == status,
                  f"the requester completed with {got.get(a.qp_num)}, wanted {status}")
            if opcode == e.IBV_WR_SEND:
                check(got.get(b.qp_num) == e.IBV_WC_LOC_LEN_ERR,
                      f"the receive completed with {got.get(b.qp_num)}")
            kind = next_event(ctx, 10)
            check(kind == event, f"async event {kind}, wanted {event}")
            state = b.query(e.IBV_QP_STATE)[0].qp_state
            check(state == e.IBV_QPS_ERR, f"the responder is in state {state}")
            print(f"ok {name}", flush=True)
        except Fail as f:
            print(f"not ok {name}: {f}", flush=True)
            failed += 1
    return failed


def sqd(dev, gid_index):
    """SQD on a loopback pair: SQ_DRAINED comes once what was sent is
    acknowledged; a WRITE posted in SQD waits, and RTS carries it out."""
    try:
        ctx, cq, mr, a, b = loopback_pair(dev, gid_index)
        mr.write(b"x" * 64, 64, 0)
        send(a, mr, e.IBV_WR_RDMA_WRITE, 64, rkey=mr.rkey, addr=mr.buf + 1024)
        a.modify(QPAttr(qp_state=e.IBV_QPS_SQD), e.IBV_QP_STATE)
        kind = next_event(ctx, 10)
        check(kind == e.IBV_EVENT_SQ_DRAINED, f"async event {kind}, wanted SQ_DRAINED")
        wc = poll_one(cq, 10)
        check(wc.status == e.IBV_WC_SUCCESS, f"the WRITE before SQD: status {wc.status}")
        check(mr.read(64, 1024) == b"x" * 64, "the WRITE before SQD did not land")
        mr.write(b"y" * 64, 64, 0)
        send(a, mr, e.IBV_WR_RDMA_WRITE, 64, rkey=mr.rkey, addr=mr.buf + 2048)
        time.sleep(1)
        n, _ = cq.poll(1)
        check(n == 0 and mr.read(64, 2048) == bytes(64), "SQD carried out a WRITE posted in it")
        a.modify(QPAttr(qp_state=e.IBV_QPS_RTS), e.IBV_QP_STATE)
        wc = poll_one(cq, 10)
        check(wc.status == e.IBV_WC_SUCCESS, f"the WRITE after SQD: status {wc.status}")
        check(mr.read(64, 2048) == b"y" * 64, "the WRITE after SQD did not land")
        print("ok sqd", flush=True)
        return 0
    except Fail as f:
        print(f"not ok sqd: {f}", flush=True)
        return 1


def draining(dev, gid_index):
    """SQD left while it drains: a WRITE towards a partner in the error
    state (which answers nothing) keeps a's send queue draining, with a
    retransmission timeout of 4.3 s; Query QP says so, RTS (and SQD
    again) is refused with EINVAL, the error state is not, and it flushes
    the WRITE."""
    try:
        ctx, cq, mr, a, b = loopback_pair(dev, gid_index, timeout=20)
        b.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        send(a, mr, e.IBV_WR_RDMA_WRITE, 64, rkey=mr.rkey, addr=mr.buf + 1024)
        a.modify(QPAttr(qp_state=e.IBV_QPS_SQD), e.IBV_QP_STATE)
        attr, _ = a.query(e.IBV_QP_STATE)
        check(attr.qp_state == e.IBV_QPS_SQD and attr.sq_draining == 1,
              f"state {attr.qp_state}, sq_draining {attr.sq_draining}: wanted SQD, draining")
        for to in (e.IBV_QPS_RTS, e.IBV_QPS_SQD):
            try:
                a.modify(QPAttr(qp_state=to), e.IBV_QP_STATE)
            except PyverbsRDMAError as err:
                check(err.error_code == errno.EINVAL, f"to state {to}: {err}")
            else:
                raise Fail(f"left SQD for state {to} while draining")
        a.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        wc = poll_one(cq, 10)
        check(wc.qp_num == a.qp_num and wc.status == e.IBV_WC_WR_FLUSH_ERR,
              f"QP {wc.qp_num} completed with {wc.status}, wanted a's WRITE flushed")
        print("ok draining", flush=True)
        return 0
    except Fail as f:
        print(f"not ok draining: {f}", flush=True)
        return 1


def exchange(qp, ctx, gid_index, ours, theirs):
    gid = ctx.query_gid(1, gid_index)
    with open(ours + ".tmp", "w") as f:
        f.write(f"{qp.qp_num} {gid}\n")
    os.rename(ours + ".tmp", ours)
    for _ in range(600):
        if os.path.exists(theirs):
            qpn, g = open(theirs).read().split()
            connect(qp, int(qpn), GID(g), gid_index)
            return
        time.sleep(0.1)
    raise Fail("the other process never wrote its QPN")


def pair_end(mode, dev, gid_index, ours, theirs, limit):
    ctx = Context(name=dev)
    pd = PD(ctx)
    cq = CQ(ctx, 16, None, None, 0)
    mr = MR(pd, 4096, ACCESS)
    qp = new_qp(pd, cq)
    try:
        exchange(qp, ctx, gid_index, ours, theirs)
        if mode == "stopped":
            qp.post_recv(RecvWR(num_sge=1, sg=[SGE(mr.buf, 4096, mr.lkey)]))
            print("ready", flush=True)
            time.sleep(600)
            return 0
        # Once the partner is stopped: the file OURS.go says so.
        for _ in range(600):
            if os.path.exists(ours + ".go"):
                break
            time.sleep(0.1)
        else:
            raise Fail("never told to go")
        start = time.monotonic()
        send(qp, mr, e.IBV_WR_SEND, 64)
        wc = poll_one(cq, 120)
        took = time.monotonic() - start
        check(wc.status == e.IBV_WC_RETRY_EXC_ERR,
              f"the SEND completed with {wc.status} after {took:.1f} s")
        check(took >= limit, f"gave up after {took:.1f} s, before the bound of {limit} s")
        kind = next_event(ctx, 10)
        check(kind == e.IBV_EVENT_QP_FATAL, f"async event {kind}, wanted QP_FATAL")
        print(f"ok lost: RETRY_EXC_ERR and QP_FATAL after {took:.1f} s", flush=True)
        return 0
    except Fail as f:
        print(f"not ok {mode}: {f}", flush=True)
        return 1


def main():
    mode = sys.argv[1]
    if mode == "refused":
        dev, gid_index = sys.argv[2], int(sys.argv[3])
        sys.exit(refused(dev, gid_index) + sqd(dev, gid_index) + draining(dev, gid_index))
    limit = float(sys.argv[6]) if len(sys.argv) > 6 else 0
    sys.exit(pair_end(mode, sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], limit))


if __name__ == "__main__":
    main()
