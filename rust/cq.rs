// SPDX-License-Identifier: GPL-2.0

//! Completion queues: what a driver needs of the core's `ib_cq` once it has
//! made one, namely telling its consumer that completions arrived or that
//! the queue overflowed.

use super::backlink::Backlink;
use super::bindings as sys;
use super::qp::CoreQp;

/// What `ibv_create_cq` asked for.
pub struct CqInit {
    /// At least this many entries.
    pub entries: u32,
    /// The completion vector (checked by the core; a software device has
    /// no use for it, but a checkpoint keeps it).
    pub comp_vector: u32,
    /// The completion channel a process's CQ reports to, as an identity
    /// to compare with [`EventFile::queue`](super::device::EventFile);
    /// none for kernel CQs and CQs without a channel.
    pub channel: Option<usize>,
}

/// The way back from a driver's CQ to the core's, for completion and
/// overflow events ([`Backlink`]).
pub type CqEvents = Backlink<sys::ib_cq>;

impl CqEvents {
    /// Tells the consumer that a completion it asked to hear about arrived.
    pub fn completion(&self) {
        self.with(|p| {
            // SAFETY: linked, so alive; the handler is the consumer's.
            unsafe {
                if let Some(handler) = (*p).comp_handler {
                    handler(p, (*p).cq_context);
                }
            }
        })
    }

    /// Whether a completion event for a process's CQ waits, unread, in its
    /// completion channel (false for kernel CQs and CQs without one).
    pub fn comp_event_waiting(&self) -> bool {
        let mut waiting = false;
        self.with(|p| {
            // SAFETY: linked, so alive. A CQ with a uverbs object is a
            // process's, and its context is then its channel's event queue
            // (or null): the core sets both before creating it. The queue
            // lock guards the CQ's list of queued events, as in the core;
            // interrupts are off under our own lock already.
            unsafe {
                let ucq = (*p).uobject;
                let queue = (*p).cq_context.cast::<sys::ib_uverbs_event_queue>();
                if ucq.is_null() || queue.is_null() {
                    return;
                }
                let lock = &raw mut (*queue).lock;
                sys::spin_lock(lock);
                let list = &raw mut (*ucq).comp_list;
                waiting = (*list).next != list;
                sys::spin_unlock(lock);
            }
        });
        waiting
    }

    /// Tells the consumer that the queue overflowed (`IB_EVENT_CQ_ERR`).
    pub fn overflow(&self) {
        self.with(|p| {
            // SAFETY: as in `completion`; the event lives for the call.
            unsafe {
                if let Some(handler) = (*p).event_handler {
                    let mut ev: sys::ib_event = core::mem::zeroed();
                    ev.device = (*p).device;
                    *ev.element.cq.as_mut() = p;
                    ev.event = sys::ib_event_type_IB_EVENT_CQ_ERR;
                    handler(&mut ev, (*p).cq_context);
                }
            }
        })
    }
}

/// What a consumer armed a CQ for (`enum ib_cq_notify_flags`): an event
/// for the next completion, or only for a solicited one. The next
/// completion covers the solicited, so it orders above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arm {
    Solicited,
    NextCompletion,
}

impl Arm {
    /// The arm of the ABI's bits (`IB_CQ_SOLICITED_MASK` of them); none
    /// for neither.
    pub fn from_abi(bits: u32) -> Option<Arm> {
        if bits & sys::ib_cq_notify_flags_IB_CQ_NEXT_COMP != 0 {
            Some(Arm::NextCompletion)
        } else if bits & sys::ib_cq_notify_flags_IB_CQ_SOLICITED != 0 {
            Some(Arm::Solicited)
        } else {
            None
        }
    }

    /// Its bit in the ABI.
    pub fn abi(self) -> u32 {
        match self {
            Arm::Solicited => sys::ib_cq_notify_flags_IB_CQ_SOLICITED,
            Arm::NextCompletion => sys::ib_cq_notify_flags_IB_CQ_NEXT_COMP,
        }
    }

    /// Whether a completion (`solicited` or not) fires an event.
    pub fn fires(self, solicited: bool) -> bool {
        self == Arm::NextCompletion || solicited
    }
}

/// A kernel consumer's array of `ib_wc` that `poll_cq` fills.
pub struct WcOut<'a>(&'a mut [sys::ib_wc]);

impl<'a> WcOut<'a> {
    pub(crate) fn new(wc: &'a mut [sys::ib_wc]) -> Self {
        WcOut(wc)
    }

    /// Room for this many completions.
    pub fn room(&self) -> usize {
        self.0.len()
    }

    /// Fills entry `i` (ignored past the end).
    pub fn set(&mut self, i: usize, wc: &WorkCompletion) {
        if let Some(out) = self.0.get_mut(i) {
            wc.to_ib_wc(out);
        }
    }
}

/// How a work request ended (`enum ib_wc_status`, which the uverbs ABI
/// numbers the same): the statuses a software RoCE device reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum WcStatus {
    #[default]
    Success = sys::ib_wc_status_IB_WC_SUCCESS,
    /// A message longer than the receive buffer, or than the port allows.
    LocLenErr = sys::ib_wc_status_IB_WC_LOC_LEN_ERR,
    /// A request the QP can not carry out (a bad opcode, no path).
    LocQpOpErr = sys::ib_wc_status_IB_WC_LOC_QP_OP_ERR,
    /// A local buffer not covered by an MR with the access needed.
    LocProtErr = sys::ib_wc_status_IB_WC_LOC_PROT_ERR,
    /// Flushed by the QP's error state.
    WrFlushErr = sys::ib_wc_status_IB_WC_WR_FLUSH_ERR,
    BadRespErr = sys::ib_wc_status_IB_WC_BAD_RESP_ERR,
    RemInvReqErr = sys::ib_wc_status_IB_WC_REM_INV_REQ_ERR,
    RemAccessErr = sys::ib_wc_status_IB_WC_REM_ACCESS_ERR,
    RemOpErr = sys::ib_wc_status_IB_WC_REM_OP_ERR,
    RetryExcErr = sys::ib_wc_status_IB_WC_RETRY_EXC_ERR,
    RnrRetryExcErr = sys::ib_wc_status_IB_WC_RNR_RETRY_EXC_ERR,
    /// A memory window bind the window or its MR refused.
    MwBindErr = sys::ib_wc_status_IB_WC_MW_BIND_ERR,
}

/// What a completed work request was (`enum ib_wc_opcode`, numbered as
/// the uverbs ABI's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum WcOpcode {
    #[default]
    Send = sys::ib_wc_opcode_IB_WC_SEND,
    RdmaWrite = sys::ib_wc_opcode_IB_WC_RDMA_WRITE,
    RdmaRead = sys::ib_wc_opcode_IB_WC_RDMA_READ,
    CompSwap = sys::ib_wc_opcode_IB_WC_COMP_SWAP,
    FetchAdd = sys::ib_wc_opcode_IB_WC_FETCH_ADD,
    Flush = sys::ib_wc_opcode_IB_WC_FLUSH,
    AtomicWrite = sys::ib_wc_opcode_IB_WC_ATOMIC_WRITE,
    LocalInv = sys::ib_wc_opcode_IB_WC_LOCAL_INV,
    BindMw = sys::ib_wc_opcode_IB_WC_BIND_MW,
    RegMr = sys::ib_wc_opcode_IB_WC_REG_MR,
    Recv = sys::ib_wc_opcode_IB_WC_RECV,
    RecvRdmaWithImm = sys::ib_wc_opcode_IB_WC_RECV_RDMA_WITH_IMM,
}

/// A completion's flags (`enum ib_wc_flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WcFlags(u32);

impl WcFlags {
    pub const NONE: WcFlags = WcFlags(0);
    /// A UD receive's buffer begins with the GRH (or its IPv4 stand-in).
    pub const GRH: WcFlags = WcFlags(sys::ib_wc_flags_IB_WC_GRH);
    /// The completion carries immediate data.
    pub const WITH_IMM: WcFlags = WcFlags(sys::ib_wc_flags_IB_WC_WITH_IMM);
    /// The message invalidated an rkey here; `ex` holds it.
    pub const WITH_INVALIDATE: WcFlags = WcFlags(sys::ib_wc_flags_IB_WC_WITH_INVALIDATE);

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// As libibverbs reads them from a user CQ's ring (`enum
    /// ibv_wc_flags`, which librxe passes on as they are): the same bits,
    /// but for an invalidation, which is its bit 3 (`IBV_WC_WITH_INV`)
    /// there and bit 2 in the kernel's enum. The C rxe writes bit 2,
    /// which a process reads as `IBV_WC_IP_CSUM_OK`.
    pub const fn user_bits(self) -> u32 {
        const IBV_WC_WITH_INV: u32 = 1 << 3;
        let inv = Self::WITH_INVALIDATE.0;
        let mut bits = self.0 & !inv;
        if self.0 & inv != 0 {
            bits |= IBV_WC_WITH_INV;
        }
        bits
    }
}

impl core::ops::BitOr for WcFlags {
    type Output = WcFlags;
    fn bitor(self, rhs: WcFlags) -> WcFlags {
        WcFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for WcFlags {
    fn bitor_assign(&mut self, rhs: WcFlags) {
        self.0 |= rhs.0;
    }
}

/// The network header of a UD receive (`enum rdma_network_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetworkType {
    /// Not a UD receive: no header reported.
    #[default]
    None,
    Ipv4,
    Ipv6,
}

impl NetworkType {
    /// `network_hdr_type`'s value, 0 for none.
    fn raw(self) -> u8 {
        match self {
            NetworkType::None => 0,
            NetworkType::Ipv4 => sys::rdma_network_type_RDMA_NETWORK_IPV4 as u8,
            NetworkType::Ipv6 => sys::rdma_network_type_RDMA_NETWORK_IPV6 as u8,
        }
    }
}

/// A work completion, as a driver produces it. It becomes an `ib_wc` for a
/// kernel consumer or an `ib_uverbs_wc` in a user CQ's ring.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkCompletion {
    pub wr_id: u64,
    pub status: WcStatus,
    pub opcode: WcOpcode,
    pub byte_len: u32,
    /// Immediate data as it came off the wire (big-endian bytes, read in
    /// memory order), or the invalidated rkey.
    pub ex: u32,
    pub qp_num: u32,
    pub src_qp: u32,
    pub wc_flags: WcFlags,
    pub pkey_index: u16,
    pub port_num: u8,
    /// Source MAC and network header type of a UD receive.
    pub smac: [u8; 6],
    pub network_hdr_type: NetworkType,
    /// The QP, for a kernel consumer.
    pub qp: CoreQp,
}

impl WorkCompletion {
    /// Size of an `ib_uverbs_wc`.
    pub const UVERBS_BYTES: usize = 48;

    /// The `ib_uverbs_wc` a user CQ's ring holds.
    pub fn to_uverbs(&self) -> [u8; Self::UVERBS_BYTES] {
        let mut b = [0u8; Self::UVERBS_BYTES];
        b[0..8].copy_from_slice(&self.wr_id.to_ne_bytes());
        b[8..12].copy_from_slice(&(self.status as u32).to_ne_bytes());
        b[12..16].copy_from_slice(&(self.opcode as u32).to_ne_bytes());
        // 16..20: vendor_err, always 0.
        b[20..24].copy_from_slice(&self.byte_len.to_ne_bytes());
        b[24..28].copy_from_slice(&self.ex.to_ne_bytes());
        b[28..32].copy_from_slice(&self.qp_num.to_ne_bytes());
        b[32..36].copy_from_slice(&self.src_qp.to_ne_bytes());
        b[36..40].copy_from_slice(&self.wc_flags.user_bits().to_ne_bytes());
        b[40..42].copy_from_slice(&self.pkey_index.to_ne_bytes());
        // 42..44: slid, 44: sl, 45: dlid_path_bits, all 0 on RoCE.
        b[46] = self.port_num;
        b
    }

    /// Fills the `ib_wc` of a kernel consumer.
    pub fn to_ib_wc(&self, out: &mut sys::ib_wc) {
        // SAFETY: `wr_id` and `wr_cqe` share the union; we set the former.
        unsafe { *out.__bindgen_anon_1.wr_id.as_mut() = self.wr_id };
        out.status = self.status as u32;
        out.opcode = self.opcode as u32;
        out.vendor_err = 0;
        out.byte_len = self.byte_len;
        out.qp = self.qp.as_ptr();
        // SAFETY: both members of `ex` are 32-bit integers.
        unsafe { *out.ex.invalidate_rkey.as_mut() = self.ex };
        out.src_qp = self.src_qp;
        out.slid = 0;
        let mut flags = self.wc_flags.bits();
        if self.network_hdr_type != NetworkType::None {
            flags |= sys::ib_wc_flags_IB_WC_WITH_NETWORK_HDR_TYPE;
        }
        out.wc_flags = flags as i32;
        out.pkey_index = self.pkey_index;
        out.sl = 0;
        out.dlid_path_bits = 0;
        out.port_num = self.port_num as u32;
        out.smac = self.smac;
        out.vlan_id = 0xffff;
        out.network_hdr_type = self.network_hdr_type.raw();
    }
}
