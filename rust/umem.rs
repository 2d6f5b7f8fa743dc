// SPDX-License-Identifier: GPL-2.0

//! User memory pinned for a memory region (`struct ib_umem`).

use super::bindings as sys;
use super::device::{Device, Driver};
use core::ptr::NonNull;
use kernel::prelude::*;

/// Pages of a process's memory, pinned until dropped.
///
/// # Invariants
///
/// `umem` was returned by `ib_umem_get*` and is owned by this value.
pub struct Umem(NonNull<sys::ib_umem>);

// SAFETY: a pinned range is released with `ib_umem_release`, from any
// thread.
unsafe impl Send for Umem {}
// SAFETY: `&Umem` exposes nothing mutable.
unsafe impl Sync for Umem {}

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
        // INVARIANT: a umem we now own.
        NonNull::new(p).map(Umem).ok_or(EFAULT)
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant), released once.
        unsafe { sys::ib_umem_release(self.0.as_ptr()) }
    }
}
