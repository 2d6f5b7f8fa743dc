// SPDX-License-Identifier: GPL-2.0

//! Completion queues: what a driver needs of the core's `ib_cq` once it has
//! made one, namely telling its consumer that completions arrived or that
//! the queue overflowed.

use super::bindings as sys;
use super::qp::CoreQp;
use core::ptr::NonNull;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLockIrq};

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

/// The address of a live `ib_cq`.
struct CqPtr(NonNull<sys::ib_cq>);
// SAFETY: an address; it is only followed under the lock of `CqEvents`,
// while the CQ is known to be alive.
unsafe impl Send for CqPtr {}

/// The way back from a driver's CQ to the core's, for events. It is cut
/// when the CQ is destroyed, so a driver may keep it (and signal through it)
/// for as long as it likes: late signals are dropped.
#[pin_data]
pub struct CqEvents {
    #[pin]
    cq: SpinLockIrq<Option<CqPtr>>,
}

impl CqEvents {
    /// # Safety
    ///
    /// `cq` must be a CQ being created, and [`CqEvents::revoke`] must be
    /// called before it is freed.
    pub(crate) unsafe fn new(cq: *mut sys::ib_cq) -> Result<Arc<Self>> {
        let cq = NonNull::new(cq).map(CqPtr);
        Arc::pin_init(
            pin_init!(CqEvents { cq <- new_spinlock_irq!(cq) }),
            GFP_KERNEL,
        )
    }

    /// The CQ is going: no more events reach it.
    pub(crate) fn revoke(&self) {
        *self.cq.lock() = None;
    }

    /// Runs `f` on the CQ if it is still linked, under the lock that
    /// keeps it so: it is unlinked before it is freed.
    fn with_cq(&self, f: impl FnOnce(*mut sys::ib_cq)) {
        if let Some(p) = self.cq.lock().as_ref() {
            f(p.0.as_ptr());
        }
    }

    /// Tells the consumer that a completion it asked to hear about arrived.
    pub fn completion(&self) {
        self.with_cq(|p| {
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
        self.with_cq(|p| {
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
        self.with_cq(|p| {
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

/// A work completion, as a driver produces it. It becomes an `ib_wc` for a
/// kernel consumer or an `ib_uverbs_wc` in a user CQ's ring.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkCompletion {
    pub wr_id: u64,
    /// `enum ib_wc_status`.
    pub status: u32,
    /// `enum ib_wc_opcode`.
    pub opcode: u32,
    pub byte_len: u32,
    /// Immediate data as it came off the wire (big-endian bytes, read in
    /// memory order), or the invalidated rkey.
    pub ex: u32,
    pub qp_num: u32,
    pub src_qp: u32,
    /// `enum ib_wc_flags`.
    pub wc_flags: u32,
    pub pkey_index: u16,
    pub port_num: u8,
    /// Source MAC and network header type (`enum rdma_network_type`, 0
    /// for none) of a UD receive.
    pub smac: [u8; 6],
    pub network_hdr_type: u8,
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
        b[8..12].copy_from_slice(&self.status.to_ne_bytes());
        b[12..16].copy_from_slice(&self.opcode.to_ne_bytes());
        // 16..20: vendor_err, always 0.
        b[20..24].copy_from_slice(&self.byte_len.to_ne_bytes());
        b[24..28].copy_from_slice(&self.ex.to_ne_bytes());
        b[28..32].copy_from_slice(&self.qp_num.to_ne_bytes());
        b[32..36].copy_from_slice(&self.src_qp.to_ne_bytes());
        b[36..40].copy_from_slice(&self.wc_flags.to_ne_bytes());
        b[40..42].copy_from_slice(&self.pkey_index.to_ne_bytes());
        // 42..44: slid, 44: sl, 45: dlid_path_bits, all 0 on RoCE.
        b[46] = self.port_num;
        b
    }

    /// Fills the `ib_wc` of a kernel consumer.
    pub fn to_ib_wc(&self, out: &mut sys::ib_wc) {
        // SAFETY: `wr_id` and `wr_cqe` share the union; we set the former.
        unsafe { *out.__bindgen_anon_1.wr_id.as_mut() = self.wr_id };
        out.status = self.status;
        out.opcode = self.opcode;
        out.vendor_err = 0;
        out.byte_len = self.byte_len;
        out.qp = self.qp.as_ptr();
        // SAFETY: both members of `ex` are 32-bit integers.
        unsafe { *out.ex.invalidate_rkey.as_mut() = self.ex };
        out.src_qp = self.src_qp;
        out.slid = 0;
        let mut flags = self.wc_flags;
        if self.network_hdr_type != 0 {
            flags |= sys::ib_wc_flags_IB_WC_WITH_NETWORK_HDR_TYPE;
        }
        out.wc_flags = flags as i32;
        out.pkey_index = self.pkey_index;
        out.sl = 0;
        out.dlid_path_bits = 0;
        out.port_num = self.port_num as u32;
        out.smac = self.smac;
        out.vlan_id = 0xffff;
        out.network_hdr_type = self.network_hdr_type;
    }
}
