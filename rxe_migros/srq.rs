// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues (the C rxe's rxe_srq.c): one ring of receive
//! work requests that the QPs created on it take from, each a request
//! when a message begins ([`SrqInner::take`], which the QPs' engines call
//! through `Io::take_shared`).
//!
//! A process posts into the ring, mapped, as librxe does; a kernel
//! consumer's `post_srq_recv` writes it. One spinlock (kernel posts may
//! come with interrupts off) guards the ring, our consumer index and the
//! limit: the QPs take under it, a kernel consumer posts under it, and a
//! resize moves what waits into the new ring under it, as the C rxe's
//! rxe_queue_resize does. When a take leaves fewer requests than the
//! limit, the SRQ's owner hears SRQ_LIMIT_REACHED once, and the limit is
//! disarmed until it is set again.
//!
//! A checkpoint carries an SRQ whole ([`SrqInner::image`]): its ring, our
//! consumer index, the limit, and its number, which a restore keeps. A
//! request a QP had taken from it goes with the QP.

use crate::context::{self, Listing, Object};
use crate::param::{MAX_SRQ_SGE, MAX_SRQ_WR, MIN_SRQ_INDEX};
use crate::proto::image;
use crate::proto::queue::{Ring, PRODUCER_OFFSET};
use crate::proto::wqe;
use crate::qp::{sges, WorkQueue};
use crate::rdma::qp::{PdId, RecvWr};
use crate::rdma::srq::{SrqAttr, SrqChange, SrqEvents, SrqInit};
use crate::rdma::udata::UData;
use crate::rdma::uobject::{EventCounts, Owner};
use crate::Rxe;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLockIrq};

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
    /// The bytes of one request, which a resize keeps.
    elem: usize,
    events: Arc<SrqEvents>,
    /// A kernel consumer's SRQ (posts come through `post_srq_recv`).
    kernel: bool,
    #[pin]
    ring: SpinLockIrq<SrqRing>,
}

/// The ring and the consumer's side, under the SRQ's spinlock.
struct SrqRing {
    queue: WorkQueue,
    /// The next slot to take: ours, never read back from the ring the
    /// process can write.
    next: u32,
    /// The limit event's threshold; 0 when disarmed.
    limit: u32,
    /// Room for one slot, for a kernel consumer's posts and for a resize.
    scratch: KVec<u8>,
}

impl SrqInner {
    /// Copies the request at the head into `out` (at most one slot) and
    /// gives its slot back to the producer; false when none waits. Raises
    /// the limit event when this take leaves fewer than the limit.
    pub(crate) fn take(&self, out: &mut [u8]) -> bool {
        let mut r = self.ring.lock();
        let ring = r.queue.ring;
        let producer = r.queue.producer();
        if ring.is_empty(producer, r.next) || r.queue.read_slot(r.next, out).is_err() {
            return false;
        }
        r.next = ring.next(r.next);
        r.queue.set_consumer(r.next);
        let fire = r.limit != 0 && ring.count(producer, r.next) < r.limit;
        if fire {
            r.limit = 0;
        }
        drop(r);
        if fire {
            self.events.limit_reached();
        }
        true
    }

    /// The shape of its requests' slots, which a resize keeps (only the
    /// capacity changes): what the QPs on it take into.
    pub(crate) fn slot_shape(&self) -> Ring {
        self.ring.lock().queue.ring
    }

    /// What a checkpoint keeps of it: its capacity, consumer index,
    /// limit, ring offer, and a copy of its ring (header and slots). The
    /// copy is made under the SRQ's lock, into room allocated before it
    /// (a resize in between makes it try again).
    pub(crate) fn image(&self) -> Result<SrqImage> {
        loop {
            let len = self.ring.lock().queue.user.buf.len();
            let mut bytes = KVVec::from_elem(0u8, len, GFP_KERNEL)?;
            let r = self.ring.lock();
            if r.queue.user.buf.len() != len {
                continue;
            }
            r.queue.user.buf.read(0, &mut bytes)?;
            return Ok(SrqImage {
                max_wr: r.queue.ring.capacity(),
                next: r.next,
                limit: r.limit,
                mmap_offset: r.queue.user.mmap_offset(),
                bytes,
            });
        }
    }
}

/// An SRQ's state, as a checkpoint takes it ([`SrqInner::image`]).
pub(crate) struct SrqImage {
    pub(crate) max_wr: u32,
    pub(crate) next: u32,
    pub(crate) limit: u32,
    pub(crate) mmap_offset: u64,
    pub(crate) bytes: KVVec<u8>,
}

impl Srq {
    pub(crate) fn new(
        dev: &crate::rdma::device::Device<Rxe>,
        init: &SrqInit,
        udata: Option<&UData<'_>>,
        owner: &Owner<'_, Rxe>,
        image: Option<&image::Srq<'_>>,
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
        let scratch = KVec::from_elem(0u8, queue.ring.slot_bytes(), GFP_KERNEL)?;
        let (mut next, mut limit) = (0, a.limit);
        if let Some(img) = image {
            // The restorer asks for the SRQ the image holds: the same
            // capacity and scatter entries, so the same ring shape.
            if img.max_wr != capacity || img.max_sge != max_sge {
                pr_info!(
                    "restore: SRQ {:#x} created with another shape than its image\n",
                    img.num
                );
                return Err(EINVAL);
            }
            crate::restore::fill_ring(&queue, &img.ring)?;
            if img.next > queue.ring.capacity() || img.limit > capacity {
                return Err(EINVAL);
            }
            (next, limit) = (img.next, img.limit);
            let events = EventCounts {
                completion: 0,
                asynchronous: img.async_events,
            };
            // SAFETY: the SRQ is being created.
            unsafe { owner.handle.set_events(events) }?;
        }
        let make = |num| {
            Arc::pin_init(
                pin_init!(SrqInner {
                    num,
                    pd: init.pd,
                    max_sge,
                    elem,
                    events: init.events.clone(),
                    kernel,
                    ring <- new_spinlock_irq!(SrqRing {
                        queue,
                        next,
                        limit,
                        scratch,
                    }),
                }),
                GFP_KERNEL,
            )
        };
        let inner = match image {
            // A restored SRQ keeps its number (the restore's plan found it
            // free).
            Some(img) => dev.srqs.add_at(img.num, make).inspect_err(|_| {
                pr_info!("restore: SRQ {:#x} is taken here\n", img.num);
            })?,
            None => dev.srqs.add(make)?,
        };
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
            limit,
        };
        Ok((
            Srq {
                inner,
                _listing: listing,
            },
            granted,
        ))
    }

    /// Resizes the ring (`change.max_wr`) and arms or disarms the limit
    /// event (`change.limit`): all of it or, with an error, none.
    pub(crate) fn modify(
        &self,
        attr: &SrqAttr,
        change: SrqChange,
        udata: Option<&UData<'_>>,
    ) -> Result {
        if change.limit && attr.limit > self.query().max_wr {
            return Err(EINVAL);
        }
        if change.max_wr {
            let limit = change.limit.then_some(attr.limit);
            self.resize(attr.max_wr, limit, udata)?;
        }
        if change.limit {
            self.inner.ring.lock().limit = attr.limit;
        }
        Ok(())
    }

    /// Moves what waits into a new ring for `max_wr` requests, offered to
    /// the caller of `udata` (librxe names in its command where the offer's
    /// `struct mminfo` goes, and maps the new ring). EINVAL if what waits,
    /// or the limit (`limit`, else the armed one), does not fit.
    fn resize(&self, max_wr: u32, limit: Option<u32>, udata: Option<&UData<'_>>) -> Result {
        if max_wr == 0 || max_wr > MAX_SRQ_WR {
            return Err(EINVAL);
        }
        let srq = &*self.inner;
        // struct rxe_modify_srq_cmd { __aligned_u64 mmap_info_addr; }
        let mi_at = match udata {
            Some(u) => {
                let mut cmd = [0u8; 8];
                u.read_input(&mut cmd)?;
                Some((u, u64::from_ne_bytes(cmd)))
            }
            None => None,
        };
        // Allocating, offering and answering may sleep: before the lock.
        let (new, mi) = WorkQueue::new(max_wr, srq.elem, udata)?;
        if let Some((u, at)) = mi_at {
            u.write_at(at, &mi)?;
        }
        let old = {
            let mut guard = srq.ring.lock();
            let r = &mut *guard;
            let (ring, to) = (r.queue.ring, new.ring);
            let count = ring.count(r.queue.producer(), r.next);
            let limit = limit.unwrap_or(r.limit);
            if count > to.capacity() || limit > to.capacity() {
                return Err(EINVAL);
            }
            let mut i = r.next;
            for j in 0..count {
                // Offsets of the rings' own arithmetic are in bounds.
                let _ = r.queue.read_slot(i, &mut r.scratch);
                let _ = new.user.buf.write(to.offset(j), &r.scratch);
                i = ring.next(i);
            }
            let _ = new.user.buf.store_release(PRODUCER_OFFSET, count);
            new.set_consumer(0);
            r.next = 0;
            core::mem::replace(&mut r.queue, new)
        };
        // Withdrawing the old ring's offer may sleep: after the lock.
        drop(old);
        Ok(())
    }

    pub(crate) fn query(&self) -> SrqAttr {
        let r = self.inner.ring.lock();
        SrqAttr {
            max_wr: r.queue.ring.capacity(),
            max_sge: self.inner.max_sge,
            limit: r.limit,
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
        let mut guard = srq.ring.lock();
        let r = &mut *guard;
        r.queue.produce(&mut r.scratch, |slot| {
            wqe::write_recv(slot, wr.wr_id(), sges(&list)).map_err(|_| EINVAL)
        })?;
        Ok(())
    }

    pub(crate) fn destroy(&self, dev: &crate::rdma::device::Device<Rxe>) {
        dev.srqs.remove(self.inner.num);
    }
}
