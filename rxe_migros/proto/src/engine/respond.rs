// SPDX-License-Identifier: GPL-2.0

//! The responder (the C rxe's rxe_resp.c): judges each request packet with
//! the core's [`Responder`], then carries it out: SEND payloads into
//! receive work requests, WRITEs into the target MR, READs answered from
//! it, atomics carried out on it and their results kept for replay, with
//! ACKs, NAKs and RNR NAKs on RC.
//!
//! [`Responder`]: super::resp::Responder

use super::aeth::{NakCode, Syndrome};
use super::hdr::{Aeth, AtomicAckEth, AtomicEth, Bth, Extensions, Feth, Reth};
use super::mig::MigState;
use super::opcode::{flags, op, TRANSPORT_RC};
use super::psn::Psn;
use super::req::Service;
use super::resp::{Request, Verdict};
use super::roce::Datagram;
use super::wqe;
use super::{
    scatter, AtomicOp, Completion, Count, Engine, Io, Need, Network, QpEvent, Queue, ReadReply,
    RecvProgress, Status, Storage, TxError, WcKind, WriteProgress, ACCESS_FLUSH_GLOBAL,
    ACCESS_REMOTE_ATOMIC, ACCESS_REMOTE_READ, ACCESS_REMOTE_WRITE, FLUSH_GLOBAL, FLUSH_MR,
    FLUSH_PERSISTENT, GRH_BYTES, GSI_QKEY, GSI_QPN, PKEY,
};

/// Whether a request of `info` is answered by a response of its own (READ
/// data, an atomic ACK, or for ATOMIC WRITE and FLUSH an empty READ
/// response), not by the ACKs of the stream.
fn answered(info: &super::opcode::OpInfo) -> bool {
    info.has(flags::READ)
        || info.has(flags::ATOMIC)
        || info.has(flags::ATOMIC_WRITE)
        || info.has(flags::FLUSH)
}

/// ACK credits: the C rxe advertises an unlimited receive queue.
const CREDITS_UNLIMITED: u8 = 0x1f;

/// What went wrong carrying out a request, as the NAK and completion say.
#[derive(Clone, Copy)]
enum ExecError {
    /// The receive work request is too small (IB_WC_LOC_LEN_ERR, NAK
    /// invalid request).
    Length,
    /// An R_Key or local key problem (NAK remote access).
    Access,
    /// A malformed receive work request (NAK remote operational).
    Operational,
    /// A request the responder cannot carry out as asked: an atomic on
    /// unaligned memory (NAK invalid request).
    Invalid,
    /// A SEND_WITH_INV whose rkey can not be invalidated here (NAK
    /// invalid request; its receive completes with
    /// `IB_WC_REM_INV_REQ_ERR`, as in the C rxe).
    Invalidate,
}

/// A receive completion's particulars.
struct Received {
    len: u32,
    src_qp: u32,
    imm: Option<u32>,
    solicited: bool,
    network: Network,
    /// The rkey a SEND_WITH_INV invalidated.
    invalidated: Option<u32>,
}

impl Received {
    const NONE: Received = Received {
        len: 0,
        src_qp: 0,
        imm: None,
        solicited: false,
        network: Network::None,
        invalidated: None,
    };
}

impl<S: Storage> Engine<S> {
    /// Whether the QP lets its partner do `access` (the remote access
    /// flags Modify QP gave it).
    fn remote_access(&self, access: u32) -> bool {
        self.attrs.access & access == access
    }

    /// A request packet arrived.
    pub(super) fn on_request<I: Io<S = S>>(&mut self, io: &I, d: &Datagram<'_>, l3: &[u8]) {
        if !self.attrs.state.responds() {
            return;
        }
        let pkt = &d.packet;
        let info = pkt.info;
        let service = self.cfg.service;
        if service == Service::Ud {
            // The GSI QP takes the well-known Q_Key whatever its attribute
            // says (the C rxe's check_keys).
            let qkey = if self.cfg.qpn == GSI_QPN {
                GSI_QKEY
            } else {
                self.attrs.qkey
            };
            match pkt.deth() {
                Some(deth) if deth.qkey == qkey => {}
                _ => {
                    if io.count_first(Count::RcvdBadQkey) {
                        io.log(format_args!(
                            "QP {}: dropped a datagram with a wrong Q_Key; counting further ones in hw_counters/rcvd_bad_qkey",
                            self.cfg.qpn
                        ));
                    }
                    return;
                }
            }
        }
        let payload = pkt.payload();
        let psn = pkt.bth.psn;
        // A message that takes a receive work request needs one waiting:
        // on RC the one the responder expects next (duplicates and gaps
        // take none), on UC and UD any, since any may start a message.
        if info.has(flags::RWR)
            && self.mig != MigState::Stopped
            && self.recv.is_none()
            && (service != Service::Rc || psn == self.responder.epsn())
            && !self.recv_ready(io)
        {
            if service == Service::Rc {
                io.count(Count::SndRnr, 1);
                let timer = self.attrs.min_rnr_timer;
                self.send_ack(io, Syndrome::RnrNak { timer }, psn);
            }
            return;
        }
        let reth = pkt.reth();
        let req = Request {
            opcode: pkt.bth.opcode,
            psn,
            len: payload.len() as u32,
            read_len: reth.map_or(0, |r| r.len),
        };
        match self.responder.receive(&req) {
            Verdict::Execute { first, last } => {
                if let Err(e) = self.execute(io, d, l3, first, last) {
                    self.exec_failed(io, psn, e);
                    return;
                }
                if service == Service::Rc && !answered(&info) {
                    if pkt.bth.ack_req {
                        self.ack_last(io);
                    } else {
                        self.ack_owed = true;
                    }
                }
                self.partner_is_back(io);
            }
            Verdict::Duplicate => {
                io.count(Count::DupReq, 1);
                if info.has(flags::READ) {
                    if let Some(reth) = reth {
                        // Replayed from the request: the same bytes again.
                        if let Err(e) = self.read_respond(io, reth, psn) {
                            self.exec_failed(io, psn, e);
                        }
                    }
                } else if info.has(flags::ATOMIC) {
                    // Answered with what it returned the first time, never
                    // carried out twice. One older than the replies kept
                    // goes unanswered, as in the C rxe: its requester
                    // retries until it gives up.
                    if let Some(orig) = self.atomic_result(psn) {
                        self.send_atomic_ack(io, psn, orig);
                    }
                } else if answered(&info) {
                    // ATOMIC WRITE and FLUSH: carried out once already (the
                    // PSN is behind the one expected), answered again.
                    self.send_read_ack(io, psn);
                } else {
                    self.ack_last(io);
                }
            }
            Verdict::OutOfSequence { nak } => {
                io.count(Count::OutOfSeqReq, 1);
                if nak {
                    let epsn = self.responder.epsn();
                    self.send_ack(io, Syndrome::Nak(NakCode::PsnSequenceError), epsn);
                }
            }
            Verdict::Invalid => {
                if service == Service::Rc {
                    self.send_ack(io, Syndrome::Nak(NakCode::InvalidRequest), psn);
                    if let Some(r) = self.recv.take() {
                        self.complete_recv(io, r.wr_id, Status::RemInvReqErr, &Received::NONE);
                    }
                    if self.enter_error(io) {
                        io.event(QpEvent::RequestError);
                    }
                }
            }
            Verdict::Paused => {
                io.count(Count::PausedNakSent, 1);
                let epsn = self.responder.epsn();
                self.send_ack(io, Syndrome::Nak(NakCode::Paused), epsn);
            }
            Verdict::Resume => {
                // A UD QP's moves are its device's to hear (QP 1).
                if service != Service::Ud {
                    self.on_resume_request(io, d);
                }
            }
        }
    }

    /// A request could not be carried out: on RC, NAK it and fail the QP;
    /// on UD and UC, drop the message.
    fn exec_failed<I: Io<S = S>>(&mut self, io: &I, psn: Psn, e: ExecError) {
        let (code, status, event) = match e {
            ExecError::Length => (
                NakCode::InvalidRequest,
                Status::LocLenErr,
                QpEvent::RequestError,
            ),
            ExecError::Access => (
                NakCode::RemoteAccessError,
                Status::LocProtErr,
                QpEvent::AccessError,
            ),
            ExecError::Operational => (
                NakCode::RemoteOperationalError,
                Status::LocQpOpErr,
                QpEvent::Fatal,
            ),
            ExecError::Invalid => (
                NakCode::InvalidRequest,
                Status::LocQpOpErr,
                QpEvent::RequestError,
            ),
            ExecError::Invalidate => (
                NakCode::InvalidRequest,
                Status::RemInvReqErr,
                QpEvent::RequestError,
            ),
        };
        if let Some(r) = self.recv.take() {
            self.complete_recv(io, r.wr_id, status, &Received::NONE);
        }
        self.write = None;
        if self.cfg.service == Service::Rc {
            self.send_ack(io, Syndrome::Nak(code), psn);
            // The requester hears it from its completion, the owner here.
            if self.enter_error(io) {
                io.event(event);
            }
        }
    }

    fn execute<I: Io<S = S>>(
        &mut self,
        io: &I,
        d: &Datagram<'_>,
        l3: &[u8],
        first: bool,
        last: bool,
    ) -> Result<(), ExecError> {
        let pkt = &d.packet;
        let info = pkt.info;
        let payload = pkt.payload();
        if info.has(flags::READ) {
            let reth = pkt.reth().ok_or(ExecError::Operational)?;
            return self.read_respond(io, reth, pkt.bth.psn);
        }
        if info.has(flags::ATOMIC) {
            let a = pkt.atomic_eth().ok_or(ExecError::Operational)?;
            return self.atomic_respond(io, pkt.bth.opcode & 0x1f, a, pkt.bth.psn);
        }
        if info.has(flags::ATOMIC_WRITE) {
            let reth = pkt.reth().ok_or(ExecError::Operational)?;
            return self.atomic_write_respond(io, reth, payload, pkt.bth.psn);
        }
        if info.has(flags::FLUSH) {
            let reth = pkt.reth().ok_or(ExecError::Operational)?;
            let feth = pkt.feth().ok_or(ExecError::Operational)?;
            return self.flush_respond(io, reth, feth, pkt.bth.psn);
        }
        if info.has(flags::SEND) {
            if first {
                // The caller checked that a receive work request waits
                // (RNR otherwise); its slot is read as data is placed.
                self.recv = Some(RecvProgress {
                    wr_id: 0,
                    offset: 0,
                });
                if self.cfg.service == Service::Ud {
                    let grh = grh_of(d, l3);
                    self.recv_data(io, &grh)?;
                }
            }
            self.recv_data(io, payload)?;
            if last {
                // The rkey goes before the receive completes.
                let invalidated = pkt.ieth().map(|h| h.rkey);
                if let Some(rkey) = invalidated {
                    io.invalidate(rkey, true)
                        .map_err(|_| ExecError::Invalidate)?;
                }
                let r = self.recv.take().ok_or(ExecError::Operational)?;
                io.count(Count::RdmaRecvs, 1);
                let got = Received {
                    len: r.offset,
                    src_qp: pkt.deth().map_or(self.attrs.dest_qpn, |h| h.src_qpn),
                    imm: pkt.immdt().map(|i| u32::from_ne_bytes(i.imm)),
                    solicited: pkt.bth.se,
                    network: if d.ipv6 { Network::Ipv6 } else { Network::Ipv4 },
                    invalidated,
                };
                self.complete_recv(io, r.wr_id, Status::Success, &got);
            }
            return Ok(());
        }
        // RDMA WRITE.
        if first {
            let reth = pkt.reth().ok_or(ExecError::Operational)?;
            let target = if reth.len == 0 {
                None
            } else {
                Some(
                    io.lookup(reth.rkey, Need::RemoteWrite, reth.va, reth.len)
                        .map_err(|_| ExecError::Access)?,
                )
            };
            if !self.remote_access(ACCESS_REMOTE_WRITE) && reth.len != 0 {
                return Err(ExecError::Access);
            }
            self.write = target.map(|(mr, at)| WriteProgress {
                mr,
                at,
                left: reth.len,
                total: reth.len,
            });
        }
        let total = if let Some(w) = self.write.as_mut() {
            let n = payload.len() as u32;
            if n > w.left {
                return Err(ExecError::Length);
            }
            // SAFETY: `lookup` granted remote write over `w.total` bytes
            // from the RETH's address; `w.at` has advanced by what was
            // written and `n <= w.left`, so the payload is within them.
            unsafe { io.write(&w.mr, w.at, payload) }.map_err(|_| ExecError::Access)?;
            w.at += payload.len();
            w.left -= n;
            w.total
        } else if payload.is_empty() {
            0
        } else {
            return Err(ExecError::Length);
        };
        if last {
            self.write = None;
            if let Some(imm) = pkt.immdt() {
                let imm = u32::from_ne_bytes(imm.imm);
                self.complete_write_imm(io, total, imm, pkt.bth.se);
            }
        }
        Ok(())
    }

    /// Whether a receive work request waits for a new message: on the
    /// QP's ring, or on a shared receive queue one taken already or taken
    /// now (the C rxe's get_srq_wqe).
    fn recv_ready<I: Io<S = S>>(&mut self, io: &I) -> bool {
        if !self.cfg.srq {
            return io.producer(Queue::Recv) != self.rq_next;
        }
        if !self.taken {
            self.taken = io.take_shared(self.taken_slot());
        }
        self.taken
    }

    /// Places `data` next in the receive work request being filled.
    fn recv_data<I: Io<S = S>>(&mut self, io: &I, data: &[u8]) -> Result<(), ExecError> {
        let mut slot = core::mem::take(&mut self.slot);
        let res = (|| {
            let bytes = self.recv_wqe(io, slot.as_mut())?;
            let r = self.recv.as_mut().ok_or(ExecError::Operational)?;
            // Its ID is the first field, whatever the rest holds: a
            // request that does not parse completes under it too.
            if let Some(id) = bytes.get(..8) {
                r.wr_id = u64::from_ne_bytes(id.try_into().unwrap_or_default());
            }
            let w = wqe::parse_recv(bytes, self.cfg.max_recv_sge)
                .map_err(|_| ExecError::Operational)?;
            let end = r.offset as u64 + data.len() as u64;
            if end > u64::from(w.length) {
                return Err(ExecError::Length);
            }
            scatter(io, &w.sges, r.offset, data).map_err(|_| ExecError::Access)?;
            r.offset = end as u32;
            Ok(())
        })();
        self.slot = slot;
        res
    }

    /// The receive work request being filled, in `slot`: copied out of the
    /// QP's ring, or the one taken from the shared receive queue, which
    /// waits at its end ([`Config::slot_room`]).
    fn recv_wqe<'a, I: Io<S = S>>(
        &self,
        io: &I,
        slot: &'a mut [u8],
    ) -> Result<&'a [u8], ExecError> {
        if self.cfg.srq {
            if !self.taken {
                return Err(ExecError::Operational);
            }
            return Ok(super::taken_in(slot, &self.cfg));
        }
        io.read_slot(Queue::Recv, self.rq_next, slot)
            .map_err(|_| ExecError::Operational)?;
        Ok(slot)
    }

    /// Completes the receive work request at the head of the queue.
    fn complete_recv<I: Io<S = S>>(&mut self, io: &I, wr_id: u64, status: Status, r: &Received) {
        // A UD receive starts with the GRH room; a kernel consumer also
        // learns which header it holds (`ib_init_ah_attr_from_wc`).
        let ud = self.cfg.service == Service::Ud;
        let wc = Completion {
            wr_id,
            status,
            kind: WcKind::Recv,
            byte_len: r.len,
            imm: r.imm,
            qpn: self.cfg.qpn,
            src_qp: r.src_qp,
            grh: ud,
            network: if ud { r.network } else { Network::None },
            invalidated: r.invalidated,
        };
        self.advance_rq(io);
        io.complete(Queue::Recv, &wc, r.solicited);
    }

    /// A WRITE with immediate consumed the head receive work request (the
    /// caller checked that one waits): completes it, without data.
    fn complete_write_imm<I: Io<S = S>>(&mut self, io: &I, len: u32, imm: u32, solicited: bool) {
        let wc = Completion {
            wr_id: self.head_recv_id(io),
            status: Status::Success,
            kind: WcKind::RecvRdmaWithImm,
            byte_len: len,
            imm: Some(imm),
            qpn: self.cfg.qpn,
            src_qp: self.attrs.dest_qpn,
            grh: false,
            network: Network::None,
            invalidated: None,
        };
        self.advance_rq(io);
        io.complete(Queue::Recv, &wc, solicited);
    }

    fn advance_rq<I: Io<S = S>>(&mut self, io: &I) {
        if self.cfg.srq {
            // Its slot went back to the shared queue's owner when taken.
            self.taken = false;
            return;
        }
        self.rq_next = self.cfg.rq.next(self.rq_next);
        io.set_consumer(Queue::Recv, self.rq_next);
    }

    /// Answers a READ request for `reth` whose first response has `psn`:
    /// checks it and begins the reply, which [`Engine::read_burst`] sends
    /// a burst at a time.
    fn read_respond<I: Io<S = S>>(
        &mut self,
        io: &I,
        reth: Reth,
        psn: Psn,
    ) -> Result<(), ExecError> {
        if !self.remote_access(ACCESS_REMOTE_READ) && reth.len != 0 {
            return Err(ExecError::Access);
        }
        let mr = if reth.len == 0 {
            None
        } else {
            Some(
                io.lookup(reth.rkey, Need::RemoteRead, reth.va, reth.len)
                    .map_err(|_| ExecError::Access)?,
            )
        };
        if self.path.is_none() {
            return Err(ExecError::Operational);
        }
        self.reading = Some(ReadReply {
            mr,
            psn,
            len: reth.len,
            packets: self.mtu.packets(reth.len).max(1),
            next: 0,
        });
        Ok(())
    }

    /// Sends the next packets of the READ reply under way, at most
    /// `budget` of them (taken from it). The reply is over when it has
    /// sent them all, when one could not go out (lost like on a wire: the
    /// requester asks again), or when the QP left RTR and RTS.
    pub(super) fn read_burst<I: Io<S = S>>(&mut self, io: &I, budget: &mut u32) {
        let Some(mut r) = self.reading.take() else {
            return;
        };
        if !self.attrs.state.responds() {
            return;
        }
        let Some(path) = self.path else {
            return;
        };
        let mtu = self.mtu.bytes();
        let n = r.packets;
        while r.next < n {
            if *budget == 0 {
                self.reading = Some(r);
                return;
            }
            *budget -= 1;
            let i = r.next;
            let opcode = match (n, i) {
                (1, _) => op::RDMA_READ_RESPONSE_ONLY,
                (_, 0) => op::RDMA_READ_RESPONSE_FIRST,
                (_, i) if i == n - 1 => op::RDMA_READ_RESPONSE_LAST,
                _ => op::RDMA_READ_RESPONSE_MIDDLE,
            } | TRANSPORT_RC;
            let off = i * mtu;
            let len = (r.len - off).min(mtu) as usize;
            let ext = Extensions {
                aeth: Some(Aeth {
                    syndrome: Syndrome::Ack {
                        credits: CREDITS_UNLIMITED,
                    }
                    .to_byte(),
                    msn: self.responder.msn(),
                }),
                ..Extensions::default()
            };
            let bth = Bth {
                opcode,
                pkey: PKEY,
                dest_qpn: self.attrs.dest_qpn,
                psn: r.psn + i,
                ..Bth::default()
            };
            let sent = io.transmit(&path, bth, &ext, len, |buf| match &r.mr {
                Some((mr, at)) => io
                    .read(mr, at + off as usize, buf)
                    .map_err(|_| TxError::Fault),
                None => Ok(()),
            });
            if let Err(e) = sent {
                if e == TxError::Fault {
                    self.exec_failed(io, r.psn, ExecError::Access);
                }
                return;
            }
            r.next += 1;
        }
    }

    /// Carries out the atomic request at `psn` and answers it; the answer
    /// is kept for a duplicate of the request.
    fn atomic_respond<I: Io<S = S>>(
        &mut self,
        io: &I,
        opcode: u8,
        a: AtomicEth,
        psn: Psn,
    ) -> Result<(), ExecError> {
        if !self.remote_access(ACCESS_REMOTE_ATOMIC) {
            return Err(ExecError::Access);
        }
        if a.va % 8 != 0 {
            return Err(ExecError::Invalid);
        }
        let (mr, at) = io
            .lookup(a.rkey, Need::RemoteAtomic, a.va, 8)
            .map_err(|_| ExecError::Access)?;
        let op = if opcode == op::COMPARE_SWAP {
            AtomicOp::CompareSwap {
                compare: a.compare,
                swap: a.swap_add,
            }
        } else {
            AtomicOp::FetchAdd { add: a.swap_add }
        };
        // SAFETY: `lookup` granted remote atomic access to the eight bytes
        // at the ATOMIC ETH's address, which is `at` in `mr`.
        let orig = unsafe { io.atomic(&mr, at, op) }.map_err(|_| ExecError::Access)?;
        self.keep_atomic(psn, orig);
        self.send_atomic_ack(io, psn, orig);
        Ok(())
    }

    /// Carries out the ATOMIC WRITE at `psn` (IBA A19): its eight bytes of
    /// payload stored at the RETH's address, aligned, in one step, on an
    /// MR with remote write access; then answered. A duplicate is answered
    /// again and not carried out twice (see `on_request`).
    fn atomic_write_respond<I: Io<S = S>>(
        &mut self,
        io: &I,
        reth: Reth,
        payload: &[u8],
        psn: Psn,
    ) -> Result<(), ExecError> {
        if !self.remote_access(ACCESS_REMOTE_WRITE) {
            return Err(ExecError::Access);
        }
        let value: [u8; 8] = payload.try_into().map_err(|_| ExecError::Length)?;
        if reth.len != 8 {
            return Err(ExecError::Length);
        }
        if reth.va % 8 != 0 {
            return Err(ExecError::Invalid);
        }
        let (mr, at) = io
            .lookup(reth.rkey, Need::RemoteWrite, reth.va, 8)
            .map_err(|_| ExecError::Access)?;
        let op = AtomicOp::Write {
            value: u64::from_ne_bytes(value),
        };
        // SAFETY: `lookup` granted remote write access to the eight bytes
        // at the RETH's address, which is `at` in `mr`.
        unsafe { io.atomic(&mr, at, op) }.map_err(|_| ExecError::Access)?;
        self.send_read_ack(io, psn);
        Ok(())
    }

    /// Carries out the FLUSH at `psn` (IBA A19): what was written before
    /// it is made globally visible, which a software device's stores are
    /// once a full fence orders them before the answer. Persistence
    /// (`IB_FLUSH_PERSISTENT`) is not offered: refused as an access error,
    /// like a placement the QP or MR does not allow.
    fn flush_respond<I: Io<S = S>>(
        &mut self,
        io: &I,
        reth: Reth,
        feth: Feth,
        psn: Psn,
    ) -> Result<(), ExecError> {
        let placement = feth.placement;
        if placement == 0 || placement & !(FLUSH_GLOBAL | FLUSH_PERSISTENT) != 0 || feth.level > 1 {
            return Err(ExecError::Invalid);
        }
        if placement & FLUSH_PERSISTENT != 0 || !self.remote_access(ACCESS_FLUSH_GLOBAL) {
            return Err(ExecError::Access);
        }
        let found = if feth.level == FLUSH_MR {
            io.lookup(reth.rkey, Need::RemoteFlushMr, 0, 0)
        } else {
            io.lookup(reth.rkey, Need::RemoteFlush, reth.va, reth.len)
        };
        found.map_err(|_| ExecError::Access)?;
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.send_read_ack(io, psn);
        Ok(())
    }

    /// Answers the ATOMIC WRITE or FLUSH at `psn`: a READ response without
    /// data, with an ACK (as the C rxe's send_read_response_ack). Like any
    /// ACK it acknowledges everything before it too.
    fn send_read_ack<I: Io<S = S>>(&mut self, io: &I, psn: Psn) {
        self.ack_owed = false;
        let ack = Syndrome::Ack {
            credits: CREDITS_UNLIMITED,
        };
        self.answer(io, op::RDMA_READ_RESPONSE_ONLY, ack, psn, None);
    }

    /// Answers the atomic request at `psn` with `orig`. Like any ACK it
    /// acknowledges everything before it too.
    fn send_atomic_ack<I: Io<S = S>>(&mut self, io: &I, psn: Psn, orig: u64) {
        self.ack_owed = false;
        let ack = Syndrome::Ack {
            credits: CREDITS_UNLIMITED,
        };
        self.answer(
            io,
            op::ATOMIC_ACKNOWLEDGE,
            ack,
            psn,
            Some(AtomicAckEth { orig }),
        );
    }

    /// Acknowledges everything carried out so far.
    pub(super) fn ack_last<I: Io<S = S>>(&mut self, io: &I) {
        self.ack_owed = false;
        let last = self.responder.epsn() - 1;
        let ack = Syndrome::Ack {
            credits: CREDITS_UNLIMITED,
        };
        self.send_ack(io, ack, last);
    }

    /// Sends an ACK or NAK with `syndrome` for `psn`.
    fn send_ack<I: Io<S = S>>(&self, io: &I, syndrome: Syndrome, psn: Psn) {
        self.answer(io, op::ACKNOWLEDGE, syndrome, psn, None);
    }

    /// Sends a response of `opcode` (an ACK or NAK, an atomic ACK with
    /// `atomic`, an empty READ response) with `syndrome` for `psn`.
    fn answer<I: Io<S = S>>(
        &self,
        io: &I,
        opcode: u8,
        syndrome: Syndrome,
        psn: Psn,
        atomic: Option<AtomicAckEth>,
    ) {
        let Some(path) = self.path else {
            return;
        };
        let bth = Bth {
            opcode: opcode | TRANSPORT_RC,
            pkey: PKEY,
            dest_qpn: self.attrs.dest_qpn,
            psn,
            ..Bth::default()
        };
        let ext = Extensions {
            aeth: Some(Aeth {
                syndrome: syndrome.to_byte(),
                msn: self.responder.msn(),
            }),
            atomic_ack: atomic,
            ..Extensions::default()
        };
        let _ = io.transmit(&path, bth, &ext, 0, |_| Ok(()));
    }
}

/// The 40 bytes a UD receive gets before the payload: the IPv6 header, or
/// 20 zero bytes and the IPv4 header (`union rdma_network_hdr`).
fn grh_of(d: &Datagram<'_>, l3: &[u8]) -> [u8; GRH_BYTES as usize] {
    let mut grh = [0u8; GRH_BYTES as usize];
    if d.ipv6 {
        grh.copy_from_slice(&l3[..40]);
    } else {
        grh[20..].copy_from_slice(&l3[..20]);
    }
    grh
}
