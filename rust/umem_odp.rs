// SPDX-License-Identifier: GPL-2.0

//! On-demand paging (`struct ib_umem_odp`): a process's memory registered
//! without pinning. The pages of a range are faulted in and looked up when
//! a transfer touches them, under the range's mutex, and given back when
//! the kernel invalidates them (reclaim, munmap, fork's copy-on-write):
//! the range's interval notifier drops them from its page list, and the
//! next transfer faults them in again.
//!
//! A transfer may sleep here (the fault, the mutex): it runs in process
//! context, under the QP's mutex, as all of the transport does.

use super::bindings as sys;
use super::device::{Device, Driver};
use super::process::Process;
use super::umem::{atomic_at, copy_pages, Dir, UserMemory};
use core::ptr::NonNull;
use kernel::ffi::c_ulong;
use kernel::page::{PAGE_SHIFT, PAGE_SIZE};
use kernel::prelude::*;

/// A range of a process's memory, paged on demand.
///
/// # Invariants
///
/// `odp` was returned by `ib_umem_odp_get` with [`OPS`], is owned by this
/// value and covers `len` bytes from `start` in pages of `PAGE_SIZE`.
pub struct OdpUmem {
    odp: NonNull<sys::ib_umem_odp>,
    start: u64,
    len: usize,
}

// SAFETY: the range's page list is read and changed only under its mutex,
// and the range is released with `ib_umem_odp_release`, from any thread.
unsafe impl Send for OdpUmem {}
// SAFETY: as for `Umem`: `&OdpUmem` copies through kernel mappings of pages
// it holds the mutex over.
unsafe impl Sync for OdpUmem {}

/// The interval notifier's operations: invalidation only.
static OPS: sys::mmu_interval_notifier_ops = sys::mmu_interval_notifier_ops {
    invalidate: Some(invalidate),
    invalidate_start: None,
    invalidate_finish: None,
};

/// The kernel takes pages of the range away: forget them (under the
/// range's mutex, so never in the middle of a copy), and bump the
/// notifier's sequence so that a fault under way starts again. A
/// non-blocking invalidation (the OOM reaper) is refused, as the mutex
/// may sleep.
unsafe extern "C" fn invalidate(
    sub: *mut sys::mmu_interval_notifier,
    range: *const sys::mmu_notifier_range,
    cur_seq: c_ulong,
) -> bool {
    // SAFETY: the core calls this with the notifier of a live range
    // registered with `OPS` (so embedded in an `ib_umem_odp`) and the
    // range being invalidated.
    unsafe {
        if !sys::rxe_migros_mmu_notifier_range_blockable(range) {
            return false;
        }
        let odp = sub
            .byte_sub(core::mem::offset_of!(sys::ib_umem_odp, notifier))
            .cast::<sys::ib_umem_odp>();
        sys::rxe_migros_mutex_lock(&raw mut (*odp).umem_mutex);
        sys::rxe_migros_mmu_interval_set_seq(sub, cur_seq);
        let first = (*sub).interval_tree.start;
        let end = (*sub).interval_tree.last + 1;
        let from = first.max((*range).start);
        let to = end.min((*range).end);
        if from < to {
            sys::ib_umem_odp_unmap_dma_pages(odp, from as u64, to as u64);
        }
        sys::mutex_unlock(&raw mut (*odp).umem_mutex);
    }
    true
}

/// The range's mutex, held; its page list is stable meanwhile.
struct Locked<'a>(&'a OdpUmem);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: taken by `OdpUmem::lock` (or `ib_umem_odp_map_dma_and_lock`
        // on success), released once.
        unsafe { sys::mutex_unlock(&raw mut (*self.0.odp.as_ptr()).umem_mutex) }
    }
}

impl OdpUmem {
    /// Registers `len` bytes at `addr` of the calling task's address space
    /// (a kernel worker's, once it took a process's on), for `access`
    /// (`ib_access_flags`, with `IB_ACCESS_ON_DEMAND`). Nothing is faulted
    /// in yet.
    pub fn register<T: Driver>(dev: &Device<T>, addr: u64, len: u64, access: i32) -> Result<Self> {
        let size = usize::try_from(len).map_err(|_| EINVAL)?;
        let at = c_ulong::try_from(addr).map_err(|_| EINVAL)?;
        // SAFETY: the device is live; `OPS` is static; the result is an
        // ODP umem or an error pointer.
        let p = unsafe { sys::ib_umem_odp_get(dev.as_ib(), at, size, access, &OPS) };
        let odp = NonNull::new(kernel::error::from_err_ptr(p)?).ok_or(EFAULT)?;
        let this = OdpUmem {
            odp,
            start: addr,
            len: size,
        };
        // SAFETY: ours, not shared yet.
        if unsafe { (*odp.as_ptr()).page_shift } != PAGE_SHIFT as u32 {
            // Huge pages are not asked for (IB_ACCESS_HUGETLB is refused).
            return Err(EINVAL);
        }
        // INVARIANT: registered with `OPS`, in pages of PAGE_SIZE.
        Ok(this)
    }

    /// The range belongs to `process` from now on: faults check that it
    /// lives. For a range a kernel worker registered in its address space
    /// ([`Process::in_address_space`]), which the core would otherwise tie
    /// to the worker.
    pub fn belongs_to(&mut self, process: &Process) {
        // SAFETY: `&mut self`: no fault or copy runs on the range, and only
        // they and the release read its owner. The task is held; the pid
        // it gives is counted, and the one it replaces released.
        unsafe {
            let odp = self.odp.as_ptr();
            let owner = sys::get_task_pid(process.task().as_ptr(), sys::pid_type_PIDTYPE_TGID);
            let old = core::mem::replace(&mut (*odp).tgid, owner);
            sys::put_pid(old);
        }
    }

    /// Faults in `len` bytes from offset `off` (for writing if `write`),
    /// or with `fault` false maps only what is present already
    /// (`ibv_advise_mr`'s prefetches). Works in pieces, and stops on a
    /// fatal signal (EINTR).
    pub fn prefetch(&self, off: usize, len: usize, write: bool, fault: bool) -> Result {
        const PIECE: usize = 1 << 20;
        let end = off.checked_add(len).ok_or(EFAULT)?;
        if end > self.len {
            return Err(EFAULT);
        }
        let mut at = off;
        while at < end {
            let n = (end - at).min(PIECE);
            drop(self.map(at, n, write, fault)?);
            at += n;
            // SAFETY: plain calls on the current task.
            unsafe {
                if sys::rxe_migros_fatal_signal_pending() {
                    return Err(EINTR);
                }
                sys::rxe_migros_cond_resched();
            }
        }
        Ok(())
    }

    /// The range's mutex, taken.
    fn lock(&self) -> Locked<'_> {
        // SAFETY: the range is live (type invariant).
        unsafe { sys::rxe_migros_mutex_lock(&raw mut (*self.odp.as_ptr()).umem_mutex) };
        Locked(self)
    }

    /// `n > 0` bytes from offset `off`, with their pages present (and
    /// writable if `write`) in the range's list, which the returned guard
    /// keeps so: faulted in first if they are not (or, with `fault` false,
    /// whatever is present mapped, and nothing required). EFAULT past the
    /// range, or for memory the process does not have mapped that way.
    fn map(&self, off: usize, n: usize, write: bool, fault: bool) -> Result<Locked<'_>> {
        let end = off.checked_add(n).ok_or(EFAULT)?;
        if end > self.len || n == 0 {
            return Err(EFAULT);
        }
        let va = self.start + off as u64;
        let held = self.lock();
        if fault && held.present(va, n, write) {
            return Ok(held);
        }
        drop(held);
        let mask = if write {
            sys::hmm_pfn_flags_HMM_PFN_WRITE as u64
        } else {
            0
        };
        // SAFETY: the range is live; on success the call returns with its
        // mutex held, which the guard made below releases.
        let r = unsafe {
            sys::ib_umem_odp_map_dma_and_lock(self.odp.as_ptr(), va, n as u64, mask, fault)
        };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        let held = Locked(self);
        if fault && !held.present(va, n, write) {
            return Err(EFAULT);
        }
        Ok(held)
    }
}

impl UserMemory for OdpUmem {
    fn size(&self) -> usize {
        self.len
    }

    fn page_offset(&self) -> usize {
        self.start as usize % PAGE_SIZE
    }

    unsafe fn copy_within(&self, off: usize, mut dir: Dir<'_>) -> Result {
        let n = dir.len();
        if n == 0 {
            return Ok(());
        }
        let held = self.map(off, n, matches!(dir, Dir::In(_)), true)?;
        // SAFETY: the pages of the `n` bytes at `off` are in the range's
        // list, which cannot change while `held` is (an invalidation waits
        // for the mutex).
        unsafe {
            copy_pages(self.start as usize + off, &mut dir, |i| {
                held.page((i * PAGE_SIZE) as u64)
            });
        }
        drop(held);
        Ok(())
    }

    unsafe fn atomic_within(
        &self,
        off: usize,
        f: &mut dyn FnMut(&kernel::sync::atomic::Atomic<u64>) -> u64,
    ) -> Result<u64> {
        let held = self.map(off, 8, true, true)?;
        let va = self.start + off as u64;
        // SAFETY: the page is in the range's list, stable while `held` is;
        // `va` is aligned (the caller's promise).
        let r = unsafe { atomic_at(held.page(va), va as usize % PAGE_SIZE, f) };
        drop(held);
        Ok(r)
    }
}

impl Locked<'_> {
    /// The page list's entry for the page holding `va` (in the range).
    fn entry(&self, va: u64) -> c_ulong {
        let odp = self.0.odp.as_ptr();
        // SAFETY: the mutex is held, so the list is stable; `va` is in the
        // range, whose pages start at the notifier's start, and the list
        // has one entry per page (PAGE_SIZE, type invariant).
        unsafe {
            let first = (*odp).notifier.interval_tree.start as u64;
            let i = ((va - first) >> PAGE_SHIFT) as usize;
            *(*odp).map.pfn_list.add(i)
        }
    }

    /// Whether the pages of `n` bytes at `va` are present (and writable if
    /// `write`).
    fn present(&self, va: u64, n: usize, write: bool) -> bool {
        let mut need = sys::hmm_pfn_flags_HMM_PFN_VALID as c_ulong;
        if write {
            need |= sys::hmm_pfn_flags_HMM_PFN_WRITE as c_ulong;
        }
        let mut page = va & !(PAGE_SIZE as u64 - 1);
        while page < va + n as u64 {
            if self.entry(page) & need != need {
                return false;
            }
            page += PAGE_SIZE as u64;
        }
        true
    }

    /// The page holding `va`, which [`Locked::present`] found present.
    fn page(&self, va: u64) -> *mut sys::page {
        // SAFETY: a valid entry of the list names a page.
        unsafe { sys::rxe_migros_hmm_pfn_to_page(self.entry(va)) }
    }
}

impl Drop for OdpUmem {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant), released once; the release takes
        // the notifier out, waiting for an invalidation under way.
        unsafe { sys::ib_umem_odp_release(self.odp.as_ptr()) }
    }
}
