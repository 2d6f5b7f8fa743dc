// SPDX-License-Identifier: GPL-2.0

//! Network namespaces (`struct net`) and per-namespace hooks
//! (`pernet_operations`).

use super::bindings as sys;
use core::marker::PhantomData;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A network namespace, borrowed.
///
/// # Invariants
///
/// A `&Net` is only made from a pointer to a live namespace that stays
/// alive for the lifetime of the borrow.
#[repr(transparent)]
pub struct Net(Opaque<sys::net>);

impl Net {
    /// Borrows a namespace.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `struct net` that stays alive for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut sys::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper of `struct net`, alive for
        // `'a` (caller).
        unsafe { &*ptr.cast::<Net>() }
    }

    /// The raw pointer, for calls into C.
    pub fn as_ptr(&self) -> *mut sys::net {
        self.0.get()
    }

    /// An identity for this namespace, valid while it lives: a namespace
    /// created after this one dies may reuse it.
    pub fn id(&self) -> usize {
        self.as_ptr() as usize
    }
}

/// What runs as a network namespace goes away.
pub trait PernetExit: 'static {
    /// `net` is being dismantled: release everything held in it. Runs in
    /// process context, once per namespace, and also for every namespace
    /// still alive when the hook is unregistered.
    fn exit(net: &Net);
}

/// A registered `pernet_operations` with an exit hook. Unregistering (on
/// drop) runs the hook for every namespace still alive.
pub struct Pernet<T: PernetExit> {
    ops: Pin<KBox<Opaque<sys::pernet_operations>>>,
    _hook: PhantomData<T>,
}

// SAFETY: the ops are only touched by the networking core, under its locks,
// between registration and unregistration.
unsafe impl<T: PernetExit> Send for Pernet<T> {}
// SAFETY: as above; `&Pernet` exposes nothing.
unsafe impl<T: PernetExit> Sync for Pernet<T> {}

impl<T: PernetExit> Pernet<T> {
    /// Registers the hook.
    pub fn register() -> Result<Self> {
        let ops = KBox::pin(Opaque::<sys::pernet_operations>::zeroed(), GFP_KERNEL)?;
        // SAFETY: the ops are zeroed and not yet shared; they stay pinned
        // until `drop` unregisters them.
        unsafe {
            (*ops.get()).exit = Some(Self::exit);
            to_result(sys::register_pernet_subsys(ops.get()))?;
        }
        Ok(Pernet {
            ops,
            _hook: PhantomData,
        })
    }

    unsafe extern "C" fn exit(net: *mut sys::net) {
        // SAFETY: the core passes a namespace that lives until every exit
        // hook has returned.
        T::exit(unsafe { Net::from_raw(net) })
    }
}

impl<T: PernetExit> Drop for Pernet<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, unregistered once here.
        unsafe { sys::unregister_pernet_subsys(self.ops.get()) }
    }
}
