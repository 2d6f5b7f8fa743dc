// SPDX-License-Identifier: GPL-2.0

//! Packet sequence numbers (IBTA vol. 1, 9.7.1): 24 bits that wrap, compared
//! within a window of half the space.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, Sub};

/// Bits of a PSN on the wire.
pub const PSN_MASK: u32 = 0x00ff_ffff;

/// A 24-bit packet sequence number.
///
/// # Invariants
///
/// The value is always below 2^24.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Psn(u32);

impl Psn {
    /// Takes the low 24 bits of `v`.
    pub const fn new(v: u32) -> Self {
        // INVARIANT: masked to 24 bits.
        Psn(v & PSN_MASK)
    }

    /// The value as a `u32` below 2^24.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The signed distance from `other` to `self`: positive when `self` is
    /// later. Meaningful when the two are less than 2^23 apart.
    pub const fn diff(self, other: Psn) -> i32 {
        // Shift the 24-bit difference into the top of an i32 and back, so
        // that the sign of bit 23 extends.
        ((self.0.wrapping_sub(other.0) << 8) as i32) >> 8
    }

    /// The next PSN.
    pub const fn next(self) -> Psn {
        Psn::new(self.0.wrapping_add(1))
    }
}

impl Add<u32> for Psn {
    type Output = Psn;
    fn add(self, n: u32) -> Psn {
        Psn::new(self.0.wrapping_add(n))
    }
}

impl Sub<u32> for Psn {
    type Output = Psn;
    fn sub(self, n: u32) -> Psn {
        Psn::new(self.0.wrapping_sub(n))
    }
}

/// Order within the window: `a < b` when `b` is ahead of `a` by less than 2^23.
impl PartialOrd for Psn {
    fn partial_cmp(&self, other: &Psn) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl fmt::Debug for Psn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psn({:#08x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn wraps_at_24_bits() {
        assert_eq!(Psn::new(0xff_ffff).next(), Psn::new(0));
        assert_eq!(Psn::new(0x1ff_ffff).get(), 0xff_ffff);
        assert_eq!(Psn::new(2) - 3, Psn::new(0xff_ffff));
    }

    #[test]
    fn orders_across_the_wrap() {
        assert!(Psn::new(0xff_fffe) < Psn::new(1));
        assert_eq!(Psn::new(1).diff(Psn::new(0xff_fffe)), 3);
        assert_eq!(Psn::new(0xff_fffe).diff(Psn::new(1)), -3);
        assert_eq!(Psn::new(0x80_0000).diff(Psn::new(0)), -0x80_0000);
    }

    #[test]
    fn diff_inverts_add() {
        let mut rng = Rng::new(7);
        for _ in 0..100_000 {
            let a = Psn::new(rng.next_u32());
            let n = rng.next_u32() % 0x80_0000;
            let b = a + n;
            assert_eq!(b.diff(a), n as i32);
            assert_eq!(a.diff(b), -(n as i32));
            assert_eq!(b - n, a);
            assert_eq!(
                a.partial_cmp(&b),
                Some(if n == 0 {
                    Ordering::Equal
                } else {
                    Ordering::Less
                })
            );
        }
    }
}
