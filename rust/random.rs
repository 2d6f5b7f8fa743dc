// SPDX-License-Identifier: GPL-2.0

//! Random numbers from the kernel's cryptographically secure generator,
//! for secrets a peer must not guess (the migration protocol's tokens).

use super::bindings as sys;

/// 64 random bits (`get_random_bytes`).
pub fn u64() -> u64 {
    let mut v = [0u8; 8];
    // SAFETY: `v` is eight writable bytes; get_random_bytes may be called
    // in any context.
    unsafe { sys::get_random_bytes(v.as_mut_ptr().cast(), v.len()) };
    u64::from_ne_bytes(v)
}
