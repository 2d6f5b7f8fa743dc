// SPDX-License-Identifier: GPL-2.0

//! The requester's cutting of a message into packets (the C rxe's
//! rxe_req.c: its opcode sequence, PSNs, pads and ACK requests).
//!
//! A message of `length` bytes goes out in packets of the path MTU, the
//! last one shorter: FIRST, MIDDLE..., LAST, or a single ONLY. Immediate
//! data and invalidation ride on the last packet, the RETH of a WRITE on
//! the first. A READ is one request packet that reserves a PSN for every
//! response packet it will bring back; an atomic is one packet and one PSN.

use core::num::NonZeroU32;

use super::opcode::{op, TRANSPORT_RC, TRANSPORT_UC, TRANSPORT_UD};
use super::psn::Psn;
use super::wqe::Operation;

/// The transport service of the QP sending the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Rc,
    Uc,
    Ud,
}

impl Service {
    /// The transport bits of its opcodes.
    pub const fn transport(self) -> u8 {
        match self {
            Service::Rc => TRANSPORT_RC,
            Service::Uc => TRANSPORT_UC,
            Service::Ud => TRANSPORT_UD,
        }
    }
}

/// What a message is, as its opcodes see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Send,
    SendImm,
    SendInv,
    Write,
    WriteImm,
    Read,
    CompareSwap,
    FetchAdd,
    AtomicWrite,
    Flush,
    /// LOCAL_INV and BIND_MW: carried out by the requester itself, once
    /// every request before them is complete; no packet goes out.
    LocalInv,
    BindMw,
    /// REG_MR, local too, from kernel consumers only.
    RegMr,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 13] = [
        Kind::Send,
        Kind::SendImm,
        Kind::SendInv,
        Kind::Write,
        Kind::WriteImm,
        Kind::Read,
        Kind::CompareSwap,
        Kind::FetchAdd,
        Kind::AtomicWrite,
        Kind::Flush,
        Kind::LocalInv,
        Kind::BindMw,
        Kind::RegMr,
    ];

    /// The kind of a work request's operation.
    pub fn of(op: &Operation) -> Kind {
        match op {
            Operation::Send { imm: None } => Kind::Send,
            Operation::Send { imm: Some(_) } => Kind::SendImm,
            Operation::SendInvalidate { .. } => Kind::SendInv,
            Operation::Write { imm: None, .. } => Kind::Write,
            Operation::Write { imm: Some(_), .. } => Kind::WriteImm,
            Operation::Read { .. } => Kind::Read,
            Operation::CompareSwap { .. } => Kind::CompareSwap,
            Operation::FetchAdd { .. } => Kind::FetchAdd,
            Operation::AtomicWrite { .. } => Kind::AtomicWrite,
            Operation::Flush { .. } => Kind::Flush,
            Operation::LocalInvalidate { .. } => Kind::LocalInv,
            Operation::BindMw(_) => Kind::BindMw,
            Operation::RegMr(_) => Kind::RegMr,
        }
    }

    /// Whether it is one request packet that a response answers (a READ
    /// response, or an atomic ACK), as READs and atomics are: the
    /// responder keeps a resource for each, so at most `max_rd_atomic` are
    /// outstanding.
    pub fn answered(self) -> bool {
        matches!(
            self,
            Kind::Read | Kind::CompareSwap | Kind::FetchAdd | Kind::AtomicWrite | Kind::Flush
        )
    }

    /// Whether the requester carries it out itself, sending nothing.
    pub fn is_local(self) -> bool {
        matches!(self, Kind::LocalInv | Kind::BindMw | Kind::RegMr)
    }

    /// Whether the service can carry it (UC: no READ, atomics or
    /// invalidation, which IBTA defines for RC only, but windows are
    /// bound on UC QPs too; UD: plain sends).
    pub fn allowed_on(self, s: Service) -> bool {
        match s {
            Service::Rc => true,
            Service::Uc => !self.answered() && !matches!(self, Kind::SendInv | Kind::LocalInv),
            Service::Ud => matches!(self, Kind::Send | Kind::SendImm),
        }
    }
}

/// Why a message cannot be sent as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqError {
    /// The QP's service does not carry this operation.
    NotOnService,
    /// A datagram larger than the path MTU.
    TooLong,
}

/// A path MTU: the bytes of payload a packet carries. Never zero, so that
/// counting packets cannot divide by zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mtu(NonZeroU32);

impl Mtu {
    /// The smallest (`IB_MTU_256`), which a QP has until it is given a
    /// path. (A constant: the `unwrap` runs in the compiler, never in the
    /// kernel.)
    pub const MIN: Mtu = Mtu::new(256).unwrap();

    /// An MTU of `bytes` per packet; `None` for 0.
    pub const fn new(bytes: u32) -> Option<Mtu> {
        match NonZeroU32::new(bytes) {
            Some(n) => Some(Mtu(n)),
            None => None,
        }
    }

    /// The MTU of an `enum ib_mtu` (1 = 256 ... 5 = 4096); `None` for
    /// other values.
    pub fn from_ib(ib_mtu: u32) -> Option<Mtu> {
        if !(1..=5).contains(&ib_mtu) {
            return None;
        }
        Mtu::new(128 << ib_mtu)
    }

    /// Bytes of payload per packet.
    pub fn bytes(self) -> u32 {
        self.0.get()
    }

    /// The packets `len` bytes take, the last one short.
    pub fn packets(self, len: u32) -> u32 {
        len / self.0 + u32::from(len % self.0 != 0)
    }

    /// The full packets in `len` bytes.
    pub fn full_packets(self, len: u32) -> u32 {
        len / self.0
    }
}

/// An ACK is requested at least this often within a long message, as the
/// C rxe does, so that the responder's ACKs keep the window moving.
pub const MAX_PKTS_PER_ACK: u32 = 64;

/// One packet of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub opcode: u8,
    pub psn: Psn,
    /// Where its payload starts in the message.
    pub offset: u32,
    /// Payload bytes (0 for READ requests and atomics).
    pub len: u32,
    /// Pad bytes to a multiple of four.
    pub pad: u8,
    /// The BTH's AckReq bit.
    pub ack_req: bool,
}

/// The packets of one message, in order.
#[derive(Clone, Debug)]
pub struct Segments {
    kind: Kind,
    service: Service,
    length: u32,
    mtu: Mtu,
    offset: u32,
    psn: Psn,
    /// The PSN after the message.
    end: Psn,
    index: u32,
    done: bool,
}

/// How many PSNs a message takes: one per packet it sends, or for a READ
/// one per response packet it asks for.
pub fn psn_span(kind: Kind, length: u32, mtu: Mtu) -> u32 {
    match kind {
        Kind::CompareSwap | Kind::FetchAdd | Kind::AtomicWrite | Kind::Flush => 1,
        Kind::LocalInv | Kind::BindMw | Kind::RegMr => 0,
        _ => mtu.packets(length).max(1),
    }
}

impl Segments {
    /// The packets of a `kind` message of `length` bytes starting at
    /// `first_psn`, on a QP of `service` with a path MTU of `mtu`.
    pub fn new(
        kind: Kind,
        service: Service,
        length: u32,
        mtu: Mtu,
        first_psn: Psn,
    ) -> Result<Segments, ReqError> {
        if !kind.allowed_on(service) || kind.is_local() {
            return Err(ReqError::NotOnService);
        }
        if service == Service::Ud && length > mtu.bytes() {
            return Err(ReqError::TooLong);
        }
        Ok(Segments {
            kind,
            service,
            length,
            mtu,
            offset: 0,
            psn: first_psn,
            end: first_psn + psn_span(kind, length, mtu),
            index: 0,
            done: false,
        })
    }

    fn opcode(&self, first: bool, last: bool) -> u8 {
        let base = match self.kind {
            Kind::Read => op::RDMA_READ_REQUEST,
            Kind::CompareSwap => op::COMPARE_SWAP,
            Kind::FetchAdd => op::FETCH_ADD,
            Kind::AtomicWrite => op::ATOMIC_WRITE,
            Kind::Flush => op::FLUSH,
            // Never: `Segments::new` refuses them.
            Kind::LocalInv | Kind::BindMw | Kind::RegMr => op::SEND_ONLY,
            Kind::Send | Kind::SendImm | Kind::SendInv => match (first, last, self.kind) {
                (true, true, Kind::Send) => op::SEND_ONLY,
                (true, true, Kind::SendImm) => op::SEND_ONLY_WITH_IMMEDIATE,
                (true, true, _) => op::SEND_ONLY_WITH_INVALIDATE,
                (true, false, _) => op::SEND_FIRST,
                (false, false, _) => op::SEND_MIDDLE,
                (false, true, Kind::Send) => op::SEND_LAST,
                (false, true, Kind::SendImm) => op::SEND_LAST_WITH_IMMEDIATE,
                (false, true, _) => op::SEND_LAST_WITH_INVALIDATE,
            },
            Kind::Write | Kind::WriteImm => match (first, last, self.kind) {
                (true, true, Kind::Write) => op::RDMA_WRITE_ONLY,
                (true, true, _) => op::RDMA_WRITE_ONLY_WITH_IMMEDIATE,
                (true, false, _) => op::RDMA_WRITE_FIRST,
                (false, false, _) => op::RDMA_WRITE_MIDDLE,
                (false, true, Kind::Write) => op::RDMA_WRITE_LAST,
                (false, true, _) => op::RDMA_WRITE_LAST_WITH_IMMEDIATE,
            },
        };
        base | self.service.transport()
    }

    /// The PSN after the message: where the next one starts.
    pub fn next_psn(&self) -> Psn {
        self.end
    }

    /// Moves on to the packet with `psn` (go-back-N resumes mid-message),
    /// in constant time; the next [`Iterator::next`] yields it. A PSN
    /// outside the message, or inside a READ or an atomic (single request
    /// packets), leaves the iterator where it was.
    pub fn skip_to(&mut self, psn: Psn) {
        let first = self.end - psn_span(self.kind, self.length, self.mtu);
        let index = psn.diff(first);
        if self.kind.answered() || index < 0 || psn.diff(self.end) >= 0 {
            return;
        }
        self.index = index as u32;
        self.offset = self.index * self.mtu.bytes();
        self.psn = psn;
        self.done = false;
    }
}

impl Iterator for Segments {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        if self.done {
            return None;
        }
        let first = self.index == 0;
        let single = self.kind.answered();
        let len = if self.kind == Kind::AtomicWrite {
            self.length
        } else if single {
            0
        } else {
            (self.length - self.offset).min(self.mtu.bytes())
        };
        let last = single || self.offset + len == self.length;
        let seg = Segment {
            opcode: self.opcode(first, last),
            psn: self.psn,
            offset: self.offset,
            len,
            pad: ((4 - len % 4) % 4) as u8,
            ack_req: self.service == Service::Rc
                && (last || (self.index + 1) % MAX_PKTS_PER_ACK == 0),
        };
        self.offset += len;
        self.index += 1;
        self.psn = if single { self.end } else { self.psn.next() };
        self.done = last;
        Some(seg)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::opcode::{flags, OpInfo, Transport};
    use crate::testutil::{path_mtu, Rng};

    const KINDS: [Kind; 13] = Kind::ALL;

    /// Skipping to a PSN yields exactly the packet plain iteration reaches
    /// there, and then the same rest.
    #[test]
    fn skipping_matches_iterating() {
        let mut rng = Rng::new(7);
        for _ in 0..2_000 {
            let kind = [Kind::Send, Kind::SendImm, Kind::Write, Kind::WriteImm]
                [(rng.next_u32() % 4) as usize];
            let mtu = 256 << (rng.next_u32() % 5);
            let len = rng.next_u32() % (20 * mtu);
            let first = Psn::new(rng.next_u32());
            let all: std::vec::Vec<Segment> =
                Segments::new(kind, Service::Rc, len, path_mtu(mtu), first)
                    .unwrap()
                    .collect();
            let k = (rng.next_u32() as usize) % all.len();
            let mut it = Segments::new(kind, Service::Rc, len, path_mtu(mtu), first).unwrap();
            it.skip_to(all[k].psn);
            let rest: std::vec::Vec<Segment> = it.collect();
            assert_eq!(&rest[..], &all[k..], "{kind:?} len {len} mtu {mtu} k {k}");
        }
    }

    #[test]
    fn mtus() {
        assert_eq!(Mtu::from_ib(1).map(Mtu::bytes), Some(256));
        assert_eq!(Mtu::from_ib(5).map(Mtu::bytes), Some(4096));
        assert_eq!(Mtu::from_ib(0), None);
        assert_eq!(Mtu::from_ib(6), None);
        assert_eq!(Mtu::new(0), None);
        assert_eq!(Mtu::MIN.bytes(), 256);
        let m = path_mtu(1024);
        assert_eq!(
            [0, 1, 1024, 1025, u32::MAX].map(|n| m.packets(n)),
            [0, 1, 1, 2, 4_194_304]
        );
        assert_eq!([1023, 1024, 2047].map(|n| m.full_packets(n)), [0, 1, 1]);
    }

    #[test]
    fn a_three_packet_send_with_immediate() {
        let mtu = path_mtu(1024);
        let s: [Segment; 3] = {
            let mut it =
                Segments::new(Kind::SendImm, Service::Rc, 2100, mtu, Psn::new(10)).unwrap();
            [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
        };
        let ops: [u8; 3] = [s[0].opcode, s[1].opcode, s[2].opcode];
        assert_eq!(
            ops,
            [
                op::SEND_FIRST,
                op::SEND_MIDDLE,
                op::SEND_LAST_WITH_IMMEDIATE
            ]
        );
        assert_eq!((s[2].offset, s[2].len, s[2].pad), (2048, 52, 0));
        assert_eq!(s[2].psn, Psn::new(12));
        assert!(!s[0].ack_req && s[2].ack_req);
    }

    #[test]
    fn a_read_reserves_a_psn_per_response() {
        let mtu = path_mtu(4096);
        let mut it =
            Segments::new(Kind::Read, Service::Rc, 10_000, mtu, Psn::new(0xff_fffe)).unwrap();
        let s = it.next().unwrap();
        assert_eq!(s.opcode, op::RDMA_READ_REQUEST);
        assert_eq!((s.len, s.psn), (0, Psn::new(0xff_fffe)));
        assert!(it.next().is_none());
        assert_eq!(it.next_psn(), Psn::new(1));
    }

    #[test]
    fn services_limit_operations() {
        let e = |k, s, l| Segments::new(k, s, l, path_mtu(1024), Psn::new(0)).err();
        assert_eq!(e(Kind::Read, Service::Uc, 1), Some(ReqError::NotOnService));
        assert_eq!(e(Kind::Write, Service::Ud, 1), Some(ReqError::NotOnService));
        assert_eq!(e(Kind::Send, Service::Ud, 1025), Some(ReqError::TooLong));
        assert_eq!(e(Kind::Send, Service::Ud, 1024), None);
        let mut ud =
            Segments::new(Kind::SendImm, Service::Ud, 0, path_mtu(1024), Psn::new(0)).unwrap();
        assert_eq!(
            ud.next().unwrap().opcode,
            TRANSPORT_UD | op::SEND_ONLY_WITH_IMMEDIATE
        );
    }

    /// Every message of every kind, length and MTU is cut into a valid
    /// sequence that covers its bytes exactly once.
    #[test]
    fn any_message_cuts_into_a_valid_sequence() {
        let mut rng = Rng::new(5);
        for _ in 0..20_000 {
            let kind = KINDS[rng.next_u32() as usize % KINDS.len()];
            let service = [Service::Rc, Service::Uc, Service::Ud][rng.next_u32() as usize % 3];
            let path = Mtu::from_ib(rng.next_u32() % 5 + 1).unwrap();
            let mtu = path.bytes();
            let length = match rng.next_u32() % 4 {
                0 => 0,
                1 => rng.next_u32() % (mtu + 1),
                2 => mtu * (rng.next_u32() % 8),
                _ => rng.next_u32() % (64 * mtu),
            };
            let length = if matches!(kind, Kind::CompareSwap | Kind::FetchAdd | Kind::AtomicWrite) {
                8
            } else {
                length
            };
            let first = Psn::new(rng.next_u32());
            let Ok(mut segs) = Segments::new(kind, service, length, path, first) else {
                assert!(
                    !kind.allowed_on(service)
                        || kind.is_local()
                        || (service == Service::Ud && length > mtu)
                );
                continue;
            };
            let end = segs.clone().next_psn();
            let (mut covered, mut n, mut psn) = (0u32, 0u32, first);
            let mut last_seg = None;
            for s in segs.by_ref() {
                let info = OpInfo::lookup(s.opcode).expect("a defined opcode");
                let want = match service {
                    Service::Rc => Transport::Rc,
                    Service::Uc => Transport::Uc,
                    Service::Ud => Transport::Ud,
                };
                assert_eq!(info.transport, want);
                assert!(info.has(flags::REQ));
                assert_eq!(s.psn, psn);
                assert_eq!(s.offset, covered);
                assert_eq!(info.has(flags::START), n == 0, "{kind:?} {length}/{mtu}");
                if info.has(flags::PAYLOAD) {
                    assert!(s.len <= mtu);
                } else {
                    assert_eq!(s.len, 0);
                }
                assert_eq!((s.len + s.pad as u32) % 4, 0);
                if info.has(flags::IMMDT) || info.has(flags::IETH) {
                    assert!(info.has(flags::END));
                }
                if service != Service::Rc {
                    assert!(!s.ack_req);
                }
                covered += s.len;
                psn = psn.next();
                n += 1;
                last_seg = Some((s, info));
            }
            let (last, info) = last_seg.unwrap();
            assert!(info.has(flags::END));
            assert_eq!(last.ack_req, service == Service::Rc);
            let single = kind.answered();
            let carried = !single || kind == Kind::AtomicWrite;
            assert_eq!(covered, if carried { length } else { 0 });
            assert_eq!(
                n,
                if single {
                    1
                } else {
                    length.div_ceil(mtu).max(1)
                }
            );
            assert_eq!(end, first + psn_span(kind, length, path));
            assert_eq!(segs.next_psn(), end);
        }
    }
}
