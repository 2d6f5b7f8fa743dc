// SPDX-License-Identifier: GPL-2.0

//! The completer (the kernel half of the C rxe's rxe_comp.c): feeds ACKs,
//! NAKs and READ responses to the core's [`Completer`] with the oldest
//! outstanding request, and carries out what it answers: completions,
//! READ data placed into the request's scatter list, go-back-N and RNR
//! waits. The retransmission timer comes here too.
//!
//! [`Completer`]: crate::proto::comp::Completer

use crate::counters::Counter;
use crate::proto::aeth::{NakCode, Syndrome};
use crate::proto::comp::{pending, Action, Failure, Pending, Response};
use crate::proto::hdr::Packet;
use crate::proto::mig::MigState;
use crate::proto::modify::QpState as State;
use crate::proto::opcode::{flags, op};
use crate::proto::req::{Kind, Service};
use crate::proto::wqe::{self, Data, Limits};
use crate::qp::QpState;
use crate::rdma::cq::WcStatus;
use crate::transport::{scatter, Ctx};
use kernel::prelude::*;
use kernel::time::{Delta, Instant};

impl QpState {
    /// The oldest started request, if any, as the completer sees it.
    pub(crate) fn oldest(&self, cx: &Ctx<'_>) -> Option<Pending> {
        if self.tx.comp_wqe == self.tx.started {
            return None;
        }
        let w = self.tx.sent[(self.tx.comp_wqe & cx.qp.sq.ring.capacity()) as usize];
        Some(pending(w.kind, w.first, w.length, self.tx.mtu))
    }

    /// A response packet (ACK, NAK, READ response) arrived.
    pub(crate) fn on_response(&mut self, cx: &Ctx<'_>, pkt: &Packet<'_>) {
        match self.tx.mig {
            // Ignored: go-back-N earns them again after the resume.
            MigState::Stopped => return,
            // The partner answers: it heard the RESUME.
            MigState::Resuming { .. } if pkt.aeth().is_some() => self.resume_acknowledged(cx),
            _ => {}
        }
        if cx.qp.service != Service::Rc || self.attrs.state != State::Rts {
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
        let Some(first) = self.oldest(cx) else {
            return;
        };
        // Anything for what is outstanding shows the peer is alive; an ACK
        // also acknowledges every PSN up to its own (READ data does only
        // once placed: it may come out of order).
        if psn.diff(first.first) >= 0 && psn.diff(self.tx.high) < 0 {
            self.tx.restart_retransmit();
            if matches!(
                r,
                Response::Ack {
                    syndrome: Syndrome::Ack { .. },
                    ..
                }
            ) {
                self.tx.advance_acked(psn);
            }
        }
        while let Some(p) = self.oldest(cx) {
            match self.tx.completer.on_response(&p, self.tx.high, &r) {
                Action::Complete => self.retire_oldest(cx, WcStatus::Success),
                Action::PlaceRead {
                    offset,
                    len: _,
                    done,
                } => {
                    if self.place_read(cx, offset, pkt.payload()).is_err() {
                        self.fail(cx, WcStatus::LocProtErr);
                        return;
                    }
                    self.tx.advance_acked(psn);
                    if done {
                        self.retire_oldest(cx, WcStatus::Success);
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
                        cx.dev.counters.inc(Counter::RcvSeqErr);
                    }
                    cx.dev.counters.inc(Counter::CompRetry);
                    self.go_back(cx, from);
                    break;
                }
                Action::RnrWait { us, from } => {
                    cx.dev.counters.inc(Counter::RcvRnr);
                    self.go_back(cx, from);
                    self.tx.rnr_until = Some(Instant::now() + Delta::from_micros(i64::from(us)));
                    break;
                }
                Action::Fail(f) => {
                    self.fail(cx, failure_status(cx, f));
                    return;
                }
                Action::Pause => {
                    // Frozen until the partner resumes.
                    self.partner_paused(cx);
                    break;
                }
                Action::Ignore => break,
            }
        }
        if self.oldest(cx).is_none() {
            self.tx.retransmit_at = None;
        }
    }

    /// Writes READ response data at `offset` of the oldest request's
    /// scatter list.
    fn place_read(&mut self, cx: &Ctx<'_>, offset: u32, data: &[u8]) -> Result {
        let sq = &cx.qp.sq;
        let mut slot = core::mem::take(&mut self.tx.slot);
        let res = (|| {
            sq.read_slot(self.tx.comp_wqe, &mut slot)?;
            let limits = Limits {
                max_sge: cx.qp.caps.max_send_sge,
                max_inline: cx.qp.caps.max_inline_data,
                ud: false,
            };
            let w = wqe::parse_send(&slot, &limits).map_err(|_| EINVAL)?;
            match w.data {
                Data::Sges(list) if Kind::of(&w.op) == Kind::Read => {
                    scatter(cx, &list, offset, data).map_err(|_| EFAULT)
                }
                _ => Err(EINVAL),
            }
        })();
        self.tx.slot = slot;
        res
    }

    /// The retransmission timer expired with requests outstanding.
    pub(crate) fn retransmit_timeout(&mut self, cx: &Ctx<'_>) {
        self.tx.retransmit_at = None;
        let Some(p) = self.oldest(cx) else {
            return;
        };
        match self.tx.completer.on_timeout(&p) {
            Action::Retry { from } => {
                cx.dev.counters.inc(Counter::CompRetry);
                self.go_back(cx, from);
                self.tx.restart_retransmit();
            }
            Action::Fail(f) => self.fail(cx, failure_status(cx, f)),
            _ => {}
        }
    }
}

/// The completion status of a request that failed for `f`, counted.
fn failure_status(cx: &Ctx<'_>, f: Failure) -> WcStatus {
    match f {
        Failure::RetryExceeded => {
            cx.dev.counters.inc(Counter::RetryExceeded);
            WcStatus::RetryExcErr
        }
        Failure::RnrRetryExceeded => {
            cx.dev.counters.inc(Counter::RnrRetryExceeded);
            WcStatus::RnrRetryExcErr
        }
        Failure::RemoteInvalidRequest => WcStatus::RemInvReqErr,
        Failure::RemoteAccess => WcStatus::RemAccessErr,
        Failure::RemoteOperational => WcStatus::RemOpErr,
        Failure::BadResponse => WcStatus::BadRespErr,
    }
}
