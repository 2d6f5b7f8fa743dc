#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Waits for a line containing PATTERN to appear in FILE (which may not
exist yet) and writes the instant it saw it (CLOCK_REALTIME, seconds) to
OUT. Polls every 5 ms; gives up after TIMEOUT seconds (default 600).

    demo-mark.py FILE PATTERN OUT [TIMEOUT]
"""
import sys
import time


def main():
    path, pattern, out = sys.argv[1:4]
    deadline = time.monotonic() + float(sys.argv[4] if len(sys.argv) > 4 else 600)
    seen = b""
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                f.seek(len(seen))
                seen += f.read()
        except OSError:
            pass
        if pattern.encode() in seen:
            now = time.time()
            with open(out, "w") as f:
                f.write(f"{now:.6f}\n")
            return 0
        time.sleep(0.005)
    return 1


if __name__ == "__main__":
    sys.exit(main())
