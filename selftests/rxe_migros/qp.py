#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Queue pairs and address handles on one device through pyverbs (the
stock libibverbs and librxe): creation and the capacities granted, the IBTA
state machine with its required attributes, the attribute checks, query and
destroy.

    qp.py DEVICE

Prints "ok NAME" or "not ok NAME: why" per test; exits with the number of
failures.
"""
import errno
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GID, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsError, PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

DEV = sys.argv[1]
GID_INDEX = 1   # ::ffff:10.0.0.1 on veth0: RoCEv2 over IPv4


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def refused(what, err, fn, *args, **kw):
    """Runs fn(*args, **kw), which must fail with errno err."""
    try:
        fn(*args, **kw)
    except PyverbsRDMAError as ex:
        check(ex.error_code == err,
              f"{what}: {errno.errorcode.get(ex.error_code)}, wanted {errno.errorcode[err]}")
        return
    except PyverbsError as ex:
        # Creation failures carry errno in their text.
        check(errno.errorcode[err] in str(ex) or str(err) in str(ex),
              f"{what}: {ex}, wanted {errno.errorcode[err]}")
        return
    raise Fail(f"{what} succeeded")


class Env:
    def __init__(self):
        self.ctx = Context(name=DEV)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 64, None, None, 0)
        self.attr = self.ctx.query_device()

    def qp(self, qp_type=e.IBV_QPT_RC, **caps):
        c = dict(max_send_wr=16, max_recv_wr=16, max_send_sge=1, max_recv_sge=1)
        c.update(caps)
        init = QPInitAttr(qp_type=qp_type, scq=self.cq, rcq=self.cq, cap=QPCap(**c))
        return QP(self.pd, init)

    def close(self):
        self.ctx.close()


def rtr_attr(dest_qpn, **kw):
    a = QPAttr(qp_state=e.IBV_QPS_RTR, path_mtu=e.IBV_MTU_1024)
    gr = GlobalRoute(dgid=Env.peer_gid, sgid_index=GID_INDEX)
    a.ah_attr = AHAttr(gr=gr, is_global=1, port_num=1)
    a.dest_qp_num = dest_qpn
    a.rq_psn = 0x123456
    a.max_dest_rd_atomic = 4
    a.min_rnr_timer = 12
    for k, v in kw.items():
        setattr(a, k, v)
    return a


INIT_MASK = e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_ACCESS_FLAGS
RTR_MASK = (e.IBV_QP_STATE | e.IBV_QP_AV | e.IBV_QP_PATH_MTU | e.IBV_QP_DEST_QPN |
            e.IBV_QP_RQ_PSN | e.IBV_QP_MAX_DEST_RD_ATOMIC | e.IBV_QP_MIN_RNR_TIMER)
RTS_MASK = (e.IBV_QP_STATE | e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT | e.IBV_QP_RNR_RETRY |
            e.IBV_QP_SQ_PSN | e.IBV_QP_MAX_QP_RD_ATOMIC)


def init_attr(**kw):
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index = 0
    a.port_num = 1
    a.qp_access_flags = e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def rts_attr(**kw):
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.timeout = 14
    a.retry_cnt = 7
    a.rnr_retry = 7
    a.sq_psn = 0x654321
    a.max_rd_atomic = 4
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def state(qp):
    attr, _ = qp.query(e.IBV_QP_STATE)
    return attr.qp_state


def test_create(env):
    nums = set()
    for t in (e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD):
        for wr, sge, inline in ((1, 1, 0), (100, 4, 64), (1000, 32, 512)):
            qp = env.qp(t, max_send_wr=wr, max_recv_wr=wr, max_send_sge=sge,
                        max_recv_sge=sge, max_inline_data=inline)
            check(qp.qp_num >= 16 and qp.qp_num not in nums, f"QP number {qp.qp_num}")
            nums.add(qp.qp_num)
            _, init = qp.query(e.IBV_QP_CAP)
            cap = init.cap
            check(cap.max_send_wr >= wr and cap.max_recv_wr >= wr, f"granted {cap.max_send_wr}/{cap.max_recv_wr} WRs for {wr}")
            check(cap.max_send_sge >= sge and cap.max_recv_sge >= sge, "granted fewer SGEs")
            check(cap.max_inline_data >= inline, "granted less inline data")
            check(state(qp) == e.IBV_QPS_RESET, "a new QP is not in RESET")
            qp.close()


def test_create_limits(env):
    a = env.attr
    refused("max_send_wr beyond max_qp_wr", errno.EINVAL, env.qp, e.IBV_QPT_RC,
            max_send_wr=a.max_qp_wr + 1)
    refused("max_recv_sge beyond max_sge", errno.EINVAL, env.qp, e.IBV_QPT_RC,
            max_recv_sge=a.max_sge + 1)
    refused("max_inline_data of 513", errno.EINVAL, env.qp, e.IBV_QPT_RC, max_inline_data=513)


def test_rc_to_rts(env):
    qp = env.qp()
    qp.modify(init_attr(), INIT_MASK)
    check(state(qp) == e.IBV_QPS_INIT, "not INIT")
    qp.modify(rtr_attr(0x1234), RTR_MASK)
    check(state(qp) == e.IBV_QPS_RTR, "not RTR")
    qp.modify(rts_attr(), RTS_MASK)
    attr, _ = qp.query(e.IBV_QP_STATE | e.IBV_QP_SQ_PSN | e.IBV_QP_RQ_PSN |
                       e.IBV_QP_DEST_QPN | e.IBV_QP_PATH_MTU | e.IBV_QP_AV)
    check(attr.qp_state == e.IBV_QPS_RTS, "not RTS")
    check(attr.sq_psn == 0x654321 and attr.rq_psn == 0x123456, f"PSNs {attr.sq_psn:#x} {attr.rq_psn:#x}")
    check(attr.dest_qp_num == 0x1234, f"dest QPN {attr.dest_qp_num:#x}")
    check(attr.path_mtu == e.IBV_MTU_1024, f"path MTU {attr.path_mtu}")
    check(attr.ah_attr.sgid_index == GID_INDEX, f"sgid index {attr.ah_attr.sgid_index}")
    # To the error state and back to RESET, from anywhere.
    qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
    check(state(qp) == e.IBV_QPS_ERR, "not ERR")
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RESET), e.IBV_QP_STATE)
    check(state(qp) == e.IBV_QPS_RESET, "not RESET")
    qp.close()


def ud_rts(env):
    """A UD QP brought to RTS, with Q_Key 0x11111111."""
    qp = env.qp(e.IBV_QPT_UD)
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index, a.port_num, a.qkey = 0, 1, 0x11111111
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_QKEY)
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.sq_psn = 0
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)
    return qp


def test_ud_to_rts(env):
    qp = ud_rts(env)
    attr, _ = qp.query(e.IBV_QP_STATE | e.IBV_QP_QKEY)
    check(attr.qp_state == e.IBV_QPS_RTS and attr.qkey == 0x11111111, "UD QP not RTS with its Q_Key")
    qp.close()


def test_bad_transitions(env):
    qp = env.qp()
    refused("RESET -> RTR", errno.EINVAL, qp.modify, rtr_attr(1), RTR_MASK)
    refused("RESET -> RTS", errno.EINVAL, qp.modify, rts_attr(), RTS_MASK)
    refused("RESET -> INIT without the port", errno.EINVAL, qp.modify, init_attr(),
            INIT_MASK & ~e.IBV_QP_PORT)
    refused("an attribute RESET -> INIT does not take (SQ PSN)", errno.EINVAL, qp.modify,
            init_attr(sq_psn=5), INIT_MASK | e.IBV_QP_SQ_PSN)
    qp.modify(init_attr(), INIT_MASK)
    refused("INIT -> RTR without the path MTU", errno.EINVAL, qp.modify, rtr_attr(1),
            RTR_MASK & ~e.IBV_QP_PATH_MTU)
    refused("INIT -> RTS", errno.EINVAL, qp.modify, rts_attr(), RTS_MASK)
    refused("a wrong current state", errno.EINVAL, qp.modify,
            QPAttr(qp_state=e.IBV_QPS_INIT, cur_qp_state=e.IBV_QPS_RTS),
            e.IBV_QP_STATE | e.IBV_QP_CUR_STATE)
    check(state(qp) == e.IBV_QPS_INIT, "a refused modify changed the state")
    qp.close()


def test_bad_attributes(env):
    qp = env.qp()
    refused("port 2", errno.EINVAL, qp.modify, init_attr(port_num=2), INIT_MASK)
    refused("P_Key index 1", errno.EINVAL, qp.modify, init_attr(pkey_index=1), INIT_MASK)
    qp.modify(init_attr(), INIT_MASK)
    for name, bad in (("path_mtu", 6), ("max_dest_rd_atomic", 200), ("min_rnr_timer", 32)):
        refused(f"{name} {bad}", errno.EINVAL, qp.modify, rtr_attr(1, **{name: bad}), RTR_MASK)
    a = rtr_attr(1)
    a.ah_attr = AHAttr(is_global=0, port_num=1)
    refused("an address without a GRH", errno.EINVAL, qp.modify, a, RTR_MASK)
    check(state(qp) == e.IBV_QPS_INIT, "a refused modify changed the state")
    qp.modify(rtr_attr(1), RTR_MASK)
    for name, bad in (("retry_cnt", 8), ("rnr_retry", 8), ("timeout", 32), ("max_rd_atomic", 200)):
        refused(f"{name} {bad}", errno.EINVAL, qp.modify, rts_attr(**{name: bad}), RTS_MASK)
    check(state(qp) == e.IBV_QPS_RTR, "a refused modify changed the state")
    qp.close()


def test_large_queues(env):
    # 2^17 work requests each way: the rings, and the per-request arrays
    # beside them, are large allocations, made with vmalloc where kmalloc
    # cannot (no page allocator warning, which dmesg_clean would catch).
    n = 1 << 17
    qp = env.qp(max_send_wr=n, max_recv_wr=n)
    _, init = qp.query(e.IBV_QP_CAP)
    check(init.cap.max_send_wr >= n and init.cap.max_recv_wr >= n,
          f"granted {init.cap.max_send_wr}/{init.cap.max_recv_wr} WRs for {n}")
    qp.modify(init_attr(), INIT_MASK)
    qp.close()


def poll_one(cq, secs=30):
    """The next completion of `cq`, within `secs`."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        n, wcs = cq.poll(1)
        if n:
            return wcs[0]
    raise Fail(f"no completion in {secs} s")


def test_max_depth_pingpong(env):
    # A QP granted max_qp_wr (2^20) work requests each way carries a
    # pingpong with its data checked, as ibv_rc_pingpong -c would (which
    # cannot ask for that depth: its CQ would pass max_cqe), against a small
    # QP of the same device. Its rings (2^21 slots each) and its table of
    # started requests are vmalloc'd, most of a gigabyte of this guest.
    n = env.attr.max_qp_wr
    size, iters = 4096, 100
    big_cq = CQ(env.ctx, 16, None, None, 0)
    init = QPInitAttr(qp_type=e.IBV_QPT_RC, scq=big_cq, rcq=big_cq,
                      cap=QPCap(max_send_wr=n, max_recv_wr=n, max_send_sge=1, max_recv_sge=1))
    big = QP(env.pd, init)
    _, got = big.query(e.IBV_QP_CAP)
    check(got.cap.max_send_wr >= n and got.cap.max_recv_wr >= n,
          f"granted {got.cap.max_send_wr}/{got.cap.max_recv_wr} WRs for {n}")
    small = env.qp()
    for qp, peer in ((big, small), (small, big)):
        qp.modify(init_attr(), INIT_MASK)
        qp.modify(rtr_attr(peer.qp_num, rq_psn=0x100), RTR_MASK)
        qp.modify(rts_attr(sq_psn=0x100), RTS_MASK)
    access = e.IBV_ACCESS_LOCAL_WRITE
    mrs = {q.qp_num: MR(env.pd, 2 * size, access) for q in (big, small)}
    cqs = {big.qp_num: big_cq, small.qp_num: env.cq}

    def one_way(src, dst, i):
        data = bytes((i * 7 + k) & 0xff for k in range(size))
        smr, dmr = mrs[src.qp_num], mrs[dst.qp_num]
        dst.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[SGE(dmr.buf + size, size, dmr.lkey)]))
        smr.write(data, size, 0)
        src.post_send(SendWR(wr_id=i, opcode=e.IBV_WR_SEND, num_sge=1,
                             sg=[SGE(smr.buf, size, smr.lkey)], send_flags=e.IBV_SEND_SIGNALED))
        for qp, want in ((src, e.IBV_WC_SEND), (dst, e.IBV_WC_RECV)):
            wc = poll_one(cqs[qp.qp_num])
            check(wc.status == e.IBV_WC_SUCCESS and wc.opcode == want and wc.wr_id == i,
                  f"iteration {i}: status {wc.status}, opcode {wc.opcode}, wr_id {wc.wr_id}")
        check(dmr.read(size, size) == data, f"iteration {i}: the data differ")

    start = time.monotonic()
    for i in range(iters):
        one_way(small, big, i)
        one_way(big, small, i)
    us = (time.monotonic() - start) / iters * 1e6
    print(f"# {iters} round trips of {size} B with a {n}-deep QP: {us:.0f} us/iter")
    for q in (big, small):
        q.close()
    big_cq.close()


def test_many(env):
    qps = [env.qp(e.IBV_QPT_RC if i % 2 else e.IBV_QPT_UD) for i in range(100)]
    check(len({q.qp_num for q in qps}) == 100, "QP numbers repeat")
    for q in qps[::3] + [q for i, q in enumerate(qps) if i % 3]:
        q.close()


def test_recv_queue_depth(env):
    # librxe posts receives straight into the ring we mapped, and finds it
    # full from the header we wrote: exactly the capacity we granted fits,
    # the next is ENOMEM, and a longer scatter list than granted EINVAL.
    for want in (1, 10, 100):
        qp = env.qp(max_recv_wr=want, max_recv_sge=2)
        qp.modify(init_attr(), INIT_MASK)
        _, init = qp.query(e.IBV_QP_CAP)
        granted = init.cap.max_recv_wr
        sge = SGE(0x1000, 64, 0x100)
        for i in range(granted):
            qp.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[sge]))
        refused(f"receive {granted + 1} of {granted}", errno.ENOMEM, qp.post_recv,
                RecvWR(wr_id=granted, num_sge=1, sg=[sge]))
        qp.close()
    qp = env.qp(max_recv_sge=2)
    qp.modify(init_attr(), INIT_MASK)
    refused("a receive with 3 SGEs of 2", errno.EINVAL, qp.post_recv,
            RecvWR(wr_id=0, num_sge=3, sg=[SGE(0, 1, 1)] * 3))
    qp.close()


def test_ah(env):
    ahs = []
    for gid_index in (0, GID_INDEX):
        gid = env.ctx.query_gid(1, gid_index)
        for _ in range(20):
            gr = GlobalRoute(dgid=gid, sgid_index=gid_index)
            ahs.append(AH(env.pd, attr=AHAttr(gr=gr, is_global=1, port_num=1)))
    for ah in ahs:
        ah.close()
    refused("an AH without a GRH", errno.EINVAL, AH, env.pd,
            attr=AHAttr(is_global=0, port_num=1))


def sent_pkts():
    with open(f"/sys/class/infiniband/{DEV}/ports/1/hw_counters/sent_pkts") as f:
        return int(f.read())


def ud_send_status(env, qp, ah, mr):
    """Posts one signalled UD SEND through `ah` and returns its completion's
    status."""
    wr = SendWR(wr_id=7, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(mr.buf, 64, mr.lkey)],
                send_flags=e.IBV_SEND_SIGNALED)
    wr.set_wr_ud(ah, 0x123, 0x11111111)
    qp.post_send(wr)
    return completion_status(env, 7, 5)


def completion_status(env, wr_id, seconds):
    """The status of the next completion on env.cq, which must be WR
    wr_id's, within the given time."""
    end = time.time() + seconds
    while time.time() < end:
        n, wcs = env.cq.poll()
        if n:
            check(wcs[0].wr_id == wr_id, f"a completion for WR {wcs[0].wr_id}")
            return wcs[0].status
        time.sleep(0.01)
    raise Fail(f"no completion within {seconds} s")


def test_ah_other_pd(env):
    # AH numbers are the device's and sequential: a UD QP must not send
    # through an AH of another PD (here the same process's second PD; another
    # process's AH is of another PD too). The send completes with
    # LOC_QP_OP_ERR and no packet leaves; through its own PD's AH it goes.
    qp = ud_rts(env)
    mr = MR(env.pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
    pd2 = PD(env.ctx)
    # ::ffff:10.0.0.2 (nsB), as pyverbs spells a GID.
    gr = GlobalRoute(dgid=GID("0000:0000:0000:0000:0000:ffff:0a00:0002"), sgid_index=GID_INDEX)
    theirs = AH(pd2, attr=AHAttr(gr=gr, is_global=1, port_num=1))
    ours = AH(env.pd, attr=AHAttr(gr=gr, is_global=1, port_num=1))
    before = sent_pkts()
    st = ud_send_status(env, qp, theirs, mr)
    check(st == e.IBV_WC_LOC_QP_OP_ERR,
          f"a send through another PD's AH completed with status {st}, wanted LOC_QP_OP_ERR")
    # A UD send completes as it goes out, and is counted just after: give a
    # packet that did leave the time to show.
    time.sleep(0.5)
    check(sent_pkts() == before, f"{sent_pkts() - before} packet(s) left through another PD's AH")
    check(state(qp) == e.IBV_QPS_ERR, "the QP is not in ERR after its error completion")
    # The same send through its own PD's AH, on a fresh QP, does leave.
    qp.close()
    qp = ud_rts(env)
    before = sent_pkts()
    st = ud_send_status(env, qp, ours, mr)
    check(st == e.IBV_WC_SUCCESS, f"a send through its own PD's AH completed with status {st}")
    time.sleep(0.5)
    sent = sent_pkts() - before
    check(sent == 1, f"{sent} packets left, wanted 1")
    for o in (qp, theirs, ours, mr, pd2):
        o.close()


def test_post_before_rts(env):
    # As the C rxe: the send doorbell is refused before RTS (in RESET, INIT
    # and RTR), and nothing leaves; from RTS on the same request goes.
    qp = env.qp()
    mr = MR(env.pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
    wr = SendWR(wr_id=1, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(mr.buf, 64, mr.lkey)])
    before = sent_pkts()
    refused("a send in RESET", errno.EINVAL, qp.post_send, wr)
    qp.modify(init_attr(), INIT_MASK)
    refused("a send in INIT", errno.EINVAL, qp.post_send, wr)
    qp.modify(rtr_attr(qp.qp_num), RTR_MASK)
    refused("a send in RTR", errno.EINVAL, qp.post_send, wr)
    check(sent_pkts() == before, "a QP sent before RTS")
    qp.modify(rts_attr(), RTS_MASK)
    qp.post_send(wr)


def test_honest_caps(env):
    # What is not implemented yet is not advertised (UCX, SPDK and
    # libfabric look before they use a feature). Atomics, multicast, SRQs,
    # memory windows and fast registration are (the atomics, multicast,
    # srq, mw and nvmeof tests exercise them, srq resizing too); the SRQ
    # limits hold here.
    a = env.attr
    check(a.atomic_caps == e.IBV_ATOMIC_HCA, f"atomic_caps is {a.atomic_caps}")
    check(a.max_mcast_grp > 0 and a.max_mcast_qp_attach > 0, "no multicast advertised")
    check(a.max_mw > 0, "no memory windows advertised")
    check(a.device_cap_flags & e.IBV_DEVICE_SRQ_RESIZE, "SRQ resizing not advertised")
    from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr
    check(a.max_srq > 0 and a.max_srq_wr > 0 and a.max_srq_sge > 0, "no SRQs advertised")
    srq = SRQ(env.pd, SrqInitAttr(SrqAttr(max_wr=16, max_sge=a.max_srq_sge)))
    got = srq.query()
    check(got.max_wr >= 16 and got.max_sge == a.max_srq_sge,
          f"an SRQ of 16 x {a.max_srq_sge} got {got.max_wr} x {got.max_sge}")
    srq.close()
    refused("an SRQ of too many SGEs", errno.EINVAL, SRQ, env.pd,
            SrqInitAttr(SrqAttr(max_wr=16, max_sge=a.max_srq_sge + 1)))
    refused("an SRQ of too many requests", errno.EINVAL, SRQ, env.pd,
            SrqInitAttr(SrqAttr(max_wr=a.max_srq_wr + 1, max_sge=1)))
    # ATOMIC WRITE and FLUSH to global visibility are (atomic_write);
    # FLUSH to persistence is not (no persistent memory behind an MR), so
    # an MR that asks for it is refused.
    flags = env.ctx.query_device_ex().device_cap_flags_ex
    check(flags & 1 << 40 and flags & 1 << 38, f"ATOMIC_WRITE or FLUSH_GLOBAL not advertised ({flags:#x})")
    check(not flags & 1 << 39, "FLUSH_PERSISTENT advertised")
    # Fast registration is, for kernel consumers (nvmeof exercises it):
    # IB_DEVICE_MEM_MGT_EXTENSIONS (bit 21), with page lists of 512.
    check(flags & 1 << 21, f"MEM_MGT_EXTENSIONS not advertised ({flags:#x})")
    refused("an MR for persistent flushes", errno.EOPNOTSUPP, MR, env.pd, 4096,
            e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_FLUSH_PERSISTENT)
    # What is advertised works: RDMA READ (max_qp_rd_atom) is the perftest
    # and migration tests' business; here the QP takes the limit.
    check(a.max_qp_rd_atom > 0, "no RDMA READ advertised")


def test_left_open(env):
    # Closing the device with QPs, AHs (and their CQ and PD) alive must free
    # them.
    env.left = [env.qp() for _ in range(5)]
    gr = GlobalRoute(dgid=Env.peer_gid, sgid_index=GID_INDEX)
    env.left += [AH(env.pd, attr=AHAttr(gr=gr, is_global=1, port_num=1)) for _ in range(5)]


def main():
    failed = 0
    ctx = Context(name=DEV)
    Env.peer_gid = ctx.query_gid(1, GID_INDEX)
    ctx.close()
    for name in [n[5:] for n in globals() if n.startswith("test_")]:
        env = Env()
        try:
            globals()["test_" + name](env)
            print(f"ok {name}")
        except (Fail, PyverbsError, AttributeError, TypeError, ValueError) as ex:
            print(f"not ok {name}: {ex}")
            failed += 1
        env.close()
    sys.exit(failed)


if __name__ == "__main__":
    main()
