// SPDX-License-Identifier: GPL-2.0

//! The `ib_device_ops` table of a [`Driver`]: one `extern "C"` trampoline
//! per operation, which turns the core's pointers into the driver's
//! typed objects, and the layout of the core's objects followed by the
//! driver's data.

use super::bindings as sys;
use super::cq::{Arm, CqEvents, CqInit, WcOut};
use super::device::{Device, Driver, MadAnswer, MrChange, Prefetch, Sge, MAD_BYTES};
use super::kmem::{KernelMemory, MappedPage};
use super::qp::{
    AddressVector, CoreQp, PdId, QpAttrValues, QpCaps, QpEvents, QpInit, QpType, RecvWr, SendWr,
    UdWr,
};
use super::srq::{SrqAttr, SrqChange, SrqEvents, SrqInit};
use super::udata::UData;
use super::uobject::{Owner, UHandle, UKind, UverbsFile};
use core::marker::PhantomData;
use core::mem::size_of;
use kernel::error::{from_result, to_result};
use kernel::prelude::*;
use kernel::sync::Arc;

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

/// What follows a core `ib_qp`: its event link and the driver's data.
struct QpObject<T: Driver> {
    events: Arc<QpEvents>,
    data: T::Qp,
}

/// What follows a core `ib_srq`: its event link and the driver's data.
struct SrqObject<T: Driver> {
    events: Arc<SrqEvents>,
    data: T::Srq,
}

/// Queues a kernel consumer's chain of receive requests through `post`,
/// each or up to the first it refuses, which goes back in `bad`.
///
/// # Safety
///
/// `wr` must be a valid chain for the call, and `bad` null or writable.
unsafe fn post_recv_chain(
    wr: *const sys::ib_recv_wr,
    bad: *mut *const sys::ib_recv_wr,
    post: impl Fn(&RecvWr<'_>) -> Result,
) -> kernel::ffi::c_int {
    let mut w = wr;
    let mut err = 0;
    // SAFETY: per the caller.
    unsafe {
        while !w.is_null() {
            if let Err(e) = post(&RecvWr::new(&*w)) {
                err = e.to_errno();
                break;
            }
            w = (*w).next;
        }
        if !bad.is_null() {
            *bad = w;
        }
    }
    err
}

/// The ops table of driver `T`.
pub(super) struct Ops<T>(PhantomData<T>);

impl<T: Driver> Ops<T> {
    pub(super) const TABLE: sys::ib_device_ops = {
        // SAFETY: all-zeroes is valid for `ib_device_ops` (null pointers and
        // `None` callbacks).
        let mut o: sys::ib_device_ops = unsafe { core::mem::zeroed() };
        o.driver_id = T::DRIVER_ID.raw();
        o.uverbs_abi_ver = T::UVERBS_ABI_VER;
        o.dealloc_driver = Some(Self::dealloc_driver);
        o.query_device = Some(Self::query_device);
        o.query_port = Some(Self::query_port);
        o.query_pkey = Some(Self::query_pkey);
        o.get_port_immutable = Some(Self::get_port_immutable);
        o.get_link_layer = Some(Self::get_link_layer);
        o.alloc_ucontext = Some(Self::alloc_ucontext);
        o.dealloc_ucontext = Some(Self::dealloc_ucontext);
        o.disassociate_ucontext = Some(Self::disassociate_ucontext);
        o.alloc_pd = Some(Self::alloc_pd);
        o.dealloc_pd = Some(Self::dealloc_pd);
        if T::PROCESS_MAD {
            o.process_mad = Some(Self::process_mad);
        }
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
        o.size_ib_qp = size_of::<Object<sys::ib_qp, QpObject<T>>>();
        o.post_send = Some(Self::post_send);
        o.post_recv = Some(Self::post_recv);
        o.create_srq = Some(Self::create_srq);
        o.modify_srq = Some(Self::modify_srq);
        o.query_srq = Some(Self::query_srq);
        o.destroy_srq = Some(Self::destroy_srq);
        o.post_srq_recv = Some(Self::post_srq_recv);
        o.size_ib_srq = size_of::<Object<sys::ib_srq, SrqObject<T>>>();
        if T::MULTICAST {
            o.attach_mcast = Some(Self::attach_mcast);
            o.detach_mcast = Some(Self::detach_mcast);
        }
        o.get_dma_mr = Some(Self::get_dma_mr);
        o.dereg_mr = Some(Self::dereg_mr);
        o.reg_user_mr = Some(Self::reg_user_mr);
        o.rereg_user_mr = Some(Self::rereg_user_mr);
        if T::ON_DEMAND_PAGING {
            o.advise_mr = Some(Self::advise_mr);
        }
        o.alloc_mr = Some(Self::alloc_mr);
        o.map_mr_sg = Some(Self::map_mr_sg);
        o.alloc_mw = Some(Self::alloc_mw);
        o.dealloc_mw = Some(Self::dealloc_mw);
        o.size_ib_mw = size_of::<Object<sys::ib_mw, T::Mw>>();
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
            unsafe { T::query_device(Device::from_ib(ib))?.write_raw(&mut *attr) };
            Ok(0)
        })
    }

    unsafe extern "C" fn query_port(
        ib: *mut sys::ib_device,
        port: u32,
        attr: *mut sys::ib_port_attr,
    ) -> kernel::ffi::c_int {
        // SAFETY: the core passes our device and a valid `attr`.
        from_result(|| unsafe {
            T::query_port(Device::from_ib(ib), port)?.write_raw(&mut *attr);
            Ok(0)
        })
    }

    #[allow(clippy::too_many_arguments)]
    unsafe extern "C" fn process_mad(
        ib: *mut sys::ib_device,
        _flags: kernel::ffi::c_int,
        port: u32,
        _in_wc: *const sys::ib_wc,
        _in_grh: *const sys::ib_grh,
        in_mad: *const sys::ib_mad,
        out_mad: *mut sys::ib_mad,
        out_mad_size: *mut usize,
        _out_mad_pkey_index: *mut u16,
    ) -> kernel::ffi::c_int {
        use sys::{
            ib_mad_result_IB_MAD_RESULT_REPLY as REPLY,
            ib_mad_result_IB_MAD_RESULT_SUCCESS as SUCCESS,
        };
        // SAFETY: the core passes an IB MAD in and room for `*out_mad_size`
        // bytes out (an IB MAD's at least; more only for OPA devices).
        unsafe {
            if in_mad.is_null() || out_mad.is_null() || *out_mad_size < MAD_BYTES {
                return 0;
            }
            let mad = &*in_mad.cast::<[u8; MAD_BYTES]>();
            let out = &mut *out_mad.cast::<[u8; MAD_BYTES]>();
            match T::process_mad(Device::from_ib(ib), port, mad, out) {
                MadAnswer::Reply => {
                    *out_mad_size = MAD_BYTES;
                    (SUCCESS | REPLY) as kernel::ffi::c_int
                }
                MadAnswer::NotOurs => SUCCESS as kernel::ffi::c_int,
                MadAnswer::Failure => 0,
            }
        }
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

    /// The device is going away from under a live context (unregistration,
    /// or `rdma dev set DEV netns NS`): the core has already destroyed the
    /// context's objects and zapped its mappings (which it tracks: see
    /// [`super::mmap::mmap`]), and `dealloc_ucontext` follows. Nothing of
    /// ours is left to undo. Having the op is what matters: with it, an
    /// open uverbs file holds no reference on the module and a device may
    /// change namespaces; the process's later calls fail with EIO.
    unsafe extern "C" fn disassociate_ucontext(_uc: *mut sys::ib_ucontext) {}

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

    #[allow(clippy::too_many_arguments)]
    unsafe extern "C" fn rereg_user_mr(
        mr: *mut sys::ib_mr,
        flags: kernel::ffi::c_int,
        start: u64,
        len: u64,
        iova: u64,
        access: kernel::ffi::c_int,
        pd: *mut sys::ib_pd,
        _udata: *mut sys::ib_udata,
    ) -> *mut sys::ib_mr {
        let has = |f: u32| flags as u32 & f != 0;
        let change = MrChange {
            translation: has(sys::ib_mr_rereg_flags_IB_MR_REREG_TRANS)
                .then_some((start, len, iova)),
            pd: has(sys::ib_mr_rereg_flags_IB_MR_REREG_PD).then(|| PdId(pd as usize)),
            access: has(sys::ib_mr_rereg_flags_IB_MR_REREG_ACCESS).then_some(access),
        };
        // SAFETY: an MR of ours (made by `new_mr`), live for the call, on
        // a live device of ours.
        let (dev, data) = unsafe {
            (
                Device::<T>::from_ib((*mr).device),
                Object::<_, T::Mr>::data(mr),
            )
        };
        match T::rereg_user_mr(dev, data, &change) {
            // Changed in place: the core keeps the same MR.
            Ok(()) => core::ptr::null_mut(),
            Err(e) => e.to_ptr(),
        }
    }

    unsafe extern "C" fn advise_mr(
        pd: *mut sys::ib_pd,
        advice: sys::ib_uverbs_advise_mr_advice,
        flags: u32,
        sg_list: *mut sys::ib_sge,
        num_sge: u32,
        _attrs: *mut sys::uverbs_attr_bundle,
    ) -> kernel::ffi::c_int {
        let advice = match advice {
            sys::ib_uverbs_advise_mr_advice_IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH => Prefetch::Read,
            sys::ib_uverbs_advise_mr_advice_IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE => {
                Prefetch::Write
            }
            sys::ib_uverbs_advise_mr_advice_IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT => {
                Prefetch::Present
            }
            _ => return EOPNOTSUPP.to_errno(),
        };
        let flush = flags & sys::ib_uverbs_advise_mr_flag_IB_UVERBS_ADVISE_MR_FLAG_FLUSH != 0;
        from_result(|| {
            let mut sges = KVec::with_capacity(num_sge as usize, GFP_KERNEL)?;
            for i in 0..num_sge as usize {
                // SAFETY: the core passes `num_sge` entries it copied in
                // from the process, live for the call.
                let s = unsafe { &*sg_list.add(i) };
                sges.push(
                    Sge {
                        addr: s.addr,
                        length: s.length,
                        lkey: s.lkey,
                    },
                    GFP_KERNEL,
                )?;
            }
            // SAFETY: the core passes a PD of one of our devices.
            let dev = unsafe { Device::<T>::from_ib((*pd).device) };
            T::advise_mr(dev, PdId(pd as usize), advice, flush, &sges)?;
            Ok(0)
        })
    }

    unsafe extern "C" fn dereg_mr(
        mr: *mut sys::ib_mr,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: an MR of ours (made by `new_mr`), live for the call, on
        // a live device of ours.
        let (dev, data) = unsafe {
            (
                Device::<T>::from_ib((*mr).device),
                Object::<_, T::Mr>::data(mr),
            )
        };
        if let Err(e) = T::dereg_mr(dev, data) {
            // Still the core's, to deregister again later.
            return e.to_errno();
        }
        // SAFETY: every MR of ours was made by `new_mr` from a
        // `KBox<Object<ib_mr, T::Mr>>`, and the core deregisters it once:
        // now, and nothing uses it again.
        drop(unsafe { KBox::from_raw(mr.cast::<Object<sys::ib_mr, T::Mr>>()) });
        0
    }

    unsafe extern "C" fn alloc_mr(
        pd: *mut sys::ib_pd,
        mr_type: sys::ib_mr_type,
        max_num_sg: u32,
    ) -> *mut sys::ib_mr {
        if mr_type != sys::ib_mr_type_IB_MR_TYPE_MEM_REG {
            return EINVAL.to_ptr();
        }
        // SAFETY: the core passes a PD of one of our devices.
        let dev = unsafe { Device::<T>::from_ib((*pd).device) };
        Self::new_mr(|_| T::alloc_fast_mr(dev, PdId(pd as usize), max_num_sg))
    }

    unsafe extern "C" fn map_mr_sg(
        mr: *mut sys::ib_mr,
        sg: *mut sys::scatterlist,
        sg_nents: kernel::ffi::c_int,
        sg_offset: *mut kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int {
        // SAFETY: an MR of ours (made by `new_mr`), live for the call; the
        // core set its page size (`ib_map_mr_sg`).
        let (data, page_size) = unsafe { (Object::<_, T::Mr>::data(mr), (*mr).page_size) };
        if let Err(e) = T::map_mr_begin(data, page_size) {
            return e.to_errno();
        }
        // SAFETY: the consumer's scatter list, as the core passed it;
        // `set_page` is called with this MR only. The core sets the MR's
        // iova and length, and returns how many entries it mapped.
        let n = unsafe { sys::ib_sg_to_pages(mr, sg, sg_nents, sg_offset, Some(Self::set_page)) };
        // SAFETY: as above; `ib_sg_to_pages` is done with the MR.
        T::map_mr_end(data, unsafe { (*mr).iova });
        n
    }

    /// `ib_sg_to_pages`'s callback: one page of the list, by its kernel
    /// address (a software device's DMA address).
    unsafe extern "C" fn set_page(mr: *mut sys::ib_mr, addr: u64) -> kernel::ffi::c_int {
        // SAFETY: called by `ib_sg_to_pages` from `map_mr_sg`, with its MR
        // and the kernel address of a page of the consumer's scatter list
        // (the DMA address of a software device), of the MR's page size.
        let (data, page) = unsafe {
            (
                Object::<_, T::Mr>::data(mr),
                MappedPage::new(addr, (*mr).page_size),
            )
        };
        match T::map_mr_page(data, page) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn alloc_mw(
        mw: *mut sys::ib_mw,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core allocated `mw` with `size_ib_mw` bytes, with
            // its device, PD, type and uobject set; `udata` is the call's
            // (the core allocates windows for processes only).
            unsafe {
                let owner = Owner {
                    uctx: Self::uctx(udata),
                    handle: UHandle::at(&raw mut (*mw).uobject, UKind::Plain),
                };
                let dev = Device::from_ib((*mw).device);
                let pd = PdId((*mw).pd as usize);
                let (data, rkey) = T::alloc_mw(dev, pd, (*mw).type_, owner)?;
                (*mw).rkey = rkey;
                Object::<_, T::Mw>::init(mw, data);
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn dealloc_mw(mw: *mut sys::ib_mw) -> kernel::ffi::c_int {
        // SAFETY: a window of ours, which `alloc_mw` set up, on a live
        // device of ours; the core deallocates it once and frees it after.
        unsafe {
            T::dealloc_mw(Device::from_ib((*mw).device), Object::<_, T::Mw>::data(mw));
            Object::<_, T::Mw>::drop_data(mw);
        }
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
            T::poll_cq(&Self::cq(cq).data, &mut WcOut::new(wc)) as kernel::ffi::c_int
        }
    }

    unsafe extern "C" fn req_notify_cq(
        cq: *mut sys::ib_cq,
        flags: sys::ib_cq_notify_flags,
    ) -> kernel::ffi::c_int {
        let report_missed = flags & sys::ib_cq_notify_flags_IB_CQ_REPORT_MISSED_EVENTS != 0;
        let arm = Arm::from_abi(flags);
        // SAFETY: a CQ of ours.
        unsafe { T::req_notify_cq(&Self::cq(cq).data, arm, report_missed) as kernel::ffi::c_int }
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
                    srq: (!attr.srq.is_null()).then(|| Self::srq(attr.srq)),
                    create_flags: attr.create_flags,
                    core: CoreQp::new(qp),
                    events: QpEvents::new(qp)?,
                };
                let owner = Owner {
                    uctx: Self::uctx(udata),
                    handle: UHandle::at(&raw mut (*qp).uobject, UKind::Qp),
                };
                let udata = UData::from_raw(udata);
                let dev = Device::<T>::from_ib((*qp).device);
                let (data, qpn, caps) = T::create_qp(dev, &init, udata.as_ref(), owner)
                    .inspect_err(|_| init.events.revoke())?;
                (*qp).qp_num = qpn;
                caps.write_raw(&mut attr.cap);
                let events = init.events;
                Object::<_, QpObject<T>>::init(qp, QpObject { events, data });
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `qp` must be a QP of ours that `create_qp` initialised.
    unsafe fn qp<'a>(qp: *mut sys::ib_qp) -> &'a T::Qp {
        // SAFETY: per the caller.
        unsafe { &Object::<_, QpObject<T>>::data(qp).data }
    }

    unsafe extern "C" fn modify_qp(
        qp: *mut sys::ib_qp,
        attr: *mut sys::ib_qp_attr,
        mask: kernel::ffi::c_int,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: a QP of ours and valid attributes; the core has resolved
        // the address (source GID entry, destination MAC) if one is given.
        from_result(|| unsafe {
            let mask = mask as u32;
            T::modify_qp(Self::qp(qp), &QpAttrValues::from_raw(&*attr, mask)?, mask).map(|()| 0)
        })
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
                let (values, caps, sig_all) = T::query_qp(Self::qp(qp))?;
                values.write_raw(&mut *attr);
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
            post_recv_chain(wr, bad, |w| T::post_kernel_recv(data, w))
        }
    }

    unsafe extern "C" fn destroy_qp(
        qp: *mut sys::ib_qp,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: the core destroys a QP of ours once.
        unsafe {
            T::destroy_qp(Device::from_ib((*qp).device), Self::qp(qp));
            Object::<_, QpObject<T>>::data(qp).events.revoke();
            Object::<_, QpObject<T>>::drop_data(qp);
        }
        0
    }

    unsafe extern "C" fn create_srq(
        srq: *mut sys::ib_srq,
        init: *mut sys::ib_srq_init_attr,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: the core passes an SRQ of our device, allocated with
            // `size_ib_srq` bytes, with its PD set, its attributes and, for
            // a user call, the call's udata.
            unsafe {
                let attr = &mut *init;
                if attr.srq_type != sys::ib_srq_type_IB_SRQT_BASIC {
                    return Err(EOPNOTSUPP);
                }
                let events = SrqEvents::new(srq)?;
                let init = SrqInit {
                    pd: PdId((*srq).pd as usize),
                    attr: SrqAttr::from_raw(&attr.attr),
                    events: events.clone(),
                };
                let owner = Owner {
                    uctx: Self::uctx(udata),
                    handle: UHandle::at(&raw mut (*srq).uobject, UKind::Srq),
                };
                let udata = UData::from_raw(udata);
                let dev = Device::<T>::from_ib((*srq).device);
                let (data, granted) = T::create_srq(dev, &init, udata.as_ref(), owner)
                    .inspect_err(|_| events.revoke())?;
                granted.write_raw(&mut attr.attr);
                Object::<_, SrqObject<T>>::init(srq, SrqObject { events, data });
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `srq` must be an SRQ of ours that `create_srq` initialised.
    unsafe fn srq<'a>(srq: *mut sys::ib_srq) -> &'a T::Srq {
        // SAFETY: per the caller.
        unsafe { &Object::<_, SrqObject<T>>::data(srq).data }
    }

    unsafe extern "C" fn modify_srq(
        srq: *mut sys::ib_srq,
        attr: *mut sys::ib_srq_attr,
        mask: sys::ib_srq_attr_mask,
        udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: an SRQ of ours, valid attributes and, for a user call,
        // its udata.
        from_result(|| unsafe {
            let change = SrqChange::from_raw(mask).ok_or(EINVAL)?;
            let udata = UData::from_raw(udata);
            T::modify_srq(
                Self::srq(srq),
                &SrqAttr::from_raw(&*attr),
                change,
                udata.as_ref(),
            )
            .map(|()| 0)
        })
    }

    unsafe extern "C" fn query_srq(
        srq: *mut sys::ib_srq,
        attr: *mut sys::ib_srq_attr,
    ) -> kernel::ffi::c_int {
        // SAFETY: an SRQ of ours and a valid output.
        from_result(|| unsafe {
            T::query_srq(Self::srq(srq))?.write_raw(&mut *attr);
            Ok(0)
        })
    }

    unsafe extern "C" fn destroy_srq(
        srq: *mut sys::ib_srq,
        _udata: *mut sys::ib_udata,
    ) -> kernel::ffi::c_int {
        // SAFETY: the core destroys an SRQ of ours once, when no QP uses
        // it.
        unsafe {
            T::destroy_srq(Device::from_ib((*srq).device), Self::srq(srq));
            Object::<_, SrqObject<T>>::data(srq).events.revoke();
            Object::<_, SrqObject<T>>::drop_data(srq);
        }
        0
    }

    unsafe extern "C" fn post_srq_recv(
        srq: *mut sys::ib_srq,
        wr: *const sys::ib_recv_wr,
        bad: *mut *const sys::ib_recv_wr,
    ) -> kernel::ffi::c_int {
        // SAFETY: an SRQ of ours; the consumer's chain is valid for the
        // call.
        unsafe {
            let data = Self::srq(srq);
            post_recv_chain(wr, bad, |w| T::post_kernel_srq_recv(data, w))
        }
    }

    unsafe extern "C" fn attach_mcast(
        qp: *mut sys::ib_qp,
        gid: *mut sys::ib_gid,
        lid: u16,
    ) -> kernel::ffi::c_int {
        // SAFETY: per `ib_attach_mcast`.
        unsafe { Self::mcast(qp, gid, lid, T::attach_mcast) }
    }

    unsafe extern "C" fn detach_mcast(
        qp: *mut sys::ib_qp,
        gid: *mut sys::ib_gid,
        lid: u16,
    ) -> kernel::ffi::c_int {
        // SAFETY: per `ib_detach_mcast`.
        unsafe { Self::mcast(qp, gid, lid, T::detach_mcast) }
    }

    /// Attaches or detaches (`op`) a QP and a group.
    ///
    /// # Safety
    ///
    /// `qp` must be a UD QP of ours and `gid` a multicast GID, both valid
    /// for the call, as the core checks them.
    unsafe fn mcast(
        qp: *mut sys::ib_qp,
        gid: *mut sys::ib_gid,
        lid: u16,
        op: fn(&Device<T>, &T::Qp, &[u8; 16], u16) -> Result,
    ) -> kernel::ffi::c_int {
        // SAFETY: per the caller.
        from_result(|| unsafe {
            let gid = *(*gid).raw.as_ref();
            op(Device::from_ib((*qp).device), Self::qp(qp), &gid, lid).map(|()| 0)
        })
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
