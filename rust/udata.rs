// SPDX-License-Identifier: GPL-2.0

//! Driver-specific command and response data of a uverbs call
//! (`struct ib_udata`): what a user-space provider such as librxe passes to
//! its kernel driver beside the generic verbs command, and what it expects
//! back.

use super::bindings as sys;
use super::mmap::{Published, SharedBuf};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::uaccess::{UserPtr, UserSlice};

/// The driver data of a call made from user space.
///
/// # Invariants
///
/// `raw` is the live `ib_udata` of a call from user space in progress, part
/// of its `uverbs_attr_bundle`, for the lifetime of the borrow.
pub struct UData<'a> {
    raw: &'a sys::ib_udata,
}

impl<'a> UData<'a> {
    /// Wraps the udata of a call; `None` for a kernel caller (null).
    ///
    /// # Safety
    ///
    /// `raw` must be null or the `driver_udata` of a live call from user
    /// space, valid for `'a`.
    pub unsafe fn from_raw(raw: *mut sys::ib_udata) -> Option<UData<'a>> {
        // SAFETY: per the caller.
        unsafe { raw.as_ref() }.map(|raw| UData { raw })
    }

    /// How many bytes of response the caller has room for: older providers
    /// may offer less than the current ABI's response.
    pub fn outlen(&self) -> usize {
        self.raw.outlen
    }

    /// Writes a response given as its bytes (the driver's ABI structs are
    /// encoded field by field). A caller with less room gets EINVAL.
    pub fn write_bytes(&self, data: &[u8]) -> Result {
        if self.raw.outlen < data.len() {
            return Err(EINVAL);
        }
        UserSlice::new(UserPtr::from_ptr(self.raw.outbuf), data.len())
            .writer()
            .write_slice(data)
    }

    /// Reads the provider's command data into `out`; EINVAL if it sent
    /// less.
    pub fn read_input(&self, out: &mut [u8]) -> Result {
        if self.raw.inlen < out.len() {
            return Err(EINVAL);
        }
        UserSlice::new(UserPtr::from_ptr(self.raw.inbuf.cast_mut()), out.len())
            .reader()
            .read_slice(out)
    }

    /// Writes `data` at address `addr` of the calling process: the place a
    /// provider named in its command for a response (librxe's Modify SRQ,
    /// whose response does not fit the call's). EFAULT if it is not the
    /// process's writable memory.
    pub fn write_at(&self, addr: u64, data: &[u8]) -> Result {
        let addr = usize::try_from(addr).map_err(|_| EFAULT)?;
        UserSlice::new(UserPtr::from_addr(addr), data.len())
            .writer()
            .write_slice(data)
    }

    /// Offers `buf` for mapping to the calling process.
    pub fn publish(&self, buf: &Arc<SharedBuf>) -> Result<Published> {
        // SAFETY: the udata of a user call is the `driver_udata` of its
        // bundle (type invariant), whose context is live for the call and
        // for as long as the objects made in it exist.
        unsafe {
            let uctx = sys::rxe_migros_udata_ucontext(core::ptr::from_ref(self.raw).cast_mut());
            Published::new(uctx, buf)
        }
    }
}
