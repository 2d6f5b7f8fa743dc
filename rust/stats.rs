// SPDX-License-Identifier: GPL-2.0

//! Hardware counters: the names a driver gives the core for its port
//! counters (`/sys/class/infiniband/DEV/ports/N/hw_counters`).

use super::bindings as sys;
use kernel::str::CStr;

/// The name of a hardware counter (`struct rdma_stat_desc`).
#[repr(transparent)]
pub struct StatDesc(sys::rdma_stat_desc);

// SAFETY: a descriptor is a pointer to a static string and plain integers,
// never written after construction.
unsafe impl Sync for StatDesc {}

impl StatDesc {
    /// A counter called `name`.
    pub const fn new(name: &'static CStr) -> Self {
        StatDesc(sys::rdma_stat_desc {
            name: kernel::str::as_char_ptr_in_const_context(name),
            flags: 0,
            priv_: core::ptr::null(),
        })
    }
}
