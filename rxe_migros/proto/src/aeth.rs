// SPDX-License-Identifier: GPL-2.0

//! The AETH syndrome (IBTA vol. 1, 9.3.5, tables 43 to 45): what an ACK
//! says: a plain ACK with its credit count, a receiver-not-ready NAK with
//! the time to wait, or a NAK with its reason.

/// A decoded AETH syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syndrome {
    /// Acknowledged; the 5-bit credit count (31: invalid, as rxe sends).
    Ack { credits: u8 },
    /// Receiver not ready: retry after the time of this 5-bit timer code.
    RnrNak { timer: u8 },
    /// Negative acknowledgement.
    Nak(NakCode),
    /// A syndrome no IBTA revision defines.
    Reserved(u8),
}

/// NAK codes (table 44).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NakCode {
    /// A request arrived ahead of the expected PSN: resend from there.
    PsnSequenceError,
    /// The request was malformed or unsupported.
    InvalidRequest,
    /// R_Key or bounds violation.
    RemoteAccessError,
    /// The responder could not carry out the request.
    RemoteOperationalError,
    /// Reliable datagram only.
    InvalidRdRequest,
    /// The responder's QP is stopped for migration: pause until it
    /// announces itself with a RESUME (code 5, IBTA-reserved; the MigrOS
    /// value, docs/migration.md).
    Paused,
    /// Any other code of the NAK class, kept as is.
    Other(u8),
}

const CLASS_ACK: u8 = 0b000 << 5;
const CLASS_RNR_NAK: u8 = 0b001 << 5;
const CLASS_NAK: u8 = 0b011 << 5;
const CLASS_MASK: u8 = 0b111 << 5;
const VALUE_MASK: u8 = 0x1f;

impl Syndrome {
    /// Decodes the syndrome byte of an AETH.
    pub const fn from_byte(b: u8) -> Syndrome {
        let v = b & VALUE_MASK;
        match b & CLASS_MASK {
            CLASS_ACK => Syndrome::Ack { credits: v },
            CLASS_RNR_NAK => Syndrome::RnrNak { timer: v },
            CLASS_NAK => Syndrome::Nak(match v {
                0 => NakCode::PsnSequenceError,
                1 => NakCode::InvalidRequest,
                2 => NakCode::RemoteAccessError,
                3 => NakCode::RemoteOperationalError,
                4 => NakCode::InvalidRdRequest,
                5 => NakCode::Paused,
                _ => NakCode::Other(v),
            }),
            _ => Syndrome::Reserved(b),
        }
    }

    /// Encodes it as the syndrome byte of an AETH.
    pub const fn to_byte(self) -> u8 {
        match self {
            Syndrome::Ack { credits } => CLASS_ACK | (credits & VALUE_MASK),
            Syndrome::RnrNak { timer } => CLASS_RNR_NAK | (timer & VALUE_MASK),
            Syndrome::Nak(code) => {
                CLASS_NAK
                    | match code {
                        NakCode::PsnSequenceError => 0,
                        NakCode::InvalidRequest => 1,
                        NakCode::RemoteAccessError => 2,
                        NakCode::RemoteOperationalError => 3,
                        NakCode::InvalidRdRequest => 4,
                        NakCode::Paused => 5,
                        NakCode::Other(v) => v & VALUE_MASK,
                    }
            }
            Syndrome::Reserved(b) => b,
        }
    }
}

/// The RNR NAK timer (table 45), in microseconds, for each 5-bit code.
/// Code 0 is the longest wait, 655.36 ms.
const RNR_TIMER_US: [u32; 32] = [
    655_360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1_280, 1_920, 2_560, 3_840,
    5_120, 7_680, 10_240, 15_360, 20_480, 30_720, 40_960, 61_440, 81_920, 122_880, 163_840,
    245_760, 327_680, 491_520,
];

/// How long an RNR NAK with timer code `code` asks the requester to wait.
pub const fn rnr_timeout_us(code: u8) -> u32 {
    RNR_TIMER_US[(code & VALUE_MASK) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(Syndrome::from_byte(b).to_byte(), b, "{b:#x}");
        }
    }

    #[test]
    fn known_syndromes() {
        // rxe ACKs with an invalid credit count, 0x1f.
        assert_eq!(Syndrome::from_byte(0x1f), Syndrome::Ack { credits: 31 });
        assert_eq!(
            Syndrome::from_byte(0x60),
            Syndrome::Nak(NakCode::PsnSequenceError)
        );
        assert_eq!(
            Syndrome::from_byte(0x61),
            Syndrome::Nak(NakCode::InvalidRequest)
        );
        assert_eq!(
            Syndrome::from_byte(0x62),
            Syndrome::Nak(NakCode::RemoteAccessError)
        );
        assert_eq!(
            Syndrome::from_byte(0x63),
            Syndrome::Nak(NakCode::RemoteOperationalError)
        );
        assert_eq!(Syndrome::from_byte(0x65), Syndrome::Nak(NakCode::Paused));
        assert_eq!(Syndrome::from_byte(0x2e), Syndrome::RnrNak { timer: 14 });
        assert_eq!(Syndrome::from_byte(0x40), Syndrome::Reserved(0x40));
    }

    #[test]
    fn rnr_timer_is_monotonic_after_code_zero() {
        assert_eq!(rnr_timeout_us(0), 655_360);
        assert_eq!(rnr_timeout_us(14), 1_280);
        for c in 2..32u8 {
            assert!(rnr_timeout_us(c) > rnr_timeout_us(c - 1));
        }
        assert!(rnr_timeout_us(0) > rnr_timeout_us(31));
    }
}
