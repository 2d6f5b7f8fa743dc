#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""ADOPT as an attacker would use it (docs/security.md): a caller with
CAP_CHECKPOINT_RESTORE but another user's uid opens a context of its own
and ADOPTs it with the pid of a root process, which would pin memory of
its choosing in the victim and give its file the victim's credentials;
then into a process that does hold the file, but was not restored; then
ADOPT of its own context while a thread keeps swapping a file root opened
into the same descriptor. Run by adopt_trust.sh as uid 1000 with the
capability, with /dev/rxe_migros opened by root on descriptor 3 and the
device's uverbs file opened by root (no context) on descriptor 4.

    adopt_trust.py DEVICE VICTIM_PID

Prints "ok ..." or "not ok ..." per check; exits with the failures.
"""
import collections
import errno
import fcntl
import os
import sys
import threading

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


def main():
    dev, victim = sys.argv[1], int(sys.argv[2])
    ctl = 3
    fcntl.fcntl(ctl, fcntl.F_GETFD)  # open, or this raises
    ctx, fd, _ = open_context(dev)  # ctx keeps fd open
    print(f"# uid {os.getuid()}, context fd {fd}, victim {victim}")
    refused("ADOPT with the pid of a process that does not hold the file", errno.EPERM,
            lambda: migctl.adopt(ctl, fd, victim))
    # A child holds the very file (inherited), so only the context's
    # origin stands in the way.
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
    sys.exit(failures)


if __name__ == "__main__":
    main()
