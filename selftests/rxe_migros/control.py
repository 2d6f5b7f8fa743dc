#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Bad input to /dev/rxe_migros: each gets its errno, never an oops.

    control.py OURS THEIRS GID_INDEX PEER_GID

OURS is an rxe_migros device, THEIRS one of another driver (the C rxe);
GID_INDEX is one of OURS' GIDs, PEER_GID another host's.
Prints "ok NAME" or "not ok NAME: why" per test; exits with the number of
failures.
"""
import ctypes
import errno
import fcntl
import mmap
import os
import struct
import subprocess
import sys
import time

import image
import migctl
import multicast
import pyverbs.enums as e
from integrity import rc_attr
from pyverbs.addr import AH, AHAttr, GID, GlobalRoute
from pyverbs.cq import CQ, CompChannel
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

failures = 0


def expect(name, err, fn):
    """Runs fn(), which must fail with errno `err`."""
    global failures
    try:
        fn()
    except (OSError, PyverbsRDMAError) as e:
        got = e.errno if isinstance(e, OSError) else e.error_code
        if got == err:
            print(f"ok {name}")
            return
        print(f"not ok {name}: {errno.errorcode.get(got, got)}, "
              f"not {errno.errorcode[err]}")
    else:
        print(f"not ok {name}: succeeded, not {errno.errorcode[err]}")
    failures += 1


def open_context(name):
    """Opens device `name` with pyverbs; returns the context and our
    descriptors of its uverbs file and of its asynchronous event file."""
    me = os.getpid()
    before = set(migctl.uverbs_fds(me)), set(migctl.event_fds(me))
    ctx = Context(name=name)
    (fd,) = set(migctl.uverbs_fds(me)) - before[0]
    (event_fd,) = set(migctl.event_fds(me)) - before[1]
    return ctx, fd, event_fd


def check(name, ok, why=""):
    global failures
    if ok:
        print(f"ok {name}")
    else:
        print(f"not ok {name}: {why}")
        failures += 1


def raw_ioctl(fd, cmd, addr):
    """ioctl(2) with a pointer argument of any address."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
    if libc.ioctl(fd, cmd, addr) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def at_end_of_mapping(data):
    """`data` placed at the very end of a mapped page whose next page is
    unmapped; returns its address (the kernel's read runs off the end)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = mmap.PAGESIZE
    base = libc.mmap(None, 2 * page, mmap.PROT_READ | mmap.PROT_WRITE,
                     mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    libc.munmap(base + page, page)
    addr = base + page - len(data)
    ctypes.memmove(addr, bytes(data), len(data))
    return addr


def ud_qp(pd, cq):
    """A UD QP in RTS, Q_Key 0x11111111."""
    cap = QPCap(max_send_wr=8, max_recv_wr=8, max_send_sge=1, max_recv_sge=1)
    qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=cq, rcq=cq, cap=cap))
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index, a.port_num, a.qkey = 0, 1, 0x11111111
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_QKEY)
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.sq_psn = 0
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)
    return qp


def poll(cq, n, secs=5):
    """Up to `n` completions of `cq`, within `secs`."""
    got, end = [], time.monotonic() + secs
    while len(got) < n and time.monotonic() < end:
        k, wcs = cq.poll()
        got += wcs[:k]
    return got


def held_datagrams(ctl, ours, theirs, gid_index, peer_gid):
    """A Stopped UD QP holds the datagrams that reach it (here from the
    other driver's device, at `peer_gid`): its image has them, and it
    carries them out, in order, when it resumes."""
    global failures
    ctx, fd, _ = open_context(ours)
    pd = PD(ctx)
    cq = CQ(ctx, 16, None, None, 0)
    qp = ud_qp(pd, cq)
    mr = MR(pd, 4 * 1024, e.IBV_ACCESS_LOCAL_WRITE)
    for i in range(4):
        qp.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[SGE(mr.buf + i * 1024, 1024, mr.lkey)]))
    peer = Context(name=theirs)
    ppd = PD(peer)
    pcq = CQ(peer, 16, None, None, 0)
    pqp = ud_qp(ppd, pcq)
    pmr = MR(ppd, 1024, e.IBV_ACCESS_LOCAL_WRITE)

    def gid_at(i):
        try:
            return str(peer.query_gid(1, i))
        except PyverbsRDMAError:
            return None
    sgid = next(i for i in range(16) if gid_at(i) == str(GID(peer_gid)))
    gr = GlobalRoute(dgid=ctx.query_gid(1, gid_index), sgid_index=sgid, hop_limit=64)
    ah = AH(ppd, attr=AHAttr(gr=gr, is_global=1, port_num=1))

    migctl.stop(ctl, fd)
    sent = 0
    for i in range(3):
        pmr.write(bytes([0x40 + i]) * 100, 100, 0)
        wr = SendWR(wr_id=i, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(pmr.buf, 100, pmr.lkey)])
        wr.set_wr_ud(ah, qp.qp_num, 0x11111111)
        pqp.post_send(wr)
        sent += sum(1 for w in poll(pcq, 1) if w.status == e.IBV_WC_SUCCESS)
    time.sleep(0.5)
    early = len(poll(cq, 1, 0.1))
    (rec,) = [o for o in image.parse(migctl.dump(ctl, fd))
              if o["kind"] == "qp" and o["qpn"] == qp.qp_num]
    migctl.resume(ctl, fd)
    got = poll(cq, 3)
    ok = [w.status == e.IBV_WC_SUCCESS and w.wr_id == i and
          mr.read(100, i * 1024 + 40) == bytes([0x40 + i]) * 100
          for i, w in enumerate(got)]
    if (sent, early, len(rec["held"]), len(got), all(ok)) == (3, 0, 3, 3, True):
        print("ok a stopped UD QP holds datagrams, its image has them, it carries them out on resume")
    else:
        print(f"not ok held datagrams: {sent} sent, {early} completed while stopped, "
              f"{len(rec['held'])} in the image, {len(got)} after the resume, contents {ok}")
        failures += 1
    for o in (ah, pqp, pmr, pcq, ppd, peer, qp, mr, cq, pd, ctx):
        o.close()


def resume_roles(ctl, ctx, fd, gid_index, peer_gid):
    """Who announces itself on resume: of a loopback pair (both QPs in the
    context, RTS) neither; nor a QP in RTR towards another host that never
    sent it anything, so never showed it speaks the migration protocol
    (docs/migration.md): a C rxe peer gets no RESUME. (A partner that
    speaks is announced to in the migration and CRIU tests.)"""
    global failures
    pd = PD(ctx)
    cq = CQ(ctx, 16, None, None, 0)
    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    qps = [QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
           for _ in range(3)]
    own = ctx.query_gid(1, gid_index)
    peer = GID(peer_gid)

    qps[0].to_rts(rc_attr(qps[1].qp_num, own, gid_index, sq_psn=0x111, rq_psn=0x222))
    qps[1].to_rts(rc_attr(qps[0].qp_num, own, gid_index, sq_psn=0x222, rq_psn=0x111))
    qps[2].to_rtr(rc_attr(0x99, peer, gid_index))
    n = migctl.stop(ctl, fd)
    dump_stopped(ctl, fd, qps, pd, cq)
    # While stopped: new source GIDs the device lacks, or of another IP
    # family than the paths (the link-local GID at index 0), are refused.
    expect("a new source GID the device does not have", errno.ENOENT,
           lambda: migctl.resume(ctl, fd, migctl.gid_bytes("10.9.9.9")))
    link_local = bytes.fromhex(str(ctx.query_gid(1, 0)).replace(":", ""))
    expect("a new source GID of another IP family", errno.EINVAL,
           lambda: migctl.resume(ctl, fd, link_local))
    resumed = migctl.resume(ctl, fd)
    if (n, resumed) == (3, (3, 0)):
        print("ok a loopback pair resumes silently, and a QP whose partner never spoke")
    else:
        print(f"not ok resume roles: {n} stopped, {resumed} (resumed, announcing)")
        failures += 1
    expect("a dump while QPs run", errno.EBUSY, lambda: migctl.dump(ctl, fd))
    for q in qps:
        q.close()


def dump_stopped(ctl, fd, qps, pd, cq):
    """The image of a stopped context: its objects, with their numbers."""
    img = migctl.dump(ctl, fd)
    try:
        objs = image.parse(img)
    except image.Refused as e:
        check("the image of a stopped context", False, str(e))
        return
    kinds = [o["kind"] for o in objs]
    _, cookie, _ = migctl.identify(ctl, fd)
    got = sorted(o["qpn"] for o in objs if o["kind"] == "qp")
    check("the image of a stopped context",
          kinds[:3] == ["context", "pd", "cq"] and kinds.count("qp") == 3
          and objs[0]["cookie"] == cookie and got == sorted(q.qp_num for q in qps),
          f"{kinds}, QPNs {got}")
    handles = {(o["kind"], o["handle"]) for o in objs if "handle" in o}
    qp_refs = all(("pd", o["pd"]) in handles and ("cq", o["send_cq"]) in handles
                  for o in objs if o["kind"] == "qp")
    check("the image's QPs name its PD and CQ by handle", qp_refs, str(objs))
    # The loopback pair (RTS) has sent nothing: each expects the other's
    # first PSN; the third QP is in RTR.
    psns = {o["qpn"]: (o["state_name"], o["sq_psn"], o["epsn"], o["restart_psn"])
            for o in objs if o["kind"] == "qp"}
    want = {qps[0].qp_num: ("RTS", 0x111, 0x222, 0x111),
            qps[1].qp_num: ("RTS", 0x222, 0x111, 0x222)}
    check("the image keeps the QPs' states and PSNs",
          all(psns.get(k) == v for k, v in want.items())
          and psns.get(qps[2].qp_num, ("",))[0] == "RTR", str(psns))
    args = migctl.dump_args(fd, 0, len(img) - 1)
    expect("a dump into too little room", errno.ENOSPC,
           lambda: fcntl.ioctl(ctl, migctl.IOC_DUMP, args))
    check("ENOSPC tells the room an image needs",
          struct.unpack(migctl.DUMP_FMT, args)[6] == len(img))
    expect("unknown dump flags", errno.EINVAL,
           lambda: fcntl.ioctl(ctl, migctl.IOC_DUMP, migctl.dump_args(fd, flags=1)))
    room = migctl.dump_args(fd, at_end_of_mapping(b"x" * 8), len(img))
    expect("a dump into memory that ends too soon", errno.EFAULT,
           lambda: fcntl.ioctl(ctl, migctl.IOC_DUMP, room))


def restore_checks(ctl, name, gid_index):
    """RESTORE_CHECK of an image on the device it came from: identities in
    use are refused (a UD QP's number, an MR's key) or remapped (an RC
    QP's number); damaged images are refused."""
    ctx, fd, _ = open_context(name)
    pd = PD(ctx)
    mr = MR(pd, 4096, e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE)
    cq = CQ(ctx, 16, None, None, 0)
    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    rc = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    ud = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=cq, rcq=cq, cap=cap))
    rc.to_rts(rc_attr(0x99, ctx.query_gid(1, gid_index), gid_index))
    # The UD QP joins group 239.1.2.4 (its handle from a first image), so
    # that the image lists the attachment after its objects.
    migctl.stop(ctl, fd)
    objs = image.parse(migctl.dump(ctl, fd))
    migctl.resume(ctl, fd)
    ud_handle = [o["handle"] for o in objs if o["kind"] == "qp" and o["type"] == "UD"][0]
    rc_handle = [o["handle"] for o in objs if o["kind"] == "qp" and o["type"] == "RC"][0]
    group = multicast.group_gid("239.1.2.4")
    check("attach the UD QP to a group",
          multicast.mcast(fd, multicast.CMD_ATTACH_MCAST, ud_handle, group) == 0)
    migctl.stop(ctl, fd)
    img = migctl.dump(ctl, fd)
    migctl.resume(ctl, fd)
    check("detach the UD QP from its group",
          multicast.mcast(fd, multicast.CMD_DETACH_MCAST, ud_handle, group) == 0)
    attached = [o for o in image.parse(img) if o["kind"] == "mcast_attach"]
    gid_hex = group.replace(":", "")
    check("the image lists the attachment",
          attached == [{"kind": "mcast_attach", "qp": ud_handle, "lid": 0, "gid": gid_hex}],
          str(attached))
    fresh, fresh_fd, _ = open_context(name)
    expect("restore check: a UD QP's number in use", errno.EADDRINUSE,
           lambda: migctl.restore_check(ctl, fresh_fd, img))
    ud.close()
    expect("restore check: an MR's key in use", errno.EADDRINUSE,
           lambda: migctl.restore_check(ctl, fresh_fd, img))
    mr.close()
    got = migctl.restore_check(ctl, fresh_fd, img)
    check("restore check: an RC QP's number in use is remapped", got == (5, 0, 1), str(got))
    rc.close()
    got = migctl.restore_check(ctl, fresh_fd, img)
    check("restore check: every identity free", got == (5, 0, 0), str(got))
    bad = bytearray(img)
    bad[len(bad) // 2] ^= 0xFF
    expect("restore check: a damaged image", errno.EINVAL,
           lambda: migctl.restore_check(ctl, fresh_fd, bad))
    expect("restore check: a truncated image", errno.EINVAL,
           lambda: migctl.restore_check(ctl, fresh_fd, img[:len(img) - 8]))
    other = bytearray(img)
    other[8:12] = struct.pack("<I", image.VERSION + 1)
    expect("restore check: another image version", errno.EPROTONOSUPPORT,
           lambda: migctl.restore_check(ctl, fresh_fd, image.reseal(other)))
    # A forged image whose MR names a PD that is not there.
    forged = bytearray(img)
    at = img.index(struct.pack("<HH", 2, 1))      # the MR record's header
    forged[at + 12:at + 16] = struct.pack("<I", 77)
    expect("restore check: an MR whose PD is not in the image", errno.EINVAL,
           lambda: migctl.restore_check(ctl, fresh_fd, image.reseal(forged)))
    # Forged attachments: of the RC QP, and to a unicast address.
    at = img.index(struct.pack("<HHI", 11, 1, 32))  # the attachment's header
    for what, off, value in [("of an RC QP", 8, struct.pack("<I", rc_handle)),
                             ("to a unicast address", 28, bytes([10]))]:
        forged = bytearray(img)
        forged[at + off:at + off + len(value)] = value
        expect(f"restore check: a multicast attachment {what}", errno.EINVAL,
               lambda: migctl.restore_check(ctl, fresh_fd, image.reseal(forged)))
    expect("restore check: an image larger than any", errno.EINVAL,
           lambda: migctl.restore_check(ctl, fresh_fd, img, 1 << 40))
    expect("restore check: an image the caller cannot read", errno.EFAULT,
           lambda: migctl.restore_check(ctl, fresh_fd, img, len(img) + (1 << 24)))
    for o in (cq, pd):
        o.close()
    return img


def restore_objects(ctl, name, gid_index, img_with_qps):
    """RESTORE of a context's PD, MR, CQ and AH on a fresh context: the MR
    comes back with its keys, the CQ with the completions the process had
    not polled, the AH with its number; creates out of order, an MR of
    other memory and a CQ of another shape are refused; an image with QPs
    is staged (restore_qp.py restores them); an image with a handle gap
    and a reused handle is restored with placeholders."""
    ctx, fd, _ = open_context(name)
    pd = PD(ctx)
    buf = mmap.mmap(-1, 8192)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    access = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE
    mr = MR(pd, 4096, access, address=addr)
    keys = (mr.lkey, mr.rkey)
    cq = CQ(ctx, 16, None, None, 0)
    own = ctx.query_gid(1, gid_index)
    ah_attr = AHAttr(gr=GlobalRoute(dgid=own, sgid_index=gid_index), is_global=1, port_num=1)
    ah = AH(pd, attr=ah_attr)
    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    qp.to_rts(rc_attr(0x99, own, gid_index))
    # Two receives, flushed into the CQ by the error state.
    for wr_id in (0x5678, 0x5679):
        qp.post_recv(RecvWR(wr_id=wr_id, num_sge=1, sg=[SGE(0, 0, 0)]))
    qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
    time.sleep(0.5)
    qp.close()
    migctl.stop(ctl, fd)
    img = migctl.dump(ctl, fd)
    kinds = [o["kind"] for o in image.parse(img)]
    check("restore: an image of a PD, an MR, a CQ and an AH",
          kinds == ["context", "pd", "mr", "cq", "ah"], str(kinds))
    ah_num = [o["num"] for o in image.parse(img) if o["kind"] == "ah"]
    mr.close()
    ah.close()

    fresh, fresh_fd, _ = open_context(name)
    n = migctl.restore(ctl, fresh_fd, img)
    pd2 = PD(fresh)
    mr2 = MR(pd2, 4096, access, address=addr)
    check("restore: the MR comes back with its keys", (mr2.lkey, mr2.rkey) == keys,
          f"{(mr2.lkey, mr2.rkey)}, not {keys}")
    cq2 = CQ(fresh, 16, None, None, 0)
    got = cq2.poll(4)
    wcs = sorted((w.wr_id, w.status) for w in got[1])
    flushed = e.IBV_WC_WR_FLUSH_ERR
    check("restore: the CQ comes back with the completions not yet polled",
          n == 4 and got[0] == 2 and wcs == [(0x5678, flushed), (0x5679, flushed)],
          f"{n}, {got[0]}, {wcs}")
    ah2 = AH(pd2, attr=ah_attr)
    migctl.stop(ctl, fresh_fd)
    again = [o["num"] for o in image.parse(migctl.dump(ctl, fresh_fd)) if o["kind"] == "ah"]
    migctl.resume(ctl, fresh_fd)
    check("restore: the AH comes back with its number", again == ah_num, f"{again}, {ah_num}")
    cq3 = CQ(fresh, 4, None, None, 0)
    check("restore: then creates are ordinary again", cq3.cqe >= 4)
    expect("restore: a context that has objects", errno.EBUSY,
           lambda: migctl.restore(ctl, fresh_fd, img))
    other, other_fd, _ = open_context(name)
    got = migctl.restore_ioctl(ctl, migctl.IOC_RESTORE, other_fd, img_with_qps)
    check("restore: an image with QPs is staged", got == (5, 0, 0), str(got))
    restore_gap(ctl, name)

    for o in (cq3, ah2, cq2, mr2, pd2):
        o.close()

    wrong, wrong_fd, _ = open_context(name)
    migctl.restore(ctl, wrong_fd, img)
    expect("restore: a create out of order", errno.EINVAL,
           lambda: CQ(wrong, 16, None, None, 0))
    pd3 = PD(wrong)
    expect("restore: an MR of other memory than its image", errno.EINVAL,
           lambda: MR(pd3, 4096, access, address=addr + 4096))
    mr3 = MR(pd3, 4096, access, address=addr)
    expect("restore: a CQ of another shape than its image", errno.EINVAL,
           lambda: CQ(wrong, 64, None, None, 0))
    for o in (mr3, pd3, cq, pd):
        o.close()


def restore_gap(ctl, name):
    """A context whose second and third CQs were destroyed before a fifth
    took the second's handle again: its image's handles are 0, 3, 1.
    RESTORE counts two placeholders; a PD fills each handle below 3
    (anything else there is refused), the CQ at 3 gets its handle, the
    placeholder at 1 goes and the last CQ takes 1 back; once the other
    placeholder is gone the restored context dumps as the original did."""
    ctx, fd, _ = open_context(name)
    cqs = [CQ(ctx, 4, None, None, 0) for _ in range(4)]
    for cq in cqs[1:3]:
        cq.close()
    cqs.append(CQ(ctx, 4, None, None, 0))
    migctl.stop(ctl, fd)
    img = migctl.dump(ctl, fd)
    handles = [(o["kind"], o["handle"]) for o in image.parse(img)[1:]]
    check("restore: an image with a gap in its handles and one reused",
          handles == [("cq", 0), ("cq", 3), ("cq", 1)], str(handles))
    fresh, fresh_fd, _ = open_context(name)
    got = migctl.restore_ioctl(ctl, migctl.IOC_RESTORE, fresh_fd, img)
    check("restore: two placeholders for the gap", got == (3, 2, 0), str(got))
    first = CQ(fresh, 4, None, None, 0)
    expect("restore: a CQ where a placeholder goes", errno.EINVAL,
           lambda: CQ(fresh, 4, None, None, 0))
    holders = [PD(fresh), PD(fresh)]
    second = CQ(fresh, 4, None, None, 0)
    holders[0].close()
    third = CQ(fresh, 4, None, None, 0)
    holders[1].close()
    migctl.stop(ctl, fresh_fd)
    again = [(o["kind"], o["handle"]) for o in image.parse(migctl.dump(ctl, fresh_fd))[1:]]
    migctl.resume(ctl, fresh_fd)
    check("restore: the objects after the gap get their handles, the reused one too",
          again == handles, f"{again}, not {handles}")
    for cq in (first, second, third, cqs[0], cqs[3], cqs[4]):
        cq.close()


def dump_too_large(ctl, name):
    """A context whose image would pass what a restore takes (64 MiB: a
    send queue of 2^19 requests is more) is not dumped: DUMP is E2BIG,
    and its QP is resumed in place (a RESUME finds nothing stopped)."""
    ctx, fd, _ = open_context(name)
    pd = PD(ctx)
    cq = CQ(ctx, 16, None, None, 0)
    cap = QPCap(max_send_wr=1 << 19, max_recv_wr=1, max_send_sge=1, max_recv_sge=1)
    qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    stopped = migctl.stop(ctl, fd)
    check("dump: the large QP stops", stopped == 1, f"{stopped} stopped")
    expect("dump: an image larger than a restore takes", errno.E2BIG,
           lambda: migctl.dump(ctl, fd))
    got = migctl.resume(ctl, fd)
    check("dump: refused, the QP was resumed in place", got == (0, 0), str(got))
    for o in (qp, cq, pd):
        o.close()


def identify(ctl, ctx, fd, event_fd, their_fd, their_event_fd):
    """IDENTIFY names a context's files by the same context, and its
    completion channels by number."""
    me = os.getpid()
    before = set(migctl.event_fds(me))
    channel = CompChannel(ctx)
    (channel_fd,) = set(migctl.event_fds(me)) - before
    cq = CQ(ctx, 8, None, channel, 0)
    a, b, c = (migctl.identify(ctl, f) for f in (fd, event_fd, channel_fd))
    check("a context's uverbs and event files name one context",
          a[:2] == (migctl.FILE_UVERBS, a[1]) and b == (migctl.FILE_EVENT, a[1], 0)
          and c == (migctl.FILE_EVENT, a[1], 1), f"{a}, {b}, {c}")
    objs = image.parse(migctl.dump(ctl, event_fd)) + image.parse(migctl.dump(ctl, channel_fd))
    check("an event file's image names its context and channel",
          objs == [{"kind": "event_file", "context": a[1], "channel": 0},
                   {"kind": "event_file", "context": a[1], "channel": 1}], str(objs))
    cqs = [o for o in image.parse(migctl.dump(ctl, fd)) if o["kind"] == "cq"]
    check("a CQ's image names its channel", [o["channel"] for o in cqs] == [1], str(cqs))
    cq.close()
    channel.close()
    for name, f in (("a file that is not uverbs", ctl),
                    ("another driver's uverbs file", their_fd),
                    ("another driver's event file", their_event_fd)):
        expect(f"identify {name}", errno.ENODEV, lambda: migctl.identify(ctl, f))


def main():
    ours, theirs = sys.argv[1], sys.argv[2]
    ctl = os.open(migctl.CTL, os.O_RDWR)
    mine, fd, event_fd = open_context(ours)
    other, their_fd, their_event_fd = open_context(theirs)

    global failures
    n = migctl.stop(ctl, fd)
    a = migctl.resume(ctl, fd)
    if n == 0 and a == (0, 0):
        print("ok a context of ours with no QP: stopped and resumed")
    else:
        print(f"not ok a context with no QP: {n} stopped, {a} resumed")
        failures += 1

    def stop_with(buf):
        return lambda: fcntl.ioctl(ctl, migctl.IOC_STOP, buf)

    expect("a descriptor that is not open", errno.EBADF,
           stop_with(migctl.stop_args(9999)))
    expect("a negative descriptor", errno.EBADF, stop_with(migctl.stop_args(-1)))
    expect("a file that is not uverbs", errno.ENODEV,
           stop_with(migctl.stop_args(ctl)))
    expect("another driver's uverbs file", errno.ENODEV,
           stop_with(migctl.stop_args(their_fd)))
    expect("another driver's uverbs file (resume)", errno.ENODEV,
           lambda: fcntl.ioctl(ctl, migctl.IOC_RESUME, migctl.resume_args(their_fd)))
    expect("a struct that says it is shorter", errno.EINVAL,
           stop_with(migctl.stop_args(fd, size=16)))
    expect("a struct that says it is longer", errno.EINVAL,
           stop_with(migctl.stop_args(fd, size=4096)))
    expect("an unknown version", errno.EPROTONOSUPPORT,
           stop_with(migctl.stop_args(fd, version=2)))
    expect("unknown stop flags", errno.EINVAL,
           stop_with(migctl.stop_args(fd, flags=1)))
    bad = migctl.resume_args(fd)
    struct.pack_into("=I", bad, 12, 1 << 7)
    expect("unknown resume flags", errno.EINVAL,
           lambda: fcntl.ioctl(ctl, migctl.IOC_RESUME, bad))
    expect("a null struct", errno.EFAULT, lambda: fcntl.ioctl(ctl, migctl.IOC_STOP, 0))
    short = migctl.stop_args(fd)[:16]
    expect("a struct truncated by the end of memory", errno.EFAULT,
           lambda: raw_ioctl(ctl, migctl.IOC_STOP, at_end_of_mapping(short)))
    expect("an unknown command", errno.ENOTTY,
           lambda: fcntl.ioctl(ctl, migctl.iowr(9, 24), bytearray(24)))

    identify(ctl, mine, fd, event_fd, their_fd, their_event_fd)
    resume_roles(ctl, mine, fd, int(sys.argv[3]), sys.argv[4])
    held_datagrams(ctl, ours, theirs, int(sys.argv[3]), sys.argv[4])
    img = restore_checks(ctl, ours, int(sys.argv[3]))
    restore_objects(ctl, ours, int(sys.argv[3]), img)
    dump_too_large(ctl, ours)

    # Without CAP_CHECKPOINT_RESTORE and CAP_SYS_ADMIN, even root with a
    # descriptor of the context is refused.
    os.set_inheritable(fd, True)
    probe = ("import fcntl, os, sys, migctl\n"
             "ctl = os.open(migctl.CTL, os.O_RDWR)\n"
             "try:\n"
             f"    fcntl.ioctl(ctl, migctl.IOC_STOP, migctl.stop_args({fd}))\n"
             "except OSError as e:\n"
             "    sys.exit(e.errno)\n")
    r = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all",
                        "python3", "-c", probe], close_fds=False,
                       cwd=os.path.dirname(os.path.abspath(__file__)))
    if r.returncode == errno.EPERM:
        print("ok a caller without the capabilities")
    else:
        print(f"not ok a caller without the capabilities: exit {r.returncode}, not EPERM")
        failures += 1
    sys.exit(failures)


if __name__ == "__main__":
    main()
