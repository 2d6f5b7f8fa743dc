#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Stops and resumes the QPs of a running process through /dev/rxe_migros
(uapi/rxe_migros_ctl.h), as a checkpointer does.

    migctl.py stop PID             stop the QPs of every uverbs file of PID
    migctl.py resume PID [GID]     resume them, announcing source GID GID
                                   (e.g. ::ffff:10.0.1.3) if given
    migctl.py paths PID            stop them, dump them, print each RC QP's
                                   path and tokens, and resume them in place

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
DUMP_FMT = "=IIiIQQQ"        # size, version, uverbs_fd, flags, buf, buf_len, image_len
IDENTIFY_FMT = "=IIiIIIQ"    # size, version, fd, flags, kind, channel, context
RESTORE_FMT = "=IIiIQQIIII"  # size, version, uverbs_fd, flags, image, image_len,
                             # objects, placeholders, remapped_qpns, reserved
ADOPT_FMT = "=IIiIiI"        # size, version, uverbs_fd, flags, pid, pinned
RESTORE_PIN_LATER = 1
FILE_UVERBS, FILE_EVENT = 1, 2
SYS_PIDFD_GETFD = 438

libc = ctypes.CDLL(None, use_errno=True)


def iowr(nr, size):
    """_IOWR(IOC_TYPE, nr, size)."""
    return (3 << 30) | (size << 16) | (IOC_TYPE << 8) | nr


IOC_STOP = iowr(1, struct.calcsize(STOP_FMT))
IOC_RESUME = iowr(2, struct.calcsize(RESUME_FMT))
IOC_DUMP = iowr(3, struct.calcsize(DUMP_FMT))
IOC_IDENTIFY = iowr(4, struct.calcsize(IDENTIFY_FMT))
IOC_RESTORE_CHECK = iowr(5, struct.calcsize(RESTORE_FMT))
IOC_RESTORE = iowr(6, struct.calcsize(RESTORE_FMT))
IOC_ADOPT = iowr(7, struct.calcsize(ADOPT_FMT))


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


def dump_args(fd, buf=0, buf_len=0, flags=0):
    return bytearray(struct.pack(DUMP_FMT, struct.calcsize(DUMP_FMT), VERSION, fd, flags,
                                 buf, buf_len, 0))


def dump(ctl, fd):
    """The checkpoint image of uverbs (or event) file `fd`: its length
    first (ENOSPC), then the image."""
    args = dump_args(fd)
    try:
        fcntl.ioctl(ctl, IOC_DUMP, args)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    n = struct.unpack(DUMP_FMT, args)[6]
    room = ctypes.create_string_buffer(n)
    args = dump_args(fd, ctypes.addressof(room), n)
    fcntl.ioctl(ctl, IOC_DUMP, args)
    return room.raw[:struct.unpack(DUMP_FMT, args)[6]]


def identify(ctl, fd):
    """(FILE_UVERBS or FILE_EVENT, the context's cookie, the channel) of
    file `fd`."""
    args = bytearray(struct.pack(IDENTIFY_FMT, struct.calcsize(IDENTIFY_FMT), VERSION,
                                 fd, 0, 0, 0, 0))
    fcntl.ioctl(ctl, IOC_IDENTIFY, args)
    kind, channel, context = struct.unpack(IDENTIFY_FMT, args)[4:7]
    return kind, context, channel


def restore_ioctl(ctl, cmd, fd, img, image_len=None, flags=0):
    """RESTORE_CHECK or RESTORE of image `img` on the device (context) of
    uverbs file `fd`: (objects, placeholders, remapped QPNs)."""
    room = ctypes.create_string_buffer(bytes(img), len(img) or 1)
    n = len(img) if image_len is None else image_len
    args = bytearray(struct.pack(RESTORE_FMT, struct.calcsize(RESTORE_FMT), VERSION, fd,
                                 flags, ctypes.addressof(room), n, 0, 0, 0, 0))
    fcntl.ioctl(ctl, cmd, args)
    return struct.unpack(RESTORE_FMT, args)[6:9]


def restore_check(ctl, fd, img, image_len=None):
    """Whether image `img` could be restored on the device of uverbs file
    `fd`: (objects, placeholders, remapped QPNs)."""
    return restore_ioctl(ctl, IOC_RESTORE_CHECK, fd, img, image_len)


def restore(ctl, fd, img):
    """Begins restoring image `img` on the fresh context of uverbs file
    `fd`; returns how many objects the caller is to create."""
    return restore_ioctl(ctl, IOC_RESTORE, fd, img)[0]


def adopt(ctl, fd, pid):
    """Hands the restored context of uverbs file `fd` to process `pid`;
    returns how many MRs it pinned."""
    args = bytearray(struct.pack(ADOPT_FMT, struct.calcsize(ADOPT_FMT), VERSION, fd, 0, pid, 0))
    fcntl.ioctl(ctl, IOC_ADOPT, args)
    return struct.unpack(ADOPT_FMT, args)[5]


def gid_bytes(text):
    """A GID from its IPv6 notation; an IPv4 address gives its mapped GID."""
    addr = ipaddress.ip_address(text)
    if addr.version == 4:
        addr = ipaddress.IPv6Address("::ffff:" + text)
    return addr.packed


def fds_to(pid, prefix):
    """The descriptors of `pid` whose link starts with `prefix`."""
    d = f"/proc/{pid}/fd"
    out = []
    for name in os.listdir(d):
        try:
            if os.readlink(f"{d}/{name}").startswith(prefix):
                out.append(int(name))
        except OSError:
            pass
    return sorted(out)


def uverbs_fds(pid):
    """The descriptors of `pid` open on /dev/infiniband/uverbsN."""
    return fds_to(pid, "/dev/infiniband/uverbs")


def event_fds(pid):
    """The descriptors of `pid` open on uverbs event files."""
    return fds_to(pid, "anon_inode:[infinibandevent]")


def take_fd(pidfd, fd):
    """pidfd_getfd(2): our own descriptor of the process's file `fd`."""
    r = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"pidfd_getfd: {os.strerror(e)}")
    return r


def paths(img):
    """One line per connected RC QP of image `img`: its number, its
    partner's GID and QP number, and the migration protocol's state."""
    import image
    for r in image.parse(img):
        if r.get("kind") != "qp" or r["type"] != "RC" or not r["av"]:
            continue
        dgid = ipaddress.IPv6Address(bytes.fromhex(r["av"]["dgid"]))
        dgid = dgid.ipv4_mapped or dgid
        print(f"QP {r['qpn']:#x}: partner {dgid} QP {r['dest_qpn']:#x} "
              f"speaks={int(r['speaks'])} token={int(r['has_token'])} "
              f"granted={int(r['granted'])}")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("stop", "resume", "paths"):
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
            elif cmd == "paths":
                stop(ctl, mine)
                try:
                    paths(dump(ctl, mine))
                finally:
                    resume(ctl, mine)
            else:
                n, a = resume(ctl, mine, gid)
                print(f"pid {pid} fd {fd}: {n} QPs resumed, {a} announcing")
        finally:
            os.close(mine)


if __name__ == "__main__":
    main()
