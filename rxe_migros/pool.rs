// SPDX-License-Identifier: GPL-2.0

//! Objects by index (the C rxe's rxe_pool.c): QPs by number, MRs by the
//! index in their keys. Indices are handed out cyclically through a range,
//! so that one is not reused soon after its object is gone, and a packet
//! or a key naming a dead object finds nothing rather than its successor.
//!
//! The receive path looks QPs up in softirq context, so the table's lock
//! is always taken with softirqs off on this CPU.

use crate::rdma::bh::BhOff;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::xarray::{AllocKind, XArray};

/// A table of `T` by index, in `min..=max`.
#[pin_data]
pub(crate) struct Pool<T: Send + Sync + 'static> {
    #[pin]
    table: XArray<Arc<T>>,
    /// Where the search for a free index starts; objects are added under
    /// it, so an index found free stays free until it is taken.
    #[pin]
    next: Mutex<u32>,
    min: u32,
    max: u32,
}

impl<T: Send + Sync + 'static> Pool<T> {
    pub(crate) fn new(min: u32, max: u32) -> impl PinInit<Self, Error> {
        try_pin_init!(Pool {
            table <- XArray::new(AllocKind::Alloc),
            next <- new_mutex!(0),
            min,
            max,
        })
    }

    /// Files `make(index)` under a free index.
    pub(crate) fn add(&self, make: impl FnOnce(u32) -> Result<Arc<T>>) -> Result<Arc<T>> {
        let span = self.max - self.min + 1;
        let mut next = self.next.lock();
        let mut free = None;
        for _ in 0..span {
            let i = *next % span + self.min;
            *next = next.wrapping_add(1);
            let bh = BhOff::new();
            let table = self.table.lock();
            let taken = table.get(i as usize).is_some();
            drop(table);
            drop(bh);
            if !taken {
                free = Some(i);
                break;
            }
        }
        let index = free.ok_or(ENOMEM)?;
        self.file(index, make)
    }

    /// Files `make(index)` under `index`, found free with `next` locked.
    fn file(&self, index: u32, make: impl FnOnce(u32) -> Result<Arc<T>>) -> Result<Arc<T>> {
        let obj = make(index)?;
        let bh = BhOff::new();
        let mut table = self.table.lock();
        let stored = table.store(index as usize, obj.clone(), GFP_ATOMIC);
        drop(table);
        drop(bh);
        stored?;
        Ok(obj)
    }

    /// Files `make(index)` under `index` itself (a restored object keeps
    /// its number); EADDRINUSE if it is taken, EINVAL outside the range.
    pub(crate) fn add_at(
        &self,
        index: u32,
        make: impl FnOnce(u32) -> Result<Arc<T>>,
    ) -> Result<Arc<T>> {
        if !(self.min..=self.max).contains(&index) {
            return Err(EINVAL);
        }
        self.add_reserved(index, make)
    }

    /// Files `make(index)` under `index`, which may lie below the range
    /// (QP 1, the GSI QP); EADDRINUSE if it is taken.
    pub(crate) fn add_reserved(
        &self,
        index: u32,
        make: impl FnOnce(u32) -> Result<Arc<T>>,
    ) -> Result<Arc<T>> {
        // Under the same lock as `add`: an index found free stays free.
        let _next = self.next.lock();
        if self.get(index).is_some() {
            return Err(EADDRINUSE);
        }
        self.file(index, make)
    }

    /// The object at `index`, if any. Callable from any context.
    pub(crate) fn get(&self, index: u32) -> Option<Arc<T>> {
        let bh = BhOff::new();
        let table = self.table.lock();
        let found = table.get(index as usize).map(Arc::from);
        // The lock goes before softirqs come back on.
        drop(table);
        drop(bh);
        found
    }

    /// Forgets the object at `index`.
    pub(crate) fn remove(&self, index: u32) {
        // Dropped after the table's lock: the last reference may free it.
        let bh = BhOff::new();
        let mut table = self.table.lock();
        let gone = table.remove(index as usize);
        drop(table);
        drop(bh);
        drop(gone);
    }
}
