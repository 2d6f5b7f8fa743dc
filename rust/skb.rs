// SPDX-License-Identifier: GPL-2.0

//! Socket buffers (`struct sk_buff`) handed to a driver by the network stack.

use super::bindings as sys;
use super::netdev::NetDev;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A received packet the driver owns: dropping it frees it (`kfree_skb`).
///
/// # Invariants
///
/// `skb` is a live `sk_buff` owned by this value, received on a device
/// (`skb->dev` is set) that stays alive while the packet is processed.
pub struct SkBuff(NonNull<sys::sk_buff>);

impl SkBuff {
    /// Takes ownership of a received packet.
    ///
    /// # Safety
    ///
    /// `skb` must be a live, received `sk_buff` whose ownership passes to
    /// the new value, and the caller must be in the receive path (RCU read
    /// side), which keeps `skb->dev` alive.
    pub unsafe fn from_raw(skb: NonNull<sys::sk_buff>) -> SkBuff {
        SkBuff(skb)
    }

    /// The device the packet arrived on.
    pub fn dev(&self) -> &NetDev {
        // SAFETY: a received packet has a device, alive while it is
        // processed (type invariant).
        unsafe { NetDev::from_raw(sys::rxe_migros_skb_dev(self.0.as_ptr())) }
    }

    /// The bytes from the network (IP) header to the end, made contiguous
    /// first if they were not.
    pub fn network_bytes(&mut self) -> Result<&[u8]> {
        let skb = self.0.as_ptr();
        // SAFETY: we own the packet (type invariant).
        if unsafe { sys::rxe_migros_skb_linearize(skb) } != 0 {
            return Err(ENOMEM);
        }
        // SAFETY: the packet is linear, so the network header and the
        // bytes up to its tail are one readable allocation, which lives as
        // long as the packet and is not written while `&mut self` is lent.
        unsafe {
            let start = sys::rxe_migros_skb_network_header(skb);
            let len = sys::rxe_migros_skb_network_len(skb) as usize;
            Ok(core::slice::from_raw_parts(start, len))
        }
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the packet (type invariant) and give it up once.
        unsafe { sys::rxe_migros_kfree_skb(self.0.as_ptr()) }
    }
}
