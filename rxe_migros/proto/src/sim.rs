// SPDX-License-Identifier: GPL-2.0

//! A simulation of one RC connection between two of the core's QP engines
//! ([`Engine`], the code the kernel module runs), both directions at once,
//! over links that lose, duplicate and reorder packets.
//!
//! Each side is a host as the engine sees it ([`Io`]): librxe's rings and
//! one MR in a byte vector (the process's memory), real packets built and
//! sealed with their IP and UDP headers and ICRC, and a receive path that
//! checks them whole and takes only those sent to its address and QP.
//! Time is simulated: each step is [`STEP_NS`], a packet arrives (or is
//! lost) the step after it is sent, and a side's timer fires when the
//! engine's deadline has come.
//!
//! A schedule may migrate either side at random instants, or both at once.
//! The side is stopped (`Engine::stop`) for longer than its partner's retry
//! budget would last; then either the checkpoint is aborted and it resumes
//! in place, or it moves: its engine is dumped into a real image (context,
//! PD, CQ, MR and QP records, sealed), the image is parsed and planned as a
//! restore plans it ([`crate::restore::plan`]), on a device where its QP
//! number may be taken (the plan remaps it), and a fresh engine is restored
//! from the QP record ([`Engine::restored`]) at a new address, with the
//! rings from the image and the process's memory carried along, as CRIU
//! carries it. What was in flight to the old address is lost. Either way
//! the engine decides what follows: RESUME, its retries, the partner's
//! answer.
//!
//! Every schedule checks, on both sides, that every send request completes
//! in order and without error, that each SEND and WRITE with immediate
//! completes exactly once and in order at the responder, and that every
//! SEND, WRITE and READ moved exactly the right bytes.
//!
//! `cargo test` (part of `make check`) runs [`SCHEDULES`] schedules;
//! `RXE_SIM_SCHEDULES=N cargo test --release sim` runs N, the long mode
//! (docs/migration.md gives the time 10,000,000 took).
//!
//! Host tests only: `lib.rs` declares it under `cfg(test)` and the module's
//! `rxe_migros/proto.rs` does not list it, so its `unwrap`s and panics are
//! the test's assertions and never reach the kernel.

extern crate std;

use super::engine::{
    self, AtomicOp, Av, Count, Engine, Inbox, Io, Need, NewSource, QpEvent, Queue, Status, Time,
    WcKind, MAX_UNACKED_PSNS,
};
use super::fastreg;
use super::hdr::{Bth, Extensions};
use super::host::{config, ring_bytes, sge, storage, Host, Sim, AH_NUM, MR_BASE, MR_KEY};
use super::image::{self, Context, Cq, Image, Mr, Pd, Record, RingImage};
use super::mig::{AddressUpdate, MigState, Token, TokenKind, UD_MOVE_QPN};
use super::modify::{Attrs, QpState as State, QpType, Refused, Request};
use super::moves::{self, Known};
use super::mw::{self, Bind, MwType};
use super::opcode::{op, TRANSPORT_RC, TRANSPORT_UD};
use super::psn::Psn;
use super::queue::{Ring, CONSUMER_OFFSET};
use super::req::{Kind, Service};
use super::restore::{self, Name, Step};
use super::roce::{ipv4_mapped, is_multicast, Datagram, Encap, MULTICAST_QPN};
use super::testutil::Rng;
use super::wqe::{self, send_flags, SendHead, UdDest};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec::Vec;

/// The path MTU: 256 bytes (`IB_MTU_256`).
const MTU: u32 = 256;
const IB_MTU_256: u32 = 1;
/// One step of simulated time.
const STEP_NS: Time = 50_000;
/// The retransmission timeout code: 4.096 µs << 9, about 42 steps.
const TIMEOUT_CODE: u8 = 9;
const TIMEOUT_STEPS: usize = ((4096u64 << TIMEOUT_CODE) / STEP_NS) as usize;
/// Steps a migration keeps a side stopped: longer than the eight timeouts
/// `retry_cnt` 7 allows its partner.
const STOP_STEPS: usize = 12 * TIMEOUT_STEPS;
/// Packets a link hands to a side per step, at most.
const DELIVER_PER_STEP: usize = 8;
/// Schedules in `cargo test`.
const SCHEDULES: u64 = 100_000;
/// The most messages a side sends in a schedule.
const MAX_MSGS: usize = 32;
/// Room per message in each region of a side's memory.
const SLOT: usize = 1024;
/// The regions: what its requests send or READs and atomics fill, what the
/// partner's WRITEs fill, what the partner's READs read, receive buffers,
/// and the counter the partner's atomics work on.
const OUT: usize = 0;
const WIN: usize = MAX_MSGS * SLOT;
const RIN: usize = 2 * MAX_MSGS * SLOT;
const RECV: usize = 3 * MAX_MSGS * SLOT;
const COUNTER: usize = 4 * MAX_MSGS * SLOT;
const MEMORY: usize = COUNTER + 8;
/// The QP number each side starts with, and the one a restore takes
/// when that is taken on the destination.
const QPN: u32 = 0x11;
const REMAPPED_QPN: u32 = 0x40;
/// A UD QP's Q_Key.
const QKEY: u32 = 0x1234;
/// UD schedules in `cargo test`.
const UD_SCHEDULES: u64 = 20_000;
/// `IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC`.
const REMOTE_ACCESS: u32 = 0xe | 1 << 8;
/// What a request's result room holds before an atomic's result lands.
const NO_RESULT: u8 = 0xa5;

/// The byte at offset `k` of message `i` that side `side` sends (or
/// offers to READs).
fn pattern(side: usize, i: usize, k: usize) -> u8 {
    (side * 131 + i * 31 + k * 7 + 1) as u8
}

/// The GID of side `side` at its `epoch`th address.
fn gid(side: usize, epoch: u32) -> [u8; 16] {
    ipv4_mapped([10, side as u8, (epoch >> 8) as u8, epoch as u8])
}

#[derive(Clone, Copy, Debug)]
struct Msg {
    kind: Kind,
    len: u32,
    imm: u32,
}

/// The receive path in front of a side: full checks (ICRC included), then
/// only packets to its address and QP go on; the rest are dropped, as the
/// kernel's receive path drops them.
struct Arrivals<'a> {
    q: &'a mut VecDeque<Vec<u8>>,
    addr: [u8; 16],
    qpn: u32,
    left: usize,
    /// The device's move table, which UD announcements fill.
    moves: &'a RefCell<moves::Table>,
    /// UD datagrams that came to an address the side left.
    lost: &'a RefCell<Vec<u32>>,
    /// The side's host, whose device answers UD token requests.
    host: &'a Host,
    now: Time,
}

/// Whether `gid` is one of the attacker's addresses.
fn attacker(gid: &[u8; 16]) -> bool {
    (0..4).any(|e| *gid == super::sim::gid(9, e))
}

impl Inbox for Arrivals<'_> {
    fn next(&mut self, f: impl FnOnce(&[u8])) -> bool {
        if self.left == 0 {
            return false;
        }
        let Some(p) = self.q.pop_front() else {
            return false;
        };
        self.left -= 1;
        let d = Datagram::parse(&p).expect("a packet the engine built does not parse");
        let ud = d.packet.bth.opcode & 0xe0 == TRANSPORT_UD;
        if ud && d.packet.bth.proto && d.dst == self.addr {
            // As the kernel's receive path: a peer that speaks.
            self.moves.borrow_mut().heard(&d.src);
        }
        let token = d.packet.info.has(super::opcode::flags::TOKEN);
        let now_s = self.now / 1_000_000_000;
        // To a multicast group the side is in: the device's copy for its QP.
        let to_group = ud && is_multicast(&d.dst) && d.packet.bth.dest_qpn == MULTICAST_QPN;
        if d.dst != self.addr && !to_group {
            // Lost to a move, unless it went to the attacker: that would be
            // rerouted, and vanish.
            if ud && !token && d.packet.bth.dest_qpn == self.qpn && !attacker(&d.dst) {
                let b = d.packet.payload();
                self.lost
                    .borrow_mut()
                    .push(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            }
        } else if ud && d.packet.bth.dest_qpn == UD_MOVE_QPN && token {
            // The device's, as the kernel's receive path hands them over:
            // token requests, answered at the address they came from.
            assert!(
                moves::grant(&d, &self.host.verifier, now_s).is_ok(),
                "a request refused"
            );
            self.host.ud_token_request(&d);
        } else if ud && d.packet.bth.dest_qpn == UD_MOVE_QPN {
            // And announcements: ours are taken, the attacker's refused.
            match moves::accept(&d, &self.host.verifier, now_s) {
                Ok(m) => {
                    assert!(!attacker(&d.src), "a forged announcement was taken");
                    self.moves.borrow_mut().learn(&m).unwrap();
                }
                Err(e) => {
                    assert!(
                        attacker(&d.src),
                        "an announcement we sent is refused: {e:?}"
                    );
                    self.host
                        .refused_moves
                        .set(self.host.refused_moves.get() + 1);
                }
            }
        } else if d.packet.bth.dest_qpn == self.qpn || to_group {
            f(&p);
        }
        true
    }
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

/// A one-way link.
struct Link {
    /// What the receiver may take now.
    q: VecDeque<Vec<u8>>,
    /// What was sent this step: it arrives, or not, at the next.
    flight: Vec<Vec<u8>>,
    faults: Faults,
    sent: u32,
}

impl Link {
    fn new(faults: Faults) -> Link {
        Link {
            q: VecDeque::new(),
            flight: Vec::new(),
            faults,
            sent: 0,
        }
    }

    /// The packets sent in the last step arrive, as the faults decide.
    fn arrive(&mut self, rng: &mut Rng) {
        for p in core::mem::take(&mut self.flight) {
            self.deliver(rng, p);
        }
    }

    fn is_empty(&self) -> bool {
        self.q.is_empty() && self.flight.is_empty()
    }

    fn deliver(&mut self, rng: &mut Rng, p: Vec<u8>) {
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
                self.q.push_back(p.clone());
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
    /// Which end: 0 or 1.
    id: usize,
    host: Host,
    engine: Engine<Sim>,
    /// What it sends, how much of it is posted, and every how many steps
    /// it posts the next (0: all at once).
    plan: Vec<Msg>,
    posted: usize,
    pace: usize,
    /// Its address's epoch: a side that moves gets a new address.
    epoch: u32,
    /// Times it resumed, in place or elsewhere.
    resumes: u64,
    /// It only receives, and stays in RTR, as perftest's WRITE server does:
    /// it never had a send PSN its partner knows.
    rtr_only: bool,
    /// Forged RESUMEs the attacker sent it.
    forged: u64,
    /// Migration: the step at which it comes back, and whether it comes
    /// back elsewhere (else the checkpoint was aborted).
    stopped_until: Option<(usize, bool)>,
}

impl Side {
    /// Side `id`, sending `plan`, whose partner sends `peer`. Its rings
    /// hold every request and as many receives as the partner's messages
    /// take.
    fn new(id: usize, service: Service, plan: Vec<Msg>, peer: &[Msg]) -> Side {
        let wr = MAX_MSGS as u32;
        let sq = Ring::new(wr, wqe::SEND_WQE_BYTES + wqe::SGE_BYTES, 64).unwrap();
        let rq = Ring::new(wr, wqe::RECV_WQE_BYTES + wqe::SGE_BYTES, 64).unwrap();
        let mut buf = std::vec![0u8; MEMORY];
        for (i, m) in plan.iter().enumerate() {
            if is_atomic(m.kind) {
                buf[OUT + i * SLOT..][..8].fill(NO_RESULT);
            } else if m.kind != Kind::Read {
                for k in 0..m.len as usize {
                    buf[OUT + i * SLOT + k] = pattern(id, i, k);
                }
            }
            if service == Service::Ud {
                // A datagram says which it is: loss is allowed on UD.
                buf[OUT + i * SLOT..][..4].copy_from_slice(&(i as u32).to_le_bytes());
            }
        }
        // What the partner's READs read.
        for (i, m) in peer.iter().enumerate() {
            if m.kind == Kind::Read {
                for k in 0..m.len as usize {
                    buf[RIN + i * SLOT + k] = pattern(id, i, k);
                }
            }
        }
        let host = Host::new(sq, rq, buf, gid(id, 0), gid(1 - id, 0));
        for j in 0..peer.iter().filter(|m| takes_recv(m.kind)).count() {
            let list = [sge(RECV + j * SLOT, SLOT as u32)];
            host.post(Queue::Recv, |slot| {
                wqe::write_recv(slot, 1000 + j as u64, list.into_iter()).unwrap()
            });
        }
        let cfg = config(QPN, service, sq, rq);
        let (sent, slot) = storage(&cfg);
        let mut side = Side {
            id,
            host,
            engine: Engine::new(cfg, sent, slot),
            plan,
            posted: 0,
            // Datagrams go out one at a time, so that moves find them on
            // their way; RC requests are all posted at once.
            pace: if service == Service::Ud { 20 } else { 0 },
            epoch: 0,
            resumes: 0,
            rtr_only: false,
            forged: 0,
            stopped_until: None,
        };
        if side.pace == 0 {
            while side.posted < side.plan.len() {
                side.post_next();
            }
        }
        side
    }

    /// Posts the next request of the plan into the send ring.
    fn post_next(&mut self) {
        let (i, m) = (self.posted, self.plan[self.posted]);
        let (opcode, ex, remote) = match m.kind {
            Kind::Send => (wqe::opcode::SEND, 0, 0),
            Kind::SendImm => (wqe::opcode::SEND_WITH_IMM, m.imm, 0),
            Kind::Write => (wqe::opcode::RDMA_WRITE, 0, WIN + i * SLOT),
            Kind::WriteImm => (wqe::opcode::RDMA_WRITE_WITH_IMM, m.imm, WIN + i * SLOT),
            Kind::Read => (wqe::opcode::RDMA_READ, 0, RIN + i * SLOT),
            Kind::FetchAdd => (wqe::opcode::ATOMIC_FETCH_AND_ADD, 0, COUNTER),
            Kind::CompareSwap => (wqe::opcode::ATOMIC_CMP_AND_SWP, 0, COUNTER),
            Kind::AtomicWrite => (wqe::opcode::ATOMIC_WRITE, 0, WIN + i * SLOT),
            Kind::Flush => (wqe::opcode::FLUSH, 0, WIN + i * SLOT),
            k => panic!("{k:?} is not simulated"),
        };
        let atomic = atomics(&self.plan)[i].map(|(op, _)| match op {
            AtomicOp::FetchAdd { add } => (add, 0),
            AtomicOp::CompareSwap { compare, swap } => (compare, swap),
            AtomicOp::Write { .. } => unreachable!("not in a plan's atomics"),
        });
        let head = SendHead {
            wr_id: i as u64,
            opcode,
            flags: send_flags::SIGNALED,
            ex,
            remote_addr: MR_BASE + remote as u64,
            rkey: MR_KEY,
            ud: (self.engine.config().service == Service::Ud).then_some(UdDest {
                remote_qpn: QPN,
                remote_qkey: QKEY,
                ah_num: AH_NUM,
            }),
            atomic,
        };
        let list = [sge(OUT + i * SLOT, m.len)];
        let id = self.id;
        self.host.post(Queue::Send, |slot| match m.kind {
            // Its eight bytes in the request, the WRITE's pattern.
            Kind::AtomicWrite => {
                let data = wqe::write_send_inline(slot, &head, 8).unwrap();
                for (k, b) in data.iter_mut().enumerate() {
                    *b = pattern(id, i, k);
                }
            }
            // The window to global visibility, by range or as the MR.
            Kind::Flush => wqe::write_flush(slot, &head, m.len, 1, (m.imm & 1) as u8).unwrap(),
            _ => wqe::write_send(slot, &head, list.into_iter()).unwrap(),
        });
        self.posted += 1;
    }

    /// Connects to `peer` (its address and QP) as Modify QP would take it
    /// through INIT, RTR and RTS, with `sq_psn` and the partner's `rq_psn`.
    fn connect(&mut self, now: Time, peer: [u8; 16], sq_psn: u32, rq_psn: u32, retry: u8) {
        let av = Av {
            dgid: peer,
            sgid: self.host.addr,
            hop_limit: 64,
            ..Av::default()
        };
        let mut a = Attrs::new();
        let states: &[State] = if self.rtr_only {
            &[State::Init, State::Rtr]
        } else {
            &[State::Init, State::Rtr, State::Rts]
        };
        for &state in states {
            a.state = state;
            a.qkey = QKEY;
            a.access = REMOTE_ACCESS;
            a.path_mtu = IB_MTU_256;
            a.dest_qpn = QPN;
            // RTS gives the send PSN; a QP that stays in RTR has none.
            a.sq_psn = if self.rtr_only { 0 } else { sq_psn };
            a.rq_psn = rq_psn;
            a.av = (self.engine.config().service != Service::Ud).then_some(av);
            a.timeout = TIMEOUT_CODE;
            a.retry_cnt = retry;
            a.rnr_retry = 7;
            a.max_rd_atomic = 4;
            a.max_dest_rd_atomic = 4;
            self.engine.set_attrs(&self.host, now, a, IB_MTU_256);
        }
    }

    /// A Stopped UD QP asks its peer's device for a token, as the
    /// kernel's STOP has it ask the devices its context's AHs name.
    fn ask_ud_tokens(&mut self) {
        if self.engine.config().service == Service::Ud {
            let av = self.host.ah(AH_NUM).unwrap();
            let moves = &self.host.moves;
            self.engine
                .ask_ud_tokens(&self.host, &[av], |g| moves.borrow().speaks(g));
        }
    }

    fn done(&self) -> bool {
        let sends = self
            .host
            .completions
            .borrow()
            .iter()
            .filter(|(q, _)| *q == Queue::Send)
            .count();
        sends == self.plan.len()
            && self.stopped_until.is_none()
            && self.engine.mig() == MigState::Running
    }

    /// Runs the engine as the kernel's work items do: the packets that
    /// arrived, then the timer if it is due.
    fn run(&mut self, now: Time, inb: &mut Link) {
        let mut arrivals = Arrivals {
            q: &mut inb.q,
            addr: self.host.addr,
            qpn: self.engine.config().qpn,
            left: DELIVER_PER_STEP,
            moves: &self.host.moves,
            lost: &self.host.lost,
            host: &self.host,
            now,
        };
        self.engine.run(&self.host, now, &mut arrivals);
        if self
            .engine
            .poll_timeout(&self.host)
            .is_some_and(|at| at <= now)
        {
            self.engine.on_timer(&self.host, now);
            let mut none = Arrivals {
                left: 0,
                ..arrivals
            };
            self.engine.run(&self.host, now, &mut none);
        }
    }

    /// The checkpoint of a Stopped side, as the kernel's DUMP writes it:
    /// the records of its context, PD, CQ, MR, SRQ if it has one, and QP,
    /// sealed.
    fn dump(&self) -> Vec<u8> {
        let mem = self.host.mem.borrow();
        let srq = self.host.srq.as_ref().map(|q| q.borrow());
        let on_srq = self.engine.config().srq;
        let ring = |bytes| RingImage {
            mmap_offset: 0,
            bytes,
        };
        let mut qp = image::Qp {
            handle: if on_srq { 4 } else { 3 },
            srq: on_srq.then_some(3),
            qpn: self.engine.config().qpn,
            qp_type: match self.engine.config().service {
                Service::Ud => 4,
                _ => 2,
            },
            pd: 0,
            send_cq: 1,
            recv_cq: 1,
            max_send_wr: self.host.sq.capacity(),
            max_recv_wr: self.host.rq.capacity(),
            max_send_sge: 1,
            max_recv_sge: 1,
            sq: ring(&mem.sq),
            rq: ring(&mem.rq),
            ..image::Qp::EMPTY
        };
        self.engine.dump(&mut qp).expect("a Stopped engine dumps");
        let mut records = std::vec![
            Record::Context(Context { cookie: 1 }),
            Record::Pd(Pd { handle: 0 }),
            Record::Cq(Cq {
                handle: 1,
                cqe: 127,
                notify: 0,
                channel: 0,
                comp_vector: 0,
                user_handle: 0,
                comp_events: 0,
                async_events: 0,
                comp_event_waiting: false,
                ring: ring(&[]),
            }),
            Record::Mr(Mr {
                handle: 2,
                pd: 0,
                access: 7,
                lkey: MR_KEY,
                rkey: MR_KEY,
                start: MR_BASE,
                iova: MR_BASE,
                length: MEMORY as u64,
            }),
        ];
        if let (true, Some(q)) = (on_srq, &srq) {
            let next = u32::from_le_bytes(q[CONSUMER_OFFSET..][..4].try_into().unwrap());
            records.push(Record::Srq(image::Srq {
                handle: 3,
                pd: 0,
                num: 0x20001,
                max_wr: self.host.rq.capacity(),
                max_sge: 1,
                limit: 0,
                next,
                user_handle: 0,
                async_events: 0,
                ring: ring(q),
            }));
        }
        records.push(Record::Qp(qp));
        image::sealed(&records)
    }

    /// Restores the side from `bytes` on a device where its QP number is
    /// taken if `qpn_taken`, at its next address: the plan decides the
    /// QP's number, the engine comes back from the record, the rings from
    /// the image. Returns whether the number changed.
    fn restore(&mut self, bytes: &[u8], qpn_taken: bool) -> bool {
        let img = Image::parse(bytes).expect("our own image parses");
        let mut index = std::vec![0u8; restore::index_bytes(&img)];
        let old_qpn = self.engine.config().qpn;
        let in_use = |n: Name| qpn_taken && n == Name::Qpn(old_qpn);
        let mut qp = None;
        let plan = restore::plan(
            &img,
            in_use,
            &mut index,
            || true,
            |s| match s {
                Step::Create {
                    record: Record::Qp(q),
                    ..
                } => qp = Some((q, q.qpn)),
                Step::RemapQpn { qp: q, .. } => qp = Some((q, REMAPPED_QPN)),
                _ => {}
            },
        )
        .expect("our own image plans");
        let (rec, qpn) = qp.expect("the image has the QP");
        assert_eq!(plan.remapped_qpns, u32::from(qpn_taken));
        {
            let mut mem = self.host.mem.borrow_mut();
            mem.sq.copy_from_slice(rec.sq.bytes);
            mem.rq.copy_from_slice(rec.rq.bytes);
        }
        self.epoch += 1;
        self.host.addr = gid(self.id, self.epoch);
        // Another device: it has heard of no moves.
        *self.host.moves.borrow_mut() = moves::Table::new();
        let cfg = engine::Config {
            srq: self.engine.config().srq,
            ..config(
                qpn,
                self.engine.config().service,
                self.host.sq,
                self.host.rq,
            )
        };
        let (sent, slot) = storage(&cfg);
        let target = |key, at: usize, left: u32| {
            self.host
                .lookup(key, Need::RemoteWrite, MR_BASE + at as u64, left)
                .map(|(k, _)| k)
        };
        self.engine = Engine::restored(target, cfg, sent, slot, &rec, IB_MTU_256)
            .expect("our own record restores");
        qpn != old_qpn
    }

    /// Restores the side from `bytes` at its next address (its QP number
    /// free) and resumes it there, announcing the move to its partner.
    fn restore_and_resume(&mut self, bytes: &[u8], now: Time) {
        self.restore(bytes, false);
        let src = NewSource {
            gid: self.host.addr,
            index: 0,
        };
        let sent = self.engine.resume(&self.host, now, Some(src), false);
        assert_eq!(sent, Some(true), "no RESUME sent");
    }

    /// Checks the end of a schedule: every request completed in order and
    /// without error, the partner's SENDs and WRITEs with immediate each
    /// completed once and in order, and all the bytes are where they
    /// belong.
    fn check(&self, peer: &Side) {
        assert_eq!(*self.host.warnings.borrow(), 0, "the engine warned");
        assert!(
            self.host.events.borrow().is_empty(),
            "events: {:?}",
            self.host.events.borrow()
        );
        if self.engine.config().service == Service::Ud {
            return self.check_ud(peer);
        }
        let state = if self.rtr_only {
            State::Rtr
        } else {
            State::Rts
        };
        assert_eq!(self.engine.attrs().state, state, "the QP left {state:?}");
        // Every PSN it sent was acknowledged, an atomic's by its atomic ACK
        // too (or a requester stalls MAX_UNACKED_PSNS after its atomics).
        assert_eq!(self.engine.unacknowledged(), 0, "PSNs left unacknowledged");
        let completions = self.host.completions.borrow();
        let sends: Vec<_> = completions
            .iter()
            .filter(|(q, _)| *q == Queue::Send)
            .map(|(_, c)| c)
            .collect();
        for (i, c) in sends.iter().enumerate() {
            assert_eq!((c.wr_id, c.status), (i as u64, Status::Success), "{c:?}");
        }
        let recvs: Vec<_> = completions
            .iter()
            .filter(|(q, _)| *q == Queue::Recv)
            .map(|(_, c)| c)
            .collect();
        let expected: Vec<(usize, &Msg)> = peer
            .plan
            .iter()
            .enumerate()
            .filter(|(_, m)| takes_recv(m.kind))
            .collect();
        assert_eq!(
            recvs.len(),
            expected.len(),
            "not each SEND and WRITE with immediate completed once"
        );
        let mem = self.host.mem.borrow();
        for (j, (c, (i, m))) in recvs.iter().zip(&expected).enumerate() {
            assert_eq!(c.wr_id, 1000 + j as u64, "receives out of order");
            assert_eq!(c.status, Status::Success);
            let kind = match m.kind {
                Kind::WriteImm => WcKind::RecvRdmaWithImm,
                _ => WcKind::Recv,
            };
            assert_eq!((c.kind, c.byte_len), (kind, m.len), "message {i}");
            if matches!(m.kind, Kind::SendImm | Kind::WriteImm) {
                assert_eq!(c.imm, Some(m.imm));
            }
            if kind == WcKind::Recv {
                let got = &mem.buf[RECV + j * SLOT..][..m.len as usize];
                assert!(
                    got.iter()
                        .enumerate()
                        .all(|(k, &b)| b == pattern(peer.id, *i, k)),
                    "SEND {i}'s bytes"
                );
            }
        }
        for (i, m) in peer.plan.iter().enumerate() {
            if matches!(m.kind, Kind::Write | Kind::WriteImm | Kind::AtomicWrite) {
                let got = &mem.buf[WIN + i * SLOT..][..m.len as usize];
                assert!(
                    got.iter()
                        .enumerate()
                        .all(|(k, &b)| b == pattern(peer.id, i, k)),
                    "WRITE {i}'s bytes"
                );
            }
        }
        for (i, m) in self.plan.iter().enumerate() {
            if m.kind == Kind::Read {
                let got = &mem.buf[OUT + i * SLOT..][..m.len as usize];
                assert!(
                    got.iter()
                        .enumerate()
                        .all(|(k, &b)| b == pattern(peer.id, i, k)),
                    "READ {i}'s bytes"
                );
            }
        }
        // Each atomic ran once, in order: each returned what the atomics
        // before it left, and the counter holds what all of them leave.
        for (i, a) in atomics(&self.plan).iter().enumerate() {
            if let Some((_, orig)) = a {
                let got = &mem.buf[OUT + i * SLOT..][..8];
                assert_eq!(got, &orig.to_ne_bytes(), "atomic {i}'s result");
            }
        }
        let counter = atomics(&peer.plan)
            .iter()
            .flatten()
            .fold(0, |v, (op, _)| op.apply(v));
        assert_eq!(
            &mem.buf[COUNTER..COUNTER + 8],
            &counter.to_ne_bytes(),
            "the counter the partner's atomics work on"
        );
    }
}

impl Side {
    /// Checks the end of a UD schedule: every send completed in order and
    /// without error, and each of the partner's datagrams arrived once,
    /// whole, or was lost because it went to an address this side had
    /// left; none other was lost, none came twice.
    fn check_ud(&self, peer: &Side) {
        assert_eq!(self.engine.attrs().state, State::Rts, "the QP left RTS");
        let completions = self.host.completions.borrow();
        let mut sends = 0;
        let mut got = std::vec![false; peer.plan.len()];
        let mem = self.host.mem.borrow();
        let mut j = 0;
        for (q, c) in completions.iter() {
            assert_eq!(c.status, Status::Success, "{c:?}");
            if *q == Queue::Send {
                assert_eq!(c.wr_id, sends, "sends out of order");
                sends += 1;
                continue;
            }
            assert_eq!(c.wr_id, 1000 + j as u64, "receives out of order");
            assert_eq!(c.src_qp, QPN);
            let at = RECV + j * SLOT + engine::GRH_BYTES as usize;
            let i = u32::from_le_bytes(mem.buf[at..at + 4].try_into().unwrap()) as usize;
            let m = peer.plan[i];
            assert!(!got[i], "datagram {i} came twice");
            got[i] = true;
            assert_eq!(c.byte_len, engine::GRH_BYTES + m.len, "datagram {i}");
            assert!(
                (4..m.len as usize).all(|k| mem.buf[at + k] == pattern(peer.id, i, k)),
                "datagram {i}'s bytes"
            );
            j += 1;
        }
        for &i in self.host.lost.borrow().iter() {
            assert!(!got[i as usize], "datagram {i} came, and was lost too");
            got[i as usize] = true;
        }
        assert!(got.iter().all(|&g| g), "a datagram vanished: {got:?}");
    }
}

fn is_atomic(kind: Kind) -> bool {
    matches!(kind, Kind::FetchAdd | Kind::CompareSwap)
}

/// The atomics of `plan`, in order, on the partner's counter (which only
/// they touch, from 0): each one's operation and what it returns. A
/// compare and swap compares with the counter's value half the time, so
/// that half of them swap.
fn atomics(plan: &[Msg]) -> Vec<Option<(AtomicOp, u64)>> {
    let mut counter = 0u64;
    plan.iter()
        .enumerate()
        .map(|(i, m)| {
            let op = match m.kind {
                Kind::FetchAdd => AtomicOp::FetchAdd {
                    add: u64::from(m.imm) << 8 | i as u64,
                },
                Kind::CompareSwap => AtomicOp::CompareSwap {
                    compare: if m.imm % 2 == 0 { counter } else { !counter },
                    swap: u64::from(m.imm) << 24 | i as u64,
                },
                _ => return None,
            };
            let orig = counter;
            counter = op.apply(counter);
            Some((op, orig))
        })
        .collect()
}

/// Whether a message of `kind` takes a receive request at its responder.
fn takes_recv(kind: Kind) -> bool {
    matches!(kind, Kind::Send | Kind::SendImm | Kind::WriteImm)
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
    schedules: u64,
    /// Stops (each one resumes, in place or elsewhere).
    migrations: u64,
    /// Stops that began while the partner was stopped too.
    overlapping: u64,
    /// Stops that ended restored from an image at a new address.
    moves: u64,
    /// Of those, restores that took another QP number.
    remapped: u64,
    /// RESUMEs sent beyond one per resume: sent again, as none was heard.
    resume_resent: u64,
    /// Paused NAKs sent, and go-back-N retries.
    paused_naks: u64,
    retries: u64,
    packets: u64,
    /// Images that held datagrams a Stopped UD QP had received.
    held: u64,
    /// UD move announcements sent, and UD datagrams lost to a move.
    announcements: u64,
    lost: u64,
    /// RC moves resumed in place instead, for want of the partner's token.
    untokened: u64,
    /// The attacker's forged RESUMEs and token messages, and the RESUMEs
    /// the engines refused.
    forged_resumes: u64,
    forged_tokens: u64,
    bad_resumes: u64,
    /// UD moves without a token, as the peer was never heard from.
    ud_untokened: u64,
    /// Schedules whose second side stayed in RTR.
    rtr_only: u64,
    /// Forged UD announcements sent, and refused.
    forged_moves: u64,
    refused_moves: u64,
}

/// An off-path attacker's packet for side `x`, whose partner is `y`
/// (docs/security.md): it knows both addresses and QP numbers, and the PSN
/// of the last packet it saw on the link (`seen`), and sends from any
/// address, the partner's included; it cannot read what the partner sends.
/// Returns the packet and whether it is a RESUME.
fn forge(rng: &mut Rng, x: &Side, y: &Side, seen: Option<Psn>) -> (Vec<u8>, bool) {
    let attacker = gid(9, rng.next_u32() % 4);
    let kind = rng.next_u32() % 6;
    // The RESUMEs come from the attacker's address or the partner's; so
    // do the token messages.
    let src = if matches!(kind, 0 | 1 | 3) {
        attacker
    } else {
        y.host.addr
    };
    let path = engine::Path {
        av: Av {
            sgid: src,
            dgid: x.host.addr,
            hop_limit: 64,
            ..Av::default()
        },
        src_port: engine::src_port(rng.next_u32()),
    };
    let (opcode, payload): (u8, Vec<u8>) = match kind {
        // A new address, the attacker's, with a guessed token.
        0 | 2 => {
            let u = AddressUpdate {
                qpn: if rng.bool() {
                    y.engine.config().qpn
                } else {
                    rng.next_u32() & 0xff_ffff
                },
                gid: attacker,
                token: rng.next_u64(),
            };
            (op::RESUME, u.emit().to_vec())
        }
        // The MigrOS form: the address is the packet's source.
        1 => (op::RESUME, Vec::new()),
        // Token requests and grants, with guessed nonces.
        _ => {
            let t = Token {
                kind: if kind == 5 {
                    TokenKind::Grant
                } else {
                    TokenKind::Request
                },
                qpn: y.engine.config().qpn,
                nonce: rng.next_u64(),
                token: if kind == 5 { rng.next_u64() } else { 0 },
            };
            (op::TOKEN, t.emit().to_vec())
        }
    };
    let bth = Bth {
        opcode: opcode | TRANSPORT_RC,
        pkey: engine::PKEY,
        dest_qpn: x.engine.config().qpn,
        psn: seen.unwrap_or(Psn::new(rng.next_u32())),
        ack_req: true,
        ..Bth::default()
    };
    let len = path.packet_len(bth.opcode, payload.len()).unwrap();
    let mut buf = std::vec![0u8; len];
    path.write_packet::<()>(bth, &Extensions::default(), payload.len(), &mut buf, |b| {
        b.copy_from_slice(&payload);
        Ok(())
    })
    .unwrap();
    (buf, opcode == op::RESUME)
}

/// The PSN of the latest packet on `link`, as a capture shows it.
fn seen_psn(link: &Link) -> Option<Psn> {
    let last = link.flight.last().or(link.q.back())?;
    Datagram::parse(last).ok().map(|d| d.packet.bth.psn)
}

/// Whether the QP record of `bytes` holds datagrams.
fn image_holds_datagrams(bytes: &[u8]) -> bool {
    Image::parse(bytes)
        .unwrap()
        .records()
        .any(|r| matches!(r, Ok(Record::Qp(q)) if !q.held.is_empty()))
}

/// One step of side `x`, whose partner is `y`.
#[allow(clippy::too_many_arguments)]
fn step_side(
    rng: &mut Rng,
    step: usize,
    mig: Migrations,
    x: &mut Side,
    y: &Side,
    out: &mut Link,
    inb: &mut Link,
    stats: &mut Stats,
) {
    let now = step as Time * STEP_NS;
    match x.stopped_until {
        // The next checkpoint comes once the last resume is done.
        None if mig == Migrations::Random
            && !matches!(x.engine.mig(), MigState::Resuming { .. })
            && rng.next_u32() % 50 == 0 =>
        {
            x.engine.stop(&x.host, now);
            x.ask_ud_tokens();
            // It may move unless its partner is stopped or announcing a
            // move of its own: the two would each announce themselves to
            // the other's old address. Stopping together is fine.
            let may_move = y.stopped_until.is_none()
                && !matches!(y.engine.mig(), MigState::Resuming { .. })
                && (x.engine.config().service == Service::Rc || x.id == 0);
            x.stopped_until = Some((step + STOP_STEPS, may_move && rng.bool()));
            stats.migrations += 1;
            stats.overlapping += u64::from(y.stopped_until.is_some());
        }
        Some((end, moved)) if step >= end => {
            x.stopped_until = None;
            let rc = x.engine.config().service == Service::Rc;
            // An RC QP moves only with its partner's token, which the
            // kernel's STOP waits for: one without (its partner never spoke,
            // or every grant was lost) is resumed in place, as a
            // checkpointer does with a migration that cannot go on.
            let moved = if moved && rc && !x.engine.has_token() {
                stats.untokened += 1;
                false
            } else {
                moved
            };
            let src = if moved {
                let old = x.host.addr;
                let image = x.dump();
                stats.held += u64::from(image_holds_datagrams(&image));
                // A UD QP keeps its number or is not restored at all.
                stats.remapped += u64::from(x.restore(&image, rc && rng.bool()));
                stats.moves += 1;
                let src = NewSource {
                    gid: x.host.addr,
                    index: 0,
                };
                if !rc {
                    // As the kernel's resume: the peers' devices hear of
                    // the move before the QP sends anything.
                    let av = x.host.ah(AH_NUM).unwrap();
                    // None if the peer's device was never heard from
                    // before the stop: it is not told.
                    let token = x.engine.ud_token(&av.dgid);
                    stats.ud_untokened += u64::from(token == 0);
                    let known = [Known { av, old, token }];
                    for a in moves::announcements(x.engine.config().qpn, src, &known) {
                        x.host
                            .transmit(&a.path, a.bth, &a.ext, a.payload.len(), |b| {
                                b.copy_from_slice(&a.payload);
                                Ok(())
                            })
                            .unwrap();
                        stats.announcements += 1;
                    }
                }
                Some(src)
            } else {
                None
            };
            x.resumes += 1;
            let announced = x.engine.resume(&x.host, now, src, false);
            assert!(announced.is_some(), "a stopped QP did not resume");
            assert!(
                announced == Some(true) || !(rc && moved),
                "a moved RC QP did not announce itself"
            );
            assert!(rc || announced == Some(false), "only RC QPs send RESUME");
        }
        // As the kernel's STOP: UD token requests again until answered.
        Some(_) if step % TIMEOUT_STEPS == 0 => x.ask_ud_tokens(),
        _ => {}
    }
    // The attacker, now and then, into the link to `x`: forged UD
    // announcements that `y`, or QP 1, moved to the attacker.
    if mig == Migrations::Random
        && x.engine.config().service == Service::Ud
        && rng.next_u32() % 100 == 0
    {
        let to = gid(9, rng.next_u32() % 4);
        let qpn = if rng.bool() { y.engine.config().qpn } else { 1 };
        let token = rng.next_u64();
        let src = engine::NewSource { gid: to, index: 0 };
        let known = [Known {
            av: Av {
                dgid: x.host.addr,
                sgid: to,
                hop_limit: 64,
                ..Av::default()
            },
            old: y.host.addr,
            token,
        }];
        for a in moves::announcements(qpn, src, &known) {
            let len = a.path.packet_len(a.bth.opcode, a.payload.len()).unwrap();
            let mut buf = std::vec![0u8; len];
            a.path
                .write_packet::<()>(a.bth, &a.ext, a.payload.len(), &mut buf, |b| {
                    b.copy_from_slice(&a.payload);
                    Ok(())
                })
                .unwrap();
            inb.q.push_back(buf);
            stats.forged_moves += 1;
        }
    }
    // The attacker, now and then, into the link to `x`, which takes what
    // is addressed to it.
    if mig == Migrations::Random
        && x.engine.config().service == Service::Rc
        && rng.next_u32() % 100 == 0
    {
        let seen = seen_psn(inb).or(seen_psn(out));
        let (p, resume) = forge(rng, x, y, seen);
        if resume {
            x.forged += 1;
            stats.forged_resumes += 1;
        } else {
            stats.forged_tokens += 1;
        }
        inb.q.push_back(p);
    }
    if x.pace != 0 && step % x.pace == 0 && x.posted < x.plan.len() {
        x.post_next();
    }
    x.run(now, inb);
    for p in x.host.out.borrow_mut().drain(..) {
        stats.packets += 1;
        out.flight.push(p);
    }
}

/// Runs sides `a` and `b` to the end over links with `ab` and `ba`
/// faults. Panics on any violation.
fn run_sides(
    rng: &mut Rng,
    mut a: Side,
    mut b: Side,
    (ab, ba): (Faults, Faults),
    mig: Migrations,
    retry: u8,
    stats: &mut Stats,
) {
    let (a_psn, b_psn) = (rng.next_u32() & 0xff_ffff, rng.next_u32() & 0xff_ffff);
    let (a_addr, b_addr) = (a.host.addr, b.host.addr);
    a.connect(0, b_addr, a_psn, b_psn, retry);
    b.connect(0, a_addr, b_psn, a_psn, retry);
    let (mut ab, mut ba) = (Link::new(ab), Link::new(ba));
    let mut step = 0;
    while !(a.done() && b.done() && ab.is_empty() && ba.is_empty()) {
        assert!(step < 10_000_000, "the schedule did not end");
        ab.arrive(rng);
        ba.arrive(rng);
        step_side(rng, step, mig, &mut a, &b, &mut ab, &mut ba, stats);
        step_side(rng, step, mig, &mut b, &a, &mut ba, &mut ab, stats);
        step += 1;
    }
    a.check(&b);
    b.check(&a);
    for (x, y) in [(&a, &b), (&b, &a)] {
        if x.engine.config().service != Service::Rc {
            continue;
        }
        // Nothing forged redirected it: its path is its partner's, and no
        // genuine RESUME was refused.
        let av = x.engine.attrs().av.unwrap();
        assert_eq!(av.dgid, y.host.addr, "side {} was redirected", x.id);
        assert_eq!(x.engine.attrs().dest_qpn, y.engine.config().qpn);
        let bad = x.host.count(Count::RcvdBadResume);
        assert!(bad <= x.forged, "side {} refused a genuine RESUME", x.id);
        stats.bad_resumes += bad;
    }
    stats.schedules += 1;
    for s in [&a, &b] {
        stats.refused_moves += s.host.refused_moves.get();
        stats.lost += s.host.lost.borrow().len() as u64;
        let resumes = s.host.count(Count::ResumeSent);
        stats.resume_resent += resumes.saturating_sub(s.resumes);
        stats.paused_naks += s.host.count(Count::PausedNakSent);
        stats.retries += s.host.count(Count::CompRetry);
    }
}

/// Messages: `n` of random kinds among `kinds`, of up to two MTUs and one.
fn random_plan(rng: &mut Rng, kinds: &[Kind], n: usize) -> Vec<Msg> {
    (0..n)
        .map(|_| {
            let kind = kinds[rng.next_u32() as usize % kinds.len()];
            Msg {
                kind,
                len: if is_atomic(kind) || kind == Kind::AtomicWrite {
                    8
                } else {
                    rng.next_u32() % (2 * MTU + 2)
                },
                imm: rng.next_u32(),
            }
        })
        .collect()
}

/// Runs one schedule, adding to `stats`. Panics on any violation.
fn run(rng: &mut Rng, kinds: &[Kind], msgs: usize, mig: Migrations, pct: u32, stats: &mut Stats) {
    let pa = random_plan(rng, kinds, msgs);
    // Now and then the second side only receives, in RTR.
    let rtr_only = mig == Migrations::Random && rng.next_u32() % 8 == 0;
    let pb = if rtr_only {
        Vec::new()
    } else {
        random_plan(rng, kinds, msgs)
    };
    let a = Side::new(0, Service::Rc, pa.clone(), &pb);
    let mut b = Side::new(1, Service::Rc, pb, &pa);
    b.rtr_only = rtr_only;
    stats.rtr_only += u64::from(rtr_only);
    let f = Faults::Random(pct);
    run_sides(rng, a, b, (f, f), mig, 7, stats)
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
    let msg = |kind, len| Msg { kind, len, imm: 7 };
    let configs = [
        (
            std::vec![msg(Kind::Send, 2 * MTU)],
            std::vec![msg(Kind::Read, MTU + 1)],
        ),
        (
            std::vec![msg(Kind::WriteImm, MTU)],
            std::vec![msg(Kind::Write, 3)],
        ),
        (
            std::vec![
                msg(Kind::Send, 1),
                msg(Kind::Read, 2 * MTU),
                msg(Kind::Send, 0)
            ],
            std::vec![msg(Kind::SendImm, MTU)],
        ),
        (
            std::vec![
                msg(Kind::FetchAdd, 8),
                msg(Kind::Send, MTU),
                Msg {
                    kind: Kind::CompareSwap,
                    len: 8,
                    imm: 8
                }
            ],
            std::vec![msg(Kind::CompareSwap, 8), msg(Kind::FetchAdd, 8)],
        ),
    ];
    let mut rng = Rng::new(4);
    let mut stats = Stats::default();
    for (pa, pb) in &configs {
        for lose_ab in 0..1u32 << N {
            for lose_ba in 0..1u32 << N {
                let a = Side::new(0, Service::Rc, pa.clone(), pb);
                let b = Side::new(1, Service::Rc, pb.clone(), pa);
                let ab = Faults::Script {
                    lose: lose_ab,
                    n: N,
                };
                let ba = Faults::Script {
                    lose: lose_ba,
                    n: N,
                };
                // Up to sixteen losses may exhaust retry_cnt 7 legitimately:
                // the subject here is delivery, so the budget is ample.
                run_sides(&mut rng, a, b, (ab, ba), Migrations::None, 255, &mut stats);
            }
        }
    }
    assert_eq!(stats.schedules, 4 << (2 * N));
}

#[test]
fn traffic_survives_a_bad_link() {
    let mut rng = Rng::new(1);
    let mut stats = Stats::default();
    for _ in 0..300 {
        let kinds = [
            Kind::Send,
            Kind::SendImm,
            Kind::Write,
            Kind::WriteImm,
            Kind::Read,
            Kind::FetchAdd,
            Kind::CompareSwap,
            Kind::AtomicWrite,
            Kind::Flush,
        ];
        run(&mut rng, &kinds, 30, Migrations::None, 10, &mut stats);
    }
    assert!(stats.retries > 300, "only {} retries", stats.retries);
}

#[test]
fn migrations_lose_and_duplicate_nothing() {
    let mut rng = Rng::new(3);
    let (mut stats, n) = (Stats::default(), schedules());
    for _ in 0..n {
        let msgs = 1 + rng.next_u32() as usize % 8;
        let kinds = [
            Kind::Send,
            Kind::WriteImm,
            Kind::Read,
            Kind::FetchAdd,
            Kind::AtomicWrite,
            Kind::Flush,
        ];
        run(&mut rng, &kinds, msgs, Migrations::Random, 2, &mut stats);
    }
    let Stats {
        migrations,
        overlapping,
        moves,
        remapped,
        resume_resent,
        paused_naks,
        packets,
        untokened,
        rtr_only,
        forged_resumes,
        forged_tokens,
        bad_resumes,
        ..
    } = stats;
    // The schedules must really have migrated, many times over, in every
    // way the test claims.
    std::eprintln!(
        "{n} schedules of the kernel's QP engine, {packets} packets: {migrations} migrations, \
         {overlapping} of both ends at once, {moves} restored from an image at a new address \
         ({remapped} with another QP number), {resume_resent} RESUMEs sent again, \
         {paused_naks} paused NAKs, {rtr_only} schedules with a side in RTR only; \
         {untokened} moves resumed in place for want of a token; \
         an attacker forged {forged_resumes} RESUMEs ({bad_resumes} reached a QP and were \
         refused) and {forged_tokens} token messages, and redirected nothing"
    );
    assert!(
        bad_resumes > forged_resumes / 2,
        "only {bad_resumes} of {forged_resumes} forged RESUMEs refused"
    );
    assert!(
        forged_tokens > n / 10,
        "only {forged_tokens} forged token messages"
    );
    assert!(
        rtr_only > n / 20,
        "only {rtr_only} schedules with a side in RTR"
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
    assert!(remapped > moves / 4, "only {remapped} remapped QP numbers");
    assert!(
        resume_resent > n / 100,
        "only {resume_resent} RESUMEs sent again"
    );
    assert!(paused_naks > n / 10, "only {paused_naks} paused NAKs");
}

#[test]
fn ud_datagrams_survive_migrations() {
    let mut rng = Rng::new(5);
    let mut stats = Stats::default();
    let plan = |rng: &mut Rng| -> Vec<Msg> {
        let n = 1 + rng.next_u32() as usize % 16;
        (0..n)
            .map(|_| Msg {
                kind: if rng.bool() {
                    Kind::Send
                } else {
                    Kind::SendImm
                },
                len: 4 + rng.next_u32() % (MTU - 3),
                imm: rng.next_u32(),
            })
            .collect()
    };
    for _ in 0..UD_SCHEDULES {
        let (pa, pb) = (plan(&mut rng), plan(&mut rng));
        let a = Side::new(0, Service::Ud, pa.clone(), &pb);
        let b = Side::new(1, Service::Ud, pb, &pa);
        // Datagrams are not sent again: only a move may lose them here.
        let f = Faults::Random(0);
        run_sides(&mut rng, a, b, (f, f), Migrations::Random, 7, &mut stats);
    }
    let Stats {
        migrations,
        moves,
        held,
        announcements,
        lost,
        forged_moves,
        refused_moves,
        ud_untokened,
        ..
    } = stats;
    std::eprintln!(
        "{UD_SCHEDULES} UD schedules: {migrations} migrations, {moves} restored from an image at \
         a new address ({held} holding datagrams), {announcements} move announcements, \
         {lost} datagrams lost to a move, {ud_untokened} moves untold (the peer never heard \
         from); an attacker forged {forged_moves} announcements \
         (for the peer's QP and for QP 1), {refused_moves} reached a device and were refused"
    );
    assert!(
        refused_moves > forged_moves / 2,
        "only {refused_moves} of {forged_moves} forged announcements refused"
    );
    assert!(moves > UD_SCHEDULES / 20, "only {moves} moves");
    assert!(held > moves / 10, "only {held} images held datagrams");
    assert_eq!(
        announcements + ud_untokened,
        moves,
        "a move with a token and without its announcement"
    );
    assert!(
        ud_untokened < moves / 2,
        "{ud_untokened} of {moves} moves had no token"
    );
    assert!(
        lost > UD_SCHEDULES / 200,
        "only {lost} datagrams reached an address left behind"
    );
}

/// Steps `a` and `b` over links that lose nothing, from `*step` on, until
/// `until` holds; panics if it does not within `limit` steps. With `b`
/// gone, only `a` runs, and what it sends is lost.
fn step_until(
    a: &mut Side,
    b: &mut Side,
    b_gone: bool,
    step: &mut usize,
    limit: usize,
    until: impl Fn(&Side, &Side) -> bool,
) {
    let mut rng = Rng::new(1);
    let mut stats = Stats::default();
    let (mut ab, mut ba) = (Link::new(Faults::Random(0)), Link::new(Faults::Random(0)));
    for _ in 0..limit {
        if until(a, b) {
            return;
        }
        ba.arrive(&mut rng);
        step_side(
            &mut rng,
            *step,
            Migrations::None,
            a,
            b,
            &mut ab,
            &mut ba,
            &mut stats,
        );
        if !b_gone {
            ab.arrive(&mut rng);
            step_side(
                &mut rng,
                *step,
                Migrations::None,
                b,
                a,
                &mut ba,
                &mut ab,
                &mut stats,
            );
        }
        *step += 1;
    }
    panic!(
        "not within {limit} steps (now {}): a {:?} {:?} (timer {:?}), b {:?} {:?}; a completions {:?}, sent naks {}",
        *step as Time * STEP_NS,
        a.engine.mig(),
        a.engine.attrs().state,
        a.engine.poll_timeout(&a.host),
        b.engine.mig(),
        b.engine.attrs().state,
        a.host.completions.borrow(),
        b.host.count(Count::PausedNakSent)
    );
}

/// Two connected RC sides with nothing planned: the tests post by hand.
fn bare_pair() -> (Side, Side) {
    let mut a = Side::new(0, Service::Rc, Vec::new(), &[]);
    let mut b = Side::new(1, Service::Rc, Vec::new(), &[]);
    let (a_addr, b_addr) = (a.host.addr, b.host.addr);
    a.connect(0, b_addr, 100, 200, 7);
    b.connect(0, a_addr, 200, 100, 7);
    (a, b)
}

/// Posts a signalled request of `opcode` for `len` bytes to `rkey`.
fn post_raw(s: &Side, opcode: u32, len: u32, rkey: u32) {
    let head = SendHead {
        wr_id: 9,
        opcode,
        flags: send_flags::SIGNALED,
        ex: 0,
        remote_addr: MR_BASE + WIN as u64,
        rkey,
        ud: None,
        atomic: None,
    };
    s.host.post(Queue::Send, |slot| {
        wqe::write_send(slot, &head, [sge(OUT, len)].into_iter()).unwrap()
    });
}

/// How many send requests of `s` have completed.
fn sends(s: &Side) -> usize {
    s.host
        .completions
        .borrow()
        .iter()
        .filter(|(q, _)| *q == Queue::Send)
        .count()
}

fn first_send_status(s: &Side) -> Option<Status> {
    let c = s.host.completions.borrow();
    c.iter()
        .find(|(q, _)| *q == Queue::Send)
        .map(|(_, wc)| wc.status)
}

/// An RNR NAK is an answer: a receiver without a receive for a long time
/// (nine RNR waits of 655 ms, timer code 0, each three hundred transport
/// timeouts long) costs its sender none of its retry budget of 7, neither
/// through the transport timer, which stops while an RNR NAK is waited
/// out, nor through the sequence NAKs of the SENDs behind the refused
/// one; the messages go through once a receive is posted.
#[test]
fn a_long_rnr_wait_spends_no_retries() {
    let (mut a, mut b) = bare_pair();
    let mut step = 0;
    for _ in 0..3 {
        post_raw(&a, wqe::opcode::SEND, 16, 0);
    }
    step_until(&mut a, &mut b, false, &mut step, 200_000, |a, _| {
        a.host.count(Count::RcvRnr) >= 9
    });
    assert!(a.host.completions.borrow().is_empty(), "the sender gave up");
    assert_eq!(
        a.host.count(Count::CompRetry),
        0,
        "an RNR wait spent retries"
    );
    for i in 0..3 {
        b.host.post(Queue::Recv, |slot| {
            wqe::write_recv(slot, i, [sge(RECV, 64)].into_iter()).unwrap()
        });
    }
    step_until(&mut a, &mut b, false, &mut step, 100_000, |a, _| {
        a.host.completions.borrow().len() == 3
    });
    assert_eq!(first_send_status(&a), Some(Status::Success));
}

/// A partner that answers slowly is alive while its answers come, even
/// those to requests already complete. a keeps four 4 KiB READs (sixteen
/// packets each) outstanding; b's answers reach it one every four steps,
/// and once, for twice the transport timeout, not at all (a host too busy
/// to run the QP: the debug kernel under TCG). The timeout that stall
/// causes sends the four READs again, and b answers them twice: the
/// answers to the repeats, duplicates once the first answers have
/// completed the READs, hold up the answers to the READs posted next. If
/// only answers to outstanding requests kept the timer going, each
/// timeout would queue more duplicates in front of the answers a waits
/// for, and the retry budget would run out with b answering all along
/// (the C rxe restarts its timer on every response it takes).
#[test]
fn answers_behind_duplicates_keep_the_requester_waiting() {
    const READS: usize = 100;
    const PACE: usize = 4;
    let (mut a, mut b) = bare_pair();
    let (mut ab, mut ba) = (Link::new(Faults::Random(0)), Link::new(Faults::Random(0)));
    let mut pipe: VecDeque<Vec<u8>> = VecDeque::new();
    let mut posted = 0;
    for step in 0..200_000 {
        let now = step as Time * STEP_NS;
        if posted < READS && posted - sends(&a) < 4 {
            post_raw(&a, wqe::opcode::RDMA_READ, 16 * MTU, MR_KEY);
            posted += 1;
        }
        let stalled = (300..300 + 2 * TIMEOUT_STEPS).contains(&step);
        if !stalled && step % PACE == 0 {
            ba.q.extend(pipe.pop_front());
        }
        a.run(now, &mut ba);
        ab.q.extend(a.host.out.borrow_mut().drain(..));
        b.run(now, &mut ab);
        pipe.extend(b.host.out.borrow_mut().drain(..));
        if sends(&a) == READS {
            break;
        }
    }
    let c = a.host.completions.borrow();
    assert!(
        c.iter().all(|(_, wc)| wc.status == Status::Success),
        "a READ failed after {} retries: {:?}",
        a.host.count(Count::CompRetry),
        c.iter().find(|(_, wc)| wc.status != Status::Success)
    );
    assert_eq!(c.len(), READS, "not all READs completed");
    assert!(
        a.host.count(Count::CompRetry) > 0,
        "the stall caused no retry: the test tests nothing"
    );
}

/// A FLUSH that b's QP does not allow (no `IB_ACCESS_FLUSH_GLOBAL`), or
/// to persistence (which a software device does not offer), fails with a
/// remote access error and fails the QP, as any refused request; an
/// ATOMIC WRITE to an unaligned address is refused when it is posted.
#[test]
fn refused_flushes_and_atomic_writes() {
    let cases = [
        (REMOTE_ACCESS & !(1 << 8), 1, Status::RemAccessErr),
        (REMOTE_ACCESS, 2, Status::RemAccessErr),
        (REMOTE_ACCESS, 1, Status::Success),
    ];
    for (access, placement, want) in cases {
        let mut a = Side::new(0, Service::Rc, Vec::new(), &[]);
        let mut b = Side::new(1, Service::Rc, Vec::new(), &[]);
        let (a_addr, b_addr) = (a.host.addr, b.host.addr);
        a.connect(0, b_addr, 100, 200, 7);
        b.connect(0, a_addr, 200, 100, 7);
        let mut attrs = *b.engine.attrs();
        attrs.access = access;
        b.engine.set_attrs(&b.host, 0, attrs, IB_MTU_256);
        let head = SendHead {
            wr_id: 9,
            opcode: wqe::opcode::FLUSH,
            flags: send_flags::SIGNALED,
            remote_addr: MR_BASE + WIN as u64,
            rkey: MR_KEY,
            ..SendHead::default()
        };
        a.host.post(Queue::Send, |slot| {
            wqe::write_flush(slot, &head, 64, placement, 0).unwrap()
        });
        step_until(&mut a, &mut b, false, &mut 0, 10_000, |a, _| {
            first_send_status(a).is_some()
        });
        assert_eq!(first_send_status(&a), Some(want), "{access:#x} {placement}");
    }
    let mut a = Side::new(0, Service::Rc, Vec::new(), &[]);
    let head = SendHead {
        wr_id: 9,
        opcode: wqe::opcode::ATOMIC_WRITE,
        flags: send_flags::SIGNALED,
        remote_addr: MR_BASE + WIN as u64 + 4,
        rkey: MR_KEY,
        ..SendHead::default()
    };
    a.host.post(Queue::Send, |slot| {
        wqe::write_send_inline(slot, &head, 8).unwrap();
    });
    let b_addr = gid(1, 0);
    a.connect(0, b_addr, 100, 200, 7);
    a.engine.doorbell(&a.host, 0);
    assert_eq!(first_send_status(&a), Some(Status::LocLenErr));
}

/// Two connected RC sides, b's QP on a shared receive queue, empty.
fn pair_on_srq() -> (Side, Side) {
    let mut a = Side::new(0, Service::Rc, Vec::new(), &[]);
    let mut b = Side::new(1, Service::Rc, Vec::new(), &[]);
    b.host.srq = Some(Rc::new(RefCell::new(ring_bytes(&b.host.rq))));
    let mut cfg = *b.engine.config();
    cfg.srq = true;
    let (sent, slot) = storage(&cfg);
    b.engine = Engine::new(cfg, sent, slot);
    let (a_addr, b_addr) = (a.host.addr, b.host.addr);
    a.connect(0, b_addr, 100, 200, 7);
    b.connect(0, a_addr, 200, 100, 7);
    (a, b)
}

fn post_shared(s: &Side, wr_id: u64, at: usize, len: u32) {
    s.host
        .post_shared(|slot| wqe::write_recv(slot, wr_id, [sge(at, len)].into_iter()).unwrap());
}

/// a posts a three-packet SEND, of which only the first reaches b.
fn first_packet_only(a: &mut Side, b: &mut Side, now: Time) {
    post_raw(a, wqe::opcode::SEND, 3 * MTU, 0);
    a.host.out.borrow_mut().clear();
    a.engine.doorbell(&a.host, now);
    let first = a.host.out.borrow().first().cloned().unwrap();
    let mut q = VecDeque::from([first]);
    let mut inbox = Arrivals {
        q: &mut q,
        addr: b.host.addr,
        qpn: QPN,
        left: 1,
        moves: &b.host.moves,
        lost: &b.host.lost,
        host: &b.host,
        now,
    };
    b.engine.receive(&b.host, now, &mut inbox);
}

/// The receive completions of `s`, which has no other: ID, status, bytes.
fn received(s: &Side) -> Vec<(u64, Status, u32)> {
    s.host
        .completions
        .borrow()
        .iter()
        .map(|(q, wc)| {
            assert_eq!(*q, Queue::Recv);
            (wc.wr_id, wc.status, wc.byte_len)
        })
        .collect()
}

/// The consumer index of b's shared receive queue.
fn srq_consumer(b: &Side) -> u32 {
    let q = b.host.srq.as_ref().unwrap().borrow();
    u32::from_le_bytes(q[CONSUMER_OFFSET..CONSUMER_OFFSET + 4].try_into().unwrap())
}

/// A QP on a shared receive queue takes a request from it for each
/// message, when the message begins, in the queue's order: with none
/// there it answers RNR, as with an empty receive queue, and the sender
/// comes again. The QP's ring is never read. When the QP fails it hears
/// LAST_WQE_REACHED, and the request it had taken for a message that
/// never ended completes flushed.
#[test]
fn a_qp_on_a_shared_receive_queue_takes_one_request_per_message() {
    let (mut a, mut b) = pair_on_srq();
    let mut step = 0;
    for _ in 0..3 {
        post_raw(&a, wqe::opcode::SEND, 16, 0);
    }
    step_until(&mut a, &mut b, false, &mut step, 100_000, |a, _| {
        a.host.count(Count::RcvRnr) > 0
    });
    assert!(a.host.completions.borrow().is_empty(), "the sender gave up");
    for i in 0..3u64 {
        post_shared(&b, 500 + i, RECV + i as usize * SLOT, 16);
    }
    step_until(&mut a, &mut b, false, &mut step, 100_000, |a, _| {
        a.host.completions.borrow().len() == 3
    });
    let got = received(&b);
    assert_eq!(
        got,
        [500, 501, 502].map(|id| (id, Status::Success, 16)).to_vec()
    );
    {
        let mem = b.host.mem.borrow();
        let sent = &a.host.mem.borrow().buf[OUT..OUT + 16];
        for i in 0..3 {
            assert_eq!(&mem.buf[RECV + i * SLOT..][..16], sent);
        }
        // The QP's own ring stayed untouched.
        assert_eq!(&mem.rq, &ring_bytes(&b.host.rq));
    }

    // A three-packet SEND takes a request at its first packet; the QP is
    // failed by its owner before the rest comes.
    post_shared(&b, 600, RECV, SLOT as u32);
    post_shared(&b, 601, RECV, SLOT as u32);
    first_packet_only(&mut a, &mut b, step as Time * STEP_NS);
    assert_eq!(b.host.completions.borrow().len(), 3, "the SEND is not done");
    assert_eq!(srq_consumer(&b), 4, "600 taken at the first packet");
    let mut attrs = *b.engine.attrs();
    attrs.state = State::Error;
    b.engine
        .set_attrs(&b.host, step as Time * STEP_NS, attrs, IB_MTU_256);
    assert_eq!(*b.host.events.borrow(), [QpEvent::LastWqeReached]);
    let last = b
        .host
        .completions
        .borrow()
        .last()
        .map(|(_, wc)| (wc.wr_id, wc.status));
    assert_eq!(last, Some((600, Status::WrFlushErr)));
    // 601 stays in the shared queue, for the QPs still on it.
    assert_eq!(b.host.completions.borrow().len(), 4);
    assert_eq!(srq_consumer(&b), 4);
}

/// A QP on a shared receive queue, stopped in the middle of a SEND whose
/// first packet took a request from the queue, is dumped and restored at
/// a new address. The image carries the taken request (the queue no
/// longer holds it): the rest of the message lands in the buffer that
/// request names and completes under its ID, and the next message takes
/// the next request from the queue.
#[test]
fn a_restored_qp_keeps_the_request_it_took_from_its_shared_queue() {
    let (mut a, mut b) = pair_on_srq();
    let mut step = 0;
    // One message each way first: each end hears that the other speaks
    // the migration protocol.
    post_shared(&b, 599, RECV + 3 * SLOT, 16);
    post_raw(&a, wqe::opcode::SEND, 16, 0);
    step_until(&mut a, &mut b, false, &mut step, 10_000, |a, b| {
        first_send_status(a).is_some() && b.host.completions.borrow().len() == 1
    });
    a.host.completions.borrow_mut().clear();
    b.host.completions.borrow_mut().clear();
    post_shared(&b, 600, RECV, 3 * MTU);
    post_shared(&b, 601, RECV + SLOT, 16);
    let now = step as Time * STEP_NS;
    first_packet_only(&mut a, &mut b, now);
    a.host.out.borrow_mut().clear();
    assert_eq!(srq_consumer(&b), 2, "600 taken at the first packet");
    b.engine.stop(&b.host, now);
    step_until(&mut a, &mut b, false, &mut step, 10_000, |_, b| {
        b.engine.has_token()
    });
    let image = b.dump();
    {
        let img = Image::parse(&image).unwrap();
        let qp = img.records().find_map(|r| match r {
            Ok(Record::Qp(q)) => Some(q),
            _ => None,
        });
        let qp = qp.unwrap();
        assert_eq!(qp.srq, Some(3));
        assert_eq!(&qp.taken[..8], &600u64.to_ne_bytes(), "the taken request");
        assert!(matches!(
            qp.partial,
            image::Partial::Send {
                wr_id: 600,
                offset: MTU
            }
        ));
    }
    // The taken request's slot in the queue is written over, as its owner
    // may once it is consumed: the restored QP does not read it again.
    {
        let at = b.host.rq.offset(0);
        let mut q = b.host.srq.as_ref().unwrap().borrow_mut();
        q[at..at + b.host.rq.slot_bytes()].fill(0xff);
    }
    b.restore_and_resume(&image, step as Time * STEP_NS);
    step_until(&mut a, &mut b, false, &mut step, 100_000, |a, b| {
        first_send_status(a).is_some() && !b.host.completions.borrow().is_empty()
    });
    assert_eq!(first_send_status(&a), Some(Status::Success));
    post_raw(&a, wqe::opcode::SEND, 16, 0);
    step_until(&mut a, &mut b, false, &mut step, 100_000, |_, b| {
        b.host.completions.borrow().len() == 2
    });
    let got = received(&b);
    assert_eq!(
        got,
        [(600, Status::Success, 3 * MTU), (601, Status::Success, 16)]
    );
    let mem = b.host.mem.borrow();
    let sent = &a.host.mem.borrow().buf[OUT..OUT + 3 * MTU as usize];
    assert_eq!(&mem.buf[RECV..][..3 * MTU as usize], sent);
    assert_eq!(&mem.buf[RECV + SLOT..][..16], &sent[..16]);
    assert_eq!(srq_consumer(&b), 3);
}

/// `pkts` reach `to` at `now`, all in one batch.
fn deliver(to: &mut Side, pkts: Vec<Vec<u8>>, now: Time) {
    let n = pkts.len();
    let mut q = VecDeque::from(pkts);
    let mut inbox = Arrivals {
        q: &mut q,
        addr: to.host.addr,
        qpn: QPN,
        left: n,
        moves: &to.host.moves,
        lost: &to.host.lost,
        host: &to.host,
        now,
    };
    to.engine.receive(&to.host, now, &mut inbox);
}

/// A requester stopped with more than [`MAX_UNACKED_PSNS`] PSNs between
/// the start of its oldest incomplete request and the furthest it sent,
/// all carried out by the responder but their ACKs lost, takes the
/// responder's ACK for the furthest once restored: its resends are
/// duplicates, each answered with that ACK, which completes them. (Were
/// it restored knowing only the oldest request's start, it would take
/// that ACK for one of nothing sent, resend the same window until its
/// retries ran out, and fail with RETRY_EXC_ERR.)
#[test]
fn a_restored_requester_takes_the_acks_for_what_it_sent_before_the_stop() {
    let (mut a, mut b) = bare_pair();
    let mut step = 0;
    // One message first: each end hears that the other speaks the
    // migration protocol.
    post_raw(&a, wqe::opcode::RDMA_WRITE, 16, MR_KEY);
    step_until(&mut a, &mut b, false, &mut step, 10_000, |a, _| {
        first_send_status(a).is_some()
    });
    a.host.completions.borrow_mut().clear();
    // Twelve WRITEs of 16 packets: 192 PSNs.
    const WRITES: usize = 12;
    for _ in 0..WRITES {
        post_raw(&a, wqe::opcode::RDMA_WRITE, 16 * MTU, MR_KEY);
    }
    let now = step as Time * STEP_NS;
    a.host.out.borrow_mut().clear();
    a.engine.doorbell(&a.host, now);
    // The first 8 packets reach b, and its ACK of them reaches a, which
    // sends on to 127 PSNs past them; b has them all, and its ACKs are
    // lost.
    let mut out = core::mem::take(&mut *a.host.out.borrow_mut());
    assert_eq!(out.len(), MAX_UNACKED_PSNS as usize);
    let rest = out.split_off(8);
    b.host.out.borrow_mut().clear();
    deliver(&mut b, out, now);
    let ack = core::mem::take(&mut *b.host.out.borrow_mut());
    assert_eq!(ack.len(), 1, "b acknowledges the batch");
    deliver(&mut a, ack, now);
    a.engine.doorbell(&a.host, now);
    let mut more = core::mem::take(&mut *a.host.out.borrow_mut());
    assert_eq!(more.len(), 8, "a's window moved by the 8 acknowledged");
    let mut all = rest;
    all.append(&mut more);
    deliver(&mut b, all, now);
    b.host.out.borrow_mut().clear();
    // a stops (and hears its partner's token), is dumped, restored and
    // resumes: it sends again from the first WRITE.
    a.engine.stop(&a.host, now);
    step_until(&mut a, &mut b, false, &mut step, 10_000, |a, _| {
        a.engine.has_token()
    });
    let image = a.dump();
    a.restore_and_resume(&image, step as Time * STEP_NS);
    step_until(&mut a, &mut b, false, &mut step, 100_000, |a, _| {
        a.host.completions.borrow().len() == WRITES
    });
    let statuses: Vec<Status> = a
        .host
        .completions
        .borrow()
        .iter()
        .map(|(_, wc)| wc.status)
        .collect();
    assert_eq!(statuses, [Status::Success; WRITES]);
    assert!(
        b.host.count(Count::DupReq) > 0,
        "the resends were duplicates"
    );
}

/// A request its owner wrote wrong into the shared receive queue (more
/// scatter entries than the SRQ has) fails the message it was taken for,
/// completing under its own ID with LOC_QP_OP_ERR, and the RC QP with it
/// (QP_FATAL, and LAST_WQE_REACHED as it leaves the SRQ); the sender
/// hears REM_OP_ERR. Nothing else is read from it.
#[test]
fn a_malformed_shared_receive_request_fails_its_message() {
    let (mut a, mut b) = pair_on_srq();
    b.host.post_shared(|slot| {
        wqe::write_recv(slot, 700, [sge(RECV, 64)].into_iter()).unwrap();
        slot[28..32].copy_from_slice(&5u32.to_le_bytes());
    });
    post_raw(&a, wqe::opcode::SEND, 16, 0);
    step_until(&mut a, &mut b, false, &mut 0, 10_000, |a, _| {
        first_send_status(a).is_some()
    });
    assert_eq!(first_send_status(&a), Some(Status::RemOpErr));
    let got: Vec<(u64, Status)> = b
        .host
        .completions
        .borrow()
        .iter()
        .map(|(_, wc)| (wc.wr_id, wc.status))
        .collect();
    assert_eq!(got, [(700, Status::LocQpOpErr)]);
    assert_eq!(b.engine.attrs().state, State::Error);
    assert_eq!(
        *b.host.events.borrow(),
        [QpEvent::LastWqeReached, QpEvent::Fatal]
    );
}

/// An RC responder that refuses a request goes to the error state and
/// tells its owner why, as an event of its QP: the requester learns it
/// from its completion, the responder's owner from nothing else.
#[test]
fn a_refused_request_is_an_event_of_the_responders_qp() {
    // A WRITE under a key the responder never gave: an access error.
    let (mut a, mut b) = bare_pair();
    post_raw(&a, wqe::opcode::RDMA_WRITE, 16, MR_KEY ^ 0x100);
    step_until(&mut a, &mut b, false, &mut 0, 10_000, |a, _| {
        first_send_status(a).is_some()
    });
    assert_eq!(first_send_status(&a), Some(Status::RemAccessErr));
    assert_eq!(*b.host.events.borrow(), [QpEvent::AccessError]);
    assert_eq!(b.engine.attrs().state, State::Error);
    assert!(
        a.host.events.borrow().is_empty(),
        "the requester has its completion"
    );

    // A SEND longer than the receive waiting for it: an invalid request.
    let (mut a, mut b) = bare_pair();
    b.host.post(Queue::Recv, |slot| {
        wqe::write_recv(slot, 77, [sge(RECV, 16)].into_iter()).unwrap()
    });
    post_raw(&a, wqe::opcode::SEND, 64, 0);
    step_until(&mut a, &mut b, false, &mut 0, 10_000, |a, _| {
        first_send_status(a).is_some()
    });
    assert_eq!(first_send_status(&a), Some(Status::RemInvReqErr));
    assert_eq!(*b.host.events.borrow(), [QpEvent::RequestError]);
    assert!(a.host.events.borrow().is_empty());
}

/// A QP whose partner stops and never comes back gives up after the
/// bound on waiting, and tells its owner with QP_FATAL, whether it was
/// paused with a request outstanding (whose completion says so too) or
/// resuming with nothing outstanding (which nothing else would tell).
#[test]
fn a_partner_that_never_comes_back_is_a_fatal_event() {
    for outstanding in [true, false] {
        let (mut a, mut b) = bare_pair();
        a.host.wait_limit_ms.set(100);
        b.host.wait_limit_ms.set(100);
        let mut step = 0;
        // A SEND of b's shows a that b speaks the protocol.
        a.host.post(Queue::Recv, |slot| {
            wqe::write_recv(slot, 5, [sge(RECV, 64)].into_iter()).unwrap()
        });
        post_raw(&b, wqe::opcode::SEND, 16, 0);
        step_until(&mut a, &mut b, false, &mut step, 10_000, |_, b| {
            first_send_status(b).is_some()
        });
        let now = step as Time * STEP_NS;
        b.engine.stop(&b.host, now);
        if outstanding {
            // Its request gets the paused NAK: a is Paused.
            post_raw(&a, wqe::opcode::SEND, 16, 0);
        } else {
            // A checkpoint aborted in place while b went away for good:
            // a sends RESUME, which nobody answers.
            a.engine.stop(&a.host, now);
            a.engine.resume(&a.host, now, None, false).unwrap();
            assert!(matches!(a.engine.mig(), MigState::Resuming { .. }));
        }
        step_until(&mut a, &mut b, !outstanding, &mut step, 100_000, |a, _| {
            !a.host.events.borrow().is_empty()
        });
        assert_eq!(*a.host.events.borrow(), [QpEvent::Fatal]);
        assert_eq!(a.engine.attrs().state, State::Error);
        assert_eq!(*a.host.warnings.borrow(), 1, "one log line");
        let sends: Vec<Status> = a
            .host
            .completions
            .borrow()
            .iter()
            .filter(|(q, _)| *q == Queue::Send)
            .map(|(_, wc)| wc.status)
            .collect();
        assert_eq!(
            sends,
            outstanding
                .then_some(Status::RetryExcErr)
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert!(
            b.host.events.borrow().is_empty(),
            "a Stopped QP waits as long as it is told"
        );
    }
}

/// SQD: the requester begins nothing new, finishes what it began, and
/// once everything it sent is acknowledged says SQ_DRAINED, once; its
/// responder goes on taking its partner's requests meanwhile. Back in RTS
/// it goes on where it stopped, with the PSNs it had: every message of
/// both sides arrives once, in order and intact.
#[test]
fn sqd_drains_then_rts_goes_on() {
    let msg = |kind, len| Msg { kind, len, imm: 3 };
    let pa = std::vec![
        msg(Kind::Send, 3 * MTU),
        msg(Kind::Write, 2 * MTU),
        msg(Kind::Send, 10)
    ];
    let pb = std::vec![msg(Kind::Send, 100), msg(Kind::Write, MTU + 1)];
    let mut a = Side::new(0, Service::Rc, pa.clone(), &pb);
    let mut b = Side::new(1, Service::Rc, pb, &pa);
    let (a_addr, b_addr) = (a.host.addr, b.host.addr);
    a.connect(0, b_addr, 100, 200, 7);
    b.connect(0, a_addr, 200, 100, 7);
    let mut step = 0;
    // a has sent, and nothing of it is acknowledged yet.
    step_until(&mut a, &mut b, false, &mut step, 10, |a, _| {
        a.engine.unacknowledged() > 0
    });
    let to = |s: &mut Side, state, step: usize| {
        s.engine.modify(
            &s.host,
            step as Time * STEP_NS,
            QpType::Rc,
            &Request::to_state(state),
            Some(IB_MTU_256),
        )
    };
    assert_eq!(to(&mut a, State::Sqd, step), Ok(()));
    assert!(a.engine.draining());
    // Until drained, SQD is left only for the error state.
    assert_eq!(to(&mut a, State::Rts, step), Err(Refused::Draining));
    assert_eq!(to(&mut a, State::Sqd, step), Err(Refused::Draining));
    assert!(a.engine.draining());
    assert!(
        a.host.events.borrow().is_empty(),
        "drained with requests unacknowledged"
    );
    // A fourth request, posted in SQD, waits for RTS.
    a.plan.push(msg(Kind::Write, 50));
    for k in 0..50 {
        a.host.mem.borrow_mut().buf[OUT + 3 * SLOT + k] = pattern(0, 3, k);
    }
    a.post_next();
    step_until(&mut a, &mut b, false, &mut step, 10_000, |a, _| {
        !a.host.events.borrow().is_empty()
    });
    assert_eq!(*a.host.events.borrow(), [QpEvent::SqDrained]);
    assert!(!a.engine.draining());
    assert_eq!(sends(&a), 3, "the three sent before SQD complete");
    // b's messages still reach a, and the fourth stays unsent.
    step_until(&mut a, &mut b, false, &mut step, 10_000, |_, b| {
        sends(b) == 2
    });
    // Long enough for any retransmission too.
    let idle = core::cell::Cell::new(0);
    step_until(&mut a, &mut b, false, &mut step, 1_000, |_, _| {
        idle.set(idle.get() + 1);
        idle.get() > 4 * TIMEOUT_STEPS
    });
    assert_eq!(sends(&a), 3, "SQD began a request");
    assert_eq!(*a.host.events.borrow(), [QpEvent::SqDrained], "said twice");
    a.host.events.borrow_mut().clear();
    assert_eq!(to(&mut a, State::Rts, step), Ok(()));
    // At once: no doorbell rings for what was posted in SQD.
    assert!(
        !a.host.out.borrow().is_empty(),
        "RTS sent nothing of what SQD held back"
    );
    step_until(&mut a, &mut b, false, &mut step, 100_000, |a, b| {
        a.done() && b.done()
    });
    a.check(&b);
    b.check(&a);
}

/// UC has no ACK to carry the migration protocol, so it has messages of
/// its own: a moved UC QP announces its new address with a UC RESUME
/// carrying the token its partner granted at the stop, sent again until
/// the partner says it heard it (a heard token message). Messages then
/// flow both ways at the new address, and the old address is not
/// followed. Without the token the partner refuses the RESUME.
/// The receives a side completed successfully.
fn recvs(s: &Side) -> usize {
    let c = s.host.completions.borrow();
    c.iter()
        .filter(|(q, wc)| *q == Queue::Recv && wc.status == Status::Success)
        .count()
}

/// Datagram `p` sent instead to multicast group `group`, with the
/// multicast QP number, sealed again.
fn to_group(p: &[u8], group: [u8; 16]) -> Vec<u8> {
    let d = Datagram::parse(p).unwrap();
    let encap = Encap {
        src: d.src,
        dst: group,
        ipv6: d.ipv6,
        src_port: d.src_port,
        traffic_class: 0,
        hop_limit: 64,
        flow_label: 0,
    };
    let hl = encap.header_len();
    let mut buf = p.to_vec();
    // The BTH's destination QP: bytes 5 to 7.
    buf[hl + 5..hl + 8].copy_from_slice(&[0xff; 3]);
    encap.seal(&mut buf).unwrap();
    buf
}

/// A UD datagram to a multicast group, to the multicast QP number, is
/// taken like one to the QP's own number (the device hands a copy to each
/// QP of the group; here b is its one QP), also when b is Stopped: it
/// holds it and carries it out when it resumes.
#[test]
fn multicast_datagrams_reach_a_ud_qp_also_through_a_stop() {
    let msg = |len| Msg {
        kind: Kind::Send,
        len,
        imm: 0,
    };
    let pa = std::vec![msg(40), msg(50)];
    let mut a = Side::new(0, Service::Ud, pa.clone(), &[]);
    let mut b = Side::new(1, Service::Ud, Vec::new(), &pa);
    let (a_addr, b_addr) = (a.host.addr, b.host.addr);
    a.connect(0, b_addr, 100, 200, 7);
    b.connect(0, a_addr, 200, 100, 7);
    let group = ipv4_mapped([239, 1, 2, 3]);
    let (mut to_b, mut none) = (Link::new(Faults::Random(0)), Link::new(Faults::Random(0)));
    for stopped in [false, true] {
        let now = 1_000_000;
        a.post_next();
        a.run(now, &mut none);
        let sent: Vec<Vec<u8>> = a.host.out.borrow_mut().drain(..).collect();
        assert_eq!(sent.len(), 1, "one datagram each");
        to_b.q.extend(sent.iter().map(|p| to_group(p, group)));
        if stopped {
            b.engine.stop(&b.host, now);
        }
        b.run(now, &mut to_b);
        assert!(to_b.q.is_empty());
        assert_eq!(recvs(&b), 1, "the first taken at once, the second held");
    }
    b.engine.resume(&b.host, 2_000_000, None, false).unwrap();
    b.run(2_000_000, &mut none);
    assert_eq!(recvs(&b), 2, "the held datagram carried out at the resume");
    b.check_ud(&a);
}

#[test]
fn a_moved_uc_qp_is_followed() {
    let msg = |len| Msg {
        kind: Kind::Send,
        len,
        imm: 0,
    };
    for with_token in [true, false] {
        let (pa, pb) = (std::vec![msg(40), msg(41)], std::vec![msg(30), msg(31)]);
        let mut a = Side::new(0, Service::Uc, pa[..1].to_vec(), &pb);
        let mut b = Side::new(1, Service::Uc, pb[..1].to_vec(), &pa);
        let (a_addr, b_addr) = (a.host.addr, b.host.addr);
        a.connect(0, b_addr, 100, 200, 7);
        b.connect(0, a_addr, 200, 100, 7);
        let mut step = 0;
        // One SEND each way: each end hears that the other speaks the
        // protocol.
        step_until(&mut a, &mut b, false, &mut step, 10_000, |a, b| {
            recvs(a) == 1 && recvs(b) == 1
        });
        let now = step as Time * STEP_NS;
        a.engine.stop(&a.host, now);
        if with_token {
            step_until(&mut a, &mut b, false, &mut step, 10_000, |a, _| {
                a.engine.has_token()
            });
        } else {
            // Its partner's grant is lost.
            a.host.out.borrow_mut().clear();
        }
        let image = a.dump();
        a.restore_and_resume(&image, step as Time * STEP_NS);
        // The first RESUME is lost.
        assert_eq!(a.host.out.borrow_mut().drain(..).count(), 1);
        // a's second message, posted while it announces itself, waits
        // until its partner has heard.
        let second = |s: &mut Side, len: u32| {
            s.plan.push(msg(len));
            for k in 0..len as usize {
                s.host.mem.borrow_mut().buf[OUT + SLOT + k] = pattern(s.id, 1, k);
            }
            s.post_next();
        };
        second(&mut a, 41);
        if !with_token {
            let refused = |b: &Side| b.host.count(Count::RcvdBadResume) > 0;
            step_until(&mut a, &mut b, false, &mut step, 10_000, |_, b| refused(b));
            assert!(matches!(a.engine.mig(), MigState::Resuming { .. }));
            assert_eq!(b.engine.attrs().av.unwrap().dgid, a_addr, "redirected");
            continue;
        }
        step_until(&mut a, &mut b, false, &mut step, 10_000, |a, _| {
            a.engine.mig() == MigState::Running
        });
        // b's, once a is back: a partner's messages before it took the
        // RESUME went to the old address (UC does not send them again).
        second(&mut b, 31);
        step_until(&mut a, &mut b, false, &mut step, 10_000, |a, b| {
            recvs(a) == 2 && recvs(b) == 2
        });
        assert!(
            a.host.count(Count::ResumeSent) >= 2,
            "the RESUME was not sent again"
        );
        assert_eq!(
            b.engine.attrs().av.unwrap().dgid,
            a.host.addr,
            "b follows a"
        );
        assert_eq!(b.host.count(Count::RcvdBadResume), 0);
        // What b sent after the move went to a's new address, and its
        // bytes are whole.
        let mem = a.host.mem.borrow();
        assert!((0..31).all(|k| mem.buf[RECV + SLOT + k] == pattern(1, 1, k)));
        let mem = b.host.mem.borrow();
        assert!((0..41).all(|k| mem.buf[RECV + SLOT + k] == pattern(0, 1, k)));
    }
}

/// Posts a signalled request to `s`'s send queue: `opcode`, `ex`, `len`
/// bytes from OUT to WIN + `at` under `rkey`.
fn post_to(s: &Side, wr_id: u64, opcode: u32, ex: u32, rkey: u32, at: usize, len: u32) {
    let head = SendHead {
        wr_id,
        opcode,
        flags: send_flags::SIGNALED,
        ex,
        remote_addr: MR_BASE + (WIN + at) as u64,
        rkey,
        ..SendHead::default()
    };
    s.host.post(Queue::Send, |slot| {
        wqe::write_send(slot, &head, [sge(OUT, len)].into_iter()).unwrap()
    });
}

/// b binds a new type 2 window over `len` bytes at WIN with `access`,
/// by a BIND_MW request of its own QP; its rkey once bound.
fn bind_window(a: &mut Side, b: &mut Side, len: u64, access: u32) -> u32 {
    let mw = b.host.alloc_mw(MwType::Two);
    let bind = Bind {
        mw_rkey: mw,
        new_rkey: mw | 0x2a,
        mr_lkey: MR_KEY,
        addr: MR_BASE + WIN as u64,
        length: len,
        access,
    };
    let head = SendHead {
        wr_id: 50,
        flags: send_flags::SIGNALED,
        ..SendHead::default()
    };
    b.host.post(Queue::Send, |slot| {
        wqe::write_bind(slot, &head, &bind).unwrap()
    });
    step_until(a, b, false, &mut 0, 1_000, |_, b| {
        !b.host.completions.borrow().is_empty()
    });
    let (q, wc) = b.host.completions.borrow_mut().remove(0);
    assert_eq!(
        (q, wc.wr_id, wc.kind, wc.status),
        (Queue::Send, 50, WcKind::BindMw, Status::Success)
    );
    mw | 0x2a
}

/// The status of a's completion `wr_id`, once it has one.
fn send_status(a: &mut Side, b: &mut Side, wr_id: u64) -> Status {
    let done = |a: &Side| {
        let c = a.host.completions.borrow();
        c.iter()
            .find(|(q, wc)| *q == Queue::Send && wc.wr_id == wr_id)
            .map(|(_, wc)| wc.status)
    };
    step_until(a, b, false, &mut 0, 20_000, |a, _| done(a).is_some());
    done(a).unwrap()
}

/// a's SEND_WITH_INV `wr_id` of `rkey` into a receive b posts: its
/// status, and b's receive completion.
fn send_invalidate(
    a: &mut Side,
    b: &mut Side,
    wr_id: u64,
    rkey: u32,
) -> (Status, Option<engine::Completion>) {
    b.host.post(Queue::Recv, |slot| {
        wqe::write_recv(slot, 7, [sge(RECV, 64)].into_iter()).unwrap()
    });
    post_to(a, wr_id, wqe::opcode::SEND_WITH_INV, rkey, 0, 0, 16);
    let status = send_status(a, b, wr_id);
    let c = b.host.completions.borrow();
    let recv = c.iter().find(|(q, _)| *q == Queue::Recv).map(|(_, wc)| *wc);
    (status, recv)
}

/// Memory windows through the engine: a type 2 window that b binds with
/// a BIND_MW request takes a's WRITE within it and nothing past its end
/// or after it is invalidated, by a SEND_WITH_INV from a (whose receive
/// says so) or by b's own LOCAL_INV; a LOCAL_INV waits for the requests
/// before it; a bad bind or invalidation fails its request.
#[test]
fn memory_windows_grant_their_range_until_invalidated() {
    const W: u32 = mw::access::REMOTE_WRITE;
    // A WRITE within the window lands; a SEND_WITH_INV takes it away.
    let (mut a, mut b) = bare_pair();
    let rkey = bind_window(&mut a, &mut b, 256, W);
    post_to(&a, 1, wqe::opcode::RDMA_WRITE, 0, rkey, 0, 256);
    assert_eq!(send_status(&mut a, &mut b, 1), Status::Success);
    for k in 0..256 {
        assert_eq!(
            b.host.mem.borrow().buf[WIN + k],
            a.host.mem.borrow().buf[OUT + k]
        );
    }
    let (status, got) = send_invalidate(&mut a, &mut b, 2, rkey);
    assert_eq!(status, Status::Success);
    let got = got.expect("a receive");
    assert_eq!(
        (got.wr_id, got.status, got.invalidated),
        (7, Status::Success, Some(rkey))
    );
    post_to(&a, 3, wqe::opcode::RDMA_WRITE, 0, rkey, 0, 8);
    assert_eq!(send_status(&mut a, &mut b, 3), Status::RemAccessErr);

    // One byte past the window's end: refused, though the MR has it.
    let (mut a, mut b) = bare_pair();
    let rkey = bind_window(&mut a, &mut b, 256, W);
    post_to(&a, 1, wqe::opcode::RDMA_WRITE, 0, rkey, 1, 256);
    assert_eq!(send_status(&mut a, &mut b, 1), Status::RemAccessErr);

    // Access the window does not grant: refused.
    let (mut a, mut b) = bare_pair();
    let rkey = bind_window(&mut a, &mut b, 256, W);
    post_to(&a, 1, wqe::opcode::RDMA_READ, 0, rkey, 0, 8);
    assert_eq!(send_status(&mut a, &mut b, 1), Status::RemAccessErr);

    // b's LOCAL_INV waits for b's WRITE before it, then the window is
    // gone for a.
    let (mut a, mut b) = bare_pair();
    let rkey = bind_window(&mut a, &mut b, 256, W);
    post_to(&b, 60, wqe::opcode::RDMA_WRITE, 0, MR_KEY, 0, 2048);
    post_to(&b, 61, wqe::opcode::LOCAL_INV, rkey, 0, 0, 0);
    step_until(&mut a, &mut b, false, &mut 0, 20_000, |_, b| {
        b.host.completions.borrow().len() == 2
    });
    let order: Vec<(u64, WcKind, Status)> = b
        .host
        .completions
        .borrow()
        .iter()
        .map(|(_, wc)| (wc.wr_id, wc.kind, wc.status))
        .collect();
    assert_eq!(
        order,
        [
            (60, WcKind::RdmaWrite, Status::Success),
            (61, WcKind::LocalInv, Status::Success)
        ]
    );
    post_to(&a, 1, wqe::opcode::RDMA_WRITE, 0, rkey, 0, 8);
    assert_eq!(send_status(&mut a, &mut b, 1), Status::RemAccessErr);

    // Invalidating a key that is no window's, binding a bound type 2
    // window again: the request fails, and with it the QP.
    let (mut a, mut b) = bare_pair();
    post_to(&b, 62, wqe::opcode::LOCAL_INV, 0x8_0099 << 8, 0, 0, 0);
    assert_eq!(send_status(&mut b, &mut a, 62), Status::LocQpOpErr);
    assert_eq!(b.engine.attrs().state, State::Error);
    let (mut a, mut b) = bare_pair();
    let rkey = bind_window(&mut a, &mut b, 256, W);
    let again = Bind {
        mw_rkey: rkey,
        new_rkey: rkey + 1,
        mr_lkey: MR_KEY,
        addr: MR_BASE,
        length: 8,
        access: W,
    };
    let head = SendHead {
        wr_id: 63,
        flags: send_flags::SIGNALED,
        ..SendHead::default()
    };
    b.host.post(Queue::Send, |slot| {
        wqe::write_bind(slot, &head, &again).unwrap()
    });
    assert_eq!(send_status(&mut b, &mut a, 63), Status::MwBindErr);

    // A SEND_WITH_INV of a key b cannot invalidate: NAKed, its receive
    // completes in error (as in the C rxe).
    let (mut a, mut b) = bare_pair();
    let (status, got) = send_invalidate(&mut a, &mut b, 4, MR_KEY);
    assert_eq!(status, Status::RemInvReqErr);
    assert_eq!(got.map(|wc| wc.status), Some(Status::RemInvReqErr));
}

/// The pages b maps into its fast-registration MR, out of order in its
/// memory, and the registration over them.
const FR_PAGE: usize = 512;
const FR_PAGES: [usize; 3] = [WIN + 2 * FR_PAGE, WIN, WIN + FR_PAGE];
const FR_IOVA: u64 = 0x1000_0100;
const FR_LEN: u64 = 3 * FR_PAGE as u64 - 0x100;

/// a and b connected, b's QP a kernel consumer's, with a fast MR mapped
/// over [`FR_PAGES`]; its key.
fn fast_pair() -> (Side, Side, u32) {
    let a = Side::new(0, Service::Rc, Vec::new(), &[]);
    let mut b = Side::new(1, Service::Rc, Vec::new(), &[]);
    let cfg = engine::Config {
        kernel: true,
        ..*b.engine.config()
    };
    let (sent, slot) = storage(&cfg);
    b.engine = Engine::new(cfg, sent, slot);
    let (mut a, mut b) = (a, b);
    let (a_addr, b_addr) = (a.host.addr, b.host.addr);
    a.connect(0, b_addr, 100, 200, 7);
    b.connect(0, a_addr, 200, 100, 7);
    let key = b.host.alloc_fast_mr(4);
    b.host
        .map_fast_mr(key, FR_PAGE as u32, &FR_PAGES, FR_IOVA)
        .unwrap();
    (a, b, key)
}

/// b posts REG_MR `wr_id` of its fast MR under `key`: its completion's
/// kind and status.
fn register(a: &mut Side, b: &mut Side, wr_id: u64, mr_key: u32, key: u32) -> (WcKind, Status) {
    let reg = fastreg::Reg {
        mr_key,
        key,
        access: mw::access::LOCAL_WRITE | mw::access::REMOTE_WRITE,
        iova: FR_IOVA,
        length: FR_LEN,
    };
    let head = SendHead {
        wr_id,
        flags: send_flags::SIGNALED,
        ..SendHead::default()
    };
    b.host.post(Queue::Send, |slot| {
        wqe::write_reg(slot, &head, &reg).unwrap()
    });
    send_status(b, a, wr_id);
    let c = b.host.completions.borrow();
    let (_, wc) = c.iter().find(|(_, wc)| wc.wr_id == wr_id).unwrap();
    (wc.kind, wc.status)
}

/// a WRITEs `len` bytes from OUT to `addr` under `rkey`: its status.
fn write_at(a: &mut Side, b: &mut Side, wr_id: u64, rkey: u32, addr: u64, len: u32) -> Status {
    let head = SendHead {
        wr_id,
        opcode: wqe::opcode::RDMA_WRITE,
        flags: send_flags::SIGNALED,
        remote_addr: addr,
        rkey,
        ..SendHead::default()
    };
    a.host.post(Queue::Send, |slot| {
        wqe::write_send(slot, &head, [sge(OUT, len)].into_iter()).unwrap()
    });
    send_status(a, b, wr_id)
}

/// Fast registration through the engine: b, a kernel consumer's QP,
/// makes a fast MR over three pages valid with REG_MR; a's WRITE across
/// them lands in each page in the MR's order, and nothing past the
/// registration; a SEND_WITH_INV from a takes the key away (b's receive
/// says so); LOCAL_INV does too, after which the MR registers again;
/// REG_MR of a valid MR, or posted by a process's QP, fails.
#[test]
fn fast_registration_maps_pages_until_invalidated() {
    let (mut a, mut b, key) = fast_pair();
    assert_eq!(
        register(&mut a, &mut b, 70, key, key | 9),
        (WcKind::RegMr, Status::Success)
    );
    for k in 0..1024 {
        a.host.mem.borrow_mut().buf[OUT + k] = (k * 7 + 3) as u8;
    }
    assert_eq!(
        write_at(&mut a, &mut b, 1, key | 9, FR_IOVA + 0x10, 1024),
        Status::Success
    );
    for k in 0..1024usize {
        let pos = 0x100 + 0x10 + k;
        let at = FR_PAGES[pos / FR_PAGE] + pos % FR_PAGE;
        assert_eq!(b.host.mem.borrow().buf[at], (k * 7 + 3) as u8, "byte {k}");
    }
    let (status, got) = send_invalidate(&mut a, &mut b, 2, key | 9);
    assert_eq!(status, Status::Success);
    let got = got.expect("a receive");
    assert_eq!(
        (got.status, got.invalidated),
        (Status::Success, Some(key | 9))
    );
    assert_eq!(
        write_at(&mut a, &mut b, 3, key | 9, FR_IOVA, 8),
        Status::RemAccessErr
    );

    // Past the registration's end: refused; the old key after a new
    // registration: refused.
    let (mut a, mut b, key) = fast_pair();
    register(&mut a, &mut b, 70, key, key | 9);
    assert_eq!(
        write_at(&mut a, &mut b, 1, key | 9, FR_IOVA + FR_LEN - 8, 9),
        Status::RemAccessErr
    );

    // LOCAL_INV, then a new key; REG_MR of the valid MR fails.
    let (mut a, mut b, key) = fast_pair();
    register(&mut a, &mut b, 70, key, key | 9);
    post_to(&b, 71, wqe::opcode::LOCAL_INV, key | 9, 0, 0, 0);
    assert_eq!(send_status(&mut b, &mut a, 71), Status::Success);
    assert_eq!(
        register(&mut a, &mut b, 72, key, key | 10),
        (WcKind::RegMr, Status::Success)
    );
    assert_eq!(
        write_at(&mut a, &mut b, 1, key | 9, FR_IOVA, 8),
        Status::RemAccessErr
    );
    let (mut a, mut b, key) = fast_pair();
    register(&mut a, &mut b, 70, key, key | 9);
    assert_eq!(
        write_at(&mut a, &mut b, 1, key | 9, FR_IOVA + FR_LEN - 8, 8),
        Status::Success
    );
    assert_eq!(
        register(&mut a, &mut b, 73, key, key | 10).1,
        Status::LocQpOpErr
    );
    assert_eq!(b.engine.attrs().state, State::Error);

    // A process's QP has no REG_MR.
    let (mut a, mut b) = bare_pair();
    let key = b.host.alloc_fast_mr(4);
    b.host.map_fast_mr(key, 512, &FR_PAGES, FR_IOVA).unwrap();
    assert_eq!(
        register(&mut a, &mut b, 74, key, key | 9).1,
        Status::LocQpOpErr
    );
}
