// SPDX-License-Identifier: GPL-2.0

//! A simulation of one RC connection, both directions at once: each side
//! runs a requester ([`Segments`]), a completer ([`Completer`]) and a
//! responder ([`Responder`]) for the other's requests, over links that
//! lose, duplicate and reorder packets, with retransmission timers.
//!
//! A schedule may migrate either side at random instants, or both at once:
//! the side is stopped (it sends no requests, ignores responses, and answers
//! the request it would execute next with the paused NAK) for longer than
//! its partner's retry budget would last, then either resumes at a new
//! address (whatever was in flight towards it is lost) or in place (the
//! checkpoint was aborted). Either way it announces itself with RESUME,
//! which the links may lose like any packet, again every timeout until a
//! response comes, as the kernel does (docs/migration.md): the partner
//! answers RESUME with an ACK and goes back to its oldest request; a Paused
//! side that carries out a new request of its partner leaves Paused too.
//!
//! Every schedule checks that each message is executed exactly once and in
//! order, that READ data comes back whole, and that every request completes
//! in order without error, on both sides.
//!
//! `cargo test` (part of `make check`) runs [`SCHEDULES`] schedules;
//! `RXE_SIM_SCHEDULES=N cargo test --release sim` runs N, the long mode
//! (docs/migration.md gives the time 10,000,000 took).
//!
//! Host tests only: `lib.rs` declares it under `cfg(test)` and the module's
//! `rxe_migros/proto.rs` does not list it, so its `unwrap`s and panics are
//! the test's assertions and never reach the kernel.

extern crate std;

use super::aeth::{NakCode, Syndrome};
use super::comp::{pending, Action, Completer, Response};
use super::opcode::{flags, op, OpInfo};
use super::psn::Psn;
use super::req::{Kind, Mtu, Segments, Service};
use super::resp::{Request, Responder, Verdict};
use super::testutil::Rng;
use std::collections::VecDeque;
use std::vec::Vec;

const MTU: u32 = 256;
const PATH: Mtu = Mtu::new(MTU).unwrap();
/// Steps without progress before the retransmission timer fires.
const TIMEOUT: usize = 40;
/// Steps a migration keeps a side stopped: longer than the eight timeouts
/// `retry_cnt` 7 allows its partner.
const STOP_STEPS: usize = 12 * TIMEOUT;
/// Schedules in `cargo test`.
const SCHEDULES: u64 = 100_000;

#[derive(Clone, Copy, Debug)]
struct Msg {
    kind: Kind,
    len: u32,
    first: Psn,
}

#[derive(Clone, Copy, Debug)]
enum Pkt {
    Req {
        msg: usize,
        req: Request,
    },
    Resp(Response),
    /// RESUME: a restored side announces itself at its address.
    Resume {
        addr: u32,
    },
}

/// What a link does to the packets it carries.
#[derive(Clone, Copy, Debug)]
enum Faults {
    /// Loses, duplicates and reorders this percentage of packets each.
    Random(u32),
    /// Loses packet `i` of the first `n` if bit `i` of `lose` is set, and
    /// delivers everything else in order: every loss pattern of the first
    /// packets, one run each.
    Script { lose: u32, n: u32 },
}

/// A one-way link. Each packet carries the address (an epoch: a side that
/// moves gets a new one) it was sent to; a side takes only those sent to
/// its current address.
struct Link {
    q: VecDeque<(u32, Pkt)>,
    /// The address the sender sends to now.
    to: u32,
    faults: Faults,
    sent: u32,
}

impl Link {
    fn new(faults: Faults) -> Link {
        Link {
            q: VecDeque::new(),
            to: 0,
            faults,
            sent: 0,
        }
    }

    fn send(&mut self, rng: &mut Rng, p: Pkt) {
        let p = (self.to, p);
        let i = self.sent;
        self.sent = self.sent.saturating_add(1);
        let pct = match self.faults {
            Faults::Script { lose, n } => {
                if !(i < n && lose >> i & 1 == 1) {
                    self.q.push_back(p);
                }
                return;
            }
            Faults::Random(pct) => pct,
        };
        let r = rng.next_u32() % 100;
        match r {
            _ if r < pct => {} // lost
            _ if r < 2 * pct => {
                self.q.push_back(p);
                self.q.push_back(p);
            }
            _ if r < 3 * pct && !self.q.is_empty() => {
                let last = self.q.len() - 1;
                self.q.push_back(p);
                self.q.swap(last, last + 1);
            }
            _ => self.q.push_back(p),
        }
    }
}

/// One end of the connection.
struct Side {
    /// What it sends.
    plan: Vec<Msg>,
    /// Requester: the message and PSN it sends next, and the PSN after the
    /// furthest one sent.
    cur: usize,
    skip_to: Psn,
    high: Psn,
    /// Completer: the oldest incomplete message, READ bytes placed.
    comp: Completer,
    oldest: usize,
    read_got: u32,
    idle: usize,
    /// Responder for the other side's requests, and the SENDs and WRITEs
    /// it executed, in order.
    resp: Responder,
    executed: Vec<usize>,
    /// Migration: the step at which it comes back, and whether it comes
    /// back elsewhere (else the checkpoint was aborted).
    stopped_until: Option<(usize, bool)>,
    /// Resuming: sending RESUME until a response comes.
    resuming: bool,
    /// Its address (the partner's, as it knows it, is its out link's
    /// `to`).
    addr: u32,
}

impl Side {
    /// A side sending the messages `spec` gives, (kind, length) by index.
    fn new(
        rng: &mut Rng,
        msgs: usize,
        mut spec: impl FnMut(&mut Rng, usize) -> (Kind, u32),
        peer_start: Psn,
    ) -> (Side, Psn) {
        let start = Psn::new(rng.next_u32());
        let mut plan = Vec::new();
        let mut psn = start;
        for i in 0..msgs {
            let (kind, len) = spec(rng, i);
            let segs = Segments::new(kind, Service::Rc, len, PATH, psn).unwrap();
            plan.push(Msg {
                kind,
                len,
                first: psn,
            });
            psn = segs.next_psn();
        }
        let side = Side {
            plan,
            cur: 0,
            skip_to: start,
            high: start,
            comp: Completer::new(7, 7, PATH),
            oldest: 0,
            read_got: 0,
            idle: 0,
            resp: Responder::new(Service::Rc, peer_start, PATH),
            executed: Vec::new(),
            stopped_until: None,
            resuming: false,
            addr: 0,
        };
        (side, start)
    }

    fn done(&self) -> bool {
        self.oldest == self.plan.len() && self.stopped_until.is_none() && !self.resuming
    }

    fn oldest_pending(&self) -> Option<super::comp::Pending> {
        let m = self.plan.get(self.oldest)?;
        Some(pending(m.kind, m.first, m.len, PATH))
    }

    /// Go-back-N: resend from the packet at `from`.
    fn go_back(&mut self, from: Psn) {
        let base = self.plan[0].first;
        let at = from.diff(base);
        self.cur = self
            .plan
            .iter()
            .rposition(|m| m.first.diff(base) <= at)
            .expect("retry from before the first message");
        self.skip_to = from;
    }

    /// The partner announced itself, or this side came back: resend from
    /// the oldest request's resume point.
    fn resume_from_oldest(&mut self) {
        self.idle = 0;
        match self.oldest_pending() {
            Some(p) => match self.comp.on_resume(&p) {
                Action::Retry { from } => self.go_back(from),
                a => panic!("resume gave {a:?}"),
            },
            None => self.comp.unpause(),
        }
    }

    /// The partner's RESUME arrived: answer it, and unless stopped or
    /// announcing itself, leave Paused and resend from the oldest request
    /// (a Resuming side waits for the answer to its own RESUME).
    fn on_resume(&mut self, rng: &mut Rng, out: &mut Link, addr: u32) {
        out.to = addr;
        if self.stopped_until.is_some() || self.resuming {
            self.comp.unpause();
        } else {
            self.resume_from_oldest();
        }
        out.send(rng, ack(self.resp.epsn() - 1));
    }

    /// Sends the next request packet, unless stopped or paused.
    fn send_request(&mut self, rng: &mut Rng, out: &mut Link) {
        if self.stopped_until.is_some()
            || self.resuming
            || self.comp.is_paused()
            || self.cur >= self.plan.len()
        {
            return;
        }
        let m = self.plan[self.cur];
        let mut segs = Segments::new(m.kind, Service::Rc, m.len, PATH, m.first).unwrap();
        let end = segs.next_psn();
        let next = if m.kind == Kind::Read {
            // One request covers the READ; resumed, it asks for the rest
            // from the PSN where its responses stopped.
            (self.skip_to.diff(end) < 0).then_some(Request {
                opcode: op::RDMA_READ_REQUEST,
                psn: self.skip_to,
                len: 0,
                read_len: m.len,
            })
        } else {
            segs.find(|s| s.psn.diff(self.skip_to) >= 0)
                .map(|s| Request {
                    opcode: s.opcode,
                    psn: s.psn,
                    len: s.len,
                    read_len: 0,
                })
        };
        match next {
            Some(req) => {
                out.send(rng, Pkt::Req { msg: self.cur, req });
                self.skip_to = if m.kind == Kind::Read {
                    end
                } else {
                    req.psn.next()
                };
                if self.skip_to.diff(self.high) > 0 {
                    self.high = self.skip_to;
                }
            }
            None => self.cur += 1,
        }
    }

    /// Takes one packet off `inb`: a request for the responder, or a
    /// response for the completer.
    fn receive(&mut self, rng: &mut Rng, inb: &mut Link, out: &mut Link, peer_plan: &[Msg]) {
        let Some((to, pkt)) = inb.q.pop_front() else {
            return;
        };
        if to != self.addr {
            // Sent to an address it no longer has.
            return;
        }
        match pkt {
            Pkt::Req { msg, req } => self.respond(rng, out, peer_plan, msg, req),
            // A stopped QP's completer ignores responses: go-back-N will
            // earn them again.
            Pkt::Resp(_) if self.stopped_until.is_some() => {}
            Pkt::Resp(r) => {
                if self.resuming {
                    // The partner answers: it heard the RESUME.
                    self.resuming = false;
                    self.resume_from_oldest();
                }
                self.complete(r)
            }
            Pkt::Resume { addr } => self.on_resume(rng, out, addr),
        }
    }

    fn respond(
        &mut self,
        rng: &mut Rng,
        out: &mut Link,
        peer_plan: &[Msg],
        msg: usize,
        req: Request,
    ) {
        let info = OpInfo::lookup(req.opcode).unwrap();
        match self.resp.receive(&req) {
            Verdict::Execute { last, .. } => {
                if info.has(flags::READ) {
                    send_read(rng, out, req.psn, req.read_len, 0);
                } else if last {
                    self.executed.push(msg);
                    out.send(rng, ack(req.psn));
                }
                if self.comp.is_paused() && self.stopped_until.is_none() && !self.resuming {
                    // The partner is evidently running again.
                    self.resume_from_oldest();
                }
            }
            Verdict::Duplicate => {
                if info.has(flags::READ) {
                    let m = peer_plan[msg];
                    let skip = req.psn.diff(m.first) as u32;
                    send_read(rng, out, m.first, m.len, skip);
                } else {
                    out.send(rng, ack(self.resp.epsn() - 1));
                }
            }
            Verdict::OutOfSequence { nak } => {
                if nak {
                    out.send(rng, nak_for(self.resp.epsn(), NakCode::PsnSequenceError));
                }
            }
            Verdict::Paused => out.send(rng, nak_for(self.resp.epsn(), NakCode::Paused)),
            v => panic!("{req:?} judged {v:?}"),
        }
    }

    fn complete(&mut self, r: Response) {
        while let Some(p) = self.oldest_pending() {
            match self.comp.on_response(&p, self.high, &r) {
                Action::Complete => {
                    assert_ne!(p.kind, Kind::Read, "a READ completed without its data");
                    self.oldest += 1;
                    self.idle = 0;
                }
                Action::PlaceRead { offset, len, done } => {
                    assert_eq!(offset, self.read_got, "READ data out of place");
                    self.read_got += len;
                    self.idle = 0;
                    if done {
                        assert_eq!(self.read_got, p.length);
                        self.read_got = 0;
                        self.oldest += 1;
                    }
                    return;
                }
                Action::Retry { from } | Action::RnrWait { from, .. } => {
                    self.go_back(from);
                    return;
                }
                Action::Fail(f) => panic!("request {} failed: {f:?}", self.oldest),
                Action::Pause | Action::Ignore => return,
            }
        }
    }

    /// The retransmission timer (RESUME's too, while resuming); returns
    /// whether it sent RESUME again.
    fn tick(&mut self, rng: &mut Rng, out: &mut Link) -> bool {
        if self.stopped_until.is_some() {
            return false;
        }
        self.idle += 1;
        if self.idle < TIMEOUT {
            return false;
        }
        self.idle = 0;
        if self.resuming {
            out.send(rng, Pkt::Resume { addr: self.addr });
            return true;
        }
        if let Some(p) = self.oldest_pending() {
            match self.comp.on_timeout(&p) {
                Action::Retry { from } => self.go_back(from),
                Action::Ignore => assert!(self.comp.is_paused()),
                a => panic!("timeout gave {a:?}"),
            }
        }
        false
    }
}

fn ack(psn: Psn) -> Pkt {
    Pkt::Resp(Response::Ack {
        psn,
        syndrome: Syndrome::Ack { credits: 31 },
    })
}

fn nak_for(psn: Psn, code: NakCode) -> Pkt {
    Pkt::Resp(Response::Ack {
        psn,
        syndrome: Syndrome::Nak(code),
    })
}

/// A READ resumed after `skip` responses is, on the wire, a new request for
/// the rest: its responses start again with FIRST (or ONLY).
fn send_read(rng: &mut Rng, link: &mut Link, first: Psn, len: u32, skip: u32) {
    let n = len.div_ceil(MTU).max(1);
    for i in skip..n {
        let chunk = (len - i * MTU).min(MTU);
        let opcode = match (i == skip, i == n - 1) {
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

/// How a schedule migrates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Migrations {
    None,
    /// Either side, now and then, sometimes both at once.
    Random,
}

/// What the schedules did, to show they did it.
#[derive(Default)]
struct Stats {
    /// Stops (each one resumes, in place or elsewhere).
    migrations: u64,
    /// Stops that began while the partner was stopped too.
    overlapping: u64,
    /// Stops that ended at a new address.
    moves: u64,
    /// RESUMEs sent again because no response came.
    resume_resent: u64,
}

/// One step of side `x`, whose partner is `y`.
#[allow(clippy::too_many_arguments)]
fn step_side(
    rng: &mut Rng,
    step: usize,
    mig: Migrations,
    x: &mut Side,
    y: &mut Side,
    out: &mut Link,
    inb: &mut Link,
    stats: &mut Stats,
) {
    match x.stopped_until {
        // The next checkpoint comes once the last resume is done.
        None if mig == Migrations::Random && !x.resuming && rng.next_u32() % 50 == 0 => {
            x.resp.stop();
            // It may move unless its partner is stopped or announcing a
            // move of its own: the two would each announce themselves to
            // the other's old address. Stopping together is fine.
            let may_move = y.stopped_until.is_none() && !y.resuming;
            x.stopped_until = Some((step + STOP_STEPS, may_move && rng.bool()));
            stats.migrations += 1;
            stats.overlapping += u64::from(y.stopped_until.is_some());
        }
        Some((end, moved)) if step >= end => {
            x.stopped_until = None;
            x.resp.resume();
            if moved {
                // Restored elsewhere: what is on its way to the old
                // address, or will be until the partner hears of the new
                // one, is lost.
                x.addr += 1;
                stats.moves += 1;
            }
            // It announces itself until the partner answers, then resends
            // what is unacknowledged.
            x.resuming = true;
            x.idle = 0;
            out.send(rng, Pkt::Resume { addr: x.addr });
        }
        _ => {}
    }
    x.send_request(rng, out);
    // The link delivers faster than a side sends, so that queues stay
    // short and timeouts mean loss, not congestion.
    for _ in 0..4 {
        x.receive(rng, inb, out, &y.plan);
    }
    stats.resume_resent += u64::from(x.tick(rng, out));
}

/// Runs one schedule, adding to `stats`. Panics on any violation.
fn run(rng: &mut Rng, kinds: &[Kind], msgs: usize, mig: Migrations, pct: u32, stats: &mut Stats) {
    let random = |rng: &mut Rng, _| {
        let kind = kinds[rng.next_u32() as usize % kinds.len()];
        (kind, rng.next_u32() % (2 * MTU + 1))
    };
    let (a, a_start) = Side::new(rng, msgs, random, Psn::new(0));
    let (b, b_start) = Side::new(rng, msgs, random, a_start);
    let faults = Faults::Random(pct);
    run_sides(rng, a, b_start, b, faults, faults, mig, stats)
}

/// Runs sides `a` and `b` (whose first PSN is `b_start`) to the end over
/// links with `ab` and `ba` faults.
#[allow(clippy::too_many_arguments)]
fn run_sides(
    rng: &mut Rng,
    mut a: Side,
    b_start: Psn,
    mut b: Side,
    ab: Faults,
    ba: Faults,
    mig: Migrations,
    stats: &mut Stats,
) {
    a.resp = Responder::new(Service::Rc, b_start, PATH);
    let (mut ab, mut ba) = (Link::new(ab), Link::new(ba));
    for step in 0..10_000_000usize {
        if a.done() && b.done() {
            break;
        }
        step_side(rng, step, mig, &mut a, &mut b, &mut ab, &mut ba, stats);
        step_side(rng, step, mig, &mut b, &mut a, &mut ba, &mut ab, stats);
    }
    for (s, peer) in [(&a, &b), (&b, &a)] {
        assert_eq!(s.oldest, s.plan.len(), "not every request completed");
        assert!(
            s.stopped_until.is_none() && !s.resuming && !s.comp.is_paused(),
            "a side did not converge back to Running"
        );
        let sends: Vec<usize> = (0..peer.plan.len())
            .filter(|&i| peer.plan[i].kind != Kind::Read)
            .collect();
        assert_eq!(
            s.executed, sends,
            "executed: not each SEND/WRITE once and in order"
        );
    }
}

fn schedules() -> u64 {
    std::env::var("RXE_SIM_SCHEDULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCHEDULES)
}

/// Every loss pattern of the first eight packets on each link (65,536
/// runs per configuration) for small configurations: a multi-packet SEND
/// one way and a READ the other, WRITEs crossing, and a READ between SENDs.
/// Each completes with every message executed once and in order.
#[test]
fn small_configurations_survive_every_loss_pattern() {
    const N: u32 = 8;
    /// The messages each side sends, by kind and length.
    type Messages<'a> = &'a [(Kind, u32)];
    let configs: [(Messages<'_>, Messages<'_>); 3] = [
        (&[(Kind::Send, 2 * MTU)], &[(Kind::Read, MTU + 1)]),
        (&[(Kind::WriteImm, MTU)], &[(Kind::Write, 3)]),
        (
            &[(Kind::Send, 1), (Kind::Read, 2 * MTU), (Kind::Send, 0)],
            &[(Kind::Send, MTU)],
        ),
    ];
    let mut rng = Rng::new(4);
    for (pa, pb) in configs {
        for lose_ab in 0..1u32 << N {
            for lose_ba in 0..1u32 << N {
                let (mut a, a_start) = Side::new(&mut rng, pa.len(), |_, i| pa[i], Psn::new(0));
                let (mut b, b_start) = Side::new(&mut rng, pb.len(), |_, i| pb[i], a_start);
                // Up to sixteen losses may exhaust retry_cnt 7 legitimately:
                // the subject here is delivery, so the budget is ample.
                a.comp = Completer::new(u8::MAX, 7, PATH);
                b.comp = Completer::new(u8::MAX, 7, PATH);
                let ab = Faults::Script {
                    lose: lose_ab,
                    n: N,
                };
                let ba = Faults::Script {
                    lose: lose_ba,
                    n: N,
                };
                let mut stats = Stats::default();
                run_sides(
                    &mut rng,
                    a,
                    b_start,
                    b,
                    ab,
                    ba,
                    Migrations::None,
                    &mut stats,
                );
            }
        }
    }
}

#[test]
fn traffic_survives_a_bad_link() {
    let mut rng = Rng::new(1);
    for _ in 0..300 {
        let kinds = [Kind::Send, Kind::Write, Kind::WriteImm, Kind::Read];
        run(
            &mut rng,
            &kinds,
            30,
            Migrations::None,
            10,
            &mut Stats::default(),
        );
    }
}

#[test]
fn migrations_lose_and_duplicate_nothing() {
    let mut rng = Rng::new(3);
    let (mut stats, n) = (Stats::default(), schedules());
    for _ in 0..n {
        let msgs = 1 + rng.next_u32() as usize % 8;
        let kinds = [Kind::Send, Kind::WriteImm, Kind::Read];
        run(&mut rng, &kinds, msgs, Migrations::Random, 2, &mut stats);
    }
    let Stats {
        migrations,
        overlapping,
        moves,
        resume_resent,
    } = stats;
    // The schedules must really have migrated, many times over, in every
    // way the test claims.
    std::eprintln!(
        "{n} schedules, {migrations} migrations, {overlapping} of both ends at once, \
         {moves} to a new address, {resume_resent} RESUMEs sent again"
    );
    assert!(
        migrations > n / 2,
        "only {migrations} migrations in {n} schedules"
    );
    assert!(
        overlapping > n / 100,
        "only {overlapping} migrations of both ends at once"
    );
    assert!(moves > n / 10, "only {moves} moves");
    assert!(
        resume_resent > n / 100,
        "only {resume_resent} RESUMEs sent again"
    );
}
