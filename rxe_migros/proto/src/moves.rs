// SPDX-License-Identifier: GPL-2.0

//! UD QPs that moved (docs/migration.md, "UD QPs"). A UD QP has no partner
//! to tell of its new address: each of its peers names it by GID and QPN in
//! its own address handles and work requests. So a UD QP restored at a new
//! address announces the move to the device of every address its context's
//! AHs name ([`announcements`]), and a device that hears one
//! ([`accept`]) keeps it in a small table ([`Table`]): its UD requester
//! sends what is addressed to the old GID and that QPN to the new GID
//! instead.
//!
//! These are the device's, not a QP's: the kernel keeps one table per
//! device under a spinlock (`rxe_migros/moved.rs`), the simulation one per
//! simulated host.

use super::engine::{is_v4_mapped, Av, NewSource, Path, GSI_QKEY, PKEY};
use super::hdr::{Bth, Deth, Extensions};
use super::mig::{UdMove, UD_MOVE_QPN};
use super::opcode::{op, TRANSPORT_UD};
use super::roce::Datagram;

/// The Q_Key of UD announcements (the general services QP's).
pub const UD_MOVE_QKEY: u32 = GSI_QKEY;

/// Moves a device remembers.
pub const ENTRIES: usize = 64;

/// Why an announcement was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
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

/// What an announcement says, if `d` (for QPN 1, with the RESUME opcode)
/// is one: a moved QP announces itself from its new address.
pub fn accept(d: &Datagram<'_>) -> Result<UdMove, Refused> {
    match (d.packet.bth.dest_qpn, d.packet.deth()) {
        (UD_MOVE_QPN, Some(deth)) if deth.qkey == UD_MOVE_QKEY => UdMove::parse(d.packet.payload())
            .ok()
            .filter(|m| m.qpn == deth.src_qpn && m.new == d.src)
            .ok_or(Refused::Malformed),
        _ => Err(Refused::Malformed),
    }
}

/// Where a restored UD QP was known: the destination of one of its
/// context's AHs, and the source GID the AH had there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub av: Av,
    pub old: [u8; 16],
}

/// One announcement to send: along `path`, with `bth` and `ext`, and the
/// payload.
pub struct Announcement {
    pub path: Path,
    pub bth: Bth,
    pub ext: Extensions,
    pub payload: [u8; UdMove::LEN],
}

/// The announcements that UD QP `qpn`, restored at `src`, sends: one to
/// each peer device in `known`, from the old GID it knows the QP by, none
/// twice, none of another IP family, none where the address did not
/// change.
pub fn announcements(
    qpn: u32,
    src: NewSource,
    known: &[Known],
) -> impl Iterator<Item = Announcement> + '_ {
    known.iter().enumerate().filter_map(move |(i, k)| {
        let seen = known[..i]
            .iter()
            .any(|e| e.av.dgid == k.av.dgid && e.old == k.old);
        if seen || k.old == src.gid || is_v4_mapped(&src.gid) == k.av.ipv6 {
            return None;
        }
        let mut av = k.av;
        av.sgid = src.gid;
        av.sgid_index = src.index;
        Some(Announcement {
            path: Path {
                av,
                src_port: super::engine::src_port(qpn),
            },
            bth: Bth {
                opcode: op::RESUME | TRANSPORT_UD,
                pkey: PKEY,
                dest_qpn: UD_MOVE_QPN,
                ..Bth::default()
            },
            ext: Extensions {
                deth: Some(Deth {
                    qkey: UD_MOVE_QKEY,
                    src_qpn: qpn,
                }),
                ..Extensions::default()
            },
            payload: UdMove {
                qpn,
                old: k.old,
                new: src.gid,
            }
            .emit(),
        })
    })
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    qpn: u32,
    old: [u8; 16],
    new: [u8; 16],
}

/// The moves a device has heard of: a fixed number of entries; a full
/// table forgets its oldest move.
pub struct Table {
    entries: [Option<Entry>; ENTRIES],
    /// The entry a full table overwrites next.
    next: usize,
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    pub const fn new() -> Table {
        Table {
            entries: [None; ENTRIES],
            next: 0,
        }
    }

    /// Takes the news that UD QP `m.qpn` moved from `m.old` to `m.new`.
    pub fn learn(&mut self, m: &UdMove) -> Result<(), Refused> {
        if m.qpn <= 1 {
            return Err(Refused::Reserved);
        }
        if is_v4_mapped(&m.old) != is_v4_mapped(&m.new) {
            return Err(Refused::OtherFamily);
        }
        for slot in self.entries.iter_mut() {
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
        let free = self.entries.iter().position(Option::is_none);
        let at = free.unwrap_or(self.next);
        self.entries[at] = Some(Entry {
            qpn: m.qpn,
            old: m.old,
            new: m.new,
        });
        if free.is_none() {
            self.next = (self.next + 1) % ENTRIES;
        }
        Ok(())
    }

    /// Where UD QP `qpn`, which was at `gid`, is now, if it moved.
    pub fn lookup(&self, gid: &[u8; 16], qpn: u32) -> Option<[u8; 16]> {
        self.entries
            .iter()
            .flatten()
            .find(|e| e.qpn == qpn && e.old == *gid)
            .map(|e| e.new)
    }
}
