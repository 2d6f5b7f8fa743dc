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
//! An announcement changes where a device sends, so it must prove that it
//! comes from the QP that moved. Before it stops, the QP asks each peer
//! device for a token ([`token_request`]); the device answers at the QP's
//! address of the moment ([`grant`]), which an off-path host cannot read,
//! with a token it computes rather than stores ([`Verifier`]), and checks
//! the token the announcement carries against it ([`accept`]). Forged
//! announcements therefore never enter the table, and cannot flush it.
//!
//! These are the device's, not a QP's: the kernel keeps one table per
//! device under a spinlock (`rxe_migros/moved.rs`), the simulation one per
//! simulated host.

use super::engine::{is_v4_mapped, Av, NewSource, Path, GSI_QKEY, PKEY};
use super::hdr::{Bth, Deth, Extensions};
use super::mig::{Token, TokenKind, UdMove, UD_MOVE_QPN};
use super::opcode::{op, TRANSPORT_UD};
use super::roce::Datagram;

/// The Q_Key of UD announcements (the general services QP's).
pub const UD_MOVE_QKEY: u32 = GSI_QKEY;

/// Moves a device remembers.
pub const ENTRIES: usize = 64;

/// Peer addresses a device remembers as speaking the protocol.
pub const SPEAKERS: usize = 32;

/// A device's tokens are good for the epoch they were computed in and the
/// next: between 10 and 20 minutes from the request to the announcement.
pub const EPOCH_S: u64 = 600;

/// A device's UD tokens: a keyed hash (SipHash-2-4) of the QP's address
/// and number and the epoch, under a secret the device drew at creation.
/// Nothing is stored per request, so requests cannot fill anything.
pub struct Verifier {
    key: [u8; 16],
}

impl Verifier {
    /// A verifier with secret `key` (random, from the kernel's RNG).
    pub const fn new(key: [u8; 16]) -> Verifier {
        Verifier { key }
    }

    fn token_in(&self, gid: &[u8; 16], qpn: u32, epoch: u64) -> u64 {
        let mut m = [0u8; 28];
        m[..16].copy_from_slice(gid);
        m[16..20].copy_from_slice(&qpn.to_be_bytes());
        m[20..].copy_from_slice(&epoch.to_le_bytes());
        super::siphash::siphash(&self.key, &m).max(1)
    }

    /// The token of UD QP `qpn` at `gid`, at `now_s` seconds.
    pub fn token(&self, gid: &[u8; 16], qpn: u32, now_s: u64) -> u64 {
        self.token_in(gid, qpn, now_s / EPOCH_S)
    }

    /// Whether `token` is UD QP `qpn` at `gid`'s, of this epoch or the
    /// last.
    pub fn check(&self, gid: &[u8; 16], qpn: u32, token: u64, now_s: u64) -> bool {
        let e = now_s / EPOCH_S;
        token == self.token_in(gid, qpn, e) || (e > 0 && token == self.token_in(gid, qpn, e - 1))
    }
}

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
    /// Without the token this device granted the QP at its old address:
    /// forged.
    BadToken,
}

/// What an announcement says, if `d` (for QPN 1, with the RESUME opcode)
/// is one: a moved QP announces itself from its new address, with the
/// token `v` granted it at the old one.
pub fn accept(d: &Datagram<'_>, v: &Verifier, now_s: u64) -> Result<UdMove, Refused> {
    let m = match (d.packet.bth.dest_qpn, d.packet.deth()) {
        (UD_MOVE_QPN, Some(deth)) if deth.qkey == UD_MOVE_QKEY => UdMove::parse(d.packet.payload())
            .ok()
            .filter(|m| m.qpn == deth.src_qpn && m.new == d.src)
            .ok_or(Refused::Malformed)?,
        _ => return Err(Refused::Malformed),
    };
    if m.qpn <= 1 {
        return Err(Refused::Reserved);
    }
    if !v.check(&m.old, m.qpn, m.token, now_s) {
        return Err(Refused::BadToken);
    }
    Ok(m)
}

/// The answer of a device with verifier `v` to `d`, if it is a UD token
/// request (to QPN 1, with a DETH naming the asking QP and the
/// announcements' Q_Key): the grant, sent to the QP it names at the
/// address it came from, whoever sent it. The caller sends it from the
/// GID `d` came to (whose index it fills in).
pub fn grant(
    d: &Datagram<'_>,
    v: &Verifier,
    now_s: u64,
) -> Result<Control<{ Token::LEN }>, Refused> {
    let (UD_MOVE_QPN, Some(deth)) = (d.packet.bth.dest_qpn, d.packet.deth()) else {
        return Err(Refused::Malformed);
    };
    let t = Token::parse(d.packet.payload()).map_err(|_| Refused::Malformed)?;
    if deth.qkey != UD_MOVE_QKEY || t.kind != TokenKind::Request || t.qpn != deth.src_qpn {
        return Err(Refused::Malformed);
    }
    if t.qpn <= 1 {
        return Err(Refused::Reserved);
    }
    let av = Av {
        dgid: d.src,
        sgid: d.dst,
        ipv6: !is_v4_mapped(&d.src),
        hop_limit: 64,
        ..Av::default()
    };
    let grant = Token {
        kind: TokenKind::Grant,
        qpn: UD_MOVE_QPN,
        nonce: t.nonce,
        token: v.token(&d.src, t.qpn, now_s),
    };
    Ok(Control::new(
        av,
        op::TOKEN,
        t.qpn,
        UD_MOVE_QPN,
        grant.emit(),
    ))
}

/// The token request UD QP `qpn` sends to the device of a peer it
/// reaches along `av`, with `nonce`.
pub fn token_request(qpn: u32, av: Av, nonce: u64) -> Control<{ Token::LEN }> {
    let request = Token {
        kind: TokenKind::Request,
        qpn,
        nonce,
        token: 0,
    };
    Control::new(av, op::TOKEN, UD_MOVE_QPN, qpn, request.emit())
}

/// Where a restored UD QP was known: the destination of one of its
/// context's AHs, the source GID the AH had there, and the token the
/// destination's device granted the QP (0 if none came).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub av: Av,
    pub old: [u8; 16],
    pub token: u64,
}

/// One packet to send for the device: along `path`, with `bth` and
/// `ext`, and the payload.
pub struct Control<const N: usize> {
    pub path: Path,
    pub bth: Bth,
    pub ext: Extensions,
    pub payload: [u8; N],
}

impl<const N: usize> Control<N> {
    /// A UD packet of operation `operation` along `av`, to `dest_qpn`,
    /// with the announcements' Q_Key and `src_qpn` in its DETH.
    fn new(av: Av, operation: u8, dest_qpn: u32, src_qpn: u32, payload: [u8; N]) -> Self {
        Control {
            path: Path {
                av,
                src_port: super::engine::src_port(src_qpn),
            },
            bth: Bth {
                opcode: operation | TRANSPORT_UD,
                pkey: PKEY,
                dest_qpn,
                ..Bth::default()
            },
            ext: Extensions {
                deth: Some(Deth {
                    qkey: UD_MOVE_QKEY,
                    src_qpn,
                }),
                ..Extensions::default()
            },
            payload,
        }
    }
}

/// A UD announcement to send.
pub type Announcement = Control<{ UdMove::LEN }>;

/// The announcements that UD QP `qpn`, restored at `src`, sends: one to
/// each peer device in `known` that granted it a token (and so speaks the
/// protocol), from the old GID it knows the QP by, none twice, none of
/// another IP family, none where the address did not change.
pub fn announcements(
    qpn: u32,
    src: NewSource,
    known: &[Known],
) -> impl Iterator<Item = Announcement> + '_ {
    known.iter().enumerate().filter_map(move |(i, k)| {
        let seen = known[..i]
            .iter()
            .any(|e| e.av.dgid == k.av.dgid && e.old == k.old);
        let mute = k.token == 0;
        if seen || mute || k.old == src.gid || is_v4_mapped(&src.gid) == k.av.ipv6 {
            return None;
        }
        let mut av = k.av;
        av.sgid = src.gid;
        av.sgid_index = src.index;
        let news = UdMove {
            qpn,
            old: k.old,
            new: src.gid,
            token: k.token,
        };
        Some(Control::new(av, op::RESUME, UD_MOVE_QPN, qpn, news.emit()))
    })
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    qpn: u32,
    old: [u8; 16],
    new: [u8; 16],
}

/// The moves a device has heard of: a fixed number of entries; a full
/// table forgets its oldest move. Also the peer addresses that sent the
/// device a UD datagram with the protocol's mark
/// ([`Bth::proto`](super::hdr::Bth::proto)), the last [`SPEAKERS`]: a UD
/// QP asks only those for tokens, so a C rxe peer never sees a request.
pub struct Table {
    entries: [Option<Entry>; ENTRIES],
    /// The entry a full table overwrites next.
    next: usize,
    speakers: [Option<[u8; 16]>; SPEAKERS],
    next_speaker: usize,
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
            speakers: [None; SPEAKERS],
            next_speaker: 0,
        }
    }

    /// A UD datagram with the protocol's mark came from `gid`.
    pub fn heard(&mut self, gid: &[u8; 16]) {
        if !self.speaks(gid) {
            self.speakers[self.next_speaker] = Some(*gid);
            self.next_speaker = (self.next_speaker + 1) % SPEAKERS;
        }
    }

    /// Whether `gid` sent a UD datagram with the protocol's mark lately.
    pub fn speaks(&self, gid: &[u8; 16]) -> bool {
        self.speakers.iter().flatten().any(|g| g == gid)
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::roce::ipv4_mapped;
    use std::vec::Vec;

    /// The bytes of `c`, sealed as they go on the wire.
    fn wire<const N: usize>(c: &Control<N>) -> Vec<u8> {
        let len = c.path.packet_len(c.bth.opcode, N).unwrap();
        let mut buf = std::vec![0u8; len];
        c.path
            .write_packet::<()>(c.bth, &c.ext, N, &mut buf, |b| {
                b.copy_from_slice(&c.payload);
                Ok(())
            })
            .unwrap();
        buf
    }

    fn av(from: [u8; 16], to: [u8; 16]) -> Av {
        Av {
            sgid: from,
            dgid: to,
            hop_limit: 64,
            ..Av::default()
        }
    }

    #[test]
    fn a_granted_token_lets_the_move_in_and_nothing_else() {
        let (qp_old, qp_new, peer) = (
            ipv4_mapped([10, 0, 0, 2]),
            ipv4_mapped([10, 0, 1, 3]),
            ipv4_mapped([10, 0, 0, 1]),
        );
        let v = Verifier::new([7; 16]);
        // The QP asks the peer's device; the grant goes back to where it is.
        let req = wire(&token_request(0x11, av(qp_old, peer), 99));
        let g = grant(&Datagram::parse(&req).unwrap(), &v, 1000).unwrap();
        assert_eq!((g.path.av.dgid, g.bth.dest_qpn), (qp_old, 0x11));
        let t = Token::parse(&g.payload).unwrap();
        assert_eq!((t.kind, t.nonce), (TokenKind::Grant, 99));
        // Its announcement from the new address, with the token, is taken.
        let src = NewSource {
            gid: qp_new,
            index: 0,
        };
        let known = |token| Known {
            av: av(qp_old, peer),
            old: qp_old,
            token,
        };
        let a: Vec<_> = announcements(0x11, src, &[known(t.token)]).collect();
        let m = accept(&Datagram::parse(&wire(&a[0])).unwrap(), &v, 1000).unwrap();
        assert_eq!((m.qpn, m.old, m.new), (0x11, qp_old, qp_new));
        // In the next epoch too, not in the one after.
        assert!(v.check(&qp_old, 0x11, t.token, 1000 + EPOCH_S));
        assert!(!v.check(&qp_old, 0x11, t.token, 1000 + 2 * EPOCH_S));
        // A guessed token, or another device's, is refused.
        let a: Vec<_> = announcements(0x11, src, &[known(t.token ^ 1)]).collect();
        let bad = accept(&Datagram::parse(&wire(&a[0])).unwrap(), &v, 1000);
        assert_eq!(bad, Err(Refused::BadToken));
        let other = Verifier::new([8; 16]);
        let a: Vec<_> = announcements(0x11, src, &[known(t.token)]).collect();
        let bad = accept(&Datagram::parse(&wire(&a[0])).unwrap(), &other, 1000);
        assert_eq!(bad, Err(Refused::BadToken));
        // A peer that granted nothing is not told.
        assert_eq!(announcements(0x11, src, &[known(0)]).count(), 0);
    }

    #[test]
    fn speakers_are_remembered_the_last_few() {
        let mut t = Table::new();
        let gid = |i: u8| ipv4_mapped([10, 0, 0, i]);
        assert!(!t.speaks(&gid(1)));
        t.heard(&gid(1));
        t.heard(&gid(1));
        assert!(t.speaks(&gid(1)));
        for i in 2..=SPEAKERS as u8 {
            t.heard(&gid(i));
        }
        assert!(t.speaks(&gid(1)), "heard twice, kept once");
        t.heard(&gid(200));
        assert!(!t.speaks(&gid(1)) && t.speaks(&gid(200)));
    }
}
