// SPDX-License-Identifier: GPL-2.0

//! The responder's acceptance of request packets (the C rxe's rxe_resp.c:
//! its PSN, opcode-sequence and length checks), as a state machine.
//!
//! Each request packet that passed the receive checks is classified: to
//! execute (the expected PSN, in a valid place of its message), a
//! duplicate of one already executed (re-acknowledged, or for a READ
//! replayed), out of sequence (a gap: NAK once, then drop until the
//! requester goes back), or invalid (a NAK that ends the connection on RC;
//! on UC the damaged message is dropped). Executing moves the expected PSN
//! and, at a message's end, the MSN.

use super::opcode::{flags, OpInfo};
use super::psn::Psn;
use super::req::{psn_span, Kind, Mtu, Service};
use super::seq::{check_request_psn, RequestPsn};

/// Packets past a gap before it counts as a loss rather than reordering
/// (TCP's duplicate-ACK threshold, RFC 5681): the responder's sequence NAK
/// and the completer's implied NAK wait for this many.
pub const GAP_THRESHOLD: u8 = 3;

/// What a request packet says about itself, as the responder needs it.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub opcode: u8,
    pub psn: Psn,
    /// Payload bytes.
    pub len: u32,
    /// The DMA length of the RETH, for READ requests.
    pub read_len: u32,
}

/// What to do with a request packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Carry it out. `last`: it ends its message (the MSN moved).
    Execute { first: bool, last: bool },
    /// Already carried out: acknowledge again (or replay a READ).
    Duplicate,
    /// A gap before it: send a PSN sequence error NAK if `nak`, and drop.
    OutOfSequence { nak: bool },
    /// Not a valid request here: NAK invalid request (RC) or drop (UC).
    Invalid,
    /// The QP is stopped for migration and this is the request it would
    /// carry out next: discard it and, on RC, answer with the paused NAK
    /// for the expected PSN.
    Paused,
    /// A migrated partner announces itself (RESUME): take its address
    /// update, leave Paused, and acknowledge with the last PSN carried out.
    /// It moves no PSN.
    Resume,
}

/// Where a multi-packet message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InProgress {
    None,
    Send,
    Write,
}

/// The responder's side of one QP.
#[derive(Clone, Debug)]
pub struct Responder {
    service: Service,
    mtu: Mtu,
    epsn: Psn,
    msn: u32,
    in_progress: InProgress,
    /// A NAK for the current gap went out; another would only repeat it.
    nak_sent: bool,
    /// Packets seen past the expected PSN since it last arrived in order.
    ahead: u8,
    /// UC: the rest of a damaged message is dropped.
    dropping: bool,
    /// Stopped for migration.
    stopped: bool,
}

impl Responder {
    /// A responder expecting `rq_psn` first, for packets of `mtu` bytes.
    pub fn new(service: Service, rq_psn: Psn, mtu: Mtu) -> Responder {
        Responder {
            service,
            mtu,
            epsn: rq_psn,
            msn: 0,
            in_progress: InProgress::None,
            nak_sent: false,
            ahead: 0,
            dropping: false,
            stopped: false,
        }
    }

    /// A responder restored from a checkpoint: Stopped, expecting `epsn`
    /// with `msn` messages done, inside the message `in_progress` says.
    pub fn restored(
        service: Service,
        epsn: Psn,
        msn: u32,
        mtu: Mtu,
        in_progress: InProgress,
    ) -> Responder {
        Responder {
            msn: msn & super::psn::PSN_MASK,
            in_progress,
            stopped: true,
            ..Responder::new(service, epsn, mtu)
        }
    }

    /// Stops executing new requests (the QP is being checkpointed).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Executes again (restored, or the checkpoint was aborted).
    pub fn resume(&mut self) {
        self.stopped = false;
    }

    /// The PSN expected next.
    pub fn epsn(&self) -> Psn {
        self.epsn
    }

    /// Messages completed so far, modulo 2^24, as the AETH carries it.
    pub fn msn(&self) -> u32 {
        self.msn
    }

    /// Classifies `r` and, if it is to be executed, takes it into the state.
    pub fn receive(&mut self, r: &Request) -> Verdict {
        let Some(info) = OpInfo::lookup(r.opcode).filter(|i| i.has(flags::REQ)) else {
            return Verdict::Invalid;
        };
        if info.has(flags::RESUME) {
            return Verdict::Resume;
        }
        if self.stopped && r.psn == self.epsn {
            return Verdict::Paused;
        }
        match self.service {
            Service::Ud => {
                // Datagrams are single packets with no sequence to keep.
                if !(info.has(flags::START) && info.has(flags::END)) || r.len > self.mtu.bytes() {
                    return Verdict::Invalid;
                }
                return Verdict::Execute {
                    first: true,
                    last: true,
                };
            }
            Service::Uc => {
                if r.psn != self.epsn {
                    // Lost packets: drop the message they belonged to and
                    // resynchronise on the next one that starts.
                    self.epsn = r.psn;
                    self.dropping = !info.has(flags::START);
                    self.in_progress = InProgress::None;
                }
                if self.dropping {
                    if info.has(flags::START) {
                        self.dropping = false;
                    } else {
                        self.epsn = r.psn.next();
                        return Verdict::Invalid;
                    }
                }
            }
            Service::Rc => match check_request_psn(self.epsn, r.psn) {
                RequestPsn::OutOfSequence => {
                    // A packet that merely overtook the expected one is
                    // followed by it; a lost one is not. NAK once the gap
                    // has held for GAP_THRESHOLD packets, and once per gap.
                    self.ahead = self.ahead.saturating_add(1);
                    let nak = !self.nak_sent && self.ahead >= GAP_THRESHOLD;
                    self.nak_sent |= nak;
                    return Verdict::OutOfSequence { nak };
                }
                RequestPsn::Duplicate => return Verdict::Duplicate,
                RequestPsn::Expected => {
                    self.nak_sent = false;
                    self.ahead = 0;
                }
            },
        }
        if !self.sequence_ok(&info) || !self.length_ok(&info, r.len) {
            if self.service == Service::Uc {
                self.dropping = true;
                self.in_progress = InProgress::None;
                self.epsn = r.psn.next();
            }
            return Verdict::Invalid;
        }
        let first = info.has(flags::START);
        let last = info.has(flags::END);
        self.in_progress = match (last, info.has(flags::SEND)) {
            (true, _) => InProgress::None,
            (false, true) => InProgress::Send,
            (false, false) => InProgress::Write,
        };
        self.epsn = if info.has(flags::READ) {
            r.psn + psn_span(Kind::Read, r.read_len, self.mtu)
        } else {
            r.psn.next()
        };
        if last {
            self.msn = (self.msn + 1) & super::psn::PSN_MASK;
        }
        Verdict::Execute { first, last }
    }

    /// Whether the opcode may follow the previous one: inside a SEND or a
    /// WRITE only its MIDDLE and LAST packets; outside one, no MIDDLE or
    /// LAST.
    fn sequence_ok(&self, info: &OpInfo) -> bool {
        let continues = !info.has(flags::START);
        match self.in_progress {
            InProgress::None => !continues,
            InProgress::Send => continues && info.has(flags::SEND),
            InProgress::Write => continues && info.has(flags::WRITE),
        }
    }

    /// Whether the payload fits its place: all but the last packet of a
    /// message are exactly one MTU, the last at most one.
    fn length_ok(&self, info: &OpInfo, len: u32) -> bool {
        if !info.has(flags::PAYLOAD) {
            return len == 0;
        }
        if info.has(flags::END) {
            len <= self.mtu.bytes()
        } else {
            len == self.mtu.bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcode::op;
    use crate::req::Segments;
    use crate::testutil::{path_mtu, Rng};

    fn req(opcode: u8, psn: u32, len: u32) -> Request {
        Request {
            opcode,
            psn: Psn::new(psn),
            len,
            read_len: 0,
        }
    }

    #[test]
    fn in_order_requests_execute_and_count_messages() {
        let mut r = Responder::new(Service::Rc, Psn::new(100), path_mtu(1024));
        assert_eq!(
            r.receive(&req(op::SEND_FIRST, 100, 1024)),
            Verdict::Execute {
                first: true,
                last: false
            }
        );
        assert_eq!(
            r.receive(&req(op::SEND_LAST, 101, 10)),
            Verdict::Execute {
                first: false,
                last: true
            }
        );
        assert_eq!(r.msn(), 1);
        assert_eq!(r.epsn(), Psn::new(102));
    }

    #[test]
    fn a_gap_naks_once_and_duplicates_are_recognised() {
        let mut r = Responder::new(Service::Rc, Psn::new(0), path_mtu(1024));
        assert_eq!(
            r.receive(&req(op::SEND_ONLY, 0, 8)),
            Verdict::Execute {
                first: true,
                last: true
            }
        );
        // PSN 1 is lost: the NAK waits until the gap has held for
        // GAP_THRESHOLD packets (before, 1 may only have been overtaken),
        // and goes once.
        for psn in 2..1 + GAP_THRESHOLD as u32 {
            assert_eq!(
                r.receive(&req(op::SEND_ONLY, psn, 8)),
                Verdict::OutOfSequence { nak: false }
            );
        }
        assert_eq!(
            r.receive(&req(op::SEND_ONLY, 1 + GAP_THRESHOLD as u32, 8)),
            Verdict::OutOfSequence { nak: true }
        );
        assert_eq!(
            r.receive(&req(op::SEND_ONLY, 2 + GAP_THRESHOLD as u32, 8)),
            Verdict::OutOfSequence { nak: false }
        );
        // The requester goes back to 1; 0 arrives again meanwhile.
        assert_eq!(r.receive(&req(op::SEND_ONLY, 0, 8)), Verdict::Duplicate);
        assert_eq!(
            r.receive(&req(op::SEND_ONLY, 1, 8)),
            Verdict::Execute {
                first: true,
                last: true
            }
        );
        // A new gap NAKs again, once it holds.
        for _ in 1..GAP_THRESHOLD {
            assert_eq!(
                r.receive(&req(op::SEND_ONLY, 5, 8)),
                Verdict::OutOfSequence { nak: false }
            );
        }
        assert_eq!(
            r.receive(&req(op::SEND_ONLY, 5, 8)),
            Verdict::OutOfSequence { nak: true }
        );
    }

    #[test]
    fn a_read_moves_the_psn_past_its_responses() {
        let mut r = Responder::new(Service::Rc, Psn::new(0), path_mtu(1024));
        let read = Request {
            read_len: 3000,
            ..req(op::RDMA_READ_REQUEST, 0, 0)
        };
        assert_eq!(
            r.receive(&read),
            Verdict::Execute {
                first: true,
                last: true
            }
        );
        assert_eq!(r.epsn(), Psn::new(3));
        assert_eq!(r.receive(&req(op::SEND_ONLY, 1, 0)), Verdict::Duplicate);
    }

    #[test]
    fn broken_sequences_and_lengths_are_invalid() {
        let mut r = Responder::new(Service::Rc, Psn::new(0), path_mtu(256));
        assert_eq!(r.receive(&req(op::SEND_MIDDLE, 0, 256)), Verdict::Invalid);
        let mut r = Responder::new(Service::Rc, Psn::new(0), path_mtu(256));
        r.receive(&req(op::SEND_FIRST, 0, 256));
        assert_eq!(
            r.receive(&req(op::RDMA_WRITE_LAST, 1, 10)),
            Verdict::Invalid
        );
        let mut r = Responder::new(Service::Rc, Psn::new(0), path_mtu(256));
        r.receive(&req(op::RDMA_WRITE_FIRST, 0, 256));
        assert_eq!(
            r.receive(&req(op::RDMA_WRITE_MIDDLE, 1, 255)),
            Verdict::Invalid
        );
        let mut r = Responder::new(Service::Rc, Psn::new(0), path_mtu(256));
        assert_eq!(r.receive(&req(op::SEND_ONLY, 0, 257)), Verdict::Invalid);
        // Responses and ACKs are not requests.
        assert_eq!(r.receive(&req(op::ACKNOWLEDGE, 0, 0)), Verdict::Invalid);
    }

    #[test]
    fn uc_drops_a_damaged_message_and_resumes_at_the_next() {
        let u = |o: u8| crate::opcode::TRANSPORT_UC | o;
        let mut r = Responder::new(Service::Uc, Psn::new(0), path_mtu(256));
        r.receive(&req(u(op::SEND_FIRST), 0, 256));
        // PSN 1 (a MIDDLE) is lost: the LAST belongs to a broken message.
        assert_eq!(r.receive(&req(u(op::SEND_LAST), 2, 5)), Verdict::Invalid);
        assert_eq!(
            r.receive(&req(u(op::SEND_ONLY), 3, 5)),
            Verdict::Execute {
                first: true,
                last: true
            }
        );
        assert_eq!(r.msn(), 1);
    }

    /// A requester's packets, delivered with losses, duplicates and
    /// go-back-N retransmission, execute each packet exactly once and in
    /// order, and the MSN counts the messages.
    #[test]
    fn go_back_n_delivers_every_packet_once() {
        let mut rng = Rng::new(21);
        for _ in 0..300 {
            let mtu = 256;
            let start = Psn::new(rng.next_u32());
            // The packets of a few messages, as the requester cuts them.
            let mut pkts = [Request {
                opcode: 0,
                psn: start,
                len: 0,
                read_len: 0,
            }; 256];
            let (mut n, mut psn, mut msgs) = (0, start, 0);
            while n < 200 {
                let kind = [Kind::Send, Kind::WriteImm, Kind::Read][rng.next_u32() as usize % 3];
                let len = rng.next_u32() % (5 * mtu);
                let mut segs = Segments::new(kind, Service::Rc, len, path_mtu(mtu), psn).unwrap();
                for s in segs.by_ref() {
                    pkts[n] = Request {
                        opcode: s.opcode,
                        psn: s.psn,
                        len: s.len,
                        read_len: len,
                    };
                    n += 1;
                }
                psn = segs.next_psn();
                msgs += 1;
            }
            let mut r = Responder::new(Service::Rc, start, path_mtu(mtu));
            let mut executed = 0;
            let mut next = 0; // the requester's retransmission point
            let mut rounds = 0;
            while executed < n {
                rounds += 1;
                assert!(rounds < 100_000, "no progress");
                // Send from `next` onwards, losing and duplicating some.
                let i = next + (rng.next_u32() as usize % 4).min(n - next - 1);
                let p = pkts[if rng.next_u32() % 5 == 0 && i > 0 {
                    i - 1
                } else {
                    i
                }];
                if rng.next_u32() % 4 == 0 {
                    continue; // lost
                }
                match r.receive(&p) {
                    Verdict::Execute { .. } => {
                        assert_eq!(p.psn, pkts[executed].psn, "executed out of order");
                        executed += 1;
                        next = executed;
                    }
                    Verdict::Duplicate => assert!(p.psn.diff(r.epsn()) < 0),
                    Verdict::OutOfSequence { .. } => next = executed, // NAK: go back
                    v => panic!("a running responder said {v:?}"),
                }
            }
            assert_eq!(r.msn(), msgs);
        }
    }

    /// A responder restored inside a SEND takes its next packet (a MIDDLE
    /// or LAST at the expected PSN), refuses a new message, counts the
    /// MSN on from the image's, and executes nothing until resumed.
    #[test]
    fn restored_inside_a_send() {
        let mtu = 256;
        let mut r = Responder::restored(
            Service::Rc,
            Psn::new(40),
            7,
            path_mtu(mtu),
            InProgress::Send,
        );
        assert_eq!(r.receive(&req(op::SEND_LAST, 40, 10)), Verdict::Paused);
        r.resume();
        assert_eq!(r.receive(&req(op::SEND_FIRST, 40, mtu)), Verdict::Invalid);
        assert_eq!(
            r.receive(&req(op::SEND_MIDDLE, 40, mtu)),
            Verdict::Execute {
                first: false,
                last: false
            }
        );
        assert_eq!(
            r.receive(&req(op::SEND_LAST, 41, 10)),
            Verdict::Execute {
                first: false,
                last: true
            }
        );
        assert_eq!((r.epsn(), r.msn()), (Psn::new(42), 8));
        assert_eq!(r.receive(&req(op::SEND_ONLY, 39, 10)), Verdict::Duplicate);
    }
}
