// SPDX-License-Identifier: GPL-2.0

//! Socket buffers (`struct sk_buff`): packets handed to a driver by the
//! network stack, queues of them, and packets a driver builds to send.

use super::bindings as sys;
use super::netdev::NetDev;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The bytes from the network header of `skb` to its end, made contiguous
/// first if they were not.
///
/// # Safety
///
/// `skb` must be a live packet the caller owns, not written while the
/// returned slice lives (`'a`).
unsafe fn network_bytes<'a>(skb: *mut sys::sk_buff) -> Result<&'a [u8]> {
    // SAFETY: owned (caller).
    if unsafe { sys::rxe_migros_skb_linearize(skb) } != 0 {
        return Err(ENOMEM);
    }
    // SAFETY: the packet is linear, so the network header and the bytes up
    // to its tail are one readable allocation, which lives as long as the
    // packet and is not written meanwhile (caller).
    unsafe {
        let start = sys::rxe_migros_skb_network_header(skb);
        let len = sys::rxe_migros_skb_network_len(skb) as usize;
        Ok(core::slice::from_raw_parts(start, len))
    }
}

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
        // SAFETY: owned (type invariant); `&mut self` is lent meanwhile.
        unsafe { network_bytes(self.0.as_ptr()) }
    }

    /// Another reference to the same packet (`skb_clone`): its own
    /// `sk_buff`, sharing the bytes, which neither copy writes. `None`
    /// without memory.
    pub fn try_clone(&self) -> Option<SkBuff> {
        // SAFETY: a live packet (type invariant); the clone is new, ours,
        // and has the same device, kept alive as the original's.
        NonNull::new(unsafe { sys::rxe_migros_skb_clone(self.0.as_ptr()) }).map(SkBuff)
    }

    fn into_raw(self) -> *mut sys::sk_buff {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the packet (type invariant) and give it up once.
        unsafe { sys::rxe_migros_kfree_skb(self.0.as_ptr()) }
    }
}

/// A received packet taken off a [`SkbQueue`], outside the receive path:
/// its device may be gone, so only its bytes are offered.
///
/// # Invariants
///
/// `skb` is a live, linear `sk_buff` owned by this value.
pub struct QueuedSkb(NonNull<sys::sk_buff>);

// SAFETY: an owned packet may be processed and freed on any thread.
unsafe impl Send for QueuedSkb {}

impl QueuedSkb {
    /// The bytes from the network (IP) header to the end.
    pub fn network_bytes(&mut self) -> Result<&[u8]> {
        // SAFETY: owned (type invariant); `&mut self` is lent meanwhile.
        unsafe { network_bytes(self.0.as_ptr()) }
    }
}

impl Drop for QueuedSkb {
    fn drop(&mut self) {
        // SAFETY: we own the packet (type invariant) and give it up once.
        unsafe { sys::rxe_migros_kfree_skb(self.0.as_ptr()) }
    }
}

/// A queue of received packets (`struct sk_buff_head`), with its own lock:
/// filled in the receive path, emptied in process context.
#[pin_data(PinnedDrop)]
pub struct SkbQueue {
    #[pin]
    head: Opaque<sys::sk_buff_head>,
}

// SAFETY: the queue's own spinlock (taken with interrupts off) guards it.
unsafe impl Send for SkbQueue {}
// SAFETY: as above.
unsafe impl Sync for SkbQueue {}

impl SkbQueue {
    pub fn new() -> impl PinInit<Self> {
        pin_init!(SkbQueue {
            // SAFETY: initialises the list head and its lock in place.
            head <- Opaque::ffi_init(|p| unsafe { sys::rxe_migros_skb_queue_head_init(p) }),
        })
    }

    /// Appends a packet.
    pub fn push(&self, skb: SkBuff) {
        // SAFETY: the queue is initialised; ownership of the packet passes
        // to it.
        unsafe { sys::skb_queue_tail(self.head.get(), skb.into_raw()) }
    }

    /// Takes the oldest packet.
    pub fn pop(&self) -> Option<QueuedSkb> {
        // SAFETY: the queue is initialised; a packet taken off it is ours.
        let skb = unsafe { sys::skb_dequeue(self.head.get()) };
        // INVARIANT: packets are linearised before they are queued (the
        // receiver read their bytes), and now owned.
        NonNull::new(skb).map(QueuedSkb)
    }

    /// How many packets wait (a snapshot).
    pub fn queued(&self) -> u32 {
        // SAFETY: the queue is initialised; this reads its length once.
        unsafe { sys::rxe_migros_skb_queue_len(self.head.get()) }
    }
}

#[pinned_drop]
impl PinnedDrop for SkbQueue {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: the queue is initialised; its packets are freed.
        unsafe { sys::rxe_migros_skb_queue_purge(self.head.get()) }
    }
}

/// A packet being built for sending, owned until handed to the stack.
///
/// # Invariants
///
/// `skb` is a live, linear `sk_buff` owned by this value, whose data is
/// `len` bytes from its network header on.
pub struct TxSkb {
    skb: NonNull<sys::sk_buff>,
    len: usize,
}

// SAFETY: an owned packet may be built and sent on any thread.
unsafe impl Send for TxSkb {}

/// `ETH_P_IP` and `ETH_P_IPV6`.
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

impl TxSkb {
    /// A zeroed IPv4 or IPv6 packet of `len` bytes from its network header
    /// on, to go out through `ndev`, with room for its link-layer header.
    pub fn alloc(ndev: &NetDev, len: usize, ipv6: bool) -> Result<TxSkb> {
        // SAFETY: `ndev` is live.
        let room = unsafe { sys::rxe_migros_ll_reserved_space(ndev.as_ptr()) };
        let size = u32::try_from(len).map_err(|_| EINVAL)? + room;
        // SAFETY: allocates a new packet, or fails with null.
        let skb = NonNull::new(unsafe { sys::rxe_migros_alloc_skb(size) }).ok_or(ENOMEM)?;
        let p = skb.as_ptr();
        let proto = if ipv6 { ETH_P_IPV6 } else { ETH_P_IP };
        // SAFETY: a fresh linear packet with `size` bytes of room: reserve
        // the link layer's share, then claim and zero the rest. `ndev` is
        // live, and the stack takes its own reference when it queues.
        unsafe {
            sys::rxe_migros_skb_reserve(p, room as i32);
            let data = sys::skb_put(p, len as u32);
            core::ptr::write_bytes(data.cast::<u8>(), 0, len);
            sys::rxe_migros_skb_reset_network_header(p);
            sys::rxe_migros_skb_set_dev_proto(p, ndev.as_ptr(), proto.to_be());
        }
        Ok(TxSkb { skb, len })
    }

    /// The packet's bytes, from the network header on.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes from the network header are the packet's
        // (type invariant), and `&mut self` is lent meanwhile.
        unsafe {
            let start = sys::rxe_migros_skb_network_header(self.skb.as_ptr());
            core::slice::from_raw_parts_mut(start, self.len)
        }
    }

    /// Marks where the transport (UDP) header starts.
    pub fn set_transport_offset(&mut self, offset: usize) {
        // SAFETY: owned; the offset is within the data the caller wrote.
        unsafe { sys::rxe_migros_skb_set_transport_header(self.skb.as_ptr(), offset as i32) }
    }

    /// The packet as if it had been received on the netdev it was built
    /// for: a packet to one of the sender's own addresses, which a driver
    /// hands to its own receive path (the stack would hand it back on
    /// `lo`, where the driver has no device).
    pub fn into_received(self) -> SkBuff {
        let p = self.into_raw();
        // SAFETY: an owned, live, linear packet whose network header is
        // set and whose `dev` is the netdev `alloc` was given, which the
        // sender holds while it hands the packet on; a packet queued
        // afterwards is only read for its bytes.
        unsafe { SkBuff::from_raw(NonNull::new_unchecked(p)) }
    }

    /// Gives the packet up to the caller, who must free or send it.
    pub(crate) fn into_raw(self) -> *mut sys::sk_buff {
        let p = self.skb.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for TxSkb {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant), freed once.
        unsafe { sys::rxe_migros_kfree_skb(self.skb.as_ptr()) }
    }
}
