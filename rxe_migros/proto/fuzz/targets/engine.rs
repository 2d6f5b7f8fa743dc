// SPDX-License-Identifier: GPL-2.0

//! The kernel's QP engine, connected (RC, UC or UD) with requests and
//! receives posted (to its receive queue or to a shared one, some of them
//! malformed), fed any sequence of packets a peer or an off-path host
//! can send: well-formed headers (the receive path checks those) with any
//! opcode, PSN, keys, addresses, lengths, syndromes and payload, from the
//! partner's address or another, with doorbells, timer firings, stops and
//! resumes (here or elsewhere) in between. It must never panic (the kernel
//! would oops), never send from an address that is not its own, never
//! send a packet the receive path would refuse, and complete send and
//! receive requests only once each, in the order they were posted.
#![no_main]

use rxe_proto::engine::{Av, Engine, NewSource, Path, Queue, GSI_QKEY};
use rxe_proto::hdr::{
    Aeth, AtomicAckEth, AtomicEth, Bth, Deth, Extensions, Feth, Ieth, Immdt, Reth,
};
use rxe_proto::host::{config, ring_bytes, sge, storage, Host, Sim, AH_NUM, MR_BASE, MR_KEY};
use rxe_proto::modify::{Attrs, QpState};
use rxe_proto::opcode::OpInfo;
use rxe_proto::psn::Psn;
use rxe_proto::queue::Ring;
use rxe_proto::req::Service;
use rxe_proto::roce::{ipv4_mapped, Datagram};
use rxe_proto::wqe::{self, opcode, send_flags, SendHead, UdDest};
use rxe_proto_fuzz::{fuzz_target, Input};
use std::cell::RefCell;
use std::rc::Rc;

const QPN: u32 = 0x11;
const PEER_QPN: u32 = 0x22;
const MEMORY: usize = 1 << 14;

/// One packet handed to the engine, as the receive path hands it.
struct One(Option<Vec<u8>>);

impl rxe_proto::engine::Inbox for One {
    fn next(&mut self, f: impl FnOnce(&[u8])) -> bool {
        match self.0.take() {
            Some(p) => {
                f(&p);
                true
            }
            None => false,
        }
    }
}

/// Posts `n` requests the input describes, of kinds the service allows.
fn post_sends(input: &mut Input<'_>, host: &Host, service: Service, next_id: &mut u64, n: u8) {
    for _ in 0..n {
        let (code, ud) = match (service, input.u8() % 6) {
            (Service::Ud, _) => (opcode::SEND, true),
            (_, 0) => (opcode::SEND, false),
            (_, 1) => (opcode::RDMA_WRITE_WITH_IMM, false),
            (Service::Rc, 2) => (opcode::RDMA_READ, false),
            (Service::Rc, 3) => (opcode::ATOMIC_FETCH_AND_ADD, false),
            (Service::Rc, 4) => (opcode::ATOMIC_CMP_AND_SWP, false),
            _ => (opcode::RDMA_WRITE, false),
        };
        let atomic = matches!(
            code,
            opcode::ATOMIC_FETCH_AND_ADD | opcode::ATOMIC_CMP_AND_SWP
        );
        let head = SendHead {
            wr_id: *next_id,
            opcode: code,
            flags: send_flags::SIGNALED | u32::from(input.u8() & 1) * send_flags::FENCE,
            ex: input.u32(),
            remote_addr: MR_BASE + u64::from(input.u16()),
            rkey: if input.u8() == 0 { input.u32() } else { MR_KEY },
            ud: ud.then_some(UdDest {
                remote_qpn: PEER_QPN,
                remote_qkey: input.u32(),
                ah_num: if input.u8() == 0 { 7 } else { AH_NUM },
            }),
            atomic: atomic.then(|| (u64::from(input.u32()), u64::from(input.u32()))),
        };
        // An atomic's eight bytes, mostly; any length now and then.
        let len = if atomic && input.u8() != 0 {
            8
        } else {
            u32::from(input.u16()) % 1200
        };
        let list = [sge(usize::from(input.u16()) % MEMORY, len)];
        if host.is_full(Queue::Send) {
            return;
        }
        host.post(Queue::Send, |slot| {
            let _ = wqe::write_send(slot, &head, list.into_iter());
        });
        *next_id += 1;
    }
}

/// A packet the input describes, from `src` to `dst`, sealed; `None` if
/// its opcode is not one.
fn packet(input: &mut Input<'_>, src: [u8; 16], dst: [u8; 16], epsn: Psn) -> Option<Vec<u8>> {
    let opcode = input.u8();
    OpInfo::lookup(opcode)?;
    let near = i32::from(input.u8() as i8);
    let psn = if input.u8() & 1 == 0 {
        epsn + near as u32
    } else {
        Psn::new(input.u32())
    };
    let key = |input: &mut Input<'_>| {
        if input.u8() < 200 {
            MR_KEY
        } else {
            input.u32()
        }
    };
    let ext = Extensions {
        reth: Some(Reth {
            va: MR_BASE.wrapping_add(u64::from(input.u16())),
            rkey: key(input),
            len: match input.u8() % 4 {
                0 => u32::from(input.u8()),
                1 => u32::from(input.u16()),
                2 => 256,
                _ => input.u32(),
            },
        }),
        aeth: Some(Aeth {
            syndrome: input.u8(),
            msn: input.u32() & 0xff_ffff,
        }),
        atomic_eth: Some(AtomicEth {
            va: MR_BASE + u64::from(input.u16()),
            rkey: key(input),
            swap_add: 1,
            compare: 0,
        }),
        atomic_ack: Some(AtomicAckEth { orig: 0 }),
        ieth: Some(Ieth { rkey: key(input) }),
        deth: Some(Deth {
            qkey: if input.u8() < 200 { 0x1234 } else { GSI_QKEY },
            src_qpn: PEER_QPN,
        }),
        immdt: Some(Immdt { imm: [1, 2, 3, 4] }),
        feth: Some(Feth {
            placement: input.u8() & 7,
            level: input.u8() & 1,
        }),
    };
    let bth = Bth {
        opcode,
        se: input.u8() & 1 != 0,
        pkey: 0xffff,
        dest_qpn: QPN,
        ack_req: input.u8() & 1 != 0,
        psn,
        ..Bth::default()
    };
    let len = match input.u8() % 4 {
        0 => 0,
        1 => 256,
        2 => usize::from(input.u8()),
        _ => usize::from(input.u16()) % 1100,
    };
    let payload = input.bytes(len.min(64)).to_vec();
    let path = Path {
        av: Av {
            dgid: dst,
            sgid: src,
            hop_limit: 64,
            ..Av::default()
        },
        src_port: 0xc000,
    };
    let mut buf = vec![0u8; path.packet_len(opcode, len)?];
    path.write_packet(bth, &ext, len, &mut buf, |b| {
        for (i, x) in b.iter_mut().enumerate() {
            *x = payload.get(i % payload.len().max(1)).copied().unwrap_or(0);
        }
        Ok::<(), ()>(())
    })
    .ok()?;
    Some(buf)
}

fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let service = match input.u8() % 3 {
        0 => Service::Rc,
        1 => Service::Uc,
        _ => Service::Ud,
    };
    let sq = Ring::new(8, wqe::SEND_WQE_BYTES + wqe::SGE_BYTES, 64).unwrap();
    let rq = Ring::new(8, wqe::RECV_WQE_BYTES + wqe::SGE_BYTES, 64).unwrap();
    let mut addr = ipv4_mapped([10, 0, 0, 1]);
    let peer = ipv4_mapped([10, 0, 0, 2]);
    let mut host = Host::new(sq, rq, vec![0; MEMORY], addr, peer);
    // Receives from a shared receive queue of the same shape, or not.
    let srq = input.u8() & 1 != 0;
    if srq {
        host.srq = Some(Rc::new(RefCell::new(ring_bytes(&rq))));
    }
    let mut cfg = config(QPN, service, sq, rq);
    cfg.srq = srq;
    let (sent, slot) = storage(&cfg);
    let mut e: Engine<Sim> = Engine::new(cfg, sent, slot);
    let mut now = 0u64;
    let mut a = Attrs::new();
    let rq_psn = input.u32() & 0xff_ffff;
    for state in [QpState::Init, QpState::Rtr, QpState::Rts] {
        a.state = state;
        a.qkey = 0x1234;
        a.access = u32::from(input.u8() & 0x7);
        a.path_mtu = u32::from(input.u8() % 5) + 1;
        a.dest_qpn = PEER_QPN;
        a.sq_psn = input.u32() & 0xff_ffff;
        a.rq_psn = rq_psn;
        a.av = (service != Service::Ud).then_some(Av {
            dgid: peer,
            sgid: addr,
            hop_limit: 64,
            ..Av::default()
        });
        a.timeout = input.u8() % 32;
        a.retry_cnt = input.u8() % 8;
        a.rnr_retry = input.u8() % 8;
        a.min_rnr_timer = input.u8() % 32;
        a.max_rd_atomic = input.u8() % 4;
        e.set_attrs(&host, now, a, 1);
    }
    let mut next_id = 0u64;
    for j in 0..u64::from(input.u8() % 9) {
        let list = [sge(
            (j as usize * 1024) % MEMORY,
            u32::from(input.u16()) % 2048,
        )];
        // Now and then one its owner wrote wrong: too many entries.
        let num_sge = (input.u8() < 16).then(|| u32::from(input.u8()) + 2);
        let write = |slot: &mut [u8]| {
            let _ = wqe::write_recv(slot, 1000 + j, list.into_iter());
            if let Some(n) = num_sge {
                slot[28..32].copy_from_slice(&n.to_le_bytes());
            }
        };
        if srq {
            host.post_shared(write);
        } else {
            host.post(Queue::Recv, write);
        }
    }
    let n = input.u8() % 9;
    post_sends(&mut input, &host, service, &mut next_id, n);
    let mut epsn = Psn::new(rq_psn);
    let mut stopped = false;
    while !input.is_empty() {
        match input.u8() % 10 {
            0..=5 => {
                let src = if input.u8() < 230 {
                    peer
                } else {
                    ipv4_mapped([10, 0, 0, input.u8()])
                };
                let dst = addr;
                let Some(p) = packet(&mut input, src, dst, epsn) else {
                    continue;
                };
                // The receive path checks every packet whole first.
                let Ok(d) = Datagram::parse(&p) else {
                    continue;
                };
                if d.packet.info.has(rxe_proto::opcode::flags::REQ) {
                    epsn = d.packet.bth.psn.next();
                }
                e.run(&host, now, &mut One(Some(p)));
            }
            6 => {
                now += u64::from(input.u16()) * 10_000;
                e.on_timer(&host, now);
                e.run(&host, now, &mut One(None));
            }
            7 => {
                let n = input.u8() % 4;
                post_sends(&mut input, &host, service, &mut next_id, n);
                e.doorbell(&host, now);
            }
            8 => {
                if stopped {
                    let moved = input.u8() & 1 != 0;
                    if moved {
                        addr = ipv4_mapped([10, 0, 1, input.u8()]);
                    }
                    let src = moved.then_some(NewSource {
                        gid: addr,
                        index: 1,
                    });
                    // The host's address moves with it, and the host
                    // checks that every packet comes from it.
                    host.addr = addr;
                    let _ = e.resume(&host, now, src, false);
                } else {
                    e.stop(&host, now);
                }
                stopped = !stopped;
            }
            _ => {
                let mut rec = rxe_proto::image::Qp::EMPTY;
                if stopped {
                    // Unless it is inside two messages at once (a bug);
                    // a QP on an SRQ with the one request it took.
                    e.dump(&mut rec).expect("a Stopped QP dumps");
                    let slot = e.config().rq.slot_bytes();
                    assert!(rec.taken.is_empty() || (srq && rec.taken.len() == slot));
                }
            }
        }
        let _ = e.poll_timeout(&host);
        for p in host.out.borrow_mut().drain(..) {
            let d = Datagram::parse(&p).expect("the engine sent a packet the receive path refuses");
            assert_eq!(d.src, host.addr, "sent from an address not ours");
        }
    }
    let (mut sends, mut recvs) = (0u64, 1000u64);
    for (q, c) in host.completions.borrow().iter() {
        match q {
            Queue::Send => {
                assert_eq!(c.wr_id, sends, "send completions out of order: {c:?}");
                sends += 1;
            }
            Queue::Recv => {
                assert_eq!(c.wr_id, recvs, "receive completions out of order: {c:?}");
                recvs += 1;
            }
        }
    }
    assert!(sends <= next_id, "more send completions than requests");
}

fuzz_target!(run);
