// SPDX-License-Identifier: GPL-2.0

//! Checkpoint images: every rxe object of one user context, as the control
//! device's DUMP writes them and RESTORE reads them back (docs/image.md).
//!
//! An image is a header and a run of records, all little-endian, so that
//! an image moves between hosts of either byte order:
//!
//! ```text
//! header   magic "RXEMIGRS", version u32, total bytes u32, records u32, crc u32
//! record   kind u16, version u16, bytes u32 (its header included), body,
//!          padding to 8 bytes
//! ```
//!
//! The image of a uverbs file starts with a [`Context`] record, followed
//! by its objects in the order they were created, then the bindings of
//! its memory windows ([`MwBinding`]: a window may be bound to an MR or a
//! QP created after it) and its UD QPs' multicast attachments
//! ([`McastAttach`]); that of an event file is one [`EventFile`] record,
//! naming its context.
//!
//! The CRC-32 covers the whole image with its own field as zero. Restore
//! reads images that come from a file anyone may have edited: [`Image::parse`]
//! checks everything before a record is handed out, and refuses what it
//! does not know (another version, another kind, a body of another size)
//! rather than guessing.

use super::icrc::crc32_le;

/// The first eight bytes of every image.
pub const MAGIC: [u8; 8] = *b"RXEMIGRS";
/// The image format this code writes and reads.
pub const VERSION: u32 = 8;
pub const HEADER_BYTES: usize = 24;
pub const RECORD_HEADER_BYTES: usize = 8;
/// No image of ours is larger: a bound on what restore reads.
pub const MAX_IMAGE_BYTES: usize = 64 << 20;
/// The version of every record kind in image version 1.
const RECORD_VERSION: u16 = 1;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    Pd = 1,
    Mr = 2,
    Cq = 3,
    Qp = 4,
    Ah = 5,
    Context = 6,
    EventFile = 7,
    Srq = 8,
    Mw = 9,
    MwBinding = 10,
    McastAttach = 11,
}

impl Kind {
    fn of(v: u16) -> Option<Kind> {
        Some(match v {
            1 => Kind::Pd,
            2 => Kind::Mr,
            3 => Kind::Cq,
            4 => Kind::Qp,
            5 => Kind::Ah,
            6 => Kind::Context,
            7 => Kind::EventFile,
            8 => Kind::Srq,
            9 => Kind::Mw,
            10 => Kind::MwBinding,
            11 => Kind::McastAttach,
            _ => return None,
        })
    }
}

/// Why an image is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Shorter than its header, or than the total it states.
    Truncated,
    /// Not an image of ours.
    BadMagic,
    /// An image version this code does not read.
    UnknownVersion(u32),
    /// The stated total is not the length given, or is too large.
    BadLength,
    /// The CRC does not match: the image was damaged.
    BadCrc,
    /// A record kind this version does not define.
    UnknownKind(u16),
    /// A record version this code does not read.
    UnknownRecordVersion { kind: Kind, version: u16 },
    /// A record whose size or contents do not fit its kind.
    BadRecord(Kind),
    /// More or fewer records than the header states.
    BadCount,
    /// The caller asked to stop (a fatal signal) before the check ended.
    Interrupted,
}

/// How many records the long checks go through between two calls of their
/// `go_on`: in the kernel, a reschedule point and a look for a fatal
/// signal. The CRC calls it every [`CRC_CHUNK`] bytes.
pub const PACE: usize = 1024;
/// Bytes of CRC between two calls of `go_on`.
pub const CRC_CHUNK: usize = 1 << 20;

/// Little-endian fields into a fixed buffer.
struct Put<'a> {
    b: &'a mut [u8],
    at: usize,
}

impl Put<'_> {
    fn bytes(&mut self, v: &[u8]) {
        self.b[self.at..self.at + v.len()].copy_from_slice(v);
        self.at += v.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// Little-endian fields out of a buffer whose length was checked.
struct Get<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Get<'a> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut v = [0u8; N];
        v.copy_from_slice(&self.b[self.at..self.at + N]);
        self.at += N;
        v
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }
}

/// A user context: what its event files' images name it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub cookie: u64,
}

/// An event file of a user context: its asynchronous event file, or a
/// completion channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFile {
    /// The cookie of its context.
    pub context: u64,
    /// The channel's number, as its CQs name it (from 1); 0 for the
    /// asynchronous event file, or a channel no CQ reports to.
    pub channel: u32,
}

/// A protection domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pd {
    /// Its uverbs handle.
    pub handle: u32,
}

/// A memory region of process memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mr {
    pub handle: u32,
    pub pd: u32,
    /// `ib_access_flags`.
    pub access: u32,
    pub lkey: u32,
    pub rkey: u32,
    /// The process's address of its first byte.
    pub start: u64,
    /// The address requests name it by.
    pub iova: u64,
    pub length: u64,
}

/// A ring shared with the process: where it was offered for mmap, and its
/// bytes (the index header and every slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingImage<'a> {
    pub mmap_offset: u64,
    pub bytes: &'a [u8],
}

/// A completion queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cq<'a> {
    pub handle: u32,
    /// The entries it holds (`ib_cq.cqe`).
    pub cqe: u32,
    /// The armed notification (`ib_cq_notify_flags`), 0 if none.
    pub notify: u32,
    /// The completion channel it reports to (see [`EventFile`]), 0 if none.
    pub channel: u32,
    pub comp_vector: u32,
    /// What libibverbs gave at create (its `struct ibv_cq`'s address),
    /// which the core hands back in completion events.
    pub user_handle: u64,
    /// The completion and asynchronous events the process has read for
    /// it: libibverbs waits, when it destroys the CQ, until it has
    /// acknowledged as many as the kernel says it reported.
    pub comp_events: u32,
    pub async_events: u32,
    /// Whether a completion event was waiting in its channel, unread.
    pub comp_event_waiting: bool,
    pub ring: RingImage<'a>,
}

/// A shared receive queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Srq<'a> {
    pub handle: u32,
    pub pd: u32,
    /// Its number (`srq_num`), which it keeps.
    pub num: u32,
    /// The requests its ring holds (its capacity), and the scatter
    /// entries of each.
    pub max_wr: u32,
    pub max_sge: u32,
    /// The limit event's threshold; 0 when disarmed.
    pub limit: u32,
    /// The next slot the QPs take: the driver's consumer index, never read
    /// back from the ring the process writes.
    pub next: u32,
    /// What libibverbs gave at create (its `struct ibv_srq`'s address).
    pub user_handle: u64,
    /// The asynchronous events the process has read for it (see
    /// [`Cq::comp_events`]).
    pub async_events: u32,
    pub ring: RingImage<'a>,
}

/// A memory window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mw {
    pub handle: u32,
    pub pd: u32,
    /// `enum ib_mw_type`: 1 or 2.
    pub mw_type: u32,
    /// Its rkey now (a type 1 bind moves its key tag), which it keeps.
    pub rkey: u32,
}

/// What a memory window is bound to, after every object record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MwBinding {
    /// The handles of the window and of the MR it is bound to.
    pub mw: u32,
    pub mr: u32,
    /// The handle of the QP a type 2 window is bound to; [`NO_QP`] for a
    /// type 1 window.
    pub qp: u32,
    /// `ib_access_flags` it grants.
    pub access: u32,
    /// Where it starts in the MR's address space, and its length.
    pub addr: u64,
    pub length: u64,
}

/// [`MwBinding::qp`] of a type 1 window, bound to no QP.
pub const NO_QP: u32 = u32::MAX;

/// A UD QP's attachment to a multicast group, after every object record:
/// what `ibv_attach_mcast` was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct McastAttach {
    /// The QP's handle.
    pub qp: u32,
    /// The LID the process gave (RoCE has no use for it, but the core
    /// keeps it, and detaching takes the same one).
    pub lid: u16,
    /// The group's GID.
    pub gid: [u8; 16],
}

/// An address vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Av {
    pub dgid: [u8; 16],
    pub sgid: [u8; 16],
    pub flow_label: u32,
    pub sgid_index: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub ipv6: bool,
    pub dmac: [u8; 6],
}

const AV_BYTES: usize = 48;

impl Av {
    fn put(&self, p: &mut Put<'_>) {
        p.bytes(&self.dgid);
        p.bytes(&self.sgid);
        p.u32(self.flow_label);
        p.u8(self.sgid_index);
        p.u8(self.hop_limit);
        p.u8(self.traffic_class);
        p.u8(self.ipv6 as u8);
        p.bytes(&self.dmac);
        p.u16(0);
    }

    fn get(g: &mut Get<'_>) -> Option<Av> {
        let av = Av {
            dgid: g.bytes(),
            sgid: g.bytes(),
            flow_label: g.u32(),
            sgid_index: g.u8(),
            hop_limit: g.u8(),
            traffic_class: g.u8(),
            ipv6: match g.u8() {
                0 => false,
                1 => true,
                _ => return None,
            },
            dmac: g.bytes(),
        };
        (g.u16() == 0).then_some(av)
    }
}

/// An address handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ah {
    pub handle: u32,
    pub pd: u32,
    /// Its number, which librxe writes into every UD work request.
    pub num: u32,
    pub av: Av,
}

/// A multi-packet message the responder is in the middle of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partial {
    None,
    /// A SEND, into the receive request `wr_id`, `offset` bytes in.
    Send {
        wr_id: u64,
        offset: u32,
    },
    /// A WRITE to MR `rkey`, `at` bytes into it, `left` of `total` to go.
    Write {
        rkey: u32,
        at: u64,
        left: u32,
        total: u32,
    },
}

/// A queue pair: its attributes, where each of its engines stands, and
/// its rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qp<'a> {
    pub handle: u32,
    pub qpn: u32,
    /// `ib_qp_type`.
    pub qp_type: u32,
    /// `ib_qp_state`.
    pub state: u32,
    pub pd: u32,
    pub send_cq: u32,
    pub recv_cq: u32,
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline: u32,
    pub pkey_index: u16,
    pub qkey: u32,
    /// Remote access flags.
    pub access: u32,
    /// `ib_mtu`.
    pub path_mtu: u32,
    pub dest_qpn: u32,
    pub sq_psn: u32,
    pub rq_psn: u32,
    pub timeout: u8,
    pub retry_cnt: u8,
    pub rnr_retry: u8,
    pub min_rnr_timer: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
    /// The path, for connected QPs past INIT.
    pub av: Option<Av>,
    /// The oldest incomplete send request (the send ring's consumer), and
    /// the PSN it starts at: a restored requester goes back to it.
    pub comp_wqe: u32,
    pub restart_psn: u32,
    /// The send request after the last one started, and the PSN after the
    /// furthest sent.
    pub started: u32,
    pub high_psn: u32,
    /// The PSN after the last one the partner acknowledged.
    pub acked_psn: u32,
    /// The responder: the PSN it expects, its MSN, the receive ring's
    /// consumer, and the message it is in the middle of.
    pub epsn: u32,
    pub msn: u32,
    pub rq_next: u32,
    pub partial: Partial,
    /// Whether its partner was stopped (it had the paused NAK).
    pub partner_paused: bool,
    /// Whether every send request completes, signaled or not (a create
    /// attribute the restoring process must give again).
    pub sq_sig_all: bool,
    /// What libibverbs gave at create (its QP's address), which the core
    /// hands back in asynchronous events.
    pub user_handle: u64,
    /// The asynchronous events the process has read for it (see
    /// [`Cq::comp_events`]).
    pub async_events: u32,
    pub sq: RingImage<'a>,
    pub rq: RingImage<'a>,
    /// The datagrams a Stopped UD QP received and had not carried out, in
    /// the layout [`Held`] reads.
    pub held: &'a [u8],
    /// Its partner speaks the migration protocol.
    pub speaks: bool,
    /// The token its partner granted it, and the one it granted its
    /// partner (docs/migration.md, "Authenticating RESUME"); 0 for none.
    pub token: u64,
    pub granted: u64,
    /// A UD QP's tokens from its peers' devices ([`Grants`]).
    pub grants: &'a [u8],
    /// The responder's last atomic responses, for replay
    /// ([`AtomicReplies`]).
    pub atomics: &'a [u8],
    /// The shared receive queue it takes its receive requests from (its
    /// handle), if any; then `rq` is a ring of its own nobody posts to.
    pub srq: Option<u32>,
    /// The receive request it took from its shared receive queue and has
    /// not completed (one slot of the SRQ's ring); empty for none.
    pub taken: &'a [u8],
}

impl Qp<'static> {
    /// A record with every field zero, none or empty, for a dump to fill.
    pub const EMPTY: Qp<'static> = Qp {
        handle: 0,
        qpn: 0,
        qp_type: 0,
        state: 0,
        pd: 0,
        send_cq: 0,
        recv_cq: 0,
        max_send_wr: 0,
        max_recv_wr: 0,
        max_send_sge: 0,
        max_recv_sge: 0,
        max_inline: 0,
        pkey_index: 0,
        qkey: 0,
        access: 0,
        path_mtu: 0,
        dest_qpn: 0,
        sq_psn: 0,
        rq_psn: 0,
        timeout: 0,
        retry_cnt: 0,
        rnr_retry: 0,
        min_rnr_timer: 0,
        max_rd_atomic: 0,
        max_dest_rd_atomic: 0,
        av: None,
        comp_wqe: 0,
        restart_psn: 0,
        started: 0,
        high_psn: 0,
        acked_psn: 0,
        epsn: 0,
        msn: 0,
        rq_next: 0,
        partial: Partial::None,
        partner_paused: false,
        sq_sig_all: false,
        user_handle: 0,
        async_events: 0,
        sq: RingImage {
            mmap_offset: 0,
            bytes: &[],
        },
        rq: RingImage {
            mmap_offset: 0,
            bytes: &[],
        },
        held: &[],
        speaks: false,
        token: 0,
        granted: 0,
        grants: &[],
        atomics: &[],
        srq: None,
        taken: &[],
    };
}

/// The tokens a UD QP's peer devices granted it (docs/migration.md, "UD
/// moves"): entries of [`Grants::ENTRY`] bytes, the device's GID (16) and
/// the token (u64, little-endian), at most [`Grants::MAX`].
pub struct Grants;

impl Grants {
    pub const ENTRY: usize = 24;
    pub const MAX: usize = 1024;

    /// Whether `b` is a list of grants.
    pub fn valid(b: &[u8]) -> bool {
        b.len() % Self::ENTRY == 0 && b.len() <= Self::MAX * Self::ENTRY
    }

    /// The token of the device at `gid` in `b`, or 0.
    pub fn find(b: &[u8], gid: &[u8; 16]) -> u64 {
        b.chunks_exact(Self::ENTRY)
            .find(|e| e[..16] == gid[..])
            .map_or(0, |e| {
                let mut t = [0u8; 8];
                t.copy_from_slice(&e[16..]);
                u64::from_le_bytes(t)
            })
    }

    /// An entry.
    pub fn entry(gid: &[u8; 16], token: u64) -> [u8; Self::ENTRY] {
        let mut e = [0u8; Self::ENTRY];
        e[..16].copy_from_slice(gid);
        e[16..].copy_from_slice(&token.to_le_bytes());
        e
    }
}

/// The atomic responses a QP's responder keeps for replay: entries of
/// [`AtomicReplies::ENTRY`] bytes, the request's PSN (u32, little-endian),
/// four zero bytes and the value the atomic returned (u64, little-endian),
/// at most [`AtomicReplies::MAX`] (the most atomics a requester may have
/// outstanding), no PSN twice.
pub struct AtomicReplies;

impl AtomicReplies {
    pub const ENTRY: usize = 16;
    pub const MAX: usize = super::modify::MAX_RD_ATOMIC as usize;

    /// Whether `b` is a list of replies.
    pub fn valid(b: &[u8]) -> bool {
        b.len() % Self::ENTRY == 0
            && b.len() <= Self::MAX * Self::ENTRY
            && b.chunks_exact(Self::ENTRY).enumerate().all(|(i, e)| {
                let psn = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
                psn <= super::psn::PSN_MASK
                    && e[4..8] == [0; 4]
                    && Self::find(&b[..i * Self::ENTRY], psn).is_none()
            })
    }

    /// The reply to the request at `psn` in `b`.
    pub fn find(b: &[u8], psn: u32) -> Option<u64> {
        b.chunks_exact(Self::ENTRY)
            .find(|e| e[..4] == psn.to_le_bytes())
            .map(|e| {
                let mut v = [0u8; 8];
                v.copy_from_slice(&e[8..]);
                u64::from_le_bytes(v)
            })
    }

    /// An entry.
    pub fn entry(psn: u32, orig: u64) -> [u8; Self::ENTRY] {
        let mut e = [0u8; Self::ENTRY];
        e[..4].copy_from_slice(&psn.to_le_bytes());
        e[8..].copy_from_slice(&orig.to_le_bytes());
        e
    }
}

/// The datagrams a QP image holds: each a little-endian u16 length, two
/// zero bytes, and the datagram from its IP header to its ICRC, padded
/// with zeroes to 4 bytes.
#[derive(Clone, Copy, Debug)]
pub struct Held<'a>(&'a [u8]);

impl<'a> Held<'a> {
    /// No datagram of a QP is longer: IP, UDP and RoCE headers, and a
    /// 4 KiB MTU of payload.
    pub const MAX_DATAGRAM: usize = 4096 + 256;

    /// Checks `blob`: entries that fill it exactly.
    pub fn parse(blob: &'a [u8]) -> Option<Held<'a>> {
        let mut at = 0;
        while at < blob.len() {
            at = Self::entry(blob, at)?.1;
        }
        Some(Held(blob))
    }

    /// The entry at `at`: its datagram's range, and where the next begins.
    fn entry(blob: &[u8], at: usize) -> Option<(core::ops::Range<usize>, usize)> {
        let h = blob.get(at..at.checked_add(4)?)?;
        let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
        if h[2..] != [0, 0] || len == 0 || len > Self::MAX_DATAGRAM {
            return None;
        }
        let (start, end) = (at + 4, at + 4 + len);
        let next = start + pad4(len);
        blob.get(end..next)?
            .iter()
            .all(|&b| b == 0)
            .then_some((start..end, next))
    }

    /// The datagrams, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> {
        let blob = self.0;
        let mut at = 0;
        core::iter::from_fn(move || {
            let (range, next) = Self::entry(blob, at)?;
            at = next;
            Some(&blob[range])
        })
    }

    /// The header of an entry for a datagram of `len` bytes (`None` if
    /// it is empty or too long), and the zeroes it is padded with.
    pub fn entry_header(len: usize) -> Option<([u8; 4], &'static [u8])> {
        if len == 0 || len > Self::MAX_DATAGRAM {
            return None;
        }
        let l = (len as u16).to_le_bytes();
        Some(([l[0], l[1], 0, 0], &[0u8; 3][..pad4(len) - len]))
    }
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// The sealed image of `records`, for the host tests.
#[cfg(test)]
pub(crate) fn sealed(records: &[Record<'_>]) -> std::vec::Vec<u8> {
    let mut out = std::vec![0u8; HEADER_BYTES];
    for r in records {
        r.write(|b| {
            out.extend_from_slice(b);
            Ok::<(), ()>(())
        })
        .expect("a vector takes every record");
    }
    let h = header(out.len(), records.len() as u32);
    out[..HEADER_BYTES].copy_from_slice(&h);
    seal(&mut out);
    out
}

/// Any record.
// A QP is much the largest, but records are read one at a time, on the
// stack, and the core allocates nothing: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Pd(Pd),
    Mr(Mr),
    Cq(Cq<'a>),
    Qp(Qp<'a>),
    Ah(Ah),
    Context(Context),
    EventFile(EventFile),
    Srq(Srq<'a>),
    Mw(Mw),
    MwBinding(MwBinding),
    McastAttach(McastAttach),
}

const PD_BYTES: usize = 8;
const MW_BYTES: usize = 16;
const MW_BINDING_BYTES: usize = 32;
const MCAST_ATTACH_BYTES: usize = 24;
const CONTEXT_BYTES: usize = 16;
const MR_BYTES: usize = 48;
const CQ_BYTES: usize = 40 + RING_BYTES;
const AH_BYTES: usize = 16 + AV_BYTES;
const QP_BYTES: usize = 200 + AV_BYTES + 2 * RING_BYTES;
const SRQ_BYTES: usize = 40 + RING_BYTES;
/// A ring's fixed part: its mmap offset and its length.
const RING_BYTES: usize = 16;
/// The most variable parts a record has (a QP's).
const VARIABLE: usize = 6;

fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

impl Record<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Pd(_) => Kind::Pd,
            Record::Mr(_) => Kind::Mr,
            Record::Cq(_) => Kind::Cq,
            Record::Qp(_) => Kind::Qp,
            Record::Ah(_) => Kind::Ah,
            Record::Context(_) => Kind::Context,
            Record::EventFile(_) => Kind::EventFile,
            Record::Srq(_) => Kind::Srq,
            Record::Mw(_) => Kind::Mw,
            Record::MwBinding(_) => Kind::MwBinding,
            Record::McastAttach(_) => Kind::McastAttach,
        }
    }

    /// The uverbs handle of an object's record; `None` for the context,
    /// event file, binding and attachment records.
    pub fn handle(&self) -> Option<u32> {
        match self {
            Record::Pd(x) => Some(x.handle),
            Record::Mr(x) => Some(x.handle),
            Record::Cq(x) => Some(x.handle),
            Record::Qp(x) => Some(x.handle),
            Record::Ah(x) => Some(x.handle),
            Record::Srq(x) => Some(x.handle),
            Record::Mw(x) => Some(x.handle),
            Record::Context(_)
            | Record::EventFile(_)
            | Record::MwBinding(_)
            | Record::McastAttach(_) => None,
        }
    }

    fn fixed_bytes(kind: Kind) -> usize {
        match kind {
            Kind::Pd => PD_BYTES,
            Kind::Mr => MR_BYTES,
            Kind::Cq => CQ_BYTES,
            Kind::Qp => QP_BYTES,
            Kind::Ah => AH_BYTES,
            Kind::Srq => SRQ_BYTES,
            Kind::Mw => MW_BYTES,
            Kind::MwBinding => MW_BINDING_BYTES,
            Kind::McastAttach => MCAST_ATTACH_BYTES,
            Kind::Context | Kind::EventFile => CONTEXT_BYTES,
        }
    }

    /// The variable parts after the fixed one: rings, held datagrams,
    /// grants, atomic replies, a taken request.
    fn rings(&self) -> [&[u8]; VARIABLE] {
        let none: &[u8] = &[];
        match self {
            Record::Cq(c) => [c.ring.bytes, none, none, none, none, none],
            Record::Srq(s) => [s.ring.bytes, none, none, none, none, none],
            Record::Qp(q) => [q.sq.bytes, q.rq.bytes, q.held, q.grants, q.atomics, q.taken],
            _ => [none; VARIABLE],
        }
    }

    /// The bytes it takes in an image.
    pub fn bytes(&self) -> usize {
        let rings: usize = self.rings().iter().map(|r| pad8(r.len())).sum();
        RECORD_HEADER_BYTES + Self::fixed_bytes(self.kind()) + rings
    }

    /// Writes the record through `put`, which appends bytes to the image.
    pub fn write<E>(&self, mut put: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let mut fixed = [0u8; RECORD_HEADER_BYTES + QP_BYTES];
        let n = RECORD_HEADER_BYTES + Self::fixed_bytes(self.kind());
        let mut p = Put {
            b: &mut fixed[..n],
            at: 0,
        };
        p.u16(self.kind() as u16);
        p.u16(RECORD_VERSION);
        p.u32(self.bytes() as u32);
        match self {
            Record::Pd(d) => {
                p.u32(d.handle);
                p.u32(0);
            }
            Record::Mr(m) => {
                for v in [m.handle, m.pd, m.access, m.lkey, m.rkey, 0] {
                    p.u32(v);
                }
                for v in [m.start, m.iova, m.length] {
                    p.u64(v);
                }
            }
            Record::Cq(c) => {
                for v in [
                    c.handle,
                    c.cqe,
                    c.notify,
                    c.channel,
                    c.comp_vector,
                    c.comp_events,
                ] {
                    p.u32(v);
                }
                p.u64(c.user_handle);
                p.u32(c.async_events);
                p.u32(c.comp_event_waiting as u32);
                put_ring(&mut p, &c.ring);
            }
            Record::Ah(a) => {
                for v in [a.handle, a.pd, a.num, 0] {
                    p.u32(v);
                }
                a.av.put(&mut p);
            }
            Record::Qp(q) => put_qp(&mut p, q),
            Record::Srq(s) => {
                for v in [s.handle, s.pd, s.num, s.max_wr, s.max_sge, s.limit, s.next] {
                    p.u32(v);
                }
                p.u32(s.async_events);
                p.u64(s.user_handle);
                put_ring(&mut p, &s.ring);
            }
            Record::Mw(m) => {
                for v in [m.handle, m.pd, m.mw_type, m.rkey] {
                    p.u32(v);
                }
            }
            Record::MwBinding(b) => {
                for v in [b.mw, b.mr, b.qp, b.access] {
                    p.u32(v);
                }
                p.u64(b.addr);
                p.u64(b.length);
            }
            Record::McastAttach(a) => {
                p.u32(a.qp);
                p.u16(a.lid);
                p.u16(0);
                p.bytes(&a.gid);
            }
            Record::Context(c) => {
                p.u64(c.cookie);
                p.u64(0);
            }
            Record::EventFile(e) => {
                p.u64(e.context);
                p.u32(e.channel);
                p.u32(0);
            }
        }
        put(&fixed[..n])?;
        for ring in self.rings() {
            put(ring)?;
            let zeroes = [0u8; 8];
            put(&zeroes[..pad8(ring.len()) - ring.len()])?;
        }
        Ok(())
    }
}

fn put_ring(p: &mut Put<'_>, r: &RingImage<'_>) {
    p.u64(r.mmap_offset);
    p.u32(r.bytes.len() as u32);
    p.u32(0);
}

fn put_qp(p: &mut Put<'_>, q: &Qp<'_>) {
    for v in [
        q.handle,
        q.qpn,
        q.qp_type,
        q.state,
        q.pd,
        q.send_cq,
        q.recv_cq,
        q.max_send_wr,
        q.max_recv_wr,
        q.max_send_sge,
        q.max_recv_sge,
        q.max_inline,
        q.qkey,
        q.access,
        q.path_mtu,
        q.dest_qpn,
        q.sq_psn,
        q.rq_psn,
        q.comp_wqe,
        q.restart_psn,
        q.started,
        q.high_psn,
        q.acked_psn,
        q.epsn,
        q.msn,
        q.rq_next,
    ] {
        p.u32(v);
    }
    p.u16(q.pkey_index);
    for v in [
        q.timeout,
        q.retry_cnt,
        q.rnr_retry,
        q.min_rnr_timer,
        q.max_rd_atomic,
        q.max_dest_rd_atomic,
    ] {
        p.u8(v);
    }
    p.u8(q.partner_paused as u8);
    p.u8(q.av.is_some() as u8);
    // 26 × 4 + 2 + 8 = 114 bytes so far; then the partial message's tag,
    // sq_sig_all, and the message itself, to 144.
    let tag = match q.partial {
        Partial::None => 0,
        Partial::Send { .. } => 1,
        Partial::Write { .. } => 2,
    };
    p.u8(tag);
    p.u8(q.sq_sig_all as u8);
    match q.partial {
        Partial::None => p.bytes(&[0; 12]),
        Partial::Send { offset, .. } => {
            p.bytes(&[0; 8]);
            p.u32(offset);
        }
        Partial::Write { rkey, left, .. } => {
            p.bytes(&[0; 4]);
            p.u32(rkey);
            p.u32(left);
        }
    }
    match q.partial {
        Partial::None => p.bytes(&[0; 16]),
        Partial::Send { wr_id, .. } => {
            p.u64(wr_id);
            p.u64(0);
        }
        Partial::Write { at, total, .. } => {
            p.u64(at);
            p.u32(total);
            p.u32(0);
        }
    }
    q.av.unwrap_or_default().put(p);
    put_ring(p, &q.sq);
    put_ring(p, &q.rq);
    p.u64(q.user_handle);
    p.u32(q.async_events);
    p.u32(q.held.len() as u32);
    p.u64(q.token);
    p.u64(q.granted);
    p.u8(q.speaks as u8);
    p.u8(q.srq.is_some() as u8);
    p.bytes(&[0; 2]);
    p.u32(q.grants.len() as u32);
    p.u32(q.atomics.len() as u32);
    p.u32(q.taken.len() as u32);
    p.u32(q.srq.unwrap_or(0));
    p.u32(0);
}

fn get_ring(g: &mut Get<'_>) -> Option<(u64, usize)> {
    let off = g.u64();
    let len = g.u32() as usize;
    (g.u32() == 0).then_some((off, len))
}

fn get_qp<'a>(g: &mut Get<'_>) -> Option<(Qp<'a>, [(u64, usize); VARIABLE])> {
    let mut w = [0u32; 26];
    for v in w.iter_mut() {
        *v = g.u32();
    }
    let pkey_index = g.u16();
    let b: [u8; 8] = g.bytes();
    let flag = |v: u8| match v {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    };
    let partner_paused = flag(b[6])?;
    let has_av = flag(b[7])?;
    let tag = g.u8();
    let sq_sig_all = flag(g.u8())?;
    let mid: [u8; 12] = g.bytes();
    let tail: [u8; 16] = g.bytes();
    let le32 = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let le64 = |s: &[u8]| u64::from_le_bytes(s[..8].try_into().unwrap_or([0; 8]));
    let partial = match tag {
        0 if mid == [0; 12] && tail == [0; 16] => Partial::None,
        1 if mid[..8] == [0; 8] && tail[8..] == [0; 8] => Partial::Send {
            wr_id: le64(&tail),
            offset: le32(&mid[8..]),
        },
        2 if mid[..4] == [0; 4] && tail[12..] == [0; 4] => Partial::Write {
            rkey: le32(&mid[4..]),
            left: le32(&mid[8..]),
            at: le64(&tail),
            total: le32(&tail[8..]),
        },
        _ => return None,
    };
    let av = Av::get(g)?;
    let sq = get_ring(g)?;
    let rq = get_ring(g)?;
    let user_handle = g.u64();
    let async_events = g.u32();
    let held = (0, g.u32() as usize);
    let token = g.u64();
    let granted = g.u64();
    let speaks = flag(g.u8())?;
    let has_srq = flag(g.u8())?;
    let rest: [u8; 2] = g.bytes();
    if rest != [0; 2] {
        return None;
    }
    let grants = (0, g.u32() as usize);
    let atomics = (0, g.u32() as usize);
    let taken = (0, g.u32() as usize);
    let srq = g.u32();
    if g.u32() != 0 || (!has_srq && (srq != 0 || taken.1 != 0)) {
        return None;
    }
    let q = Qp {
        handle: w[0],
        qpn: w[1],
        qp_type: w[2],
        state: w[3],
        pd: w[4],
        send_cq: w[5],
        recv_cq: w[6],
        max_send_wr: w[7],
        max_recv_wr: w[8],
        max_send_sge: w[9],
        max_recv_sge: w[10],
        max_inline: w[11],
        qkey: w[12],
        access: w[13],
        path_mtu: w[14],
        dest_qpn: w[15],
        sq_psn: w[16],
        rq_psn: w[17],
        comp_wqe: w[18],
        restart_psn: w[19],
        started: w[20],
        high_psn: w[21],
        acked_psn: w[22],
        epsn: w[23],
        msn: w[24],
        rq_next: w[25],
        pkey_index,
        timeout: b[0],
        retry_cnt: b[1],
        rnr_retry: b[2],
        min_rnr_timer: b[3],
        max_rd_atomic: b[4],
        max_dest_rd_atomic: b[5],
        av: has_av.then_some(av),
        partial,
        partner_paused,
        sq_sig_all,
        user_handle,
        async_events,
        sq: RingImage {
            mmap_offset: sq.0,
            bytes: &[],
        },
        rq: RingImage {
            mmap_offset: rq.0,
            bytes: &[],
        },
        held: &[],
        speaks,
        token,
        granted,
        grants: &[],
        atomics: &[],
        srq: has_srq.then_some(srq),
        taken: &[],
    };
    Some((q, [sq, rq, held, grants, atomics, taken]))
}

/// Parses one record's body (`kind`, after its header).
fn parse_record(kind: Kind, body: &[u8]) -> Option<Record<'_>> {
    let fixed = Record::fixed_bytes(kind);
    let mut g = Get {
        b: body.get(..fixed)?,
        at: 0,
    };
    let mut rings = [(0u64, 0usize); VARIABLE];
    let mut rec = match kind {
        Kind::Pd => {
            let handle = g.u32();
            (g.u32() == 0).then_some(Record::Pd(Pd { handle }))?
        }
        Kind::Mr => {
            let w: [u32; 6] = core::array::from_fn(|_| g.u32());
            if w[5] != 0 {
                return None;
            }
            Record::Mr(Mr {
                handle: w[0],
                pd: w[1],
                access: w[2],
                lkey: w[3],
                rkey: w[4],
                start: g.u64(),
                iova: g.u64(),
                length: g.u64(),
            })
        }
        Kind::Cq => {
            let w: [u32; 6] = core::array::from_fn(|_| g.u32());
            let user_handle = g.u64();
            let async_events = g.u32();
            let waiting = g.u32();
            if waiting > 1 {
                return None;
            }
            rings[0] = get_ring(&mut g)?;
            Record::Cq(Cq {
                handle: w[0],
                cqe: w[1],
                notify: w[2],
                channel: w[3],
                comp_vector: w[4],
                comp_events: w[5],
                async_events,
                comp_event_waiting: waiting == 1,
                user_handle,
                ring: RingImage {
                    mmap_offset: rings[0].0,
                    bytes: &[],
                },
            })
        }
        Kind::Ah => {
            let w: [u32; 4] = core::array::from_fn(|_| g.u32());
            if w[3] != 0 {
                return None;
            }
            Record::Ah(Ah {
                handle: w[0],
                pd: w[1],
                num: w[2],
                av: Av::get(&mut g)?,
            })
        }
        Kind::Srq => {
            let w: [u32; 8] = core::array::from_fn(|_| g.u32());
            let user_handle = g.u64();
            rings[0] = get_ring(&mut g)?;
            Record::Srq(Srq {
                handle: w[0],
                pd: w[1],
                num: w[2],
                max_wr: w[3],
                max_sge: w[4],
                limit: w[5],
                next: w[6],
                async_events: w[7],
                user_handle,
                ring: RingImage {
                    mmap_offset: rings[0].0,
                    bytes: &[],
                },
            })
        }
        Kind::Qp => {
            let (q, r) = get_qp(&mut g)?;
            rings = r;
            Record::Qp(q)
        }
        Kind::Mw => {
            let w: [u32; 4] = core::array::from_fn(|_| g.u32());
            Record::Mw(Mw {
                handle: w[0],
                pd: w[1],
                mw_type: w[2],
                rkey: w[3],
            })
        }
        Kind::MwBinding => {
            let w: [u32; 4] = core::array::from_fn(|_| g.u32());
            Record::MwBinding(MwBinding {
                mw: w[0],
                mr: w[1],
                qp: w[2],
                access: w[3],
                addr: g.u64(),
                length: g.u64(),
            })
        }
        Kind::McastAttach => {
            let qp = g.u32();
            let lid = g.u16();
            let reserved = g.u16();
            let gid = g.bytes();
            (reserved == 0).then_some(Record::McastAttach(McastAttach { qp, lid, gid }))?
        }
        Kind::Context => {
            let cookie = g.u64();
            (g.u64() == 0).then_some(Record::Context(Context { cookie }))?
        }
        Kind::EventFile => {
            let context = g.u64();
            let channel = g.u32();
            (g.u32() == 0).then_some(Record::EventFile(EventFile { context, channel }))?
        }
    };
    // The rings (and a QP's held datagrams) follow the fixed part, each
    // padded; nothing else does.
    let mut at = fixed;
    let mut slices: [&[u8]; VARIABLE] = [&[]; VARIABLE];
    for (i, &(_, len)) in rings.iter().enumerate() {
        let end = at.checked_add(len)?;
        slices[i] = body.get(at..end)?;
        if body.get(end..at + pad8(len))?.iter().any(|&b| b != 0) {
            return None;
        }
        at += pad8(len);
    }
    if at != body.len() {
        return None;
    }
    match &mut rec {
        Record::Cq(c) => c.ring.bytes = slices[0],
        Record::Srq(s) => s.ring.bytes = slices[0],
        Record::Qp(q) => {
            q.sq.bytes = slices[0];
            q.rq.bytes = slices[1];
            q.held = Held::parse(slices[2])?.0;
            q.grants = Grants::valid(slices[3]).then_some(slices[3])?;
            q.atomics = AtomicReplies::valid(slices[4]).then_some(slices[4])?;
            q.taken = slices[5];
        }
        _ => {}
    }
    Some(rec)
}

/// The header of an image of `total` bytes with `records` records,
/// sealed by [`seal`].
pub fn header(total: usize, records: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    let mut p = Put { b: &mut h, at: 0 };
    p.bytes(&MAGIC);
    p.u32(VERSION);
    p.u32(total as u32);
    p.u32(records);
    p.u32(0);
    h
}

/// Writes the CRC of a complete image (its header first) into it.
pub fn seal(image: &mut [u8]) {
    image[20..24].fill(0);
    let crc = !crc32_le(!0, image);
    image[20..24].copy_from_slice(&crc.to_le_bytes());
}

/// A checked image, whose records can be read.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    records: u32,
    body: &'a [u8],
}

impl<'a> Image<'a> {
    /// Checks `bytes` as a whole image: header, length, CRC, and every
    /// record (so that an image is taken whole or not at all).
    pub fn parse(bytes: &'a [u8]) -> Result<Image<'a>, ImageError> {
        Self::parse_paced(bytes, || true)
    }

    /// [`Image::parse`], calling `go_on` every [`PACE`] records and every
    /// [`CRC_CHUNK`] bytes of the CRC: it stops with
    /// [`ImageError::Interrupted`] when that says no. The work is linear
    /// in the image's length.
    pub fn parse_paced(
        bytes: &'a [u8],
        mut go_on: impl FnMut() -> bool,
    ) -> Result<Image<'a>, ImageError> {
        let (image, crc) = Self::header_of(bytes)?;
        let mut c = crc32_le(!0, &bytes[..20]);
        c = crc32_le(c, &[0; 4]);
        for chunk in bytes[HEADER_BYTES..].chunks(CRC_CHUNK) {
            if !go_on() {
                return Err(ImageError::Interrupted);
            }
            c = crc32_le(c, chunk);
        }
        if !c != crc {
            return Err(ImageError::BadCrc);
        }
        let mut n = 0u32;
        for r in image.records() {
            r?;
            n += 1;
            if n as usize % PACE == 0 && !go_on() {
                return Err(ImageError::Interrupted);
            }
        }
        if n != image.records {
            return Err(ImageError::BadCount);
        }
        Ok(image)
    }

    /// An image that [`Image::parse`] accepted before, from the same bytes,
    /// which nobody could change since (the kernel's own copy): only its
    /// header is read again. Its records are still each checked as they
    /// are read, so bytes that were never accepted cannot do more than
    /// fail there.
    pub fn accepted(bytes: &'a [u8]) -> Result<Image<'a>, ImageError> {
        Self::header_of(bytes).map(|(image, _)| image)
    }

    /// The header's checks; the image and the CRC it states.
    fn header_of(bytes: &'a [u8]) -> Result<(Image<'a>, u32), ImageError> {
        let h = bytes.get(..HEADER_BYTES).ok_or(ImageError::Truncated)?;
        let mut g = Get { b: h, at: 0 };
        if g.bytes::<8>() != MAGIC {
            return Err(ImageError::BadMagic);
        }
        let version = g.u32();
        if version != VERSION {
            return Err(ImageError::UnknownVersion(version));
        }
        let total = g.u32() as usize;
        let records = g.u32();
        let crc = g.u32();
        if !(HEADER_BYTES..=MAX_IMAGE_BYTES).contains(&total) {
            return Err(ImageError::BadLength);
        }
        if bytes.len() < total {
            return Err(ImageError::Truncated);
        }
        if bytes.len() > total {
            return Err(ImageError::BadLength);
        }
        let image = Image {
            records,
            body: &bytes[HEADER_BYTES..],
        };
        Ok((image, crc))
    }

    /// The number of records.
    pub fn len(&self) -> u32 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The records, in order. After [`Image::parse`] none is an error.
    pub fn records(&self) -> Records<'a> {
        self.records_from(0)
    }

    /// The records from `at`, a [`Records::offset`] of these records.
    /// Another offset reads as a damaged record or as the end, never out
    /// of bounds.
    pub fn records_from(&self, at: usize) -> Records<'a> {
        Records {
            body: self.body,
            at,
        }
    }
}

/// An image's records, each checked as it is read.
pub struct Records<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, ImageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.body.len() {
            return None;
        }
        let r = self.one();
        if r.is_err() {
            self.at = self.body.len();
        }
        Some(r)
    }
}

impl<'a> Records<'a> {
    /// Where the next record starts, in bytes after the image's header:
    /// for [`Image::records_from`].
    pub fn offset(&self) -> usize {
        self.at
    }

    fn one(&mut self) -> Result<Record<'a>, ImageError> {
        let rest = &self.body[self.at..];
        let h = rest
            .get(..RECORD_HEADER_BYTES)
            .ok_or(ImageError::Truncated)?;
        let mut g = Get { b: h, at: 0 };
        let raw = g.u16();
        let kind = Kind::of(raw).ok_or(ImageError::UnknownKind(raw))?;
        let version = g.u16();
        if version != RECORD_VERSION {
            return Err(ImageError::UnknownRecordVersion { kind, version });
        }
        let bytes = g.u32() as usize;
        if bytes < RECORD_HEADER_BYTES || bytes % 8 != 0 {
            return Err(ImageError::BadRecord(kind));
        }
        let whole = rest.get(..bytes).ok_or(ImageError::Truncated)?;
        let rec =
            parse_record(kind, &whole[RECORD_HEADER_BYTES..]).ok_or(ImageError::BadRecord(kind))?;
        self.at += bytes;
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn av(n: u8) -> Av {
        Av {
            dgid: [n; 16],
            sgid: [n + 1; 16],
            flow_label: 0x12345,
            sgid_index: 1,
            hop_limit: 64,
            traffic_class: 3,
            ipv6: n % 2 == 0,
            dmac: [2, 0, 0, 0, 0, n],
        }
    }

    fn qp<'a>(sq: &'a [u8], rq: &'a [u8], held: &'a [u8], partial: Partial) -> Qp<'a> {
        Qp {
            handle: 0,
            qpn: 0x11,
            qp_type: 2,
            state: 3,
            pd: 0,
            send_cq: 0,
            recv_cq: 1,
            max_send_wr: 128,
            max_recv_wr: 256,
            max_send_sge: 1,
            max_recv_sge: 2,
            max_inline: 220,
            pkey_index: 0,
            qkey: 0x1111_1111,
            access: 7,
            path_mtu: 3,
            dest_qpn: 0x12,
            sq_psn: 100,
            rq_psn: 200,
            timeout: 14,
            retry_cnt: 7,
            rnr_retry: 7,
            min_rnr_timer: 12,
            max_rd_atomic: 16,
            max_dest_rd_atomic: 16,
            av: Some(av(4)),
            comp_wqe: 5,
            restart_psn: 0xff_fffe,
            started: 9,
            high_psn: 3,
            acked_psn: 0xff_ffff,
            epsn: 1234,
            msn: 77,
            rq_next: 40,
            partial,
            partner_paused: true,
            sq_sig_all: true,
            user_handle: 0x5555_0000_1234,
            async_events: 2,
            sq: RingImage {
                mmap_offset: 0x1000,
                bytes: sq,
            },
            rq: RingImage {
                mmap_offset: 0x2000,
                bytes: rq,
            },
            held,
            speaks: true,
            token: 0x0123_4567_89ab_cdef,
            granted: u64::MAX,
            grants: &[7; 48],
            atomics: &ATOMICS,
            srq: None,
            taken: &[],
        }
    }

    /// Two atomic replies: PSN 5 returned 0x1111..., PSN 0xffffff 0x2222....
    const ATOMICS: [u8; 32] = [
        5, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    ];

    #[test]
    fn atomic_replies() {
        assert!(AtomicReplies::valid(&ATOMICS));
        assert_eq!(
            AtomicReplies::find(&ATOMICS, 5),
            Some(0x1111_1111_1111_1111)
        );
        assert_eq!(
            AtomicReplies::find(&ATOMICS, 0xff_ffff),
            Some(0x2222_2222_2222_2222)
        );
        assert_eq!(AtomicReplies::find(&ATOMICS, 6), None);
        assert_eq!(
            &ATOMICS[..16],
            &AtomicReplies::entry(5, 0x1111_1111_1111_1111)
        );
        // A PSN past 24 bits, reserved bytes set, a PSN twice, a torn entry.
        let mut bad = ATOMICS;
        bad[19] = 1;
        assert!(!AtomicReplies::valid(&bad));
        let mut bad = ATOMICS;
        bad[4] = 1;
        assert!(!AtomicReplies::valid(&bad));
        let mut bad = ATOMICS;
        bad[16..20].copy_from_slice(&5u32.to_le_bytes());
        assert!(!AtomicReplies::valid(&bad));
        assert!(!AtomicReplies::valid(&ATOMICS[..20]));
    }

    fn image(records: &[Record<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&[0; HEADER_BYTES]);
        for r in records {
            let before = out.len();
            r.write(|b| {
                out.extend_from_slice(b);
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(out.len() - before, r.bytes());
        }
        let h = header(out.len(), records.len() as u32);
        out[..HEADER_BYTES].copy_from_slice(&h);
        seal(&mut out);
        out
    }

    /// Two held datagrams, of 5 and 4 bytes.
    const HELD: &[u8] = &[5, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 4, 0, 0, 0, 9, 9, 9, 9];

    #[test]
    fn held_datagrams() {
        let h = Held::parse(HELD).unwrap();
        let all: Vec<&[u8]> = h.iter().collect();
        assert_eq!(all, [&[1, 2, 3, 4, 5][..], &[9, 9, 9, 9][..]]);
        assert_eq!(Held::entry_header(5), Some(([5, 0, 0, 0], &[0u8; 3][..])));
        assert_eq!(Held::entry_header(0), None);
        assert!(Held::parse(&[]).unwrap().iter().next().is_none());
        for bad in [
            &HELD[..19],                   // cut short
            &[0, 0, 0, 0][..],             // empty datagram
            &[1, 0, 1, 0, 7, 0, 0, 0][..], // reserved bytes
            &[1, 0, 0, 0, 7, 0, 1, 0][..], // padding not zero
            &[0xff, 0xff, 0, 0][..],       // too long
        ] {
            assert!(Held::parse(bad).is_none(), "{bad:?}");
        }
    }

    fn sample<'a>(sq: &'a [u8], rq: &'a [u8], ring: &'a [u8]) -> Vec<Record<'a>> {
        std::vec![
            Record::Context(Context { cookie: 1 << 40 }),
            Record::Pd(Pd { handle: 3 }),
            Record::Mr(Mr {
                handle: 1,
                pd: 3,
                access: 0xf,
                lkey: 0x1234_56aa,
                rkey: 0x1234_56aa,
                start: 0x7f00_0000_1000,
                iova: 0x7f00_0000_1000,
                length: 1 << 20,
            }),
            Record::Cq(Cq {
                handle: 0,
                cqe: 255,
                notify: 2,
                channel: 1,
                comp_vector: 3,
                user_handle: 0x7fff_dead_beef,
                comp_events: 41,
                async_events: 1,
                comp_event_waiting: true,
                ring: RingImage {
                    mmap_offset: 0x3000,
                    bytes: ring,
                },
            }),
            Record::Ah(Ah {
                handle: 2,
                pd: 3,
                num: 17,
                av: av(9),
            }),
            Record::Qp(qp(sq, rq, HELD, Partial::None)),
            Record::Qp(qp(
                rq,
                sq,
                &[],
                Partial::Send {
                    wr_id: u64::MAX - 1,
                    offset: 4096,
                },
            )),
            Record::Srq(Srq {
                handle: 4,
                pd: 3,
                num: 0x20001,
                max_wr: 63,
                max_sge: 3,
                limit: 10,
                next: 62,
                user_handle: 0x7fff_0000_4321,
                async_events: 1,
                ring: RingImage {
                    mmap_offset: 0x4000,
                    bytes: ring,
                },
            }),
            // A QP on the SRQ, with the request it took.
            Record::Qp(Qp {
                handle: 5,
                srq: Some(4),
                taken: &[0x5a; 70],
                ..qp(sq, &[], &[], Partial::None)
            }),
            Record::Qp(Qp {
                av: None,
                ..qp(
                    &[],
                    &[],
                    &[],
                    Partial::Write {
                        rkey: 0xabcd_ef01,
                        at: 1 << 33,
                        left: 5000,
                        total: 9096,
                    },
                )
            }),
            Record::Mw(Mw {
                handle: 6,
                pd: 3,
                mw_type: 2,
                rkey: 0x0800_012b,
            }),
            Record::MwBinding(MwBinding {
                mw: 6,
                mr: 1,
                qp: 5,
                access: 0x22,
                addr: 0x7f00_0000_1400,
                length: 4096,
            }),
            Record::McastAttach(McastAttach {
                qp: 5,
                lid: 0xc001,
                gid: [0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34],
            }),
        ]
    }

    #[test]
    fn images_round_trip() {
        let sq: Vec<u8> = (0..515u32).map(|i| i as u8).collect();
        let rq = [9u8; 13];
        let ring = [7u8; 384 + 64];
        let recs = sample(&sq, &rq, &ring);
        let bytes = image(&recs);
        let img = Image::parse(&bytes).unwrap();
        assert_eq!(img.len(), recs.len() as u32);
        let back: Vec<Record<'_>> = img.records().map(|r| r.unwrap()).collect();
        assert_eq!(back, recs);
        let empty = image(&[]);
        assert!(Image::parse(&empty).unwrap().is_empty());
        let event = [Record::EventFile(EventFile {
            context: 7,
            channel: 2,
        })];
        let b = image(&event);
        assert_eq!(
            Image::parse(&b).unwrap().records().next(),
            Some(Ok(event[0]))
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let sq = [1u8; 100];
        let recs = sample(&sq, &sq, &sq);
        let bytes = image(&recs);
        for n in 0..bytes.len() {
            assert!(Image::parse(&bytes[..n]).is_err(), "cut at {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Image::parse(&longer).unwrap_err(), ImageError::BadLength);
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let sq = [1u8; 40];
        let recs = sample(&sq, &sq, &sq);
        let bytes = image(&recs);
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(Image::parse(&b).is_err(), "bit {i}");
        }
    }

    /// Rewrites a header field and seals the image again, as a writer of
    /// another version (or a forger who knows the CRC) would.
    fn resealed(bytes: &[u8], at: usize, v: &[u8]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[at..at + v.len()].copy_from_slice(v);
        seal(&mut b);
        b
    }

    #[test]
    fn other_versions_kinds_and_shapes_are_refused() {
        let sq = [1u8; 16];
        let recs = sample(&sq, &sq, &sq);
        let bytes = image(&recs);
        let parse = |b: &[u8]| Image::parse(b).unwrap_err();
        assert_eq!(
            parse(&resealed(&bytes, 8, &(VERSION + 1).to_le_bytes())),
            ImageError::UnknownVersion(VERSION + 1)
        );
        assert_eq!(parse(&resealed(&bytes, 0, b"X")), ImageError::BadMagic);
        assert_eq!(
            parse(&resealed(&bytes, 16, &7u32.to_le_bytes())),
            ImageError::BadCount
        );
        // The PD record, after the context's (24 bytes).
        let first = HEADER_BYTES + 24;
        assert_eq!(
            parse(&resealed(&bytes, first, &12u16.to_le_bytes())),
            ImageError::UnknownKind(12)
        );
        assert_eq!(
            parse(&resealed(&bytes, first + 2, &2u16.to_le_bytes())),
            ImageError::UnknownRecordVersion {
                kind: Kind::Pd,
                version: 2
            }
        );
        // A PD record that takes in the next record's header.
        assert_eq!(
            parse(&resealed(&bytes, first + 4, &24u32.to_le_bytes())),
            ImageError::BadRecord(Kind::Pd)
        );
        // Reserved bytes must be zero.
        assert_eq!(
            parse(&resealed(&bytes, first + 12, &[1])),
            ImageError::BadRecord(Kind::Pd)
        );
        // A ring that claims more than its record holds.
        let cq = first + 16 + 56;
        let ring_len = cq + 8 + 40 + 8;
        assert_eq!(
            parse(&resealed(&bytes, ring_len, &1000u32.to_le_bytes())),
            ImageError::BadRecord(Kind::Cq)
        );
        let huge = resealed(&bytes, 12, &(MAX_IMAGE_BYTES as u32 + 8).to_le_bytes());
        assert_eq!(parse(&huge), ImageError::BadLength);
    }
}
