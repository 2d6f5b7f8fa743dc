// SPDX-License-Identifier: GPL-2.0

//! Sequence checks of the reliable transport (IBTA vol. 1, 9.7.4.1 and
//! 9.9.2): where a request's PSN stands for the responder, and what an ACK's
//! PSN acknowledges for the requester. The requester, completer and
//! responder engines build on these.

use super::psn::Psn;

/// A request PSN as the responder sees it, against the PSN it expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestPsn {
    /// The next request: carry it out.
    Expected,
    /// Already received (a retry whose ACK was lost): acknowledge again,
    /// or replay a READ or atomic response, but do not carry it out twice.
    Duplicate,
    /// Ahead of the expected PSN: a packet went missing. NAK with a PSN
    /// sequence error, once per gap, and drop it.
    OutOfSequence,
}

/// Classifies request `psn` against the expected PSN `epsn`. The 2^23 PSNs
/// before `epsn` count as duplicates, the rest as ahead.
pub fn check_request_psn(epsn: Psn, psn: Psn) -> RequestPsn {
    match psn.diff(epsn) {
        0 => RequestPsn::Expected,
        d if d < 0 => RequestPsn::Duplicate,
        _ => RequestPsn::OutOfSequence,
    }
}

/// What a response's PSN means to the requester, whose unacknowledged
/// requests run from `oldest` up to, not including, `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckPsn {
    /// Acknowledges this many packets, from `oldest` on (coalesced ACKs
    /// acknowledge several at once).
    Acks(u32),
    /// For a PSN already acknowledged: a duplicate response, ignored.
    Stale,
    /// For a PSN not yet sent: a confused or malicious peer, ignored.
    Unsent,
}

/// Classifies a response PSN (IBTA 9.9.2.1: an ACK for PSN n acknowledges
/// every request up to n).
pub fn check_ack_psn(oldest: Psn, next: Psn, ack: Psn) -> AckPsn {
    let outstanding = next.diff(oldest);
    let ahead = ack.diff(oldest);
    if ahead < 0 {
        AckPsn::Stale
    } else if ahead >= outstanding {
        AckPsn::Unsent
    } else {
        AckPsn::Acks(ahead as u32 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn request_psns() {
        let e = Psn::new(5);
        assert_eq!(check_request_psn(e, Psn::new(5)), RequestPsn::Expected);
        assert_eq!(check_request_psn(e, Psn::new(4)), RequestPsn::Duplicate);
        assert_eq!(check_request_psn(e, Psn::new(6)), RequestPsn::OutOfSequence);
        // Across the wrap.
        let e = Psn::new(1);
        assert_eq!(
            check_request_psn(e, Psn::new(0xff_ffff)),
            RequestPsn::Duplicate
        );
        assert_eq!(
            check_request_psn(Psn::new(0xff_ffff), e),
            RequestPsn::OutOfSequence
        );
    }

    #[test]
    fn ack_psns() {
        let (oldest, next) = (Psn::new(10), Psn::new(14));
        assert_eq!(check_ack_psn(oldest, next, Psn::new(10)), AckPsn::Acks(1));
        assert_eq!(check_ack_psn(oldest, next, Psn::new(13)), AckPsn::Acks(4));
        assert_eq!(check_ack_psn(oldest, next, Psn::new(14)), AckPsn::Unsent);
        assert_eq!(check_ack_psn(oldest, next, Psn::new(9)), AckPsn::Stale);
        // Nothing outstanding: every PSN is stale or unsent.
        assert_eq!(check_ack_psn(next, next, Psn::new(14)), AckPsn::Unsent);
        assert_eq!(check_ack_psn(next, next, Psn::new(13)), AckPsn::Stale);
    }

    /// Against a window anywhere in the PSN space, including across the
    /// wrap, an ACK acknowledges exactly the packets up to its PSN.
    #[test]
    fn acks_count_the_window() {
        let mut rng = Rng::new(11);
        for _ in 0..100_000 {
            let oldest = Psn::new(rng.next_u32());
            let n = rng.next_u32() % 1024;
            let next = oldest + n;
            let k = rng.next_u32() % 2048;
            let ack = oldest + k;
            match check_ack_psn(oldest, next, ack) {
                AckPsn::Acks(c) => assert!(k < n && c == k + 1),
                AckPsn::Unsent => assert!(k >= n),
                AckPsn::Stale => unreachable!("{oldest:?} {next:?} {ack:?}"),
            }
            let back = rng.next_u32() % 1024 + 1;
            assert_eq!(check_ack_psn(oldest, next, oldest - back), AckPsn::Stale);
        }
    }

    /// The responder's classes partition the space around the expected PSN.
    #[test]
    fn request_classes_partition() {
        let mut rng = Rng::new(12);
        for _ in 0..100_000 {
            let e = Psn::new(rng.next_u32());
            let d = rng.next_u32() % 0x80_0000;
            if d > 0 {
                assert_eq!(check_request_psn(e, e - d), RequestPsn::Duplicate);
                assert_eq!(check_request_psn(e, e + d), RequestPsn::OutOfSequence);
            }
        }
    }
}
