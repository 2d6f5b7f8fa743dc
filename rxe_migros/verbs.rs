// SPDX-License-Identifier: GPL-2.0

//! The verbs the RDMA core calls on our devices (the C rxe's rxe_verbs.c):
//! device and port queries, user contexts and protection domains.

use crate::ah::Ah;
use crate::context::{self, Context, Listing, Object};
use crate::counters::Counter;
use crate::cq::Cq;
use crate::mr::Mr;
use crate::mw::Mw;
use crate::param::*;
use crate::proto::image::{Kind, Record};
use crate::proto::pma;
use crate::qp::Qp;
use crate::rdma::attr::{AtomicCap, DeviceAttr, DeviceCaps, OdpCaps, OdpOps, PortAttr, PortState};
use crate::rdma::cq::{Arm, CqEvents, CqInit, WcOut};
use crate::rdma::device::{
    Device, Driver, DriverId, MadAnswer, MrChange, Prefetch, Sge, MAD_BYTES,
};
use crate::rdma::kmem::{KernelMemory, MappedPage};
use crate::rdma::qp::{
    ib_mtu_of, AddressVector, PdId, QpAttrValues, QpCaps, QpInit, RecvWr, SendWr,
};
use crate::rdma::srq::{SrqAttr, SrqChange, SrqInit};
use crate::rdma::stats::StatDesc;
use crate::rdma::udata::UData;
use crate::rdma::uobject::{Owner, UverbsFile};
use crate::srq::Srq;
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::Arc;

/// A process's open device: listed, with its QPs, for the control device.
pub(crate) struct UContext {
    pub(crate) context: Arc<Context>,
}

impl Drop for UContext {
    fn drop(&mut self) {
        Context::unregister(&self.context);
    }
}

/// A protection domain. Its objects (MRs, QPs, AHs) point to it, not the
/// other way round, so it holds only its place in its user context.
pub(crate) struct Pd {
    _listing: Option<Listing>,
}

/// Creates an object of `kind` for `owner` through `make`, which gets the
/// record a restore in progress in the owner's context has next (see
/// [`Context::restoring`]). Kernel objects are never restored.
fn restoring<R>(
    owner: &Owner<'_, Rxe>,
    kind: Kind,
    make: impl FnOnce(Option<&Record<'_>>) -> Result<R>,
) -> Result<R> {
    match owner.uctx {
        Some(u) => u.context.restoring(kind, make),
        None => make(None),
    }
}

/// `ib_mtu` of a netdev MTU, after the room RoCEv2 headers take.
pub(crate) fn active_mtu(netdev_mtu: u32) -> u32 {
    ib_mtu_of(netdev_mtu.saturating_sub(MAX_HDR_LENGTH))
}

impl Driver for Rxe {
    const DRIVER_ID: DriverId = DriverId::Rxe;
    /// librxe's RXE_UVERBS_ABI_VERSION.
    const UVERBS_ABI_VER: u32 = 2;
    type UContext = UContext;
    type Pd = Pd;
    type Mr = Mr;
    type Cq = Cq;
    type Qp = Qp;
    type Ah = Ah;
    type Srq = Srq;
    type Mw = Mw;

    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr> {
        Ok(DeviceAttr {
            vendor_id: VENDOR_ID,
            max_mr_size: MAX_MR_SIZE,
            page_size_cap: PAGE_SIZE_CAP,
            sys_image_guid: dev.node_guid,
            max_qp: MAX_QP as _,
            max_qp_wr: MAX_QP_WR as _,
            device_caps: DeviceCaps::BAD_PKEY_CNTR
                .union(DeviceCaps::BAD_QKEY_CNTR)
                .union(DeviceCaps::CHANGE_PHY_PORT)
                .union(DeviceCaps::UD_AV_PORT_ENFORCE)
                .union(DeviceCaps::PORT_ACTIVE_EVENT)
                .union(DeviceCaps::SYS_IMAGE_GUID)
                .union(DeviceCaps::RC_RNR_NAK_GEN)
                .union(DeviceCaps::SRQ_RESIZE)
                // ATOMIC WRITE and FLUSH to global visibility (IBA A19),
                // as the C rxe has them; not FLUSH_PERSISTENT: no
                // persistent memory behind our MRs.
                .union(DeviceCaps::ATOMIC_WRITE)
                .union(DeviceCaps::FLUSH_GLOBAL)
                // Memory windows of type 1 and 2B (`mw`), as the C rxe's.
                .union(DeviceCaps::MEM_WINDOW)
                .union(DeviceCaps::MEM_WINDOW_TYPE_2B)
                // Fast registration for kernel consumers (REG_MR,
                // LOCAL_INV and SEND_WITH_INV of its keys; `mr`).
                .union(DeviceCaps::MEM_MGT_EXTENSIONS),
            // `rdma link del` may remove the device.
            allow_user_unreg: true,
            // MRs paged on demand (`mr`, rust/umem_odp.rs), for what the
            // C rxe offers them: not implicit ODP, nor UC.
            odp: Some(OdpCaps {
                rc: OdpOps::SEND
                    .union(OdpOps::RECV)
                    .union(OdpOps::WRITE)
                    .union(OdpOps::READ)
                    .union(OdpOps::ATOMIC)
                    .union(OdpOps::SRQ_RECV)
                    .union(OdpOps::FLUSH)
                    .union(OdpOps::ATOMIC_WRITE),
                ud: OdpOps::SEND.union(OdpOps::RECV).union(OdpOps::SRQ_RECV),
            }),
            max_send_sge: MAX_SGE as _,
            max_recv_sge: MAX_SGE as _,
            max_sge_rd: MAX_SGE_RD as _,
            max_cq: MAX_CQ as _,
            max_cqe: crate::cq::MAX_CQE as _,
            max_mr: MAX_MR as _,
            max_pd: MAX_PD as _,
            max_qp_rd_atom: MAX_QP_RD_ATOM as _,
            max_res_rd_atom: MAX_RES_RD_ATOM as _,
            max_qp_init_rd_atom: MAX_QP_INIT_RD_ATOM as _,
            max_ah: MAX_AH as _,
            // Compare and swap and fetch and add, each one indivisible
            // step on the pinned page (`Umem::atomic`), as the C rxe's.
            atomic_cap: AtomicCap::Hca,
            // UD multicast, within the limits of `mcast`.
            max_mcast_grp: crate::mcast::MAX_GROUPS as _,
            max_mcast_qp_attach: crate::mcast::MAX_QP_ATTACH as _,
            max_total_mcast_qp_attach: (crate::mcast::MAX_GROUPS * crate::mcast::MAX_QP_ATTACH)
                as _,
            // Shared receive queues (`srq`).
            max_srq: MAX_SRQ as _,
            max_srq_wr: MAX_SRQ_WR as _,
            max_srq_sge: MAX_SRQ_SGE as _,
            max_mw: MAX_MW as _,
            max_fast_reg_page_list_len: crate::proto::fastreg::MAX_PAGES,
            max_pkeys: MAX_PKEYS,
            local_ca_ack_delay: LOCAL_CA_ACK_DELAY,
        })
    }

    fn query_port(dev: &Device<Self>, _port: u32) -> Result<PortAttr> {
        let ndev = dev.netdev(1).ok_or(ENODEV)?;
        // The C rxe's names for these drops; they saturate at 16 bits there.
        let c = &dev.counters;
        let (active_speed, active_width) = dev.eth_speed(1)?;
        Ok(PortAttr {
            state: if ndev.is_active() {
                PortState::Active
            } else if ndev.is_up() {
                PortState::Polling
            } else {
                PortState::Disabled
            },
            max_mtu: ib_mtu_of(4096),
            active_mtu: active_mtu(ndev.mtu()),
            gid_tbl_len: PORT_GID_TBL_LEN,
            cm_supported: true,
            max_msg_sz: PORT_MAX_MSG_SZ,
            pkey_tbl_len: PORT_PKEY_TBL_LEN,
            max_vl_num: PORT_MAX_VL_NUM,
            bad_pkey_cntr: c.get(Counter::RcvdBadPkey).min(0xffff) as u32,
            qkey_viol_cntr: c.get(Counter::RcvdBadQkey).min(0xffff) as u32,
            active_speed,
            active_width,
        })
    }

    fn query_pkey(_dev: &Device<Self>, _port: u32, index: u16) -> Result<u16> {
        if index >= PORT_PKEY_TBL_LEN {
            return Err(EINVAL);
        }
        Ok(DEFAULT_PKEY)
    }

    fn alloc_ucontext(dev: &Device<Self>, file: UverbsFile) -> Result<UContext> {
        Ok(UContext {
            context: Context::register(file, dev.handle())?,
        })
    }

    fn alloc_pd(_dev: &Device<Self>, id: PdId, owner: Owner<'_, Self>) -> Result<Pd> {
        // A restored PD is just a PD: it only has to come in its place.
        restoring(&owner, Kind::Pd, |_| {
            Ok(Pd {
                _listing: context::list(&owner, Object::Pd(id))?,
            })
        })
    }

    fn get_dma_mr(
        dev: &Device<Self>,
        pd: PdId,
        access: i32,
        memory: KernelMemory,
    ) -> Result<(Mr, u32, u32)> {
        Mr::dma(dev, pd, access, memory)
    }

    fn reg_user_mr(
        dev: &Device<Self>,
        pd: PdId,
        start: u64,
        len: u64,
        iova: u64,
        access: i32,
        owner: Owner<'_, Self>,
    ) -> Result<(Mr, u32, u32)> {
        restoring(&owner, Kind::Mr, |rec| {
            let image = match rec {
                Some(Record::Mr(m)) => Some(m),
                _ => None,
            };
            Mr::user(dev, pd, start, len, iova, access, &owner, image)
        })
    }

    fn dereg_mr(dev: &Device<Self>, mr: &Mr) -> Result {
        mr.dereg(dev)
    }

    fn alloc_mw(
        dev: &Device<Self>,
        pd: PdId,
        ty: u32,
        owner: Owner<'_, Self>,
    ) -> Result<(Mw, u32)> {
        restoring(&owner, Kind::Mw, |rec| {
            let image = match rec {
                Some(Record::Mw(m)) => Some(m),
                _ => None,
            };
            Mw::alloc(dev, pd, ty, &owner, image)
        })
    }

    fn dealloc_mw(dev: &Device<Self>, mw: &Mw) {
        mw.dealloc(dev);
    }

    fn alloc_fast_mr(dev: &Device<Self>, pd: PdId, max_pages: u32) -> Result<(Mr, u32, u32)> {
        Mr::fast(dev, pd, max_pages)
    }

    fn map_mr_begin(mr: &Mr, page_size: u32) -> Result {
        mr.map_begin(page_size)
    }

    fn map_mr_page(mr: &Mr, page: MappedPage) -> Result {
        mr.map_page(page)
    }

    fn map_mr_end(mr: &Mr, iova: u64) {
        mr.map_end(iova)
    }

    fn rereg_user_mr(_dev: &Device<Self>, mr: &Mr, change: &MrChange) -> Result {
        mr.rereg(change)
    }

    const ON_DEMAND_PAGING: bool = true;

    fn advise_mr(
        dev: &Device<Self>,
        pd: PdId,
        advice: Prefetch,
        flush: bool,
        sges: &[Sge],
    ) -> Result {
        crate::mr::advise(dev, pd, advice, flush, sges)
    }

    fn create_cq(
        _dev: &Device<Self>,
        init: &CqInit,
        udata: Option<&UData<'_>>,
        events: Arc<CqEvents>,
        owner: Owner<'_, Self>,
    ) -> Result<(Cq, u32)> {
        restoring(&owner, Kind::Cq, |rec| {
            let image = match rec {
                Some(Record::Cq(c)) => Some(c),
                _ => None,
            };
            Cq::new(init, udata, events, &owner, image)
        })
    }

    fn resize_user_cq(cq: &Cq, entries: u32, udata: &UData<'_>) -> Result<u32> {
        cq.resize(entries, udata)
    }

    fn poll_cq(cq: &Cq, wc: &mut WcOut<'_>) -> usize {
        cq.poll(wc)
    }

    fn req_notify_cq(cq: &Cq, arm: Option<Arm>, report_missed: bool) -> bool {
        cq.req_notify(arm, report_missed)
    }

    fn create_ah(
        dev: &Device<Self>,
        pd: PdId,
        av: &AddressVector,
        udata: Option<&UData<'_>>,
        sleepable: bool,
        owner: Owner<'_, Self>,
    ) -> Result<Ah> {
        restoring(&owner, Kind::Ah, |rec| {
            let image = match rec {
                Some(Record::Ah(a)) => Some(a),
                _ => None,
            };
            Ah::new(dev, pd, av, udata, sleepable, &owner, image)
        })
    }

    fn query_ah(ah: &Ah) -> AddressVector {
        ah.av()
    }

    fn destroy_ah(dev: &Device<Self>, ah: &Ah) {
        ah.destroy(dev);
    }

    fn create_qp(
        dev: &Device<Self>,
        init: &QpInit<'_, Cq, Srq>,
        udata: Option<&UData<'_>>,
        owner: Owner<'_, Self>,
    ) -> Result<(Qp, u32, QpCaps)> {
        restoring(&owner, Kind::Qp, |rec| {
            let image = match rec {
                Some(Record::Qp(q)) => Some(q),
                _ => None,
            };
            Qp::new(dev, init, udata, &owner, image)
        })
    }

    fn modify_qp(qp: &Qp, attr: &QpAttrValues, mask: u32) -> Result {
        qp.modify(attr, mask)
    }

    fn query_qp(qp: &Qp) -> Result<(QpAttrValues, QpCaps, bool)> {
        Ok(qp.query())
    }

    fn post_send(dev: &Device<Self>, qp: &Qp) -> Result {
        qp.doorbell(dev)
    }

    fn post_kernel_send(qp: &Qp, wr: &SendWr<'_, Ah>) -> Result {
        qp.post_kernel_send(wr)
    }

    fn kick_send(qp: &Qp) {
        qp.kick_send();
    }

    fn post_kernel_recv(qp: &Qp, wr: &RecvWr<'_>) -> Result {
        qp.post_kernel_recv(wr)
    }

    fn destroy_qp(dev: &Device<Self>, qp: &Qp) {
        qp.destroy(dev);
    }

    fn create_srq(
        dev: &Device<Self>,
        init: &SrqInit,
        udata: Option<&UData<'_>>,
        owner: Owner<'_, Self>,
    ) -> Result<(Srq, SrqAttr)> {
        restoring(&owner, Kind::Srq, |rec| {
            let image = match rec {
                Some(Record::Srq(s)) => Some(s),
                _ => None,
            };
            Srq::new(dev, init, udata, &owner, image)
        })
    }

    fn modify_srq(
        srq: &Srq,
        attr: &SrqAttr,
        change: SrqChange,
        udata: Option<&UData<'_>>,
    ) -> Result {
        srq.modify(attr, change, udata)
    }

    fn query_srq(srq: &Srq) -> Result<SrqAttr> {
        Ok(srq.query())
    }

    fn post_kernel_srq_recv(srq: &Srq, wr: &RecvWr<'_>) -> Result {
        srq.post_kernel_recv(wr)
    }

    fn destroy_srq(dev: &Device<Self>, srq: &Srq) {
        srq.destroy(dev);
    }

    const MULTICAST: bool = true;

    fn attach_mcast(dev: &Device<Self>, qp: &Qp, gid: &[u8; 16], lid: u16) -> Result {
        qp.attach_mcast(dev, gid, lid)
    }

    fn detach_mcast(dev: &Device<Self>, qp: &Qp, gid: &[u8; 16], _lid: u16) -> Result {
        qp.detach_mcast(dev, gid)
    }

    fn dealloc(dev: &Device<Self>) {
        crate::forget_device(dev);
    }

    const HW_STATS: &'static [StatDesc] = crate::counters::DESCS;

    fn hw_stats(dev: &Device<Self>, values: &mut [u64]) {
        dev.counters.read(values);
    }

    /// The port's PMA (as the C rxe's rxe_mad.c): PortCounters and
    /// PortCountersExtended from the same counters as `hw_counters`.
    const PROCESS_MAD: bool = true;

    fn process_mad(
        dev: &Device<Self>,
        port: u32,
        mad: &[u8; MAD_BYTES],
        out: &mut [u8; MAD_BYTES],
    ) -> MadAnswer {
        if port != 1 {
            return MadAnswer::Failure;
        }
        let c = &dev.counters;
        let counters = pma::PortCounters {
            xmit_bytes: c.get(Counter::SentBytes),
            rcv_bytes: c.get(Counter::RcvdBytes),
            xmit_packets: c.get(Counter::SentPkts),
            rcv_packets: c.get(Counter::RcvdPkts),
            link_downed: c.get(Counter::LinkDowned),
        };
        match pma::answer(mad, &counters, out) {
            pma::Answer::Reply => MadAnswer::Reply,
            pma::Answer::NotOurs => MadAnswer::NotOurs,
        }
    }
}
