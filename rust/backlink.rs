// SPDX-License-Identifier: GPL-2.0

//! The way back from a driver's object to the core's (`ib_cq`, `ib_qp`),
//! for telling the object's consumer of completions and events. It is cut
//! when the object is destroyed, so a driver may keep it (and signal
//! through it) for as long as it likes: late signals are dropped.

use core::ptr::NonNull;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLockIrq};

/// The address of a live core object.
struct Ptr<T>(NonNull<T>);
// SAFETY: an address; it is only followed under the lock of its
// `Backlink`, while the object is known to be alive.
unsafe impl<T> Send for Ptr<T> {}

/// A link to core object `T`, cut before the object is freed. The
/// signals each kind of object takes are in its module (`cq`, `qp`).
#[pin_data]
pub struct Backlink<T> {
    #[pin]
    ptr: SpinLockIrq<Option<Ptr<T>>>,
}

impl<T> Backlink<T> {
    /// # Safety
    ///
    /// `p` must be an object being created, and [`Backlink::revoke`] must
    /// be called before it is freed.
    pub(crate) unsafe fn new(p: *mut T) -> Result<Arc<Self>> {
        let p = NonNull::new(p).map(Ptr);
        Arc::pin_init(
            pin_init!(Backlink { ptr <- new_spinlock_irq!(p) }),
            GFP_KERNEL,
        )
    }

    /// The object is going: no more signals reach it.
    pub(crate) fn revoke(&self) {
        *self.ptr.lock() = None;
    }

    /// Runs `f` on the object if it is still linked, under the lock that
    /// keeps it so: it is unlinked before it is freed.
    pub(crate) fn with(&self, f: impl FnOnce(*mut T)) {
        if let Some(p) = self.ptr.lock().as_ref() {
            f(p.0.as_ptr());
        }
    }
}
