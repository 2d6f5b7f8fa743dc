#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The control device as an attacker would use it (docs/security.md). A
caller with CAP_CHECKPOINT_RESTORE but another user's uid, handed the
uverbs file of a root process's live context, tries to STOP, RESUME, DUMP
and IDENTIFY it; opens a context of its own and ADOPTs it with the pid of
that root process, which would pin memory of its choosing in the victim
and give its file the victim's credentials; ADOPTs it into a process that
does hold the file but was not restored; then ADOPTs its own context while
a thread keeps swapping a file root opened into the same descriptor.

    adopt_trust.py victim DEVICE
        as root, with /dev/rxe_migros on descriptor 3 and the device's
        uverbs file (no context) on descriptor 4: runs a pingpong between
        two QPs of its own context, starts the attacker as uid 1000 with
        CAP_CHECKPOINT_RESTORE and its descriptors 3 and 4 and the
        context's files, and checks that its pingpong never stalled.
    adopt_trust.py attack DEVICE VICTIM_PID VICTIM_FD VICTIM_EVENT_FD

Prints "ok ..." or "not ok ..." per check; exits with the failures.
"""
import collections
import errno
import fcntl
import os
import sys
import threading

import subprocess
import time

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

import migctl
from control import open_context

failures = 0


def refused(what, err, fn):
    global failures
    try:
        fn()
    except OSError as e:
        if e.errno == err:
            print(f"ok {what}: {errno.errorcode[err]}")
            return
        print(f"not ok {what}: {errno.errorcode.get(e.errno)}, wanted {errno.errorcode[err]}")
    else:
        print(f"not ok {what}: accepted")
    failures += 1


def opener_check(what, foreign):
    """A write on root's uverbs file from this process must fail the RDMA
    core's check that the writer is the opener (EACCES)."""
    refused(what, errno.EACCES, lambda: os.write(foreign, bytes(24)))


def dup2_race(ctl, dev, foreign):
    """1,000 ADOPTs, each of a fresh context of our own (allowed: a
    process taking its own file along), while another thread keeps
    swapping root's file into that descriptor with dup2. ADOPT takes the
    file once and uses that reference throughout: each try adopts our
    context or finds root's file, which has none (ENODEV), and root's file
    never gets our credentials."""
    global failures
    lock = threading.Lock()
    target = [None]
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            with lock:
                if target[0] is not None:
                    fd, saved = target[0]
                    os.dup2(foreign, fd)
                    os.dup2(saved, fd)

    swapper = threading.Thread(target=swap)
    swapper.start()
    seen = collections.Counter()
    for _ in range(1000):
        ctx, fd, _ = open_context(dev)
        saved = os.dup(fd)
        with lock:
            target[0] = (fd, saved)
        try:
            migctl.adopt(ctl, fd, os.getpid())
            seen["adopted"] += 1
        except OSError as e:
            seen[errno.errorcode.get(e.errno, str(e.errno))] += 1
        with lock:
            target[0] = None
        os.dup2(saved, fd)
        os.close(saved)
        ctx.close()
    stop.set()
    swapper.join()
    print(f"# 1,000 ADOPTs during dup2 swaps: {dict(seen)}")
    if set(seen) <= {"adopted", "ENODEV"} and seen["adopted"] > 0:
        print("ok ADOPT during dup2 swaps: each adopted our context or found root's file")
    else:
        print(f"not ok ADOPT during dup2 swaps: {dict(seen)}")
        failures += 1
    opener_check("root's file keeps root's credentials after the race", foreign)


class Pingpong:
    """Two RC QPs of one context, connected to each other through the
    device's own address (loopback), taking turns to send 64 bytes."""

    def __init__(self, ctx, gid_index=1):
        self.pd = PD(ctx)
        self.cq = CQ(ctx, 16, None, None, 0)
        cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
        self.qps = [QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq, cap=cap))
                    for _ in range(2)]
        self.mr = MR(self.pd, 256, e.IBV_ACCESS_LOCAL_WRITE)
        gid = ctx.query_gid(1, gid_index)
        for qp, peer in zip(self.qps, reversed(self.qps)):
            a = QPAttr(qp_state=e.IBV_QPS_INIT)
            a.pkey_index, a.port_num, a.qp_access_flags = 0, 1, 0
            qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_ACCESS_FLAGS)
            a = QPAttr(qp_state=e.IBV_QPS_RTR, path_mtu=e.IBV_MTU_1024)
            a.ah_attr = AHAttr(gr=GlobalRoute(dgid=gid, sgid_index=gid_index), is_global=1, port_num=1)
            a.dest_qp_num, a.rq_psn, a.max_dest_rd_atomic, a.min_rnr_timer = peer.qp_num, 0, 1, 12
            qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_AV | e.IBV_QP_PATH_MTU | e.IBV_QP_DEST_QPN |
                      e.IBV_QP_RQ_PSN | e.IBV_QP_MAX_DEST_RD_ATOMIC | e.IBV_QP_MIN_RNR_TIMER)
            a = QPAttr(qp_state=e.IBV_QPS_RTS)
            a.timeout, a.retry_cnt, a.rnr_retry, a.sq_psn, a.max_rd_atomic = 14, 7, 7, 0, 1
            qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT |
                      e.IBV_QP_RNR_RETRY | e.IBV_QP_SQ_PSN | e.IBV_QP_MAX_QP_RD_ATOMIC)
        self.rounds = 0

    def round(self, secs=10):
        """One message each way; raises if it does not complete in time."""
        for src, dst in ((0, 1), (1, 0)):
            self.qps[dst].post_recv(RecvWR(wr_id=2, num_sge=1, sg=[SGE(self.mr.buf + 128, 64, self.mr.lkey)]))
            self.qps[src].post_send(SendWR(wr_id=1, opcode=e.IBV_WR_SEND, num_sge=1,
                                           sg=[SGE(self.mr.buf, 64, self.mr.lkey)],
                                           send_flags=e.IBV_SEND_SIGNALED))
            got = 0
            deadline = time.monotonic() + secs
            while got < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"round {self.rounds} stalled for {secs} s")
                n, wcs = self.cq.poll(2)
                for wc in wcs[:n]:
                    if wc.status != e.IBV_WC_SUCCESS:
                        raise OSError(f"round {self.rounds}: completion status {wc.status}")
                got += n
        self.rounds += 1

    def state(self):
        return [qp.query(e.IBV_QP_STATE)[0].qp_state for qp in self.qps]


def victim(dev):
    """Root's side: a live context whose file the attacker is handed."""
    global failures
    ctx, fd, event_fd = open_context(dev)
    pp = Pingpong(ctx)
    pp.round()
    attacker = subprocess.Popen(
        ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups",
         "--inh-caps=+checkpoint_restore", "--ambient-caps=+checkpoint_restore",
         sys.executable, __file__, "attack", dev, str(os.getpid()), str(fd), str(event_fd)],
        pass_fds=(3, 4, fd, event_fd))
    before = pp.rounds
    try:
        while attacker.poll() is None:
            pp.round()
            # One vCPU is shared with the attacker: a round every 20 ms
            # shows the QPs alive without starving it.
            time.sleep(0.02)
    except (TimeoutError, OSError) as ex:
        print(f"not ok the victim's pingpong during the attack: {ex}")
        failures += 1
    rc = attacker.wait()
    failures += rc
    during = pp.rounds - before
    for _ in range(20):
        pp.round()
    rts = all(s == e.IBV_QPS_RTS for s in pp.state())
    print(f"# the victim's pingpong: {during} rounds during the attack, {pp.rounds} in all")
    if during > 0 and rts:
        print("ok the victim's pingpong ran on through the attack, its QPs in RTS")
    else:
        print(f"not ok the victim: {during} rounds during the attack, QP states {pp.state()}")
        failures += 1


def attack(dev, victim_pid, their_fd, their_event_fd):
    ctl = 3
    fcntl.fcntl(ctl, fcntl.F_GETFD)  # open, or this raises
    print(f"# uid {os.getuid()}, root's context on fd {their_fd}, victim {victim_pid}")
    # Root's context, handed over: what the capability alone must not buy.
    refused("STOP of a root process's context", errno.EPERM, lambda: migctl.stop(ctl, their_fd))
    refused("RESUME of a root process's context", errno.EPERM, lambda: migctl.resume(ctl, their_fd))
    refused("DUMP of a root process's context", errno.EPERM, lambda: migctl.dump(ctl, their_fd))
    refused("DUMP of a root process's event file", errno.EPERM,
            lambda: migctl.dump(ctl, their_event_fd))
    refused("IDENTIFY of a root process's file", errno.EPERM, lambda: migctl.identify(ctl, their_fd))
    ctx, fd, _ = open_context(dev)  # ctx keeps fd open
    print(f"# our context fd {fd}")
    refused("ADOPT with the pid of a root process", errno.EPERM,
            lambda: migctl.adopt(ctl, fd, victim_pid))
    # A child holds the very file (inherited) and may be ptraced by us, so
    # only the context's origin stands in the way.
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    refused("ADOPT of a context RESTORE never made, into another process holding its file",
            errno.EPERM, lambda: migctl.adopt(ctl, fd, child))
    os.close(w)
    os.waitpid(child, 0)
    ctx.close()
    foreign = 4
    fcntl.fcntl(foreign, fcntl.F_GETFD)
    opener_check("a write on root's uverbs file (the check the race must not defeat)", foreign)
    dup2_race(ctl, dev, foreign)


def main():
    if sys.argv[1] == "victim":
        victim(sys.argv[2])
    else:
        attack(sys.argv[2], *map(int, sys.argv[3:6]))
    sys.exit(failures)


if __name__ == "__main__":
    main()
