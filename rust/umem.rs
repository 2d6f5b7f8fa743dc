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

/// Which way a copy goes.
enum Dir<'a> {
    Out(&'a mut [u8]),
    In(&'a [u8]),
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

    /// Copies `out.len()` bytes from offset `off` of the range.
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

    pub fn read(&self, off: usize, out: &mut [u8]) -> Result {
        self.copy(off, Dir::Out(out))
    }

    /// Copies `data` to offset `off` of the range.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        self.copy(off, Dir::In(data))
    }

    /// Runs `f` on the eight bytes at offset `off` of the range as one
    /// atomic variable and returns what it returns. EINVAL unless they are
    /// eight-byte aligned (so within one page); EFAULT past the range.
    pub fn atomic(
        &self,
        off: usize,
        f: impl FnOnce(&kernel::sync::atomic::Atomic<u64>) -> u64,
    ) -> Result<u64> {
        let end = off.checked_add(8).ok_or(EFAULT)?;
        if end > self.len {
            return Err(EFAULT);
        }
        let pos = self.first + off;
        if pos % 8 != 0 {
            return Err(EINVAL);
        }
        let page = self.pages[pos / PAGE_SIZE];
        // SAFETY: the page is pinned (type invariant) and mapped while `f`
        // runs; an aligned `u64` at `pos % PAGE_SIZE` lies within it. The
        // device's other accesses to it are atomic too; the owning process
        // may touch it at any time, as it may any memory it registered
        // for remote atomics (the C rxe's contract with it is the same).
        unsafe {
            let base = sys::rxe_migros_kmap_local_page(page.0.as_ptr()).cast::<u8>();
            let at = base.add(pos % PAGE_SIZE).cast::<u64>();
            let r = f(kernel::sync::atomic::Atomic::from_ptr(at));
            sys::rxe_migros_kunmap_local(base.cast());
            Ok(r)
        }
    }

    fn copy(&self, off: usize, mut dir: Dir<'_>) -> Result {
        let n = match &dir {
            Dir::Out(b) => b.len(),
            Dir::In(b) => b.len(),
        };
        let end = off.checked_add(n).ok_or(EFAULT)?;
        if end > self.len {
            return Err(EFAULT);
        }
        let mut done = 0;
        while done < n {
            let pos = self.first + off + done;
            let page = self.pages[pos / PAGE_SIZE];
            let in_page = pos % PAGE_SIZE;
            let chunk = (PAGE_SIZE - in_page).min(n - done);
            // SAFETY: the page is pinned (type invariant) and mapped for
            // the copy; `in_page + chunk` stays within it and `done + chunk`
            // within the caller's buffer.
            unsafe {
                let base = sys::rxe_migros_kmap_local_page(page.0.as_ptr()).cast::<u8>();
                let at = base.add(in_page);
                match &mut dir {
                    Dir::Out(b) => {
                        core::ptr::copy_nonoverlapping(at, b[done..].as_mut_ptr(), chunk)
                    }
                    Dir::In(b) => core::ptr::copy_nonoverlapping(b[done..].as_ptr(), at, chunk),
                }
                sys::rxe_migros_kunmap_local(base.cast());
            }
            done += chunk;
        }
        Ok(())
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant), released once.
        unsafe { sys::ib_umem_release(self.umem.as_ptr()) }
    }
}
