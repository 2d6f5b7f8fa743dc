// SPDX-License-Identifier: GPL-2.0

//! A simulated host for the QP engine ([`Engine`](super::engine::Engine)):
//! an [`Io`] over byte vectors, for the host's tests and fuzzers, never the
//! kernel (`rxe_migros/proto.rs` does not list it; it needs `std`).
//!
//! - librxe's send and receive rings, laid out as librxe lays them out;
//! - one MR over the process's memory, by key [`MR_KEY`] at [`MR_BASE`],
//!   and the memory windows a test allocates on it ([`Host::alloc_mw`]);
//! - packets built whole and sealed (IP and UDP headers, ICRC), collected
//!   in [`Host::out`] for the caller to carry;
//! - completions collected in [`Host::completions`], counters in
//!   [`Host::counts`], asynchronous events in [`Host::events`];
//! - one AH, [`AH_NUM`], to [`Host::peer`] from the host's address, and
//!   the device's table of UD peers that moved.

use super::engine::{
    self, AtomicOp, Av, Completion, Config, Count, Fault, Io, MrError, Need, Path, QpEvent, Queue,
    SentWqe, Storage, TxError,
};
use super::fastreg::{FastMr, MapError, Reg, RegError};
use super::hdr::{Bth, Extensions};
use super::moves;
use super::mw::{self, Bind, MrFacts, MwError, MwType, QpId, Window};
use super::queue::{Ring, CONSUMER_OFFSET, PRODUCER_OFFSET};
use super::req::Service;
use super::wqe::Sge;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::vec::Vec;

/// The MR over all of a host's memory: its key (lkey and rkey), and its
/// address.
pub const MR_KEY: u32 = 0x0000_0105;
pub const MR_BASE: u64 = 0x7f00_0000_0000;
/// The number of the one AH a host has.
pub const AH_NUM: u32 = 1;
/// The host's one PD, and its QP as a window knows it.
const PD: usize = 1;
const QP: QpId = QpId { qpn: 17, serial: 1 };
/// The index of a host's first memory window's key (the C rxe's
/// RXE_MIN_MW_INDEX).
const FIRST_MW_INDEX: u32 = 0x8_0001;
/// Where the host's fast-registration MRs' indices begin (below the
/// windows', as the kernel's MRs are).
const FIRST_FAST_INDEX: u32 = 0x4_0000;

/// What a simulated host keeps for an engine.
pub struct Sim;

#[derive(Default)]
pub struct Buf(pub Vec<u8>);

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for Buf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl engine::Bytes for Buf {
    fn append(&mut self, parts: &[&[u8]]) -> bool {
        for p in parts {
            self.0.extend_from_slice(p);
        }
        true
    }
}

impl Storage for Sim {
    /// An MR by its key: the host's one, or a fast-registration MR.
    type Mr = u32;
    type Sent = Vec<SentWqe>;
    type Bytes = Buf;

    fn key(k: &u32) -> u32 {
        *k
    }
}

/// The process's memory: its rings and its MR's bytes. A migration carries
/// it along.
pub struct Memory {
    pub sq: Vec<u8>,
    pub rq: Vec<u8>,
    pub buf: Vec<u8>,
}

/// A side's host: its memory, the address it has now, and what its engine
/// sent and completed.
pub struct Host {
    pub mem: RefCell<Memory>,
    pub sq: Ring,
    pub rq: Ring,
    pub addr: [u8; 16],
    /// Where its one AH (a UD QP's) sends: the partner's first address.
    pub peer: [u8; 16],
    /// The device's table of UD peers that moved.
    pub moves: RefCell<moves::Table>,
    /// UD datagrams for it that arrived where it no longer is.
    pub lost: RefCell<Vec<u32>>,
    pub out: RefCell<Vec<Vec<u8>>>,
    pub completions: RefCell<Vec<(Queue, Completion)>>,
    pub counts: RefCell<[u64; 32]>,
    /// Warnings the engine logged.
    pub warnings: RefCell<u32>,
    /// The QP's asynchronous events, in order.
    pub events: RefCell<Vec<QpEvent>>,
    /// The shared receive queue its QP takes from, of `rq`'s shape, if it
    /// is on one (its config's `srq`); other hosts' QPs may share it.
    pub srq: Option<Rc<RefCell<Vec<u8>>>>,
    /// The bound on waiting for a partner, in ms (the module's
    /// `pause_timeout_s`; 60 s unless a test sets it).
    pub wait_limit_ms: Cell<u64>,
    /// The state of its random numbers (splitmix64), seeded by address.
    pub seed: Cell<u64>,
    /// The device's UD tokens, and the announcements it refused.
    pub verifier: moves::Verifier,
    pub refused_moves: Cell<u64>,
    /// Its memory windows, by index from [`FIRST_MW_INDEX`].
    pub windows: RefCell<Vec<Window>>,
    /// Its fast-registration MRs (a kernel consumer's), by index from
    /// [`FIRST_FAST_INDEX`], each with the offsets in `buf` of its pages.
    pub fast: RefCell<Vec<(FastMr, Vec<usize>)>>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes the next slot of librxe ring `b` (of shape `ring`) with `write`,
/// then moves its producer on, as librxe posts.
fn produce(ring: Ring, b: &mut [u8], write: impl FnOnce(&mut [u8])) {
    let p = le32(b, PRODUCER_OFFSET);
    assert!(!ring.is_full(p, le32(b, CONSUMER_OFFSET)), "ring full");
    let at = ring.offset(p);
    write(&mut b[at..at + ring.slot_bytes()]);
    b[PRODUCER_OFFSET..PRODUCER_OFFSET + 4].copy_from_slice(&ring.next(p).to_le_bytes());
}

impl Host {
    /// A host at `addr` with rings of shapes `sq` and `rq`, empty, and
    /// `memory` under its MR; its AH sends to `peer`.
    pub fn new(sq: Ring, rq: Ring, memory: Vec<u8>, addr: [u8; 16], peer: [u8; 16]) -> Host {
        Host {
            mem: RefCell::new(Memory {
                sq: ring_bytes(&sq),
                rq: ring_bytes(&rq),
                buf: memory,
            }),
            sq,
            rq,
            addr,
            peer,
            moves: RefCell::new(moves::Table::new()),
            lost: RefCell::new(Vec::new()),
            seed: Cell::new(u64::from_le_bytes(addr[8..].try_into().unwrap_or([7; 8]))),
            verifier: moves::Verifier::new([addr[15] ^ 0x5a; 16]),
            refused_moves: Cell::new(0),
            out: RefCell::new(Vec::new()),
            completions: RefCell::new(Vec::new()),
            counts: RefCell::new([0; 32]),
            warnings: RefCell::new(0),
            events: RefCell::new(Vec::new()),
            wait_limit_ms: Cell::new(60_000),
            srq: None,
            windows: RefCell::new(Vec::new()),
            fast: RefCell::new(Vec::new()),
        }
    }

    /// A new fast-registration MR of up to `max_pages` pages; its key.
    pub fn alloc_fast_mr(&self, max_pages: u32) -> u32 {
        let mut f = self.fast.borrow_mut();
        let key = (FIRST_FAST_INDEX + f.len() as u32) << 8;
        f.push((FastMr::new(PD, key, max_pages), Vec::new()));
        key
    }

    /// `ib_map_mr_sg` of the MR `key` names: pages of `page_size` at
    /// offsets `pages` of the host's memory, the first byte mapped at
    /// `iova`.
    pub fn map_fast_mr(
        &self,
        key: u32,
        page_size: u32,
        pages: &[usize],
        iova: u64,
    ) -> Result<(), MapError> {
        self.fast_mr(key, |(mr, list)| {
            mr.begin_map(page_size)?;
            list.clear();
            for &p in pages {
                mr.add_page()?;
                list.push(p);
            }
            mr.end_map(iova);
            Ok(())
        })
        .unwrap_or(Err(MapError::Full))
    }

    /// The fast-registration MR `key`'s index names, to use with `f`.
    fn fast_mr<R>(&self, key: u32, f: impl FnOnce(&mut (FastMr, Vec<usize>)) -> R) -> Option<R> {
        let i = (key >> 8).checked_sub(FIRST_FAST_INDEX)?;
        self.fast.borrow_mut().get_mut(i as usize).map(f)
    }

    /// Where `len` bytes at offset `at` of a fast MR's registration lie
    /// in the host's memory, a piece per page.
    fn fast_pieces(&self, key: u32, at: usize, len: usize) -> Option<Vec<(usize, usize)>> {
        self.fast_mr(key, |(mr, list)| {
            let mut out = Vec::new();
            let (mut at, mut left) = (at as u64, len as u64);
            while left > 0 {
                let (page, inside, room) = mr.locate(at)?;
                let n = room.min(left);
                out.push((*list.get(page)? + inside as usize, n as usize));
                at += n;
                left -= n;
            }
            Some(out)
        })
        .flatten()
    }

    /// A new memory window of `ty` on the host's MR; its rkey.
    pub fn alloc_mw(&self, ty: MwType) -> u32 {
        let mut w = self.windows.borrow_mut();
        let rkey = (FIRST_MW_INDEX + w.len() as u32) << 8;
        w.push(Window::new(ty, PD, rkey));
        rkey
    }

    /// The window `rkey`'s index names, to change with `f`.
    fn window<R>(&self, rkey: u32, f: impl FnOnce(&mut Window) -> R) -> Option<R> {
        let i = (rkey >> 8).checked_sub(FIRST_MW_INDEX)?;
        self.windows.borrow_mut().get_mut(i as usize).map(f)
    }

    /// Posts a receive request into the shared receive queue (which the
    /// host must have), as librxe's post_srq_recv does.
    pub fn post_shared(&self, write: impl FnOnce(&mut [u8])) {
        if let Some(srq) = &self.srq {
            produce(self.rq, &mut srq.borrow_mut(), write);
        }
    }

    fn ring(&self, q: Queue) -> (Ring, std::cell::RefMut<'_, Vec<u8>>) {
        let m = self.mem.borrow_mut();
        match q {
            Queue::Send => (self.sq, std::cell::RefMut::map(m, |m| &mut m.sq)),
            Queue::Recv => (self.rq, std::cell::RefMut::map(m, |m| &mut m.rq)),
        }
    }

    /// Posts `slot` to `q` as librxe does.
    pub fn post(&self, q: Queue, write: impl FnOnce(&mut [u8])) {
        let (ring, mut b) = self.ring(q);
        produce(ring, &mut b, write);
    }

    /// Whether `q` has no room for another request.
    pub fn is_full(&self, q: Queue) -> bool {
        let (ring, b) = self.ring(q);
        ring.is_full(le32(&b, PRODUCER_OFFSET), le32(&b, CONSUMER_OFFSET))
    }

    pub fn count(&self, c: Count) -> u64 {
        self.counts.borrow()[c as usize]
    }
}

impl Io for Host {
    type S = Sim;

    fn producer(&self, q: Queue) -> u32 {
        let (ring, b) = self.ring(q);
        le32(&b, PRODUCER_OFFSET) & ring.capacity()
    }

    fn read_slot(&self, q: Queue, index: u32, out: &mut [u8]) -> Result<(), Fault> {
        let (ring, b) = self.ring(q);
        let n = out.len().min(ring.slot_bytes());
        let at = ring.offset(index);
        out[..n].copy_from_slice(&b[at..at + n]);
        Ok(())
    }

    fn set_consumer(&self, q: Queue, index: u32) {
        let (_, mut b) = self.ring(q);
        b[CONSUMER_OFFSET..CONSUMER_OFFSET + 4].copy_from_slice(&index.to_le_bytes());
    }

    fn take_shared(&self, out: &mut [u8]) -> bool {
        let Some(srq) = &self.srq else {
            return false;
        };
        let mut b = srq.borrow_mut();
        let ring = self.rq;
        let c = le32(&b, CONSUMER_OFFSET) & ring.capacity();
        if c == le32(&b, PRODUCER_OFFSET) & ring.capacity() {
            return false;
        }
        let n = out.len().min(ring.slot_bytes());
        let at = ring.offset(c);
        out[..n].copy_from_slice(&b[at..at + n]);
        b[CONSUMER_OFFSET..CONSUMER_OFFSET + 4].copy_from_slice(&ring.next(c).to_le_bytes());
        true
    }

    fn lookup(&self, key: u32, need: Need, addr: u64, len: u32) -> Result<(u32, usize), MrError> {
        if key >> 8 >= FIRST_FAST_INDEX && key >> 8 < FIRST_MW_INDEX {
            let access = match need {
                Need::RemoteWrite => mw::access::REMOTE_WRITE,
                Need::RemoteRead => mw::access::REMOTE_READ,
                Need::LocalWrite => mw::access::LOCAL_WRITE,
                Need::LocalRead => 0,
                _ => return Err(MrError::Access),
            };
            let (iova, length) = self
                .fast_mr(key, |(mr, _)| mr.grants(key, PD, access))
                .unwrap_or(Err(MrError::BadKey))?;
            let off = addr.checked_sub(iova).ok_or(MrError::Bounds)?;
            if off + u64::from(len) > length {
                return Err(MrError::Bounds);
            }
            return Ok((key, off as usize));
        }
        if key != MR_KEY {
            let access = match need {
                Need::RemoteWrite => mw::access::REMOTE_WRITE,
                Need::RemoteRead => mw::access::REMOTE_READ,
                Need::RemoteAtomic => mw::access::REMOTE_ATOMIC,
                Need::RemoteFlush | Need::RemoteFlushMr => mw::access::FLUSH_GLOBAL,
                Need::LocalRead | Need::LocalWrite => return Err(MrError::BadKey),
            };
            let (_, off) = self
                .window(key, |w| w.translate(key, QP, PD, access, addr, len))
                .flatten()
                .ok_or(MrError::BadKey)?;
            return Ok((MR_KEY, off as usize));
        }
        if need == Need::RemoteFlushMr {
            return Ok((MR_KEY, 0));
        }
        let off = addr.checked_sub(MR_BASE).ok_or(MrError::Bounds)?;
        if off + u64::from(len) > self.mem.borrow().buf.len() as u64 {
            return Err(MrError::Bounds);
        }
        Ok((MR_KEY, off as usize))
    }

    fn read(&self, key: &u32, at: usize, out: &mut [u8]) -> Result<(), Fault> {
        if *key != MR_KEY {
            let pieces = self.fast_pieces(*key, at, out.len()).ok_or(Fault)?;
            let m = self.mem.borrow();
            let mut done = 0;
            for (from, n) in pieces {
                out[done..done + n].copy_from_slice(m.buf.get(from..from + n).ok_or(Fault)?);
                done += n;
            }
            return Ok(());
        }
        let m = self.mem.borrow();
        out.copy_from_slice(m.buf.get(at..at + out.len()).ok_or(Fault)?);
        Ok(())
    }

    unsafe fn write(&self, key: &u32, at: usize, data: &[u8]) -> Result<(), Fault> {
        if *key != MR_KEY {
            let pieces = self.fast_pieces(*key, at, data.len()).ok_or(Fault)?;
            let mut m = self.mem.borrow_mut();
            let mut done = 0;
            for (to, n) in pieces {
                m.buf
                    .get_mut(to..to + n)
                    .ok_or(Fault)?
                    .copy_from_slice(&data[done..done + n]);
                done += n;
            }
            return Ok(());
        }
        let mut m = self.mem.borrow_mut();
        m.buf
            .get_mut(at..at + data.len())
            .ok_or(Fault)?
            .copy_from_slice(data);
        Ok(())
    }

    unsafe fn atomic(&self, key: &u32, at: usize, op: AtomicOp) -> Result<u64, Fault> {
        if *key != MR_KEY {
            return Err(Fault);
        }
        let mut m = self.mem.borrow_mut();
        let b = m.buf.get_mut(at..at + 8).ok_or(Fault)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        let old = u64::from_ne_bytes(v);
        b.copy_from_slice(&op.apply(old).to_ne_bytes());
        Ok(old)
    }

    fn bind_mw(&self, b: &Bind) -> Result<(), MwError> {
        let mr = MrFacts {
            pd: PD,
            access: mw::access::SUPPORTED & !mw::access::ZERO_BASED,
            iova: MR_BASE,
            length: self.mem.borrow().buf.len() as u64,
        };
        let mr = (b.mr_lkey == MR_KEY).then_some(&mr);
        self.window(b.mw_rkey, |w| w.bind(b, QP, PD, mr).map(|_| ()))
            .unwrap_or(Err(MwError::BadKey))
    }

    fn invalidate(&self, rkey: u32, remote: bool) -> Result<(), MwError> {
        // The host's MR is not fast-registered: it never goes.
        if let Some(r) = self.fast_mr(rkey, |(mr, _)| mr.invalidate(rkey, PD, remote)) {
            return r;
        }
        self.window(rkey, |w| w.invalidate(rkey, QP, PD, remote).map(|_| ()))
            .unwrap_or(Err(MwError::BadKey))
    }

    fn reg_mr(&self, r: &Reg) -> Result<(), RegError> {
        self.fast_mr(r.mr_key, |(mr, _)| mr.register(r, PD))
            .unwrap_or(Err(RegError::BadKey))
    }

    fn transmit(
        &self,
        path: &Path,
        bth: Bth,
        ext: &Extensions,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), TxError>,
    ) -> Result<(), TxError> {
        assert_eq!(path.av.sgid, self.addr, "sent from an address not ours");
        let total = path.packet_len(bth.opcode, len).ok_or(TxError::Invalid)?;
        let mut buf = std::vec![0u8; total];
        path.write_packet(bth, ext, len, &mut buf, fill)
            .map_err(|e| e.unwrap_or(TxError::Invalid))?;
        self.out.borrow_mut().push(buf);
        Ok(())
    }

    fn complete(&self, q: Queue, wc: &Completion, _: bool) {
        self.completions.borrow_mut().push((q, *wc));
    }

    fn ah(&self, num: u32) -> Option<Av> {
        (num == AH_NUM).then_some(Av {
            dgid: self.peer,
            sgid: self.addr,
            hop_limit: 64,
            ..Av::default()
        })
    }

    fn kernel_av(&self, _: u32) -> Option<Av> {
        None
    }

    fn moved(&self, gid: &[u8; 16], qpn: u32) -> Option<[u8; 16]> {
        self.moves.borrow().lookup(gid, qpn)
    }

    fn count(&self, c: Count, n: u64) {
        self.counts.borrow_mut()[c as usize] += n;
    }

    fn count_first(&self, c: Count) -> bool {
        let mut counts = self.counts.borrow_mut();
        counts[c as usize] += 1;
        counts[c as usize] == 1
    }

    fn log(&self, _: core::fmt::Arguments<'_>) {}

    fn warn(&self, _: core::fmt::Arguments<'_>) {
        *self.warnings.borrow_mut() += 1;
    }

    fn wait_limit_ms(&self) -> u64 {
        self.wait_limit_ms.get()
    }

    fn event(&self, e: QpEvent) {
        self.events.borrow_mut().push(e);
    }

    fn ud_token_request(&self, d: &super::roce::Datagram<'_>) {
        // Simulated time stays within one epoch.
        if let Ok(g) = moves::grant(d, &self.verifier, 0) {
            let _ = self.transmit(&g.path, g.bth, &g.ext, g.payload.len(), |b| {
                b.copy_from_slice(&g.payload);
                Ok(())
            });
        }
    }

    fn random(&self) -> u64 {
        let s = self.seed.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.seed.set(s);
        let z = (s ^ (s >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A QP's configuration as the simulations make them: every send
/// signalled, one SGE, no inline data.
pub fn config(qpn: u32, service: Service, sq: Ring, rq: Ring) -> Config {
    Config {
        qpn,
        service,
        sq_sig_all: true,
        max_send_sge: 1,
        max_recv_sge: 1,
        max_inline: 0,
        sq,
        rq,
        srq: false,
        kernel: false,
    }
}

/// The storage a new engine for `cfg` needs.
pub fn storage(cfg: &Config) -> (Vec<SentWqe>, Buf) {
    let sent = std::vec![SentWqe::BLANK; cfg.sq.capacity() as usize + 1];
    (sent, Buf(std::vec![0u8; cfg.slot_room()]))
}

/// An empty librxe ring of `ring`'s shape.
pub fn ring_bytes(ring: &Ring) -> Vec<u8> {
    let mut b = std::vec![0u8; ring.bytes()];
    let (log2, mask) = ring.header();
    b[0..4].copy_from_slice(&log2.to_le_bytes());
    b[4..8].copy_from_slice(&mask.to_le_bytes());
    b
}

/// A scatter list entry for `len` bytes at offset `at` of the MR.
pub fn sge(at: usize, len: u32) -> Sge {
    Sge {
        addr: MR_BASE + at as u64,
        length: len,
        lkey: MR_KEY,
    }
}
