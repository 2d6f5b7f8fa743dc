// SPDX-License-Identifier: GPL-2.0

//! Queue pairs (the C rxe's rxe_qp.c): creation with librxe's mapped send
//! and receive rings, the IBTA state machine and its attribute checks on
//! modify, query and destroy.
//!
//! A process posts work requests straight into the rings; the transport
//! that consumes them comes with the requester and responder. Until then
//! `ibv_post_send` fails with EOPNOTSUPP rather than queueing work nothing
//! would carry out, and kernel QPs (whose posts come through the kernel)
//! are refused.

use crate::cq::{Cq, CqInner};
use crate::param::{MAX_QP_RD_ATOM, MAX_QP_WR, MAX_SGE, MIN_QP_INDEX};
use crate::proto::queue::Ring;
use crate::proto::wqe;
use crate::queue::UserRing;
use crate::rdma::bindings as sys;
use crate::rdma::device::Device;
use crate::rdma::qp::{transition_ok, AddressVector, QpCaps, QpInit, QpType};
use crate::rdma::udata::UData;
use crate::Rxe;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// One `struct rxe_sge` (uapi/rdma_user_rxe.h).
const SGE_BYTES: u32 = wqe::SGE_BYTES as u32;
/// Inline data takes the room of the largest scatter list.
pub(crate) const MAX_INLINE_DATA: u32 = MAX_SGE * SGE_BYTES;
/// Slots are at least a cache line, as librxe expects.
const MIN_SLOT: usize = 64;
const MAX_QPN: u32 = crate::param::DEFAULT_MAX_VALUE;

/// A work queue's ring, mapped by the process that owns the QP.
struct WorkQueue {
    ring: Ring,
    _user: UserRing,
}

impl WorkQueue {
    /// A ring for `wr` requests of `elem` bytes, offered to the caller;
    /// returns it with `struct mminfo` for the response.
    fn new(wr: u32, elem: usize, udata: &UData<'_>) -> Result<(WorkQueue, [u8; 16])> {
        let ring = Ring::new(wr, elem, MIN_SLOT).map_err(|_| EINVAL)?;
        let (user, mi) = UserRing::new(&ring, udata)?;
        Ok((WorkQueue { ring, _user: user }, mi))
    }
}

/// The attributes `modify_qp` sets, with the QP's state.
#[derive(Clone, Copy)]
struct Attrs {
    /// `enum ib_qp_state`.
    state: u32,
    pkey_index: u16,
    qkey: u32,
    /// `ib_access_flags` for remote access.
    access: u32,
    /// `enum ib_mtu`.
    path_mtu: u32,
    dest_qpn: u32,
    sq_psn: u32,
    rq_psn: u32,
    av: Option<AddressVector>,
    timeout: u8,
    retry_cnt: u8,
    rnr_retry: u8,
    min_rnr_timer: u8,
    max_rd_atomic: u8,
    max_dest_rd_atomic: u8,
}

impl Attrs {
    const fn new() -> Self {
        Attrs {
            state: sys::ib_qp_state_IB_QPS_RESET,
            pkey_index: 0,
            qkey: 0,
            access: 0,
            path_mtu: sys::ib_mtu_IB_MTU_256,
            dest_qpn: 0,
            sq_psn: 0,
            rq_psn: 0,
            av: None,
            timeout: 0,
            retry_cnt: 0,
            rnr_retry: 0,
            min_rnr_timer: 0,
            max_rd_atomic: 0,
            max_dest_rd_atomic: 0,
        }
    }
}

/// A queue pair.
pub(crate) struct Qp {
    inner: Arc<QpInner>,
}

/// What the device's QP table and, later, the transport hold.
#[pin_data]
pub(crate) struct QpInner {
    qpn: u32,
    qp_type: QpType,
    sq_sig_all: bool,
    caps: QpCaps,
    _send_cq: Arc<CqInner>,
    _recv_cq: Arc<CqInner>,
    _sq: WorkQueue,
    _rq: WorkQueue,
    #[pin]
    attrs: Mutex<Attrs>,
}

impl Qp {
    pub(crate) fn new(
        dev: &Device<Rxe>,
        init: &QpInit<'_, Cq>,
        udata: Option<&UData<'_>>,
    ) -> Result<(Qp, u32, QpCaps)> {
        let Some(udata) = udata else {
            // Kernel consumers post through post_send/post_recv, which come
            // with the transport.
            return Err(EOPNOTSUPP);
        };
        if init.has_srq || init.create_flags != 0 || init.qp_type == QpType::Gsi {
            return Err(EOPNOTSUPP);
        }
        let c = &init.caps;
        if c.max_send_wr > MAX_QP_WR
            || c.max_recv_wr > MAX_QP_WR
            || c.max_send_sge > MAX_SGE
            || c.max_recv_sge > MAX_SGE
            || c.max_inline_data > MAX_INLINE_DATA
        {
            return Err(EINVAL);
        }
        // The send slot holds a scatter list or inline data, whichever is
        // larger; both limits grow to fill it, as the C rxe reports them.
        let send_room = (c.max_send_sge * SGE_BYTES).max(c.max_inline_data);
        let (sq, sq_mi) = WorkQueue::new(
            c.max_send_wr,
            wqe::SEND_WQE_BYTES + send_room as usize,
            udata,
        )?;
        let recv_room = (c.max_recv_sge * SGE_BYTES) as usize;
        let (rq, rq_mi) = WorkQueue::new(c.max_recv_wr, wqe::RECV_WQE_BYTES + recv_room, udata)?;
        // struct rxe_create_qp_resp { struct mminfo rq_mi, sq_mi; }
        let mut resp = [0u8; 32];
        resp[..16].copy_from_slice(&rq_mi);
        resp[16..].copy_from_slice(&sq_mi);
        udata.write_bytes(&resp)?;
        let caps = QpCaps {
            max_send_wr: sq.ring.capacity(),
            max_recv_wr: rq.ring.capacity(),
            max_send_sge: send_room / SGE_BYTES,
            max_recv_sge: c.max_recv_sge,
            max_inline_data: send_room,
        };
        let inner = dev.qps.add(|qpn| {
            Ok(Arc::pin_init(
                pin_init!(QpInner {
                    qpn,
                    qp_type: init.qp_type,
                    sq_sig_all: init.sq_sig_all,
                    caps,
                    _send_cq: init.send_cq.inner().clone(),
                    _recv_cq: init.recv_cq.inner().clone(),
                    _sq: sq,
                    _rq: rq,
                    attrs <- new_mutex!(Attrs::new()),
                }),
                GFP_KERNEL,
            )?)
        })?;
        let qpn = inner.qpn;
        Ok((Qp { inner }, qpn, caps))
    }

    /// Checks every attribute `mask` names, then applies them all, or none.
    pub(crate) fn modify(&self, a: &sys::ib_qp_attr, mask: u32) -> Result {
        let qp = &self.inner;
        let mut attrs = qp.attrs.lock();
        let cur = attrs.state;
        if mask & sys::ib_qp_attr_mask_IB_QP_CUR_STATE != 0 && a.cur_qp_state != cur {
            return Err(EINVAL);
        }
        let next = if mask & sys::ib_qp_attr_mask_IB_QP_STATE != 0 {
            a.qp_state
        } else {
            cur
        };
        if !transition_ok(cur, next, qp.qp_type, mask) {
            pr_debug!(
                "QP {}: transition {} -> {} with mask {:#x} refused\n",
                qp.qpn,
                cur,
                next,
                mask
            );
            return Err(EINVAL);
        }
        let mut new = *attrs;
        new.state = next;
        let has = |bit: u32| mask & bit != 0;
        if has(sys::ib_qp_attr_mask_IB_QP_PORT) && a.port_num != 1 {
            return Err(EINVAL);
        }
        if has(sys::ib_qp_attr_mask_IB_QP_PKEY_INDEX) {
            if a.pkey_index != 0 {
                return Err(EINVAL);
            }
            new.pkey_index = a.pkey_index;
        }
        if has(sys::ib_qp_attr_mask_IB_QP_QKEY) {
            new.qkey = a.qkey;
        }
        if has(sys::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS) {
            new.access = a.qp_access_flags as u32;
        }
        if has(sys::ib_qp_attr_mask_IB_QP_AV) {
            if a.ah_attr.port_num != 1 {
                return Err(EINVAL);
            }
            new.av = Some(AddressVector::from_ah(&a.ah_attr)?);
        }
        if has(sys::ib_qp_attr_mask_IB_QP_ALT_PATH) {
            // Automatic path migration is not offered.
            return Err(EINVAL);
        }
        if has(sys::ib_qp_attr_mask_IB_QP_PATH_MTU) {
            if !(sys::ib_mtu_IB_MTU_256..=sys::ib_mtu_IB_MTU_4096).contains(&a.path_mtu) {
                return Err(EINVAL);
            }
            new.path_mtu = a.path_mtu;
        }
        // Small fields with a range: set if named and within it.
        let bounded = |bit: u32, value: u8, max: u32, field: &mut u8| -> Result {
            if has(bit) {
                if u32::from(value) > max {
                    return Err(EINVAL);
                }
                *field = value;
            }
            Ok(())
        };
        use sys::{
            ib_qp_attr_mask_IB_QP_MAX_DEST_RD_ATOMIC as MAX_DEST_RD_ATOMIC,
            ib_qp_attr_mask_IB_QP_MAX_QP_RD_ATOMIC as MAX_RD_ATOMIC,
            ib_qp_attr_mask_IB_QP_MIN_RNR_TIMER as MIN_RNR_TIMER,
            ib_qp_attr_mask_IB_QP_RETRY_CNT as RETRY_CNT,
            ib_qp_attr_mask_IB_QP_RNR_RETRY as RNR_RETRY, ib_qp_attr_mask_IB_QP_TIMEOUT as TIMEOUT,
        };
        // Five-bit timer codes and three-bit retry counts (IBTA 9.7.5.2).
        bounded(TIMEOUT, a.timeout, 31, &mut new.timeout)?;
        bounded(RETRY_CNT, a.retry_cnt, 7, &mut new.retry_cnt)?;
        bounded(RNR_RETRY, a.rnr_retry, 7, &mut new.rnr_retry)?;
        bounded(MIN_RNR_TIMER, a.min_rnr_timer, 31, &mut new.min_rnr_timer)?;
        bounded(
            MAX_RD_ATOMIC,
            a.max_rd_atomic,
            MAX_QP_RD_ATOM,
            &mut new.max_rd_atomic,
        )?;
        let dest = &mut new.max_dest_rd_atomic;
        bounded(
            MAX_DEST_RD_ATOMIC,
            a.max_dest_rd_atomic,
            MAX_QP_RD_ATOM,
            dest,
        )?;
        if has(sys::ib_qp_attr_mask_IB_QP_DEST_QPN) {
            new.dest_qpn = a.dest_qp_num & crate::proto::hdr::QPN_MASK;
        }
        if has(sys::ib_qp_attr_mask_IB_QP_SQ_PSN) {
            new.sq_psn = a.sq_psn & crate::proto::psn::PSN_MASK;
        }
        if has(sys::ib_qp_attr_mask_IB_QP_RQ_PSN) {
            new.rq_psn = a.rq_psn & crate::proto::psn::PSN_MASK;
        }
        if has(sys::ib_qp_attr_mask_IB_QP_CAP) {
            let c = &a.cap;
            let mine = &qp.caps;
            if c.max_send_wr > mine.max_send_wr
                || c.max_recv_wr > mine.max_recv_wr
                || c.max_send_sge > mine.max_send_sge
                || c.max_recv_sge > mine.max_recv_sge
                || c.max_inline_data > mine.max_inline_data
            {
                // Work queues are not resized.
                return Err(EINVAL);
            }
        }
        *attrs = new;
        Ok(())
    }

    /// Reports the attributes.
    pub(crate) fn query(&self, out: &mut sys::ib_qp_attr) -> (QpCaps, bool) {
        let qp = &self.inner;
        let a = *qp.attrs.lock();
        out.qp_state = a.state;
        out.cur_qp_state = a.state;
        out.path_mtu = a.path_mtu;
        out.path_mig_state = sys::ib_mig_state_IB_MIG_MIGRATED;
        out.qkey = a.qkey;
        out.rq_psn = a.rq_psn;
        out.sq_psn = a.sq_psn;
        out.dest_qp_num = a.dest_qpn;
        out.qp_access_flags = a.access as i32;
        out.pkey_index = a.pkey_index;
        out.alt_pkey_index = 0;
        out.en_sqd_async_notify = 0;
        out.sq_draining = 0;
        out.max_rd_atomic = a.max_rd_atomic;
        out.max_dest_rd_atomic = a.max_dest_rd_atomic;
        out.min_rnr_timer = a.min_rnr_timer;
        out.port_num = 1;
        out.timeout = a.timeout;
        out.retry_cnt = a.retry_cnt;
        out.rnr_retry = a.rnr_retry;
        if let Some(av) = a.av {
            av.to_ah(1, &mut out.ah_attr);
        }
        (qp.caps, qp.sq_sig_all)
    }

    pub(crate) fn destroy(&self, dev: &Device<Rxe>) {
        dev.qps.remove(self.inner.qpn);
    }
}

/// The range of QP numbers (the C rxe's RXE_MIN_QP_INDEX and
/// RXE_MAX_QP_INDEX).
pub(crate) const QPNS: (u32, u32) = (MIN_QP_INDEX, MAX_QPN);
