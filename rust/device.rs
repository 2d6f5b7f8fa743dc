// SPDX-License-Identifier: GPL-2.0

//! RDMA devices (`struct ib_device`): allocation, registration with the RDMA
//! core, and the `ib_device_ops` table built from a [`Driver`].
//!
//! The RDMA core owns a registered device: it may unregister it at any time
//! (`rdma link del`, the netdev going away) and frees it after calling the
//! driver's `dealloc_driver`, where the driver data is dropped. A driver
//! therefore names its devices by [`DeviceHandle`], which does not keep them
//! alive, and borrows them through [`DeviceRef`], which does.

use super::bindings as sys;
use super::cq::{CqEvents, CqInit};
use super::kmem::KernelMemory;
use super::netdev::{NetDev, NetDevRef};
use super::qp::{AddressVector, CoreQp, PdId, QpCaps, QpInit, QpType, RecvWr, SendWr, UdWr};
use super::udata::UData;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::NonNull;
use kernel::error::{from_result, to_result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::Opaque;
use kernel::ThisModule;

/// Device attributes as `ibv_query_device` reports them.
pub type DeviceAttr = sys::ib_device_attr;
/// Port attributes as `ibv_query_port` reports them.
pub type PortAttr = sys::ib_port_attr;

/// The identity of a uverbs file (the `ib_uverbs_file` behind an open
/// /dev/infiniband/uverbsN), for telling which user context a file
/// descriptor names. It is only ever compared, never followed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UverbsFile(usize);

impl UverbsFile {
    /// The uverbs file that the caller's descriptor `fd` would be, if it
    /// is one: what matches no user context is not. EBADF if `fd` is not
    /// open.
    pub fn of_fd(fd: i32) -> Result<UverbsFile> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = kernel::fs::LocalFile::fget(fd).map_err(|_| EBADF)?;
        Ok(Self::of_file(&file))
    }

    /// The uverbs file that `file` would be, if it is one.
    pub fn of_file(file: &kernel::fs::LocalFile) -> UverbsFile {
        // SAFETY: `file` holds a reference to a live `struct file`; its
        // `private_data` (a uverbs file's `ib_uverbs_file`) is read as a
        // number and never followed.
        let private = unsafe { (*file.as_ptr()).private_data };
        UverbsFile(private as usize)
    }

    /// The uverbs file that an event file (uverbs' `[infinibandevent]`:
    /// a context's asynchronous event file, or a completion channel)
    /// belongs to, if the caller's descriptor `fd` is one. EBADF if `fd`
    /// is not open; ENODEV if it is no such file.
    pub fn of_event_fd(fd: i32) -> Result<EventFile> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = kernel::fs::LocalFile::fget(fd).map_err(|_| EBADF)?;
        let f = file.as_ptr();
        // SAFETY: `file` holds a reference to a live `struct file`, whose
        // operations, dentry and private data stay while it is held.
        // uverbs gives every file it makes for an object the release
        // method `uverbs_uobject_fd_release` and, once the object is
        // committed, the object's `ib_uobject` as private data (null only
        // while it is being aborted). The `ufile` of that object is read
        // as a number and never followed.
        unsafe {
            let ops = (*f).f_op;
            let release = sys::uverbs_uobject_fd_release as *const () as usize;
            if ops.is_null() || (*ops).release.map(|r| r as usize) != Some(release) {
                return Err(ENODEV);
            }
            let name = (*(*f).__bindgen_anon_1.f_path.dentry)
                .__bindgen_anon_1
                .d_name
                .name;
            if CStr::from_char_ptr(name.cast()).to_bytes() != b"[infinibandevent]" {
                return Err(ENODEV);
            }
            let uobj = (*f).private_data.cast::<sys::ib_uobject>();
            if uobj.is_null() {
                return Err(ENODEV);
            }
            Ok(EventFile {
                ufile: UverbsFile((*uobj).ufile as usize),
                queue: uobj as usize + EVENT_QUEUE_OFFSET,
            })
        }
    }
}

/// Where an event file's event queue is, from its `ib_uobject`: both
/// kinds (`struct ib_uverbs_async_event_file` and
/// `ib_uverbs_completion_event_file`, private to the core) start with
/// their `ib_uobject`, followed by their `ib_uverbs_event_queue`, which is
/// pointer-aligned. Only ever compared: a wrong offset could only fail to
/// match a CQ to its channel.
const EVENT_QUEUE_OFFSET: usize = size_of::<sys::ib_uobject>().next_multiple_of(8);

/// An event file of a uverbs file (`[infinibandevent]`).
pub struct EventFile {
    /// The uverbs file it belongs to.
    pub ufile: UverbsFile,
    /// Its event queue, as an identity: a completion channel's is the
    /// `channel` of the CQs that report to it ([`CqInit`]).
    pub queue: usize,
}

/// Where the RDMA core keeps the uverbs object of a user object (the
/// `uobject` field of its `ib_pd`, `ib_mr`, `ib_cq`, `ib_qp` or `ib_ah`),
/// so that the driver can tell, at checkpoint time, which handle the
/// process knows the object by. The core sets the field during the create
/// call or right after it returns.
#[derive(Clone, Copy)]
pub struct UHandle {
    field: NonNull<*mut sys::ib_uobject>,
    kind: UKind,
}

/// Which uverbs object a [`UHandle`]'s field points to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UKind {
    /// A bare `ib_uobject` (PD, MR, AH).
    Plain,
    /// An `ib_ucq_object`.
    Cq,
    /// An `ib_uqp_object`.
    Qp,
}

/// The identities of a user object.
#[derive(Clone, Copy, Debug)]
pub struct UIds {
    /// Its handle in its uverbs file.
    pub handle: u32,
    /// What the process gave when it created it (libibverbs' address of
    /// its own struct for the object, which the core hands back in events).
    pub user_handle: u64,
    /// The events the core has counted as read by the process for it.
    pub events: EventCounts,
}

/// How many events the core has handed a process for one of its objects:
/// what it answers when the process destroys the object, and what
/// libibverbs then waits for its own acknowledgements to reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Completion events (CQs).
    pub completion: u32,
    /// Asynchronous events (CQs and QPs).
    pub asynchronous: u32,
}

// SAFETY: a location only read through `get`, whose caller vouches for it.
unsafe impl Send for UHandle {}
// SAFETY: as for `Send`.
unsafe impl Sync for UHandle {}

impl UHandle {
    /// The location of `field`, the `uobject` field of a core object of
    /// `kind`. `ib_ucq_object` and `ib_uqp_object` start with their
    /// `ib_uobject` (inside `ib_uevent_object`), so all are read alike.
    ///
    /// # Safety
    ///
    /// `field` must be the address of such a field (so never null).
    unsafe fn at<U>(field: *mut *mut U, kind: UKind) -> Self {
        UHandle {
            // SAFETY: per the caller, the address of a field.
            field: unsafe { NonNull::new_unchecked(field.cast()) },
            kind,
        }
    }

    /// The uverbs object, once the core has set it; `None` for an object of
    /// the kernel, or one still being created.
    ///
    /// # Safety
    ///
    /// The object must not have been destroyed.
    unsafe fn uobject(self) -> Option<NonNull<sys::ib_uobject>> {
        // SAFETY: per the caller the object, and so its field, is live.
        // The core may be setting the field on another CPU; a whole
        // pointer is read either way.
        NonNull::new(unsafe { core::ptr::read_volatile(self.field.as_ptr()) })
    }

    /// The object's identities, once the core has set them; `None` for an
    /// object of the kernel, or one still being created.
    ///
    /// # Safety
    ///
    /// The object must not have been destroyed: its driver data (which
    /// the create call that received this handle returned) must not have
    /// been dropped yet.
    pub unsafe fn ids(self) -> Option<UIds> {
        // SAFETY: per the caller.
        let uobj = unsafe { self.uobject() }?.as_ptr();
        // SAFETY: a set `uobject` lives as long as its object; the core
        // sets its user handle before it publishes it.
        let (id, user_handle) = unsafe { ((*uobj).id, (*uobj).user_handle) };
        Some(UIds {
            handle: u32::try_from(id).ok()?,
            user_handle,
            // SAFETY: as above.
            events: unsafe { self.events(uobj) },
        })
    }

    /// The events the core has counted as read by the process for the
    /// object (zero for objects without events).
    ///
    /// # Safety
    ///
    /// `uobj` must be the object's live uverbs object.
    unsafe fn events(self, uobj: *mut sys::ib_uobject) -> EventCounts {
        // SAFETY: `kind` says which object `uobj` is the first member of.
        // The counts are raised under the locks of the object's event
        // files as the process reads events; a count read while that
        // happens is one or the other value.
        unsafe {
            match self.kind {
                UKind::Plain => EventCounts::default(),
                UKind::Qp => EventCounts {
                    completion: 0,
                    asynchronous: core::ptr::read_volatile(
                        &raw const (*uobj.cast::<sys::ib_uqp_object>()).uevent.events_reported,
                    ),
                },
                UKind::Cq => {
                    let cq = uobj.cast::<sys::ib_ucq_object>();
                    EventCounts {
                        completion: core::ptr::read_volatile(&raw const (*cq).comp_events_reported),
                        asynchronous: core::ptr::read_volatile(
                            &raw const (*cq).uevent.events_reported,
                        ),
                    }
                }
            }
        }
    }

    /// Sets the counts of [`UHandle::events`]: a restored object goes on
    /// from the counts of its checkpoint, which the process's library
    /// remembers. EINVAL for an object of the kernel, or one without
    /// those counts.
    ///
    /// # Safety
    ///
    /// Only while the object is being created: no event can have reached
    /// it yet.
    pub unsafe fn set_events(self, counts: EventCounts) -> Result {
        if counts == EventCounts::default() {
            return Ok(());
        }
        // SAFETY: per the caller, a live object.
        let uobj = unsafe { self.uobject() }.ok_or(EINVAL)?.as_ptr();
        // SAFETY: `kind` says which object `uobj` is the first member of;
        // nothing else writes the counts before the object is published.
        unsafe {
            match self.kind {
                UKind::Qp if counts.completion == 0 => {
                    (*uobj.cast::<sys::ib_uqp_object>()).uevent.events_reported =
                        counts.asynchronous;
                }
                UKind::Cq => {
                    let cq = uobj.cast::<sys::ib_ucq_object>();
                    (*cq).comp_events_reported = counts.completion;
                    (*cq).uevent.events_reported = counts.asynchronous;
                }
                _ => return Err(EINVAL),
            }
        }
        Ok(())
    }
}

/// Who a new object belongs to: the user context it is created in (none
/// for the kernel's objects), and where its uverbs handle will be.
pub struct Owner<'a, T: Driver> {
    pub uctx: Option<&'a T::UContext>,
    pub handle: UHandle,
}

/// What a driver provides for its devices. Each method runs in process
/// context, called by the RDMA core for a device of this driver.
pub trait Driver: Send + Sync + Sized + 'static {
    /// `enum rdma_driver_id`: how rdma-core picks the user-space provider.
    const DRIVER_ID: u32;
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

    /// Fills the device attributes.
    fn query_device(dev: &Device<Self>, attr: &mut DeviceAttr) -> Result;
    /// Fills the attributes of port `port` (the core has checked it exists).
    fn query_port(dev: &Device<Self>, port: u32, attr: &mut PortAttr) -> Result;
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
    /// The MR is being deregistered; its data is dropped afterwards.
    fn dereg_mr(dev: &Device<Self>, mr: &Self::Mr);
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
    fn poll_cq(cq: &Self::Cq, wc: &mut [sys::ib_wc]) -> usize;
    /// Arms a CQ (`ib_cq_notify_flags`); returns whether completions are
    /// already waiting, when `IB_CQ_REPORT_MISSED_EVENTS` asks.
    fn req_notify_cq(cq: &Self::Cq, flags: u32) -> bool;

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
        init: &QpInit<'_, Self::Cq>,
        udata: Option<&UData<'_>>,
        owner: Owner<'_, Self>,
    ) -> Result<(Self::Qp, u32, QpCaps)>;
    /// Applies the attributes `mask` names (`ib_qp_attr_mask`) from `attr`.
    fn modify_qp(qp: &Self::Qp, attr: &sys::ib_qp_attr, mask: u32) -> Result;
    /// Reports the QP's attributes into `attr`; returns its capacities and
    /// whether every send WR is signalled.
    fn query_qp(qp: &Self::Qp, attr: &mut sys::ib_qp_attr) -> Result<(QpCaps, bool)>;
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

    /// The device is unregistered and about to be freed: forget it. Its
    /// data is dropped after this returns.
    fn dealloc(dev: &Device<Self>);

    /// The port's counters (sysfs `hw_counters`, `rdma statistic`), by
    /// name; none if empty.
    const HW_STATS: &'static [StatDesc] = &[];
    /// Reads the counters of `HW_STATS` into `values`, one for one.
    fn hw_stats(_dev: &Device<Self>, _values: &mut [u64]) {}
}

/// The name of a hardware counter (`struct rdma_stat_desc`).
#[repr(transparent)]
pub struct StatDesc(sys::rdma_stat_desc);

// SAFETY: a descriptor is a pointer to a static string and plain integers,
// never written after construction.
unsafe impl Sync for StatDesc {}

impl StatDesc {
    /// A counter called `name`.
    pub const fn new(name: &'static CStr) -> Self {
        StatDesc(sys::rdma_stat_desc {
            name: kernel::str::as_char_ptr_in_const_context(name),
            flags: 0,
            priv_: core::ptr::null(),
        })
    }
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
    data: T,
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
    unsafe fn from_ib<'a>(ib: *mut sys::ib_device) -> &'a Self {
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
        let ib =
            NonNull::new(unsafe { sys::ib_device_get_by_netdev(ndev.as_ptr(), T::DRIVER_ID) })?;
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
        let ib = unsafe { sys::ib_device_get_by_netdev(ndev.as_ptr(), T::DRIVER_ID) };
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

/// A core object (`ib_ucontext`, `ib_pd`, ...) followed by driver data; the
/// core allocates it zeroed with the size the ops table gives.
#[repr(C)]
struct Object<I, D> {
    ib: I,
    data: D,
}

impl<I, D> Object<I, D> {
    /// Stores `data` behind the core object at `ib`.
    ///
    /// # Safety
    ///
    /// `ib` must start an allocation of at least `size_of::<Self>()` bytes
    /// (the size the ops table declares for `I`), whose data is unset.
    unsafe fn init(ib: *mut I, data: D) {
        // SAFETY: per the caller, the data field is in bounds and unset.
        unsafe { core::ptr::write(&raw mut (*ib.cast::<Self>()).data, data) }
    }

    /// The data behind the core object at `ib`.
    ///
    /// # Safety
    ///
    /// `init` must have stored data behind `ib`, which must stay alive and
    /// initialised for `'a`.
    unsafe fn data<'a>(ib: *mut I) -> &'a D {
        // SAFETY: per the caller.
        unsafe { &(*ib.cast::<Self>()).data }
    }

    /// Drops the data behind the core object at `ib`; the core frees the
    /// memory afterwards.
    ///
    /// # Safety
    ///
    /// `init` must have stored data behind `ib`, and nothing may use it again.
    unsafe fn drop_data(ib: *mut I) {
        // SAFETY: per the caller, the data is set and not used again.
        unsafe { core::ptr::drop_in_place(&raw mut (*ib.cast::<Self>()).data) }
    }
}

/// What follows a core `ib_cq`: its event link and the driver's data.
struct CqObject<T: Driver> {
    events: Arc<CqEvents>,
    data: T::Cq,
}

/// The ops table of driver `T`.
struct Ops<T>(PhantomData<T>);

impl<T: Driver> Ops<T> {
    const TABLE: sys::ib_device_ops = {
        // SAFETY: all-zeroes is valid for `ib_device_ops` (null pointers and
        // `None` callbacks).
        let mut o: sys::ib_device_ops = unsafe { core::mem::zeroed() };
        o.driver_id = T::DRIVER_ID;
        o.uverbs_abi_ver = T::UVERBS_ABI_VER;
        o.dealloc_driver = Some(Self::dealloc_driver);
        o.query_device = Some(Self::query_device);
        o.query_port = Some(Self::query_port);
        o.query_pkey = Some(Self::query_pkey);
        o.get_port_immutable = Some(Self::get_port_immutable);
        o.get_link_layer = Some(Self::get_link_layer);
        o.alloc_ucontext = Some(Self::alloc_ucontext);
        o.dealloc_ucontext = Some(Self::dealloc_ucontext);
        o.alloc_pd = Some(Self::alloc_pd);
        o.dealloc_pd = Some(Self::dealloc_pd);
        if !T::HW_STATS.is_empty() {
            o.alloc_hw_port_stats = Some(Self::alloc_hw_port_stats);
            o.get_hw_stats = Some(Self::get_hw_stats);
        }
        o.size_ib_ucontext = size_of::<Object<sys::ib_ucontext, T::UContext>>();
        o.size_ib_pd = size_of::<Object<sys::ib_pd, T::Pd>>();
        o.create_cq = Some(Self::create_cq);
        o.destroy_cq = Some(Self::destroy_cq);
        o.resize_user_cq = Some(Self::resize_user_cq);
        o.poll_cq = Some(Self::poll_cq);
        o.req_notify_cq = Some(Self::req_notify_cq);
        o.size_ib_cq = size_of::<Object<sys::ib_cq, CqObject<T>>>();
        o.mmap = Some(super::mmap::mmap);
        o.mmap_free = Some(super::mmap::mmap_free);
        o.create_ah = Some(Self::create_ah);
        o.create_user_ah = Some(Self::create_ah);
        o.query_ah = Some(Self::query_ah);
        o.destroy_ah = Some(Self::destroy_ah);
        o.size_ib_ah = size_of::<Object<sys::ib_ah, T::Ah>>();
        o.create_qp = Some(Self::create_qp);
        o.modify_qp = Some(Self::modify_qp);
        o.query_qp = Some(Self::query_qp);
        o.destroy_qp = Some(Self::destroy_qp);
        o.size_ib_qp = size_of::<Object<sys::ib_qp, T::Qp>>();
        o.post_send = Some(Self::post_send);
        o.post_recv = Some(Self::post_recv);
        o.get_dma_mr = Some(Self::get_dma_mr);
        o.dereg_mr = Some(Self::dereg_mr);
        o.reg_user_mr = Some(Self::reg_user_mr);
        o
    };

    unsafe extern "C" fn dealloc_driver(ib: *mut sys::ib_device) {
        // SAFETY: the core calls this once, for a device of this driver,
        // after every other op has returned; the memory is freed after.
        unsafe {
            let dev = ib.cast::<Device<T>>();
            T::dealloc(&*dev);
            core::ptr::drop_in_place(&raw mut (*dev).data);
        }
    }

    unsafe extern "C" fn alloc_hw_port_stats(
        _ib: *mut sys::ib_device,
        _port: u32,
    ) -> *mut sys::rdma_hw_stats {
        // SAFETY: the descriptors are static and `StatDesc` is a transparent
        // `rdma_stat_desc`; the core frees the result.
        unsafe {
            sys::rdma_alloc_hw_stats_struct(
                T::HW_STATS.as_ptr().cast(),
                T::HW_STATS.len() as i32,
                sys::RDMA_HW_STATS_DEFAULT_LIFESPAN as _,
            )
        }
    }

    unsafe extern "C" fn get_hw_stats(
        ib: *mut sys::ib_device,
        stats: *mut sys::rdma_hw_stats,
        _port: u32,
        _index: kernel::ffi::c_int,
    ) -> kernel::ffi::c_int {
        let n = T::HW_STATS.len();
        // SAFETY: `stats` came from `alloc_hw_port_stats`, with one value
        // per descriptor, and the core holds its lock across this call.
        let values = unsafe { (*stats).value.as_mut_slice(n) };
        // SAFETY: the core passes our device.
        T::hw_stats(unsafe { Device::from_ib(ib) }, values);
        n as kernel::ffi::c_int
    }

    unsafe extern "C" fn query_device(
        ib: *mut sys::ib_device,
        attr: *mut sys::ib_device_attr,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // A provider may pass driver data in or out: ours takes none.
            // SAFETY: a non-null `udata` is valid for the call.
            if !udata.is_null() && unsafe { (*udata).inlen != 0 || (*udata).outlen != 0 } {
                return Err(EINVAL);
            }
            // SAFETY: the core passes our device and a valid `attr`.
            unsafe { T::query_device(Device::from_ib(ib), &mut *attr)? };
            Ok(0)
        })
    }

    unsafe extern "C" fn query_port(
        ib: *mut sys::ib_device,
        port: u32,
        attr: *mut sys::ib_port_attr,
    ) -> kernel::ffi::c_int {
        // SAFETY: the core passes our device and a valid `attr`.
        from_result(|| unsafe { T::query_port(Device::from_ib(ib), port, &mut *attr).map(|()| 0) })
    }

    unsafe extern "C" fn query_pkey(
        ib: *mut sys::ib_device,
        port: u32,
        index: u16,
        pkey: *mut u16,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core passes our device and a valid `pkey`.
            unsafe { *pkey = T::query_pkey(Device::from_ib(ib), port, index)? };
            Ok(0)
        })
    }

    unsafe extern "C" fn get_port_immutable(
        ib: *mut sys::ib_device,
        port: u32,
        imm: *mut sys::ib_port_immutable,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: all-zeroes is a valid `ib_port_attr`.
            let mut attr: sys::ib_port_attr = unsafe { core::mem::zeroed() };
            // SAFETY: our device, a valid local, a valid `imm`.
            unsafe {
                to_result(sys::ib_query_port(ib, port, &mut attr))?;
                (*imm).pkey_tbl_len = attr.pkey_tbl_len as i32;
                (*imm).gid_tbl_len = attr.gid_tbl_len;
                (*imm).core_cap_flags = sys::RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
                (*imm).max_mad_size = sys::IB_MGMT_MAD_SIZE as u32;
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn get_link_layer(
        _ib: *mut sys::ib_device,
        _port: u32,
    ) -> sys::rdma_link_layer {
        sys::rdma_link_layer_IB_LINK_LAYER_ETHERNET
    }

    unsafe extern "C" fn alloc_ucontext(
        uc: *mut sys::ib_ucontext,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core allocated `uc` with `size_ib_ucontext` bytes,
            // zeroed, and set its device to one of ours.
            unsafe {
                let file = UverbsFile((*uc).ufile as usize);
                let data = T::alloc_ucontext(Device::from_ib((*uc).device), file)?;
                Object::<_, T::UContext>::init(uc, data);
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn dealloc_ucontext(uc: *mut sys::ib_ucontext) {
        // SAFETY: `alloc_ucontext` succeeded for `uc`; the core calls this
        // once.
        unsafe { Object::<_, T::UContext>::drop_data(uc) }
    }

    /// The user context of a user call's `udata`; `None` for the kernel's
    /// calls (a null `udata`).
    ///
    /// # Safety
    ///
    /// `udata` must be null or the driver udata of a call's bundle on one
    /// of our devices, whose context (a user call's always has one) lives
    /// for `'a`.
    unsafe fn uctx<'a>(udata: *mut sys::ib_udata) -> Option<&'a T::UContext> {
        if udata.is_null() {
            return None;
        }
        // SAFETY: per the caller; `alloc_ucontext` initialised the context.
        unsafe {
            let uc = sys::rxe_migros_udata_ucontext(udata);
            Some(Object::<_, T::UContext>::data(uc))
        }
    }

    unsafe extern "C" fn alloc_pd(
        pd: *mut sys::ib_pd,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: as for `alloc_ucontext`, with `size_ib_pd`; `udata`
            // is null or the call's.
            unsafe {
                let owner = Owner {
                    uctx: Self::uctx(udata),
                    handle: UHandle::at(&raw mut (*pd).uobject, UKind::Plain),
                };
                let dev = Device::from_ib((*pd).device);
                let data = T::alloc_pd(dev, PdId(pd as usize), owner)?;
                Object::<_, T::Pd>::init(pd, data);
            }
            Ok(0)
        })
    }

    /// Makes a new MR as the core expects one back: `make` gets its
    /// handle's location, and returns its data and keys.
    fn new_mr(make: impl FnOnce(UHandle) -> Result<(T::Mr, u32, u32)>) -> *mut sys::ib_mr {
        let made = KBox::<Object<sys::ib_mr, T::Mr>>::new_uninit(GFP_KERNEL)
            .map_err(Error::from)
            .and_then(|mut slot| {
                let at = slot.as_mut_ptr();
                // SAFETY: a field of the allocation, not read until set. The
                // `uobject` member starts its union (bindgen's marker for it
                // takes no room).
                let handle = unsafe {
                    let field = &raw mut (*at).ib.__bindgen_anon_1.uobject;
                    UHandle::at(field.cast::<*mut sys::ib_uobject>(), UKind::Plain)
                };
                let (data, lkey, rkey) = make(handle)?;
                // SAFETY: all-zeroes is a valid `ib_mr`; the core fills in
                // its device, PD, type and uobject when we return.
                let mut ib: sys::ib_mr = unsafe { core::mem::zeroed() };
                ib.lkey = lkey;
                ib.rkey = rkey;
                Ok(KBox::write(slot, Object { ib, data }))
            });
        match made {
            // `dereg_mr` takes the box back.
            Ok(mr) => KBox::into_raw(mr).cast(),
            Err(e) => e.to_ptr(),
        }
    }

    unsafe extern "C" fn get_dma_mr(
        pd: *mut sys::ib_pd,
        access: kernel::ffi::c_int,
    ) -> *mut sys::ib_mr {
        // SAFETY: the core passes a PD of one of our devices, and asks
        // for a DMA MR only for a kernel consumer's PD (`ib_alloc_pd`).
        let (dev, memory) = unsafe { (Device::<T>::from_ib((*pd).device), KernelMemory::new()) };
        Self::new_mr(|_| T::get_dma_mr(dev, PdId(pd as usize), access, memory))
    }

    unsafe extern "C" fn reg_user_mr(
        pd: *mut sys::ib_pd,
        start: u64,
        len: u64,
        iova: u64,
        access: kernel::ffi::c_int,
        dmah: *mut sys::ib_dmah,
        udata: *mut sys::ib_udata,
    ) -> *mut sys::ib_mr {
        if !dmah.is_null() {
            return EOPNOTSUPP.to_ptr();
        }
        // SAFETY: the core passes a PD of one of our devices, in a call
        // from the process whose memory it names.
        let dev = unsafe { Device::<T>::from_ib((*pd).device) };
        // SAFETY: `udata` is the call's.
        let uctx = unsafe { Self::uctx(udata) };
        Self::new_mr(|handle| {
            let owner = Owner { uctx, handle };
            T::reg_user_mr(dev, PdId(pd as usize), start, len, iova, access, owner)
        })
    }

    unsafe extern "C" fn dereg_mr(
        mr: *mut sys::ib_mr,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: every MR of ours was made by `new_mr` from a
        // `KBox<Object<ib_mr, T::Mr>>`, and the core deregisters it once.
        let mr = unsafe { KBox::from_raw(mr.cast::<Object<sys::ib_mr, T::Mr>>()) };
        // SAFETY: the MR's device is ours and live.
        T::dereg_mr(unsafe { Device::from_ib(mr.ib.device) }, &mr.data);
        drop(mr);
        0
    }

    unsafe extern "C" fn create_cq(
        cq: *mut sys::ib_cq,
        attr: *const sys::ib_cq_init_attr,
        attrs: *mut sys::uverbs_attr_bundle,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core passes a CQ of our device, allocated with
            // `size_ib_cq` bytes, its attributes and, for a user call, the
            // call's bundle.
            unsafe {
                let attr = &*attr;
                if attr.flags != 0 {
                    return Err(EOPNOTSUPP);
                }
                let raw = sys::rxe_migros_attrs_udata(attrs);
                // uverbs points a process's CQ at the event queue of its
                // completion channel, if it has one, before calling us.
                let context = (*cq).cq_context as usize;
                let init = CqInit {
                    entries: attr.cqe,
                    comp_vector: attr.comp_vector,
                    channel: (!raw.is_null() && context != 0).then_some(context),
                };
                let owner = Owner {
                    uctx: Self::uctx(raw),
                    handle: UHandle::at(&raw mut (*cq).uobject, UKind::Cq),
                };
                let udata = UData::from_raw(raw);
                let events = CqEvents::new(cq)?;
                let dev = Device::<T>::from_ib((*cq).device);
                let (data, entries) =
                    T::create_cq(dev, &init, udata.as_ref(), events.clone(), owner)
                        .inspect_err(|_| events.revoke())?;
                (*cq).cqe = entries as i32;
                Object::<_, CqObject<T>>::init(cq, CqObject { events, data });
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `cq` must be a CQ of ours that `create_cq` initialised.
    unsafe fn cq<'a>(cq: *mut sys::ib_cq) -> &'a CqObject<T> {
        // SAFETY: per the caller.
        unsafe { Object::<_, CqObject<T>>::data(cq) }
    }

    unsafe extern "C" fn destroy_cq(
        cq: *mut sys::ib_cq,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: the core destroys a CQ of ours once, when no QP uses it.
        unsafe {
            Self::cq(cq).events.revoke();
            Object::<_, CqObject<T>>::drop_data(cq);
        }
        0
    }

    unsafe extern "C" fn resize_user_cq(
        cq: *mut sys::ib_cq,
        entries: kernel::ffi::c_uint,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: a CQ of ours, and the udata of the user's call.
            unsafe {
                let udata = UData::from_raw(udata).ok_or(EINVAL)?;
                let n = T::resize_user_cq(&Self::cq(cq).data, entries, &udata)?;
                (*cq).cqe = n as i32;
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn poll_cq(
        cq: *mut sys::ib_cq,
        n: kernel::ffi::c_int,
        wc: *mut sys::ib_wc,
    ) -> kernel::ffi::c_int {
        if n <= 0 || wc.is_null() {
            return 0;
        }
        // SAFETY: a CQ of ours, and room for `n` completions at `wc`.
        unsafe {
            let wc = core::slice::from_raw_parts_mut(wc, n as usize);
            T::poll_cq(&Self::cq(cq).data, wc) as kernel::ffi::c_int
        }
    }

    unsafe extern "C" fn req_notify_cq(
        cq: *mut sys::ib_cq,
        flags: sys::ib_cq_notify_flags,
    ) -> kernel::ffi::c_int {
        // SAFETY: a CQ of ours.
        unsafe { T::req_notify_cq(&Self::cq(cq).data, flags as u32) as kernel::ffi::c_int }
    }

    unsafe extern "C" fn create_ah(
        ah: *mut sys::ib_ah,
        init: *mut sys::rdma_ah_init_attr,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core passes an AH of our device, allocated with
            // `size_ib_ah` bytes, and its resolved attributes.
            unsafe {
                let init = &*init;
                let attr = init.ah_attr.as_ref().ok_or(EINVAL)?;
                if attr.port_num != 1 {
                    return Err(EINVAL);
                }
                let av = AddressVector::from_ah(attr)?;
                let sleepable =
                    init.flags & sys::rdma_create_ah_flags_RDMA_CREATE_AH_SLEEPABLE != 0;
                let owner = Owner {
                    uctx: Self::uctx(udata),
                    handle: UHandle::at(&raw mut (*ah).uobject, UKind::Plain),
                };
                let udata = UData::from_raw(udata);
                let dev = Device::<T>::from_ib((*ah).device);
                let pd = PdId((*ah).pd as usize);
                let data = T::create_ah(dev, pd, &av, udata.as_ref(), sleepable, owner)?;
                Object::<_, T::Ah>::init(ah, data);
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `ah` must be an AH of ours that `create_ah` initialised.
    unsafe fn ah<'a>(ah: *mut sys::ib_ah) -> &'a T::Ah {
        // SAFETY: per the caller.
        unsafe { Object::<_, T::Ah>::data(ah) }
    }

    unsafe extern "C" fn query_ah(
        ah: *mut sys::ib_ah,
        attr: *mut sys::rdma_ah_attr,
    ) -> kernel::ffi::c_int {
        // SAFETY: an AH of ours and a valid output.
        unsafe { T::query_ah(Self::ah(ah)).to_ah(1, &mut *attr) };
        0
    }

    unsafe extern "C" fn destroy_ah(ah: *mut sys::ib_ah, _flags: u32) -> kernel::ffi::c_int {
        // SAFETY: the core destroys an AH of ours once.
        unsafe {
            T::destroy_ah(Device::from_ib((*ah).device), Self::ah(ah));
            Object::<_, T::Ah>::drop_data(ah);
        }
        0
    }

    unsafe extern "C" fn create_qp(
        qp: *mut sys::ib_qp,
        init: *mut sys::ib_qp_init_attr,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core passes a QP of our device, allocated with
            // `size_ib_qp` bytes, its attributes with CQs of the same device,
            // and for a user call the call's udata.
            unsafe {
                let attr = &mut *init;
                let qp_type = QpType::from_raw(attr.qp_type).ok_or(EOPNOTSUPP)?;
                if attr.send_cq.is_null() || attr.recv_cq.is_null() {
                    return Err(EINVAL);
                }
                let init = QpInit {
                    qp_type,
                    pd: PdId((*qp).pd as usize),
                    caps: QpCaps::from_raw(&attr.cap),
                    sq_sig_all: attr.sq_sig_type == sys::ib_sig_type_IB_SIGNAL_ALL_WR,
                    send_cq: &Self::cq(attr.send_cq).data,
                    recv_cq: &Self::cq(attr.recv_cq).data,
                    has_srq: !attr.srq.is_null(),
                    create_flags: attr.create_flags,
                    core: CoreQp::new(qp),
                };
                let owner = Owner {
                    uctx: Self::uctx(udata),
                    handle: UHandle::at(&raw mut (*qp).uobject, UKind::Qp),
                };
                let udata = UData::from_raw(udata);
                let dev = Device::<T>::from_ib((*qp).device);
                let (data, qpn, caps) = T::create_qp(dev, &init, udata.as_ref(), owner)?;
                (*qp).qp_num = qpn;
                caps.write_raw(&mut attr.cap);
                Object::<_, T::Qp>::init(qp, data);
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `qp` must be a QP of ours that `create_qp` initialised.
    unsafe fn qp<'a>(qp: *mut sys::ib_qp) -> &'a T::Qp {
        // SAFETY: per the caller.
        unsafe { Object::<_, T::Qp>::data(qp) }
    }

    unsafe extern "C" fn modify_qp(
        qp: *mut sys::ib_qp,
        attr: *mut sys::ib_qp_attr,
        mask: kernel::ffi::c_int,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: a QP of ours and valid attributes; the core has resolved
        // the address (source GID entry, destination MAC) if one is given.
        from_result(|| unsafe { T::modify_qp(Self::qp(qp), &*attr, mask as u32).map(|()| 0) })
    }

    unsafe extern "C" fn query_qp(
        qp: *mut sys::ib_qp,
        attr: *mut sys::ib_qp_attr,
        _mask: kernel::ffi::c_int,
        init: *mut sys::ib_qp_init_attr,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: a QP of ours and valid outputs; the core's fields of
            // the QP are read as the core set them.
            unsafe {
                let (caps, sig_all) = T::query_qp(Self::qp(qp), &mut *attr)?;
                let init = &mut *init;
                init.event_handler = (*qp).event_handler;
                init.qp_context = (*qp).qp_context;
                init.send_cq = (*qp).send_cq;
                init.recv_cq = (*qp).recv_cq;
                init.srq = (*qp).srq;
                caps.write_raw(&mut init.cap);
                init.sq_sig_type = if sig_all {
                    sys::ib_sig_type_IB_SIGNAL_ALL_WR
                } else {
                    sys::ib_sig_type_IB_SIGNAL_REQ_WR
                };
                init.qp_type = (*qp).qp_type;
                init.port_num = 1;
                caps.write_raw(&mut (*attr).cap);
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn post_send(
        qp: *mut sys::ib_qp,
        wr: *const sys::ib_send_wr,
        bad: *mut *const sys::ib_send_wr,
    ) -> kernel::ffi::c_int {
        if wr.is_null() {
            // SAFETY: a QP of ours, in a call of its owner.
            return from_result(|| unsafe {
                T::post_send(Device::from_ib((*qp).device), Self::qp(qp)).map(|()| 0)
            });
        }
        // A kernel consumer's chain: each request is queued or the first
        // that is not is handed back.
        // SAFETY: a QP of ours; the consumer's chain is valid for the call,
        // and a UD or GSI QP's requests are `struct ib_ud_wr`s naming AHs
        // of our device.
        unsafe {
            let data = Self::qp(qp);
            let ud_qp = matches!(
                (*qp).qp_type,
                sys::ib_qp_type_IB_QPT_UD | sys::ib_qp_type_IB_QPT_GSI
            );
            let mut w = wr;
            let mut err = 0;
            while !w.is_null() {
                let ud = if ud_qp {
                    let u = &*w.cast::<sys::ib_ud_wr>();
                    if u.ah.is_null() {
                        err = EINVAL.to_errno();
                        break;
                    }
                    Some(UdWr {
                        ah: Self::ah(u.ah),
                        remote_qpn: u.remote_qpn,
                        remote_qkey: u.remote_qkey,
                    })
                } else {
                    None
                };
                if let Err(e) = T::post_kernel_send(data, &SendWr::new(&*w, ud)) {
                    err = e.to_errno();
                    break;
                }
                w = (*w).next;
            }
            if !bad.is_null() {
                *bad = w;
            }
            T::kick_send(data);
            err
        }
    }

    unsafe extern "C" fn post_recv(
        qp: *mut sys::ib_qp,
        wr: *const sys::ib_recv_wr,
        bad: *mut *const sys::ib_recv_wr,
    ) -> kernel::ffi::c_int {
        // SAFETY: a QP of ours; the consumer's chain is valid for the call.
        unsafe {
            let data = Self::qp(qp);
            let mut w = wr;
            let mut err = 0;
            while !w.is_null() {
                if let Err(e) = T::post_kernel_recv(data, &RecvWr::new(&*w)) {
                    err = e.to_errno();
                    break;
                }
                w = (*w).next;
            }
            if !bad.is_null() {
                *bad = w;
            }
            err
        }
    }

    unsafe extern "C" fn destroy_qp(
        qp: *mut sys::ib_qp,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: the core destroys a QP of ours once.
        unsafe {
            T::destroy_qp(Device::from_ib((*qp).device), Self::qp(qp));
            Object::<_, T::Qp>::drop_data(qp);
        }
        0
    }

    unsafe extern "C" fn dealloc_pd(
        pd: *mut sys::ib_pd,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: as for `dealloc_ucontext`.
        unsafe { Object::<_, T::Pd>::drop_data(pd) };
        0
    }
}
