// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues: what the core asks of a driver's SRQ (its sizes
//! and limit) in safe form, and the way to its consumer's events.

use super::backlink::Backlink;
use super::bindings as sys;
use super::qp::PdId;
use kernel::sync::Arc;

/// The sizes and limit of an SRQ (`struct ib_srq_attr`): asked for at
/// creation and granted back, changed by Modify SRQ, reported by Query
/// SRQ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrqAttr {
    pub max_wr: u32,
    pub max_sge: u32,
    /// When fewer requests than this wait, the SRQ_LIMIT_REACHED event
    /// fires, once: the limit is then 0 (disarmed) until set again.
    pub limit: u32,
}

impl SrqAttr {
    pub(crate) fn from_raw(a: &sys::ib_srq_attr) -> Self {
        SrqAttr {
            max_wr: a.max_wr,
            max_sge: a.max_sge,
            limit: a.srq_limit,
        }
    }

    pub(crate) fn write_raw(&self, a: &mut sys::ib_srq_attr) {
        a.max_wr = self.max_wr;
        a.max_sge = self.max_sge;
        a.srq_limit = self.limit;
    }
}

/// Which attributes a Modify SRQ changes (`enum ib_srq_attr_mask`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrqChange {
    /// `IB_SRQ_MAX_WR`: resize the queue.
    pub max_wr: bool,
    /// `IB_SRQ_LIMIT`: arm (or disarm, with 0) the limit event.
    pub limit: bool,
}

impl SrqChange {
    /// From the mask; EINVAL for a bit that names nothing we know.
    pub(crate) fn from_raw(mask: sys::ib_srq_attr_mask) -> Option<Self> {
        let known = sys::ib_srq_attr_mask_IB_SRQ_MAX_WR | sys::ib_srq_attr_mask_IB_SRQ_LIMIT;
        if mask & !known != 0 {
            return None;
        }
        Some(SrqChange {
            max_wr: mask & sys::ib_srq_attr_mask_IB_SRQ_MAX_WR != 0,
            limit: mask & sys::ib_srq_attr_mask_IB_SRQ_LIMIT != 0,
        })
    }
}

/// What `ibv_create_srq` (or a kernel consumer's `ib_create_srq`) asked
/// for.
pub struct SrqInit {
    /// The protection domain.
    pub pd: PdId,
    pub attr: SrqAttr,
    /// The way to its consumer's event handler.
    pub events: Arc<SrqEvents>,
}

/// The link to a core SRQ, for its consumer's events.
pub type SrqEvents = Backlink<sys::ib_srq>;

impl SrqEvents {
    /// `IB_EVENT_SRQ_LIMIT_REACHED`, through the SRQ's event handler (for
    /// a process's SRQ, uverbs', which queues it on the async event file).
    pub fn limit_reached(&self) {
        self.with(|srq| {
            // SAFETY: linked, so alive; the handler is the consumer's, and
            // the event lives for the call, as the handlers expect (they
            // copy what they keep).
            unsafe {
                if let Some(handler) = (*srq).event_handler {
                    let mut ev: sys::ib_event = core::mem::zeroed();
                    ev.device = (*srq).device;
                    *ev.element.srq.as_mut() = srq;
                    ev.event = sys::ib_event_type_IB_EVENT_SRQ_LIMIT_REACHED;
                    handler(&mut ev, (*srq).srq_context);
                }
            }
        })
    }
}
