#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A migration without CRIU: one end of an RC connection is stopped in the
middle of traffic in both directions, dumped, destroyed and restored from
its image on a fresh context, and resumes from another address; its
partner, paused meanwhile, follows it. Every message must arrive exactly
once, in order, with its content.

    restore_qp.py DEV_A GID_A GID_A2 DEV_C GID_C

A lives on DEV_A and moves from its GID index GID_A to GID_A2 and back;
C is its partner on DEV_C. The process keeps A's memory across the
restore (it is the same process), as CRIU would put it back.

The second migration leaves the old QP in place, so that its number is
taken: the restored RC QP gets another, and its RESUME tells C. It is
also restored as under CRIU: A's memory is unmapped while its objects are
recreated (the MR is pinned later), then comes back, and A's credentials
change; ADOPT then pins the MR and lets A's uverbs writes through.
Prints "ok NAME" or "not ok NAME: why" per check; exits with the number
of failures.
"""
import ctypes
import errno
import mmap
import os
import sys
import time

import control
import image
import migctl
import pyverbs.enums as e
from control import check, open_context
from integrity import ACCESS, TAG, pattern, rc_attr
from integrity import SLOT as LARGEST
from pyverbs.cq import CQ
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

SLOT = 16384         # room for the largest message
RECVS = 16           # receive requests each side keeps posted
SENDS = 16           # send buffers, each side
MEM = (RECVS + SENDS) * SLOT
CAP = QPCap(max_send_wr=SENDS, max_recv_wr=RECVS, max_send_sge=1, max_recv_sge=1)
BURST = 12           # messages each side sends per phase


def size_of(seq):
    """Up to 12 packets at MTU 1024, so that a stop may fall inside one."""
    return TAG.size + (seq * 4099) % (LARGEST - TAG.size)


class End:
    """One end: device objects over memory that outlives them, created in
    the order a restore recreates them, and the messages it has seen."""

    def __init__(self, dev, gid_index):
        self.dev, self.gid_index = dev, gid_index
        self.mem = mmap.mmap(-1, MEM)
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        self.sent = 0           # messages posted
        self.completed = 0      # send completions
        self.received = 0       # messages received, in order
        self.errors = []
        self.create()

    def create(self):
        self.ctx, self.fd, _ = open_context(self.dev)
        self.objects()

    def objects(self):
        """The objects, in image order: PD, MR, CQ, QP."""
        self.pd = PD(self.ctx)
        self.mr = MR(self.pd, MEM, ACCESS, address=self.addr)
        self.cq = CQ(self.ctx, 2 * (RECVS + SENDS), None, None, 0)
        self.qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq,
                                        rcq=self.cq, cap=CAP))

    def close(self, objects=("qp", "cq", "mr", "pd", "ctx")):
        for name in objects:
            getattr(self, name).close()

    def gid(self, index=None):
        return self.ctx.query_gid(1, self.gid_index if index is None else index)

    def connect(self, peer):
        self.qp.to_rts(rc_attr(peer.qp.qp_num, peer.gid(), self.gid_index,
                               rq_psn=0x4000, sq_psn=0x4000, qp_access_flags=ACCESS))

    def post_recv(self, slot):
        sge = SGE(self.addr + slot * SLOT, SLOT, self.mr.lkey)
        self.qp.post_recv(RecvWR(wr_id=slot, num_sge=1, sg=[sge]))

    def send(self, n):
        for _ in range(n):
            seq, length = self.sent, size_of(self.sent)
            at = (RECVS + seq % SENDS) * SLOT
            self.mem[at:at + length] = pattern(seq, length)
            sge = SGE(self.addr + at, length, self.mr.lkey)
            self.qp.post_send(SendWR(wr_id=seq, opcode=e.IBV_WR_SEND, num_sge=1,
                                     sg=[sge], send_flags=e.IBV_SEND_SIGNALED))
            self.sent += 1

    def poll(self):
        """Takes every completion: a message must be the next expected,
        whole and intact; its receive request is posted again."""
        n, wcs = self.cq.poll(16)
        for wc in wcs[:n]:
            if wc.status != e.IBV_WC_SUCCESS:
                self.errors.append(f"completion status {wc.status}, opcode {wc.opcode}")
            elif wc.opcode == e.IBV_WC_SEND:
                if wc.wr_id != self.completed:
                    self.errors.append(f"send {wc.wr_id} completed, not {self.completed}")
                self.completed += 1
            elif wc.opcode == e.IBV_WC_RECV:
                at = wc.wr_id * SLOT
                seq, length = TAG.unpack(self.mem[at:at + TAG.size])
                whole = (length == wc.byte_len
                         and self.mem[at:at + length] == pattern(seq, length))
                if seq != self.received or not whole:
                    self.errors.append(f"message {seq} ({wc.byte_len} B) where "
                                       f"{self.received} was due, intact: {whole}")
                self.received += 1
                self.post_recv(wc.wr_id)
        return n


def settle(ends, secs=60):
    """Polls until every message sent has arrived and completed."""
    a, c = ends
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        done = (a.received == c.sent and c.received == a.sent
                and a.completed == a.sent and c.completed == c.sent)
        if done or a.errors or c.errors:
            return done and not a.errors and not c.errors
        if not (a.poll() + c.poll()):
            time.sleep(0.002)
    return False


def state(ends):
    return ", ".join(f"{x}: sent {e.sent} completed {e.completed} received {e.received}"
                     f"{' ' + str(e.errors[:3]) if e.errors else ''}"
                     for x, e in zip("AC", ends))


def migrate(ctl, a, c, gid_index, keep_old):
    """Stops A in the middle of a burst each way, dumps it, destroys it
    (all but its QP, CQ and PD if `keep_old`), restores it on a fresh
    context and resumes it from GID `gid_index`. Returns the image's QP
    record, the restored QPN and the objects the old A kept."""
    # Both send right up to the stop, and C goes on after it: what reaches
    # the stopped A gets the paused NAK and pauses C.
    first, then = (c, a) if keep_old else (a, c)
    first.send(BURST)
    then.send(BURST)
    stopped = migctl.stop(ctl, a.fd)
    c.send(BURST // 2)
    img = migctl.dump(ctl, a.fd)
    (rec,) = [o for o in image.parse(img) if o["kind"] == "qp"]
    # C goes on while A is away: it gets the paused NAK for what A had
    # not carried out, and acknowledgements for what it had.
    for _ in range(100):
        c.poll()
        time.sleep(0.005)
    old = {}
    if keep_old:
        old = {k: getattr(a, k) for k in ("qp", "cq", "pd", "ctx")}
        a.mr.close()
    else:
        a.close()
    if keep_old:
        # As under CRIU: the process's memory is not in place while its
        # objects are recreated, so the MR is pinned on ADOPT
        # objects are recreated (a fresh mapping without access keeps its
        # place, so that the new rings are not mapped there).
        saved = a.mem[:]
        fresh_mapping(a.addr, 0)
    a.ctx, a.fd, _ = open_context(a.dev)
    flags = migctl.RESTORE_PIN_LATER if keep_old else 0
    n, placeholders, remapped = migctl.restore_ioctl(ctl, migctl.IOC_RESTORE, a.fd, img,
                                                    flags=flags)
    a.objects()
    # libibverbs keeps a QP's state in the process, and refuses posts to
    # a QP it believes in RESET; a query tells it. (Under CRIU the
    # process's memory comes back with it.)
    a.qp.query(e.IBV_QP_STATE)
    if keep_old:
        control.expect("adopt: memory not in place yet", errno.EFAULT,
                       lambda: migctl.adopt(ctl, a.fd, os.getpid()))
        back = fresh_mapping(a.addr, PROT_READ | PROT_WRITE)
        a.mem[:] = saved
        # As CRIU gives the process new credentials after its files: the
        # RDMA core refuses uverbs writes (librxe's send doorbell is one)
        # until ADOPT. The request is in the ring all the same, and goes
        # once the QP runs.
        os.setgroups([4321])
        control.expect("a send doorbell with other credentials than the opener's",
                       errno.EACCES, lambda: a.send(1))
        a.sent += 1
        pinned = migctl.adopt(ctl, a.fd, os.getpid())
        # C lives in this process too: its file needs the new credentials
        # as well (it has nothing to pin).
        c_pinned = migctl.adopt(ctl, c.fd, os.getpid())
        check("adopt pins the MR in place, and the file takes the process's credentials",
              back == a.addr and pinned == 1 and c_pinned == 0,
              f"{back:#x}, {pinned}, {c_pinned}")
        control.expect("adopt: no such process", errno.ESRCH,
                       lambda: migctl.adopt(ctl, a.fd, 0x3fffffff))
        control.expect("a second adopt", errno.EPERM,
                       lambda: migctl.adopt(ctl, a.fd, os.getpid()))
    a.gid_index = gid_index
    got = migctl.resume(ctl, a.fd, gid_bytes(a))
    check(f"stopped {stopped} QP, restored {n} objects ({remapped} new QPNs), "
          f"resumed {got[0]} announcing {got[1]}",
          stopped == 1 and n == 4 and placeholders == 0 and remapped == int(keep_old)
          and got == (1, 1), f"{stopped}, {n}, {placeholders}, {remapped}, {got}")
    return rec, old


libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED = 0x02, 0x20, 0x10
PROT_READ, PROT_WRITE = 0x1, 0x2


def fresh_mapping(addr, prot):
    """Replaces the memory at `addr` by new zeroed pages with access `prot`."""
    return libc.mmap(ctypes.c_void_p(addr), ctypes.c_size_t(MEM), prot,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)


def gid_bytes(end):
    return bytes.fromhex(str(end.gid()).replace(":", ""))


def path_of(c):
    attr, _ = c.qp.query(e.IBV_QP_AV | e.IBV_QP_DEST_QPN)
    return attr.dest_qp_num, str(attr.ah_attr.dgid)


def main():
    dev_a, ga, ga2, dev_c, gc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4], int(sys.argv[5])
    ctl = os.open(migctl.CTL, os.O_RDWR)
    a, c = End(dev_a, ga), End(dev_c, gc)
    a.connect(c)
    c.connect(a)
    for end in (a, c):
        for slot in range(RECVS):
            end.post_recv(slot)
    a.send(BURST)
    c.send(BURST)
    check("traffic before the migration", settle((a, c)), state((a, c)))

    # 1: the QP number is free again when A is restored.
    qpn = a.qp.qp_num
    rec, _ = migrate(ctl, a, c, ga2, keep_old=False)
    check("the image holds A's QP, Stopped in RTS",
          rec["qpn"] == qpn and rec["state_name"] == "RTS", str(rec))
    check("the restored QP keeps its number", a.qp.qp_num == qpn,
          f"{a.qp.qp_num:#x}, not {qpn:#x}")
    check("messages in flight at the stop arrive once, in order", settle((a, c)),
          state((a, c)))
    got = path_of(c)
    check("C sends to A's new address", got == (qpn, str(a.gid())), str(got))
    a.send(BURST)
    c.send(BURST)
    check("traffic after the migration", settle((a, c)), state((a, c)))

    # 2: the old QP stays, so its number is taken: an RC QP takes another.
    rec, old = migrate(ctl, a, c, ga, keep_old=True)
    check("a taken QP number: the restored RC QP gets another",
          a.qp.qp_num != qpn and rec["qpn"] == qpn, f"{a.qp.qp_num:#x}")
    check("messages in flight at the second stop arrive once, in order",
          settle((a, c)), state((a, c)))
    got = path_of(c)
    check("C follows A to its new QP number and address",
          got == (a.qp.qp_num, str(a.gid())), str(got))
    for k in ("qp", "cq", "pd", "ctx"):
        old[k].close()
    a.send(BURST)
    c.send(BURST)
    check("traffic after the second migration", settle((a, c)), state((a, c)))
    print(f"# A received {a.received}, C received {c.received} messages")
    check("every message sent arrived", a.received == c.sent == 72 and c.received == a.sent == 61,
          state((a, c)))
    a.close()
    c.close()
    sys.exit(control.failures)


if __name__ == "__main__":
    main()
