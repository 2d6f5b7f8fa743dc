// SPDX-License-Identifier: GPL-2.0

//! Memory a driver shares with a process through `mmap` of the uverbs file
//! (the queues of CQs, QPs and SRQs).
//!
//! A [`SharedBuf`] is zeroed `vmalloc` memory, reference counted: the
//! driver's object holds it, and so does every mapping of it, so it outlives
//! whichever goes last. [`Published`] offers a buffer to one process at an
//! offset the RDMA core assigns (`rdma_user_mmap_entry`); the process learns
//! the offset from the object's creation response and maps it. Destroying
//! the object withdraws the offer, but mappings already made stay valid
//! until unmapped, or until the device goes away (see [`mmap`]).

use super::bindings as sys;
use core::ptr::NonNull;
use kernel::error::{from_result, to_result};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Zeroed kernel memory that may be mapped into user space.
///
/// # Invariants
///
/// `ptr` is a `vmalloc_user` allocation of `len` bytes, owned by this value.
pub struct SharedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain memory; what is stored in it is the users'
// business, accessed through raw pointers.
unsafe impl Send for SharedBuf {}
// SAFETY: as above.
unsafe impl Sync for SharedBuf {}

impl SharedBuf {
    /// Allocates `len` bytes (rounded up to whole pages), zeroed.
    pub fn new(len: usize) -> Result<Arc<Self>> {
        let len = len
            .checked_next_multiple_of(kernel::page::PAGE_SIZE)
            .ok_or(ENOMEM)?;
        // SAFETY: plain allocation; the result is checked below.
        let ptr = NonNull::new(unsafe { sys::rxe_migros_vmalloc_user(len as _) }.cast::<u8>())
            .ok_or(ENOMEM)?;
        // INVARIANT: a fresh allocation of `len` bytes. If `Arc::new` fails,
        // dropping the value frees it.
        Ok(Arc::new(SharedBuf { ptr, len }, GFP_KERNEL)?)
    }

    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The pointer to `n` bytes at `off`, if they are inside the buffer and
    /// aligned to `align`.
    fn at(&self, off: usize, n: usize, align: usize) -> Result<*mut u8> {
        match off.checked_add(n) {
            Some(end) if end <= self.len && off % align == 0 => {
                // SAFETY: in bounds of the allocation.
                Ok(unsafe { self.as_ptr().add(off) })
            }
            _ => Err(EINVAL),
        }
    }

    /// Reads the 32-bit word at `off` with acquire ordering: an index that a
    /// process publishes after writing what it indexes.
    pub fn load_acquire(&self, off: usize) -> Result<u32> {
        let p = self.at(off, 4, 4)?;
        // SAFETY: aligned and in bounds; the memory lives as long as `self`
        // and is only ever accessed atomically or as plain bytes.
        Ok(unsafe { core::sync::atomic::AtomicU32::from_ptr(p.cast()) }
            .load(core::sync::atomic::Ordering::Acquire))
    }

    /// Writes the 32-bit word at `off` with release ordering: publishes an
    /// index after what it indexes was written.
    pub fn store_release(&self, off: usize, v: u32) -> Result {
        let p = self.at(off, 4, 4)?;
        // SAFETY: as in `load_acquire`.
        unsafe { core::sync::atomic::AtomicU32::from_ptr(p.cast()) }
            .store(v, core::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Copies `data` in at `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        let p = self.at(off, data.len(), 1)?;
        // SAFETY: in bounds; `data` is not in the buffer (no `&` to the
        // buffer's bytes is ever handed out).
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// Copies bytes out from `off` into `out`. A process may be writing
    /// them meanwhile: the copy is a snapshot to check, not a promise.
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result {
        let p = self.at(off, out.len(), 1)?;
        // SAFETY: as in `write`.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Its size in bytes, a whole number of pages.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for SharedBuf {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant); no mapping maps it any more: each
        // holds a reference on its entry, which holds this buffer, until it
        // is unmapped or zapped.
        unsafe { sys::vfree(self.ptr.as_ptr().cast()) }
    }
}

/// The core's mmap entry, followed by the buffer it stands for.
#[repr(C)]
struct Entry {
    core: sys::rdma_user_mmap_entry,
    buf: Arc<SharedBuf>,
}

/// A buffer offered to one user context for mapping. Dropping it withdraws
/// the offer.
///
/// # Invariants
///
/// `entry` was inserted into its context's mmap table and not yet removed;
/// the core frees it through [`mmap_free`].
pub struct Published {
    entry: NonNull<Entry>,
}

// SAFETY: the entry is the core's to synchronise; we only remove it.
unsafe impl Send for Published {}
// SAFETY: `&Published` only reads the offset, fixed at insertion.
unsafe impl Sync for Published {}

impl Published {
    /// Offers `buf` to the process of `uctx`.
    ///
    /// # Safety
    ///
    /// `uctx` must be a live user context of a device whose ops use
    /// [`mmap`] and [`mmap_free`], and it must outlive the result.
    pub unsafe fn new(uctx: *mut sys::ib_ucontext, buf: &Arc<SharedBuf>) -> Result<Self> {
        // SAFETY: all-zeroes is a valid initial `rdma_user_mmap_entry`; the
        // core initialises its fields on insertion.
        let core = unsafe { core::mem::zeroed() };
        let entry = KBox::new(
            Entry {
                core,
                buf: buf.clone(),
            },
            GFP_KERNEL,
        )?;
        let entry = KBox::into_raw(entry);
        // SAFETY: `uctx` is live (caller); `entry` is ours until inserted.
        let err =
            unsafe { sys::rdma_user_mmap_entry_insert(uctx, &raw mut (*entry).core, buf.len()) };
        if err != 0 {
            // SAFETY: not inserted: still ours.
            drop(unsafe { KBox::from_raw(entry) });
            return Err(Error::from_errno(err));
        }
        // INVARIANT: inserted just now.
        // SAFETY: `into_raw` never returns null.
        Ok(Published {
            entry: unsafe { NonNull::new_unchecked(entry) },
        })
    }

    /// The offset to pass to `mmap`.
    pub fn offset(&self) -> u64 {
        // SAFETY: the entry is inserted (type invariant), so its page offset
        // is set and never changes.
        let pgoff = unsafe { (*self.entry.as_ptr()).core.start_pgoff };
        (pgoff as u64) << kernel::page::PAGE_SHIFT
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        // SAFETY: inserted and not yet removed (type invariant).
        unsafe { sys::rdma_user_mmap_entry_remove(&raw mut (*self.entry.as_ptr()).core) }
    }
}

/// The `mmap` op: maps the buffer published at the mapping's offset, which
/// must be shared and exactly the buffer's size.
///
/// The mapping keeps the uverbs core's operations (`rdma_umap_ops`, which
/// `ib_uverbs_mmap` set before calling us) and is registered with the core
/// (`rdma_umap_priv_init`): it holds a reference on the entry, and through
/// it on the buffer, until it is unmapped. When the device goes away from
/// under the process (module unload, `rdma dev set DEV netns NS`) the core
/// zaps every such mapping and drops its reference, so no mapping of ours
/// outlives the device or calls into this module after it is gone; the
/// process finds a zeroed page there instead.
///
/// # Safety
///
/// Called by the RDMA core (`ib_uverbs_mmap`) with a live context and
/// mapping, under the uverbs file's `hw_destroy_rwsem` and
/// `disassociate_srcu`.
pub unsafe extern "C" fn mmap(uctx: *mut sys::ib_ucontext, vma: *mut sys::vm_area_struct) -> i32 {
    // SAFETY: per the caller; the core checks VM_SHARED, the offset and the
    // size, and returns a held entry or null.
    let core = unsafe { sys::rdma_user_mmap_entry_get(uctx, vma) };
    if core.is_null() {
        return EINVAL.to_errno();
    }
    let mapped = from_result(|| {
        // SAFETY: all-zeroes is a valid `rdma_umap_priv`; the core fills it.
        let tracker = KBox::new(
            unsafe { core::mem::zeroed::<sys::rdma_umap_priv>() },
            GFP_KERNEL,
        )?;
        // SAFETY: every entry in our contexts is the head of an `Entry`,
        // alive while we hold the reference taken above; its buffer is a
        // `vmalloc_user` allocation as large as the mapping.
        to_result(unsafe {
            sys::remap_vmalloc_range(vma, (*core.cast::<Entry>()).buf.as_ptr().cast(), 0)
        })?;
        // SAFETY: the mapping is set up and its ops are the core's; the core
        // takes its own reference on the entry, and `rdma_umap_close` (or
        // the disassociation) frees the tracker with `kfree`, which is how
        // `KBox` allocates.
        unsafe { sys::rdma_umap_priv_init(KBox::into_raw(tracker), vma, core) };
        Ok(0)
    });
    // SAFETY: drops the reference `rdma_user_mmap_entry_get` took.
    unsafe { sys::rdma_user_mmap_entry_put(core) };
    mapped
}

/// The `mmap_free` op: the core is done with an entry.
///
/// # Safety
///
/// Called by the RDMA core once per entry, after its last reference.
pub unsafe extern "C" fn mmap_free(core: *mut sys::rdma_user_mmap_entry) {
    // SAFETY: the entry was made by `Published::new` from a `KBox<Entry>`.
    drop(unsafe { KBox::from_raw(core.cast::<Entry>()) })
}
