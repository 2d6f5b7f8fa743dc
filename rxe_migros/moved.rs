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
}

impl Moves {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Moves {
            table <- new_spinlock_irq!(Table::new()),
            any: Atomic::new(0),
        })
    }

    /// Takes the news that UD QP `m.qpn` moved from `m.old` to `m.new`.
    pub(crate) fn learn(&self, m: &UdMove) -> core::result::Result<(), Refused> {
        self.table.lock().learn(m)?;
        self.any.store(1, Relaxed);
        Ok(())
    }

    /// A UD datagram with the protocol's mark came from `gid` (see
    /// [`Table::heard`]).
    pub(crate) fn heard(&self, gid: &[u8; 16]) {
        self.table.lock().heard(gid);
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
