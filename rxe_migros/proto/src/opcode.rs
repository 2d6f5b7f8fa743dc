// SPDX-License-Identifier: GPL-2.0

//! The BTH opcode table (IBTA vol. 1, 9.2.1, table 38).
//!
//! An opcode is a transport (bits 7..5) and an operation (bits 4..0). Which
//! extended headers follow the BTH, and what role the packet plays, follow
//! from the operation; the transport only limits which operations exist.

/// Extended headers and packet roles, as bits of [`OpInfo::flags`].
pub mod flags {
    /// RDMA extended transport header (16 bytes).
    pub const RETH: u32 = 1 << 0;
    /// ACK extended transport header (4 bytes).
    pub const AETH: u32 = 1 << 1;
    /// Atomic extended transport header (28 bytes).
    pub const ATMETH: u32 = 1 << 2;
    /// Atomic ACK extended transport header (8 bytes).
    pub const ATMACK: u32 = 1 << 3;
    /// Invalidate extended transport header (4 bytes).
    pub const IETH: u32 = 1 << 4;
    /// Datagram extended transport header (8 bytes).
    pub const DETH: u32 = 1 << 5;
    /// Immediate data (4 bytes).
    pub const IMMDT: u32 = 1 << 6;
    /// Flush extended transport header (4 bytes).
    pub const FETH: u32 = 1 << 7;
    /// The packet may carry payload.
    pub const PAYLOAD: u32 = 1 << 8;

    /// A request (requester to responder); otherwise a response.
    pub const REQ: u32 = 1 << 12;
    /// Part of a SEND message.
    pub const SEND: u32 = 1 << 13;
    /// Part of an RDMA WRITE message.
    pub const WRITE: u32 = 1 << 14;
    /// An RDMA READ request or response.
    pub const READ: u32 = 1 << 15;
    /// An atomic request or its ACK.
    pub const ATOMIC: u32 = 1 << 16;
    /// A FLUSH request.
    pub const FLUSH: u32 = 1 << 17;
    /// An ATOMIC WRITE request.
    pub const ATOMIC_WRITE: u32 = 1 << 18;
    /// First packet of a message.
    pub const START: u32 = 1 << 19;
    /// A packet in the middle of a message.
    pub const MIDDLE: u32 = 1 << 20;
    /// Last packet of a message.
    pub const END: u32 = 1 << 21;
    /// The packet consumes a receive WQE at the responder.
    pub const RWR: u32 = 1 << 22;
    /// The packet completes a receive at the responder.
    pub const COMP: u32 = 1 << 23;
    /// An ACK or NAK (response without data).
    pub const ACK: u32 = 1 << 24;
    /// A migrated QP announcing itself (docs/migration.md).
    pub const RESUME: u32 = 1 << 25;
    /// The migration protocol's token request or grant.
    pub const TOKEN: u32 = 1 << 26;
}

use flags::*;

/// Transport classes, the top three bits of an opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Reliable connected.
    Rc,
    /// Unreliable connected.
    Uc,
    /// Reliable datagram (not supported by rxe).
    Rd,
    /// Unreliable datagram.
    Ud,
}

/// Operation codes, the low five bits of an opcode (IBTA table 38).
pub mod op {
    pub const SEND_FIRST: u8 = 0x00;
    pub const SEND_MIDDLE: u8 = 0x01;
    pub const SEND_LAST: u8 = 0x02;
    pub const SEND_LAST_WITH_IMMEDIATE: u8 = 0x03;
    pub const SEND_ONLY: u8 = 0x04;
    pub const SEND_ONLY_WITH_IMMEDIATE: u8 = 0x05;
    pub const RDMA_WRITE_FIRST: u8 = 0x06;
    pub const RDMA_WRITE_MIDDLE: u8 = 0x07;
    pub const RDMA_WRITE_LAST: u8 = 0x08;
    pub const RDMA_WRITE_LAST_WITH_IMMEDIATE: u8 = 0x09;
    pub const RDMA_WRITE_ONLY: u8 = 0x0a;
    pub const RDMA_WRITE_ONLY_WITH_IMMEDIATE: u8 = 0x0b;
    pub const RDMA_READ_REQUEST: u8 = 0x0c;
    pub const RDMA_READ_RESPONSE_FIRST: u8 = 0x0d;
    pub const RDMA_READ_RESPONSE_MIDDLE: u8 = 0x0e;
    pub const RDMA_READ_RESPONSE_LAST: u8 = 0x0f;
    pub const RDMA_READ_RESPONSE_ONLY: u8 = 0x10;
    pub const ACKNOWLEDGE: u8 = 0x11;
    pub const ATOMIC_ACKNOWLEDGE: u8 = 0x12;
    pub const COMPARE_SWAP: u8 = 0x13;
    pub const FETCH_ADD: u8 = 0x14;
    pub const SEND_LAST_WITH_INVALIDATE: u8 = 0x16;
    pub const SEND_ONLY_WITH_INVALIDATE: u8 = 0x17;
    pub const FLUSH: u8 = 0x1c;
    pub const ATOMIC_WRITE: u8 = 0x1d;
    /// IBTA-reserved; the migration protocol's RESUME (the MigrOS value),
    /// and with the UD transport bits the announcement of a UD QP that
    /// moved (ours; docs/migration.md).
    pub const RESUME: u8 = 0x19;
    /// IBTA-reserved; the migration protocol's token request and grant
    /// (ours; docs/migration.md).
    pub const TOKEN: u8 = 0x1a;
}

/// Transport class bits of an opcode.
pub const TRANSPORT_RC: u8 = 0x00;
pub const TRANSPORT_UC: u8 = 0x20;
pub const TRANSPORT_RD: u8 = 0x40;
pub const TRANSPORT_UD: u8 = 0x60;

/// Sizes of the headers, in bytes (IBTA vol. 1, 9.3).
pub const BTH_BYTES: usize = 12;
pub const RETH_BYTES: usize = 16;
pub const AETH_BYTES: usize = 4;
pub const ATMETH_BYTES: usize = 28;
pub const ATMACK_BYTES: usize = 8;
pub const IETH_BYTES: usize = 4;
pub const DETH_BYTES: usize = 8;
pub const IMMDT_BYTES: usize = 4;
pub const FETH_BYTES: usize = 4;
/// The invariant CRC that ends every packet.
pub const ICRC_BYTES: usize = 4;

/// What an opcode means: its headers and its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The opcode itself.
    pub opcode: u8,
    /// Its transport.
    pub transport: Transport,
    /// [`flags`] bits.
    pub flags: u32,
}

/// The extended headers in the order they follow the BTH, with their sizes.
/// RD's RDETH is absent: rxe does not implement RD.
const HEADER_ORDER: [(u32, usize); 8] = [
    (DETH, DETH_BYTES),
    (FETH, FETH_BYTES),
    (RETH, RETH_BYTES),
    (ATMETH, ATMETH_BYTES),
    (AETH, AETH_BYTES),
    (ATMACK, ATMACK_BYTES),
    (IMMDT, IMMDT_BYTES),
    (IETH, IETH_BYTES),
];

/// Flags of an operation, before the transport narrows it.
const fn operation_flags(operation: u8) -> Option<u32> {
    const SEND_REQ: u32 = REQ | SEND | PAYLOAD;
    const WRITE_REQ: u32 = REQ | WRITE | PAYLOAD;
    const READ_RESP: u32 = READ | PAYLOAD;
    Some(match operation {
        op::SEND_FIRST => SEND_REQ | RWR | START,
        op::SEND_MIDDLE => SEND_REQ | MIDDLE,
        op::SEND_LAST => SEND_REQ | COMP | END,
        op::SEND_LAST_WITH_IMMEDIATE => SEND_REQ | IMMDT | COMP | END,
        op::SEND_ONLY => SEND_REQ | RWR | COMP | START | END,
        op::SEND_ONLY_WITH_IMMEDIATE => SEND_REQ | IMMDT | RWR | COMP | START | END,
        op::RDMA_WRITE_FIRST => WRITE_REQ | RETH | START,
        op::RDMA_WRITE_MIDDLE => WRITE_REQ | MIDDLE,
        op::RDMA_WRITE_LAST => WRITE_REQ | END,
        op::RDMA_WRITE_LAST_WITH_IMMEDIATE => WRITE_REQ | IMMDT | RWR | COMP | END,
        op::RDMA_WRITE_ONLY => WRITE_REQ | RETH | START | END,
        op::RDMA_WRITE_ONLY_WITH_IMMEDIATE => WRITE_REQ | RETH | IMMDT | RWR | COMP | START | END,
        op::RDMA_READ_REQUEST => REQ | READ | RETH | START | END,
        op::RDMA_READ_RESPONSE_FIRST => READ_RESP | AETH | START,
        op::RDMA_READ_RESPONSE_MIDDLE => READ_RESP | MIDDLE,
        op::RDMA_READ_RESPONSE_LAST => READ_RESP | AETH | END,
        op::RDMA_READ_RESPONSE_ONLY => READ_RESP | AETH | START | END,
        op::ACKNOWLEDGE => ACK | AETH | START | END,
        op::ATOMIC_ACKNOWLEDGE => ACK | ATOMIC | AETH | ATMACK | START | END,
        op::COMPARE_SWAP | op::FETCH_ADD => REQ | ATOMIC | ATMETH | START | END,
        op::SEND_LAST_WITH_INVALIDATE => SEND_REQ | IETH | COMP | END,
        op::SEND_ONLY_WITH_INVALIDATE => SEND_REQ | IETH | RWR | COMP | START | END,
        op::FLUSH => REQ | FLUSH | FETH | RETH | START | END,
        op::ATOMIC_WRITE => REQ | ATOMIC_WRITE | RETH | PAYLOAD | START | END,
        // Carries an optional address update as its payload.
        op::RESUME => REQ | RESUME | PAYLOAD | START | END,
        // Carries a token message; consumes no PSN and is never executed.
        op::TOKEN => REQ | TOKEN | PAYLOAD | START | END,
        _ => return None,
    })
}

impl OpInfo {
    /// Looks an opcode up; `None` for one rxe does not speak.
    pub const fn lookup(opcode: u8) -> Option<OpInfo> {
        let operation = opcode & 0x1f;
        let transport = match opcode & 0xe0 {
            TRANSPORT_RC => Transport::Rc,
            TRANSPORT_UC => Transport::Uc,
            TRANSPORT_UD => Transport::Ud,
            _ => return None,
        };
        let flags = match operation_flags(operation) {
            Some(f) => f,
            None => return None,
        };
        let allowed = match transport {
            Transport::Rc => true,
            // UC: SENDs and WRITEs only, no responses; and the
            // migration protocol's RESUME and token messages.
            Transport::Uc => {
                operation <= op::RDMA_WRITE_ONLY_WITH_IMMEDIATE
                    || operation == op::RESUME
                    || operation == op::TOKEN
            }
            // UD: single-packet SENDs, which carry a DETH, the
            // announcement of a migrated UD QP (RESUME to QPN 1), and the
            // token messages that authenticate it.
            Transport::Ud => {
                operation == op::SEND_ONLY
                    || operation == op::SEND_ONLY_WITH_IMMEDIATE
                    || operation == op::RESUME
                    || operation == op::TOKEN
            }
            Transport::Rd => false,
        };
        if !allowed {
            return None;
        }
        let flags = match transport {
            Transport::Ud => flags | DETH,
            _ => flags,
        };
        Some(OpInfo {
            opcode,
            transport,
            flags,
        })
    }

    /// Whether every bit of `f` is set.
    pub const fn has(&self, f: u32) -> bool {
        self.flags & f == f
    }

    /// Bytes of BTH and extended headers before the payload.
    pub const fn header_len(&self) -> usize {
        let mut len = BTH_BYTES;
        let mut i = 0;
        while i < HEADER_ORDER.len() {
            if self.flags & HEADER_ORDER[i].0 != 0 {
                len += HEADER_ORDER[i].1;
            }
            i += 1;
        }
        len
    }

    /// Offset from the start of the BTH of extended header `which`, if the
    /// opcode carries it.
    pub const fn offset_of(&self, which: u32) -> Option<usize> {
        if self.flags & which == 0 {
            return None;
        }
        let mut off = BTH_BYTES;
        let mut i = 0;
        while i < HEADER_ORDER.len() {
            if HEADER_ORDER[i].0 == which {
                return Some(off);
            }
            if self.flags & HEADER_ORDER[i].0 != 0 {
                off += HEADER_ORDER[i].1;
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(opcode: u8) -> usize {
        OpInfo::lookup(opcode).unwrap().header_len()
    }

    #[test]
    fn header_lengths_match_ibta() {
        assert_eq!(len(TRANSPORT_RC | op::SEND_ONLY), 12);
        assert_eq!(len(TRANSPORT_RC | op::SEND_ONLY_WITH_IMMEDIATE), 16);
        assert_eq!(len(TRANSPORT_RC | op::RDMA_WRITE_FIRST), 28);
        assert_eq!(len(TRANSPORT_RC | op::RDMA_WRITE_ONLY_WITH_IMMEDIATE), 32);
        assert_eq!(len(TRANSPORT_RC | op::RDMA_READ_REQUEST), 28);
        assert_eq!(len(TRANSPORT_RC | op::RDMA_READ_RESPONSE_MIDDLE), 12);
        assert_eq!(len(TRANSPORT_RC | op::RDMA_READ_RESPONSE_ONLY), 16);
        assert_eq!(len(TRANSPORT_RC | op::ACKNOWLEDGE), 16);
        assert_eq!(len(TRANSPORT_RC | op::ATOMIC_ACKNOWLEDGE), 24);
        assert_eq!(len(TRANSPORT_RC | op::COMPARE_SWAP), 40);
        assert_eq!(len(TRANSPORT_RC | op::SEND_ONLY_WITH_INVALIDATE), 16);
        assert_eq!(len(TRANSPORT_RC | op::FLUSH), 32);
        assert_eq!(len(TRANSPORT_RC | op::ATOMIC_WRITE), 28);
        assert_eq!(len(TRANSPORT_UD | op::SEND_ONLY), 20);
        assert_eq!(len(TRANSPORT_UD | op::SEND_ONLY_WITH_IMMEDIATE), 24);
    }

    #[test]
    fn header_order() {
        let i = OpInfo::lookup(TRANSPORT_RC | op::RDMA_WRITE_ONLY_WITH_IMMEDIATE).unwrap();
        assert_eq!(i.offset_of(RETH), Some(12));
        assert_eq!(i.offset_of(IMMDT), Some(28));
        let f = OpInfo::lookup(TRANSPORT_RC | op::FLUSH).unwrap();
        assert_eq!(f.offset_of(FETH), Some(12));
        assert_eq!(f.offset_of(RETH), Some(16));
        let u = OpInfo::lookup(TRANSPORT_UD | op::SEND_ONLY_WITH_IMMEDIATE).unwrap();
        assert_eq!(u.offset_of(DETH), Some(12));
        assert_eq!(u.offset_of(IMMDT), Some(20));
        assert_eq!(u.offset_of(RETH), None);
    }

    #[test]
    fn only_defined_opcodes_exist() {
        let known = (0..=255u8).filter(|&o| OpInfo::lookup(o).is_some()).count();
        // RC: 25 operations, RESUME and TOKEN; UC: 12, RESUME and TOKEN;
        // UD: 2, RESUME and TOKEN.
        assert_eq!(known, 27 + 14 + 4);
        assert!(OpInfo::lookup(TRANSPORT_RC | 0x15).is_none());
        assert!(OpInfo::lookup(TRANSPORT_UC | op::RDMA_READ_REQUEST).is_none());
        assert!(OpInfo::lookup(TRANSPORT_UD | op::SEND_FIRST).is_none());
        assert!(OpInfo::lookup(TRANSPORT_RD | op::SEND_ONLY).is_none());
    }

    #[test]
    fn requests_and_responses_are_disjoint() {
        for o in 0..=255u8 {
            if let Some(i) = OpInfo::lookup(o) {
                // Requests never carry an AETH; only RC has responses.
                assert!(!(i.has(REQ) && i.has(AETH)), "{o:#x}");
                assert!(i.has(REQ) || i.transport == Transport::Rc, "{o:#x}");
                assert!(!(i.has(REQ) && i.has(ACK)), "{o:#x}");
            }
        }
    }
}
