// SPDX-License-Identifier: GPL-2.0

//! RDMA devices (`struct ib_device`): allocation, registration with the RDMA
//! core, and the `ib_device_ops` table built from a [`Driver`].
//!
//! The RDMA core owns a registered device: it may unregister it at any time
//! (`rdma link del`, the netdev going away) and frees it after calling the
//! driver's `dealloc_driver`, where the driver data is dropped. A driver
//! therefore names its devices by [`DeviceHandle`], which does not keep them
//! alive, and borrows them through [`DeviceRef`], which does.

use super::attr::{DeviceAttr, PortAttr};
use super::bindings as sys;
use super::cq::{Arm, CqEvents, CqInit, WcOut};
use super::kmem::{KernelMemory, MappedPage};
use super::netdev::{NetDev, NetDevRef};
use super::ops::Ops;
use super::qp::{AddressVector, PdId, QpAttrValues, QpCaps, QpInit, RecvWr, SendWr};
use super::srq::{SrqAttr, SrqChange, SrqInit};
use super::stats::StatDesc;
use super::udata::UData;
use super::uobject::{Owner, UverbsFile};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::Opaque;
use kernel::ThisModule;

/// The driver a device belongs to (`enum rdma_driver_id`): how rdma-core
/// picks the user-space provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverId {
    /// Soft RoCE: librxe.
    Rxe,
}

impl DriverId {
    pub(crate) const fn raw(self) -> u32 {
        match self {
            DriverId::Rxe => sys::rdma_driver_id_RDMA_DRIVER_RXE,
        }
    }
}

/// What a driver provides for its devices. Each method runs in process
/// context, called by the RDMA core for a device of this driver.
pub trait Driver: Send + Sync + Sized + 'static {
    /// How rdma-core picks the user-space provider.
    const DRIVER_ID: DriverId;
    /// The uverbs ABI version the user-space provider expects.
    const UVERBS_ABI_VER: u32;
    /// Per-process context (`ib_ucontext`) data.
    type UContext: Send + Sync;
    /// Protection domain data.
    type Pd: Send + Sync;
    /// Memory region data.
    type Mr: Send + Sync;
    /// Completion queue data.
    type Cq: Send + Sync;
    /// Queue pair data.
    type Qp: Send + Sync;
    /// Address handle data.
    type Ah: Send + Sync;
    /// Shared receive queue data.
    type Srq: Send + Sync;
    /// Memory window data.
    type Mw: Send + Sync;

    /// Fills the device attributes.
    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr>;
    /// Fills the attributes of port `port` (the core has checked it exists).
    fn query_port(dev: &Device<Self>, port: u32) -> Result<PortAttr>;
    /// The P_Key at `index` of `port`'s table.
    fn query_pkey(dev: &Device<Self>, port: u32, index: u16) -> Result<u16>;
    /// Opens a user context (a process opening the device) on the uverbs
    /// file `file`.
    fn alloc_ucontext(dev: &Device<Self>, file: UverbsFile) -> Result<Self::UContext>;
    /// Allocates protection domain `id`.
    fn alloc_pd(dev: &Device<Self>, id: PdId, owner: Owner<'_, Self>) -> Result<Self::Pd>;
    /// Registers a DMA memory region (all of memory, for kernel users) with
    /// `access` (`ib_access_flags`); returns its data and its (lkey, rkey).
    fn get_dma_mr(
        dev: &Device<Self>,
        pd: PdId,
        access: i32,
        memory: KernelMemory,
    ) -> Result<(Self::Mr, u32, u32)>;
    /// Registers `len` bytes of the calling process's memory at `start`, which
    /// the process addresses as `iova`, with `access`; returns its data and
    /// its (lkey, rkey).
    fn reg_user_mr(
        dev: &Device<Self>,
        pd: PdId,
        start: u64,
        len: u64,
        iova: u64,
        access: i32,
        owner: Owner<'_, Self>,
    ) -> Result<(Self::Mr, u32, u32)>;
    /// The MR is being deregistered; its data is dropped afterwards,
    /// unless this refuses (the core tries again later when a process's
    /// objects go).
    fn dereg_mr(dev: &Device<Self>, mr: &Self::Mr) -> Result;
    /// Allocates a memory window of type `ty` (`enum ib_mw_type`) in
    /// `pd`; returns its data and its rkey.
    fn alloc_mw(
        dev: &Device<Self>,
        pd: PdId,
        ty: u32,
        owner: Owner<'_, Self>,
    ) -> Result<(Self::Mw, u32)>;
    /// The window is being deallocated; its data is dropped afterwards.
    fn dealloc_mw(dev: &Device<Self>, mw: &Self::Mw);
    /// Allocates a fast-registration MR (`ib_alloc_mr`, IB_MR_TYPE_MEM_REG)
    /// in a kernel consumer's `pd`, for page lists of up to `max_pages`;
    /// returns its data and its (lkey, rkey). EOPNOTSUPP unless the
    /// driver offers fast registration.
    fn alloc_fast_mr(
        _dev: &Device<Self>,
        _pd: PdId,
        _max_pages: u32,
    ) -> Result<(Self::Mr, u32, u32)> {
        Err(EOPNOTSUPP)
    }
    /// `ib_map_mr_sg` of a fast-registration MR begins: a new page list
    /// of `page_size` pages. [`Driver::map_mr_page`] then gets each page
    /// in order, and [`Driver::map_mr_end`] the first mapped byte's
    /// address.
    fn map_mr_begin(_mr: &Self::Mr, _page_size: u32) -> Result {
        Err(EOPNOTSUPP)
    }
    /// The next page of the list begun by [`Driver::map_mr_begin`].
    fn map_mr_page(_mr: &Self::Mr, _page: MappedPage) -> Result {
        Err(EOPNOTSUPP)
    }
    /// The page list is complete; its mapped bytes begin at `iova`.
    fn map_mr_end(_mr: &Self::Mr, _iova: u64) {}
    /// Changes a process's MR in place (`ibv_rereg_mr`); the core moves
    /// it to the new PD itself once this succeeds. EOPNOTSUPP unless the
    /// driver offers it.
    fn rereg_user_mr(_dev: &Device<Self>, _mr: &Self::Mr, _change: &MrChange) -> Result {
        Err(EOPNOTSUPP)
    }
    /// Whether the driver registers process memory paged on demand
    /// (`IB_ACCESS_ON_DEMAND`) and prefetches it ([`Driver::advise_mr`]);
    /// the core refuses `ibv_advise_mr` otherwise.
    const ON_DEMAND_PAGING: bool = false;
    /// `ibv_advise_mr`: brings in the memory of `sges`, each a range of an
    /// MR of `pd` named by its lkey, as `advice` says. With `flush` the
    /// caller waits for it, and a fault that fails is its error; without,
    /// it is a hint, and only a bad key or range is.
    fn advise_mr(
        _dev: &Device<Self>,
        _pd: PdId,
        _advice: Prefetch,
        _flush: bool,
        _sges: &[Sge],
    ) -> Result {
        Err(EOPNOTSUPP)
    }
    /// Creates a CQ. `udata` is `None` for kernel consumers; `events`
    /// reaches the consumer. Returns the CQ and its usable number of entries.
    fn create_cq(
        dev: &Device<Self>,
        init: &CqInit,
        udata: Option<&UData<'_>>,
        events: Arc<CqEvents>,
        owner: Owner<'_, Self>,
    ) -> Result<(Self::Cq, u32)>;
    /// Resizes a process's CQ to at least `entries`; returns the usable
    /// number.
    fn resize_user_cq(cq: &Self::Cq, entries: u32, udata: &UData<'_>) -> Result<u32>;
    /// Takes up to `wc.len()` completions of a kernel CQ; returns how many.
    fn poll_cq(cq: &Self::Cq, wc: &mut WcOut<'_>) -> usize;
    /// Arms a CQ (`None` when the flags arm nothing); returns whether
    /// completions are already waiting, when `report_missed` asks
    /// (`IB_CQ_REPORT_MISSED_EVENTS`).
    fn req_notify_cq(cq: &Self::Cq, arm: Option<Arm>, report_missed: bool) -> bool;

    /// Creates an address handle for `av` in `pd`; `udata` is `None` for kernel
    /// consumers, and `sleepable` tells whether the caller may sleep.
    fn create_ah(
        dev: &Device<Self>,
        pd: PdId,
        av: &AddressVector,
        udata: Option<&UData<'_>>,
        sleepable: bool,
        owner: Owner<'_, Self>,
    ) -> Result<Self::Ah>;
    /// Reports an address handle's address.
    fn query_ah(ah: &Self::Ah) -> AddressVector;
    /// The AH is being destroyed; its data is dropped afterwards.
    fn destroy_ah(dev: &Device<Self>, ah: &Self::Ah);

    /// Creates a QP; `udata` is `None` for kernel consumers. Returns the
    /// QP, its number and the capacities granted.
    fn create_qp(
        dev: &Device<Self>,
        init: &QpInit<'_, Self::Cq, Self::Srq>,
        udata: Option<&UData<'_>>,
        owner: Owner<'_, Self>,
    ) -> Result<(Self::Qp, u32, QpCaps)>;
    /// Applies the attributes `mask` names (`ib_qp_attr_mask`) from `attr`.
    fn modify_qp(qp: &Self::Qp, attr: &QpAttrValues, mask: u32) -> Result;
    /// Reports the QP's attributes into `attr`; returns its capacities and
    /// whether every send WR is signalled.
    fn query_qp(qp: &Self::Qp) -> Result<(QpAttrValues, QpCaps, bool)>;
    /// The send doorbell of a process's QP: work requests wait in its
    /// send queue (`ibv_post_send`'s zero-WR POST_SEND).
    fn post_send(dev: &Device<Self>, qp: &Self::Qp) -> Result;
    /// Queues one send work request of a kernel consumer's QP. It may be
    /// called in any context, with spinlocks held and interrupts off: it
    /// must not sleep. ENOMEM when the send queue is full, EINVAL for a
    /// request the QP cannot carry out.
    fn post_kernel_send(qp: &Self::Qp, wr: &SendWr<'_, Self::Ah>) -> Result;
    /// After a chain of [`Driver::post_kernel_send`]: starts sending, in
    /// the same contexts.
    fn kick_send(qp: &Self::Qp);
    /// Queues one receive work request of a kernel consumer's QP, under
    /// the same rules.
    fn post_kernel_recv(qp: &Self::Qp, wr: &RecvWr<'_>) -> Result;
    /// The QP is being destroyed: no packet may reach it after this
    /// returns. Its data is dropped afterwards.
    fn destroy_qp(dev: &Device<Self>, qp: &Self::Qp);

    /// Creates a shared receive queue; `udata` is `None` for kernel
    /// consumers. Returns it, with the sizes granted.
    fn create_srq(
        dev: &Device<Self>,
        init: &SrqInit,
        udata: Option<&UData<'_>>,
        owner: Owner<'_, Self>,
    ) -> Result<(Self::Srq, SrqAttr)>;
    /// Applies what `change` names of `attr`; `udata` is the user's call's.
    fn modify_srq(
        srq: &Self::Srq,
        attr: &SrqAttr,
        change: SrqChange,
        udata: Option<&UData<'_>>,
    ) -> Result;
    /// Reports the SRQ's sizes and limit.
    fn query_srq(srq: &Self::Srq) -> Result<SrqAttr>;
    /// Queues one receive work request of a kernel consumer's SRQ, under
    /// the rules of [`Driver::post_kernel_recv`].
    fn post_kernel_srq_recv(srq: &Self::Srq, wr: &RecvWr<'_>) -> Result;
    /// The SRQ is being destroyed (no QP uses it any more); its data is
    /// dropped afterwards.
    fn destroy_srq(dev: &Device<Self>, srq: &Self::Srq);

    /// Whether the driver attaches UD QPs to multicast groups
    /// ([`Driver::attach_mcast`]); the core refuses the verbs otherwise.
    const MULTICAST: bool = false;
    /// Attaches UD QP `qp` to the multicast group of `gid` with `lid`;
    /// attaching it again is no error. The core checked that `gid` is a
    /// multicast address and `qp` a UD QP.
    fn attach_mcast(_dev: &Device<Self>, _qp: &Self::Qp, _gid: &[u8; 16], _lid: u16) -> Result {
        Err(EOPNOTSUPP)
    }
    /// Detaches `qp` from the group of `gid` (attached with `lid`); EINVAL
    /// if it is not in it.
    fn detach_mcast(_dev: &Device<Self>, _qp: &Self::Qp, _gid: &[u8; 16], _lid: u16) -> Result {
        Err(EOPNOTSUPP)
    }

    /// The device is unregistered and about to be freed: forget it. Its
    /// data is dropped after this returns.
    fn dealloc(dev: &Device<Self>);

    /// The port's counters (sysfs `hw_counters`, `rdma statistic`), by
    /// name; none if empty.
    const HW_STATS: &'static [StatDesc] = &[];
    /// Reads the counters of `HW_STATS` into `values`, one for one.
    fn hw_stats(_dev: &Device<Self>, _values: &mut [u64]) {}

    /// Whether the driver answers management datagrams itself
    /// ([`Driver::process_mad`]); the core then also offers the port's
    /// PMA counters in sysfs (`ports/N/counters`).
    const PROCESS_MAD: bool = false;
    /// Answers the management datagram `mad` (of `MAD_BYTES`) arriving at
    /// `port`, or that the core asks on its own behalf, into `out`.
    fn process_mad(
        _dev: &Device<Self>,
        _port: u32,
        _mad: &[u8; MAD_BYTES],
        _out: &mut [u8; MAD_BYTES],
    ) -> MadAnswer {
        MadAnswer::NotOurs
    }
}

/// What `ibv_rereg_mr` asks to change (`IB_MR_REREG_TRANS`, `_PD`,
/// `_ACCESS`); what is `None` stays.
#[derive(Clone, Copy, Debug)]
pub struct MrChange {
    /// Other memory: (start, length, iova).
    pub translation: Option<(u64, u64, u64)>,
    pub pd: Option<PdId>,
    /// `ib_access_flags`.
    pub access: Option<i32>,
}

/// What `ibv_advise_mr` asks of memory paged on demand
/// (`enum ib_uverbs_advise_mr_advice`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// Fault the pages in for reading (`PREFETCH`).
    Read,
    /// Fault them in for writing (`PREFETCH_WRITE`).
    Write,
    /// Take the pages that are present, fault none (`PREFETCH_NO_FAULT`).
    Present,
}

/// A range of a registered MR, named by its lkey (`struct ib_sge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sge {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}

/// Bytes in a management datagram (`struct ib_mad`).
pub const MAD_BYTES: usize = 256;

/// What the driver made of a management datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadAnswer {
    /// The answer is in `out`, to be sent back (or read by the core).
    Reply,
    /// Not the driver's: the MAD layer's agents take it.
    NotOurs,
    /// Refused (a port the device does not have).
    Failure,
}

/// An RDMA device of driver `T`: the core's `ib_device` followed by the
/// driver's data.
///
/// # Invariants
///
/// `ib` was allocated by `_ib_alloc_device` with the size of `Self`, its ops
/// are `Ops::<T>::TABLE`, and `data` is initialised until `dealloc_driver`.
#[repr(C)]
pub struct Device<T: Driver> {
    ib: Opaque<sys::ib_device>,
    pub(super) data: T,
}

/// Fixed facts about a new device.
pub struct DeviceInfo<'a> {
    /// Node GUID, in host byte order.
    pub node_guid: u64,
    /// Node description (`node_desc`), at most 63 bytes.
    pub node_desc: &'a [u8],
    /// Completion vectors offered to consumers.
    pub num_comp_vectors: i32,
}

/// A device allocated but not (yet) registered. Dropping it frees it, through
/// the driver's `dealloc` like any other device.
pub struct NewDevice<T: Driver> {
    ib: NonNull<sys::ib_device>,
    _driver: PhantomData<T>,
}

impl<T: Driver> NewDevice<T> {
    /// Allocates a device holding `data`.
    pub fn new(module: &'static ThisModule, info: &DeviceInfo<'_>, data: T) -> Result<Self> {
        // SAFETY: the size covers `Device<T>`, whose `ib_device` is at offset
        // 0 (`repr(C)`); `init_net` is the namespace the C rxe uses too.
        let ib = unsafe { sys::_ib_alloc_device(size_of::<Device<T>>(), &raw mut sys::init_net) };
        let ib = NonNull::new(ib).ok_or(ENOMEM)?;
        let dev = ib.as_ptr().cast::<Device<T>>();
        // SAFETY: `ib` is a fresh, exclusively owned allocation of the size of
        // `Device<T>`; `data` is initialised before the ops, whose
        // `dealloc_driver` drops it, are set.
        unsafe {
            core::ptr::write(&raw mut (*dev).data, data);
            let raw = ib.as_ptr();
            sys::rxe_migros_ib_mark_name_assigned_by_user(raw);
            (*raw).node_type = sys::RDMA_NODE_IB_CA as u8;
            (*raw).phys_port_cnt = 1;
            (*raw).num_comp_vectors = info.num_comp_vectors;
            (*raw).local_dma_lkey = 0;
            (*raw).node_guid = info.node_guid.to_be();
            let desc = &mut (*raw).node_desc;
            let room = desc.len() - 1;
            for (d, s) in desc.iter_mut().zip(info.node_desc.iter().take(room)) {
                *d = *s as kernel::ffi::c_char;
            }
            // The send doorbell of user QPs is a zero-WR POST_SEND write.
            (*raw).uverbs_cmd_mask |= 1u64 << sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_POST_SEND
                | 1u64 << sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REQ_NOTIFY_CQ;
            sys::ib_set_device_ops(raw, &Ops::<T>::TABLE);
            (*raw).ops.owner = module.as_ptr();
        }
        Ok(NewDevice {
            ib,
            _driver: PhantomData,
        })
    }

    /// The handle the device will have once registered.
    pub fn handle(&self) -> DeviceHandle {
        DeviceHandle(self.ib)
    }

    /// Attaches port 1 to `ndev` and registers the device as `name`. From
    /// then on the RDMA core owns it; on failure it is freed.
    pub fn register(self, name: &CStr, ndev: &NetDev) -> Result {
        let ib = self.ib.as_ptr();
        // SAFETY: the device is allocated and not registered; `ndev` is live.
        to_result(unsafe { sys::ib_device_set_netdev(ib, ndev.as_ptr(), 1) })?;
        // SAFETY: as above; `name` is NUL-terminated.
        to_result(unsafe {
            sys::ib_register_device(ib, name.as_char_ptr(), core::ptr::null_mut())
        })?;
        // The core owns it now and frees it after `dealloc_driver`.
        core::mem::forget(self);
        Ok(())
    }
}

impl<T: Driver> Drop for NewDevice<T> {
    fn drop(&mut self) {
        // SAFETY: the device is not registered (a failed registration hands
        // it back); `ib_dealloc_device` calls `dealloc_driver` and frees it.
        unsafe { sys::ib_dealloc_device(self.ib.as_ptr()) }
    }
}

impl<T: Driver> Device<T> {
    /// # Safety
    ///
    /// `ib` must be a live device of this driver (registered with
    /// `Ops::<T>::TABLE`), alive for `'a`.
    pub(super) unsafe fn from_ib<'a>(ib: *mut sys::ib_device) -> &'a Self {
        // SAFETY: per the caller, `ib` starts a live `Device<T>`.
        unsafe { &*ib.cast::<Self>() }
    }

    pub(crate) fn as_ib(&self) -> *mut sys::ib_device {
        self.ib.get()
    }

    /// The device's name (`rxe0`).
    pub fn name(&self) -> &CStr {
        // SAFETY: the device is live; `dev_name` returns its NUL-terminated
        // kobject name.
        unsafe { CStr::from_char_ptr(sys::dev_name(core_device(self.as_ib()))) }
    }

    /// A handle naming this device.
    pub fn handle(&self) -> DeviceHandle {
        // SAFETY: `as_ib` is never null.
        DeviceHandle(unsafe { NonNull::new_unchecked(self.as_ib()) })
    }

    /// The network device under `port`, if it is still attached.
    pub fn netdev(&self, port: u32) -> Option<NetDevRef> {
        // SAFETY: the device is live; the core returns a held reference or
        // null.
        unsafe { NetDevRef::from_raw_owned(sys::ib_device_get_netdev(self.as_ib(), port)) }
    }

    /// The index of the RoCEv2 GID `gid` in port `port`'s GID table;
    /// ENOENT if the port has no such GID.
    pub fn roce_gid_index(&self, port: u32, gid: &[u8; 16]) -> Result<u8> {
        let mut raw = sys::ib_gid::default();
        // SAFETY: `raw` is a plain union of byte views; all are valid.
        unsafe { *raw.raw.as_mut() = *gid };
        // SAFETY: the device is live and `raw` outlives the call, which
        // returns a held GID entry or an error pointer.
        let attr = unsafe {
            sys::rdma_find_gid_by_port(
                self.as_ib(),
                &raw,
                sys::ib_gid_type_IB_GID_TYPE_ROCE_UDP_ENCAP,
                port,
                core::ptr::null_mut(),
            )
        };
        let attr = kernel::error::from_err_ptr(attr.cast_mut()).map_err(|_| ENOENT)?;
        // SAFETY: `attr` is a held entry: read, then released.
        let index = unsafe {
            let index = (*attr).index;
            sys::rdma_put_gid_attr(attr);
            index
        };
        u8::try_from(index).map_err(|_| ERANGE)
    }

    /// Reports `ndev`'s link state as a port event if it changed.
    pub fn dispatch_port_state(&self, ndev: &NetDev) {
        // SAFETY: both devices are live.
        unsafe { sys::ib_dispatch_port_state_event(self.as_ib(), ndev.as_ptr()) }
    }

    /// Starts unregistering the device from a work item; returns at once.
    /// Used where the caller holds locks the unregistration takes (RTNL).
    pub fn unregister_queued(&self) {
        // SAFETY: the device is live and was registered with `dealloc_driver`.
        unsafe { sys::ib_unregister_device_queued(self.as_ib()) }
    }

    /// Speed and width of the port's Ethernet link, as the core computes them.
    pub fn eth_speed(&self, port: u32) -> Result<(u16, u8)> {
        let (mut speed, mut width) = (0u16, 0u8);
        // SAFETY: the device is live; the outputs are valid locals.
        to_result(unsafe { sys::ib_get_eth_speed(self.as_ib(), port, &mut speed, &mut width) })?;
        Ok((speed, width))
    }
}

impl<T: Driver> core::ops::Deref for Device<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

/// The `struct device` inside an `ib_device` (a member of an anonymous
/// union, which bindgen wraps in a zero-sized field at the union's address).
///
/// # Safety
///
/// `ib` must point to an allocated `ib_device`.
unsafe fn core_device(ib: *mut sys::ib_device) -> *mut sys::device {
    // SAFETY: a field projection of a valid pointer (caller).
    unsafe { (&raw mut (*ib).__bindgen_anon_1.dev).cast() }
}

/// Names a registered device without keeping it alive. Comparable, so a
/// driver can keep a list of its devices.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceHandle(NonNull<sys::ib_device>);

// SAFETY: a handle is an address; using it takes the `unsafe` of `hold`.
unsafe impl Send for DeviceHandle {}
// SAFETY: as above.
unsafe impl Sync for DeviceHandle {}

impl DeviceHandle {
    /// Takes a reference on the device's memory.
    ///
    /// # Safety
    ///
    /// The device must not have been freed: its `dealloc_driver` must not
    /// have returned. Drivers ensure this by removing the handle from their
    /// list in `dealloc_driver`, under the lock the caller holds here.
    pub unsafe fn hold(self) -> HeldDevice {
        // SAFETY: the device is not freed (caller), so its `struct device`
        // is valid to take a reference on.
        unsafe { sys::get_device(core_device(self.0.as_ptr())) };
        HeldDevice(self.0)
    }

    /// The device, borrowed.
    ///
    /// # Safety
    ///
    /// The device's driver data must stay alive for `'a`: its
    /// `dealloc_driver` must not run meanwhile. A driver ensures this for
    /// objects the core destroys before the device, such as QPs, by
    /// finishing their deferred work before their destroy op returns.
    pub unsafe fn get<'a, T: Driver>(self) -> &'a Device<T> {
        // SAFETY: alive for `'a` (caller), and a device of `T` (its handle
        // came from a `Device<T>`).
        unsafe { Device::from_ib(self.0.as_ptr()) }
    }
}

/// A device whose memory is kept alive (`get_device`), whether or not it is
/// still registered.
pub struct HeldDevice(NonNull<sys::ib_device>);

impl HeldDevice {
    /// Unregisters the device if it still is, and returns once its driver
    /// data is dropped (`dealloc_driver` has run), here or elsewhere.
    pub fn unregister(&self) {
        // SAFETY: the memory is held; unregistering twice is a no-op.
        unsafe { sys::ib_unregister_device(self.0.as_ptr()) }
    }
}

impl Drop for HeldDevice {
    fn drop(&mut self) {
        // SAFETY: drops the reference `hold` took.
        unsafe { sys::put_device(core_device(self.0.as_ptr())) }
    }
}

/// A registered device of driver `T`, kept registered while borrowed
/// (`ib_device_get_by_netdev` / `ib_device_put`).
pub struct DeviceRef<T: Driver> {
    ib: NonNull<sys::ib_device>,
    _driver: PhantomData<T>,
}

impl<T: Driver> DeviceRef<T> {
    /// The device of this driver (`module`) on `ndev`, if there is one.
    pub fn by_netdev(ndev: &NetDev, module: &'static ThisModule) -> Option<Self> {
        // SAFETY: `ndev` is live; the core returns a held device or null.
        let ib = NonNull::new(unsafe {
            sys::ib_device_get_by_netdev(ndev.as_ptr(), T::DRIVER_ID.raw())
        })?;
        // SAFETY: the device is held, so its ops are readable.
        if unsafe { (*ib.as_ptr()).ops.owner } != module.as_ptr() {
            // Another driver with the same id (the C rxe): not ours.
            // SAFETY: drops the reference taken above.
            unsafe { sys::ib_device_put(ib.as_ptr()) };
            return None;
        }
        Some(DeviceRef {
            ib,
            _driver: PhantomData,
        })
    }

    /// Any device with this driver's id on `ndev`, of whichever module.
    pub fn any_on(ndev: &NetDev) -> bool {
        // SAFETY: `ndev` is live; a non-null result is a reference we drop.
        let ib = unsafe { sys::ib_device_get_by_netdev(ndev.as_ptr(), T::DRIVER_ID.raw()) };
        if ib.is_null() {
            return false;
        }
        // SAFETY: drops the reference taken above.
        unsafe { sys::ib_device_put(ib) };
        true
    }
}

impl<T: Driver> core::ops::Deref for DeviceRef<T> {
    type Target = Device<T>;
    fn deref(&self) -> &Device<T> {
        // SAFETY: the device is ours (checked in `by_netdev`) and held.
        unsafe { Device::from_ib(self.ib.as_ptr()) }
    }
}

impl<T: Driver> Drop for DeviceRef<T> {
    fn drop(&mut self) {
        // SAFETY: drops the reference `by_netdev` took.
        unsafe { sys::ib_device_put(self.ib.as_ptr()) }
    }
}
