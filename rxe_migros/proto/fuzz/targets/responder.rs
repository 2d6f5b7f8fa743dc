// SPDX-License-Identifier: GPL-2.0

//! The responder fed any sequence of request packets (opcode, PSN near
//! the expected one, payload length, READ length), stops and resumes, on
//! an RC, UC or UD QP. It must never carry out a packet out of order or
//! of the wrong length, must keep the MSN in step with the messages it
//! ends, and on RC must leave the expected PSN alone for anything it
//! does not carry out.
#![no_main]

use rxe_proto::opcode::{flags, OpInfo};
use rxe_proto::psn::Psn;
use rxe_proto::req::{psn_span, Kind, Mtu, Service};
use rxe_proto::resp::{Request, Responder, Verdict};
use rxe_proto_fuzz::{fuzz_target, Input};

fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let service = match input.u8() % 3 {
        0 => Service::Rc,
        1 => Service::Uc,
        _ => Service::Ud,
    };
    let mtu = Mtu::from_ib(u32::from(input.u8() % 5) + 1).unwrap();
    let mut r = Responder::new(service, Psn::new(input.u32()), mtu);
    // What has been carried out: inside a message or not.
    let mut inside = false;
    let mut stopped = false;
    while !input.is_empty() {
        let what = input.u8();
        if what == 0xff {
            stopped = !stopped;
            if stopped {
                r.stop();
            } else {
                r.resume();
            }
            continue;
        }
        let before = r.epsn();
        let msn = r.msn();
        // Mostly near the expected PSN, sometimes anywhere.
        let near = i32::from(input.u8() as i8);
        let psn = if what & 0x80 != 0 {
            Psn::new(input.u32())
        } else {
            before + near as u32
        };
        let len = match input.u8() % 4 {
            0 => 0,
            1 => mtu.bytes(),
            2 => u32::from(input.u16()),
            _ => input.u32(),
        };
        let req = Request {
            opcode: input.u8(),
            psn,
            len,
            read_len: input.u32(),
        };
        let info = OpInfo::lookup(req.opcode);
        let request = info.is_some_and(|i| i.has(flags::REQ) && !i.has(flags::RESUME));
        if service == Service::Uc && psn != before && request {
            // UC starts over on a request at any PSN but the expected one.
            inside = false;
        }
        let v = r.receive(&req);
        match v {
            Verdict::Execute { first, last } => {
                let info = info.expect("only known opcodes are carried out");
                assert!(info.has(flags::REQ));
                assert_eq!(first, info.has(flags::START));
                assert_eq!(last, info.has(flags::END));
                assert!(req.len <= mtu.bytes(), "a packet larger than the MTU");
                if service != Service::Ud {
                    assert!(!(stopped && psn == before), "carried out while stopped");
                    assert_eq!(first, !inside, "a packet out of its message's order");
                    if !last {
                        assert_eq!(req.len, mtu.bytes(), "a short packet inside a message");
                    }
                    inside = !last;
                    let span = if info.has(flags::READ) {
                        psn_span(Kind::Read, req.read_len, mtu)
                    } else {
                        1
                    };
                    assert_eq!(r.epsn(), psn + span);
                }
                if service == Service::Rc {
                    assert_eq!(psn, before, "carried out out of order");
                }
                // UD has no message sequence.
                if service != Service::Ud {
                    let want = if last { (msn + 1) & 0xff_ffff } else { msn };
                    assert_eq!(r.msn(), want);
                }
            }
            _ => {
                assert_eq!(r.msn(), msn);
                if service == Service::Rc {
                    assert_eq!(r.epsn(), before, "the expected PSN moved for nothing");
                }
                if service == Service::Uc && r.epsn() != before {
                    // UC drops a damaged message and starts over.
                    inside = false;
                }
            }
        }
    }
}

fuzz_target!(run);
