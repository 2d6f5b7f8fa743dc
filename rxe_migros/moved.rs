// SPDX-License-Identifier: GPL-2.0

//! The UD moves a device has heard of: the core's table
//! ([`crate::proto::moves::Table`]) under a lock. It is filled in the
//! receive path (softirq) and read by the UD requester, so a spinlock with
//! interrupts off guards it.

use crate::proto::mig::UdMove;
use crate::proto::moves::{Refused, Table};
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::SpinLockIrq;

/// The moves a device has heard of.
#[pin_data]
pub(crate) struct Moves {
    #[pin]
    table: SpinLockIrq<Table>,
    /// Whether the table has ever had an entry: a device that never
    /// heard of a move sends its datagrams without taking the lock.
    any: Atomic<u32>,
    /// The last address [`Moves::heard`] took, folded to 64 bits (only a
    /// shortcut: a collision at worst leaves a peer unrecorded once).
    last_heard: Atomic<u64>,
}

/// A GID folded to 64 bits.
fn fold(gid: &[u8; 16]) -> u64 {
    let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
    a.copy_from_slice(&gid[..8]);
    b.copy_from_slice(&gid[8..]);
    u64::from_ne_bytes(a) ^ u64::from_ne_bytes(b).rotate_left(1)
}

impl Moves {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Moves {
            table <- new_spinlock_irq!(Table::new()),
            any: Atomic::new(0),
            last_heard: Atomic::new(0),
        })
    }

    /// Takes the news that UD QP `m.qpn` moved from `m.old` to `m.new`.
    pub(crate) fn learn(&self, m: &UdMove) -> core::result::Result<(), Refused> {
        self.table.lock().learn(m)?;
        self.any.store(1, Relaxed);
        Ok(())
    }

    /// A UD datagram with the protocol's mark came from `gid` (see
    /// [`Table::heard`]). Called per such datagram: a run from one peer,
    /// the common case, takes no lock after its first.
    pub(crate) fn heard(&self, gid: &[u8; 16]) {
        let key = fold(gid);
        if self.last_heard.load(Relaxed) == key {
            return;
        }
        self.table.lock().heard(gid);
        self.last_heard.store(key, Relaxed);
    }

    /// Whether `gid` sent a UD datagram with the protocol's mark lately.
    pub(crate) fn speaks(&self, gid: &[u8; 16]) -> bool {
        self.table.lock().speaks(gid)
    }

    /// Where UD QP `qpn`, which was at `gid`, is now, if it moved.
    pub(crate) fn lookup(&self, gid: &[u8; 16], qpn: u32) -> Option<[u8; 16]> {
        if self.any.load(Relaxed) == 0 {
            return None;
        }
        self.table.lock().lookup(gid, qpn)
    }
}
