#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""How the guests of a cross-VM selftest (tools/vms-run.sh) work each
other: guest a runs the test, and every other guest serves it.

    remote.py serve ADDR                  serve on ADDR, port 7000
    remote.py run ADDR COMMAND            COMMAND (sh -c) on ADDR's guest
    remote.py put ADDR SRC DEST           SRC's files into DEST there
    remote.py clock ADDR                  how far ADDR's clock is from ours
    remote.py stop ADDR                   the server exits

run prints COMMAND's output (stdout and stderr together) and exits with
its status. COMMAND runs as root, in the guest's checkout directory of
the selftests, with the server's environment; what it starts in the
background must send its output elsewhere, or run waits for it. put
streams SRC's directory tree as a tar archive over the connection (the
image of a migration crosses the network so, never a shared folder) and
prints how many bytes and how long it took. clock asks the server's
CLOCK_REALTIME 20 times and keeps the answer of the fastest exchange:
it prints "OFFSET ERROR", the server's clock minus ours at the same
instant and the bound on that figure's error (half the exchange's round
trip), both in seconds.

The server is a test fixture: it runs anything anyone on the test
segment asks, inside a throwaway guest on a segment that only the
guests share (docs/testing.md).
"""
import json
import os
import socket
import socketserver
import subprocess
import sys
import tarfile
import threading
import time

PORT = 7000
HERE = os.path.dirname(os.path.abspath(__file__))


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        req = json.loads(self.rfile.readline())
        if req["op"] == "run":
            p = subprocess.run(["sh", "-c", req["cmd"]], cwd=HERE,
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            reply = {"rc": p.returncode, "out": p.stdout.decode(errors="replace")}
        elif req["op"] == "put":
            os.makedirs(req["dest"], exist_ok=True)
            try:
                with tarfile.open(fileobj=self.rfile, mode="r|") as tar:
                    tar.extractall(req["dest"], filter="tar")
                reply = {"rc": 0, "out": ""}
            except (tarfile.TarError, OSError) as err:
                reply = {"rc": 1, "out": f"put: {err}\n"}
        elif req["op"] == "clock":
            # One exchange per line, over one connection.
            while self.rfile.readline():
                self.wfile.write(b"%.9f\n" % time.time())
                self.wfile.flush()
            return
        elif req["op"] == "stop":
            reply = {"rc": 0, "out": ""}
            # From another thread: shutdown() waits for serve_forever().
            threading.Thread(target=self.server.shutdown).start()
        else:
            reply = {"rc": 2, "out": f"unknown request {req['op']!r}\n"}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def call(addr, req, stream=None):
    """Sends request req to addr's server (then the bytes stream writes,
    for put), and returns its reply."""
    deadline = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection((addr, PORT), timeout=10)
            break
        except OSError as err:
            # The server may still be booting.
            if time.monotonic() > deadline:
                return {"rc": 255, "out": f"remote.py: cannot reach {addr}: {err}\n"}
            time.sleep(0.5)
    s.settimeout(None)
    with s:
        s.sendall(json.dumps(req).encode() + b"\n")
        if stream:
            stream(s)
            s.shutdown(socket.SHUT_WR)
        f = s.makefile("rb")
        line = f.readline()
        if not line:
            return {"rc": 255, "out": f"remote.py: {addr} closed the connection\n"}
        return json.loads(line)


def clock(addr):
    """The offset of addr's clock from ours and its error bound, as text."""
    best = None
    with socket.create_connection((addr, PORT), timeout=10) as s:
        f = s.makefile("rwb")
        f.write(json.dumps({"op": "clock"}).encode() + b"\n")
        for _ in range(20):
            t1 = time.time()
            f.write(b"?\n")
            f.flush()
            t2 = float(f.readline())
            t3 = time.time()
            if best is None or t3 - t1 < best[1]:
                best = (t2 - (t1 + t3) / 2, t3 - t1)
    return f"{best[0]:.6f} {best[1] / 2:.6f}\n"


class SocketWriter:
    def __init__(self, sock):
        self.sock, self.count = sock, 0

    def write(self, b):
        self.sock.sendall(b)
        self.count += len(b)
        return len(b)


def main():
    op, addr = sys.argv[1], sys.argv[2]
    if op == "serve":
        with Server((addr, PORT), Handler) as server:
            print(f"remote.py: serving on {addr}:{PORT}", flush=True)
            server.serve_forever(poll_interval=0.2)
        return 0
    if op == "run":
        reply = call(addr, {"op": "run", "cmd": sys.argv[3]})
    elif op == "put":
        src, dest = sys.argv[3], sys.argv[4]
        w = None

        def send(s):
            nonlocal w
            w = SocketWriter(s)
            with tarfile.open(fileobj=w, mode="w|") as tar:
                tar.add(src, arcname=".")

        t = time.monotonic()
        reply = call(addr, {"op": "put", "dest": dest}, send)
        if reply["rc"] == 0:
            reply["out"] = f"{w.count} bytes in {time.monotonic() - t:.3f} s\n"
    elif op == "clock":
        reply = {"rc": 0, "out": clock(addr)}
    elif op == "stop":
        reply = call(addr, {"op": "stop"})
    else:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(reply["out"])
    return reply["rc"]


if __name__ == "__main__":
    sys.exit(main())
