#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""An RC integrity checker over pyverbs: every message is tagged with its
sequence number, and its content is a pattern of that number, so that a
lost, duplicated, reordered or corrupted message is caught.

    integrity.py server DEVICE GID_INDEX PORT COUNT
    integrity.py client DEVICE GID_INDEX SERVER_IP PORT COUNT

The client sends COUNT messages, or fewer if SIGUSR1 tells it to stop,
cycling through SEND, RDMA WRITE with immediate and RDMA READ, of sizes
up to 12 KiB (multi-packet at MTU 1024), and then an end mark: a SEND
whose tag has length 0 and the number of messages sent. The server
checks each SEND and WRITE as it completes: its tag (SEND payload or
immediate) must be the next expected one and its bytes the tag's
pattern; at the end mark, it must have had every message. The client
checks every READ's bytes against the pattern of the server's slot. Both
print "verified N messages" (N the client's count) and exit 0, or print
what broke and exit 1.
"""
import signal
import socket
import struct
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import GID, AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

SLOT = 12 * 1024       # the largest message
SLOTS = 64             # WRITE targets and READ sources, each side
RECVS = 32             # receive requests the server keeps posted
TAG = struct.Struct("=QI")   # sequence number, length
ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ)
WIRE = struct.Struct("=I I 16s Q I")  # QPN, PSN, GID, region address, rkey


# Byte i of a message of `seq` after its tag is (seq * 131 + i * 7) mod
# 256: a window into this ramp, since 7 is invertible mod 256 (7 * 183 =
# 1 mod 256).
RAMP = bytes((i * 7) & 0xFF for i in range(SLOT + 256))


def rc_attr(dest_qpn, dgid, gid_index, **more):
    """RTR/RTS attributes of an RC QP towards QP `dest_qpn` at GID `dgid`
    (a pyverbs GID), from our GID `gid_index`, with perftest's timers
    (timeout 14, retry_cnt 7, rnr_retry 7), one READ in flight, and the
    attributes `more` names."""
    a = QPAttr(qp_state=e.IBV_QPS_RTR, path_mtu=e.IBV_MTU_1024)
    gr = GlobalRoute(dgid=dgid, sgid_index=gid_index, hop_limit=64)
    a.ah_attr = AHAttr(gr=gr, is_global=1, port_num=1)
    a.dest_qp_num = dest_qpn
    a.max_dest_rd_atomic = 1
    a.max_rd_atomic = 1
    a.min_rnr_timer = 12
    a.timeout = 14
    a.retry_cnt = 7
    a.rnr_retry = 7
    for k, v in more.items():
        setattr(a, k, v)
    return a


def pattern(seq, length):
    """The bytes a message of `seq` carries: its tag, then a stream seeded
    by it."""
    head = TAG.pack(seq, length)
    start = (seq * 131 * 183) & 0xFF
    return (head + RAMP[start:start + length])[:length]


def size_of(seq):
    return max(TAG.size, (seq * 977) % SLOT + 1)


def read_pattern(slot):
    """What the server keeps in READ slot `slot`."""
    return pattern(1_000_000 + slot, SLOT)


def wire_info(qp, psn, gid, mr):
    """Our side of the TCP exchange: QPN, first PSN, GID (pyverbs), and
    the address and rkey of the region the peer may use."""
    raw = bytes.fromhex(str(gid).replace(":", ""))
    return WIRE.pack(qp.qp_num, psn, raw, mr.buf, mr.rkey)


def wire_peer(data):
    """The peer's side of the exchange: QPN, first PSN, GID (pyverbs),
    region address, rkey."""
    qpn, psn, gid, addr, rkey = WIRE.unpack(data)
    return qpn, psn, GID(":".join(gid.hex()[i:i + 4] for i in range(0, 32, 4))), addr, rkey


class End:
    """One end: its device objects and a connected RC QP."""

    def __init__(self, dev, gid_index):
        self.ctx = Context(name=dev)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 2 * RECVS + 16, None, None, 0)
        # Two CQs dropped, as applications free what they probed with: the
        # MR takes the first one's handle again, and the second's stays a
        # gap. A checkpoint's image has both, and the restore fills them
        # with placeholders (one given back for the MR).
        probes = [CQ(self.ctx, 4, None, None, 0) for _ in range(2)]
        cap = QPCap(max_send_wr=16, max_recv_wr=RECVS, max_send_sge=1, max_recv_sge=1)
        self.qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq,
                                        rcq=self.cq, cap=cap))
        probes[0].close()
        # Receive buffers, WRITE targets, READ sources, one local scratch.
        self.mr = MR(self.pd, (RECVS + 2 * SLOTS + 1) * SLOT, ACCESS)
        probes[1].close()
        self.gid_index = gid_index
        self.gid = self.ctx.query_gid(1, gid_index)
        self.psn = 0x10000 + (self.qp.qp_num * 7919) % 0x7FFFFF

    def info(self):
        return wire_info(self.qp, self.psn, self.gid, self.mr)

    def connect(self, peer):
        qpn, psn, dgid, self.peer_addr, self.peer_rkey = wire_peer(peer)
        self.qp.to_rts(rc_attr(qpn, dgid, self.gid_index, rq_psn=psn,
                               sq_psn=self.psn, qp_access_flags=ACCESS))

    def recv_addr(self, i):
        return self.mr.buf + i * SLOT

    def region(self, kind, slot):
        """Offset of WRITE target or READ source `slot` in the MR."""
        base = RECVS if kind == "write" else RECVS + SLOTS
        return (base + slot) * SLOT

    def post_recv(self, i):
        sge = SGE(self.recv_addr(i), SLOT, self.mr.lkey)
        self.qp.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[sge]))

    def wait(self):
        while True:
            n, wcs = self.cq.poll()
            if n:
                wc = wcs[0]
                if wc.status != e.IBV_WC_SUCCESS:
                    sys.exit(f"FAIL: completion with status {wc.status} (opcode {wc.opcode})")
                return wc


def receive_info(sock):
    data = b""
    while len(data) < WIRE.size:
        chunk = sock.recv(WIRE.size - len(data))
        if not chunk:
            sys.exit("FAIL: the peer closed the connection")
        data += chunk
    return data


def server(dev, gid_index, port, count):
    end = End(dev, int(gid_index))
    for s in range(SLOTS):
        end.mr.write(read_pattern(s), SLOT, end.region("read", s))
    ls = socket.create_server(("", int(port)))
    sock, _ = ls.accept()
    # Ready to receive before the client may send (librxe refuses
    # receive requests on a QP in RESET).
    end.connect(receive_info(sock))
    for i in range(RECVS):
        end.post_recv(i)
    sock.sendall(end.info())
    expected, got = 0, 0
    while True:
        wc = end.wait()
        i = wc.wr_id
        if wc.opcode == e.IBV_WC_RECV:
            data = end.mr.read(wc.byte_len, i * SLOT)
            seq, length = TAG.unpack_from(data)
            if length == 0:
                break
            what = "SEND"
        elif wc.opcode == e.IBV_WC_RECV_RDMA_WITH_IMM:
            seq = wc.imm_data
            data = end.mr.read(size_of(seq), end.region("write", seq % SLOTS))
            what = "WRITE"
        else:
            sys.exit(f"FAIL: unexpected completion opcode {wc.opcode}")
        while expected % 3 == 2:
            expected += 1   # READs carry nothing to this side
        if seq != expected:
            sys.exit(f"FAIL: {what} {seq} arrived when {expected} was due")
        if data != pattern(seq, size_of(seq)):
            sys.exit(f"FAIL: {what} {seq} has the wrong content")
        expected += 1
        got += 1
        end.post_recv(i)
    # Every message but the READs took a receive request.
    carried = sum(1 for n in range(seq) if n % 3 != 2)
    if got != carried or seq > int(count):
        sys.exit(f"FAIL: {got} messages arrived of the {carried} of {seq} sent")
    # Nothing writes the READ sources: a byte changed there came from
    # someone else (selftest forged_resume aims forged WRITEs at them).
    for s in range(SLOTS):
        if end.mr.read(SLOT, end.region("read", s)) != read_pattern(s):
            sys.exit(f"FAIL: READ source {s} was written")
    sock.sendall(b"done")
    sock.recv(4)
    print(f"verified {seq} messages")


def client(dev, gid_index, host, port, count):
    end = End(dev, int(gid_index))
    for _ in range(120):
        try:
            sock = socket.create_connection((host, int(port)), timeout=600)
            break
        except ConnectionRefusedError:
            time.sleep(0.5)   # the server is still starting
    else:
        sys.exit("FAIL: no server")
    sock.sendall(end.info())
    end.connect(receive_info(sock))
    scratch = end.region("read", SLOTS)   # past the READ sources
    stop = []
    signal.signal(signal.SIGUSR1, lambda *_: stop.append(True))
    seq = 0
    while seq < int(count) and not stop:
        n = size_of(seq)
        kind = seq % 3
        if kind == 2:
            slot = seq % SLOTS
            sge = SGE(end.mr.buf + scratch, n, end.mr.lkey)
            wr = SendWR(wr_id=seq, opcode=e.IBV_WR_RDMA_READ, num_sge=1, sg=[sge])
            wr.set_wr_rdma(end.peer_rkey, end.peer_addr + end.region("read", slot))
        else:
            end.mr.write(pattern(seq, n), n, scratch)
            sge = SGE(end.mr.buf + scratch, n, end.mr.lkey)
            if kind == 0:
                wr = SendWR(wr_id=seq, opcode=e.IBV_WR_SEND, num_sge=1, sg=[sge])
            else:
                wr = SendWR(wr_id=seq, opcode=e.IBV_WR_RDMA_WRITE_WITH_IMM,
                            num_sge=1, sg=[sge], imm_data=seq)
                wr.set_wr_rdma(end.peer_rkey,
                               end.peer_addr + end.region("write", seq % SLOTS))
        end.qp.post_send(wr)
        wc = end.wait()
        if wc.wr_id != seq:
            sys.exit(f"FAIL: completion for {wc.wr_id} when {seq} was due")
        if kind == 2 and end.mr.read(n, scratch) != read_pattern(seq % SLOTS)[:n]:
            sys.exit(f"FAIL: READ {seq} brought the wrong content")
        seq += 1
    end.mr.write(TAG.pack(seq, 0), TAG.size, scratch)
    sge = SGE(end.mr.buf + scratch, TAG.size, end.mr.lkey)
    end.qp.post_send(SendWR(wr_id=seq, opcode=e.IBV_WR_SEND, num_sge=1, sg=[sge]))
    end.wait()
    if sock.recv(4) != b"done":
        sys.exit("FAIL: the server did not confirm")
    sock.sendall(b"done")
    print(f"verified {seq} messages")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "server":
        server(*sys.argv[2:])
    elif len(sys.argv) == 7 and sys.argv[1] == "client":
        client(*sys.argv[2:])
    else:
        sys.exit(__doc__)
