// SPDX-License-Identifier: GPL-2.0

//! Queue pairs: what the core asks of a driver's QP (its creation
//! attributes, the attributes of a modification) in safe form.

use super::backlink::Backlink;
use super::bindings as sys;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The transport service of a QP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QpType {
    /// Reliable connected.
    Rc,
    /// Unreliable connected.
    Uc,
    /// Unreliable datagram.
    Ud,
    /// The general services QP (QP1) of the MAD layer: UD with a fixed QPN.
    Gsi,
}

impl QpType {
    /// The type of a `enum ib_qp_type`, if a software RoCE device has it.
    pub fn from_raw(t: sys::ib_qp_type) -> Option<QpType> {
        match t {
            sys::ib_qp_type_IB_QPT_RC => Some(QpType::Rc),
            sys::ib_qp_type_IB_QPT_UC => Some(QpType::Uc),
            sys::ib_qp_type_IB_QPT_UD => Some(QpType::Ud),
            sys::ib_qp_type_IB_QPT_GSI => Some(QpType::Gsi),
            _ => None,
        }
    }

    /// Back to `enum ib_qp_type`.
    pub fn to_raw(self) -> sys::ib_qp_type {
        match self {
            QpType::Rc => sys::ib_qp_type_IB_QPT_RC,
            QpType::Uc => sys::ib_qp_type_IB_QPT_UC,
            QpType::Ud => sys::ib_qp_type_IB_QPT_UD,
            QpType::Gsi => sys::ib_qp_type_IB_QPT_GSI,
        }
    }
}

/// Work queue sizes: asked for at creation, granted (possibly larger) back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QpCaps {
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline_data: u32,
}

impl QpCaps {
    /// From the core's `ib_qp_cap`.
    pub fn from_raw(c: &sys::ib_qp_cap) -> Self {
        QpCaps {
            max_send_wr: c.max_send_wr,
            max_recv_wr: c.max_recv_wr,
            max_send_sge: c.max_send_sge,
            max_recv_sge: c.max_recv_sge,
            max_inline_data: c.max_inline_data,
        }
    }

    /// Into the core's `ib_qp_cap`.
    pub fn write_raw(&self, c: &mut sys::ib_qp_cap) {
        c.max_send_wr = self.max_send_wr;
        c.max_recv_wr = self.max_recv_wr;
        c.max_send_sge = self.max_send_sge;
        c.max_recv_sge = self.max_recv_sge;
        c.max_inline_data = self.max_inline_data;
        c.max_rdma_ctxs = 0;
    }
}

/// Names a protection domain, for checking that an MR and a QP share
/// one. Valid while both live, as the core keeps the PD until they go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdId(pub(crate) usize);

impl PdId {
    /// As a number, to keep in an atomic.
    pub fn to_raw(self) -> usize {
        self.0
    }

    /// Back from [`PdId::to_raw`].
    pub fn from_raw(raw: usize) -> PdId {
        PdId(raw)
    }
}

/// What `ibv_create_qp` asked for, with the driver's CQs and SRQ.
pub struct QpInit<'a, Cq, Srq> {
    pub qp_type: QpType,
    /// The protection domain: only its MRs serve the QP's requests.
    pub pd: PdId,
    pub caps: QpCaps,
    /// Every send WR completes (`IB_SIGNAL_ALL_WR`), not only signalled
    /// ones.
    pub sq_sig_all: bool,
    pub send_cq: &'a Cq,
    pub recv_cq: &'a Cq,
    /// The shared receive queue its receives come from, if any.
    pub srq: Option<&'a Srq>,
    /// `ib_qp_create_flags`; none are supported yet.
    pub create_flags: u32,
    /// The core's QP, for kernel consumers' completions.
    pub core: CoreQp,
    /// The way to its consumer's event handler.
    pub events: Arc<QpEvents>,
}

/// The attributes of `struct ib_qp_attr` a software RoCE QP has, in Rust
/// form: what `modify_qp` is given (with its mask) and what `query_qp`
/// reports. The numbers are the uverbs ABI's (`enum ib_qp_state`, `enum
/// ib_mtu`, `enum ib_access_flags`).
#[derive(Clone, Copy, Debug, Default)]
pub struct QpAttrValues {
    pub state: u32,
    pub cur_state: u32,
    pub port: u32,
    pub pkey_index: u16,
    pub qkey: u32,
    pub access: u32,
    pub path_mtu: u32,
    pub dest_qpn: u32,
    pub sq_psn: u32,
    pub rq_psn: u32,
    /// The partner's address, and the port it names; `None` when not
    /// given, or (for `modify_qp`) not named by the mask.
    pub av: Option<(AddressVector, u32)>,
    pub timeout: u8,
    pub retry_cnt: u8,
    pub rnr_retry: u8,
    pub min_rnr_timer: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
    /// In SQD, the send queue not yet drained (reported only).
    pub sq_draining: bool,
}

/// `IB_QP_AV`: the mask bit under which `ah_attr` is read.
const MASK_AV: u32 = sys::ib_qp_attr_mask_IB_QP_AV;

impl QpAttrValues {
    /// The values of `a`, reading its address only when `mask` names it:
    /// EINVAL if it is not a RoCEv2 address.
    pub(crate) fn from_raw(a: &sys::ib_qp_attr, mask: u32) -> Result<Self> {
        let av = if mask & MASK_AV != 0 {
            Some((AddressVector::from_ah(&a.ah_attr)?, a.ah_attr.port_num))
        } else {
            None
        };
        Ok(QpAttrValues {
            state: a.qp_state,
            cur_state: a.cur_qp_state,
            port: u32::from(a.port_num),
            pkey_index: a.pkey_index,
            qkey: a.qkey,
            access: a.qp_access_flags as u32,
            path_mtu: a.path_mtu,
            dest_qpn: a.dest_qp_num,
            sq_psn: a.sq_psn,
            rq_psn: a.rq_psn,
            av,
            timeout: a.timeout,
            retry_cnt: a.retry_cnt,
            rnr_retry: a.rnr_retry,
            min_rnr_timer: a.min_rnr_timer,
            max_rd_atomic: a.max_rd_atomic,
            max_dest_rd_atomic: a.max_dest_rd_atomic,
            sq_draining: false,
        })
    }

    /// Writes the values into `out`, for `query_qp`: one port, the path
    /// as migrated (no alternate path).
    pub(crate) fn write_raw(&self, out: &mut sys::ib_qp_attr) {
        out.qp_state = self.state;
        out.cur_qp_state = self.state;
        out.path_mtu = self.path_mtu;
        out.path_mig_state = sys::ib_mig_state_IB_MIG_MIGRATED;
        out.qkey = self.qkey;
        out.rq_psn = self.rq_psn;
        out.sq_psn = self.sq_psn;
        out.dest_qp_num = self.dest_qpn;
        out.qp_access_flags = self.access as i32;
        out.pkey_index = self.pkey_index;
        out.alt_pkey_index = 0;
        out.en_sqd_async_notify = 0;
        out.sq_draining = u8::from(self.sq_draining);
        out.max_rd_atomic = self.max_rd_atomic;
        out.max_dest_rd_atomic = self.max_dest_rd_atomic;
        out.min_rnr_timer = self.min_rnr_timer;
        out.port_num = 1;
        out.timeout = self.timeout;
        out.retry_cnt = self.retry_cnt;
        out.rnr_retry = self.rnr_retry;
        if let Some((av, port)) = self.av {
            av.to_ah(port, &mut out.ah_attr);
        }
    }
}

/// `enum ib_mtu` of a path MTU in bytes: the largest that fits.
pub fn ib_mtu_of(bytes: u32) -> u32 {
    match bytes {
        4096.. => sys::ib_mtu_IB_MTU_4096,
        2048.. => sys::ib_mtu_IB_MTU_2048,
        1024.. => sys::ib_mtu_IB_MTU_1024,
        512.. => sys::ib_mtu_IB_MTU_512,
        _ => sys::ib_mtu_IB_MTU_256,
    }
}

/// An address vector: where a QP's (or an AH's) packets go, as RoCEv2 needs
/// it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressVector {
    /// Destination GID (an IPv4-mapped or IPv6 address).
    pub dgid: [u8; 16],
    /// Source GID, the address of the local port it names.
    pub sgid: [u8; 16],
    pub sgid_index: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// Destination MAC, as the core resolved it.
    pub dmac: [u8; 6],
    /// Whether it is an IPv6 path (else IPv4).
    pub ipv6: bool,
}

impl AddressVector {
    /// Reads the address of `ah`, which the core has resolved (source GID
    /// entry, destination MAC). Only RoCEv2 paths are accepted: anything
    /// else is EINVAL.
    pub fn from_ah(ah: &sys::rdma_ah_attr) -> Result<Self> {
        if ah.type_ != sys::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_ROCE
            || ah.ah_flags & sys::ib_ah_flags_IB_AH_GRH as u8 == 0
        {
            return Err(EINVAL);
        }
        let grh = &ah.grh;
        // SAFETY: the core sets `sgid_attr` to a held GID table entry for
        // the duration of the call, or leaves it null.
        let Some(sgid_attr) = (unsafe { grh.sgid_attr.as_ref() }) else {
            return Err(EINVAL);
        };
        if sgid_attr.gid_type != sys::ib_gid_type_IB_GID_TYPE_ROCE_UDP_ENCAP {
            return Err(EINVAL);
        }
        // SAFETY: all members of `ib_gid` are plain bytes.
        let (sgid, dgid) = unsafe { (*sgid_attr.gid.raw.as_ref(), *grh.dgid.raw.as_ref()) };
        let v4mapped = |g: &[u8; 16]| g[..10] == [0; 10] && g[10] == 0xff && g[11] == 0xff;
        // SAFETY: a RoCE address holds the `roce` member.
        let dmac = unsafe { ah.__bindgen_anon_1.roce.as_ref().dmac };
        Ok(AddressVector {
            dgid,
            sgid,
            sgid_index: grh.sgid_index,
            flow_label: grh.flow_label,
            hop_limit: grh.hop_limit,
            traffic_class: grh.traffic_class,
            dmac,
            ipv6: !v4mapped(&sgid),
        })
    }

    /// Writes the address into `ah`, for `query_qp`.
    pub fn to_ah(&self, port: u32, ah: &mut sys::rdma_ah_attr) {
        ah.type_ = sys::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_ROCE;
        ah.port_num = port;
        ah.ah_flags = sys::ib_ah_flags_IB_AH_GRH as u8;
        // SAFETY: all members of `ib_gid` are plain bytes.
        unsafe { *ah.grh.dgid.raw.as_mut() = self.dgid };
        ah.grh.flow_label = self.flow_label;
        ah.grh.sgid_index = self.sgid_index;
        ah.grh.hop_limit = self.hop_limit;
        ah.grh.traffic_class = self.traffic_class;
        ah.grh.sgid_attr = core::ptr::null();
        // SAFETY: a RoCE address holds the `roce` member.
        unsafe { ah.__bindgen_anon_1.roce.as_mut().dmac = self.dmac };
    }
}

/// The core's `ib_qp` of a driver's QP, as an identity that kernel
/// consumers' completions carry back (`ib_wc.qp`). Null for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreQp(usize);

impl CoreQp {
    pub(crate) fn new(qp: *mut sys::ib_qp) -> Self {
        CoreQp(qp as usize)
    }

    pub(crate) fn as_ptr(self) -> *mut sys::ib_qp {
        self.0 as *mut sys::ib_qp
    }
}

/// The way back from a driver's QP to the core's, for its affiliated
/// asynchronous events ([`Backlink`]).
pub type QpEvents = Backlink<sys::ib_qp>;

impl QpEvents {
    /// Hands the QP's consumer `kind` through the QP's event handler (for
    /// a process's QP, uverbs', which queues it on the process's async
    /// event file).
    pub fn event(&self, kind: QpEventKind) {
        self.with(|qp| {
            // SAFETY: linked, so alive; the handler is the consumer's, and
            // the event lives for the call, as the handlers expect (they
            // copy what they keep).
            unsafe {
                if let Some(handler) = (*qp).event_handler {
                    let mut ev: sys::ib_event = core::mem::zeroed();
                    ev.device = (*qp).device;
                    *ev.element.qp.as_mut() = qp;
                    ev.event = kind.raw();
                    handler(&mut ev, (*qp).qp_context);
                }
            }
        })
    }
}

/// The affiliated asynchronous events of a QP that a driver raises
/// (`enum ib_event_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QpEventKind {
    /// `IB_EVENT_QP_FATAL`.
    Fatal,
    /// `IB_EVENT_QP_REQ_ERR`.
    RequestError,
    /// `IB_EVENT_QP_ACCESS_ERR`.
    AccessError,
    /// `IB_EVENT_SQ_DRAINED`.
    SqDrained,
    /// `IB_EVENT_QP_LAST_WQE_REACHED`.
    LastWqeReached,
}

impl QpEventKind {
    fn raw(self) -> sys::ib_event_type {
        match self {
            QpEventKind::Fatal => sys::ib_event_type_IB_EVENT_QP_FATAL,
            QpEventKind::RequestError => sys::ib_event_type_IB_EVENT_QP_REQ_ERR,
            QpEventKind::AccessError => sys::ib_event_type_IB_EVENT_QP_ACCESS_ERR,
            QpEventKind::SqDrained => sys::ib_event_type_IB_EVENT_SQ_DRAINED,
            QpEventKind::LastWqeReached => sys::ib_event_type_IB_EVENT_QP_LAST_WQE_REACHED,
        }
    }
}

/// The `n` entries at `list`; EINVAL if `n` is negative, or positive with
/// no list.
///
/// # Safety
///
/// A non-null `list` must point to `n` entries valid for `'a`.
unsafe fn sge_list<'a>(list: *const sys::ib_sge, n: i32) -> Result<&'a [sys::ib_sge]> {
    let n = usize::try_from(n).map_err(|_| EINVAL)?;
    if n == 0 {
        return Ok(&[]);
    }
    if list.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: per the caller.
    Ok(unsafe { core::slice::from_raw_parts(list, n) })
}

/// A kernel consumer's scatter/gather list (`struct ib_sge` entries).
#[derive(Clone, Copy)]
pub struct SgList<'a>(&'a [sys::ib_sge]);

/// One entry of a scatter/gather list: `length` bytes at `addr` of the
/// MR `lkey` names.
#[derive(Clone, Copy, Debug)]
pub struct ScatterEntry {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}

impl<'a> SgList<'a> {
    /// How many entries.
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The bytes all entries cover.
    pub fn total(&self) -> usize {
        self.0.iter().map(|s| s.length as usize).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = ScatterEntry> + 'a {
        self.0.iter().map(|s| ScatterEntry {
            addr: s.addr,
            length: s.length,
            lkey: s.lkey,
        })
    }
}

/// The operation of a kernel consumer's send work request (`enum
/// ib_wr_opcode`): those a software RoCE device carries out for kernel
/// consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrOpcode {
    Send,
    SendWithImm,
    RdmaWrite,
    RdmaWriteWithImm,
    RdmaRead,
    /// SEND that invalidates the rkey in [`SendWr::ex`] at the responder.
    SendWithInv,
    /// Invalidates the key in [`SendWr::ex`] here.
    LocalInv,
    /// Fast registration: [`SendWr::reg`].
    RegMr,
}

/// A kernel consumer's REG_MR request (`struct ib_reg_wr`), with what its
/// MR's page map says as it is posted.
#[derive(Clone, Copy, Debug)]
pub struct RegWr {
    /// The MR's key as the consumer has it now (its index is ours).
    pub mr_key: u32,
    /// The key it gets, and the access.
    pub key: u32,
    pub access: u32,
    /// The first address and the length `ib_map_mr_sg` mapped (or the
    /// consumer set since).
    pub iova: u64,
    pub length: u64,
}

/// A kernel consumer's send work request (`ib_post_send` on a QP it
/// created): `struct ib_send_wr`, and the larger request it heads for
/// RDMA and UD requests.
pub struct SendWr<'a, A> {
    raw: &'a sys::ib_send_wr,
    ud: Option<UdWr<'a, A>>,
}

/// The destination of a kernel consumer's UD send (`struct ib_ud_wr`).
pub struct UdWr<'a, A> {
    /// The driver's address handle.
    pub ah: &'a A,
    pub remote_qpn: u32,
    pub remote_qkey: u32,
}

impl<'a, A> SendWr<'a, A> {
    /// # Safety
    ///
    /// `raw` must be a kernel consumer's request, valid for `'a`, posted to
    /// a UD or GSI QP if and only if `ud` is given (which then holds its
    /// destination).
    pub(crate) unsafe fn new(raw: &'a sys::ib_send_wr, ud: Option<UdWr<'a, A>>) -> Self {
        SendWr { raw, ud }
    }

    pub fn wr_id(&self) -> u64 {
        // SAFETY: `wr_id` and `wr_cqe` share the union; either is 64 bits.
        unsafe { *self.raw.__bindgen_anon_1.wr_id.as_ref() }
    }

    /// The operation; `None` for one this device does not carry out.
    pub fn opcode(&self) -> Option<WrOpcode> {
        Some(match self.raw.opcode {
            sys::ib_wr_opcode_IB_WR_SEND => WrOpcode::Send,
            sys::ib_wr_opcode_IB_WR_SEND_WITH_IMM => WrOpcode::SendWithImm,
            sys::ib_wr_opcode_IB_WR_RDMA_WRITE => WrOpcode::RdmaWrite,
            sys::ib_wr_opcode_IB_WR_RDMA_WRITE_WITH_IMM => WrOpcode::RdmaWriteWithImm,
            sys::ib_wr_opcode_IB_WR_RDMA_READ => WrOpcode::RdmaRead,
            sys::ib_wr_opcode_IB_WR_SEND_WITH_INV => WrOpcode::SendWithInv,
            sys::ib_wr_opcode_IB_WR_LOCAL_INV => WrOpcode::LocalInv,
            sys::ib_wr_opcode_IB_WR_REG_MR => WrOpcode::RegMr,
            _ => return None,
        })
    }

    /// `enum ib_send_flags`.
    pub fn flags(&self) -> u32 {
        self.raw.send_flags as u32
    }

    /// The immediate data (as on the wire) or the rkey to invalidate.
    pub fn ex(&self) -> u32 {
        // SAFETY: both members of `ex` are 32-bit integers.
        unsafe { *self.raw.ex.invalidate_rkey.as_ref() }
    }

    /// The scatter list; EINVAL if its count is negative or it is missing.
    pub fn sges(&self) -> Result<SgList<'a>> {
        // SAFETY: a consumer's request points to `num_sge` entries.
        unsafe { sge_list(self.raw.sg_list, self.raw.num_sge) }.map(SgList)
    }

    /// The remote address and key of an RDMA WRITE or READ (`struct
    /// ib_rdma_wr`); `None` for other opcodes.
    pub fn rdma(&self) -> Option<(u64, u32)> {
        match self.raw.opcode {
            sys::ib_wr_opcode_IB_WR_RDMA_WRITE
            | sys::ib_wr_opcode_IB_WR_RDMA_WRITE_WITH_IMM
            | sys::ib_wr_opcode_IB_WR_RDMA_READ
                if self.ud.is_none() =>
            {
                // SAFETY: a consumer posts an RDMA opcode to a connected
                // QP in a `struct ib_rdma_wr`, whose first member is the
                // request.
                let r = unsafe { &*(self.raw as *const sys::ib_send_wr).cast::<sys::ib_rdma_wr>() };
                Some((r.remote_addr, r.rkey))
            }
            _ => None,
        }
    }

    /// A REG_MR request; `None` for other opcodes.
    pub fn reg(&self) -> Option<RegWr> {
        if self.raw.opcode != sys::ib_wr_opcode_IB_WR_REG_MR || self.ud.is_some() {
            return None;
        }
        // SAFETY: a consumer posts REG_MR in a `struct ib_reg_wr`, whose
        // first member is the request, naming an MR it allocated on the
        // device (`ib_alloc_mr`) and holds until the request completes.
        let (r, mr) = unsafe {
            let r = &*(self.raw as *const sys::ib_send_wr).cast::<sys::ib_reg_wr>();
            (r, r.mr.as_ref()?)
        };
        Some(RegWr {
            mr_key: mr.lkey,
            key: r.key,
            access: r.access as u32,
            iova: mr.iova,
            length: mr.length,
        })
    }

    /// A UD request's destination.
    pub fn ud(&self) -> Option<&UdWr<'a, A>> {
        self.ud.as_ref()
    }

    /// Copies the request's data out of the consumer's memory, for an
    /// inline send (`IB_SEND_INLINE`); `out` is as long as the scatter
    /// list's total.
    pub fn copy_inline(&self, out: &mut [u8]) -> Result {
        let mut at = 0;
        for sge in self.sges()?.iter() {
            let n = sge.length as usize;
            let dst = out.get_mut(at..at + n).ok_or(EINVAL)?;
            // SAFETY: a kernel consumer's inline data is in kernel memory
            // at the addresses it names.
            unsafe { super::kmem::read_request(sge.addr, dst) }?;
            at += n;
        }
        Ok(())
    }
}

/// A kernel consumer's receive work request (`struct ib_recv_wr`).
pub struct RecvWr<'a> {
    raw: &'a sys::ib_recv_wr,
}

impl<'a> RecvWr<'a> {
    /// # Safety
    ///
    /// `raw` must be a kernel consumer's request, valid for `'a`.
    pub(crate) unsafe fn new(raw: &'a sys::ib_recv_wr) -> Self {
        RecvWr { raw }
    }

    pub fn wr_id(&self) -> u64 {
        // SAFETY: as for `SendWr::wr_id`.
        unsafe { *self.raw.__bindgen_anon_1.wr_id.as_ref() }
    }

    /// The scatter list; EINVAL if its count is negative or it is missing.
    pub fn sges(&self) -> Result<SgList<'a>> {
        // SAFETY: a consumer's request points to `num_sge` entries.
        unsafe { sge_list(self.raw.sg_list, self.raw.num_sge) }.map(SgList)
    }
}
