// SPDX-License-Identifier: GPL-2.0

//! UD peers that moved (docs/migration.md, "UD QPs"). A UD QP has no
//! partner to tell of its new address: each of its peers names it by GID
//! and QPN in its own address handles and work requests. So a UD QP
//! restored at a new address announces the move to the device of every
//! address its context's AHs name ([`crate::migration`]), and that device
//! keeps the move here, in a small table: its UD requester sends what is
//! addressed to the old GID and that QPN to the new GID instead.
//!
//! The table is filled in the receive path (softirq) and read by the
//! requester, so a spinlock with interrupts off guards it; it has a fixed
//! number of entries, and a full table forgets its oldest move.

use crate::migration::is_v4_mapped;
use crate::proto::mig::UdMove;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::SpinLockIrq;

/// Moves a device remembers.
const ENTRIES: usize = 64;

#[derive(Clone, Copy)]
struct Entry {
    qpn: u32,
    old: [u8; 16],
    new: [u8; 16],
}

struct Table {
    entries: [Option<Entry>; ENTRIES],
    /// The entry a full table overwrites next.
    next: usize,
}

/// The moves a device has heard of.
#[pin_data]
pub(crate) struct Moves {
    #[pin]
    table: SpinLockIrq<Table>,
    /// Whether the table has ever had an entry: a device that never
    /// heard of a move sends its datagrams without taking the lock.
    any: Atomic<u32>,
}

/// Why an announcement was not taken.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Not to QPN 1, without a DETH naming the QP and the announcements'
    /// Q_Key, not sent from the new address it announces, or a payload of
    /// another size, version or reserved bits.
    Malformed,
    /// The old and the new address are of different IP families: the
    /// peers' address handles could not follow.
    OtherFamily,
    /// QP 0 or QP 1: the subnet management and general services QPs (the
    /// MAD layer's, which rdma_cm talks through) are never rerouted.
    Reserved,
}

impl Moves {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Moves {
            table <- new_spinlock_irq!(Table {
                entries: [None; ENTRIES],
                next: 0,
            }),
            any: Atomic::new(0),
        })
    }

    /// Takes the news that UD QP `m.qpn` moved from `m.old` to `m.new`.
    pub(crate) fn learn(&self, m: &UdMove) -> core::result::Result<(), Refused> {
        if m.qpn <= 1 {
            return Err(Refused::Reserved);
        }
        if is_v4_mapped(&m.old) != is_v4_mapped(&m.new) {
            return Err(Refused::OtherFamily);
        }
        let mut t = self.table.lock();
        for slot in t.entries.iter_mut() {
            let Some(e) = slot else { continue };
            if e.qpn != m.qpn {
                continue;
            }
            if e.old == m.new || e.old == m.old {
                // Back where it once was, or moved on again from there.
                *slot = None;
            } else if e.new == m.old {
                // Sent to via an address it left: follow it.
                e.new = m.new;
            }
        }
        if m.old == m.new {
            return Ok(());
        }
        let free = t.entries.iter().position(Option::is_none);
        let at = free.unwrap_or(t.next);
        t.entries[at] = Some(Entry {
            qpn: m.qpn,
            old: m.old,
            new: m.new,
        });
        if free.is_none() {
            t.next = (t.next + 1) % ENTRIES;
        }
        self.any.store(1, Relaxed);
        Ok(())
    }

    /// Where UD QP `qpn`, which was at `gid`, is now, if it moved.
    pub(crate) fn lookup(&self, gid: &[u8; 16], qpn: u32) -> Option<[u8; 16]> {
        if self.any.load(Relaxed) == 0 {
            return None;
        }
        let t = self.table.lock();
        t.entries
            .iter()
            .flatten()
            .find(|e| e.qpn == qpn && e.old == *gid)
            .map(|e| e.new)
    }
}
