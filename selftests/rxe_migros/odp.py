#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""MRs paged on demand (IBV_ACCESS_ON_DEMAND), through pyverbs, on two RC
QPs of one device connected to each other (loopback): QP a sends from
pinned memory, QP b's MR is paged on demand over an anonymous mapping of
its own.

    odp.py check DEVICE GID_INDEX

Cases:
    unpinned    An ODP MR of 64 MiB pins nothing (VmPin stays as it was)
                and faults nothing in (VmRSS grows by less than 1 MiB);
                a pinned MR of the same memory pins all 64 MiB.
    transfers   Into memory never touched: a WRITE of 12 KiB (three
                pages), read back by a READ; a SEND into a receive there;
                a FETCH_ADD on a counter there, twice.
    invalidated The pages under the MR are taken away (madvise
                MADV_DONTNEED): the process reads zeros there, and a WRITE
                after it lands in the new pages, where the process and a
                READ find it (a driver that kept the old pages would write
                into memory the process no longer sees).
    prefetch    ADVISE_MR (ibv_advise_mr's command) PREFETCH_WRITE with
                IBV_ADVISE_MR_FLAG_FLUSH over 4 MiB faults them in (VmRSS
                grows by at least that); PREFETCH_NO_FAULT, and PREFETCH
                with and without the flag, succeed; a pinned MR, a key of
                no MR, and a range past the MR are EINVAL; PREFETCH_WRITE
                on an MR without local write access is EPERM; an unknown
                advice is EOPNOTSUPP.
    implicit    Implicit ODP (all of the address space) is EOPNOTSUPP.

Prints "ok CASE" or "not ok CASE: why" per case; the status is the
number of failures.
"""
import ctypes
import errno
import mmap
import os
import sys

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SGE, SendWR

from events import Fail, check, poll_one, run_cases
from integrity import rc_attr
from verbs import LOCAL_WRITE, ON_DEMAND, ibv, open_device

ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
ODP = ACCESS | e.IBV_ACCESS_ON_DEMAND
MIB = 1 << 20
PAGE = mmap.PAGESIZE


def status_kb(field):
    """A field of /proc/self/status, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Fail(f"no {field} in /proc/self/status")


def anon(length):
    """An anonymous private mapping and its address."""
    m = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return m, ctypes.addressof(ctypes.c_char.from_buffer(m))


class Pair:
    """QP a (pinned MR `src` of 64 KiB) and QP b, connected to each other
    on one device, b's memory `mem` (`length` bytes) under ODP MR `odp`."""

    def __init__(self, dev, gid_index, length=64 * 1024):
        self.ctx = Context(name=dev)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 16, None, None, 0)
        self.src = MR(self.pd, 64 * 1024, ACCESS)
        self.mem, self.addr = anon(length)
        self.odp = MR(self.pd, length, ODP, address=self.addr)
        cap = QPCap(max_send_wr=8, max_recv_wr=8, max_send_sge=1, max_recv_sge=1)
        init = dict(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq, cap=cap)
        self.a = QP(self.pd, QPInitAttr(**init))
        self.b = QP(self.pd, QPInitAttr(**init))
        gid = self.ctx.query_gid(1, gid_index)
        for qp, to in ((self.a, self.b), (self.b, self.a)):
            qp.to_rts(rc_attr(to.qp_num, gid, gid_index, rq_psn=0, sq_psn=0,
                              qp_access_flags=ACCESS, max_rd_atomic=4,
                              max_dest_rd_atomic=4))

    def post(self, opcode, length, at=0, src_at=0, atomic=None):
        """One request of QP a from `src` at `src_at` to the ODP memory at
        `at`; waits for it to complete successfully."""
        wr = SendWR(opcode=opcode, num_sge=1,
                    sg=[SGE(self.src.buf + src_at, length, self.src.lkey)],
                    send_flags=e.IBV_SEND_SIGNALED)
        if opcode in (e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ):
            wr.set_wr_rdma(self.odp.rkey, self.addr + at)
        elif atomic is not None:
            wr.set_wr_atomic(self.odp.rkey, self.addr + at, atomic, 0)
        self.a.post_send(wr)
        wc = poll_one(self.cq, 10)
        check(wc.status == e.IBV_WC_SUCCESS, f"opcode {opcode} completed with status {wc.status}")
        return wc

    def fill(self, seed, length):
        data = bytes((seed + i * 7) & 0xff for i in range(length))
        self.src.write(data, length, 0)
        return data


def unpinned(dev, gid_index):
    ctx = Context(name=dev)
    pd = PD(ctx)
    m, addr = anon(64 * MIB)
    pin0, rss0 = status_kb("VmPin"), status_kb("VmRSS")
    odp = MR(pd, 64 * MIB, ODP, address=addr)
    pin1, rss1 = status_kb("VmPin"), status_kb("VmRSS")
    check(pin1 == pin0, f"an ODP MR pinned {pin1 - pin0} KiB")
    check(rss1 - rss0 < 1024, f"an ODP MR brought in {rss1 - rss0} KiB")
    odp.close()
    pinned = MR(pd, 64 * MIB, ACCESS, address=addr)
    pin2 = status_kb("VmPin")
    check(pin2 - pin0 == 64 * 1024, f"a pinned MR of 64 MiB pinned {pin2 - pin0} KiB")
    pinned.close()
    m.close()


def transfers(dev, gid_index):
    p = Pair(dev, gid_index)
    data = p.fill(1, 12 * 1024)
    p.post(e.IBV_WR_RDMA_WRITE, len(data), at=PAGE - 100)
    check(p.mem[PAGE - 100:PAGE - 100 + len(data)] == data, "the WRITE's bytes are not in the ODP memory")
    p.src.write(bytes(len(data)), len(data), 0)
    p.post(e.IBV_WR_RDMA_READ, len(data), at=PAGE - 100)
    check(p.src.read(len(data), 0) == data, "the READ brought other bytes back")
    # A SEND into a receive in ODP memory (a page never touched).
    at = 40 * 1024
    p.b.post_recv(RecvWR(wr_id=7, num_sge=1, sg=[SGE(p.addr + at, 4096, p.odp.lkey)]))
    msg = p.fill(2, 3000)
    p.post(e.IBV_WR_SEND, len(msg))
    wc = poll_one(p.cq, 10)
    check(wc.status == e.IBV_WC_SUCCESS and wc.byte_len == len(msg),
          f"the receive completed with status {wc.status}, {wc.byte_len} bytes")
    check(p.mem[at:at + len(msg)] == msg, "the SEND's bytes are not in the receive")
    # FETCH_ADD twice on a counter in ODP memory: 0, then 5.
    at = 56 * 1024
    for want in (0, 5):
        p.post(e.IBV_WR_ATOMIC_FETCH_AND_ADD, 8, at=at, atomic=5)
        got = int.from_bytes(p.src.read(8, 0), "little")
        check(got == want, f"FETCH_ADD returned {got}, wanted {want}")
    check(int.from_bytes(p.mem[at:at + 8], "little") == 10, "the counter is not 10")


def invalidated(dev, gid_index):
    p = Pair(dev, gid_index)
    first = p.fill(3, 8192)
    p.post(e.IBV_WR_RDMA_WRITE, len(first))
    check(p.mem[:len(first)] == first, "the first WRITE is not in the ODP memory")
    p.mem.madvise(mmap.MADV_DONTNEED, 0, 2 * PAGE)
    check(p.mem[:len(first)] == bytes(len(first)), "after MADV_DONTNEED the memory is not zero")
    second = p.fill(4, 8192)
    p.post(e.IBV_WR_RDMA_WRITE, len(second))
    check(p.mem[:len(second)] == second,
          "a WRITE after the pages went is not in the process's new pages")
    p.src.write(bytes(len(second)), len(second), 0)
    p.post(e.IBV_WR_RDMA_READ, len(second))
    check(p.src.read(len(second), 0) == second, "a READ after the pages went brought other bytes")


# The uverbs ADVISE_MR command itself: librxe 56.1 (trixie's) has no
# ibv_advise_mr, for the C rxe either, so libibverbs answers EOPNOTSUPP
# before the kernel is asked; a provider would call this helper.
ibv.ibv_cmd_advise_mr.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32,
                                  ctypes.c_void_p, ctypes.c_uint32]
PREFETCH, PREFETCH_WRITE, PREFETCH_NO_FAULT = 0, 1, 2
FLUSH = 1


class Sge(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_uint64), ("length", ctypes.c_uint32),
                ("lkey", ctypes.c_uint32)]


def lkey_of(mr):
    # struct ibv_mr { context, pd, addr, length; u32 handle, lkey, rkey }
    return ctypes.c_uint32.from_address(mr + 4 * 8 + 4).value


def advise(pd, advice, flags, addr, length, lkey):
    """ADVISE_MR of one range: 0 or the errno."""
    return abs(ibv.ibv_cmd_advise_mr(pd, advice, flags, ctypes.byref(Sge(addr, length, lkey)), 1))


def prefetch(dev, gid_index):
    ctx = open_device(dev)
    pd = ibv.ibv_alloc_pd(ctx)
    m, addr = anon(8 * MIB)
    odp = ibv.ibv_reg_mr(pd, addr, 8 * MIB, ODP)
    check(odp, f"reg_mr of ODP memory: {os.strerror(ctypes.get_errno())}")
    key = lkey_of(odp)
    rss0 = status_kb("VmRSS")
    rc = advise(pd, PREFETCH_WRITE, FLUSH, addr, 4 * MIB, key)
    check(rc == 0, f"PREFETCH_WRITE with FLUSH failed: {os.strerror(rc)}")
    grown = status_kb("VmRSS") - rss0
    check(grown >= 4 * 1024, f"PREFETCH_WRITE of 4 MiB brought in {grown} KiB")
    for advice, flags in ((PREFETCH_NO_FAULT, FLUSH), (PREFETCH, 0), (PREFETCH, FLUSH)):
        rc = advise(pd, advice, flags, addr + 4 * MIB, MIB, key)
        check(rc == 0, f"advice {advice} flags {flags} failed: {os.strerror(rc)}")
    buf = ctypes.create_string_buffer(4096)
    pinned = ibv.ibv_reg_mr(pd, buf, 4096, LOCAL_WRITE)
    readonly = ibv.ibv_reg_mr(pd, addr, MIB, ON_DEMAND)
    check(pinned and readonly, f"reg_mr: {os.strerror(ctypes.get_errno())}")
    cases = [
        ("a pinned MR", PREFETCH, ctypes.addressof(buf), 4096, lkey_of(pinned), errno.EINVAL),
        ("no MR", PREFETCH, addr, 4096, key ^ 0x100, errno.EINVAL),
        ("past the MR", PREFETCH, addr + 8 * MIB - 4096, 8192, key, errno.EINVAL),
        ("write to a read-only MR", PREFETCH_WRITE, addr, 4096, lkey_of(readonly), errno.EPERM),
        ("an unknown advice", 7, addr, 4096, key, errno.EOPNOTSUPP),
    ]
    for name, advice, at, length, lkey, want in cases:
        rc = advise(pd, advice, FLUSH, at, length, lkey)
        check(rc == want, f"{name}: {os.strerror(rc)}, wanted {os.strerror(want)}")
    for mr in (readonly, pinned, odp):
        check(ibv.ibv_dereg_mr(mr) == 0, "dereg_mr failed")
    check(ibv.ibv_dealloc_pd(pd) == 0, "dealloc_pd failed")
    ibv.ibv_close_device(ctx)
    m.close()


def implicit(dev, gid_index):
    ctx = Context(name=dev)
    pd = PD(ctx)
    try:
        MR(pd, 0, ODP, implicit=True)
    except PyverbsRDMAError as err:
        check(err.error_code == errno.EOPNOTSUPP, f"implicit ODP: errno {err.error_code}")
        return
    raise Fail("implicit ODP was registered")


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        sys.exit(__doc__)
    run_cases([unpinned, transfers, invalidated, prefetch, implicit], sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    main()
