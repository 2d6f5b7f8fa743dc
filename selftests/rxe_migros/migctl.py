#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Stops and resumes the QPs of a running process through /dev/rxe_migros
(uapi/rxe_migros_ctl.h), as a checkpointer does.

    migctl.py stop PID             stop the QPs of every uverbs file of PID
    migctl.py resume PID [GID]     resume them, announcing source GID GID
                                   (e.g. ::ffff:10.0.1.3) if given

The process's uverbs files are taken with pidfd_getfd(2), so that the
ioctls name the very files the process holds. Prints one line per file.
"""
import ctypes
import errno
import fcntl
import ipaddress
import os
import struct
import sys

CTL = "/dev/rxe_migros"
VERSION = 1
IOC_TYPE = 0xBB
RESUME_SGID = 1
STOP_FMT = "=IIiIII"         # size, version, uverbs_fd, flags, qps, reserved
RESUME_FMT = "=IIiI16sII"    # size, version, uverbs_fd, flags, sgid, qps, announced
SYS_PIDFD_GETFD = 438

libc = ctypes.CDLL(None, use_errno=True)


def iowr(nr, size):
    """_IOWR(IOC_TYPE, nr, size)."""
    return (3 << 30) | (size << 16) | (IOC_TYPE << 8) | nr


IOC_STOP = iowr(1, struct.calcsize(STOP_FMT))
IOC_RESUME = iowr(2, struct.calcsize(RESUME_FMT))


def stop_args(fd, size=None, version=VERSION, flags=0):
    return bytearray(struct.pack(STOP_FMT, size or struct.calcsize(STOP_FMT),
                                 version, fd, flags, 0, 0))


def resume_args(fd, gid=None, size=None, version=VERSION):
    flags = RESUME_SGID if gid else 0
    return bytearray(struct.pack(RESUME_FMT, size or struct.calcsize(RESUME_FMT),
                                 version, fd, flags, gid or bytes(16), 0, 0))


def stop(ctl, fd):
    """Stops the QPs of uverbs file `fd`; returns how many."""
    buf = stop_args(fd)
    fcntl.ioctl(ctl, IOC_STOP, buf)
    return struct.unpack(STOP_FMT, buf)[4]


def resume(ctl, fd, gid=None):
    """Resumes them; returns (QPs resumed, RESUMEs announced)."""
    buf = resume_args(fd, gid)
    fcntl.ioctl(ctl, IOC_RESUME, buf)
    return struct.unpack(RESUME_FMT, buf)[5:7]


def gid_bytes(text):
    """A GID from its IPv6 notation; an IPv4 address gives its mapped GID."""
    addr = ipaddress.ip_address(text)
    if addr.version == 4:
        addr = ipaddress.IPv6Address("::ffff:" + text)
    return addr.packed


def uverbs_fds(pid):
    """The descriptors of `pid` open on /dev/infiniband/uverbsN."""
    d = f"/proc/{pid}/fd"
    out = []
    for name in os.listdir(d):
        try:
            if os.readlink(f"{d}/{name}").startswith("/dev/infiniband/uverbs"):
                out.append(int(name))
        except OSError:
            pass
    return sorted(out)


def take_fd(pidfd, fd):
    """pidfd_getfd(2): our own descriptor of the process's file `fd`."""
    r = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"pidfd_getfd: {os.strerror(e)}")
    return r


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("stop", "resume"):
        sys.exit(__doc__)
    cmd, pid = sys.argv[1], int(sys.argv[2])
    gid = gid_bytes(sys.argv[3]) if len(sys.argv) > 3 else None
    fds = uverbs_fds(pid)
    if not fds:
        sys.exit(f"process {pid} has no uverbs file open")
    ctl = os.open(CTL, os.O_RDWR)
    pidfd = os.pidfd_open(pid)
    for fd in fds:
        mine = take_fd(pidfd, fd)
        try:
            if cmd == "stop":
                print(f"pid {pid} fd {fd}: {stop(ctl, mine)} QPs stopped")
            else:
                n, a = resume(ctl, mine, gid)
                print(f"pid {pid} fd {fd}: {n} QPs resumed, {a} announcing")
        finally:
            os.close(mine)


if __name__ == "__main__":
    main()
