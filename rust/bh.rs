// SPDX-License-Identifier: GPL-2.0

//! Keeping softirqs off on this CPU, for locks the receive path also takes.

use super::bindings as sys;
use core::marker::PhantomData;

/// Softirqs are off on this CPU while it lives (`local_bh_disable`).
pub struct BhOff {
    /// Must be dropped on the CPU that made it.
    _not_send: PhantomData<*mut ()>,
}

impl BhOff {
    pub fn new() -> BhOff {
        // SAFETY: balanced by `drop`, on the same CPU (the value is not
        // `Send`).
        unsafe { sys::rxe_migros_local_bh_disable() };
        BhOff {
            _not_send: PhantomData,
        }
    }
}

impl Drop for BhOff {
    fn drop(&mut self) {
        // SAFETY: undoes `new`.
        unsafe { sys::rxe_migros_local_bh_enable() }
    }
}
