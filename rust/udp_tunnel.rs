// SPDX-License-Identifier: GPL-2.0

//! Kernel UDP sockets whose datagrams are handed to a driver as they arrive
//! (UDP tunnel sockets, `net/udp_tunnel.h`), the way encapsulations such as
//! VXLAN and RoCEv2 receive.

use super::bindings as sys;
use super::netns::Net;
use super::skb::SkBuff;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;

/// Receives the datagrams of a [`TunnelSocket`].
pub trait Receiver: 'static {
    /// A datagram arrived: `skb` runs from the IP header (its network
    /// header) and the receiver owns it. Runs in softirq context, inside an
    /// RCU read-side section.
    fn recv(skb: SkBuff);
}

/// Waits until every [`Receiver::recv`] call that began before has
/// returned (an RCU grace period). Process context only.
pub fn wait_for_receivers() {
    // SAFETY: a plain grace-period wait; callers are in process context.
    unsafe { sys::synchronize_rcu() };
}

/// A UDP socket bound to a port in a namespace, delivering every datagram
/// to `R`. Dropping it closes the socket.
///
/// # Invariants
///
/// `sk` is the `sock` of a kernel socket made by `udp_sock_create*` and set
/// up as a tunnel; this value owns it.
pub struct TunnelSocket<R: Receiver> {
    sk: NonNull<sys::sock>,
    _receiver: PhantomData<R>,
}

// SAFETY: the socket is owned and only released through `drop`, which may
// run on any thread.
unsafe impl<R: Receiver> Send for TunnelSocket<R> {}
// SAFETY: `&TunnelSocket` exposes nothing.
unsafe impl<R: Receiver> Sync for TunnelSocket<R> {}

impl<R: Receiver> TunnelSocket<R> {
    /// Binds UDP `port` (host order) on every address of `net`, over IPv6
    /// (v6-only) or IPv4.
    pub fn bind(net: &Net, port: u16, ipv6: bool) -> Result<Self> {
        // SAFETY: all-zeroes is a valid `udp_port_cfg` (no addresses, no
        // options).
        let mut cfg: sys::udp_port_cfg = unsafe { core::mem::zeroed() };
        cfg.local_udp_port = port.to_be();
        let mut sock: *mut sys::socket = core::ptr::null_mut();
        if ipv6 {
            cfg.family = sys::AF_INET6 as u8;
            cfg.set_ipv6_v6only(1);
            // SAFETY: `net` is live; `cfg` and `sock` are valid locals.
            to_result(unsafe { sys::udp_sock_create6(net.as_ptr(), &mut cfg, &mut sock) })?;
        } else {
            cfg.family = sys::AF_INET as u8;
            // SAFETY: as above.
            to_result(unsafe { sys::udp_sock_create4(net.as_ptr(), &mut cfg, &mut sock) })?;
        }
        // SAFETY: on success the core made a socket with a `sock`.
        let sk = unsafe { NonNull::new_unchecked((*sock).sk) };
        // SAFETY: all-zeroes is a valid `udp_tunnel_sock_cfg` (no hooks).
        let mut tnl: sys::udp_tunnel_sock_cfg = unsafe { core::mem::zeroed() };
        // Any non-zero type: it only tells UDP that the socket encapsulates.
        tnl.encap_type = 1;
        tnl.encap_rcv = Some(Self::encap_rcv);
        // SAFETY: `sk` is a fresh UDP socket of `net`.
        unsafe { sys::setup_udp_tunnel_sock(net.as_ptr(), sk.as_ptr(), &mut tnl) };
        Ok(TunnelSocket {
            sk,
            _receiver: PhantomData,
        })
    }

    unsafe extern "C" fn encap_rcv(_sk: *mut sys::sock, skb: *mut sys::sk_buff) -> i32 {
        if let Some(skb) = NonNull::new(skb) {
            // SAFETY: UDP hands us a received packet in its receive path;
            // returning 0 tells it we took ownership.
            R::recv(unsafe { SkBuff::from_raw(skb) });
        }
        0
    }
}

impl<R: Receiver> Drop for TunnelSocket<R> {
    fn drop(&mut self) {
        // SAFETY: we own the socket (type invariant) and close it once.
        unsafe { sys::udp_tunnel_sock_release(self.sk.as_ptr()) };
        // Readers of the socket table may still be inside `encap_rcv`: let
        // them leave before the code they run can be unloaded.
        // SAFETY: plain RCU grace period wait, in process context.
        unsafe { sys::synchronize_rcu() };
    }
}
