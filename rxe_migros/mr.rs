// SPDX-License-Identifier: GPL-2.0

//! Memory regions (the C rxe's rxe_mr.c and rxe_odp.c): the DMA MR of
//! kernel users, their fast-registration MRs, and process memory, pinned
//! for RDMA or paged on demand (ODP).
//!
//! A key is the MR's index in the device's pool, shifted left by eight,
//! and an eight-bit tag, as the C rxe builds them; lkey and rkey are the
//! same. The transport finds an MR by key ([`lookup`]), checks the access
//! a request needs, and copies through it.

use crate::context::{self, Listing, Object};
use crate::param::{MAX_MR_INDEX, MIN_MR_INDEX};
use crate::proto::engine::AtomicOp;
use crate::proto::fastreg::{self, FastMr, MapError, Reg, RegError};
use crate::proto::image;
use crate::proto::mw::{MrFacts, MwError};
use crate::rdma::access::Access;
use crate::rdma::device::{Device, MrChange, Prefetch, Sge};
use crate::rdma::kmem::{KernelMemory, MappedPage};
use crate::rdma::process::Process;
use crate::rdma::qp::PdId;
use crate::rdma::umem::{Umem, UserMemory};
use crate::rdma::umem_odp::OdpUmem;
use crate::rdma::uobject::Owner;
use crate::Rxe;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Full, Relaxed};
use kernel::sync::{Arc, SetOnce, SpinLock};

/// Access flags a software device honours (the C rxe's
/// RXE_ACCESS_SUPPORTED_MR).
const SUPPORTED_ACCESS: Access = Access::LOCAL_WRITE
    .union(Access::ON_DEMAND)
    .union(Access::REMOTE_WRITE)
    .union(Access::REMOTE_READ)
    .union(Access::REMOTE_ATOMIC)
    .union(Access::MW_BIND)
    .union(Access::FLUSH_GLOBAL)
    .union(Access::FLUSH_PERSISTENT)
    .union(Access::OPTIONAL);

/// What an MR covers.
enum Memory {
    /// All of memory, by kernel address (`ib_get_dma_mr`).
    Dma(KernelMemory),
    /// A kernel consumer's pages, as its last page map and REG_MR made
    /// them ([`fastreg`]).
    Fast(Pin<KBox<Fast>>),
    /// `len` bytes of a process's memory from `start`, which requests
    /// address from `iova`; pinned or paged on demand, except for an MR
    /// restored before the process's memory was in place, until it is
    /// adopted ([`MrInner::pin_in`]).
    User {
        umem: SetOnce<Pages>,
        start: u64,
        iova: u64,
        len: usize,
    },
}

/// A process's pages behind an MR.
enum Pages {
    /// Pinned when it was registered.
    Pinned(Umem),
    /// Faulted in as transfers touch them (`IB_ACCESS_ON_DEMAND`).
    OnDemand(OdpUmem),
}

impl Pages {
    /// Pins, or registers for paging on demand if `access` asks for it,
    /// `len` bytes at `start` of the calling task's address space.
    fn new(dev: &Device<Rxe>, start: u64, len: u64, access: i32) -> Result<Pages> {
        if Access::from_abi(access as u32).contains(Access::ON_DEMAND) {
            Ok(Pages::OnDemand(OdpUmem::register(dev, start, len, access)?))
        } else {
            Ok(Pages::Pinned(Umem::pin(dev, start, len, access)?))
        }
    }

    /// The memory, to copy to and from.
    fn memory(&self) -> &dyn UserMemory {
        match self {
            Pages::Pinned(u) => u,
            Pages::OnDemand(o) => o,
        }
    }
}

/// A fast-registration MR's state, under a lock: the requester of a QP
/// registers and invalidates it, a responder invalidates it for a
/// SEND_WITH_INV, and transfers through it read its page list.
#[pin_data]
struct Fast {
    #[pin]
    table: SpinLock<FastTable>,
}

struct FastTable {
    mr: FastMr,
    /// The pages of the list, as many slots as the MR was allocated for;
    /// [`FastMr`] knows how many are mapped.
    pages: KVVec<MappedPage>,
}

impl Fast {
    /// Calls `f` with each piece of the `len` bytes at offset `off` of the
    /// registration: its page, its offset there, and the range of the
    /// transfer it holds. EFAULT if the MR was invalidated, or mapped
    /// again, since the request was checked.
    fn pieces(
        &self,
        off: usize,
        len: usize,
        mut f: impl FnMut(&MappedPage, usize, core::ops::Range<usize>) -> Result,
    ) -> Result {
        let t = self.table.lock();
        if !t.mr.valid() {
            return Err(EFAULT);
        }
        let mut done = 0;
        while done < len {
            let (page, inside, room) = t.mr.locate((off + done) as u64).ok_or(EFAULT)?;
            let n = (room as usize).min(len - done);
            let page = t.pages.get(page).ok_or(EFAULT)?;
            f(page, inside as usize, done..done + n)?;
            done += n;
        }
        Ok(())
    }
}

/// What the device's pool, and the transport, hold of an MR.
pub(crate) struct MrInner {
    key: u32,
    /// Its PD and access, which `ibv_rereg_mr` may change while requests
    /// look the MR up: each is read whole, and a request that races a
    /// rereg sees the one or the other (as in the C rxe).
    pd: Atomic<usize>,
    access: Atomic<u32>,
    memory: Memory,
    /// Memory windows bound to it ([`crate::mw`]): it is not
    /// deregistered while there are any.
    pub(crate) windows: Atomic<u32>,
}

/// Why an MR refuses a request (the engine's reasons).
pub(crate) use crate::proto::engine::MrError;

/// The MR `key` names in `pd`, if it grants `access` over `len` bytes at
/// `addr`. Returns it with the offset of `addr` in it.
pub(crate) fn lookup(
    dev: &Device<Rxe>,
    pd: PdId,
    key: u32,
    access: Access,
    addr: u64,
    len: u32,
) -> core::result::Result<(Arc<MrInner>, usize), MrError> {
    let mr = dev.mrs.get(key >> 8).ok_or(MrError::BadKey)?;
    let (base, size) = mr.grants(pd, key, access)?;
    let off = addr.checked_sub(base).ok_or(MrError::Bounds)?;
    let end = off.checked_add(u64::from(len)).ok_or(MrError::Bounds)?;
    if end > size as u64 {
        return Err(MrError::Bounds);
    }
    Ok((mr, off as usize))
}

/// The MR `key` names in `pd`, if it grants `access`, with its size.
pub(crate) fn find(
    dev: &Device<Rxe>,
    pd: PdId,
    key: u32,
    access: Access,
) -> core::result::Result<(Arc<MrInner>, usize), MrError> {
    let mr = dev.mrs.get(key >> 8).ok_or(MrError::BadKey)?;
    let (_, size) = mr.grants(pd, key, access)?;
    Ok((mr, size))
}

/// `ibv_advise_mr`: faults in each range (an MR of `pd` paged on demand,
/// by lkey) for reading or writing, or maps what of it is present. Every
/// key and range is checked first: EINVAL for one that names no such MR
/// or lies outside it, EPERM for a write prefetch without local write
/// access. Without `flush` a failed fault is no error: the advice is a
/// hint, and the transfer faults the page in itself. A restored MR not
/// adopted yet has nothing to fault into, and is skipped.
pub(crate) fn advise(
    dev: &Device<Rxe>,
    pd: PdId,
    advice: Prefetch,
    flush: bool,
    sges: &[Sge],
) -> Result {
    let need = match advice {
        Prefetch::Write => Access::LOCAL_WRITE,
        Prefetch::Read | Prefetch::Present => Access::LOCAL_READ,
    };
    let mut ranges = KVec::with_capacity(sges.len(), GFP_KERNEL)?;
    for s in sges {
        let (mr, off) = lookup(dev, pd, s.lkey, need, s.addr, s.length).map_err(|e| match e {
            MrError::Access => EPERM,
            _ => EINVAL,
        })?;
        if !mr.access().contains(Access::ON_DEMAND) {
            return Err(EINVAL);
        }
        ranges.push((mr, off, s.length as usize), GFP_KERNEL)?;
    }
    for (mr, off, len) in ranges {
        let Memory::User { umem, .. } = &mr.memory else {
            continue;
        };
        let Some(Pages::OnDemand(odp)) = umem.as_ref() else {
            continue;
        };
        let done = odp.prefetch(
            off,
            len,
            advice == Prefetch::Write,
            advice != Prefetch::Present,
        );
        if flush {
            done?;
        }
    }
    Ok(())
}

/// The requester of a QP of `pd` carries out a kernel consumer's REG_MR.
pub(crate) fn register(dev: &Device<Rxe>, pd: PdId, r: &Reg) -> Result<(), RegError> {
    let mr = dev.mrs.get(r.mr_key >> 8).ok_or(RegError::BadKey)?;
    let fast = mr.fast().ok_or(RegError::BadKey)?;
    let res = fast.table.lock().mr.register(r, pd.to_raw());
    res
}

/// A QP of `pd` invalidates the MR `key` names: its own LOCAL_INV, or
/// (`remote`) a SEND_WITH_INV that came to it. Only a fast-registration
/// MR is invalidated (as in the C rxe).
pub(crate) fn invalidate(
    dev: &Device<Rxe>,
    pd: PdId,
    key: u32,
    remote: bool,
) -> Result<(), MwError> {
    let mr = dev.mrs.get(key >> 8).ok_or(MwError::BadKey)?;
    let fast = mr.fast().ok_or(MwError::BadKey)?;
    let res = fast.table.lock().mr.invalidate(key, pd.to_raw(), remote);
    res
}

/// The MR a restored QP was receiving a WRITE into: `key` in `pd`, with
/// room for the `left` bytes still to come at offset `at`.
pub(crate) fn write_target(
    dev: &Device<Rxe>,
    pd: PdId,
    key: u32,
    at: usize,
    left: u32,
) -> core::result::Result<Arc<MrInner>, MrError> {
    let (mr, size) = find(dev, pd, key, Access::REMOTE_WRITE)?;
    match at.checked_add(left as usize) {
        Some(end) if end <= size => Ok(mr),
        _ => Err(MrError::Bounds),
    }
}

impl MrInner {
    /// The lkey, which is also the rkey (a fast-registration MR's as it
    /// was allocated).
    pub(crate) fn key(&self) -> u32 {
        self.key
    }

    /// Its fast-registration state, for an MR of `ib_alloc_mr`.
    fn fast(&self) -> Option<&Fast> {
        match &self.memory {
            Memory::Fast(f) => Some(f),
            _ => None,
        }
    }

    /// Whether `key` names the MR in `pd` with `access`: then where its
    /// addresses begin and how many bytes it has.
    fn grants(
        &self,
        pd: PdId,
        key: u32,
        access: Access,
    ) -> core::result::Result<(u64, usize), MrError> {
        if let Some(fast) = self.fast() {
            let (iova, len) = fast
                .table
                .lock()
                .mr
                .grants(key, pd.to_raw(), access.bits())?;
            return Ok((iova, usize::try_from(len).map_err(|_| MrError::Bounds)?));
        }
        if self.key != key || self.pd() != pd {
            return Err(MrError::BadKey);
        }
        if !self.access().contains(access) {
            return Err(MrError::Access);
        }
        Ok(match &self.memory {
            Memory::User { iova, len, .. } => (*iova, *len),
            // Offsets in the DMA MR are kernel addresses.
            Memory::Dma(_) | Memory::Fast(..) => (0, usize::MAX),
        })
    }

    /// What a checkpoint keeps of a process's MR, with the handles of
    /// the MR and its PD; `None` for a DMA MR.
    pub(crate) fn image(&self, handle: u32, pd: u32) -> Option<image::Mr> {
        let Memory::User {
            start, iova, len, ..
        } = &self.memory
        else {
            return None;
        };
        Some(image::Mr {
            handle,
            pd,
            access: self.access().bits(),
            lkey: self.key,
            rkey: self.key,
            start: *start,
            iova: *iova,
            length: *len as u64,
        })
    }

    pub(crate) fn pd(&self) -> PdId {
        PdId::from_raw(self.pd.load(Relaxed))
    }

    /// What a memory window's bind checks of a process's MR; `None` for
    /// the DMA MR, which has no windows.
    pub(crate) fn facts(&self) -> Option<MrFacts> {
        let Memory::User { iova, len, .. } = &self.memory else {
            return None;
        };
        Some(MrFacts {
            pd: self.pd().to_raw(),
            access: self.access().bits(),
            iova: *iova,
            length: *len as u64,
        })
    }

    fn access(&self) -> Access {
        Access::from_abi(self.access.load(Relaxed))
    }

    /// Copies out of the MR at offset `off` (checked by [`lookup`]); EFAULT
    /// for a restored MR not pinned yet.
    pub(crate) fn read(&self, off: usize, out: &mut [u8]) -> Result {
        match &self.memory {
            Memory::User { umem, .. } => umem.as_ref().ok_or(EFAULT)?.memory().read(off, out),
            Memory::Dma(k) => k.read(off as u64, out),
            Memory::Fast(fast) => {
                fast.pieces(off, out.len(), |page, at, r| page.read(at, &mut out[r]))
            }
        }
    }

    /// Copies into the MR at offset `off`. A user MR checks the range
    /// itself; the DMA MR (all of kernel memory) can not.
    ///
    /// # Safety
    ///
    /// `off..off + data.len()` must lie in a range [`lookup`] granted on
    /// this MR for a transfer that writes (local or remote write access).
    pub(crate) unsafe fn write(&self, off: usize, data: &[u8]) -> Result {
        match &self.memory {
            Memory::User { umem, .. } => umem.as_ref().ok_or(EFAULT)?.memory().write(off, data),
            // SAFETY: per the caller, the DMA MR granted write access to
            // this range: a kernel consumer's own buffer, or its PD opened
            // to remote writes (see `KernelMemory::write`).
            Memory::Dma(k) => unsafe { k.write(off as u64, data) },
            Memory::Fast(fast) => {
                fast.pieces(off, data.len(), |page, at, r| page.write(at, &data[r]))
            }
        }
    }

    /// Carries out `op` on the eight bytes at offset `off` (checked by
    /// [`lookup`] for remote atomic access) as one atomic step, and returns
    /// what they held. EFAULT for a restored MR not pinned yet, and for the
    /// DMA MR: no kernel consumer asks a remote peer for atomics on its
    /// memory, and we do not offer it.
    pub(crate) fn atomic(&self, off: usize, op: AtomicOp) -> Result<u64> {
        let Memory::User { umem, .. } = &self.memory else {
            return Err(EFAULT);
        };
        let memory = umem.as_ref().ok_or(EFAULT)?.memory();
        memory.atomic(off, &mut |v| match op {
            AtomicOp::CompareSwap { compare, swap } => match v.cmpxchg(compare, swap, Full) {
                Ok(old) | Err(old) => old,
            },
            AtomicOp::FetchAdd { add } => v.fetch_add(add, Full),
            AtomicOp::Write { value } => v.xchg(value, Full),
        })
    }

    /// Pins a restored MR's memory in `process`, now that it is in place
    /// there, or registers it for paging on demand there. Returns whether
    /// it was waiting to be; EFAULT (with one log line) if the memory is
    /// not mapped as the MR needs.
    pub(crate) fn pin_in(&self, dev: &Device<Rxe>, process: &Process) -> Result<bool> {
        let Memory::User {
            umem, start, len, ..
        } = &self.memory
        else {
            return Ok(false);
        };
        if umem.as_ref().is_some() {
            return Ok(false);
        }
        let (start, len, access) = (*start, *len as u64, self.access().bits() as i32);
        let handle = dev.handle();
        // SAFETY: `in_address_space` returns only once the worker is done
        // with it, and `dev` is alive until then.
        let pin = move || Pages::new(unsafe { handle.get::<Rxe>() }, start, len, access);
        let mut pinned = process.in_address_space(pin)?.inspect_err(|e| {
            pr_info!(
                "restore: MR {:#x}: {} bytes at {:#x} cannot be pinned: {:?}\n",
                self.key,
                len,
                start,
                e
            )
        })?;
        // Its faults are the process's, not the worker's.
        if let Pages::OnDemand(odp) = &mut pinned {
            odp.belongs_to(process);
        }
        // Adoption is serialised by its caller; a lost race keeps the first.
        umem.populate(pinned);
        Ok(true)
    }
}

/// A memory region.
pub(crate) struct Mr {
    inner: Arc<MrInner>,
    _listing: Option<Listing>,
}

impl Mr {
    fn new(
        dev: &Device<Rxe>,
        pd: PdId,
        access: Access,
        memory: impl FnOnce(u32) -> Result<Memory>,
        owner: Option<&Owner<'_, Rxe>>,
        restored_key: Option<u32>,
    ) -> Result<(Mr, u32, u32)> {
        // `memory` gets the MR's key.
        let make = |index: u32, tag: u32| {
            let key = index << 8 | tag;
            Ok(Arc::new(
                MrInner {
                    key,
                    pd: Atomic::new(pd.to_raw()),
                    access: Atomic::new(access.bits()),
                    memory: memory(key)?,
                    windows: Atomic::new(0),
                },
                GFP_KERNEL,
            )?)
        };
        let inner = match restored_key {
            Some(key) => dev.mrs.add_at(key >> 8, |index| make(index, key & 0xff))?,
            None => dev.mrs.add(|index| {
                let tag = dev.next_key_tag.fetch_add(1, Relaxed) & 0xff;
                make(index, tag)
            })?,
        };
        let key = inner.key;
        let listing = match owner {
            Some(o) => context::list(o, Object::Mr(inner.clone())).inspect_err(|_| {
                dev.mrs.remove(key >> 8);
            })?,
            None => None,
        };
        Ok((
            Mr {
                inner,
                _listing: listing,
            },
            key,
            key,
        ))
    }

    /// `ib_alloc_mr`: a fast-registration MR of a kernel consumer's `pd`,
    /// free, for page lists of up to `max_pages` (EINVAL for more than
    /// [`fastreg::MAX_PAGES`]).
    pub(crate) fn fast(dev: &Device<Rxe>, pd: PdId, max_pages: u32) -> Result<(Mr, u32, u32)> {
        if max_pages > fastreg::MAX_PAGES {
            return Err(EINVAL);
        }
        let mut pages = KVVec::with_capacity(max_pages as usize, GFP_KERNEL)?;
        for _ in 0..max_pages {
            pages.push(MappedPage::NONE, GFP_KERNEL)?;
        }
        let memory = |key| {
            let fast = KBox::pin_init(
                pin_init!(Fast {
                    table <- new_spinlock!(FastTable {
                        mr: FastMr::new(pd.to_raw(), key, max_pages),
                        pages,
                    }),
                }),
                GFP_KERNEL,
            )?;
            Ok(Memory::Fast(fast))
        };
        // No access of its own: a registration grants it.
        Mr::new(dev, pd, Access::empty(), memory, None, None)
    }

    /// `ib_map_mr_sg` begins (see [`FastMr::begin_map`]).
    pub(crate) fn map_begin(&self, page_size: u32) -> Result {
        let fast = self.inner.fast().ok_or(EINVAL)?;
        let res = fast.table.lock().mr.begin_map(page_size);
        res.map_err(|_| EINVAL)
    }

    /// The next page of the list; ENOMEM when the list is full (the core
    /// then maps fewer entries than asked).
    pub(crate) fn map_page(&self, page: MappedPage) -> Result {
        let fast = self.inner.fast().ok_or(EINVAL)?;
        let mut t = fast.table.lock();
        match t.mr.add_page() {
            Ok(i) => {
                *t.pages.get_mut(i).ok_or(ENOMEM)? = page;
                Ok(())
            }
            Err(MapError::Full) => Err(ENOMEM),
            Err(MapError::PageSize) => Err(EINVAL),
        }
    }

    /// The page list is done; it begins at `iova`.
    pub(crate) fn map_end(&self, iova: u64) {
        if let Some(fast) = self.inner.fast() {
            fast.table.lock().mr.end_map(iova);
        }
    }

    pub(crate) fn dma(
        dev: &Device<Rxe>,
        pd: PdId,
        access: i32,
        memory: KernelMemory,
    ) -> Result<(Mr, u32, u32)> {
        Mr::new(
            dev,
            pd,
            Access::from_abi(access as u32),
            |_| Ok(Memory::Dma(memory)),
            None,
            None,
        )
    }

    pub(crate) fn user(
        dev: &Device<Rxe>,
        pd: PdId,
        start: u64,
        len: u64,
        iova: u64,
        access: i32,
        owner: &Owner<'_, Rxe>,
        image: Option<&image::Mr>,
    ) -> Result<(Mr, u32, u32)> {
        let asked = Access::from_abi(access as u32);
        if !asked.within(SUPPORTED_ACCESS) {
            return Err(EOPNOTSUPP);
        }
        // Implicit ODP (all of the address space, start 0 and length
        // u64::MAX) is not offered, as in the C rxe.
        if asked.contains(Access::ON_DEMAND) && start == 0 && len == u64::MAX {
            return Err(EOPNOTSUPP);
        }
        // A restored MR covers the same memory, the same way: the process
        // is where it was.
        if let Some(m) = image {
            if (m.start, m.length, m.iova, m.access) != (start, len, iova, access as u32) {
                pr_info!("restore: an MR of other memory or access than its image\n");
                return Err(EINVAL);
            }
        }
        let umem = SetOnce::default();
        // A restore under a checkpointer creates MRs before the process's
        // memory is back: they are pinned when it adopts the process.
        if image.is_none() || !owner.uctx.is_some_and(|u| u.context.pins_later()) {
            umem.populate(Pages::new(dev, start, len, access)?);
        }
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        let memory = Memory::User {
            umem,
            start,
            iova,
            len,
        };
        let key = image.map(|m| m.lkey);
        Mr::new(
            dev,
            pd,
            Access::from_abi(access as u32),
            |_| Ok(memory),
            Some(owner),
            key,
        )
    }

    /// Deregisters the MR; EINVAL while a memory window is bound to it
    /// (IBA 10.6.7.2.6, as in the C rxe).
    pub(crate) fn dereg(&self, dev: &Device<Rxe>) -> Result {
        if self.inner.windows.load(Relaxed) != 0 {
            return Err(EINVAL);
        }
        dev.mrs.remove(self.inner.key >> 8);
        Ok(())
    }

    /// `ibv_rereg_mr` of a process's MR: its PD and its access change in
    /// place, keys and memory kept. Other memory is EOPNOTSUPP (as in the
    /// C rxe: re-pinning under requests in flight is not offered); access
    /// the device does not honour, or that turns paging on demand on or
    /// off, is EOPNOTSUPP; write access to memory pinned read-only is
    /// EACCES (memory paged on demand is faulted in for what each
    /// transfer needs).
    pub(crate) fn rereg(&self, change: &MrChange) -> Result {
        let mr = &self.inner;
        let Memory::User { umem, .. } = &mr.memory else {
            return Err(EINVAL);
        };
        if change.translation.is_some() {
            return Err(EOPNOTSUPP);
        }
        if let Some(access) = change.access {
            let new = Access::from_abi(access as u32);
            if !new.within(SUPPORTED_ACCESS)
                || new.contains(Access::ON_DEMAND) != mr.access().contains(Access::ON_DEMAND)
            {
                return Err(EOPNOTSUPP);
            }
            // A restored MR not pinned yet is pinned with the access it
            // has when it is adopted.
            if let Some(Pages::Pinned(pinned)) = umem.as_ref() {
                pinned.serves(access)?;
            }
        }
        if let Some(pd) = change.pd {
            mr.pd.store(pd.to_raw(), Relaxed);
        }
        if let Some(access) = change.access {
            mr.access.store(access as u32, Relaxed);
        }
        Ok(())
    }
}

/// The pool's index range.
pub(crate) const INDICES: (u32, u32) = (MIN_MR_INDEX, MAX_MR_INDEX);
