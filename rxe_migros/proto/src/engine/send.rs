// SPDX-License-Identifier: GPL-2.0

//! The requester (the C rxe's rxe_req.c): takes send work requests out of
//! the send queue in order, cuts each into packets with the core's
//! [`Segments`], and sends them. On RC it keeps at most
//! [`MAX_UNACKED_PSNS`] PSNs unacknowledged and as many READs and atomics
//! outstanding as `max_rd_atomic` allows; UD and UC requests complete once
//! sent.

use super::hdr::{AtomicEth, Bth, Deth, Extensions, Feth, Ieth, Immdt, Reth};
use super::modify::QpState as State;
use super::opcode::{flags, OpInfo, TRANSPORT_RC};
use super::psn::Psn;
use super::req::{psn_span, Kind, Segment, Segments, Service};
use super::wqe::{self, send_flags, Data, Limits, Operation};
use super::{
    gather, Count, Engine, Io, Path, Queue, SentWqe, Status, Storage, TxError, MAX_UNACKED_PSNS,
    PKEY,
};

/// A controlled Q_Key (the top bit) in a UD request means "use the QP's".
const QKEY_CONTROLLED: u32 = 0x8000_0000;

/// Why a request cannot go on.
enum Stop {
    /// Wait: window, READ budget, fence, or nothing to send.
    Wait,
    /// The request is bad: complete it with this status; the QP fails.
    Fail(Status),
}

impl<S: Storage> Engine<S> {
    /// The send doorbell: sends what the send queue holds, as far as the
    /// window allows.
    pub fn doorbell<I: Io<S = S>>(&mut self, io: &I, now: super::Time) {
        self.now = now;
        self.send_requests(io);
    }

    /// Sends what the send queue holds, as far as the window allows.
    pub(super) fn send_requests<I: Io<S = S>>(&mut self, io: &I) {
        if !self.attrs.state.has_sent()
            || !self.mig.may_send()
            || self.completer.is_paused()
            || self.rnr_until.is_some()
        {
            return;
        }
        loop {
            match self.send_one(io) {
                Ok(()) => {}
                Err(Stop::Wait) => return,
                Err(Stop::Fail(status)) => {
                    self.fail(io, status);
                    return;
                }
            }
        }
    }

    fn send_limits(&self) -> Limits {
        Limits {
            max_sge: self.cfg.max_send_sge,
            max_inline: self.cfg.max_inline,
            ud: self.cfg.service == Service::Ud,
            fast_reg: self.cfg.kernel,
        }
    }

    /// Starts the request at `next_wqe`: reads and checks it, and records
    /// it for the completer.
    fn start<I: Io<S = S>>(&mut self, io: &I) -> Result<(), Stop> {
        let ring = self.cfg.sq;
        let index = self.next_wqe;
        // UC and UD requests complete as they are sent: every one before
        // this is complete already. An RC request may have to wait.
        if self.cfg.service == Service::Rc {
            let mut head = [0u8; wqe::PEEK_BYTES];
            io.read_slot(Queue::Send, index, &mut head)
                .map_err(|_| Stop::Wait)?;
            let (code, flags) = wqe::peek_send(&head).ok_or(Stop::Wait)?;
            // A local operation waits for every request before it to
            // complete (`send_one` then retires it as the oldest): for
            // LOCAL_INV this is IBA 10.6.5.1's local invalidate fence,
            // which the C rxe makes mandatory too; a bind waits so that no
            // earlier request meets the window changed under it.
            let local = matches!(
                code,
                wqe::opcode::LOCAL_INV | wqe::opcode::BIND_MW | wqe::opcode::REG_MR
            );
            if local && self.comp_wqe != index {
                return Err(Stop::Wait);
            }
            // READs and atomics outstanding, and a fenced request waits
            // for them all.
            let mut reads = 0;
            let mut i = self.comp_wqe;
            while i != index {
                if self.sent_at(i).kind.answered() {
                    reads += 1;
                }
                i = ring.next(i);
            }
            if reads > 0 && flags & send_flags::FENCE != 0 {
                return Err(Stop::Wait);
            }
            let needs_resource = matches!(
                code,
                wqe::opcode::RDMA_READ
                    | wqe::opcode::ATOMIC_CMP_AND_SWP
                    | wqe::opcode::ATOMIC_FETCH_AND_ADD
                    | wqe::opcode::ATOMIC_WRITE
                    | wqe::opcode::FLUSH
            );
            if needs_resource && reads >= u32::from(self.attrs.max_rd_atomic.max(1)) {
                return Err(Stop::Wait);
            }
        }
        let mut slot = core::mem::take(&mut self.slot);
        let started = self.parse_into_sent(io, slot.as_mut(), index);
        self.slot = slot;
        started
    }

    fn parse_into_sent<I: Io<S = S>>(
        &mut self,
        io: &I,
        slot: &mut [u8],
        index: u32,
    ) -> Result<(), Stop> {
        let bad = Stop::Fail(Status::LocQpOpErr);
        io.read_slot(Queue::Send, index, slot)
            .map_err(|_| Stop::Wait)?;
        // Refused requests complete in error under their own ID.
        let w = self.sent_mut(index);
        w.wr_id = u64::from_ne_bytes([
            slot[0], slot[1], slot[2], slot[3], slot[4], slot[5], slot[6], slot[7],
        ]);
        w.signaled = true;
        self.started = self.cfg.sq.next(self.started);
        let service = self.cfg.service;
        let w = wqe::parse_send(slot, &self.send_limits()).map_err(|e| match e {
            wqe::WqeError::BadLength | wqe::WqeError::InlineTooLong => {
                Stop::Fail(Status::LocLenErr)
            }
            _ => Stop::Fail(Status::LocQpOpErr),
        })?;
        let kind = Kind::of(&w.op);
        if !kind.allowed_on(service) {
            return Err(bad);
        }
        if service == Service::Ud && w.length > self.mtu.bytes() {
            return Err(Stop::Fail(Status::LocLenErr));
        }
        let entry = SentWqe {
            kind,
            op: w.op,
            first: self.psn,
            length: w.length,
            wr_id: w.wr_id,
            signaled: self.cfg.sq_sig_all || w.flags & send_flags::SIGNALED != 0,
            solicited: w.flags & send_flags::SOLICITED != 0,
            ud: w.ud,
            av: w.ud.and_then(|_| io.kernel_av(index)),
        };
        *self.sent_mut(index) = entry;
        Ok(())
    }

    /// Sends the next packet of the request at `next_wqe`.
    fn send_one<I: Io<S = S>>(&mut self, io: &I) -> Result<(), Stop> {
        let ring = self.cfg.sq;
        let index = self.next_wqe;
        if index == io.producer(Queue::Send) && index == self.started {
            return Err(Stop::Wait);
        }
        let service = self.cfg.service;
        if service == Service::Rc && self.psn.diff(self.acked) >= MAX_UNACKED_PSNS {
            return Err(Stop::Wait);
        }
        if index == self.started {
            // SQD finishes what it began and begins nothing.
            if self.attrs.state == State::Sqd {
                return Err(Stop::Wait);
            }
            self.start(io)?;
        }
        let w = self.sent_at(index);
        if w.kind.is_local() {
            self.next_wqe = ring.next(index);
            return match self.local_op(io, &w.op) {
                Status::Success => {
                    self.retire_oldest(io, Status::Success);
                    Ok(())
                }
                failed => Err(Stop::Fail(failed)),
            };
        }
        let mtu = self.mtu;
        let end = w.first + psn_span(w.kind, w.length, mtu);
        let segs = Segments::new(w.kind, service, w.length, mtu, w.first)
            .map_err(|_| Stop::Fail(Status::LocQpOpErr))?;
        let seg = if w.kind == Kind::Read {
            // One request asks for what has not come back yet.
            let mut s = segs.clone().next().ok_or(Stop::Wait)?;
            s.psn = self.psn;
            s.offset = (self.psn.diff(w.first).max(0) as u32).saturating_mul(mtu.bytes());
            Some(s)
        } else {
            let mut segs = segs;
            segs.skip_to(self.psn);
            segs.next().filter(|s| s.psn == self.psn)
        };
        let Some(seg) = seg else {
            // Nothing left of it to send.
            self.next_wqe = ring.next(index);
            return Ok(());
        };
        if let Err(status) = self.send_segment(io, &w, &seg) {
            return Err(Stop::Fail(status));
        }
        let last = w.kind == Kind::Read || seg.psn.next() == end;
        self.psn = if w.kind == Kind::Read {
            end
        } else {
            seg.psn.next()
        };
        if self.psn.diff(self.high) > 0 {
            self.high = self.psn;
        }
        if last {
            self.next_wqe = ring.next(index);
            if service != Service::Rc {
                // Unacknowledged services complete as they send.
                self.retire_oldest(io, Status::Success);
            }
        }
        if service == Service::Rc && self.retransmit_at.is_none() {
            self.restart_retransmit();
        }
        Ok(())
    }

    /// Carries out a local operation (every request before it is
    /// complete): the status its completion has.
    fn local_op<I: Io<S = S>>(&self, io: &I, op: &Operation) -> Status {
        match op {
            Operation::BindMw(b) => match io.bind_mw(b) {
                Ok(()) => Status::Success,
                Err(_) => Status::MwBindErr,
            },
            Operation::LocalInvalidate { rkey } => match io.invalidate(*rkey, false) {
                Ok(()) => Status::Success,
                Err(_) => Status::LocQpOpErr,
            },
            Operation::RegMr(r) => match io.reg_mr(r) {
                Ok(()) => Status::Success,
                Err(_) => Status::LocQpOpErr,
            },
            _ => Status::LocQpOpErr,
        }
    }

    /// Where a request goes: the path, the destination QP and the Q_Key.
    fn destination<I: Io<S = S>>(&self, io: &I, w: &SentWqe) -> Result<(Path, u32, u32), Status> {
        match (self.cfg.service, w.ud) {
            (Service::Ud, Some(ud)) => {
                // AH numbers are the device's, handed out in sequence:
                // only an AH of the QP's own PD (so of its own process) is
                // the QP's to send through, as in the C rxe's rxe_get_av.
                let mut av = match w.av {
                    Some(av) => av,
                    None => io.ah(ud.ah_num).ok_or(Status::LocQpOpErr)?,
                };
                // A UD QP that migrated, announced by its new device.
                if let Some(gid) = io.moved(&av.dgid, ud.remote_qpn) {
                    av.dgid = gid;
                }
                let path = Path {
                    av,
                    src_port: super::src_port(self.cfg.qpn),
                };
                let qkey = if ud.remote_qkey & QKEY_CONTROLLED != 0 {
                    self.attrs.qkey
                } else {
                    ud.remote_qkey
                };
                Ok((path, ud.remote_qpn, qkey))
            }
            _ => Ok((self.path.ok_or(Status::LocQpOpErr)?, self.attrs.dest_qpn, 0)),
        }
    }

    /// Builds and sends one packet of `w`.
    fn send_segment<I: Io<S = S>>(
        &mut self,
        io: &I,
        w: &SentWqe,
        seg: &Segment,
    ) -> Result<(), Status> {
        let info = OpInfo::lookup(seg.opcode).ok_or(Status::LocQpOpErr)?;
        let service = self.cfg.service;
        let (path, dest_qpn, qkey) = self.destination(io, w)?;
        let first = seg.offset == 0;
        let last_pkt = seg.offset + seg.len == w.length || w.kind.answered();
        let mut ext = Extensions::default();
        match w.op {
            Operation::Write { addr, rkey, imm } => {
                if first {
                    ext.reth = Some(Reth {
                        va: addr,
                        rkey,
                        len: w.length,
                    });
                }
                ext.immdt = imm.filter(|_| last_pkt).map(|i| Immdt {
                    imm: i.to_ne_bytes(),
                });
            }
            Operation::Read { addr, rkey } => {
                ext.reth = Some(Reth {
                    va: addr.wrapping_add(u64::from(seg.offset)),
                    rkey,
                    len: w.length.saturating_sub(seg.offset),
                });
            }
            Operation::Send { imm } => {
                ext.immdt = imm.filter(|_| last_pkt).map(|i| Immdt {
                    imm: i.to_ne_bytes(),
                });
            }
            Operation::SendInvalidate { rkey } => {
                ext.ieth = Some(Ieth { rkey });
            }
            Operation::CompareSwap {
                addr,
                rkey,
                compare,
                swap,
            } => {
                ext.atomic_eth = Some(AtomicEth {
                    va: addr,
                    rkey,
                    swap_add: swap,
                    compare,
                });
            }
            Operation::AtomicWrite { addr, rkey } => {
                ext.reth = Some(Reth {
                    va: addr,
                    rkey,
                    len: w.length,
                });
            }
            Operation::Flush {
                addr,
                rkey,
                placement,
                level,
            } => {
                ext.reth = Some(Reth {
                    va: addr,
                    rkey,
                    len: w.length,
                });
                ext.feth = Some(Feth { placement, level });
            }
            Operation::FetchAdd { addr, rkey, add } => {
                ext.atomic_eth = Some(AtomicEth {
                    va: addr,
                    rkey,
                    swap_add: add,
                    compare: 0,
                });
            }
            // Carried out in `send_one`, never sent.
            Operation::LocalInvalidate { .. } | Operation::BindMw(_) | Operation::RegMr(_) => {
                return Err(Status::LocQpOpErr)
            }
        }
        if service == Service::Ud {
            ext.deth = Some(Deth {
                qkey,
                src_qpn: self.cfg.qpn,
            });
        }
        let is_send = info.has(flags::SEND);
        let bth = Bth {
            opcode: seg.opcode,
            se: w.solicited && last_pkt && (is_send || ext.immdt.is_some()),
            pkey: PKEY,
            dest_qpn,
            ack_req: seg.ack_req && seg.opcode & 0xe0 == TRANSPORT_RC,
            psn: seg.psn,
            ..Bth::default()
        };
        let payload = seg.len as usize;
        let mut slot = core::mem::take(&mut self.slot);
        let res = if payload == 0 {
            io.transmit(&path, bth, &ext, 0, |_| Ok(()))
        } else {
            self.fill_from_slot(io, slot.as_mut(), seg.offset, &path, bth, &ext, payload)
        };
        self.slot = slot;
        match res {
            Ok(()) => {
                if is_send && last_pkt {
                    io.count(Count::RdmaSends, 1);
                }
                Ok(())
            }
            Err(TxError::Fault) => Err(Status::LocProtErr),
            Err(TxError::Invalid) => Err(Status::LocQpOpErr),
            // Out of memory or no route: the packet is lost, as on a wire;
            // the retransmission timer covers it (and UD is unreliable).
            Err(TxError::Dropped) => Ok(()),
        }
    }

    /// Sends a packet whose payload is `len` bytes of the message at `off`,
    /// from the request's inline data or scatter list in the ring.
    #[allow(clippy::too_many_arguments)]
    fn fill_from_slot<I: Io<S = S>>(
        &self,
        io: &I,
        slot: &mut [u8],
        off: u32,
        path: &Path,
        bth: Bth,
        ext: &Extensions,
        len: usize,
    ) -> Result<(), TxError> {
        let index = self.next_wqe;
        io.read_slot(Queue::Send, index, slot)
            .map_err(|_| TxError::Invalid)?;
        let w = wqe::parse_send(slot, &self.send_limits()).map_err(|_| TxError::Invalid)?;
        if w.length != self.sent_at(index).length {
            // Rewritten under us.
            return Err(TxError::Invalid);
        }
        io.transmit(path, bth, ext, len, |buf| match w.data {
            Data::Inline(bytes) => {
                let o = off as usize;
                buf.copy_from_slice(bytes.get(o..o + len).ok_or(TxError::Invalid)?);
                Ok(())
            }
            Data::Sges(list) => gather(io, &list, off, buf).map_err(|_| TxError::Fault),
        })
    }

    /// Goes back to resend from `from` (go-back-N): the request holding
    /// that PSN is sent again from there.
    pub(super) fn go_back(&mut self, from: Psn) {
        let ring = self.cfg.sq;
        let from = self.past_acknowledged(from);
        let mut i = self.comp_wqe;
        while i != self.started {
            let w = self.sent_at(i);
            let end = w.first + psn_span(w.kind, w.length, self.mtu);
            if from.diff(end) < 0 {
                break;
            }
            i = ring.next(i);
        }
        self.next_wqe = i;
        self.psn = from;
    }

    /// Where go-back-N to `from` may start instead: ACKs are cumulative,
    /// so what the responder acknowledged within the request holding
    /// `from` need not go again. Its last packet always goes again: an
    /// ACK that covered it may have been spent on an older request (one
    /// READ waiting for its data), and only the duplicate's ACK completes
    /// it now. A READ is asked for again from `from`, where its data
    /// stopped: an ACK brings no READ data.
    fn past_acknowledged(&self, from: Psn) -> Psn {
        if self.acked.diff(from) <= 0 || self.acked.diff(self.high) > 0 {
            return from;
        }
        let ring = self.cfg.sq;
        let mut i = self.comp_wqe;
        while i != self.started {
            let w = self.sent_at(i);
            let end = w.first + psn_span(w.kind, w.length, self.mtu);
            if end.diff(from) > 0 {
                if w.kind == Kind::Read {
                    return from;
                }
                let last = end - 1;
                return if self.acked.diff(last) < 0 {
                    self.acked
                } else {
                    last
                };
            }
            i = ring.next(i);
        }
        from
    }
}
