// SPDX-License-Identifier: GPL-2.0

//! A simulation of one RC connection: the requester's packets
//! ([`Segments`]), the responder ([`Responder`]) and the completer
//! ([`Completer`]) over a link that loses, duplicates and reorders, with the
//! retransmission timer, and, when asked, migrations of the responder's
//! side: it is stopped (answering with the paused NAK) for far longer than
//! the requester's retry budget would last, then resumes and announces
//! itself. Every run checks that each message is executed exactly once and
//! in order, that READ data comes back whole, and that every request
//! completes, in order, without error.

extern crate std;

use super::aeth::Syndrome;
use super::comp::{pending, Action, Completer, Response};
use super::opcode::{flags, op, OpInfo};
use super::psn::Psn;
use super::req::{Kind, Segments, Service};
use super::resp::{Request, Responder, Verdict};
use super::testutil::Rng;
use std::collections::VecDeque;
use std::vec::Vec;

const MTU: u32 = 256;

#[derive(Clone, Copy, Debug)]
struct Msg {
    kind: Kind,
    len: u32,
    first: Psn,
}

/// A packet on the link: a request (message index, its segment) or a
/// response to the requester.
#[derive(Clone, Copy, Debug)]
enum Pkt {
    Req { msg: usize, req: Request },
    Resp(Response),
}

struct Link {
    q: VecDeque<Pkt>,
}

impl Link {
    fn send(&mut self, rng: &mut Rng, p: Pkt) {
        match rng.next_u32() % 100 {
            0..=9 => {} // lost
            10..=14 => {
                self.q.push_back(p);
                self.q.push_back(p);
            }
            15..=19 if !self.q.is_empty() => {
                let last = self.q.len() - 1;
                self.q.push_back(p);
                self.q.swap(last, last + 1);
            }
            _ => self.q.push_back(p),
        }
    }
}

/// Steps a migration keeps the responder stopped: about 30 timeouts' worth,
/// four times what `retry_cnt` 7 allows.
const STOP_STEPS: usize = 2000;

/// Runs one connection of `msgs`, stopping the responder now and then if
/// `migrate`; panics on any violation.
fn run(rng: &mut Rng, kinds: &[Kind], msgs: usize, migrate: bool) -> usize {
    let start = Psn::new(rng.next_u32());
    let mut plan = Vec::new();
    let mut psn = start;
    for _ in 0..msgs {
        let kind = kinds[rng.next_u32() as usize % kinds.len()];
        let len = rng.next_u32() % (4 * MTU + 1);
        let segs = Segments::new(kind, Service::Rc, len, MTU, psn).unwrap();
        plan.push(Msg {
            kind,
            len,
            first: psn,
        });
        psn = segs.next_psn();
    }

    let mut to_resp = Link { q: VecDeque::new() };
    let mut to_req = Link { q: VecDeque::new() };
    let mut resp = Responder::new(Service::Rc, start, MTU);
    let mut comp = Completer::new(7, 7, MTU);
    // Requester: the message and packet it sends next.
    let (mut cur, mut skip_to) = (0usize, start);
    // The PSN after the furthest one ever sent.
    let mut high = start;
    let mut oldest = 0usize; // completer: the oldest incomplete message
    let mut executed: Vec<usize> = Vec::new(); // responder: messages in order
    let mut read_got = 0u32;
    let mut idle = 0;
    // The step at which a stopped responder resumes.
    let mut stopped_until = None;
    let mut migrations = 0;

    for step in 0..2_000_000 {
        if oldest == plan.len() {
            break;
        }
        match stopped_until {
            None if migrate && rng.next_u32() % 100 == 0 => {
                resp.stop();
                stopped_until = Some(step + STOP_STEPS);
                migrations += 1;
            }
            Some(end) if step == end => {
                // Restored: the responder's side executes again and its
                // RESUME reaches the requester (it is retransmitted until
                // acknowledged, so it always arrives in the end).
                resp.resume();
                stopped_until = None;
                if oldest < plan.len() {
                    let m = plan[oldest];
                    match comp.on_resume(&pending(m.kind, m.first, m.len, MTU)) {
                        Action::Retry { from } => go_back(&plan, from, &mut cur, &mut skip_to),
                        a => panic!("resume gave {a:?}"),
                    }
                }
            }
            _ => {}
        }
        // The requester sends the next packet of its window (all of it),
        // unless its partner is stopped.
        if cur < plan.len() && !comp.is_paused() {
            let m = plan[cur];
            let mut segs = Segments::new(m.kind, Service::Rc, m.len, MTU, m.first).unwrap();
            let end = segs.next_psn();
            let next = if m.kind == Kind::Read {
                // One request covers the READ; resumed, it asks for the
                // rest from the PSN where its responses stopped.
                (skip_to.diff(end) < 0).then(|| Request {
                    opcode: op::RDMA_READ_REQUEST,
                    psn: skip_to,
                    len: 0,
                    read_len: m.len,
                })
            } else {
                segs.find(|s| s.psn.diff(skip_to) >= 0).map(|s| Request {
                    opcode: s.opcode,
                    psn: s.psn,
                    len: s.len,
                    read_len: 0,
                })
            };
            match next {
                Some(req) => {
                    to_resp.send(rng, Pkt::Req { msg: cur, req });
                    skip_to = if m.kind == Kind::Read {
                        end
                    } else {
                        req.psn.next()
                    };
                    if skip_to.diff(high) > 0 {
                        high = skip_to;
                    }
                }
                None => cur += 1,
            }
        }
        // The responder takes a packet.
        if let Some(Pkt::Req { msg, req }) = to_resp.q.pop_front() {
            let info = OpInfo::lookup(req.opcode).unwrap();
            match resp.receive(&req) {
                Verdict::Execute { last, .. } => {
                    if info.has(flags::READ) {
                        send_read(rng, &mut to_req, req.psn, req.read_len);
                    } else if last {
                        executed.push(msg);
                    }
                    if last && !info.has(flags::READ) {
                        to_req.send(rng, ack(req.psn));
                    }
                }
                Verdict::Duplicate => {
                    if info.has(flags::READ) {
                        // Replay the original READ's responses from here.
                        let m = plan[msg];
                        let skip = req.psn.diff(m.first) as u32;
                        send_read_from(rng, &mut to_req, m.first, m.len, skip);
                    } else {
                        to_req.send(rng, ack(resp.epsn() - 1));
                    }
                }
                Verdict::OutOfSequence { nak } => {
                    if nak {
                        let n = Response::Ack {
                            psn: resp.epsn(),
                            syndrome: Syndrome::Nak(super::aeth::NakCode::PsnSequenceError),
                        };
                        to_req.send(rng, Pkt::Resp(n));
                    }
                }
                Verdict::Paused => {
                    let n = Response::Ack {
                        psn: resp.epsn(),
                        syndrome: Syndrome::Nak(super::aeth::NakCode::Paused),
                    };
                    to_req.send(rng, Pkt::Resp(n));
                }
                Verdict::Invalid | Verdict::Resume => panic!("judged {req:?} invalid"),
            }
        }
        // The completer takes a response.
        let mut progressed = false;
        if let Some(Pkt::Resp(r)) = to_req.q.pop_front() {
            loop {
                if oldest == plan.len() {
                    break;
                }
                let m = plan[oldest];
                let p = pending(m.kind, m.first, m.len, MTU);
                match comp.on_response(&p, high, &r) {
                    Action::Complete => {
                        assert_ne!(m.kind, Kind::Read, "a READ completed without its data");
                        oldest += 1;
                        progressed = true;
                    }
                    Action::PlaceRead { offset, len, done } => {
                        assert_eq!(offset, read_got, "READ data out of place");
                        read_got += len;
                        progressed = true;
                        if done {
                            assert_eq!(read_got, m.len);
                            read_got = 0;
                            executed.push(oldest);
                            oldest += 1;
                        }
                        break;
                    }
                    Action::Retry { from } | Action::RnrWait { from, .. } => {
                        go_back(&plan, from, &mut cur, &mut skip_to);
                        break;
                    }
                    Action::Fail(f) => panic!("request {oldest} failed: {f:?}"),
                    Action::Pause => {
                        assert!(stopped_until.is_some(), "paused by a running partner");
                        break;
                    }
                    Action::Ignore => break,
                }
            }
        }
        // The retransmission timer.
        idle = if progressed { 0 } else { idle + 1 };
        if idle > 64 && to_resp.q.is_empty() && to_req.q.is_empty() {
            let m = plan[oldest];
            match comp.on_timeout(&pending(m.kind, m.first, m.len, MTU)) {
                Action::Retry { from } => go_back(&plan, from, &mut cur, &mut skip_to),
                Action::Ignore => assert!(comp.is_paused()),
                a => panic!("timeout gave {a:?} after {migrations} migrations"),
            }
            idle = 0;
        }
    }
    assert_eq!(oldest, plan.len(), "not every request completed");
    // Each message executed once, in order (READs count when their data is
    // whole; a READ replay never executes twice).
    let mut sorted = executed.clone();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        executed.len(),
        "a message executed twice: {executed:?}"
    );
    let writes: Vec<usize> = executed
        .iter()
        .copied()
        .filter(|&i| plan[i].kind != Kind::Read)
        .collect();
    assert!(
        writes.windows(2).all(|w| w[0] < w[1]),
        "executed out of order"
    );
    assert_eq!(executed.len(), plan.len());
    migrations
}

fn ack(psn: Psn) -> Pkt {
    Pkt::Resp(Response::Ack {
        psn,
        syndrome: Syndrome::Ack { credits: 31 },
    })
}

fn send_read(rng: &mut Rng, link: &mut Link, first: Psn, len: u32) {
    send_read_from(rng, link, first, len, 0)
}

fn send_read_from(rng: &mut Rng, link: &mut Link, first: Psn, len: u32, skip: u32) {
    let n = len.div_ceil(MTU).max(1);
    for i in skip..n {
        let chunk = (len - i * MTU).min(MTU);
        let opcode = match (i == 0, i == n - 1) {
            (true, true) => op::RDMA_READ_RESPONSE_ONLY,
            (true, false) => op::RDMA_READ_RESPONSE_FIRST,
            (false, false) => op::RDMA_READ_RESPONSE_MIDDLE,
            (false, true) => op::RDMA_READ_RESPONSE_LAST,
        };
        link.send(
            rng,
            Pkt::Resp(Response::ReadData {
                psn: first + i,
                opcode,
                len: chunk,
            }),
        );
    }
}

/// Go-back-N: resend from the packet at `from`.
fn go_back(plan: &[Msg], from: Psn, cur: &mut usize, skip_to: &mut Psn) {
    // PSNs wrap: the message is the last one starting at or before `from`,
    // counted from the first message's PSN.
    let base = plan[0].first;
    let at = from.diff(base);
    let i = plan
        .iter()
        .rposition(|m| m.first.diff(base) <= at)
        .expect("retry from before the first message");
    *cur = i;
    *skip_to = from;
}

#[test]
fn sends_and_writes_survive_a_bad_link() {
    let mut rng = Rng::new(1);
    for _ in 0..200 {
        run(
            &mut rng,
            &[Kind::Send, Kind::Write, Kind::WriteImm, Kind::SendImm],
            30,
            false,
        );
    }
}

#[test]
fn reads_mixed_in_survive_a_bad_link() {
    let mut rng = Rng::new(2);
    for _ in 0..200 {
        run(&mut rng, &[Kind::Send, Kind::Write, Kind::Read], 30, false);
    }
}

#[test]
fn long_migrations_of_the_responder_lose_nothing() {
    let mut rng = Rng::new(3);
    let mut migrations = 0;
    for _ in 0..200 {
        migrations += run(
            &mut rng,
            &[Kind::Send, Kind::WriteImm, Kind::Read],
            30,
            true,
        );
    }
    // The runs must really have migrated, many times over.
    assert!(migrations > 200, "only {migrations} migrations");
}
