// SPDX-License-Identifier: GPL-2.0

//! Parse errors of the core.

/// Why a received packet is dropped before it reaches a QP. The driver
/// counts a bad ICRC apart from the rest, which are malformed packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The buffer ends before the headers its opcode calls for.
    Truncated,
    /// An opcode this transport does not define.
    UnknownOpcode(u8),
    /// A BTH transport header version other than 0.
    BadVersion(u8),
    /// The pad count and the length disagree.
    BadPad,
    /// Not a bare IPv4 or IPv6 header followed by UDP.
    BadIpHeader,
    /// The UDP length disagrees with the packet's.
    BadLength,
    /// The invariant CRC does not match.
    BadIcrc,
}
