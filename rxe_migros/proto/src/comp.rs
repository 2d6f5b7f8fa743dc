// SPDX-License-Identifier: GPL-2.0

//! The completer (the C rxe's rxe_comp.c): what a response, or the
//! retransmission timer, means for the oldest outstanding request of an RC
//! QP.
//!
//! The caller keeps the send queue; the completer keeps the retry budgets
//! and where a READ's responses stand. Fed one response and the oldest
//! pending request, it answers with one action. A coalesced ACK completes
//! several requests: after [`Action::Complete`] the caller feeds the same
//! response again with the next request, until something else comes back.
//!
//! Retry counts follow IBTA vol. 1, 9.7.6: `rnr_retry` 7 means retry for
//! ever; `retry_cnt` 7 means seven retries (the C rxe retries for ever there
//! too, so a dead peer never completes in error).

use super::aeth::{rnr_timeout_us, NakCode, Syndrome};
use super::opcode::{flags, OpInfo};
use super::psn::Psn;
use super::req::{psn_span, Kind, Mtu};
use super::resp::GAP_THRESHOLD;

/// The oldest request still waiting for its responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub kind: Kind,
    pub first: Psn,
    /// The PSN after its last.
    pub end: Psn,
    pub length: u32,
}

impl Pending {
    /// Whether it needs data back (READ), an atomic ACK, or (ATOMIC WRITE
    /// and FLUSH) an empty READ response, not just an ACK.
    fn needs_response(&self) -> bool {
        self.kind.answered()
    }

    fn covers(&self, psn: Psn) -> bool {
        psn.diff(self.first) >= 0 && psn.diff(self.end) < 0
    }
}

/// A response packet, as the completer needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// An ACK or NAK.
    Ack { psn: Psn, syndrome: Syndrome },
    /// A READ response packet carrying `len` bytes.
    ReadData { psn: Psn, opcode: u8, len: u32 },
    /// The response to an atomic.
    AtomicAck { psn: Psn },
}

/// Why a request completes in error; the QP then goes to the error state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `retry_cnt` retransmissions went unanswered (`IB_WC_RETRY_EXC_ERR`).
    RetryExceeded,
    /// `rnr_retry` RNR NAKs in a row (`IB_WC_RNR_RETRY_EXC_ERR`).
    RnrRetryExceeded,
    /// The responder refused the request as invalid (`IB_WC_REM_INV_REQ_ERR`).
    RemoteInvalidRequest,
    /// An R_Key or bounds violation (`IB_WC_REM_ACCESS_ERR`).
    RemoteAccess,
    /// The responder failed (`IB_WC_REM_OP_ERR`).
    RemoteOperational,
    /// READ responses that do not fit the request (`IB_WC_BAD_RESP_ERR`).
    BadResponse,
}

/// What to do about a response or a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The oldest request completed; feed the response again with the next.
    Complete,
    /// Place READ data at `offset` of the request; `done`: it is complete.
    PlaceRead { offset: u32, len: u32, done: bool },
    /// Resend from `from` (go-back-N).
    Retry { from: Psn },
    /// Wait `us` microseconds, then resend from `from`.
    RnrWait { us: u32, from: Psn },
    /// The oldest request completes in error.
    Fail(Failure),
    /// The partner is stopped for migration (the paused NAK): stop sending
    /// until it resumes. Timers and retry counts are frozen meanwhile.
    Pause,
    /// Nothing to do: stale, duplicate, or progress within a request.
    Ignore,
}

/// The completer's side of one RC QP.
#[derive(Clone, Debug)]
pub struct Completer {
    retry_cnt: u8,
    rnr_retry: u8,
    retries_left: u8,
    rnr_left: u8,
    mtu: Mtu,
    /// READ bytes received so far for the oldest request.
    read_done: u32,
    /// A retry for a gap (a NAK, a response ahead of its turn) went out and
    /// nothing has moved since: the responses still in flight from before
    /// it would each ask for the same retry again.
    retrying: bool,
    /// Responses seen past a gap since the last progress.
    ahead: u8,
    /// The partner is stopped for migration.
    paused: bool,
}

/// `rnr_retry` that never runs out.
const RNR_RETRY_FOREVER: u8 = 7;

impl Completer {
    pub fn new(retry_cnt: u8, rnr_retry: u8, mtu: Mtu) -> Completer {
        Completer {
            retry_cnt,
            rnr_retry,
            retries_left: retry_cnt,
            rnr_left: rnr_retry,
            mtu,
            read_done: 0,
            retrying: false,
            ahead: 0,
            paused: false,
        }
    }

    /// Progress was made: budgets are per stall, not per connection.
    fn progress(&mut self) {
        self.retries_left = self.retry_cnt;
        self.rnr_left = self.rnr_retry;
        self.retrying = false;
        self.ahead = 0;
    }

    /// Where to resume the oldest request: a READ resumes after the
    /// responses it already has.
    fn resume_psn(&self, p: &Pending) -> Psn {
        if p.kind == Kind::Read {
            p.first + self.mtu.full_packets(self.read_done)
        } else {
            p.first
        }
    }

    /// A response arrived past a gap: go back to `from` once the gap has
    /// held for [`GAP_THRESHOLD`] responses (before, it may be reordering).
    fn gap(&mut self, from: Psn) -> Action {
        self.ahead = self.ahead.saturating_add(1);
        if self.ahead < GAP_THRESHOLD {
            return Action::Ignore;
        }
        self.retry(from)
    }

    /// Goes back to `from`, once per gap: see `retrying`.
    fn retry(&mut self, from: Psn) -> Action {
        if self.retrying {
            return Action::Ignore;
        }
        self.retrying = true;
        self.spend_retry(from)
    }

    fn spend_retry(&mut self, from: Psn) -> Action {
        if self.retries_left == 0 {
            return Action::Fail(Failure::RetryExceeded);
        }
        self.retries_left -= 1;
        Action::Retry { from }
    }

    /// A completer restored from a checkpoint, whose partner was stopped
    /// (it had the paused NAK) if `paused`: it waits for the partner's
    /// RESUME with its timer frozen.
    pub fn restored(retry_cnt: u8, rnr_retry: u8, mtu: Mtu, paused: bool) -> Completer {
        Completer {
            paused,
            ..Completer::new(retry_cnt, rnr_retry, mtu)
        }
    }

    /// Whether the partner is stopped for migration.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The partner is back (or this side is): leave the pause with full
    /// budgets. [`Completer::on_resume`] does this and also says where
    /// to resend from.
    pub fn unpause(&mut self) {
        self.paused = false;
        self.progress();
    }

    /// The partner announced itself (RESUME): send again from the oldest
    /// request's resume point, with full retry budgets.
    pub fn on_resume(&mut self, pending: &Pending) -> Action {
        self.unpause();
        Action::Retry {
            from: self.resume_psn(pending),
        }
    }

    /// The retransmission timer fired with `pending` outstanding: retry,
    /// whatever retry is already under way. Frozen while paused.
    pub fn on_timeout(&mut self, pending: &Pending) -> Action {
        if self.paused {
            return Action::Ignore;
        }
        let from = self.resume_psn(pending);
        self.spend_retry(from)
    }

    /// The oldest request is complete: the next starts afresh.
    fn finished(&mut self) {
        self.read_done = 0;
        self.progress();
    }

    /// A response arrived while `pending` is the oldest request and `next`
    /// the PSN the requester sends next.
    pub fn on_response(&mut self, pending: &Pending, next: Psn, r: &Response) -> Action {
        let psn = match *r {
            Response::Ack { psn, .. }
            | Response::ReadData { psn, .. }
            | Response::AtomicAck { psn } => psn,
        };
        // Before the oldest request: a duplicate. At or past `next`: for
        // nothing sent, from a confused peer.
        if psn.diff(pending.first) < 0 || psn.diff(next) >= 0 {
            return Action::Ignore;
        }
        if !pending.covers(psn) {
            // Responses come in PSN order, so one for a later request says
            // the oldest was carried out: done, if an ACK was all it
            // needed; if it needed data back, that data was lost (an
            // implied NAK) and must be asked for again.
            if pending.needs_response() {
                let from = self.resume_psn(pending);
                return self.gap(from);
            }
            self.finished();
            return Action::Complete;
        }
        match *r {
            Response::Ack { syndrome, .. } => self.on_ack(pending, psn, syndrome),
            Response::ReadData { opcode, len, .. } => self.on_read(pending, psn, opcode, len),
            Response::AtomicAck { .. } => {
                if matches!(pending.kind, Kind::CompareSwap | Kind::FetchAdd)
                    && psn == pending.first
                {
                    self.finished();
                    Action::Complete
                } else {
                    Action::Fail(Failure::BadResponse)
                }
            }
        }
    }

    /// An ACK or NAK for a PSN of the oldest request.
    fn on_ack(&mut self, pending: &Pending, psn: Psn, syndrome: Syndrome) -> Action {
        match syndrome {
            Syndrome::Ack { .. } => {
                if psn != pending.end - 1 || pending.needs_response() {
                    // Part of a multi-packet request, or a READ or atomic
                    // acknowledged before its response: progress only.
                    self.progress();
                    return Action::Ignore;
                }
                self.finished();
                Action::Complete
            }
            Syndrome::RnrNak { timer } => {
                if self.rnr_retry != RNR_RETRY_FOREVER {
                    if self.rnr_left == 0 {
                        return Action::Fail(Failure::RnrRetryExceeded);
                    }
                    self.rnr_left -= 1;
                }
                Action::RnrWait {
                    us: rnr_timeout_us(timer),
                    from: psn,
                }
            }
            Syndrome::Nak(NakCode::PsnSequenceError) => self.retry(psn),
            Syndrome::Nak(NakCode::Paused) => {
                // Acknowledges nothing; the completer's PSN stays.
                self.paused = true;
                Action::Pause
            }
            Syndrome::Nak(code) => Action::Fail(match code {
                NakCode::InvalidRequest => Failure::RemoteInvalidRequest,
                NakCode::RemoteAccessError => Failure::RemoteAccess,
                _ => Failure::RemoteOperational,
            }),
            Syndrome::Reserved(_) => Action::Ignore,
        }
    }

    fn on_read(&mut self, pending: &Pending, psn: Psn, opcode: u8, len: u32) -> Action {
        if matches!(pending.kind, Kind::AtomicWrite | Kind::Flush) {
            // Answered by one READ response without data (IBA A19, as the
            // C rxe's send_read_response_ack).
            let only =
                OpInfo::lookup(opcode).is_some_and(|i| i.has(flags::START) && i.has(flags::END));
            if only && len == 0 && psn == pending.first {
                self.finished();
                return Action::Complete;
            }
            return Action::Fail(Failure::BadResponse);
        }
        if pending.kind != Kind::Read {
            return Action::Fail(Failure::BadResponse);
        }
        let expected = self.resume_psn(pending);
        match psn.diff(expected) {
            d if d < 0 => return Action::Ignore,
            d if d > 0 => {
                // Responses before it were lost: ask again from there.
                return self.gap(expected);
            }
            _ => {}
        }
        let Some(info) = OpInfo::lookup(opcode) else {
            return Action::Fail(Failure::BadResponse);
        };
        let first = info.has(flags::START);
        let last = info.has(flags::END);
        let offset = self.read_done;
        // First and middle responses are a full MTU, the last at most one,
        // and together exactly the length asked for. A READ asked again
        // from where its responses stopped is a new request for the rest,
        // so its responses start again: FIRST or ONLY at any offset.
        let fits = (first || offset != 0)
            && if last {
                len <= self.mtu.bytes() && offset + len == pending.length
            } else {
                len == self.mtu.bytes() && offset + len < pending.length
            };
        if !fits {
            return Action::Fail(Failure::BadResponse);
        }
        self.read_done += len;
        self.progress();
        if last {
            self.read_done = 0;
        }
        Action::PlaceRead {
            offset,
            len,
            done: last,
        }
    }
}

/// The PSN range a request takes, for [`Pending`].
pub fn pending(kind: Kind, first: Psn, length: u32, mtu: Mtu) -> Pending {
    Pending {
        kind,
        first,
        end: first + psn_span(kind, length, mtu),
        length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcode::op;
    use crate::testutil::path_mtu;

    const MTU: u32 = 1024;
    const PATH: Mtu = Mtu::new(MTU).unwrap();

    fn ack(psn: u32) -> Response {
        Response::Ack {
            psn: Psn::new(psn),
            syndrome: Syndrome::Ack { credits: 31 },
        }
    }

    #[test]
    fn a_coalesced_ack_completes_each_covered_request() {
        let mut c = Completer::new(7, 7, PATH);
        let sends = [
            pending(Kind::Send, Psn::new(10), 100, PATH),
            pending(Kind::Send, Psn::new(11), 3000, PATH),
            pending(Kind::Send, Psn::new(14), 5, PATH),
        ];
        let next = Psn::new(15);
        // One ACK for PSN 13 completes the first two, not the third.
        assert_eq!(c.on_response(&sends[0], next, &ack(13)), Action::Complete);
        assert_eq!(c.on_response(&sends[1], next, &ack(13)), Action::Complete);
        assert_eq!(c.on_response(&sends[2], next, &ack(13)), Action::Ignore);
        assert_eq!(c.on_response(&sends[2], next, &ack(14)), Action::Complete);
    }

    #[test]
    fn stale_and_unsent_psns_are_ignored() {
        let mut c = Completer::new(7, 7, PATH);
        let p = pending(Kind::Send, Psn::new(100), 10, PATH);
        assert_eq!(c.on_response(&p, Psn::new(101), &ack(99)), Action::Ignore);
        assert_eq!(c.on_response(&p, Psn::new(101), &ack(101)), Action::Ignore);
        assert_eq!(
            c.on_response(&p, Psn::new(101), &ack(100)),
            Action::Complete
        );
    }

    #[test]
    fn timeouts_spend_the_retry_budget() {
        let mut c = Completer::new(2, 0, PATH);
        let p = pending(Kind::Write, Psn::new(5), 10, PATH);
        assert_eq!(c.on_timeout(&p), Action::Retry { from: Psn::new(5) });
        assert_eq!(c.on_timeout(&p), Action::Retry { from: Psn::new(5) });
        assert_eq!(c.on_timeout(&p), Action::Fail(Failure::RetryExceeded));
        // Progress restores it.
        let mut c = Completer::new(1, 0, PATH);
        let big = pending(Kind::Write, Psn::new(0), 3 * MTU, PATH);
        assert_eq!(c.on_timeout(&big), Action::Retry { from: Psn::new(0) });
        assert_eq!(c.on_response(&big, Psn::new(3), &ack(0)), Action::Ignore);
        assert_eq!(c.on_timeout(&big), Action::Retry { from: Psn::new(0) });
    }

    #[test]
    fn rnr_naks_wait_and_run_out_unless_infinite() {
        let rnr = |psn| Response::Ack {
            psn: Psn::new(psn),
            syndrome: Syndrome::RnrNak { timer: 14 },
        };
        let p = pending(Kind::Send, Psn::new(0), 10, PATH);
        let mut c = Completer::new(7, 1, PATH);
        assert!(matches!(
            c.on_response(&p, Psn::new(1), &rnr(0)),
            Action::RnrWait { .. }
        ));
        assert_eq!(
            c.on_response(&p, Psn::new(1), &rnr(0)),
            Action::Fail(Failure::RnrRetryExceeded)
        );
        let mut c = Completer::new(7, 7, PATH);
        for _ in 0..1000 {
            assert!(matches!(
                c.on_response(&p, Psn::new(1), &rnr(0)),
                Action::RnrWait { .. }
            ));
        }
    }

    #[test]
    fn naks_retry_or_fail() {
        let nak = |psn, code| Response::Ack {
            psn: Psn::new(psn),
            syndrome: Syndrome::Nak(code),
        };
        let mut c = Completer::new(7, 7, PATH);
        let p = pending(Kind::Send, Psn::new(0), 3 * MTU, PATH);
        assert_eq!(
            c.on_response(&p, Psn::new(3), &nak(1, NakCode::PsnSequenceError)),
            Action::Retry { from: Psn::new(1) }
        );
        assert_eq!(
            c.on_response(&p, Psn::new(3), &nak(0, NakCode::RemoteAccessError)),
            Action::Fail(Failure::RemoteAccess)
        );
        // A NAK for a later request completes this one first.
        let one = pending(Kind::Send, Psn::new(0), 1, PATH);
        assert_eq!(
            c.on_response(&one, Psn::new(2), &nak(1, NakCode::InvalidRequest)),
            Action::Complete
        );
    }

    #[test]
    fn read_responses_are_placed_in_order() {
        let mut c = Completer::new(7, 7, PATH);
        let p = pending(Kind::Read, Psn::new(20), 2500, PATH);
        let next = Psn::new(23);
        let data = |psn, opcode, len| Response::ReadData {
            psn: Psn::new(psn),
            opcode,
            len,
        };
        assert_eq!(
            c.on_response(&p, next, &data(20, op::RDMA_READ_RESPONSE_FIRST, MTU)),
            Action::PlaceRead {
                offset: 0,
                len: MTU,
                done: false
            }
        );
        // The middle one is lost: the last is early. It may only have
        // overtaken the middle one, until the gap has held GAP_THRESHOLD
        // times; then ask again from 21.
        for _ in 1..GAP_THRESHOLD {
            assert_eq!(
                c.on_response(&p, next, &data(22, op::RDMA_READ_RESPONSE_LAST, 452)),
                Action::Ignore
            );
        }
        assert_eq!(
            c.on_response(&p, next, &data(22, op::RDMA_READ_RESPONSE_LAST, 452)),
            Action::Retry { from: Psn::new(21) }
        );
        assert_eq!(
            c.on_response(&p, next, &data(20, op::RDMA_READ_RESPONSE_FIRST, MTU)),
            Action::Ignore
        );
        assert_eq!(
            c.on_response(&p, next, &data(21, op::RDMA_READ_RESPONSE_MIDDLE, MTU)),
            Action::PlaceRead {
                offset: MTU,
                len: MTU,
                done: false
            }
        );
        assert_eq!(
            c.on_response(&p, next, &data(22, op::RDMA_READ_RESPONSE_LAST, 452)),
            Action::PlaceRead {
                offset: 2 * MTU,
                len: 452,
                done: true
            }
        );
    }

    #[test]
    fn an_ack_past_a_read_means_its_responses_were_lost() {
        let mut c = Completer::new(7, 7, PATH);
        let p = pending(Kind::Read, Psn::new(0), 100, PATH);
        for _ in 1..GAP_THRESHOLD {
            assert_eq!(c.on_response(&p, Psn::new(3), &ack(2)), Action::Ignore);
        }
        assert_eq!(
            c.on_response(&p, Psn::new(3), &ack(2)),
            Action::Retry { from: Psn::new(0) }
        );
        // A response longer than asked for is refused.
        let r = Response::ReadData {
            psn: Psn::new(0),
            opcode: op::RDMA_READ_RESPONSE_ONLY,
            len: 101,
        };
        assert_eq!(
            c.on_response(&p, Psn::new(3), &r),
            Action::Fail(Failure::BadResponse)
        );
    }

    /// A completer restored with its partner stopped keeps its timer
    /// frozen until the RESUME, then goes back to the oldest request.
    #[test]
    fn restored_paused_waits_for_resume() {
        let p = pending(Kind::Send, Psn::new(9), 100, path_mtu(256));
        let mut c = Completer::restored(0, 0, path_mtu(256), true);
        assert!(c.is_paused());
        assert_eq!(c.on_timeout(&p), Action::Ignore);
        assert_eq!(c.on_resume(&p), Action::Retry { from: Psn::new(9) });
        assert!(!c.is_paused());
        assert!(!Completer::restored(0, 0, path_mtu(256), false).is_paused());
    }
}
