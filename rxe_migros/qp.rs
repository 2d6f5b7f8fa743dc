// SPDX-License-Identifier: GPL-2.0

//! Queue pairs (the C rxe's rxe_qp.c): creation with librxe's mapped send
//! and receive rings, the IBTA state machine and its attribute checks on
//! modify, query and destroy.
//!
//! A process posts work requests straight into the rings and rings the
//! send doorbell (a POST_SEND with no work request). The QP's transport
//! state ([`crate::transport`]) lives under one mutex: the doorbell runs
//! the requester in the caller's context, and packets the receive path
//! queues on the QP, and its timer, are handled by work items.
//!
//! A kernel consumer's QP (the MAD layer's GSI QP among them) has the same
//! rings, offered to nobody: `post_send` and `post_recv`, which may come
//! with interrupts off, write its requests into them as librxe would, under
//! a spinlock, and queue the QP's work item to carry them out.

use crate::ah::Ah;
use crate::context::{self, Listing, Object};
use crate::cq::{Cq, CqInner};
use crate::param::{MAX_QP_WR, MAX_SGE, MIN_QP_INDEX};
use crate::proto::engine::{self, Av, Engine, NewSource};
use crate::proto::image;
use crate::proto::mig::MigState;
use crate::proto::modify::{self, AttrMask, QpState as State};
use crate::proto::moves::Known;
use crate::proto::queue::{Ring, CONSUMER_OFFSET, PRODUCER_OFFSET};
use crate::proto::req::Service;
use crate::proto::wqe::{self, SendHead, Sge, UdDest};
use crate::queue::UserRing;
use crate::rdma::device::{Device, DeviceHandle};
use crate::rdma::qp::{
    AddressVector, CoreQp, PdId, QpAttrValues, QpCaps, QpEvents, QpInit, QpType, RecvWr, SendWr,
    SgList, WrOpcode,
};
use crate::rdma::skb::{SkBuff, SkbQueue};
use crate::rdma::udata::UData;
use crate::rdma::udp_tunnel::wait_for_receivers;
use crate::rdma::uobject::{EventCounts, Owner};
use crate::rdma::work::{cancel_delayed_work_sync, cancel_work_sync, system_dfl};
use crate::restore;
use crate::srq::{Srq, SrqInner};
use crate::transport::{self, av_core, av_verbs, Ctx, Packets, QpEngine};
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, Mutex, SpinLockIrq};
use kernel::workqueue::{impl_has_delayed_work, impl_has_work, DelayedWork, Work, WorkItem};
use kernel::{new_delayed_work, new_mutex, new_spinlock_irq, new_work};

/// Packets that may wait on a QP before more are dropped, as a full
/// receive ring would.
const MAX_QUEUED_PACKETS: u32 = 4096;

/// One `struct rxe_sge` (uapi/rdma_user_rxe.h).
const SGE_BYTES: u32 = wqe::SGE_BYTES as u32;
/// Inline data takes the room of the largest scatter list.
pub(crate) const MAX_INLINE_DATA: u32 = MAX_SGE * SGE_BYTES;
/// Slots are at least a cache line, as librxe expects.
const MIN_SLOT: usize = 64;
const MAX_QPN: u32 = crate::param::DEFAULT_MAX_VALUE;

/// The next QP's [`QpInner::serial`].
static NEXT_SERIAL: Atomic<u64> = Atomic::new(1);

/// A work queue's ring, mapped by the process that owns the QP: it
/// produces, we consume.
pub(crate) struct WorkQueue {
    pub(crate) ring: Ring,
    pub(crate) user: UserRing,
}

impl WorkQueue {
    /// The producer index the process last published, in range.
    pub(crate) fn producer(&self) -> u32 {
        self.user.buf.load_acquire(PRODUCER_OFFSET).unwrap_or(0) & self.ring.capacity()
    }

    /// Publishes our consumer index: slots before it are the process's.
    pub(crate) fn set_consumer(&self, index: u32) {
        // The header is always within the buffer.
        let _ = self.user.buf.store_release(CONSUMER_OFFSET, index);
    }

    /// Copies slot `index` into `out` (at most one slot).
    pub(crate) fn read_slot(&self, index: u32, out: &mut [u8]) -> Result {
        let n = out.len().min(self.ring.slot_bytes());
        self.user.buf.read(self.ring.offset(index), &mut out[..n])
    }

    /// A ring for `wr` requests of `elem` bytes, offered to the caller of
    /// `udata` if any; returns it with `struct mminfo` for the response.
    pub(crate) fn new(
        wr: u32,
        elem: usize,
        udata: Option<&UData<'_>>,
    ) -> Result<(WorkQueue, [u8; 16])> {
        let ring = Ring::new(wr, elem, MIN_SLOT).map_err(|_| EINVAL)?;
        let (user, mi) = match udata {
            Some(udata) => UserRing::new(&ring, udata)?,
            None => (UserRing::kernel(&ring)?, [0; 16]),
        };
        Ok((WorkQueue { ring, user }, mi))
    }

    /// Queues the request `write` puts in a slot, for a kernel consumer:
    /// we are the producer, under the QP's post lock. Returns the slot's
    /// index; ENOMEM when the ring is full.
    pub(crate) fn produce(
        &self,
        scratch: &mut [u8],
        write: impl FnOnce(&mut [u8]) -> Result,
    ) -> Result<u32> {
        let producer = self.producer();
        let consumer = self.user.buf.load_acquire(CONSUMER_OFFSET)?;
        if self.ring.is_full(producer, consumer) {
            return Err(ENOMEM);
        }
        let slot = &mut scratch[..self.ring.slot_bytes()];
        write(slot)?;
        self.user.buf.write(self.ring.offset(producer), slot)?;
        self.user
            .buf
            .store_release(PRODUCER_OFFSET, self.ring.next(producer))?;
        Ok(producer)
    }
}

/// What a kernel consumer's posts go through, under a spinlock: they may
/// come with interrupts off, where the QP's mutex cannot be taken.
struct Posts {
    /// Room for one slot of either ring.
    scratch: KVec<u8>,
    /// A UD QP's destinations by send queue slot: a kernel consumer names
    /// its AH by pointer, not by a number the requester could look up.
    avs: KVVec<AddressVector>,
}

impl Posts {
    /// Empty for a process's QP, which never posts through them.
    fn new(kernel: bool, qp: &QpType, sq: &WorkQueue, rq: &WorkQueue) -> Result<Posts> {
        let room = match kernel {
            true => sq.ring.slot_bytes().max(rq.ring.slot_bytes()),
            false => 0,
        };
        let mut avs = KVVec::new();
        if kernel && matches!(qp, QpType::Ud | QpType::Gsi) {
            for _ in 0..=sq.ring.capacity() {
                avs.push(AddressVector::default(), GFP_KERNEL)?;
            }
        }
        Ok(Posts {
            scratch: KVec::from_elem(0u8, room, GFP_KERNEL)?,
            avs,
        })
    }
}

/// The protocol core's view of a kernel consumer's scatter list.
pub(crate) fn sges<'a>(list: &SgList<'a>) -> impl Iterator<Item = Sge> + 'a {
    list.iter().map(|s| Sge {
        addr: s.addr,
        length: s.length,
        lkey: s.lkey,
    })
}

/// A queue pair.
pub(crate) struct Qp {
    inner: Arc<QpInner>,
    /// Its place in the user context it was created in.
    _listing: Option<Listing>,
}

/// What the device's QP table, the receive path and the QP's work items
/// hold.
#[pin_data]
pub(crate) struct QpInner {
    pub(crate) qpn: u32,
    /// Tells it from every other QP, this number's earlier and later
    /// ones included (a type 2 memory window is bound to one).
    pub(crate) serial: u64,
    qp_type: QpType,
    pub(crate) service: Service,
    /// The core's QP, which a kernel consumer's completions name.
    pub(crate) core: CoreQp,
    /// The way to its consumer's asynchronous events.
    pub(crate) events: Arc<QpEvents>,
    /// A kernel consumer's QP (posts come through `post_send` and
    /// `post_recv`), else a process's.
    kernel: bool,
    pub(crate) sq_sig_all: bool,
    pub(crate) caps: QpCaps,
    pub(crate) pd: PdId,
    /// The device: alive while the QP is, and its work items are finished
    /// before `destroy` returns.
    dev: DeviceHandle,
    pub(crate) send_cq: Arc<CqInner>,
    pub(crate) recv_cq: Arc<CqInner>,
    pub(crate) sq: WorkQueue,
    /// On a shared receive queue, a ring of one slot, offered to nobody,
    /// that nothing posts to: receives come from `srq`.
    pub(crate) rq: WorkQueue,
    pub(crate) srq: Option<Arc<SrqInner>>,
    #[pin]
    pub(crate) state: Mutex<QpState>,
    /// The state (`attrs.state`'s ABI number), published after every change
    /// for kernel consumers' posts, which may come with interrupts off and
    /// can not take the mutex.
    posting_state: Atomic<u32>,
    /// A kernel consumer's posts.
    #[pin]
    posts: SpinLockIrq<Posts>,
    /// Packets for the QP, from the receive path.
    #[pin]
    rx: SkbQueue,
    #[pin]
    work: Work<QpInner, 0>,
    #[pin]
    timer: DelayedWork<QpInner, 1>,
}

impl_has_work! {
    impl HasWork<QpInner, 0> for QpInner { self.work }
}

impl_has_delayed_work! {
    impl HasDelayedWork<QpInner, 1> for QpInner { self.timer }
}

/// What the QP's mutex guards: its engine, which holds its attributes,
/// transport and migration state.
pub(crate) struct QpState {
    pub(crate) engine: QpEngine,
    /// Being destroyed: work items that still run do nothing.
    dead: bool,
}

impl QpInner {
    fn device(&self) -> &Device<Rxe> {
        // SAFETY: the core destroys a QP before its device, and `destroy`
        // finishes the QP's work items before it returns; the other callers
        // are the QP's verbs, and `with_transport` (the control device),
        // which finds it not yet dead under its mutex, before `destroy`
        // can begin. So the device is alive while `self` is used.
        unsafe { self.dev.get() }
    }

    /// The multicast groups the QP is attached to, with their LIDs (only
    /// a UD QP can be in any).
    pub(crate) fn multicast_attachments(&self) -> Result<KVec<([u8; 16], u16)>> {
        if self.service != Service::Ud {
            return Ok(KVec::new());
        }
        self.device().mcast.attachments_of(self.qpn)
    }

    /// The destination a kernel consumer gave the UD send request in slot
    /// `index`; `None` for a process's QP, whose requests name AHs by
    /// number.
    pub(crate) fn kernel_av(&self, index: u32) -> Option<AddressVector> {
        if !self.kernel {
            return None;
        }
        let i = (index & self.sq.ring.capacity()) as usize;
        self.posts.lock().avs.get(i).copied()
    }

    /// Takes a packet from the receive path (softirq), for the work item.
    pub(crate) fn deliver(self: &Arc<Self>, skb: SkBuff) -> Result {
        if self.rx.queued() >= MAX_QUEUED_PACKETS {
            return Err(ENOBUFS);
        }
        self.rx.push(skb);
        // Already queued is fine: it empties the whole queue.
        let _ = system_dfl().enqueue::<Arc<QpInner>, 0>(self.clone());
        Ok(())
    }

    /// Modify QP's request, for the engine to check and apply.
    fn request(&self, a: &QpAttrValues, mask: u32) -> (modify::QpType, modify::Request<Av>) {
        // One port: an address on another is refused like the port itself.
        let av = match a.av {
            Some((_, port)) if port != 1 => None,
            av => av.map(|(av, _)| av_core(&av)),
        };
        let request = modify::Request {
            mask: AttrMask::from_abi(mask),
            state: a.state,
            cur_state: a.cur_state,
            port: a.port,
            pkey_index: a.pkey_index,
            qkey: a.qkey,
            access: a.access,
            av,
            path_mtu: a.path_mtu,
            timeout: a.timeout,
            retry_cnt: a.retry_cnt,
            rnr_retry: a.rnr_retry,
            min_rnr_timer: a.min_rnr_timer,
            max_rd_atomic: a.max_rd_atomic,
            max_dest_rd_atomic: a.max_dest_rd_atomic,
            dest_qpn: a.dest_qpn,
            sq_psn: a.sq_psn,
            rq_psn: a.rq_psn,
        };
        let ty = match self.qp_type {
            QpType::Rc => modify::QpType::Rc,
            QpType::Uc => modify::QpType::Uc,
            QpType::Ud => modify::QpType::Ud,
            QpType::Gsi => modify::QpType::Gsi,
        };
        (ty, request)
    }

    /// Runs the transport with the state locked, then arms the timer it
    /// asks for. `None` once the QP is being destroyed.
    fn with_transport<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut QpEngine, &Ctx<'_>) -> R,
    ) -> Option<R> {
        let mut st = self.state.lock();
        if st.dead {
            return None;
        }
        // Not dead, with the mutex held: `destroy` has not begun, so the
        // device is alive.
        let dev = self.device();
        let cx = Ctx { dev, qp: self };
        let e = &mut st.engine;
        let r = f(e, &cx);
        self.posting_state.store(e.attrs().state.abi(), Relaxed);
        if e.wants_run() {
            // A READ reply spent its burst: the rest on the next run,
            // after the work queued meanwhile.
            let _ = system_dfl().enqueue::<Arc<QpInner>, 0>(self.clone());
        }
        if let Some(at) = e.poll_timeout(&cx) {
            // Already armed is fine: when it fires it re-arms for what is
            // due then.
            let delay = transport::timer_delay(at);
            let _ = system_dfl().enqueue_delayed::<Arc<QpInner>, 1>(self.clone(), delay);
        }
        Some(r)
    }
}

impl QpInner {
    /// Stops the QP for a checkpoint; it is quiescent on return. False if
    /// it is being destroyed.
    pub(crate) fn stop(self: &Arc<Self>) -> bool {
        self.with_transport(|e, cx| e.stop(cx, transport::now()))
            .is_some()
    }

    /// A Stopped UD QP asks the devices of `peers` for the tokens its
    /// move announcements will carry; how many it still had to ask.
    pub(crate) fn ask_ud_tokens(self: &Arc<Self>, peers: &[crate::proto::engine::Av]) -> usize {
        self.with_transport(|e, cx| e.ask_ud_tokens(cx, peers, |g| cx.dev.moves.speaks(g)))
            .unwrap_or(0)
    }

    /// Whether the Stopped QP still waits for its partner's token.
    pub(crate) fn token_pending(self: &Arc<Self>) -> bool {
        self.inspect(|e| e.token_pending()).unwrap_or(false)
    }

    /// Reads the QP's attributes and transport under its mutex; `None` if
    /// it is being destroyed.
    pub(crate) fn inspect<R>(self: &Arc<Self>, f: impl FnOnce(&QpEngine) -> R) -> Option<R> {
        let st = self.state.lock();
        (!st.dead).then(|| f(&st.engine))
    }

    /// `enum ib_qp_type`.
    pub(crate) fn qp_type(&self) -> u32 {
        self.qp_type.to_raw()
    }

    /// Whether the QP's path is IPv6 (else IPv4); `None` without a path.
    pub(crate) fn path_is_ipv6(self: &Arc<Self>) -> Option<bool> {
        self.with_transport(|e, _| e.attrs().av.map(|av| av.ipv6))
            .flatten()
    }

    /// The index of RoCEv2 GID `gid` on the QP's device; ENOENT if it has
    /// none such, ENODEV if the QP is being destroyed.
    pub(crate) fn gid_index(self: &Arc<Self>, gid: &[u8; 16]) -> Result<u8> {
        self.with_transport(|_, cx| cx.dev.roce_gid_index(1, gid))
            .unwrap_or(Err(ENODEV))
    }

    /// Moves the datagrams waiting on a Stopped UD or UC QP to those it
    /// holds, for a checkpoint.
    pub(crate) fn hold_datagrams(self: &Arc<Self>) {
        self.with_transport(|e, cx| {
            if e.mig() == MigState::Stopped && cx.qp.service != Service::Rc {
                e.receive(cx, transport::now(), &mut Packets(&cx.qp.rx));
            }
        });
    }

    /// Resumes a Stopped QP (see [`QpState::resume`]); `siblings` are the
    /// QPNs resumed with it, so that a partner among them needs no RESUME.
    /// A UD QP resumed at a new address `src` announces it to the peers
    /// in `known` before it sends anything. Returns whether it announces
    /// itself, or `None` if it was not Stopped.
    pub(crate) fn resume(
        self: &Arc<Self>,
        src: Option<NewSource>,
        siblings: &[u32],
        known: &[Known],
    ) -> Option<bool> {
        self.with_transport(|e, cx| {
            let a = e.attrs();
            let loopback =
                siblings.contains(&a.dest_qpn) && a.av.is_some_and(|av| av.dgid == av.sgid);
            // A UD QP's peers hear where it went before anything it sends
            // makes them answer.
            let stopped = e.mig() == MigState::Stopped;
            let moved = match (src, cx.qp.service) {
                (Some(src), Service::Ud) if stopped => {
                    // Each announcement carries the token its device
                    // granted this QP (none without memory: refused there).
                    let mut mine = KVec::new();
                    for k in known {
                        let token = e.ud_token(&k.av.dgid);
                        let _ = mine.push(Known { token, ..*k }, GFP_KERNEL);
                    }
                    crate::migration::announce_ud_move(cx.dev, cx.qp.qpn, src, &mine)
                }
                _ => 0,
            };
            let now = transport::now();
            let announced = e.resume(cx, now, src, loopback).map(|a| a || moved != 0);
            // Datagrams that waited while it was stopped, then what waits
            // to be sent.
            e.run(cx, now, &mut Packets(&cx.qp.rx));
            announced
        })
        .flatten()
    }
}

impl WorkItem<0> for QpInner {
    type Pointer = Arc<QpInner>;

    fn run(this: Arc<QpInner>) {
        this.with_transport(|e, cx| e.run(cx, transport::now(), &mut Packets(&cx.qp.rx)));
    }
}

impl WorkItem<1> for QpInner {
    type Pointer = Arc<QpInner>;

    fn run(this: Arc<QpInner>) {
        this.with_transport(|e, cx| {
            // Responses that already arrived count before the timer does:
            // under load the packet work item may not have run yet.
            let now = transport::now();
            e.receive(cx, now, &mut Packets(&cx.qp.rx));
            e.on_timer(cx, now);
            e.run(cx, now, &mut Packets(&cx.qp.rx));
        });
    }
}

impl Qp {
    pub(crate) fn new(
        dev: &Device<Rxe>,
        init: &QpInit<'_, Cq, Srq>,
        udata: Option<&UData<'_>>,
        owner: &Owner<'_, Rxe>,
        image: Option<&image::Qp<'_>>,
    ) -> Result<(Qp, u32, QpCaps)> {
        let kernel = owner.uctx.is_none();
        if kernel != udata.is_none() {
            return Err(EINVAL);
        }
        if init.create_flags != 0 {
            return Err(EOPNOTSUPP);
        }
        let srq = init.srq.map(|s| s.inner.clone());
        if let Some(img) = image {
            // A restored QP takes from the SRQ of the image's handle.
            let named = match (&srq, owner.uctx) {
                (Some(s), Some(u)) => u.context.handle_of(&Object::Srq(s.clone()))?,
                _ => None,
            };
            if named != img.srq {
                pr_info!(
                    "restore: QP {:#x} created on another SRQ than its image's\n",
                    img.qpn
                );
                return Err(EINVAL);
            }
        }
        if let Some(s) = &srq {
            // Its requests' keys are checked against the QP's PD.
            if s.pd != init.pd {
                return Err(EINVAL);
            }
        }
        // Only the MAD layer makes a port's GSI QP.
        if init.qp_type == QpType::Gsi && !kernel {
            return Err(EINVAL);
        }
        // On an SRQ the QP's own receive sizes are ignored, as in the C rxe.
        let c = &match srq {
            Some(_) => QpCaps {
                max_recv_wr: 0,
                max_recv_sge: 0,
                ..init.caps
            },
            None => init.caps,
        };
        if c.max_send_wr > MAX_QP_WR
            || c.max_recv_wr > MAX_QP_WR
            || c.max_send_sge > MAX_SGE
            || c.max_recv_sge > MAX_SGE
            || c.max_inline_data > MAX_INLINE_DATA
        {
            return Err(EINVAL);
        }
        // The send slot holds a scatter list or inline data, whichever is
        // larger; both limits grow to fill it, as the C rxe reports them.
        let send_room = (c.max_send_sge * SGE_BYTES).max(c.max_inline_data);
        let (sq, sq_mi) = WorkQueue::new(
            c.max_send_wr,
            wqe::SEND_WQE_BYTES + send_room as usize,
            udata,
        )?;
        let recv_room = (c.max_recv_sge * SGE_BYTES) as usize;
        // On an SRQ (sizes 0): one slot, offered to nobody.
        let rq_udata = udata.filter(|_| srq.is_none());
        let (rq, rq_mi) = WorkQueue::new(c.max_recv_wr, wqe::RECV_WQE_BYTES + recv_room, rq_udata)?;
        let service = match init.qp_type {
            QpType::Rc => Service::Rc,
            QpType::Uc => Service::Uc,
            QpType::Ud | QpType::Gsi => Service::Ud,
        };
        let posts = Posts::new(kernel, &init.qp_type, &sq, &rq)?;
        if let Some(udata) = udata {
            // struct rxe_create_qp_resp { struct mminfo rq_mi, sq_mi; }
            let mut resp = [0u8; 32];
            resp[..16].copy_from_slice(&rq_mi);
            resp[16..].copy_from_slice(&sq_mi);
            udata.write_bytes(&resp)?;
        }
        let caps = QpCaps {
            max_send_wr: sq.ring.capacity(),
            max_recv_wr: rq.ring.capacity(),
            max_send_sge: send_room / SGE_BYTES,
            max_recv_sge: c.max_recv_sge,
            max_inline_data: send_room,
        };
        if let Some(img) = image {
            if !restore::same_shape(img, init.qp_type.to_raw(), init.sq_sig_all, &caps) {
                pr_info!(
                    "restore: QP {:#x} created with another shape than its image\n",
                    img.qpn
                );
                return Err(EINVAL);
            }
            restore::fill_ring(&sq, &img.sq)?;
            restore::fill_ring(&rq, &img.rq)?;
            let events = EventCounts {
                completion: 0,
                asynchronous: img.async_events,
            };
            // SAFETY: the QP is being created.
            unsafe { owner.handle.set_events(events) }?;
        }
        // On an SRQ the engine takes requests of the SRQ's slot shape.
        let (sq_ring, rq_ring) = (sq.ring, srq.as_ref().map_or(rq.ring, |s| s.slot_shape()));
        let max_recv_sge = srq.as_ref().map_or(caps.max_recv_sge, |s| s.max_sge);
        let port_mtu = dev
            .netdev(1)
            .map_or(0, |nd| crate::verbs::active_mtu(nd.mtu()));
        let make = |qpn| {
            let cfg = engine::Config {
                qpn,
                service,
                sq_sig_all: init.sq_sig_all,
                max_send_sge: caps.max_send_sge,
                max_recv_sge,
                max_inline: caps.max_inline_data,
                sq: sq_ring,
                rq: rq_ring,
                srq: srq.is_some(),
                kernel,
            };
            let (sent, slot) = transport::storage(&cfg)?;
            let engine = match image {
                Some(img) => {
                    let target =
                        |key, at, left| crate::mr::write_target(dev, init.pd, key, at, left);
                    Engine::restored(target, cfg, sent, slot, img, port_mtu).map_err(|e| {
                        pr_info!("restore: QP {:#x}: {:?}\n", img.qpn, e);
                        EINVAL
                    })?
                }
                None => Engine::new(cfg, sent, slot),
            };
            let posting_state = Atomic::new(engine.attrs().state.abi());
            Ok(Arc::pin_init(
                pin_init!(QpInner {
                    qpn,
                    serial: NEXT_SERIAL.fetch_add(1, Relaxed),
                    qp_type: init.qp_type,
                    service,
                    core: init.core,
                    events: init.events.clone(),
                    kernel,
                    sq_sig_all: init.sq_sig_all,
                    caps,
                    pd: init.pd,
                    dev: dev.handle(),
                    send_cq: init.send_cq.inner().clone(),
                    recv_cq: init.recv_cq.inner().clone(),
                    sq,
                    rq,
                    srq: srq.clone(),
                    state <- new_mutex!(QpState {
                        engine,
                        dead: false,
                    }),
                    posting_state,
                    posts <- new_spinlock_irq!(posts),
                    rx <- SkbQueue::new(),
                    work <- new_work!("QpInner::work"),
                    timer <- new_delayed_work!("QpInner::timer"),
                }),
                GFP_KERNEL,
            )?)
        };
        let inner = match image {
            // A restored QP keeps its number where it is free. Elsewhere
            // an RC or UC QP takes another, which its RESUME announces; a
            // UD QP's peers name it in every datagram, so it cannot.
            Some(img) if dev.qps.get(img.qpn).is_none() => dev.qps.add_at(img.qpn, make)?,
            Some(img) if service == Service::Ud => {
                pr_info!("restore: UD QP {:#x} is taken here\n", img.qpn);
                return Err(EADDRINUSE);
            }
            Some(img) => {
                let inner = dev.qps.add(make)?;
                pr_info!("restore: QP {:#x} is QP {:#x} here\n", img.qpn, inner.qpn);
                inner
            }
            // The GSI QP is QP 1 (IBTA 3.5.1.3), below the numbers the
            // others take.
            None if init.qp_type == QpType::Gsi => dev.qps.add_reserved(GSI_QPN, make)?,
            None => dev.qps.add(make)?,
        };
        let qpn = inner.qpn;
        let listing = context::list(owner, Object::Qp(inner.clone())).inspect_err(|_| {
            dev.qps.remove(qpn);
        })?;
        Ok((
            Qp {
                inner,
                _listing: listing,
            },
            qpn,
            caps,
        ))
    }

    /// Checks every attribute `mask` names, then applies them all, or
    /// none, and moves the transport to the new state in the same critical
    /// section: no packet sees the new attributes before the transition.
    pub(crate) fn modify(&self, a: &QpAttrValues, mask: u32) -> Result {
        self.inner
            .with_transport(|e, cx| {
                let (ty, request) = cx.qp.request(a, mask);
                let port_mtu = cx
                    .dev
                    .netdev(1)
                    .map(|nd| crate::verbs::active_mtu(nd.mtu()));
                e.modify(cx, transport::now(), ty, &request, port_mtu)
                    .map_err(|why| {
                        pr_debug!(
                            "QP {}: modify from {:?} with mask {:?} refused: {:?}\n",
                            cx.qp.qpn,
                            e.attrs().state,
                            request.mask,
                            why
                        );
                        EINVAL
                    })
            })
            .unwrap_or(Err(EINVAL))
    }

    /// The send doorbell: work requests wait in the send queue.
    /// EINVAL before RTS, as the C rxe: nothing may be sent yet.
    pub(crate) fn doorbell(&self, _dev: &Device<Rxe>) -> Result {
        self.inner
            .with_transport(|e, cx| {
                if e.attrs().state < State::Rts {
                    return Err(EINVAL);
                }
                e.run(cx, transport::now(), &mut Packets(&cx.qp.rx));
                Ok(())
            })
            .unwrap_or(Err(EINVAL))
    }

    /// The state kernel consumers' posts are checked against.
    fn posting_state(&self) -> State {
        State::from_abi(self.inner.posting_state.load(Relaxed)).unwrap_or(State::Error)
    }

    /// Queues a kernel consumer's send request (see
    /// [`Driver::post_kernel_send`](crate::rdma::device::Driver)).
    pub(crate) fn post_kernel_send(&self, wr: &SendWr<'_, Ah>) -> Result {
        use wqe::{opcode, send_flags};
        let qp = &*self.inner;
        if !qp.kernel {
            // A process posts into its own rings.
            return Err(EOPNOTSUPP);
        }
        // As the C rxe: sends from RTS on, receives from INIT on.
        if self.posting_state() < State::Rts {
            return Err(EINVAL);
        }
        let code = match wr.opcode().ok_or(EINVAL)? {
            WrOpcode::Send => opcode::SEND,
            WrOpcode::SendWithImm => opcode::SEND_WITH_IMM,
            WrOpcode::RdmaWrite => opcode::RDMA_WRITE,
            WrOpcode::RdmaWriteWithImm => opcode::RDMA_WRITE_WITH_IMM,
            WrOpcode::RdmaRead => opcode::RDMA_READ,
            WrOpcode::SendWithInv => opcode::SEND_WITH_INV,
            WrOpcode::LocalInv => opcode::LOCAL_INV,
            WrOpcode::RegMr => opcode::REG_MR,
        };
        // `enum ib_send_flags` has the values of librxe's.
        let known =
            send_flags::FENCE | send_flags::SIGNALED | send_flags::SOLICITED | send_flags::INLINE;
        let flags = wr.flags() & known;
        let ud = wr.ud();
        if ud.is_some() != (qp.service == Service::Ud) {
            return Err(EINVAL);
        }
        let (remote_addr, rkey) = wr.rdma().unwrap_or((0, 0));
        let head = SendHead {
            wr_id: wr.wr_id(),
            opcode: code,
            flags,
            ex: wr.ex(),
            remote_addr,
            rkey,
            ud: ud.map(|u| UdDest {
                remote_qpn: u.remote_qpn & crate::proto::hdr::QPN_MASK,
                remote_qkey: u.remote_qkey,
                // Kernel AHs have no number: the address rides with the
                // request (`Posts::avs`).
                ah_num: 0,
            }),
            atomic: None,
        };
        let list = wr.sges()?;
        let mut guard = qp.posts.lock();
        let posts = &mut *guard;
        let index = qp.sq.produce(&mut posts.scratch, |slot| {
            if code == opcode::REG_MR {
                let r = wr.reg().ok_or(EINVAL)?;
                let reg = crate::proto::fastreg::Reg {
                    mr_key: r.mr_key,
                    key: r.key,
                    access: r.access,
                    iova: r.iova,
                    length: r.length,
                };
                wqe::write_reg(slot, &head, &reg).map_err(|_| EINVAL)
            } else if flags & send_flags::INLINE != 0 && code != opcode::RDMA_READ {
                let len = list.total();
                if len > qp.caps.max_inline_data as usize {
                    return Err(EINVAL);
                }
                let room = wqe::write_send_inline(slot, &head, len).map_err(|_| EINVAL)?;
                wr.copy_inline(room)
            } else if list.count() > qp.caps.max_send_sge as usize {
                Err(EINVAL)
            } else {
                wqe::write_send(slot, &head, sges(&list)).map_err(|_| EINVAL)
            }
        })?;
        if let Some(u) = ud {
            let i = (index & qp.sq.ring.capacity()) as usize;
            posts.avs[i] = u.ah.av();
        }
        Ok(())
    }

    /// Lets the transport carry out what a kernel consumer posted.
    pub(crate) fn kick_send(&self) {
        if self.inner.kernel {
            // Already queued is fine: it sends all that waits.
            let _ = system_dfl().enqueue::<Arc<QpInner>, 0>(self.inner.clone());
        }
    }

    /// Queues a kernel consumer's receive request.
    pub(crate) fn post_kernel_recv(&self, wr: &RecvWr<'_>) -> Result {
        let qp = &*self.inner;
        if !qp.kernel {
            return Err(EOPNOTSUPP);
        }
        // Its receives go to its SRQ, through post_srq_recv.
        if qp.srq.is_some() || self.posting_state() < State::Init {
            return Err(EINVAL);
        }
        let list = wr.sges()?;
        if list.count() > qp.caps.max_recv_sge as usize {
            return Err(EINVAL);
        }
        let mut posts = qp.posts.lock();
        qp.rq.produce(&mut posts.scratch, |slot| {
            wqe::write_recv(slot, wr.wr_id(), sges(&list)).map_err(|_| EINVAL)
        })?;
        drop(posts);
        // A receive posted in the error state is flushed at once, as in
        // the C rxe: `ib_drain_rq` waits for its completion.
        if self.posting_state() == State::Error {
            self.kick_send();
        }
        Ok(())
    }

    /// Reports the attributes, the work queue sizes and whether every
    /// send WR is signalled.
    pub(crate) fn query(&self) -> (QpAttrValues, QpCaps, bool) {
        let qp = &self.inner;
        let (a, sq_draining) = {
            let st = qp.state.lock();
            (*st.engine.attrs(), st.engine.draining())
        };
        let values = QpAttrValues {
            state: a.state.abi(),
            cur_state: a.state.abi(),
            port: 1,
            pkey_index: a.pkey_index,
            qkey: a.qkey,
            access: a.access,
            path_mtu: a.path_mtu,
            dest_qpn: a.dest_qpn,
            sq_psn: a.sq_psn,
            rq_psn: a.rq_psn,
            av: a.av.map(|av| (av_verbs(&av), 1)),
            timeout: a.timeout,
            retry_cnt: a.retry_cnt,
            rnr_retry: a.rnr_retry,
            min_rnr_timer: a.min_rnr_timer,
            max_rd_atomic: a.max_rd_atomic,
            max_dest_rd_atomic: a.max_dest_rd_atomic,
            sq_draining,
        };
        (values, qp.caps, qp.sq_sig_all)
    }

    /// Attaches the QP, a UD one (the core checked), to multicast group
    /// `gid`, with `lid`.
    pub(crate) fn attach_mcast(&self, dev: &Device<Rxe>, gid: &[u8; 16], lid: u16) -> Result {
        dev.mcast.attach(dev, gid, self.inner.qpn, lid)
    }

    pub(crate) fn detach_mcast(&self, dev: &Device<Rxe>, gid: &[u8; 16]) -> Result {
        dev.mcast.detach(dev, gid, self.inner.qpn)
    }

    /// Marks the QP dead and stops its work: afterwards nothing but the
    /// caller and its user context's list (until its data is dropped)
    /// holds it, and no work item of it runs.
    pub(crate) fn destroy(&self, dev: &Device<Rxe>) {
        let qp = &self.inner;
        qp.state.lock().dead = true;
        // The core destroys no QP that is attached to a group (its use
        // count), but a group must never name a number another QP gets.
        if qp.service == Service::Ud {
            dev.mcast.detach_all(dev, qp.qpn);
        }
        dev.qps.remove(qp.qpn);
        // A receiver that found the QP before it was unlisted may still be
        // queueing a packet and its work item.
        wait_for_receivers();
        cancel_work_sync::<QpInner, 0>(qp);
        cancel_delayed_work_sync::<QpInner, 1>(qp);
    }
}

pub(crate) use crate::proto::engine::GSI_QPN;

/// The range of QP numbers (the C rxe's RXE_MIN_QP_INDEX and
/// RXE_MAX_QP_INDEX).
pub(crate) const QPNS: (u32, u32) = (MIN_QP_INDEX, MAX_QPN);
