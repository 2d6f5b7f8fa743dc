// SPDX-License-Identifier: GPL-2.0

//! Parse errors of the core.

/// Why a packet could not be parsed. Each variant is one counter in the driver.
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
}
