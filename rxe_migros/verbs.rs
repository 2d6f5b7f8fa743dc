// SPDX-License-Identifier: GPL-2.0

//! The verbs the RDMA core calls on our devices (the C rxe's rxe_verbs.c):
//! device and port queries, user contexts and protection domains.

use crate::ah::Ah;
use crate::context::{self, Context, Listing, Object};
use crate::counters::Counter;
use crate::cq::Cq;
use crate::mr::Mr;
use crate::param::*;
use crate::proto::image::{Kind, Record};
use crate::qp::Qp;
use crate::rdma::bindings as sys;
use crate::rdma::cq::{CqEvents, CqInit};
use crate::rdma::device::{Device, DeviceAttr, Driver, Owner, PortAttr, StatDesc, UverbsFile};
use crate::rdma::kmem::KernelMemory;
use crate::rdma::qp::{AddressVector, PdId, QpCaps, QpInit, RecvWr, SendWr};
use crate::rdma::udata::UData;
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
    match netdev_mtu.saturating_sub(MAX_HDR_LENGTH) {
        4096.. => sys::ib_mtu_IB_MTU_4096,
        2048.. => sys::ib_mtu_IB_MTU_2048,
        1024.. => sys::ib_mtu_IB_MTU_1024,
        512.. => sys::ib_mtu_IB_MTU_512,
        _ => sys::ib_mtu_IB_MTU_256,
    }
}

impl Driver for Rxe {
    const DRIVER_ID: u32 = sys::rdma_driver_id_RDMA_DRIVER_RXE;
    /// librxe's RXE_UVERBS_ABI_VERSION.
    const UVERBS_ABI_VER: u32 = 2;
    type UContext = UContext;
    type Pd = Pd;
    type Mr = Mr;
    type Cq = Cq;
    type Qp = Qp;
    type Ah = Ah;

    fn query_device(dev: &Device<Self>, a: &mut DeviceAttr) -> Result {
        a.vendor_id = VENDOR_ID;
        a.max_mr_size = MAX_MR_SIZE;
        a.page_size_cap = PAGE_SIZE_CAP;
        a.sys_image_guid = dev.node_guid.to_be();
        a.max_qp = MAX_QP as _;
        a.max_qp_wr = MAX_QP_WR as _;
        a.device_cap_flags = (sys::ib_device_cap_flags_IB_DEVICE_BAD_PKEY_CNTR
            | sys::ib_device_cap_flags_IB_DEVICE_BAD_QKEY_CNTR
            | sys::ib_device_cap_flags_IB_DEVICE_CHANGE_PHY_PORT
            | sys::ib_device_cap_flags_IB_DEVICE_UD_AV_PORT_ENFORCE
            | sys::ib_device_cap_flags_IB_DEVICE_PORT_ACTIVE_EVENT
            | sys::ib_device_cap_flags_IB_DEVICE_SYS_IMAGE_GUID
            | sys::ib_device_cap_flags_IB_DEVICE_RC_RNR_NAK_GEN)
            as u64;
        // `rdma link del` may remove the device.
        a.kernel_cap_flags = sys::ib_kernel_cap_flags_IBK_ALLOW_USER_UNREG as u64;
        a.max_send_sge = MAX_SGE as _;
        a.max_recv_sge = MAX_SGE as _;
        a.max_sge_rd = MAX_SGE_RD as _;
        a.max_cq = MAX_CQ as _;
        a.max_cqe = crate::cq::MAX_CQE as _;
        a.max_mr = MAX_MR as _;
        a.max_mw = MAX_MW as _;
        a.max_pd = MAX_PD as _;
        a.max_qp_rd_atom = MAX_QP_RD_ATOM as _;
        a.max_res_rd_atom = MAX_RES_RD_ATOM as _;
        a.max_qp_init_rd_atom = MAX_QP_INIT_RD_ATOM as _;
        a.atomic_cap = sys::ib_atomic_cap_IB_ATOMIC_HCA;
        a.max_mcast_grp = MAX_MCAST_GRP as _;
        a.max_mcast_qp_attach = MAX_MCAST_QP_ATTACH as _;
        a.max_total_mcast_qp_attach = MAX_TOT_MCAST_QP_ATTACH as _;
        a.max_ah = MAX_AH as _;
        a.max_srq = MAX_SRQ as _;
        a.max_srq_wr = MAX_SRQ_WR as _;
        a.max_srq_sge = MAX_SRQ_SGE as _;
        a.max_fast_reg_page_list_len = MAX_FMR_PAGE_LIST_LEN;
        a.max_pkeys = MAX_PKEYS;
        a.local_ca_ack_delay = LOCAL_CA_ACK_DELAY;
        Ok(())
    }

    fn query_port(dev: &Device<Self>, _port: u32, a: &mut PortAttr) -> Result {
        let ndev = dev.netdev(1).ok_or(ENODEV)?;
        a.max_mtu = sys::ib_mtu_IB_MTU_4096;
        a.active_mtu = active_mtu(ndev.mtu());
        a.gid_tbl_len = PORT_GID_TBL_LEN;
        a.port_cap_flags = sys::ib_port_capability_mask_bits_IB_PORT_CM_SUP;
        a.max_msg_sz = PORT_MAX_MSG_SZ;
        a.pkey_tbl_len = PORT_PKEY_TBL_LEN;
        a.max_vl_num = PORT_MAX_VL_NUM;
        // The C rxe's names for these drops; they saturate at 16 bits there.
        let c = &dev.counters;
        a.bad_pkey_cntr = c.get(Counter::RcvdBadPkey).min(0xffff) as u32;
        a.qkey_viol_cntr = c.get(Counter::RcvdBadQkey).min(0xffff) as u32;
        let (speed, width) = dev.eth_speed(1)?;
        a.active_speed = speed;
        a.active_width = width;
        if ndev.is_active() {
            a.state = sys::ib_port_state_IB_PORT_ACTIVE;
            a.phys_state = sys::ib_port_phys_state_IB_PORT_PHYS_STATE_LINK_UP as u8;
        } else {
            a.state = sys::ib_port_state_IB_PORT_DOWN;
            a.phys_state = if ndev.is_up() {
                sys::ib_port_phys_state_IB_PORT_PHYS_STATE_POLLING as u8
            } else {
                sys::ib_port_phys_state_IB_PORT_PHYS_STATE_DISABLED as u8
            };
        }
        Ok(())
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

    fn dereg_mr(dev: &Device<Self>, mr: &Mr) {
        mr.dereg(dev);
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

    fn poll_cq(cq: &Cq, wc: &mut [sys::ib_wc]) -> usize {
        cq.poll(wc)
    }

    fn req_notify_cq(cq: &Cq, flags: u32) -> bool {
        cq.req_notify(flags)
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
        init: &QpInit<'_, Cq>,
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

    fn modify_qp(qp: &Qp, attr: &sys::ib_qp_attr, mask: u32) -> Result {
        qp.modify(attr, mask)
    }

    fn query_qp(qp: &Qp, attr: &mut sys::ib_qp_attr) -> Result<(QpCaps, bool)> {
        Ok(qp.query(attr))
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

    fn dealloc(dev: &Device<Self>) {
        crate::forget_device(dev);
    }

    const HW_STATS: &'static [StatDesc] = crate::counters::DESCS;

    fn hw_stats(dev: &Device<Self>, values: &mut [u64]) {
        dev.counters.read(values);
    }
}
