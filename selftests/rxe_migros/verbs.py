#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Verbs objects on one device, through the real libibverbs and librxe
(ctypes, so that every verb is reachable, ibv_resize_cq included).

    verbs.py DEVICE TEST...

Each test prints "ok NAME" or "not ok NAME: why"; the exit status is the
number of failures.
"""
import ctypes
import ctypes.util
import errno
import os
import sys

ibv = ctypes.CDLL("libibverbs.so.1", use_errno=True)
ibv.ibv_get_device_list.restype = ctypes.POINTER(ctypes.c_void_p)
ibv.ibv_get_device_name.restype = ctypes.c_char_p
ibv.ibv_get_device_name.argtypes = [ctypes.c_void_p]
ibv.ibv_open_device.restype = ctypes.c_void_p
ibv.ibv_open_device.argtypes = [ctypes.c_void_p]
ibv.ibv_close_device.argtypes = [ctypes.c_void_p]
ibv.ibv_create_comp_channel.restype = ctypes.c_void_p
ibv.ibv_create_comp_channel.argtypes = [ctypes.c_void_p]
ibv.ibv_destroy_comp_channel.argtypes = [ctypes.c_void_p]
ibv.ibv_create_cq.restype = ctypes.c_void_p
ibv.ibv_create_cq.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                              ctypes.c_void_p, ctypes.c_int]
ibv.ibv_destroy_cq.argtypes = [ctypes.c_void_p]
ibv.ibv_resize_cq.argtypes = [ctypes.c_void_p, ctypes.c_int]
ibv.ibv_query_device.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
ibv.ibv_alloc_pd.restype = ctypes.c_void_p
ibv.ibv_alloc_pd.argtypes = [ctypes.c_void_p]
ibv.ibv_dealloc_pd.argtypes = [ctypes.c_void_p]
ibv.ibv_reg_mr.restype = ctypes.c_void_p
ibv.ibv_reg_mr.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
ibv.ibv_dereg_mr.argtypes = [ctypes.c_void_p]
ibv.ibv_create_qp.restype = ctypes.c_void_p
ibv.ibv_create_qp.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
ibv.ibv_destroy_qp.argtypes = [ctypes.c_void_p]
ibv.ibv_get_async_event.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
ibv.ibv_ack_async_event.argtypes = [ctypes.c_void_p]
# The uverbs REREG_MR command itself: librxe offers no ibv_rereg_mr (for the
# C rxe either), so it is reached through libibverbs' command helper.
ibv.ibv_cmd_rereg_mr.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                                 ctypes.c_size_t, ctypes.c_uint64, ctypes.c_int,
                                 ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_void_p, ctypes.c_size_t]

# enum ibv_access_flags
LOCAL_WRITE, REMOTE_WRITE, REMOTE_READ, REMOTE_ATOMIC = 1, 2, 4, 8
ON_DEMAND = 1 << 6


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def open_device(name):
    n = ctypes.c_int()
    lst = ibv.ibv_get_device_list(ctypes.byref(n))
    for i in range(n.value):
        if ibv.ibv_get_device_name(lst[i]).decode() == name:
            ctx = ibv.ibv_open_device(lst[i])
            check(ctx, f"ibv_open_device({name}) failed: {os.strerror(ctypes.get_errno())}")
            return ctx
    raise Fail(f"no device {name}")


def cqe_of(cq):
    # struct ibv_cq { context, channel, cq_context; u32 handle; int cqe; ... }
    return ctypes.c_int.from_address(cq + 3 * 8 + 4).value


def max_cqe(ctx):
    # struct ibv_device_attr: fw_ver[64], node_guid, sys_image_guid,
    # max_mr_size, page_size_cap, vendor_id, vendor_part_id, hw_ver, max_qp,
    # max_qp_wr, device_cap_flags, max_sge, max_sge_rd, max_cq, max_cqe
    attr = ctypes.create_string_buffer(512)
    check(ibv.ibv_query_device(ctx, attr) == 0, "ibv_query_device failed")
    return ctypes.c_int.from_buffer(attr, 64 + 4 * 8 + 9 * 4).value


# Slots of struct ibv_context_ops, which follows the device pointer in
# struct ibv_context.
POLL_CQ, REQ_NOTIFY_CQ = 11, 12


def ctx_op(ctx, slot, restype, *argtypes):
    fn = ctypes.c_void_p.from_address(ctx + 8 + 8 * slot).value
    return ctypes.CFUNCTYPE(restype, *argtypes)(fn)


def poll(ctx, cq, n=16):
    wc = ctypes.create_string_buffer(48 * n)
    return ctx_op(ctx, POLL_CQ, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)(cq, n, wc)


def expect_errno(what, err):
    got = ctypes.get_errno()
    check(got == err, f"{what}: errno {errno.errorcode.get(got, got)}, wanted {errno.errorcode[err]}")


def test_cq_sizes(ctx):
    for want in (1, 2, 100, 1000, 4096):
        cq = ibv.ibv_create_cq(ctx, want, None, None, 0)
        check(cq, f"create_cq({want}): {os.strerror(ctypes.get_errno())}")
        got = cqe_of(cq)
        # A ring of 2^k slots holds 2^k - 1: the least such >= want.
        check(got >= want and (got + 1) & got == 0 and got < 2 * want + 1,
              f"create_cq({want}) gave {got} entries")
        check(poll(ctx, cq) == 0, "a new CQ polled a completion")
        check(ibv.ibv_destroy_cq(cq) == 0, "destroy_cq failed")


def test_cq_too_big(ctx):
    m = max_cqe(ctx)
    check(m > 0, f"max_cqe {m}")
    cq = ibv.ibv_create_cq(ctx, m, None, None, 0)
    check(cq, f"create_cq(max_cqe={m}): {os.strerror(ctypes.get_errno())}")
    ibv.ibv_destroy_cq(cq)
    ctypes.set_errno(0)
    cq = ibv.ibv_create_cq(ctx, m + 1, None, None, 0)
    check(not cq, f"create_cq(max_cqe + 1) succeeded")
    expect_errno("create_cq(max_cqe + 1)", errno.EINVAL)


def test_cq_resize(ctx):
    cq = ibv.ibv_create_cq(ctx, 10, None, None, 0)
    check(cq, "create_cq(10) failed")
    for want in (1000, 20, 5000, 1):
        rc = ibv.ibv_resize_cq(cq, want)
        check(rc == 0, f"resize_cq({want}): {os.strerror(rc)}")
        got = cqe_of(cq)
        check(got >= want and got < 2 * want + 1, f"resize_cq({want}) gave {got}")
    rc = ibv.ibv_resize_cq(cq, max_cqe(ctx) + 1)
    check(rc == errno.EINVAL, f"resize_cq(max_cqe + 1) returned {rc}, wanted EINVAL")
    check(ibv.ibv_destroy_cq(cq) == 0, "destroy_cq failed")


def test_cq_channel(ctx):
    ch = ibv.ibv_create_comp_channel(ctx)
    check(ch, "create_comp_channel failed")
    cq = ibv.ibv_create_cq(ctx, 16, None, ch, 0)
    check(cq, "create_cq with a channel failed")
    # Both are inlines calling context->ops: librxe polls the mapped ring
    # itself and sends notification requests to the kernel.
    for solicited in (0, 1, 0):
        rc = ctx_op(ctx, REQ_NOTIFY_CQ, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)(cq, solicited)
        check(rc == 0, f"req_notify_cq({solicited}) returned {rc}")
    check(poll(ctx, cq) == 0, "an empty CQ polled a completion")
    check(ibv.ibv_destroy_cq(cq) == 0, "destroy_cq failed")
    check(ibv.ibv_destroy_comp_channel(ch) == 0, "destroy_comp_channel failed")


def test_many_cqs(ctx):
    cqs = []
    for i in range(200):
        cq = ibv.ibv_create_cq(ctx, 64, None, None, 0)
        check(cq, f"create_cq #{i}: {os.strerror(ctypes.get_errno())}")
        cqs.append(cq)
    # Destroy in an order other than creation's.
    for cq in cqs[::2] + cqs[1::2]:
        check(ibv.ibv_destroy_cq(cq) == 0, "destroy_cq failed")


def test_cq_left_open(ctx):
    # Closing the device with objects alive must destroy them.
    for _ in range(5):
        check(ibv.ibv_create_cq(ctx, 32, None, None, 0), "create_cq failed")


def keys_of(mr):
    # struct ibv_mr { context, pd, addr; size_t length; u32 handle, lkey, rkey; }
    return (ctypes.c_uint32.from_address(mr + 4 * 8 + 4).value,
            ctypes.c_uint32.from_address(mr + 4 * 8 + 8).value)


def test_mr_keys(ctx):
    pd = ibv.ibv_alloc_pd(ctx)
    check(pd, "alloc_pd failed")
    bufs, mrs, keys = [], [], set()
    access = LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC
    for size in (1, 100, 4096, 4097, 65536, 1 << 20, 4 << 20):
        buf = ctypes.create_string_buffer(size)
        mr = ibv.ibv_reg_mr(pd, buf, size, access)
        check(mr, f"reg_mr({size}): {os.strerror(ctypes.get_errno())}")
        lkey, rkey = keys_of(mr)
        check(lkey == rkey and lkey >> 8 >= 1, f"keys {lkey:#x} {rkey:#x}")
        check(lkey not in keys, f"key {lkey:#x} given twice")
        keys.add(lkey)
        bufs.append(buf)
        mrs.append(mr)
    for mr in mrs:
        check(ibv.ibv_dereg_mr(mr) == 0, "dereg_mr failed")
    check(ibv.ibv_dealloc_pd(pd) == 0, "dealloc_pd failed")


def test_mr_refused(ctx):
    pd = ibv.ibv_alloc_pd(ctx)
    buf = ctypes.create_string_buffer(4096)
    cases = (
        ("remote write without local write", buf, 4096, REMOTE_WRITE, errno.EINVAL),
        ("implicit on-demand paging", None, 2**64 - 1, LOCAL_WRITE | ON_DEMAND, errno.EOPNOTSUPP),
        ("an unmapped address", ctypes.c_void_p(0x1000), 4096, LOCAL_WRITE, errno.EFAULT),
    )
    for what, addr, size, access, err in cases:
        ctypes.set_errno(0)
        mr = ibv.ibv_reg_mr(pd, addr, size, access)
        check(not mr, f"reg_mr of {what} succeeded")
        expect_errno(f"reg_mr of {what}", err)
    check(ibv.ibv_dealloc_pd(pd) == 0, "dealloc_pd failed")


def test_mr_reuse(ctx):
    # Indices cycle: registering and deregistering many times never runs
    # out, and a key is not handed out again at once.
    pd = ibv.ibv_alloc_pd(ctx)
    buf = ctypes.create_string_buffer(4096)
    last = None
    for _ in range(500):
        mr = ibv.ibv_reg_mr(pd, buf, 4096, LOCAL_WRITE)
        check(mr, f"reg_mr: {os.strerror(ctypes.get_errno())}")
        key = keys_of(mr)[0]
        check(key != last, "a key came back at once")
        last = key
        check(ibv.ibv_dereg_mr(mr) == 0, "dereg_mr failed")
    check(ibv.ibv_dealloc_pd(pd) == 0, "dealloc_pd failed")


# enum ibv_rereg_mr_flags
REREG_TRANS, REREG_PD, REREG_ACCESS = 1, 2, 4


def rereg(mr, flags, pd=None, buf=None, size=0, access=0):
    """REREG_MR on mr; returns the errno (0 for success)."""
    # struct ibv_rereg_mr: the command header (8 bytes) and struct
    # ib_uverbs_rereg_mr (48); the response, struct ib_uverbs_rereg_mr_resp.
    cmd, resp = ctypes.create_string_buffer(56), ctypes.create_string_buffer(8)
    addr = ctypes.cast(buf, ctypes.c_void_p).value if buf is not None else None
    return ibv.ibv_cmd_rereg_mr(mr, flags, addr, size, addr or 0, access, pd,
                                cmd, 56, resp, 8)


def test_mr_rereg(ctx):
    # An MR's access and PD change in place, its keys kept; other memory,
    # access the device does not honour, and write access to pages pinned
    # read-only are refused.
    pd, pd2 = ibv.ibv_alloc_pd(ctx), ibv.ibv_alloc_pd(ctx)
    buf = ctypes.create_string_buffer(8192)
    mr = ibv.ibv_reg_mr(pd, buf, 8192, LOCAL_WRITE)
    check(mr, f"reg_mr: {os.strerror(ctypes.get_errno())}")
    keys = keys_of(mr)
    rc = rereg(mr, REREG_ACCESS, access=LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ)
    check(rc == 0, f"rereg of the access: {os.strerror(rc)}")
    check(keys_of(mr) == keys, "rereg changed the keys")
    rc = rereg(mr, REREG_PD, pd=pd2)
    check(rc == 0, f"rereg of the PD: {os.strerror(rc)}")
    rc = rereg(mr, REREG_TRANS, buf=buf, size=4096)
    check(rc == errno.EOPNOTSUPP, f"rereg to other memory: {os.strerror(rc)}, wanted EOPNOTSUPP")
    rc = rereg(mr, REREG_ACCESS, access=LOCAL_WRITE | ON_DEMAND)
    check(rc == errno.EOPNOTSUPP, f"rereg to on-demand paging: {os.strerror(rc)}, wanted EOPNOTSUPP")
    ro = ibv.ibv_reg_mr(pd, buf, 4096, 0)
    check(ro, f"reg_mr read-only: {os.strerror(ctypes.get_errno())}")
    rc = rereg(ro, REREG_ACCESS, access=LOCAL_WRITE)
    check(rc == errno.EACCES, f"write access to pages pinned read-only: {os.strerror(rc)}, wanted EACCES")
    check(ibv.ibv_dereg_mr(ro) == 0 and ibv.ibv_dereg_mr(mr) == 0, "dereg_mr failed")
    # The MR was moved: the first PD is free, the second was its.
    check(ibv.ibv_dealloc_pd(pd) == 0 and ibv.ibv_dealloc_pd(pd2) == 0, "dealloc_pd failed")


def test_mr_left_open(ctx):
    pd = ibv.ibv_alloc_pd(ctx)
    global LEFT
    LEFT = ctypes.create_string_buffer(1 << 16)
    for _ in range(5):
        check(ibv.ibv_reg_mr(pd, LEFT, 1 << 16, LOCAL_WRITE), "reg_mr failed")


# enum ibv_event_type
DEVICE_FATAL = 8


def test_disassociated(ctx):
    """Holds a PD, an MR, a CQ and a QP (both with mapped rings), says
    "ready", and waits for the device to be taken away (a move to another
    network namespace, or the module's unload): the process must get
    DEVICE_FATAL, still read its mapped CQ ring without a fault, be
    refused new objects with EIO, and be able to clean up and close."""
    pd = ibv.ibv_alloc_pd(ctx)
    check(pd, "alloc_pd failed")
    buf = ctypes.create_string_buffer(1 << 16)
    mr = ibv.ibv_reg_mr(pd, buf, 1 << 16, LOCAL_WRITE)
    check(mr, "reg_mr failed")
    cq = ibv.ibv_create_cq(ctx, 64, None, None, 0)
    check(cq, "create_cq failed")
    # struct ibv_qp_init_attr: qp_context, send_cq, recv_cq, srq, cap
    # (max_send_wr, max_recv_wr, max_send_sge, max_recv_sge,
    # max_inline_data), qp_type (IBV_QPT_RC = 2), sq_sig_all.
    attr = ctypes.create_string_buffer(64)
    ctypes.c_void_p.from_buffer(attr, 8).value = cq
    ctypes.c_void_p.from_buffer(attr, 16).value = cq
    (ctypes.c_uint32 * 5).from_buffer(attr, 32)[:] = [16, 16, 1, 1, 0]
    ctypes.c_int.from_buffer(attr, 52).value = 2
    qp = ibv.ibv_create_qp(pd, attr)
    check(qp, f"create_qp failed: {os.strerror(ctypes.get_errno())}")
    print("ready", flush=True)
    # struct ibv_async_event: the element (a pointer), then event_type.
    ev = ctypes.create_string_buffer(16)
    check(ibv.ibv_get_async_event(ctx, ev) == 0,
          f"get_async_event: {os.strerror(ctypes.get_errno())}")
    kind = ctypes.c_int.from_buffer(ev, 8).value
    ibv.ibv_ack_async_event(ev)
    check(kind == DEVICE_FATAL, f"async event {kind}, wanted DEVICE_FATAL ({DEVICE_FATAL})")
    check(poll(ctx, cq) == 0, "the CQ of a device that is gone polled a completion")
    ctypes.set_errno(0)
    check(not ibv.ibv_alloc_pd(ctx), "alloc_pd succeeded on a device that is gone")
    expect_errno("alloc_pd after the device went", errno.EIO)
    # What the device took with it is destroyed as far as the process is
    # concerned: libibverbs reports success and librxe unmaps the rings.
    check(ibv.ibv_destroy_qp(qp) == 0, "destroy_qp failed")
    check(ibv.ibv_destroy_cq(cq) == 0, "destroy_cq failed")
    check(ibv.ibv_dereg_mr(mr) == 0, "dereg_mr failed")
    check(ibv.ibv_dealloc_pd(pd) == 0, "dealloc_pd failed")


def main():
    dev, tests = sys.argv[1], sys.argv[2:]
    failed = 0
    for name in tests:
        ctx = open_device(dev)
        try:
            globals()["test_" + name](ctx)
            print(f"ok {name}")
        except Fail as e:
            print(f"not ok {name}: {e}")
            failed += 1
        ibv.ibv_close_device(ctx)
    sys.exit(failed)


if __name__ == "__main__":
    main()
