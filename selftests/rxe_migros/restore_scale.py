#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Restore planning is linear in an image's records, and a fatal signal
stops it (docs/security.md, "Sizes a user chooses").

    restore_scale.py DEV

Times RESTORE_CHECK of images of a context and 10^4, 10^5 and 10^6 PD
records (the smallest records there are) on device DEV: ten times the
records must take about ten times as long, not a hundred. Then starts
RESTORE_CHECK of the largest image there can be (64 MiB, about 4.2 million
records) in a child and kills it early: the child must be gone long
before the check would have ended. Prints "ok NAME" or "not ok NAME: why"
per test; exits with the number of failures.
"""
import array
import ctypes
import errno
import fcntl
import os
import signal
import struct
import sys
import time

import image
import migctl
import control
from control import check, expect, open_context

MAX_IMAGE = 64 << 20


def pds(n):
    """The image of a context and PDs with handles 0 to n - 1."""
    ctx = struct.pack("<HHI", 6, 1, 24) + struct.pack("<QII", 7, 0, 0)
    # One PD record is four 32-bit words: kind and version, length,
    # handle, zero.
    kind_version = struct.unpack("<I", struct.pack("<HH", 1, 1))[0]
    words = array.array("I", [kind_version, 16, 0, 0]) * n
    words[2::4] = array.array("I", range(n))
    body = ctx + words.tobytes()
    head = image.HEADER.pack(image.MAGIC, image.VERSION, image.HEADER.size + len(body), n + 1, 0)
    return image.reseal(head + body)


def timed_check(ctl, fd, img):
    t = time.monotonic()
    got = migctl.restore_check(ctl, fd, img)
    return time.monotonic() - t, got


def main():
    dev = sys.argv[1]
    ctl = os.open("/dev/rxe_migros", os.O_RDWR)
    _ctx, fd, _ = open_context(dev)
    times = {}
    for n in (10**4, 10**5, 10**6):
        img = pds(n)
        secs, got = timed_check(ctl, fd, img)
        times[n] = secs
        print(f"# {n:>9,} records, {len(img):>10,} bytes: planned in {secs * 1000:8.1f} ms")
        check(f"restore check of {n} records", got == (n, 0, 0), str(got))
    ratio = times[10**6] / max(times[10**5], 1e-6)
    print(f"# 10^6 records took {ratio:.1f} times as long as 10^5 (linear: 10, quadratic: 100)")
    check("restore planning is linear", ratio < 30, f"ratio {ratio:.1f}")

    n = (MAX_IMAGE - image.HEADER.size - 24) // 16
    img = pds(n)
    full, got = timed_check(ctl, fd, img)
    print(f"# {n:,} records, {len(img):,} bytes: planned in {full * 1000:.0f} ms")
    check("restore check of the largest image", got == (n, 0, 0), str(got))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Everything in place first, so that the kill finds the child in
        # the ioctl, not copying the image in Python.
        room = ctypes.create_string_buffer(img, len(img))
        args = bytearray(struct.pack(migctl.RESTORE_FMT, struct.calcsize(migctl.RESTORE_FMT),
                                     migctl.VERSION, fd, 0, ctypes.addressof(room), len(img),
                                     0, 0, 0, 0))
        os.close(r)
        os.write(w, b"x")
        try:
            fcntl.ioctl(ctl, migctl.IOC_RESTORE_CHECK, args)
        finally:
            os._exit(0)
    os.close(w)
    os.read(r, 1)
    time.sleep(full / 5)
    t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    gone = time.monotonic() - t
    print(f"# killed {full / 5 * 1000:.0f} ms into a {full * 1000:.0f} ms check: "
          f"gone {gone * 1000:.0f} ms later")
    check("a fatal signal stops a long restore check",
          os.WIFSIGNALED(status) and gone < full / 3,
          f"status {status}, gone after {gone:.3f} s of {full:.3f} s")
    expect("an image one byte larger than any is refused", errno.EINVAL,
           lambda: migctl.restore_check(ctl, fd, img + bytes(8)))
    return control.failures


if __name__ == "__main__":
    sys.exit(main())
