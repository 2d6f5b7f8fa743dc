// SPDX-License-Identifier: GPL-2.0

//! Completion queues (the C rxe's rxe_cq.c).
//!
//! A process's CQ is a ring of `ib_uverbs_wc` it maps and polls itself
//! (librxe never asks the kernel to poll): we produce, it consumes, and the
//! indices sit in the ring's header. A kernel consumer's CQ is a plain ring
//! of completions it polls through `poll_cq`. Either way the shape of the
//! ring, and so the number of entries the consumer is told it has, is the
//! core's [`Ring`].

use crate::context::{self, Listing, Object};
use crate::param::MAX_LOG_CQE;
use crate::proto::image;
use crate::proto::queue::{Ring, CONSUMER_OFFSET, PRODUCER_OFFSET};
use crate::queue::UserRing;
use crate::rdma::cq::{Arm, CqEvents, CqInit, WcOut, WorkCompletion};
use crate::rdma::mmap::SharedBuf;
use crate::rdma::udata::UData;
use crate::rdma::uobject::{EventCounts, Owner};
use crate::Rxe;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLockIrq};

/// Slots are at least a cache line, as librxe expects of the C rxe.
const MIN_SLOT: usize = 64;

/// The most entries a CQ may have.
pub(crate) const MAX_CQE: u32 = (1 << MAX_LOG_CQE) - 1;

/// Where a CQ's completions are kept.
enum Store {
    /// In a ring the process maps; it owns the consumer index.
    User(UserRing),
    /// In kernel memory, for `poll_cq`.
    Kernel {
        slots: KVVec<WorkCompletion>,
        consumer: u32,
    },
}

impl Store {
    /// A store for `ring`, published to the caller of `udata` if any, who
    /// gets the response librxe expects.
    fn new(ring: &Ring, udata: Option<&UData<'_>>) -> Result<Store> {
        let Some(udata) = udata else {
            let n = ring.capacity() as usize + 1;
            let mut slots = KVVec::with_capacity(n, GFP_KERNEL)?;
            for _ in 0..n {
                slots.push(WorkCompletion::default(), GFP_KERNEL)?;
            }
            return Ok(Store::Kernel { slots, consumer: 0 });
        };
        let (user, mi) = UserRing::new(ring, udata)?;
        // struct rxe_create_cq_resp (and rxe_resize_cq_resp) { mminfo mi; }
        udata.write_bytes(&mi)?;
        Ok(Store::User(user))
    }
}

/// The ring and who consumes it.
struct CqRing {
    ring: Ring,
    /// Our producer index; for user CQs it is also in the header.
    producer: u32,
    /// What the consumer armed, cleared as it fires.
    notify: Option<Arm>,
    store: Store,
    /// A restored CQ's completion event that its checkpoint had waiting
    /// in its channel, to deliver again when it resumes.
    event_owed: bool,
}

impl CqRing {
    /// Takes a checkpointed CQ's ring: the completions its process had
    /// not polled yet, its indices, and what it had armed. The new CQ must
    /// have the same shape, and a channel if the old one had one.
    fn restore(&mut self, image: &image::Cq<'_>, has_channel: bool) -> Result {
        let Store::User(u) = &self.store else {
            return Err(EINVAL);
        };
        let bytes = image.ring.bytes;
        let (log2, mask) = self.ring.header();
        let le = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let fits = image.cqe == self.ring.capacity()
            && bytes.len() == u.buf.len()
            && le(0) == Some(log2)
            && le(4) == Some(mask)
            && (image.channel != 0) == has_channel;
        let producer = le(PRODUCER_OFFSET).filter(|p| fits && *p <= mask);
        let Some(producer) = producer else {
            pr_info!("restore: a CQ of another shape than its image\n");
            return Err(EINVAL);
        };
        u.buf.write(0, bytes)?;
        self.producer = producer;
        self.notify = Arm::from_abi(image.notify);
        self.event_owed = image.comp_event_waiting;
        Ok(())
    }

    fn consumer(&self) -> u32 {
        match &self.store {
            // An index the process may have set to anything: the ring's
            // arithmetic keeps it in range.
            Store::User(u) => u.buf.load_acquire(CONSUMER_OFFSET).unwrap_or(0),
            Store::Kernel { consumer, .. } => *consumer,
        }
    }

    fn count(&self) -> u32 {
        self.ring.count(self.producer, self.consumer())
    }
}

/// A completion queue.
pub(crate) struct Cq {
    inner: Arc<CqInner>,
    _listing: Option<Listing>,
}

/// What a CQ's producers (QPs) hold.
#[pin_data]
pub(crate) struct CqInner {
    #[pin]
    ring: SpinLockIrq<CqRing>,
    events: Arc<CqEvents>,
    /// The completion channel it reports to (an identity), and its
    /// completion vector: kept for checkpoints.
    pub(crate) channel: Option<usize>,
    pub(crate) comp_vector: u32,
}

/// What a checkpoint keeps of a process's CQ, besides its ring's bytes.
pub(crate) struct CqImage {
    pub(crate) cqe: u32,
    pub(crate) notify: u32,
    pub(crate) mmap_offset: u64,
    pub(crate) buf: Arc<SharedBuf>,
    /// Whether a completion event waits in its channel, unread.
    pub(crate) comp_event_waiting: bool,
}

impl CqInner {
    /// The CQ's ring as it is now; `None` for a kernel CQ.
    pub(crate) fn image(&self) -> Option<CqImage> {
        let cq = self.ring.lock();
        let Store::User(u) = &cq.store else {
            return None;
        };
        Some(CqImage {
            cqe: cq.ring.capacity(),
            notify: cq.notify.map_or(0, Arm::abi),
            mmap_offset: u.mmap_offset(),
            buf: u.buf.clone(),
            comp_event_waiting: self.events.comp_event_waiting(),
        })
    }

    /// A restored CQ whose checkpoint had a completion event waiting in
    /// its channel, unread, tells its consumer again (once): the event
    /// files are new, and the process may be waiting for that event.
    pub(crate) fn redeliver_event(&self) {
        let owed = core::mem::take(&mut self.ring.lock().event_owed);
        if owed {
            self.events.completion();
        }
    }

    /// Adds a completion, and tells the consumer if it armed the CQ for
    /// it. A full CQ loses the completion and reports the overflow
    /// (`IB_EVENT_CQ_ERR`), as hardware does; the error is for the QP.
    pub(crate) fn post(&self, wc: &WorkCompletion, solicited: bool) -> Result {
        let fire = {
            let mut guard = self.ring.lock();
            let cq = &mut *guard;
            let consumer = cq.consumer();
            if cq.ring.is_full(cq.producer, consumer) {
                drop(guard);
                self.events.overflow();
                return Err(ENOSPC);
            }
            let at = cq.producer;
            let next = cq.ring.next(at);
            match &mut cq.store {
                Store::User(u) => {
                    // Offsets from the ring's own arithmetic are in bounds.
                    u.buf.write(cq.ring.offset(at), &wc.to_uverbs())?;
                    u.buf.store_release(PRODUCER_OFFSET, next)?;
                }
                Store::Kernel { slots, .. } => {
                    slots[(at & cq.ring.capacity()) as usize] = *wc;
                }
            }
            cq.producer = next;
            let fire = cq.notify.is_some_and(|arm| arm.fires(solicited));
            if fire {
                cq.notify = None;
            }
            fire
        };
        if fire {
            self.events.completion();
        }
        Ok(())
    }
}

impl Cq {
    pub(crate) fn new(
        init: &CqInit,
        udata: Option<&UData<'_>>,
        events: Arc<CqEvents>,
        owner: &Owner<'_, Rxe>,
        image: Option<&image::Cq<'_>>,
    ) -> Result<(Cq, u32)> {
        if init.entries > MAX_CQE {
            return Err(EINVAL);
        }
        let ring =
            Ring::new(init.entries, WorkCompletion::UVERBS_BYTES, MIN_SLOT).map_err(|_| EINVAL)?;
        let store = Store::new(&ring, udata)?;
        let mut state = CqRing {
            ring,
            producer: 0,
            notify: None,
            store,
            event_owed: false,
        };
        if let Some(image) = image {
            state.restore(image, init.channel.is_some())?;
            let events = EventCounts {
                completion: image.comp_events,
                asynchronous: image.async_events,
            };
            // SAFETY: the CQ is being created.
            unsafe { owner.handle.set_events(events) }?;
        }
        let inner = Arc::pin_init(
            pin_init!(CqInner {
                ring <- new_spinlock_irq!(state),
                events,
                channel: init.channel,
                comp_vector: init.comp_vector,
            }),
            GFP_KERNEL,
        )?;
        let listing = context::list(owner, Object::Cq(inner.clone()))?;
        Ok((
            Cq {
                inner,
                _listing: listing,
            },
            ring.capacity(),
        ))
    }

    /// Replaces a process's ring by one of at least `entries`, keeping what
    /// waits. (Kernel consumers cannot resize.)
    pub(crate) fn resize(&self, entries: u32, udata: &UData<'_>) -> Result<u32> {
        if entries > MAX_CQE {
            return Err(EINVAL);
        }
        let ring =
            Ring::new(entries, WorkCompletion::UVERBS_BYTES, MIN_SLOT).map_err(|_| EINVAL)?;
        // Allocating and answering the process may sleep, and so may
        // withdrawing the old ring's offer: outside the lock.
        let store = Store::new(&ring, Some(udata))?;
        // Either way, a store is dropped here, after the lock.
        match self.swap_ring(ring, store) {
            Ok(_old) => Ok(ring.capacity()),
            Err(_unused) => Err(EINVAL),
        }
    }

    /// Moves what waits into `store`, shaped `ring`, and makes it the CQ's.
    /// Returns the old store, or the new one back if what waits does not fit.
    fn swap_ring(&self, ring: Ring, store: Store) -> core::result::Result<Store, Store> {
        let mut cq = self.inner.ring.lock();
        let count = cq.count();
        let (Store::User(UserRing { buf: old, .. }), Store::User(UserRing { buf: new, .. })) =
            (&cq.store, &store)
        else {
            return Err(store);
        };
        if count > ring.capacity() {
            return Err(store);
        }
        let mut i = cq.consumer();
        let mut j = 0;
        let mut slot = [0u8; WorkCompletion::UVERBS_BYTES];
        while i != cq.producer {
            // Offsets from the rings' own arithmetic are always in bounds.
            let _ = old.read(cq.ring.offset(i), &mut slot);
            let _ = new.write(ring.offset(j), &slot);
            i = cq.ring.next(i);
            j = ring.next(j);
        }
        let _ = new.store_release(PRODUCER_OFFSET, count);
        cq.ring = ring;
        cq.producer = count;
        Ok(core::mem::replace(&mut cq.store, store))
    }

    /// Takes waiting completions of a kernel CQ into `wc`.
    pub(crate) fn poll(&self, wc: &mut WcOut<'_>) -> usize {
        let mut cq = self.inner.ring.lock();
        let (ring, producer) = (cq.ring, cq.producer);
        let Store::Kernel { slots, consumer } = &mut cq.store else {
            return 0;
        };
        let mut n = 0;
        while n < wc.room() && *consumer != producer {
            let i = (*consumer & ring.capacity()) as usize;
            wc.set(n, &slots[i]);
            *consumer = ring.next(*consumer);
            n += 1;
        }
        n
    }

    /// What a QP that completes into this CQ holds.
    pub(crate) fn inner(&self) -> &Arc<CqInner> {
        &self.inner
    }

    /// Arms the CQ; tells whether completions already wait, if asked.
    pub(crate) fn req_notify(&self, arm: Option<Arm>, report_missed: bool) -> bool {
        let mut cq = self.inner.ring.lock();
        cq.notify = cq.notify.max(arm);
        report_missed && cq.count() > 0
    }
}
