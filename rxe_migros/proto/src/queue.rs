// SPDX-License-Identifier: GPL-2.0

//! The geometry of the rings the driver shares with user space (librxe's
//! `struct rxe_queue_buf`): a header holding the element size and index mask
//! and, on cache lines of their own, the producer and consumer indices,
//! followed by a power-of-two number of power-of-two-sized slots.
//!
//! One slot always stays empty, so that a full ring and an empty one differ:
//! a ring made for `n` elements has `n + 1` slots rounded up to a power of
//! two, and holds one less than that. Indices wrap at the mask.
//!
//! This file only computes; the driver owns the memory and reads and writes
//! the indices with acquire and release ordering.

/// Bytes before the first slot: three 128-byte groups holding the sizes,
/// the producer index and the consumer index.
pub const HEADER_BYTES: usize = 384;
/// Offset of the producer index in the header.
pub const PRODUCER_OFFSET: usize = 128;
/// Offset of the consumer index in the header.
pub const CONSUMER_OFFSET: usize = 256;

/// Why a ring cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// More elements than the index type can count.
    TooLarge,
}

/// A ring's shape: how big its slots are and how its indices wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    log2_elem_size: u32,
    index_mask: u32,
}

impl Ring {
    /// The ring for at least `num_elem` elements of `elem_size` bytes, each
    /// slot padded to a power of two of at least `min_slot` bytes (a cache
    /// line).
    pub fn new(num_elem: u32, elem_size: usize, min_slot: usize) -> Result<Ring, RingError> {
        let slot = elem_size
            .max(min_slot)
            .checked_next_power_of_two()
            .ok_or(RingError::TooLarge)?;
        let slots = num_elem
            .checked_add(1)
            .and_then(u32::checked_next_power_of_two)
            .ok_or(RingError::TooLarge)?;
        Ok(Ring {
            log2_elem_size: slot.trailing_zeros(),
            index_mask: slots - 1,
        })
    }

    /// The values of the header's first two fields.
    pub fn header(&self) -> (u32, u32) {
        (self.log2_elem_size, self.index_mask)
    }

    /// How many elements it holds when full.
    pub fn capacity(&self) -> u32 {
        self.index_mask
    }

    /// The size of one slot.
    pub fn slot_bytes(&self) -> usize {
        1 << self.log2_elem_size
    }

    /// The size of the whole buffer, header included.
    pub fn bytes(&self) -> usize {
        HEADER_BYTES + (self.index_mask as usize + 1) * self.slot_bytes()
    }

    /// Where the slot of `index` starts in the buffer.
    pub fn offset(&self, index: u32) -> usize {
        HEADER_BYTES + ((index & self.index_mask) as usize) * self.slot_bytes()
    }

    /// The index after `index`.
    pub fn next(&self, index: u32) -> u32 {
        index.wrapping_add(1) & self.index_mask
    }

    /// How many elements lie between the consumer and the producer. Indices
    /// written by user space may be anything: the result is still in range.
    pub fn count(&self, producer: u32, consumer: u32) -> u32 {
        producer.wrapping_sub(consumer) & self.index_mask
    }

    /// Whether a producer at `producer` must wait.
    pub fn is_full(&self, producer: u32, consumer: u32) -> bool {
        self.count(producer.wrapping_add(1), consumer) == 0
    }

    /// Whether there is nothing to consume.
    pub fn is_empty(&self, producer: u32, consumer: u32) -> bool {
        self.count(producer, consumer) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn shapes_match_the_c_rxe() {
        // 16 elements of a 64-byte CQE: 17 slots round up to 32.
        let r = Ring::new(16, 64, 64).unwrap();
        assert_eq!(r.header(), (6, 31));
        assert_eq!(r.capacity(), 31);
        assert_eq!(r.bytes(), 384 + 32 * 64);
        // Small elements take a cache line; odd sizes round up.
        assert_eq!(Ring::new(1, 40, 64).unwrap().slot_bytes(), 64);
        assert_eq!(Ring::new(1, 200, 64).unwrap().slot_bytes(), 256);
        // Zero elements is allowed, if useless: one slot, never usable.
        assert_eq!(Ring::new(0, 64, 64).unwrap().capacity(), 0);
        assert_eq!(Ring::new(u32::MAX, 64, 64), Err(RingError::TooLarge));
    }

    #[test]
    fn the_header_offsets_are_librxes() {
        // log2_elem_size, index_mask, pad_1[30]; producer, pad_2[31];
        // consumer, pad_3[31].
        assert_eq!(PRODUCER_OFFSET, 4 * (2 + 30));
        assert_eq!(CONSUMER_OFFSET, PRODUCER_OFFSET + 4 * 32);
        assert_eq!(HEADER_BYTES, CONSUMER_OFFSET + 4 * 32);
    }

    #[test]
    fn a_model_queue_agrees() {
        // Random produce/consume against a plain counter.
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let r = Ring::new(rng.next_u32() % 40, 64, 64).unwrap();
            let (mut p, mut c, mut n) = (0u32, 0u32, 0u32);
            for _ in 0..500 {
                if rng.bool() {
                    if r.is_full(p, c) {
                        assert_eq!(n, r.capacity());
                    } else {
                        p = r.next(p);
                        n += 1;
                    }
                } else if r.is_empty(p, c) {
                    assert_eq!(n, 0);
                } else {
                    c = r.next(c);
                    n -= 1;
                }
                assert_eq!(r.count(p, c), n);
                assert!(r.offset(p) + r.slot_bytes() <= r.bytes());
            }
        }
    }

    #[test]
    fn hostile_indices_stay_in_bounds() {
        let r = Ring::new(100, 64, 64).unwrap();
        let mut rng = Rng::new(9);
        for _ in 0..10_000 {
            let (p, c) = (rng.next_u32(), rng.next_u32());
            assert!(r.count(p, c) <= r.capacity());
            assert!(r.offset(p) + r.slot_bytes() <= r.bytes());
        }
    }
}
