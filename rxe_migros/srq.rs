// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues (the C rxe's rxe_srq.c): one ring of receive
//! work requests that the QPs created on it take from, each a request
//! when a message begins ([`SrqInner::take`], which the QPs' engines call
//! through `Io::take_shared`).
//!
//! A process posts into the ring, mapped, as librxe does; a kernel
//! consumer's `post_srq_recv` writes it under a spinlock. The QPs take
//! under a mutex (their engines run in process context), which also
//! guards the limit: when a take leaves fewer requests than the limit,
//! the SRQ's owner hears SRQ_LIMIT_REACHED once, and the limit is
//! disarmed until it is set again.
//!
//! An SRQ is not yet carried by a checkpoint: DUMP refuses a context that
//! has one (`checkpoint.rs`).

use crate::context::{self, Listing, Object};
use crate::param::{MAX_SRQ_SGE, MAX_SRQ_WR, MIN_SRQ_INDEX};
use crate::proto::wqe;
use crate::qp::{sges, WorkQueue};
use crate::rdma::qp::{PdId, RecvWr};
use crate::rdma::srq::{SrqAttr, SrqChange, SrqEvents, SrqInit};
use crate::rdma::udata::UData;
use crate::rdma::uobject::Owner;
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex, SpinLockIrq};
use kernel::{new_mutex, new_spinlock_irq};

/// SRQ numbers (`srq_num`, which XRC would name): the C rxe's range.
pub(crate) const NUMBERS: (u32, u32) = (MIN_SRQ_INDEX, crate::param::DEFAULT_MAX_VALUE);

/// A shared receive queue.
pub(crate) struct Srq {
    pub(crate) inner: Arc<SrqInner>,
    /// Its place in the user context it was created in.
    _listing: Option<Listing>,
}

/// What the SRQ's QPs hold.
#[pin_data]
pub(crate) struct SrqInner {
    pub(crate) num: u32,
    pub(crate) pd: PdId,
    pub(crate) max_sge: u32,
    pub(crate) queue: WorkQueue,
    events: Arc<SrqEvents>,
    /// A kernel consumer's SRQ (posts come through `post_srq_recv`).
    kernel: bool,
    #[pin]
    taking: Mutex<Taking>,
    /// Room for one slot, for a kernel consumer's posts, which may come
    /// with interrupts off.
    #[pin]
    posts: SpinLockIrq<KVec<u8>>,
}

/// The consumer's side, under the mutex the QPs take through.
struct Taking {
    /// The next slot to take: ours, never read back from the ring the
    /// process can write.
    next: u32,
    /// The limit event's threshold; 0 when disarmed.
    limit: u32,
}

impl SrqInner {
    /// Copies the request at the head into `out` (at most one slot) and
    /// gives its slot back to the producer; false when none waits. Raises
    /// the limit event when this take leaves fewer than the limit.
    pub(crate) fn take(&self, out: &mut [u8]) -> bool {
        let ring = self.queue.ring;
        let mut t = self.taking.lock();
        let producer = self.queue.producer();
        if ring.is_empty(producer, t.next) || self.queue.read_slot(t.next, out).is_err() {
            return false;
        }
        t.next = ring.next(t.next);
        self.queue.set_consumer(t.next);
        let fire = t.limit != 0 && ring.count(producer, t.next) < t.limit;
        if fire {
            t.limit = 0;
        }
        drop(t);
        if fire {
            self.events.limit_reached();
        }
        true
    }
}

impl Srq {
    pub(crate) fn new(
        dev: &crate::rdma::device::Device<Rxe>,
        init: &SrqInit,
        udata: Option<&UData<'_>>,
        owner: &Owner<'_, Rxe>,
    ) -> Result<(Srq, SrqAttr)> {
        let kernel = owner.uctx.is_none();
        if kernel != udata.is_none() {
            return Err(EINVAL);
        }
        let a = &init.attr;
        if a.max_wr == 0 || a.max_wr > MAX_SRQ_WR || a.max_sge > MAX_SRQ_SGE {
            return Err(EINVAL);
        }
        let max_sge = a.max_sge.max(1);
        let elem = wqe::RECV_WQE_BYTES + (max_sge as usize) * wqe::SGE_BYTES;
        let (queue, mi) = WorkQueue::new(a.max_wr, elem, udata)?;
        let capacity = queue.ring.capacity();
        if a.limit > capacity {
            return Err(EINVAL);
        }
        let room = if kernel { queue.ring.slot_bytes() } else { 0 };
        let scratch = KVec::from_elem(0u8, room, GFP_KERNEL)?;
        let make = |num| {
            Arc::pin_init(
                pin_init!(SrqInner {
                    num,
                    pd: init.pd,
                    max_sge,
                    queue,
                    events: init.events.clone(),
                    kernel,
                    taking <- new_mutex!(Taking {
                        next: 0,
                        limit: a.limit,
                    }),
                    posts <- new_spinlock_irq!(scratch),
                }),
                GFP_KERNEL,
            )
        };
        let inner = dev.srqs.add(make)?;
        if let Some(udata) = udata {
            // struct rxe_create_srq_resp { struct mminfo mi; __u32 srq_num;
            // __u32 reserved; }
            let mut resp = [0u8; 24];
            resp[..16].copy_from_slice(&mi);
            resp[16..20].copy_from_slice(&inner.num.to_ne_bytes());
            if let Err(e) = udata.write_bytes(&resp) {
                dev.srqs.remove(inner.num);
                return Err(e);
            }
        }
        let listing = context::list(owner, Object::Srq(inner.clone())).inspect_err(|_| {
            dev.srqs.remove(inner.num);
        })?;
        let granted = SrqAttr {
            max_wr: capacity,
            max_sge,
            limit: a.limit,
        };
        Ok((
            Srq {
                inner,
                _listing: listing,
            },
            granted,
        ))
    }

    /// Arms (or disarms) the limit event. Resizing is not offered: the
    /// device does not advertise `IB_DEVICE_SRQ_RESIZE`.
    pub(crate) fn modify(&self, attr: &SrqAttr, change: SrqChange) -> Result {
        if change.max_wr {
            return Err(EOPNOTSUPP);
        }
        if change.limit {
            if attr.limit > self.inner.queue.ring.capacity() {
                return Err(EINVAL);
            }
            self.inner.taking.lock().limit = attr.limit;
        }
        Ok(())
    }

    pub(crate) fn query(&self) -> SrqAttr {
        SrqAttr {
            max_wr: self.inner.queue.ring.capacity(),
            max_sge: self.inner.max_sge,
            limit: self.inner.taking.lock().limit,
        }
    }

    /// Queues a kernel consumer's receive request.
    pub(crate) fn post_kernel_recv(&self, wr: &RecvWr<'_>) -> Result {
        let srq = &*self.inner;
        if !srq.kernel {
            return Err(EOPNOTSUPP);
        }
        let list = wr.sges()?;
        if list.count() > srq.max_sge as usize {
            return Err(EINVAL);
        }
        let mut scratch = srq.posts.lock();
        srq.queue.produce(&mut scratch, |slot| {
            wqe::write_recv(slot, wr.wr_id(), sges(&list)).map_err(|_| EINVAL)
        })?;
        Ok(())
    }

    pub(crate) fn destroy(&self, dev: &crate::rdma::device::Device<Rxe>) {
        dev.srqs.remove(self.inner.num);
    }
}
