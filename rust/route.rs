// SPDX-License-Identifier: GPL-2.0

//! Routes (`struct dst_entry`) and sending IP packets a driver built
//! itself, headers and all, through the local output path (`ip_local_out`,
//! `ip6_local_out`), which runs netfilter and the neighbour layer.

use super::bindings as sys;
use super::netns::Net;
use super::skb::TxSkb;
use core::ptr::NonNull;
use kernel::prelude::*;

const IPPROTO_UDP: u8 = 17;

/// A route, held until dropped.
///
/// # Invariants
///
/// `dst` is a live route this value holds a reference on.
pub struct Route {
    dst: NonNull<sys::dst_entry>,
    ipv6: bool,
}

// SAFETY: a held route may be used and released on any thread.
unsafe impl Send for Route {}

impl Route {
    /// The IPv4 route from `src` to `dst` out of interface `oif` in `net`.
    pub fn v4(net: &Net, oif: i32, src: [u8; 4], dst: [u8; 4]) -> Result<Route> {
        // SAFETY: a flow key is plain data; all zero is "anything".
        let mut fl: sys::flowi4 = unsafe { core::mem::zeroed() };
        fl.__fl_common.flowic_oif = oif;
        fl.__fl_common.flowic_proto = IPPROTO_UDP;
        fl.saddr = u32::from_ne_bytes(src);
        fl.daddr = u32::from_ne_bytes(dst);
        // SAFETY: `net` is live and the key is initialised; the result is a
        // held route or an error pointer.
        let rt = unsafe { sys::ip_route_output_flow(net.as_ptr(), &mut fl, core::ptr::null()) };
        let rt = kernel::error::from_err_ptr(rt).map_err(|_| EHOSTUNREACH)?;
        // SAFETY: a `struct rtable` starts with its `dst_entry`.
        let dst = NonNull::new(unsafe { &raw mut (*rt).dst }).ok_or(EHOSTUNREACH)?;
        // INVARIANT: the lookup returned a held route.
        Ok(Route { dst, ipv6: false })
    }

    /// The IPv6 route from `src` to `dst` out of interface `oif` in `net`.
    pub fn v6(net: &Net, oif: i32, src: [u8; 16], dst: [u8; 16]) -> Result<Route> {
        // SAFETY: as for `v4`.
        let mut fl: sys::flowi6 = unsafe { core::mem::zeroed() };
        fl.__fl_common.flowic_oif = oif;
        fl.__fl_common.flowic_proto = IPPROTO_UDP;
        // SAFETY: every member of `in6_addr` is plain bytes.
        unsafe {
            fl.saddr.in6_u.u6_addr8.as_mut().copy_from_slice(&src);
            fl.daddr.in6_u.u6_addr8.as_mut().copy_from_slice(&dst);
        }
        // SAFETY: `net` is live, the key initialised; no socket is needed.
        // The result is a held route or an error pointer.
        let d = unsafe {
            sys::ip6_dst_lookup_flow(net.as_ptr(), core::ptr::null(), &mut fl, core::ptr::null())
        };
        let d = kernel::error::from_err_ptr(d).map_err(|_| EHOSTUNREACH)?;
        let dst = NonNull::new(d).ok_or(EHOSTUNREACH)?;
        // INVARIANT: a held route; released by `drop` if it is an error one.
        let route = Route { dst, ipv6: true };
        // SAFETY: the route is held.
        if unsafe { sys::rxe_migros_dst_error(dst.as_ptr()) } != 0 {
            return Err(EHOSTUNREACH);
        }
        Ok(route)
    }

    /// Sends `skb`, whose IP and UDP headers are complete, along this route
    /// in `net`. The stack fills in the IP length and checksum.
    pub fn send(&self, net: &Net, skb: TxSkb) -> Result {
        let p = skb.into_raw();
        // SAFETY: `p` is a packet we own, whose network header is set; it
        // takes its own reference on the route, and the output path owns
        // and frees it whatever happens.
        let rc = unsafe {
            sys::rxe_migros_skb_dst_set_clone(p, self.dst.as_ptr());
            if self.ipv6 {
                sys::ip6_local_out(net.as_ptr(), core::ptr::null_mut(), p)
            } else {
                sys::ip_local_out(net.as_ptr(), core::ptr::null_mut(), p)
            }
        };
        // Positive values are congestion notices: the packet is gone, as
        // a lost one would be, and the transport's retries cover it.
        if rc < 0 {
            return Err(Error::from_errno(rc));
        }
        Ok(())
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // SAFETY: held (type invariant), released once.
        unsafe { sys::dst_release(self.dst.as_ptr()) }
    }
}
