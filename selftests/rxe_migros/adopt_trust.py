#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""ADOPT as an attacker would use it (docs/security.md): a caller with
CAP_CHECKPOINT_RESTORE but another user's uid opens a context of its own
and ADOPTs it with the pid of a root process, which would pin memory of
its choosing in the victim and give its file the victim's credentials;
then into a process that does hold the file, but was not restored. Run by adopt_trust.sh as uid 1000 with the capability, with
/dev/rxe_migros opened by root on descriptor 3.

    adopt_trust.py DEVICE VICTIM_PID

Prints "ok ..." or "not ok ..." per check; exits with the failures.
"""
import errno
import fcntl
import os
import sys

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
    sys.exit(failures)


if __name__ == "__main__":
    main()
