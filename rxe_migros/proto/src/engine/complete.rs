// SPDX-License-Identifier: GPL-2.0

//! The completer (the C rxe's rxe_comp.c): feeds ACKs, NAKs and READ
//! responses to the core's [`Completer`] with the oldest outstanding
//! request, and carries out what it answers: completions, READ data and
//! atomic results placed into the request's scatter list, go-back-N and
//! RNR waits. The retransmission timer comes here too.
//!
//! [`Completer`]: super::comp::Completer

use super::aeth::{NakCode, Syndrome};
use super::comp::{pending, Action, Failure, Pending, Response};
use super::hdr::Packet;
use super::mig::MigState;
use super::opcode::{flags, op};
use super::req::{Kind, Service};
use super::wqe::{self, Data, Limits};
use super::{scatter, Count, Engine, Fault, Io, Queue, Status, Storage};

impl<S: Storage> Engine<S> {
    /// The oldest started request, if any, as the completer sees it.
    pub(super) fn oldest(&self) -> Option<Pending> {
        if self.comp_wqe == self.started {
            return None;
        }
        let w = self.sent_at(self.comp_wqe);
        Some(pending(w.kind, w.first, w.length, self.mtu))
    }

    /// A response packet (ACK, NAK, READ response) arrived.
    pub(super) fn on_response<I: Io<S = S>>(&mut self, io: &I, pkt: &Packet<'_>) {
        match self.mig {
            // Ignored: go-back-N earns them again after the resume.
            MigState::Stopped => return,
            // The partner answers: it heard the RESUME.
            MigState::Resuming { .. } if pkt.aeth().is_some() => self.resume_acknowledged(io),
            _ => {}
        }
        if self.cfg.service != Service::Rc || !self.attrs.state.has_sent() {
            return;
        }
        let psn = pkt.bth.psn;
        let opcode = pkt.bth.opcode & 0x1f;
        let r = if pkt.info.has(flags::ATMACK) {
            Response::AtomicAck { psn }
        } else if (op::RDMA_READ_RESPONSE_FIRST..=op::RDMA_READ_RESPONSE_ONLY).contains(&opcode) {
            Response::ReadData {
                psn,
                opcode: pkt.bth.opcode,
                len: pkt.payload().len() as u32,
            }
        } else if let Some(aeth) = pkt.aeth() {
            Response::Ack {
                psn,
                syndrome: Syndrome::from_byte(aeth.syndrome),
            }
        } else {
            return;
        };
        // Waiting out an RNR NAK: the sequence NAKs of the packets that
        // followed the refused one ask for nothing the resend after the
        // wait does not bring.
        if self.rnr_until.is_some()
            && matches!(
                r,
                Response::Ack {
                    syndrome: Syndrome::Nak(NakCode::PsnSequenceError),
                    ..
                }
            )
        {
            return;
        }
        let Some(first) = self.oldest() else {
            return;
        };
        // Any answer to what was sent shows the peer is alive, also one to
        // a request already complete: a retry's duplicate. A slow peer's
        // duplicates hold up the answers behind them, and a timer that ran
        // on through them would retry again, queueing more duplicates in
        // front, until the budget ran out with the peer answering all
        // along (the C rxe restarts its timer on every response too). An
        // ACK or an atomic ACK for what is outstanding also acknowledges
        // every PSN up to its own (READ data does only once placed: it may
        // come out of order).
        if psn.diff(self.high) < 0 {
            self.restart_retransmit();
            if psn.diff(first.first) >= 0
                && matches!(
                    r,
                    Response::Ack {
                        syndrome: Syndrome::Ack { .. },
                        ..
                    } | Response::AtomicAck { .. }
                )
            {
                self.advance_acked(psn);
            }
        }
        while let Some(p) = self.oldest() {
            match self.completer.on_response(&p, self.high, &r) {
                Action::Complete => {
                    // An empty READ response (ATOMIC WRITE, FLUSH)
                    // acknowledges its request like an ACK.
                    if let Response::ReadData { psn, .. } = r {
                        self.advance_acked(psn);
                    }
                    // The atomic this response answers gets its result.
                    if let (Response::AtomicAck { psn }, Some(ack)) = (r, pkt.atomic_ack()) {
                        if psn == p.first
                            && matches!(p.kind, Kind::CompareSwap | Kind::FetchAdd)
                            && self.place_atomic(io, ack.orig).is_err()
                        {
                            self.fail(io, Status::LocProtErr);
                            return;
                        }
                    }
                    self.retire_oldest(io, Status::Success)
                }
                Action::PlaceRead {
                    offset,
                    len: _,
                    done,
                } => {
                    if self.place_read(io, offset, pkt.payload()).is_err() {
                        self.fail(io, Status::LocProtErr);
                        return;
                    }
                    self.advance_acked(psn);
                    if done {
                        self.retire_oldest(io, Status::Success);
                    }
                    break;
                }
                Action::Retry { from } => {
                    if matches!(
                        r,
                        Response::Ack {
                            syndrome: Syndrome::Nak(NakCode::PsnSequenceError),
                            ..
                        }
                    ) {
                        io.count(Count::RcvSeqErr, 1);
                    }
                    io.count(Count::CompRetry, 1);
                    self.go_back(from);
                    break;
                }
                Action::RnrWait { us, from } => {
                    io.count(Count::RcvRnr, 1);
                    self.go_back(from);
                    self.rnr_until = Some(self.now + u64::from(us) * 1000);
                    // An RNR NAK is an answer: the transport timer stops,
                    // and starts again with the requests sent after the
                    // wait. Only the RNR budget counts RNR NAKs.
                    self.retransmit_at = None;
                    break;
                }
                Action::Fail(f) => {
                    self.fail(io, failure_status(io, f));
                    return;
                }
                Action::Pause => {
                    // Frozen until the partner resumes.
                    self.partner_paused(io);
                    break;
                }
                Action::Ignore => break,
            }
        }
        if self.oldest().is_none() {
            self.retransmit_at = None;
        }
    }

    /// Writes READ response data at `offset` of the oldest request's
    /// scatter list.
    fn place_read<I: Io<S = S>>(&mut self, io: &I, offset: u32, data: &[u8]) -> Result<(), Fault> {
        self.place(io, offset, data, |k| k == Kind::Read)
    }

    /// Writes an atomic's result, the eight bytes the target held before,
    /// to the oldest request's scatter list (its one SGE of eight bytes).
    fn place_atomic<I: Io<S = S>>(&mut self, io: &I, orig: u64) -> Result<(), Fault> {
        self.place(io, 0, &orig.to_ne_bytes(), |k| {
            matches!(k, Kind::CompareSwap | Kind::FetchAdd)
        })
    }

    /// Writes `data` at `offset` of the oldest request's scatter list, if
    /// the request is of a kind that `takes` data back.
    fn place<I: Io<S = S>>(
        &mut self,
        io: &I,
        offset: u32,
        data: &[u8],
        takes: impl Fn(Kind) -> bool,
    ) -> Result<(), Fault> {
        let mut slot = core::mem::take(&mut self.slot);
        let limits = Limits {
            max_sge: self.cfg.max_send_sge,
            max_inline: self.cfg.max_inline,
            ud: false,
            fast_reg: self.cfg.kernel,
        };
        let res = (|| {
            io.read_slot(Queue::Send, self.comp_wqe, slot.as_mut())?;
            let w = wqe::parse_send(slot.as_ref(), &limits).map_err(|_| Fault)?;
            match w.data {
                Data::Sges(list) if takes(Kind::of(&w.op)) => {
                    scatter(io, &list, offset, data).map_err(|_| Fault)
                }
                _ => Err(Fault),
            }
        })();
        self.slot = slot;
        res
    }

    /// The retransmission timer expired with requests outstanding.
    pub(super) fn retransmit_timeout<I: Io<S = S>>(&mut self, io: &I) {
        self.retransmit_at = None;
        let Some(p) = self.oldest() else {
            return;
        };
        match self.completer.on_timeout(&p) {
            Action::Retry { from } => {
                io.count(Count::CompRetry, 1);
                self.go_back(from);
                self.restart_retransmit();
            }
            Action::Fail(f) => {
                self.fail(io, failure_status(io, f));
            }
            _ => {}
        }
    }
}

/// The completion status of a request that failed for `f`, counted.
fn failure_status<I: Io>(io: &I, f: Failure) -> Status {
    match f {
        Failure::RetryExceeded => {
            io.count(Count::RetryExceeded, 1);
            Status::RetryExcErr
        }
        Failure::RnrRetryExceeded => {
            io.count(Count::RnrRetryExceeded, 1);
            Status::RnrRetryExcErr
        }
        Failure::RemoteInvalidRequest => Status::RemInvReqErr,
        Failure::RemoteAccess => Status::RemAccessErr,
        Failure::RemoteOperational => Status::RemOpErr,
        Failure::BadResponse => Status::BadRespErr,
    }
}
