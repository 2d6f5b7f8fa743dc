// SPDX-License-Identifier: GPL-2.0

//! `rdma link add NAME type TYPE netdev DEV`: the RDMA netlink entry point
//! through which software RDMA drivers create devices (`rdma_link_ops`).

use super::bindings as sys;
use super::netdev::NetDev;
use core::marker::PhantomData;
use kernel::error::from_result;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A driver that creates devices on `rdma link add`.
pub trait NewLink: Send + Sync + 'static {
    /// Creates the RDMA device `name` on `ndev`. Called under the RDMA
    /// netlink's link-ops lock, so not concurrently with unregistration.
    fn newlink(name: &CStr, ndev: &NetDev) -> Result;
}

/// A registered link type; unregisters on drop.
pub struct LinkType<T: NewLink> {
    ops: Pin<KBox<Opaque<sys::rdma_link_ops>>>,
    _driver: PhantomData<T>,
}

// SAFETY: the ops are only touched by the RDMA netlink code under its lock,
// and by `Drop`.
unsafe impl<T: NewLink> Send for LinkType<T> {}
// SAFETY: `&LinkType` gives no access to anything.
unsafe impl<T: NewLink> Sync for LinkType<T> {}

impl<T: NewLink> LinkType<T> {
    /// Registers link type `name`. `name` must outlive the registration,
    /// which `'static` ensures.
    pub fn register(name: &'static CStr) -> Result<Self> {
        let ops = KBox::pin(Opaque::<sys::rdma_link_ops>::zeroed(), GFP_KERNEL)?;
        // SAFETY: the ops are pinned in their box and stay registered until
        // `drop`; `name` is 'static.
        unsafe {
            let raw = ops.get();
            (*raw).type_ = name.as_char_ptr();
            (*raw).newlink = Some(Self::newlink);
            sys::rdma_link_register(raw);
        }
        Ok(LinkType {
            ops,
            _driver: PhantomData,
        })
    }

    unsafe extern "C" fn newlink(
        name: *const kernel::ffi::c_char,
        ndev: *mut sys::net_device,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: nldev passes a NUL-terminated name and a device it
            // holds a reference on for the duration of the call.
            let (name, ndev) = unsafe { (CStr::from_char_ptr(name), NetDev::from_raw(ndev)) };
            T::newlink(name, ndev)?;
            Ok(0)
        })
    }
}

impl<T: NewLink> Drop for LinkType<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, still pinned.
        unsafe { sys::rdma_link_unregister(self.ops.get()) };
    }
}
