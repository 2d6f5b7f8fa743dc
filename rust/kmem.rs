// SPDX-License-Identifier: GPL-2.0

//! Kernel memory that a kernel consumer names by address. A software RDMA
//! device has no DMA: the core's `ib_dma_map_*` hand kernel consumers
//! kernel virtual addresses (`ib_uses_virt_dma`), which they put in their
//! scatter lists under the key of their PD's DMA MR (`ib_get_dma_mr`), and
//! the device copies to and from them.

use super::bindings as sys;
use kernel::prelude::*;

/// All of kernel memory, as a DMA MR covers it. Only the core's
/// `get_dma_mr` call makes one, for a kernel consumer's PD: requests that
/// name it come from that consumer's QPs, with its buffers' addresses, or
/// from peers it opened its memory to on purpose
/// (`IB_PD_UNSAFE_GLOBAL_RKEY`).
pub struct KernelMemory(());

impl KernelMemory {
    /// # Safety
    ///
    /// Only for the DMA MR of a kernel consumer's PD.
    pub(crate) unsafe fn new() -> Self {
        KernelMemory(())
    }

    /// Copies `out.len()` bytes from kernel address `addr`. A bad address
    /// is EFAULT rather than an oops.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result {
        // SAFETY: `out` is valid for its length; the source is the
        // consumer's (see the type), and checked by the nofault copy.
        let left = unsafe {
            sys::copy_from_kernel_nofault(
                out.as_mut_ptr().cast(),
                addr as usize as *const core::ffi::c_void,
                out.len(),
            )
        };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Copies `data` to kernel address `addr`. A null or wrapping range
    /// is EFAULT; any other is written, as a DMA engine would (the kernel
    /// offers modules no faulting copy into kernel memory).
    ///
    /// # Safety
    ///
    /// `addr..addr + data.len()` must be memory the consumer named for
    /// this transfer: a receive or READ buffer of its own request, under
    /// its DMA MR's key, or memory of a PD it opened to remote writes on
    /// purpose (`IB_PD_UNSAFE_GLOBAL_RKEY`, the only way the DMA MR has
    /// remote write access).
    pub unsafe fn write(&self, addr: u64, data: &[u8]) -> Result {
        if addr == 0 || addr.checked_add(data.len() as u64).is_none() {
            return Err(EFAULT);
        }
        // SAFETY: per the caller.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), addr as usize as *mut u8, data.len())
        };
        Ok(())
    }
}

/// One page of a kernel consumer's page list for a fast-registration MR
/// (`ib_map_mr_sg`): memory it handed to the device, as it would to a DMA
/// engine, for transfers its registrations allow. Only the core's
/// `ib_sg_to_pages` callback makes one.
#[derive(Clone, Copy)]
pub struct MappedPage {
    addr: u64,
    len: u32,
}

impl MappedPage {
    /// A slot of a page list with no page in it: every access is EFAULT.
    pub const NONE: MappedPage = MappedPage { addr: 0, len: 0 };

    /// # Safety
    ///
    /// `len` bytes at kernel address `addr` must be a page a kernel
    /// consumer mapped into its fast-registration MR.
    pub(crate) unsafe fn new(addr: u64, len: u32) -> Self {
        MappedPage { addr, len }
    }

    /// Where `n` bytes at offset `off` lie, if inside the page.
    fn at(&self, off: usize, n: usize) -> Result<u64> {
        match off.checked_add(n) {
            Some(end) if self.addr != 0 && end <= self.len as usize => Ok(self.addr + off as u64),
            _ => Err(EFAULT),
        }
    }

    /// Copies `out.len()` bytes from offset `off` of the page.
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result {
        // SAFETY: a page of the consumer's (see the type), within it.
        unsafe { KernelMemory::new() }.read(self.at(off, out.len())?, out)
    }

    /// Copies `data` into the page at offset `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        let addr = self.at(off, data.len())?;
        // SAFETY: the consumer handed the page to the device for
        // transfers (see the type), and the range lies within it.
        unsafe { KernelMemory::new().write(addr, data) }
    }
}

/// Copies `out.len()` bytes of a kernel consumer's request from kernel
/// address `addr` (inline data).
///
/// # Safety
///
/// `addr` must come from a kernel consumer's work request.
pub(crate) unsafe fn read_request(addr: u64, out: &mut [u8]) -> Result {
    // SAFETY: per the caller.
    unsafe { KernelMemory::new() }.read(addr, out)
}
