// SPDX-License-Identifier: GPL-2.0

//! Transport headers (IBTA vol. 1, 9.2 and 9.3), parsed from and emitted to
//! big-endian bytes. Each header is a plain value; [`Packet`] finds them in a
//! RoCEv2 UDP payload with the help of the opcode table.

use super::opcode::{self, flags, OpInfo};
use super::psn::Psn;
use super::ParseError;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be64(b: &[u8], at: usize) -> u64 {
    (be32(b, at) as u64) << 32 | be32(b, at + 4) as u64
}
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Mask of a 24-bit QP number.
pub const QPN_MASK: u32 = 0x00ff_ffff;

/// Base transport header (9.2), 12 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bth {
    pub opcode: u8,
    /// Solicited event.
    pub se: bool,
    /// Migration request (APM); rxe sends it set and ignores it.
    pub mig: bool,
    /// Pad bytes (0..=3) after the payload.
    pub pad: u8,
    /// Transport header version, 0.
    pub tver: u8,
    pub pkey: u16,
    pub fecn: bool,
    pub becn: bool,
    /// Destination QP, 24 bits.
    pub dest_qpn: u32,
    /// Acknowledge request.
    pub ack_req: bool,
    pub psn: Psn,
    /// The migration protocol's mark: rxe_migros sets the lowest
    /// reserved bit of the byte that holds FECN and BECN (resv6a), which
    /// the ICRC masks out and the C rxe ignores, in every packet it sends.
    /// A peer that set it speaks the protocol (docs/migration.md).
    pub proto: bool,
}

/// [`Bth::proto`] in the BTH's fifth byte.
const PROTO_BIT: u8 = 0x01;

impl Bth {
    /// Size on the wire.
    pub const LEN: usize = opcode::BTH_BYTES;

    /// Reads a BTH from the first 12 bytes of `b`.
    pub fn parse(b: &[u8]) -> Result<Bth, ParseError> {
        if b.len() < Self::LEN {
            return Err(ParseError::Truncated);
        }
        let f = b[1];
        let bth = Bth {
            opcode: b[0],
            se: f & 0x80 != 0,
            mig: f & 0x40 != 0,
            pad: (f >> 4) & 3,
            tver: f & 0x0f,
            pkey: be16(b, 2),
            fecn: b[4] & 0x80 != 0,
            becn: b[4] & 0x40 != 0,
            dest_qpn: be32(b, 4) & QPN_MASK,
            ack_req: b[8] & 0x80 != 0,
            psn: Psn::new(be32(b, 8)),
            proto: b[4] & PROTO_BIT != 0,
        };
        if bth.tver != 0 {
            return Err(ParseError::BadVersion(bth.tver));
        }
        Ok(bth)
    }

    /// Writes the BTH into the first 12 bytes of `b`; reserved bits are
    /// zero but the protocol's mark, if set.
    pub fn emit(&self, b: &mut [u8]) {
        b[0] = self.opcode;
        b[1] =
            (self.se as u8) << 7 | (self.mig as u8) << 6 | (self.pad & 3) << 4 | (self.tver & 0xf);
        put16(b, 2, self.pkey);
        put32(
            b,
            4,
            (self.fecn as u32) << 31
                | (self.becn as u32) << 30
                | u32::from(self.proto as u8 * PROTO_BIT) << 24
                | (self.dest_qpn & QPN_MASK),
        );
        put32(b, 8, (self.ack_req as u32) << 31 | self.psn.get());
    }
}

/// RDMA extended transport header (9.3.3), 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Reth {
    pub va: u64,
    pub rkey: u32,
    pub len: u32,
}

impl Reth {
    pub fn parse(b: &[u8]) -> Reth {
        Reth {
            va: be64(b, 0),
            rkey: be32(b, 8),
            len: be32(b, 12),
        }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put64(b, 0, self.va);
        put32(b, 8, self.rkey);
        put32(b, 12, self.len);
    }
}

/// ACK extended transport header (9.3.5), 4 bytes: a syndrome and the MSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Aeth {
    pub syndrome: u8,
    /// Message sequence number, 24 bits.
    pub msn: u32,
}

impl Aeth {
    pub fn parse(b: &[u8]) -> Aeth {
        let v = be32(b, 0);
        Aeth {
            syndrome: (v >> 24) as u8,
            msn: v & 0x00ff_ffff,
        }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put32(
            b,
            0,
            (self.syndrome as u32) << 24 | (self.msn & 0x00ff_ffff),
        );
    }
}

/// Atomic extended transport header (9.3.4), 28 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AtomicEth {
    pub va: u64,
    pub rkey: u32,
    pub swap_add: u64,
    pub compare: u64,
}

impl AtomicEth {
    pub fn parse(b: &[u8]) -> AtomicEth {
        AtomicEth {
            va: be64(b, 0),
            rkey: be32(b, 8),
            swap_add: be64(b, 12),
            compare: be64(b, 20),
        }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put64(b, 0, self.va);
        put32(b, 8, self.rkey);
        put64(b, 12, self.swap_add);
        put64(b, 20, self.compare);
    }
}

/// Atomic ACK extended transport header (9.3.6), 8 bytes: the original value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AtomicAckEth {
    pub orig: u64,
}

impl AtomicAckEth {
    pub fn parse(b: &[u8]) -> AtomicAckEth {
        AtomicAckEth { orig: be64(b, 0) }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put64(b, 0, self.orig);
    }
}

/// Invalidate extended transport header (9.3.7), 4 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ieth {
    pub rkey: u32,
}

impl Ieth {
    pub fn parse(b: &[u8]) -> Ieth {
        Ieth { rkey: be32(b, 0) }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put32(b, 0, self.rkey);
    }
}

/// FLUSH extended transport header (IBA annex A19), 4 bytes: the
/// selectivity level (bits 5-4) and the placement type (bits 3-0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Feth {
    /// `IB_FLUSH_GLOBAL`, `IB_FLUSH_PERSISTENT` bits.
    pub placement: u8,
    /// `IB_FLUSH_RANGE` or `IB_FLUSH_MR`.
    pub level: u8,
}

impl Feth {
    pub fn parse(b: &[u8]) -> Feth {
        let v = be32(b, 0);
        Feth {
            placement: (v & 0xf) as u8,
            level: ((v >> 4) & 3) as u8,
        }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put32(
            b,
            0,
            u32::from(self.placement & 0xf) | u32::from(self.level & 3) << 4,
        );
    }
}

/// Datagram extended transport header (9.3.2), 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Deth {
    pub qkey: u32,
    /// Source QP, 24 bits.
    pub src_qpn: u32,
}

impl Deth {
    pub fn parse(b: &[u8]) -> Deth {
        Deth {
            qkey: be32(b, 0),
            src_qpn: be32(b, 4) & QPN_MASK,
        }
    }
    pub fn emit(&self, b: &mut [u8]) {
        put32(b, 0, self.qkey);
        put32(b, 4, self.src_qpn & QPN_MASK);
    }
}

/// Immediate data (9.3.8), 4 bytes, kept in wire (big-endian) order as
/// verbs hands it to the application unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Immdt {
    pub imm: [u8; 4],
}

impl Immdt {
    pub fn parse(b: &[u8]) -> Immdt {
        Immdt {
            imm: [b[0], b[1], b[2], b[3]],
        }
    }
    pub fn emit(&self, b: &mut [u8]) {
        b[..4].copy_from_slice(&self.imm);
    }
}

/// A RoCEv2 packet: the UDP payload from the BTH to the ICRC inclusive,
/// checked to hold every header its opcode calls for.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    buf: &'a [u8],
    pub bth: Bth,
    pub info: OpInfo,
}

impl<'a> Packet<'a> {
    /// Parses the headers of `buf` (BTH through ICRC). Does not check the
    /// ICRC: see [`super::icrc`].
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        let bth = Bth::parse(buf)?;
        let info = OpInfo::lookup(bth.opcode).ok_or(ParseError::UnknownOpcode(bth.opcode))?;
        let fixed = info.header_len() + opcode::ICRC_BYTES;
        if buf.len() < fixed {
            return Err(ParseError::Truncated);
        }
        let payload_and_pad = buf.len() - fixed;
        if (bth.pad as usize) > payload_and_pad
            || (!info.has(flags::PAYLOAD) && payload_and_pad != 0)
        {
            return Err(ParseError::BadPad);
        }
        Ok(Packet { buf, bth, info })
    }

    fn ext(&self, which: u32) -> Option<&'a [u8]> {
        self.info.offset_of(which).map(|off| &self.buf[off..])
    }

    pub fn reth(&self) -> Option<Reth> {
        self.ext(flags::RETH).map(Reth::parse)
    }
    pub fn aeth(&self) -> Option<Aeth> {
        self.ext(flags::AETH).map(Aeth::parse)
    }
    pub fn atomic_eth(&self) -> Option<AtomicEth> {
        self.ext(flags::ATMETH).map(AtomicEth::parse)
    }
    pub fn atomic_ack(&self) -> Option<AtomicAckEth> {
        self.ext(flags::ATMACK).map(AtomicAckEth::parse)
    }
    pub fn ieth(&self) -> Option<Ieth> {
        self.ext(flags::IETH).map(Ieth::parse)
    }
    pub fn feth(&self) -> Option<Feth> {
        self.ext(flags::FETH).map(Feth::parse)
    }
    pub fn deth(&self) -> Option<Deth> {
        self.ext(flags::DETH).map(Deth::parse)
    }
    pub fn immdt(&self) -> Option<Immdt> {
        self.ext(flags::IMMDT).map(Immdt::parse)
    }

    /// The message data this packet carries, without pad or ICRC.
    pub fn payload(&self) -> &'a [u8] {
        let start = self.info.header_len();
        let end = self.buf.len() - opcode::ICRC_BYTES - self.bth.pad as usize;
        &self.buf[start..end]
    }

    /// The ICRC as it appears on the wire.
    pub fn icrc(&self) -> u32 {
        let n = self.buf.len();
        u32::from_le_bytes([
            self.buf[n - 4],
            self.buf[n - 3],
            self.buf[n - 2],
            self.buf[n - 1],
        ])
    }
}

/// The extended headers of a packet to send: each is written where the
/// opcode puts it, and ignored if the opcode has no place for it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extensions {
    pub reth: Option<Reth>,
    pub aeth: Option<Aeth>,
    pub atomic_eth: Option<AtomicEth>,
    pub atomic_ack: Option<AtomicAckEth>,
    pub ieth: Option<Ieth>,
    pub deth: Option<Deth>,
    pub immdt: Option<Immdt>,
    pub feth: Option<Feth>,
}

impl Extensions {
    /// Writes the headers `info` calls for into `b`, which starts at the
    /// BTH and holds at least `info.header_len()` bytes. Headers the
    /// opcode calls for but `self` lacks are left as they are (zero).
    pub fn emit(&self, info: &OpInfo, b: &mut [u8]) {
        let at = |which: u32| info.offset_of(which);
        if let (Some(h), Some(o)) = (self.reth, at(flags::RETH)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.aeth, at(flags::AETH)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.atomic_eth, at(flags::ATMETH)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.atomic_ack, at(flags::ATMACK)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.ieth, at(flags::IETH)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.deth, at(flags::DETH)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.immdt, at(flags::IMMDT)) {
            h.emit(&mut b[o..]);
        }
        if let (Some(h), Some(o)) = (self.feth, at(flags::FETH)) {
            h.emit(&mut b[o..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcode::{op, TRANSPORT_RC, TRANSPORT_UD};
    use crate::testutil::Rng;

    fn random_bth(rng: &mut Rng) -> Bth {
        Bth {
            opcode: rng.next_u32() as u8,
            se: rng.bool(),
            mig: rng.bool(),
            pad: rng.next_u32() as u8 & 3,
            tver: 0,
            pkey: rng.next_u32() as u16,
            fecn: rng.bool(),
            becn: rng.bool(),
            dest_qpn: rng.next_u32() & QPN_MASK,
            ack_req: rng.bool(),
            psn: Psn::new(rng.next_u32()),
            proto: rng.bool(),
        }
    }

    #[test]
    fn bth_round_trips() {
        let mut rng = Rng::new(1);
        for _ in 0..100_000 {
            let bth = random_bth(&mut rng);
            let mut b = [0u8; 12];
            bth.emit(&mut b);
            assert_eq!(Bth::parse(&b), Ok(bth));
        }
    }

    #[test]
    fn bth_wire_layout() {
        let bth = Bth {
            opcode: 0x04,
            se: true,
            mig: true,
            pad: 2,
            pkey: 0xffff,
            dest_qpn: 0x000011,
            ack_req: true,
            psn: Psn::new(0x123456),
            ..Default::default()
        };
        let mut b = [0u8; 12];
        bth.emit(&mut b);
        assert_eq!(
            b,
            [0x04, 0xe0, 0xff, 0xff, 0x00, 0x00, 0x00, 0x11, 0x80, 0x12, 0x34, 0x56]
        );
    }

    #[test]
    fn extension_headers_round_trip() {
        let mut rng = Rng::new(2);
        for _ in 0..10_000 {
            let mut b = [0u8; 28];
            let r = Reth {
                va: rng.next_u64(),
                rkey: rng.next_u32(),
                len: rng.next_u32(),
            };
            r.emit(&mut b);
            assert_eq!(Reth::parse(&b), r);
            let a = Aeth {
                syndrome: rng.next_u32() as u8,
                msn: rng.next_u32() & 0xff_ffff,
            };
            a.emit(&mut b);
            assert_eq!(Aeth::parse(&b), a);
            let at = AtomicEth {
                va: rng.next_u64(),
                rkey: rng.next_u32(),
                swap_add: rng.next_u64(),
                compare: rng.next_u64(),
            };
            at.emit(&mut b);
            assert_eq!(AtomicEth::parse(&b), at);
            let d = Deth {
                qkey: rng.next_u32(),
                src_qpn: rng.next_u32() & QPN_MASK,
            };
            d.emit(&mut b);
            assert_eq!(Deth::parse(&b), d);
            let aa = AtomicAckEth {
                orig: rng.next_u64(),
            };
            aa.emit(&mut b);
            assert_eq!(AtomicAckEth::parse(&b), aa);
            let i = Ieth {
                rkey: rng.next_u32(),
            };
            i.emit(&mut b);
            assert_eq!(Ieth::parse(&b), i);
        }
    }

    #[test]
    fn packet_finds_its_headers() {
        // RC WRITE ONLY WITH IMMEDIATE, 5 bytes of payload, 3 of pad.
        let mut b = [0u8; 12 + 16 + 4 + 8 + 4];
        let bth = Bth {
            opcode: TRANSPORT_RC | op::RDMA_WRITE_ONLY_WITH_IMMEDIATE,
            pad: 3,
            pkey: 0xffff,
            dest_qpn: 17,
            psn: Psn::new(9),
            ..Default::default()
        };
        bth.emit(&mut b);
        let reth = Reth {
            va: 0x1000,
            rkey: 0x55,
            len: 5,
        };
        reth.emit(&mut b[12..]);
        Immdt { imm: [1, 2, 3, 4] }.emit(&mut b[28..]);
        b[32..37].copy_from_slice(b"hello");
        let p = Packet::parse(&b).unwrap();
        assert_eq!(p.reth(), Some(reth));
        assert_eq!(p.immdt(), Some(Immdt { imm: [1, 2, 3, 4] }));
        assert_eq!(p.payload(), b"hello");
        assert_eq!(p.aeth(), None);
    }

    #[test]
    fn rejects_bad_packets() {
        let mut b = [0u8; 64];
        Bth {
            opcode: TRANSPORT_UD | op::SEND_ONLY,
            ..Default::default()
        }
        .emit(&mut b);
        assert!(Packet::parse(&b[..12 + 8 + 4]).is_ok());
        assert_eq!(
            Packet::parse(&b[..12 + 8 + 3]).unwrap_err(),
            ParseError::Truncated
        );
        assert_eq!(Packet::parse(&b[..11]).unwrap_err(), ParseError::Truncated);
        b[0] = TRANSPORT_RC | 0x15;
        assert_eq!(
            Packet::parse(&b).unwrap_err(),
            ParseError::UnknownOpcode(0x15)
        );
        Bth {
            opcode: TRANSPORT_RC | op::ACKNOWLEDGE,
            ..Default::default()
        }
        .emit(&mut b);
        assert_eq!(Packet::parse(&b[..20]).map(|p| p.payload().len()), Ok(0));
        assert_eq!(Packet::parse(&b[..21]).unwrap_err(), ParseError::BadPad);
        Bth {
            opcode: TRANSPORT_RC | op::SEND_ONLY,
            pad: 3,
            ..Default::default()
        }
        .emit(&mut b);
        assert_eq!(Packet::parse(&b[..18]).unwrap_err(), ParseError::BadPad);
        b[1] |= 1;
        assert_eq!(Packet::parse(&b).unwrap_err(), ParseError::BadVersion(1));
    }

    #[test]
    fn parse_never_panics_on_noise() {
        let mut rng = Rng::new(3);
        let mut b = [0u8; 80];
        for _ in 0..200_000 {
            let n = rng.next_u32() as usize % b.len();
            for x in b.iter_mut().take(n) {
                *x = rng.next_u32() as u8;
            }
            if let Ok(p) = Packet::parse(&b[..n]) {
                let _ = (
                    p.payload(),
                    p.reth(),
                    p.aeth(),
                    p.atomic_eth(),
                    p.deth(),
                    p.icrc(),
                );
            }
        }
    }
}
