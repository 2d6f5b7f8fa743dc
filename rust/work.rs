// SPDX-License-Identifier: GPL-2.0

//! Cancelling work items that an `Arc` queued, which the kernel crate's
//! workqueue API does not offer: a driver must stop an object's deferred
//! work before the object's owner (the RDMA core) tears it down.

use super::bindings as sys;
use kernel::sync::Arc;
use kernel::workqueue::{HasDelayedWork, HasWork, Work, WorkItem};

/// The `work_struct` of `this`'s work item `ID`.
fn raw_work<T, const ID: u64>(this: &Arc<T>) -> *mut sys::work_struct
where
    T: HasWork<T, ID>,
{
    let ptr = Arc::as_ptr(this).cast_mut();
    // SAFETY: `ptr` points into a live `Arc`; the work item is a field of it.
    unsafe { Work::raw_get(T::raw_get_work(ptr)) }
}

/// Takes back the reference a queue held for a work item it will now
/// never run.
///
/// # Safety
///
/// The item was queued through [`Arc`] (which leaked one reference for the
/// queue) and has just been cancelled while pending.
unsafe fn reclaim<T>(this: &Arc<T>) {
    // SAFETY: per the caller, one leaked reference is ours to drop.
    drop(unsafe { Arc::from_raw(Arc::as_ptr(this)) });
}

/// Cancels work item `ID` of `this` if it is queued, and waits for it if it
/// is running. Afterwards it runs only if queued again.
pub fn cancel_work_sync<T, const ID: u64>(this: &Arc<T>)
where
    T: HasWork<T, ID> + WorkItem<ID, Pointer = Arc<T>>,
{
    // SAFETY: the work item is initialised (it is part of a live `T`).
    if unsafe { sys::cancel_work_sync(raw_work::<T, ID>(this)) } {
        // SAFETY: it was pending, queued through `Arc`, and is cancelled.
        unsafe { reclaim(this) }
    }
}

/// As [`cancel_work_sync`], for a delayed work item, whether its timer is
/// still running or it is queued.
pub fn cancel_delayed_work_sync<T, const ID: u64>(this: &Arc<T>)
where
    T: HasDelayedWork<T, ID> + WorkItem<ID, Pointer = Arc<T>>,
{
    // A `delayed_work` starts with its `work_struct` (`HasDelayedWork`).
    let dwork = raw_work::<T, ID>(this).cast::<sys::delayed_work>();
    // SAFETY: the delayed work item is initialised (part of a live `T`).
    if unsafe { sys::cancel_delayed_work_sync(dwork) } {
        // SAFETY: as in `cancel_work_sync`.
        unsafe { reclaim(this) }
    }
}

/// The system's default work queue for work that need not run on the CPU
/// that queued it (`system_dfl_wq`), which 7.x prefers to
/// `system_unbound_wq`; the kernel crate offers only the latter so far.
pub fn system_dfl() -> &'static kernel::workqueue::Queue {
    // SAFETY: `system_dfl_wq` is a C global, set before any module loads
    // and never freed.
    unsafe { kernel::workqueue::Queue::from_raw(kernel::bindings::system_dfl_wq) }
}
