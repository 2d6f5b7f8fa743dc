// SPDX-License-Identifier: GPL-2.0

//! The caller's capabilities.

/// `CAP_SYS_ADMIN`.
pub const SYS_ADMIN: u32 = kernel::bindings::CAP_SYS_ADMIN;
/// `CAP_CHECKPOINT_RESTORE`.
pub const CHECKPOINT_RESTORE: u32 = kernel::bindings::CAP_CHECKPOINT_RESTORE;
/// `CAP_SYS_PTRACE`.
pub const SYS_PTRACE: u32 = kernel::bindings::CAP_SYS_PTRACE;

/// Whether the calling task has capability `cap` (one of the constants
/// above) in the initial user namespace; audited, as `capable()` is.
pub fn capable(cap: u32) -> bool {
    // SAFETY: any capability number is accepted; the current task exists
    // in process context, where our callers run.
    unsafe { kernel::bindings::capable(cap as i32) }
}
