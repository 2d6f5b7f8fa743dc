// SPDX-License-Identifier: GPL-2.0

//! The completer fed any sequence of responses (ACKs and NAKs of every
//! syndrome, READ data, atomic ACKs, at PSNs near the outstanding
//! requests), timeouts and RESUMEs, for a queue of requests of any kinds
//! and lengths. READ data must be placed inside the request and end
//! exactly at its length; a retry must start inside the oldest request;
//! nothing completes while nothing is outstanding.
#![no_main]

use rxe_proto::aeth::Syndrome;
use rxe_proto::comp::{pending, Action, Completer, Pending, Response};
use rxe_proto::psn::Psn;
use rxe_proto::req::{psn_span, Kind, Mtu};
use rxe_proto_fuzz::{fuzz_target, Input};

fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mtu = Mtu::from_ib(u32::from(input.u8() % 5) + 1).unwrap();
    let mut c = Completer::new(input.u8() % 8, input.u8() % 8, mtu);
    let mut queue: Vec<Pending> = Vec::new();
    let mut next = Psn::new(input.u32());
    for _ in 0..=input.u8() % 8 {
        let kind = Kind::ALL[usize::from(input.u8() % 8)];
        let length = match kind {
            Kind::CompareSwap | Kind::FetchAdd => 8,
            _ => u32::from(input.u16()) * u32::from(input.u8() % 4 + 1),
        };
        let p = pending(kind, next, length, mtu);
        assert_eq!(p.end, next + psn_span(kind, length, mtu));
        next = p.end;
        queue.push(p);
    }
    // READ bytes placed so far for the oldest request.
    let mut placed = 0u32;
    while let Some(&oldest) = queue.first() {
        if input.is_empty() {
            break;
        }
        let what = input.u8();
        let action = match what % 8 {
            0 => c.on_timeout(&oldest),
            1 => c.on_resume(&oldest),
            _ => {
                let near = i32::from(input.u8() as i8);
                let psn = oldest.first + near as u32;
                let r = match what % 8 {
                    2..=4 => Response::Ack {
                        psn,
                        syndrome: Syndrome::from_byte(input.u8()),
                    },
                    5 | 6 => Response::ReadData {
                        psn,
                        opcode: input.u8(),
                        len: if input.u8() & 1 == 0 {
                            mtu.bytes()
                        } else {
                            u32::from(input.u16())
                        },
                    },
                    _ => Response::AtomicAck { psn },
                };
                c.on_response(&oldest, next, &r)
            }
        };
        match action {
            Action::Complete => {
                queue.remove(0);
                placed = 0;
            }
            Action::PlaceRead { offset, len, done } => {
                assert_eq!(oldest.kind, Kind::Read);
                assert_eq!(offset, placed, "READ data placed out of order");
                let end = offset.checked_add(len).expect("no overflow");
                assert!(end <= oldest.length, "READ data past the request");
                assert_eq!(done, end == oldest.length);
                placed = if done { 0 } else { end };
            }
            Action::Retry { from } | Action::RnrWait { from, .. } => {
                assert!(
                    from.diff(oldest.first) >= 0 && from.diff(oldest.end) < 0,
                    "a retry outside the oldest request"
                );
                // A retried READ is answered again from `from`; what was
                // placed stays placed, and the rest goes on after it.
            }
            Action::Fail(_) => {
                // The QP goes to the error state: the rest is flushed.
                break;
            }
            Action::Pause | Action::Ignore => {}
        }
    }
}

fuzz_target!(run);
