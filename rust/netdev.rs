// SPDX-License-Identifier: GPL-2.0

//! Network devices, borrowed from the networking core, and the netdevice
//! notifier chain that reports their changes.

use super::bindings as sys;
use core::marker::PhantomData;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A network device (`struct net_device`), borrowed.
///
/// # Invariants
///
/// A `&NetDev` is only made from a pointer to a live `net_device` that the
/// caller holds a reference on (or that the notifier chain keeps alive) for
/// the lifetime of the borrow.
#[repr(transparent)]
pub struct NetDev(Opaque<sys::net_device>);

impl NetDev {
    /// Borrows a `net_device`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `net_device` that stays alive for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut sys::net_device) -> &'a NetDev {
        // SAFETY: `NetDev` is a transparent wrapper of `net_device`, and the
        // caller guarantees the device lives for `'a`.
        unsafe { &*ptr.cast::<NetDev>() }
    }

    /// The interface index.
    pub fn ifindex(&self) -> i32 {
        // SAFETY: the device is live (type invariant).
        unsafe { sys::rxe_migros_netdev_ifindex(self.as_ptr()) }
    }

    /// The raw pointer, for calls into C.
    pub fn as_ptr(&self) -> *mut sys::net_device {
        self.0.get()
    }

    /// The interface name (`veth0`).
    pub fn name(&self) -> &CStr {
        // SAFETY: the device is live (type invariant); its name is a
        // NUL-terminated array inside it.
        unsafe { CStr::from_char_ptr(sys::rxe_migros_netdev_name(self.as_ptr())) }
    }

    /// The network namespace the device is in. A namespace outlives its
    /// devices: they move out or are destroyed before it goes.
    pub fn net(&self) -> &super::netns::Net {
        // SAFETY: the device is live (type invariant), and so is its
        // namespace while it is.
        unsafe { super::netns::Net::from_raw(sys::rxe_migros_dev_net(self.as_ptr())) }
    }

    /// The MTU in bytes.
    pub fn mtu(&self) -> u32 {
        // SAFETY: the device is live (type invariant).
        unsafe { sys::rxe_migros_netdev_mtu(self.as_ptr()) }
    }

    /// The first six bytes of the hardware address, or `None` for devices
    /// without one (tun in L3 mode, for example).
    pub fn mac(&self) -> Option<[u8; 6]> {
        let mut mac = [0u8; 6];
        // SAFETY: the device is live (type invariant); `mac` has room for
        // the six bytes copied.
        unsafe { sys::rxe_migros_netdev_mac(self.as_ptr(), mac.as_mut_ptr()) }.then_some(mac)
    }

    /// Makes the device receive frames to multicast address `mac`, once
    /// more for each call (`dev_mc_add`).
    pub fn mc_add(&self, mac: &[u8; 6]) -> Result {
        let addr = hw_addr(mac);
        // SAFETY: the device is live (type invariant); the core reads
        // `addr_len` bytes of the address, at most `MAX_ADDR_LEN`.
        to_result(unsafe { sys::dev_mc_add(self.as_ptr(), addr.as_ptr()) })
    }

    /// Undoes one [`NetDev::mc_add`] of `mac` (`dev_mc_del`).
    pub fn mc_del(&self, mac: &[u8; 6]) -> Result {
        let addr = hw_addr(mac);
        // SAFETY: as for `mc_add`.
        to_result(unsafe { sys::dev_mc_del(self.as_ptr(), addr.as_ptr()) })
    }

    /// Takes one more reference on the device's IP membership of multicast
    /// group `group`: the stack announces it (IGMP or MLD) and takes the
    /// group's datagrams in, as for a socket that joined the group on this
    /// device. ENODEV if the device has no IP configuration of that family.
    pub fn ip_mc_join(&self, group: IpGroup) -> Result {
        match group {
            IpGroup::V4(addr) => {
                let group = u32::from_ne_bytes(addr);
                let _rtnl = Rtnl::lock();
                // SAFETY: the device is live (type invariant) and RTNL is
                // held, as both calls need; a null `in_device` is checked.
                unsafe {
                    let in_dev = sys::rxe_migros_in_dev_get_rtnl(self.as_ptr());
                    if in_dev.is_null() {
                        return Err(ENODEV);
                    }
                    sys::ip_mc_inc_group(in_dev, group);
                }
                Ok(())
            }
            IpGroup::V6(addr) => {
                let group = in6_addr(&addr);
                // SAFETY: the device is live (type invariant); the address
                // is read for the call.
                to_result(unsafe { sys::ipv6_dev_mc_inc(self.as_ptr(), &group) })
            }
        }
    }

    /// Drops one reference [`NetDev::ip_mc_join`] took on `group`.
    pub fn ip_mc_leave(&self, group: IpGroup) {
        match group {
            IpGroup::V4(addr) => {
                let group = u32::from_ne_bytes(addr);
                let _rtnl = Rtnl::lock();
                // SAFETY: as for `ip_mc_join`.
                unsafe {
                    let in_dev = sys::rxe_migros_in_dev_get_rtnl(self.as_ptr());
                    if !in_dev.is_null() {
                        sys::__ip_mc_dec_group(in_dev, group, sys::GFP_KERNEL);
                    }
                }
            }
            IpGroup::V6(addr) => {
                let group = in6_addr(&addr);
                // SAFETY: as for `ip_mc_join`. An error means the device
                // lost its IPv6 state, and the membership with it.
                let _ = unsafe { sys::ipv6_dev_mc_dec(self.as_ptr(), &group) };
            }
        }
    }

    /// Whether the device is a VLAN on top of another one.
    pub fn is_vlan(&self) -> bool {
        // SAFETY: the device is live (type invariant).
        unsafe { sys::rxe_migros_is_vlan_dev(self.as_ptr()) }
    }

    /// Whether the device is administratively up.
    pub fn is_up(&self) -> bool {
        // SAFETY: the device is live (type invariant).
        unsafe { sys::netif_get_flags(self.as_ptr()) & sys::net_device_flags_IFF_UP != 0 }
    }

    /// Whether the device is running and has carrier: an RDMA port on it is
    /// ACTIVE exactly then.
    pub fn is_active(&self) -> bool {
        // SAFETY: the device is live (type invariant).
        unsafe { sys::rxe_migros_port_state(self.as_ptr()) == sys::ib_port_state_IB_PORT_ACTIVE }
    }
}

/// A six-byte MAC as a hardware address of any length the core allows
/// (`MAX_ADDR_LEN`), zero after the sixth byte.
fn hw_addr(mac: &[u8; 6]) -> [u8; 32] {
    let mut addr = [0u8; 32];
    addr[..6].copy_from_slice(mac);
    addr
}

/// A random locally administered unicast MAC, for devices that have none.
pub fn random_local_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    // SAFETY: fills the six bytes of a local array.
    unsafe { sys::get_random_bytes(mac.as_mut_ptr().cast(), mac.len()) };
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// An owned reference to a network device (`dev_hold` / `dev_put`).
pub struct NetDevRef(core::ptr::NonNull<sys::net_device>);

impl NetDevRef {
    /// Takes ownership of a reference the caller already holds.
    ///
    /// # Safety
    ///
    /// `ptr` must be a non-null `net_device` with a reference the caller
    /// transfers to the new value.
    pub unsafe fn from_raw_owned(ptr: *mut sys::net_device) -> Option<NetDevRef> {
        core::ptr::NonNull::new(ptr).map(NetDevRef)
    }
}

impl core::ops::Deref for NetDevRef {
    type Target = NetDev;
    fn deref(&self) -> &NetDev {
        // SAFETY: we hold a reference, so the device is live as long as `self`.
        unsafe { NetDev::from_raw(self.0.as_ptr()) }
    }
}

impl Drop for NetDevRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant) and give it back.
        unsafe { sys::rxe_migros_dev_put(self.0.as_ptr()) }
    }
}

/// What happened to a network device (`enum netdev_cmd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Brought up.
    Up,
    /// Brought down.
    Down,
    /// Carrier or operational state changed.
    Change,
    /// The MTU changed.
    ChangeMtu,
    /// Being removed: drop every reference to it.
    Unregister,
    /// Anything else, by its number.
    Other(u64),
}

impl Event {
    fn from_raw(cmd: u64) -> Event {
        match cmd as u32 {
            sys::netdev_cmd_NETDEV_UP => Event::Up,
            sys::netdev_cmd_NETDEV_DOWN => Event::Down,
            sys::netdev_cmd_NETDEV_CHANGE => Event::Change,
            sys::netdev_cmd_NETDEV_CHANGEMTU => Event::ChangeMtu,
            sys::netdev_cmd_NETDEV_UNREGISTER => Event::Unregister,
            _ => Event::Other(cmd),
        }
    }
}

/// Receives netdevice events. Called in process context under RTNL.
pub trait Listener: Send + Sync + 'static {
    /// `dev` changed as `event` says.
    fn event(event: Event, dev: &NetDev);
}

/// A registration on the netdevice notifier chain; unregisters on drop.
pub struct Notifier<T: Listener> {
    block: Pin<KBox<Opaque<sys::notifier_block>>>,
    _listener: PhantomData<T>,
}

// SAFETY: the notifier block is only touched by the notifier core under its
// own locking, and by `Drop`.
unsafe impl<T: Listener> Send for Notifier<T> {}
// SAFETY: `&Notifier` gives no access to anything.
unsafe impl<T: Listener> Sync for Notifier<T> {}

impl<T: Listener> Notifier<T> {
    /// Registers `T` for events of every network device in every namespace.
    /// Devices that already exist are replayed as `NETDEV_REGISTER` and
    /// `NETDEV_UP`.
    pub fn register() -> Result<Self> {
        let block = KBox::pin(Opaque::<sys::notifier_block>::zeroed(), GFP_KERNEL)?;
        // SAFETY: the block is pinned in its box, zeroed but for the callback,
        // and stays registered until `drop` unregisters it.
        unsafe {
            (*block.get()).notifier_call = Some(Self::call);
            to_result(sys::register_netdevice_notifier(block.get()))?;
        }
        Ok(Notifier {
            block,
            _listener: PhantomData,
        })
    }

    unsafe extern "C" fn call(
        _nb: *mut sys::notifier_block,
        event: kernel::ffi::c_ulong,
        info: *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int {
        // SAFETY: for netdevice notifiers `info` is a `netdev_notifier_info`
        // whose device is live for the duration of the call.
        let dev = unsafe { NetDev::from_raw(sys::rxe_migros_netdev_notifier_info_to_dev(info)) };
        T::event(Event::from_raw(event as u64), dev);
        sys::NOTIFY_DONE as kernel::ffi::c_int
    }
}

impl<T: Listener> Drop for Notifier<T> {
    fn drop(&mut self) {
        // SAFETY: the block was registered in `register` and is still pinned.
        unsafe { sys::unregister_netdevice_notifier(self.block.get()) };
    }
}

/// An IP multicast group address, in network byte order.
#[derive(Clone, Copy)]
pub enum IpGroup {
    V4([u8; 4]),
    V6([u8; 16]),
}

fn in6_addr(gid: &[u8; 16]) -> sys::in6_addr {
    // SAFETY: every member of `in6_addr` is plain bytes; all zero is `::`.
    let mut a: sys::in6_addr = unsafe { core::mem::zeroed() };
    // SAFETY: as above: the byte view of the union is always valid.
    unsafe { a.in6_u.u6_addr8.as_mut().copy_from_slice(gid) };
    a
}

/// RTNL, the networking core's configuration lock, held until dropped.
struct Rtnl;

impl Rtnl {
    fn lock() -> Rtnl {
        // SAFETY: may sleep; callers are in process context and hold no
        // lock that a holder of RTNL takes.
        unsafe { sys::rtnl_lock() };
        Rtnl
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: `lock` took it, and this value is its only release.
        unsafe { sys::rtnl_unlock() };
    }
}
