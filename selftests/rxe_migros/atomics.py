#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""An atomics checker over pyverbs: clients FETCH_ADD 1 to one counter
of the server's, with several atomics outstanding each, and the server
checks that no atomic ran twice or not at all: the counter ends at the
number of atomics, and the values they returned, from all clients, are
each of 0 .. N-1 exactly once. Before that each client checks
COMPARE_SWAP on a word of its own: a swap when the compare matches, none
when it does not, and the old value back either way.

    atomics.py server DEVICE GID_INDEX PORT CLIENTS
    atomics.py client DEVICE GID_INDEX SERVER_IP PORT COUNT

Each prints "verified ..." and exits 0, or says what broke and exits 1.
"""
import socket
import struct
import sys
import time

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.wr import SendWR, SGE

from integrity import WIRE, rc_attr, receive_info, wire_info, wire_peer

DEPTH = 8              # atomics outstanding per client (max_rd_atomic)
ACCESS = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_ATOMIC
WORDS = 64             # the counter, then one word per client for COMPARE_SWAP


class End:
    """One end of an RC connection, with the attributes atomics need."""

    def __init__(self, ctx, pd, gid_index, mr):
        self.cq = CQ(ctx, 2 * DEPTH + 4, None, None, 0)
        cap = QPCap(max_send_wr=2 * DEPTH, max_recv_wr=1, max_send_sge=1, max_recv_sge=1)
        self.qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq, cap=cap))
        self.mr = mr
        self.gid_index = gid_index
        self.gid = ctx.query_gid(1, gid_index)
        self.psn = 0x20000 + (self.qp.qp_num * 7919) % 0x7FFFFF

    def info(self):
        return wire_info(self.qp, self.psn, self.gid, self.mr)

    def connect(self, peer):
        qpn, psn, dgid, self.peer_addr, self.peer_rkey = wire_peer(peer)
        # A short retransmission timeout (16.8 ms): under loss, atomics
        # are sent again often, and each duplicate must be answered from
        # the responder's replay, never carried out again.
        self.qp.to_rts(rc_attr(qpn, dgid, self.gid_index, rq_psn=psn, sq_psn=self.psn,
                               qp_access_flags=ACCESS, max_rd_atomic=DEPTH,
                               max_dest_rd_atomic=DEPTH, timeout=12))

    def completions(self, n):
        """The next `n` send completions, each checked."""
        out = []
        deadline = time.monotonic() + 120
        while len(out) < n:
            if time.monotonic() > deadline:
                sys.exit(f"FAIL: {len(out)} of {n} completions in 120 s")
            k, wcs = self.cq.poll(n - len(out))
            for wc in wcs[:k]:
                if wc.status != e.IBV_WC_SUCCESS:
                    sys.exit(f"FAIL: completion {wc.wr_id} with status {wc.status}")
                out.append(wc)
        return out


def atomic(end, wr_id, opcode, local, remote, compare_add, swap=0):
    wr = SendWR(wr_id=wr_id, opcode=opcode, num_sge=1,
                sg=[SGE(end.mr.buf + local, 8, end.mr.lkey)], send_flags=e.IBV_SEND_SIGNALED)
    wr.set_wr_atomic(end.peer_rkey, end.peer_addr + remote, compare_add, swap)
    end.qp.post_send(wr)


def word(end, at):
    return struct.unpack("=Q", end.mr.read(8, at))[0]


def server(dev, gid_index, port, clients):
    ctx = Context(name=dev)
    pd = PD(ctx)
    clients = int(clients)
    ls = socket.create_server(("", int(port)))
    ends, socks = [], []
    # One QP per client, all on one MR: the counter and the clients' words.
    mr = MR(pd, WORDS * 8, ACCESS)
    for i in range(clients):
        sock, _ = ls.accept()
        end = End(ctx, pd, int(gid_index), mr)
        end.connect(receive_info(sock))
        sock.sendall(struct.pack("=I", i) + end.info())
        ends.append(end)
        socks.append(sock)
    returned = []
    for sock in socks:
        n = struct.unpack("=Q", recv_all(sock, 8))[0]
        returned += struct.unpack(f"={n}Q", recv_all(sock, 8 * n))
    counter = word(ends[0], 0)
    total = len(returned)
    if counter != total:
        sys.exit(f"FAIL: the counter is {counter} after {total} FETCH_ADDs of 1")
    if sorted(returned) != list(range(total)):
        seen = set()
        twice = [v for v in returned if v in seen or seen.add(v)]
        sys.exit(f"FAIL: {len(twice)} values returned twice (e.g. {twice[:5]}), "
                 f"{total - len(set(returned))} missing")
    for sock in socks:
        sock.sendall(b"done")
    print(f"verified {total} FETCH_ADDs from {clients} clients: counter {counter}, "
          f"each value returned once")


def recv_all(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            sys.exit("FAIL: the peer closed the connection")
        data += chunk
    return data


def client(dev, gid_index, host, port, count):
    ctx = Context(name=dev)
    pd = PD(ctx)
    count = int(count)
    end = End(ctx, pd, int(gid_index), MR(pd, (count + 1) * 8, ACCESS))
    for _ in range(120):
        try:
            sock = socket.create_connection((host, int(port)), timeout=900)
            break
        except ConnectionRefusedError:
            time.sleep(0.5)
    else:
        sys.exit("FAIL: no server")
    sock.sendall(end.info())
    reply = recv_all(sock, 4 + WIRE.size)
    me = struct.unpack("=I", reply[:4])[0]
    end.connect(reply[4:])
    # COMPARE_SWAP on our own word (the server's word 1 + me, zero at
    # first): a wrong compare leaves it, a right one swaps; each returns
    # the old value, so each shows what the one before left.
    mine = 8 * (1 + me)
    scratch = 8 * count
    for compare, swap, want in ((5, 7, 0), (0, 0xC0FFEE, 0), (0xC0FFEE, 42, 0xC0FFEE),
                                (0, 0, 42)):
        atomic(end, 0, e.IBV_WR_ATOMIC_CMP_AND_SWP, scratch, mine, compare, swap)
        (wc,) = end.completions(1)
        if wc.opcode != e.IBV_WC_COMP_SWAP:
            sys.exit(f"FAIL: COMPARE_SWAP completed as opcode {wc.opcode}")
        old = word(end, scratch)
        if old != want:
            sys.exit(f"FAIL: COMPARE_SWAP({compare:#x}, {swap:#x}) returned {old:#x}, "
                     f"not {want:#x}")
    # FETCH_ADD 1, DEPTH at a time, each result into its own slot.
    start = time.monotonic()
    posted = done = 0
    while done < count:
        while posted < count and posted - done < DEPTH:
            atomic(end, posted, e.IBV_WR_ATOMIC_FETCH_AND_ADD, 8 * posted, 0, 1)
            posted += 1
        for wc in end.completions(1):
            if wc.opcode != e.IBV_WC_FETCH_ADD or wc.wr_id != done:
                sys.exit(f"FAIL: completion {wc.wr_id} (opcode {wc.opcode}) when {done} was due")
            done += 1
    secs = time.monotonic() - start
    values = [word(end, 8 * i) for i in range(count)]
    sock.sendall(struct.pack("=Q", count) + struct.pack(f"={count}Q", *values))
    if recv_all(sock, 4) != b"done":
        sys.exit("FAIL: the server did not confirm")
    print(f"verified {count} FETCH_ADDs and 4 COMPARE_SWAPs in {secs:.1f} s "
          f"({count / secs:.0f}/s)")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "server":
        server(*sys.argv[2:])
    elif len(sys.argv) == 7 and sys.argv[1] == "client":
        client(*sys.argv[2:])
    else:
        sys.exit(__doc__)
