// SPDX-License-Identifier: GPL-2.0

//! The transport of one QP: the kernel half of the C rxe's rxe_req.c,
//! rxe_comp.c and rxe_resp.c. The protocol decisions are the core's
//! engines ([`Segments`](crate::proto::req::Segments),
//! [`Completer`], [`Responder`]); this glue reads work requests out of the
//! rings, moves data between packets and memory regions, posts
//! completions, and keeps the timers.
//!
//! Everything here runs with the QP's mutex held, in process context: from
//! the send doorbell, the QP's packet work item, or its timer. The three
//! roles are in [`crate::requester`], [`crate::completer`] and
//! [`crate::responder`].

use crate::cq::CqInner;
use crate::mr::{self, MrError, MrInner};
use crate::proto::comp::Completer;
use crate::proto::image::Held;
use crate::proto::mig::MigState;
use crate::proto::modify::QpState as State;
use crate::proto::psn::Psn;
use crate::proto::queue::Ring;
use crate::proto::req::{Kind, Mtu, Service};
use crate::proto::resp::Responder;
use crate::proto::roce::Datagram;
use crate::proto::wqe::{Operation, SgeList, UdDest};
use crate::qp::{QpInner, QpState};
use crate::rdma::access::Access;
use crate::rdma::cq::{WcOpcode, WcStatus, WorkCompletion};
use crate::rdma::device::Device;
use crate::rdma::qp::AddressVector;
use crate::rdma::skb::SkbQueue;
use crate::xmit::{self, Path};
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::{msecs_to_jiffies, Delta, Instant, Jiffies, Monotonic};

/// The most PSNs an RC requester sends beyond the oldest unacknowledged
/// one (the C rxe's RXE_MAX_UNACKED_PSNS).
pub(crate) const MAX_UNACKED_PSNS: i32 = 128;

/// The longest the QP's timer is armed for at a time.
const MAX_TIMER_MS: i64 = 200;

/// What the transport works with besides its own state.
pub(crate) struct Ctx<'a> {
    pub(crate) dev: &'a Device<Rxe>,
    pub(crate) qp: &'a QpInner,
    pub(crate) rx: &'a SkbQueue,
}

/// A send work request the requester started, as the completer and a
/// retry need it: the ring slot may be rewritten by a confused process,
/// this may not.
#[derive(Clone, Copy)]
pub(crate) struct SentWqe {
    pub(crate) kind: Kind,
    pub(crate) op: Operation,
    pub(crate) first: Psn,
    pub(crate) length: u32,
    pub(crate) wr_id: u64,
    pub(crate) signaled: bool,
    pub(crate) solicited: bool,
    pub(crate) ud: Option<UdDest>,
    /// A kernel consumer's UD request carries its address itself: kernel
    /// AHs have no number.
    pub(crate) av: Option<AddressVector>,
}

/// A SEND being received into a receive work request.
#[derive(Clone, Copy)]
pub(crate) struct RecvProgress {
    pub(crate) wr_id: u64,
    /// Bytes placed so far.
    pub(crate) offset: u32,
}

/// An RDMA WRITE being received.
pub(crate) struct WriteProgress {
    pub(crate) mr: Arc<MrInner>,
    /// Where the next payload goes in the MR.
    pub(crate) at: usize,
    /// Bytes the RETH announced that have not come yet.
    pub(crate) left: u32,
    pub(crate) total: u32,
}

/// A READ being answered, a burst of packets per run of the QP's work
/// item ([`READ_BURST`]), so that one long READ does not keep the others
/// waiting. Not in a checkpoint: the requester asks again for what did
/// not arrive, as for packets lost on the wire.
pub(crate) struct ReadReply {
    /// The MR and the offset in it that the reply reads from (none for a
    /// READ of zero bytes).
    pub(crate) mr: Option<(Arc<MrInner>, usize)>,
    /// The first response's PSN.
    pub(crate) psn: Psn,
    pub(crate) len: u32,
    pub(crate) packets: u32,
    /// The index of the next packet to send.
    pub(crate) next: u32,
}

/// The most packets one run of a QP's work item sends for READ replies
/// before it lets other work run (the C rxe's RXE_MAX_ITERATIONS).
pub(crate) const READ_BURST: u32 = 1024;

/// The transport state of a QP.
pub(crate) struct Transport {
    /// The path MTU: payload bytes per packet.
    pub(crate) mtu: Mtu,
    pub(crate) path: Option<Path>,
    /// Retransmission timeout; none means never retransmit (timeout 0).
    pub(crate) timeout: Option<Delta>,

    // The requester.
    /// The send queue index of the request being sent, or next to start.
    pub(crate) next_wqe: u32,
    /// The index after the last request started.
    pub(crate) started: u32,
    /// The PSN sent next, and the PSN after the furthest one sent.
    pub(crate) psn: Psn,
    pub(crate) high: Psn,
    /// The PSN after the last one the responder acknowledged.
    pub(crate) acked: Psn,
    /// Started requests, by send queue slot.
    pub(crate) sent: KVVec<SentWqe>,

    // The completer.
    /// The oldest incomplete request (the send queue's consumer index).
    pub(crate) comp_wqe: u32,
    pub(crate) completer: Completer,
    pub(crate) retransmit_at: Option<Instant<Monotonic>>,
    pub(crate) rnr_until: Option<Instant<Monotonic>>,

    // The responder.
    pub(crate) responder: Responder,
    /// The receive queue's consumer index.
    pub(crate) rq_next: u32,
    pub(crate) recv: Option<RecvProgress>,
    /// RC requests were carried out since the last ACK went out.
    pub(crate) ack_owed: bool,
    pub(crate) write: Option<WriteProgress>,
    /// The READ reply under way.
    pub(crate) reading: Option<ReadReply>,

    /// Room for one work request, copied out of its ring.
    pub(crate) slot: KVec<u8>,

    // Migration (crate::migration).
    pub(crate) mig: MigState,
    /// When a Resuming QP sends its RESUME again.
    pub(crate) resume_at: Option<Instant<Monotonic>>,
    /// Datagrams a Stopped UD or UC QP received, to carry out once it
    /// resumes, here or restored elsewhere: in the layout of a QP image's
    /// held datagrams ([`crate::proto::image::Held`]), so that a
    /// checkpoint takes them as they are.
    pub(crate) held: KVVec<u8>,
    pub(crate) held_count: u32,
}

/// The most datagrams a Stopped QP holds; later ones are dropped, as a
/// full receive queue would drop them.
const MAX_HELD: u32 = 1024;

/// `struct ib_grh` room at the start of a UD receive buffer.
pub(crate) const GRH_BYTES: u32 = 40;

impl Transport {
    pub(crate) fn new(sq: &Ring, rq: &Ring) -> Result<Transport> {
        let n = sq.capacity() as usize + 1;
        let mut sent = KVVec::with_capacity(n, GFP_KERNEL)?;
        let blank = SentWqe {
            kind: Kind::Send,
            op: Operation::Send { imm: None },
            first: Psn::new(0),
            length: 0,
            wr_id: 0,
            signaled: false,
            solicited: false,
            ud: None,
            av: None,
        };
        for _ in 0..n {
            sent.push(blank, GFP_KERNEL)?;
        }
        let slot_bytes = sq.slot_bytes().max(rq.slot_bytes());
        let mut slot = KVec::with_capacity(slot_bytes, GFP_KERNEL)?;
        slot.resize(slot_bytes, 0, GFP_KERNEL)?;
        let mtu = Mtu::MIN;
        Ok(Transport {
            mtu,
            path: None,
            timeout: None,
            next_wqe: 0,
            started: 0,
            psn: Psn::new(0),
            high: Psn::new(0),
            acked: Psn::new(0),
            sent,
            comp_wqe: 0,
            completer: Completer::new(0, 0, mtu),
            retransmit_at: None,
            rnr_until: None,
            responder: Responder::new(crate::proto::req::Service::Rc, Psn::new(0), mtu),
            rq_next: 0,
            recv: None,
            ack_owed: false,
            write: None,
            reading: None,
            slot,
            held: KVVec::new(),
            held_count: 0,
            mig: MigState::Running,
            resume_at: None,
        })
    }

    /// How long until the earliest timer is due, if one is set.
    pub(crate) fn timer_delay(&self) -> Option<Jiffies> {
        let earlier = |a: Option<Instant<Monotonic>>, b: Option<Instant<Monotonic>>| match (a, b) {
            (Some(a), Some(b)) if (a - b).is_negative() => Some(a),
            (Some(_), Some(b)) => Some(b),
            (a, b) => a.or(b),
        };
        let at = earlier(
            earlier(self.retransmit_at, self.rnr_until),
            self.migration_deadline(),
        )?;
        let left = at - Instant::now();
        let ms = if left.is_negative() {
            0
        } else {
            left.as_millis_ceil()
        };
        // An armed timer is not moved earlier (arming it again does
        // nothing), and a pause may arm it for a minute: capped, it fires
        // often enough to serve a sooner deadline set meanwhile (a RESUME
        // to send again), and re-arms for what is due then.
        Some(msecs_to_jiffies(ms.min(MAX_TIMER_MS) as u32).max(1))
    }

    /// The responder has everything up to `psn`.
    pub(crate) fn advance_acked(&mut self, psn: Psn) {
        if psn.next().diff(self.acked) > 0 {
            self.acked = psn.next();
        }
    }

    /// The retransmission timer restarts (progress, or a first packet).
    pub(crate) fn restart_retransmit(&mut self) {
        self.retransmit_at = self.timeout.map(|t| Instant::now() + t);
    }
}

/// Whether `at` has come.
pub(crate) fn due(at: Instant<Monotonic>) -> bool {
    !(Instant::now() - at).is_negative()
}

/// The retransmission timeout of the 5-bit code (IBTA 9.7.6.1.3):
/// 4.096 µs << code; 0 means none.
pub(crate) fn timeout_of(code: u8) -> Option<Delta> {
    (code != 0).then(|| Delta::from_nanos(4096i64 << code.min(31)))
}

impl QpState {
    /// Applies a state change `modify_qp` made, from `prev`.
    pub(crate) fn transition(&mut self, cx: &Ctx<'_>, prev: State) {
        let a = self.attrs;
        let now = a.state;
        let t = &mut self.tx;
        // Datagrams may be as large as the port allows; connections use
        // the path MTU they were given.
        let ib_mtu = if cx.qp.service == crate::proto::req::Service::Ud {
            cx.dev
                .netdev(1)
                .map_or(a.path_mtu, |nd| crate::verbs::active_mtu(nd.mtu()))
        } else {
            a.path_mtu
        };
        t.mtu = Mtu::from_ib(ib_mtu).unwrap_or(Mtu::MIN);
        t.path = a.av.map(|av| Path {
            av,
            src_port: xmit::src_port(cx.qp.qpn),
        });
        t.timeout = timeout_of(a.timeout);
        if now == State::Rtr && prev != State::Rtr {
            t.responder = Responder::new(cx.qp.service, Psn::new(a.rq_psn), t.mtu);
        }
        if now == State::Rts && prev != State::Rts {
            t.psn = Psn::new(a.sq_psn);
            t.high = t.psn;
            t.acked = t.psn;
            t.completer = Completer::new(a.retry_cnt, a.rnr_retry, t.mtu);
        }
        if now == State::Error && prev != State::Error {
            self.flush(cx);
        }
    }

    /// Handles the packets waiting on the QP, then sends what can be sent.
    pub(crate) fn run(&mut self, cx: &Ctx<'_>) {
        self.receive(cx);
        if self.attrs.state == State::Error {
            self.flush(cx);
        } else {
            self.send_requests(cx);
        }
    }

    /// Handles the packets waiting on the QP.
    pub(crate) fn receive(&mut self, cx: &Ctx<'_>) {
        // A Stopped QP carries out nothing new. RC requests get the paused
        // NAK and come again; datagrams (UD, UC), which nobody sends
        // again, are held for the resume, and go into a checkpoint.
        if self.tx.mig == MigState::Stopped && cx.qp.service != Service::Rc {
            self.hold(cx);
            return;
        }
        if self.tx.held_count != 0 {
            self.replay_held(cx);
        }
        let mut budget = READ_BURST;
        loop {
            // A READ reply under way goes first: the packets after its
            // request wait for it, as they would on a real responder.
            if self.tx.reading.is_some() {
                self.read_burst(cx, &mut budget);
                if self.tx.reading.is_some() {
                    // Its burst is spent: the work item runs again.
                    break;
                }
            }
            let Some(mut skb) = cx.rx.pop() else {
                break;
            };
            let Ok(l3) = skb.network_bytes() else {
                continue;
            };
            // The receive path checked it whole, ICRC included.
            let Ok(d) = Datagram::reparse(l3) else {
                continue;
            };
            if self.from_partner(cx, &d) {
                self.on_packet(cx, &d, l3);
            }
        }
        // One ACK for the whole batch, besides those the requester asked
        // for: it keeps the requester's window and timer moving when
        // packets come faster than they are handled.
        if self.tx.ack_owed {
            self.ack_last(cx);
        }
    }

    /// Moves the datagrams waiting on a Stopped QP to those it holds.
    fn hold(&mut self, cx: &Ctx<'_>) {
        while let Some(mut skb) = cx.rx.pop() {
            let Ok(l3) = skb.network_bytes() else {
                continue;
            };
            // UC packets are checked now, while the path they came by is
            // the QP's: they are carried out after a restore, perhaps at
            // another address. UD datagrams come from anyone.
            if cx.qp.service == Service::Uc
                && !Datagram::reparse(l3).is_ok_and(|d| self.from_partner(cx, &d))
            {
                continue;
            }
            let held = &mut self.tx.held;
            let kept = self.tx.held_count < MAX_HELD
                && Held::entry_header(l3.len()).is_some_and(|(header, pad)| {
                    let before = held.len();
                    let r = held
                        .extend_from_slice(&header, GFP_KERNEL)
                        .and_then(|_| held.extend_from_slice(l3, GFP_KERNEL))
                        .and_then(|_| held.extend_from_slice(pad, GFP_KERNEL));
                    if r.is_err() {
                        held.truncate(before);
                    }
                    r.is_ok()
                });
            if kept {
                self.tx.held_count += 1;
            } else if cx
                .dev
                .counters
                .inc_first(crate::counters::Counter::RcvdNoDest)
            {
                pr_info!("QP {}: stopped, and holds no more datagrams\n", cx.qp.qpn);
            }
        }
    }

    /// Carries out the datagrams the QP held while it was Stopped (or
    /// that its image held), oldest first. They are checked whole again:
    /// those of an image come from a file.
    fn replay_held(&mut self, cx: &Ctx<'_>) {
        let held = core::mem::take(&mut self.tx.held);
        self.tx.held_count = 0;
        let Some(datagrams) = Held::parse(&held) else {
            return;
        };
        for l3 in datagrams.iter() {
            match Datagram::parse(l3) {
                Ok(d) if d.packet.bth.dest_qpn == cx.qp.qpn => self.on_packet(cx, &d, l3),
                _ => {
                    cx.dev.counters.inc(crate::counters::Counter::RcvdMalformed);
                }
            }
        }
    }

    fn on_packet(&mut self, cx: &Ctx<'_>, d: &Datagram<'_>, l3: &[u8]) {
        use crate::proto::opcode::flags;
        let info = d.packet.info;
        // The transport bits of the opcode must be the QP's.
        let transport = d.packet.bth.opcode & 0xe0;
        let ours = match cx.qp.service {
            crate::proto::req::Service::Rc => crate::proto::opcode::TRANSPORT_RC,
            crate::proto::req::Service::Uc => crate::proto::opcode::TRANSPORT_UC,
            crate::proto::req::Service::Ud => crate::proto::opcode::TRANSPORT_UD,
        };
        if transport != ours {
            return;
        }
        cx.dev.counters.inc(crate::counters::Counter::RcvdPkts);
        cx.dev
            .counters
            .add(crate::counters::Counter::RcvdBytes, l3.len() as u64);
        if info.has(flags::REQ) {
            self.on_request(cx, d, l3);
        } else {
            self.on_response(cx, &d.packet);
        }
    }

    /// Whether `d` may be an RC or UC packet of this QP's connection: from
    /// the partner's address to ours, as the C rxe's check_addr asks.
    /// Anyone can send a packet with any QPN and a guessed PSN; only the
    /// path keeps it out. A RESUME is the exception: it comes from the
    /// partner's new address (docs/migration.md), and nothing yet proves
    /// that it comes from the partner (docs/security.md, "Open").
    /// Datagrams (UD) come from anyone by design. Held datagrams are
    /// checked as they arrive, not when they are carried out.
    fn from_partner(&self, cx: &Ctx<'_>, d: &Datagram<'_>) -> bool {
        use crate::proto::opcode::flags;
        if cx.qp.service == Service::Ud || d.packet.info.has(flags::RESUME) {
            return true;
        }
        // Before RTR there is no path, and the responder takes nothing.
        let Some(path) = &self.tx.path else {
            return true;
        };
        if d.src == path.av.dgid && d.dst == path.av.sgid {
            return true;
        }
        if cx
            .dev
            .counters
            .inc_first(crate::counters::Counter::RcvdBadAddr)
        {
            pr_info!(
                "QP {}: dropped a packet from {:?} to {:?}, not its path; counting further ones in hw_counters/rcvd_bad_addr\n",
                cx.qp.qpn,
                crate::recv::Gid(&d.src),
                crate::recv::Gid(&d.dst)
            );
        }
        false
    }

    /// The timer fired: retransmit or resume after an RNR wait, if due.
    pub(crate) fn on_timer(&mut self, cx: &Ctx<'_>) {
        self.migration_timer(cx);
        if let Some(at) = self.tx.rnr_until {
            if due(at) {
                self.tx.rnr_until = None;
            }
        }
        if let Some(at) = self.tx.retransmit_at {
            if due(at) {
                self.retransmit_timeout(cx);
            }
        }
    }

    /// Posts a completion for a send work request.
    pub(crate) fn complete_send(&mut self, cx: &Ctx<'_>, w: &SentWqe, status: WcStatus) {
        if status == WcStatus::Success && !w.signaled {
            return;
        }
        let opcode = match w.kind {
            Kind::Send | Kind::SendImm | Kind::SendInv => WcOpcode::Send,
            Kind::Write | Kind::WriteImm => WcOpcode::RdmaWrite,
            Kind::Read => WcOpcode::RdmaRead,
            Kind::CompareSwap => WcOpcode::CompSwap,
            Kind::FetchAdd => WcOpcode::FetchAdd,
        };
        let wc = WorkCompletion {
            wr_id: w.wr_id,
            status,
            opcode,
            byte_len: w.length,
            qp_num: cx.qp.qpn,
            port_num: 1,
            ..WorkCompletion::default()
        };
        post(cx.qp, &cx.qp.send_cq, &wc, false);
    }

    /// The oldest request is done: complete it and free its slot.
    pub(crate) fn retire_oldest(&mut self, cx: &Ctx<'_>, status: WcStatus) {
        let sq = &cx.qp.sq.ring;
        let old = self.tx.comp_wqe;
        let w = self.tx.sent[(old & sq.capacity()) as usize];
        self.tx.comp_wqe = sq.next(old);
        if self.tx.next_wqe == old {
            // A retry was resending it: go on after it, and never touch
            // its slot again, which is the process's now.
            let end = w.first + crate::proto::req::psn_span(w.kind, w.length, self.tx.mtu);
            self.tx.next_wqe = self.tx.comp_wqe;
            if self.tx.psn.diff(end) < 0 {
                self.tx.psn = end;
            }
        }
        // The slot is free before its completion is seen: a process that
        // polls the completion and posts again must find room (librxe
        // refuses a post to a full ring).
        cx.qp.sq.set_consumer(self.tx.comp_wqe);
        self.complete_send(cx, &w, status);
    }

    /// A request failed for good: it completes with `status`, the QP goes
    /// to the error state, and every other outstanding work request
    /// completes flushed.
    pub(crate) fn fail(&mut self, cx: &Ctx<'_>, status: WcStatus) {
        if self.attrs.state == State::Error {
            return;
        }
        if self.tx.comp_wqe != self.tx.started {
            self.retire_oldest(cx, status);
        }
        self.to_error(cx);
    }

    /// The QP goes to the error state on its own (its responder met a bad
    /// request, whose receive, if any, has its own status): every posted
    /// work request completes flushed, its own sends included.
    pub(crate) fn to_error(&mut self, cx: &Ctx<'_>) {
        if self.attrs.state == State::Error {
            return;
        }
        self.attrs.state = State::Error;
        self.flush(cx);
    }

    /// In the error state: completes every posted work request with
    /// `IB_WC_WR_FLUSH_ERR`, send and receive.
    pub(crate) fn flush(&mut self, cx: &Ctx<'_>) {
        let flushed = WcStatus::WrFlushErr;
        self.tx.retransmit_at = None;
        self.tx.rnr_until = None;
        let sq = &cx.qp.sq;
        let producer = sq.producer();
        while self.tx.comp_wqe != producer {
            if self.tx.comp_wqe == self.tx.started {
                // Never started: its ID is the first field of its slot.
                let mut id = [0u8; 8];
                let _ = sq.read_slot(self.tx.comp_wqe, &mut id);
                let i = (self.tx.started & sq.ring.capacity()) as usize;
                self.tx.sent[i].wr_id = u64::from_ne_bytes(id);
                self.tx.sent[i].signaled = true;
                self.tx.started = sq.ring.next(self.tx.started);
            }
            self.retire_oldest(cx, flushed);
        }
        self.tx.next_wqe = self.tx.comp_wqe;
        let rq = &cx.qp.rq;
        let producer = rq.producer();
        self.tx.recv = None;
        self.tx.write = None;
        self.tx.reading = None;
        while self.tx.rq_next != producer {
            let mut id = [0u8; 8];
            let _ = rq.read_slot(self.tx.rq_next, &mut id);
            let wc = WorkCompletion {
                wr_id: u64::from_ne_bytes(id),
                status: flushed,
                opcode: WcOpcode::Recv,
                qp_num: cx.qp.qpn,
                port_num: 1,
                ..WorkCompletion::default()
            };
            self.tx.rq_next = rq.ring.next(self.tx.rq_next);
            rq.set_consumer(self.tx.rq_next);
            post(cx.qp, &cx.qp.recv_cq, &wc, false);
        }
    }
}

/// Posts `wc`; a full CQ has reported its overflow to its consumer.
pub(crate) fn post(qp: &QpInner, cq: &CqInner, wc: &WorkCompletion, solicited: bool) {
    let wc = WorkCompletion { qp: qp.core, ..*wc };
    let _ = cq.post(&wc, solicited);
}

/// Walks the scatter list `sges` (local keys of `cx`'s PD) over message
/// bytes `off..off + len`, calling `f` with each piece's MR (checked for
/// `access`), its offset in the MR, and its range within the `len` bytes.
fn walk(
    cx: &Ctx<'_>,
    sges: &SgeList<'_>,
    mut off: u32,
    len: usize,
    access: Access,
    mut f: impl FnMut(&MrInner, usize, core::ops::Range<usize>) -> Result,
) -> core::result::Result<(), MrError> {
    let mut done = 0usize;
    for sge in sges.iter() {
        if done == len {
            break;
        }
        if off >= sge.length {
            off -= sge.length;
            continue;
        }
        let n = ((sge.length - off) as usize).min(len - done);
        let addr = sge.addr.wrapping_add(u64::from(off));
        let (mr, at) = mr::lookup(cx.dev, cx.qp.pd, sge.lkey, access, addr, n as u32)?;
        f(&mr, at, done..done + n).map_err(|_| MrError::Bounds)?;
        done += n;
        off = 0;
    }
    if done == len {
        Ok(())
    } else {
        Err(MrError::Bounds)
    }
}

/// Copies message bytes `off..off + out.len()` out of the scatter list
/// `sges` into `out`.
pub(crate) fn gather(
    cx: &Ctx<'_>,
    sges: &SgeList<'_>,
    off: u32,
    out: &mut [u8],
) -> core::result::Result<(), MrError> {
    let len = out.len();
    walk(cx, sges, off, len, Access::LOCAL_READ, |mr, at, r| {
        mr.read(at, &mut out[r])
    })
}

/// Copies `data` into the scatter list `sges` at message offset `off`.
pub(crate) fn scatter(
    cx: &Ctx<'_>,
    sges: &SgeList<'_>,
    off: u32,
    data: &[u8],
) -> core::result::Result<(), MrError> {
    walk(
        cx,
        sges,
        off,
        data.len(),
        Access::LOCAL_WRITE,
        // SAFETY: `walk` hands each piece's range as `lookup` granted it,
        // with local write access.
        |mr, at, r| unsafe { mr.write(at, &data[r]) },
    )
}
