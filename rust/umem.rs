// SPDX-License-Identifier: GPL-2.0

//! User memory pinned for a memory region (`struct ib_umem`), and copying
//! to and from it by offset, page by page.

use super::bindings as sys;
use super::device::{Device, Driver};
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// A pinned page of the range.
#[derive(Clone, Copy)]
struct PagePtr(NonNull<sys::page>);

/// Pages of a process's memory, pinned until dropped.
///
/// # Invariants
///
/// `umem` was returned by `ib_umem_get*` and is owned by this value;
/// `pages` are its pages in order, pinned as long as it is, and byte `i`
/// of the range is byte `first + i` of them, for `i < len`.
pub struct Umem {
    umem: NonNull<sys::ib_umem>,
    pages: KVec<PagePtr>,
    first: usize,
    len: usize,
}

// SAFETY: a pinned range is copied to and from, and released with
// `ib_umem_release`, from any thread.
unsafe impl Send for Umem {}
// SAFETY: `&Umem` copies through kernel mappings of pinned pages; what the
// bytes hold is the process's business, as with any DMA.
unsafe impl Sync for Umem {}

/// Which way a copy goes: out of memory into the buffer, or in.
pub(crate) enum Dir<'a> {
    Out(&'a mut [u8]),
    In(&'a [u8]),
}

impl Dir<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Dir::Out(b) => b.len(),
            Dir::In(b) => b.len(),
        }
    }
}

/// Copies between `dir`'s buffer and the bytes of memory from `pos` on,
/// byte `p` being at `p % PAGE_SIZE` of page `page_of(p / PAGE_SIZE)`,
/// each page through a local kernel mapping.
///
/// # Safety
///
/// Each page `page_of` returns for an index the copy reaches must stay
/// allocated while the copy runs.
pub(crate) unsafe fn copy_pages(
    pos: usize,
    dir: &mut Dir<'_>,
    page_of: impl Fn(usize) -> *mut sys::page,
) {
    let n = dir.len();
    let mut done = 0;
    while done < n {
        let at = pos + done;
        let in_page = at % PAGE_SIZE;
        let chunk = (PAGE_SIZE - in_page).min(n - done);
        // SAFETY: the page stays allocated (the caller's promise) and is
        // mapped for the copy; `in_page + chunk` stays within it and
        // `done + chunk` within the buffer.
        unsafe {
            let base = sys::rxe_migros_kmap_local_page(page_of(at / PAGE_SIZE)).cast::<u8>();
            let mem = base.add(in_page);
            match dir {
                Dir::Out(b) => core::ptr::copy_nonoverlapping(mem, b[done..].as_mut_ptr(), chunk),
                Dir::In(b) => core::ptr::copy_nonoverlapping(b[done..].as_ptr(), mem, chunk),
            }
            sys::rxe_migros_kunmap_local(base.cast());
        }
        done += chunk;
    }
}

/// Runs `f` on the eight bytes at `in_page` of `page` as one atomic
/// variable, through a local kernel mapping.
///
/// # Safety
///
/// `page` must stay allocated while `f` runs, and `in_page` be a multiple
/// of eight below `PAGE_SIZE`.
pub(crate) unsafe fn atomic_at(
    page: *mut sys::page,
    in_page: usize,
    f: &mut dyn FnMut(&kernel::sync::atomic::Atomic<u64>) -> u64,
) -> u64 {
    // SAFETY: the page stays allocated (the caller's promise) and is
    // mapped while `f` runs; an aligned `u64` at `in_page` lies within it.
    // The device's other accesses to it are atomic too; the owning
    // process may touch it at any time, as it may any memory it
    // registered for remote atomics (the C rxe's contract with it is the
    // same).
    unsafe {
        let base = sys::rxe_migros_kmap_local_page(page).cast::<u8>();
        let r = f(kernel::sync::atomic::Atomic::from_ptr(
            base.add(in_page).cast::<u64>(),
        ));
        sys::rxe_migros_kunmap_local(base.cast());
        r
    }
}

/// A process's memory behind a memory region, copied to and from by
/// offset: pinned ([`Umem`]) or paged on demand
/// ([`OdpUmem`](super::umem_odp::OdpUmem)). The provided methods check
/// the range (EFAULT past it) and an atomic's alignment (EINVAL).
pub trait UserMemory {
    /// Its size in bytes.
    fn size(&self) -> usize;
    /// Where its first byte lies in its first page.
    fn page_offset(&self) -> usize;
    /// Copies between `dir`'s buffer and the bytes from offset `off`.
    ///
    /// # Safety
    ///
    /// `off..off + dir.len()` must lie in the range.
    unsafe fn copy_within(&self, off: usize, dir: Dir<'_>) -> Result;
    /// Runs `f` on the eight bytes at offset `off` as one atomic variable;
    /// returns what it returns.
    ///
    /// # Safety
    ///
    /// `off..off + 8` must lie in the range, and be eight-byte aligned in
    /// memory.
    unsafe fn atomic_within(
        &self,
        off: usize,
        f: &mut dyn FnMut(&kernel::sync::atomic::Atomic<u64>) -> u64,
    ) -> Result<u64>;

    /// Copies `out.len()` bytes from offset `off`.
    fn read(&self, off: usize, out: &mut [u8]) -> Result {
        in_range(self.size(), off, out.len())?;
        // SAFETY: checked just above.
        unsafe { self.copy_within(off, Dir::Out(out)) }
    }

    /// Copies `data` to offset `off`.
    fn write(&self, off: usize, data: &[u8]) -> Result {
        in_range(self.size(), off, data.len())?;
        // SAFETY: checked just above.
        unsafe { self.copy_within(off, Dir::In(data)) }
    }

    /// Runs `f` on the eight bytes at offset `off` as one atomic variable
    /// and returns what it returns. EINVAL unless they are eight-byte
    /// aligned (so within one page).
    fn atomic(
        &self,
        off: usize,
        f: &mut dyn FnMut(&kernel::sync::atomic::Atomic<u64>) -> u64,
    ) -> Result<u64> {
        in_range(self.size(), off, 8)?;
        if (self.page_offset() + off) % 8 != 0 {
            return Err(EINVAL);
        }
        // SAFETY: checked just above.
        unsafe { self.atomic_within(off, f) }
    }
}

/// EFAULT unless `n` bytes at `off` lie within `size`.
fn in_range(size: usize, off: usize, n: usize) -> Result {
    match off.checked_add(n) {
        Some(end) if end <= size => Ok(()),
        _ => Err(EFAULT),
    }
}

impl Umem {
    /// Pins `len` bytes at `addr` in the calling process, for `access`
    /// (`ib_access_flags`: writable ones are pinned for writing).
    pub fn pin<T: Driver>(dev: &Device<T>, addr: u64, len: u64, access: i32) -> Result<Umem> {
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: the device is live; a null bundle means "this address",
        // and the result is a umem or an error pointer.
        let p = unsafe {
            sys::ib_umem_get_attr_or_va(dev.as_ib(), core::ptr::null(), 0, addr, len, access)
        };
        let p = kernel::error::from_err_ptr(p)?;
        let umem = NonNull::new(p).ok_or(EFAULT)?;
        // Owned from here: released by `drop` if listing the pages fails.
        let mut this = Umem {
            umem,
            pages: KVec::new(),
            first: (addr as usize) & (PAGE_SIZE - 1),
            len,
        };
        // SAFETY: the umem is ours and its scatter table complete; the
        // iterator walks its pages, each pinned with it.
        unsafe {
            let sgt = &raw mut (*p).sgt_append.sgt;
            let mut it: sys::sg_page_iter = core::mem::zeroed();
            sys::__sg_page_iter_start(&mut it, (*sgt).sgl, (*sgt).orig_nents, 0);
            while sys::__sg_page_iter_next(&mut it) {
                let page =
                    NonNull::new(sys::rxe_migros_sg_page_iter_page(&mut it)).ok_or(EFAULT)?;
                this.pages.push(PagePtr(page), GFP_KERNEL)?;
            }
        }
        if this.pages.len() * PAGE_SIZE < this.first + len {
            return Err(EFAULT);
        }
        // INVARIANT: the pages cover `first..first + len`.
        Ok(this)
    }

    /// Whether the pages, pinned as they are, serve `access`
    /// (`ib_umem_check_rereg`): EACCES for write access to pages pinned
    /// read-only.
    pub fn serves(&self, access: i32) -> Result {
        // SAFETY: the umem is live (owned); the call only reads it.
        to_result(unsafe {
            sys::ib_umem_check_rereg(
                self.umem.as_ptr(),
                sys::ib_mr_rereg_flags_IB_MR_REREG_ACCESS as i32,
                access,
            )
        })
    }
}

impl UserMemory for Umem {
    fn size(&self) -> usize {
        self.len
    }

    fn page_offset(&self) -> usize {
        self.first
    }

    unsafe fn copy_within(&self, off: usize, mut dir: Dir<'_>) -> Result {
        // SAFETY: the pages of the range are pinned (type invariant), and
        // the copy stays in the range (the caller's promise).
        unsafe { copy_pages(self.first + off, &mut dir, |i| self.pages[i].0.as_ptr()) };
        Ok(())
    }

    unsafe fn atomic_within(
        &self,
        off: usize,
        f: &mut dyn FnMut(&kernel::sync::atomic::Atomic<u64>) -> u64,
    ) -> Result<u64> {
        let pos = self.first + off;
        let page = self.pages[pos / PAGE_SIZE];
        // SAFETY: the page is pinned (type invariant); `pos` is aligned
        // (the caller's promise).
        Ok(unsafe { atomic_at(page.0.as_ptr(), pos % PAGE_SIZE, f) })
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant), released once.
        unsafe { sys::ib_umem_release(self.umem.as_ptr()) }
    }
}
