// SPDX-License-Identifier: GPL-2.0

//! A QP recreated from its checkpoint image: its rings as the process left
//! them, its attributes, and the transport state its engines resume from.
//! The image was checked whole and planned for this device before the
//! restore began ([`crate::proto::restore`]); what is checked here is
//! what only the create shows: that the process asks for a QP of the
//! image's shape, and that the indices fit the rings.
//!
//! The requester goes back to the oldest incomplete send request, at the
//! PSN it started at, and sends again from there: the partner's responder
//! takes what it already had as duplicates (go-back-N), so nothing is
//! carried out twice and nothing is lost. The QP comes back Stopped; the
//! RESUME ioctl lets it run, from its new address.

use crate::context::{Context, Object};
use crate::mr;
use crate::proto::comp::Completer;
use crate::proto::image::{self, Partial, RingImage};
use crate::proto::mig::MigState;
use crate::proto::modify::QpState as State;
use crate::proto::psn::Psn;
use crate::proto::queue::{CONSUMER_OFFSET, PRODUCER_OFFSET};
use crate::proto::req::{Mtu, Service};
use crate::proto::resp::{InProgress, Responder};
use crate::qp::{Attrs, WorkQueue};
use crate::rdma::device::Device;
use crate::rdma::process::Process;
use crate::rdma::qp::{AddressVector, PdId, QpCaps};
use crate::transport::{RecvProgress, Transport, WriteProgress};
use crate::xmit::{self, Path};
use crate::Rxe;
use kernel::fs::LocalFile;
use kernel::prelude::*;

/// Whether the create asks for the QP the image holds: its type, its
/// signalling, and rings of the same shape.
pub(crate) fn same_shape(
    img: &image::Qp<'_>,
    qp_type: u32,
    sq_sig_all: bool,
    caps: &QpCaps,
) -> bool {
    img.qp_type == qp_type
        && img.sq_sig_all == sq_sig_all
        && img.max_send_wr == caps.max_send_wr
        && img.max_recv_wr == caps.max_recv_wr
        && img.max_send_sge == caps.max_send_sge
        && img.max_recv_sge == caps.max_recv_sge
        && img.max_inline == caps.max_inline_data
}

/// Writes a ring's image into `wq`, whose shape it must have (its size
/// and header), with indices within it.
pub(crate) fn fill_ring(wq: &WorkQueue, img: &RingImage<'_>) -> Result {
    let bytes = img.bytes;
    let le = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (log2, mask) = wq.ring.header();
    let fits = bytes.len() == wq.user.buf.len()
        && le(0) == Some(log2)
        && le(4) == Some(mask)
        && le(PRODUCER_OFFSET).is_some_and(|p| p <= mask)
        && le(CONSUMER_OFFSET).is_some_and(|c| c <= mask);
    if !fits {
        pr_info!("restore: a QP ring of another shape than its image\n");
        return Err(EINVAL);
    }
    wq.user.buf.write(0, bytes)
}

fn av_of(a: &image::Av) -> AddressVector {
    AddressVector {
        dgid: a.dgid,
        sgid: a.sgid,
        sgid_index: a.sgid_index,
        flow_label: a.flow_label,
        hop_limit: a.hop_limit,
        traffic_class: a.traffic_class,
        dmac: a.dmac,
        ipv6: a.ipv6,
    }
}

/// The attributes `modify_qp` had set, as the image holds them.
pub(crate) fn attrs(img: &image::Qp<'_>) -> Attrs {
    Attrs {
        // The image's state was checked (proto::restore refuses one past
        // ERR); the error state is the safe reading of anything else.
        state: State::from_abi(img.state).unwrap_or(State::Error),
        pkey_index: img.pkey_index,
        qkey: img.qkey,
        access: img.access,
        path_mtu: img.path_mtu,
        dest_qpn: img.dest_qpn,
        sq_psn: img.sq_psn,
        rq_psn: img.rq_psn,
        av: img.av.as_ref().map(av_of),
        timeout: img.timeout,
        retry_cnt: img.retry_cnt,
        rnr_retry: img.rnr_retry,
        min_rnr_timer: img.min_rnr_timer,
        max_rd_atomic: img.max_rd_atomic,
        max_dest_rd_atomic: img.max_dest_rd_atomic,
    }
}

/// What the QP numbered `qpn` (of `pd`, whose send ring has index mask
/// `sq_mask` and receive ring `rq_mask`) resumes from: `tx`, fresh, takes
/// the image's engine state and comes back Stopped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transport(
    dev: &Device<Rxe>,
    img: &image::Qp<'_>,
    service: Service,
    qpn: u32,
    pd: PdId,
    sq_mask: u32,
    rq_mask: u32,
    mut tx: Transport,
) -> Result<Transport> {
    if img.comp_wqe > sq_mask || img.rq_next > rq_mask {
        pr_info!(
            "restore: QP {:#x}: ring indices beyond its rings\n",
            img.qpn
        );
        return Err(EINVAL);
    }
    let a = attrs(img);
    // As on modify_qp: datagrams as large as the port allows, connections
    // the path MTU they were given.
    let ib_mtu = match service {
        Service::Ud => dev
            .netdev(1)
            .map_or(a.path_mtu, |nd| crate::verbs::active_mtu(nd.mtu())),
        _ => a.path_mtu,
    };
    tx.mtu = Mtu::from_ib(ib_mtu).unwrap_or(Mtu::MIN);
    tx.path = a.av.map(|av| Path {
        av,
        src_port: xmit::src_port(qpn),
    });
    tx.timeout = crate::transport::timeout_of(a.timeout);

    // The requester starts again at the oldest incomplete request; the
    // PSNs it sent beyond it are sent again.
    let restart = Psn::new(img.restart_psn);
    tx.comp_wqe = img.comp_wqe;
    tx.next_wqe = img.comp_wqe;
    tx.started = img.comp_wqe;
    tx.psn = restart;
    tx.high = restart;
    // Nothing past the restart counts as acknowledged: the completer
    // comes back at the start of the oldest request (where it stood in a
    // READ's responses is not in the image), and a go-back-N that skipped
    // ahead to an older acknowledgement would skip READ data it waits for,
    // again on every retry, until the retry budget ran out.
    tx.acked = restart;
    tx.completer = Completer::restored(a.retry_cnt, a.rnr_retry, tx.mtu, img.partner_paused);

    let in_progress = match img.partial {
        Partial::None => InProgress::None,
        Partial::Send { wr_id, offset } => {
            tx.recv = Some(RecvProgress { wr_id, offset });
            InProgress::Send
        }
        Partial::Write {
            rkey,
            at,
            left,
            total,
        } => {
            let at = usize::try_from(at).map_err(|_| EINVAL)?;
            let mr = mr::write_target(dev, pd, rkey, at, left).map_err(|e| {
                pr_info!(
                    "restore: QP {:#x}: the MR of the WRITE it was receiving: {:?}\n",
                    img.qpn,
                    e
                );
                EINVAL
            })?;
            tx.write = Some(WriteProgress {
                mr,
                at,
                left,
                total,
            });
            InProgress::Write
        }
    };
    let receiving = a.state == State::Rtr || a.state == State::Rts;
    tx.responder = if receiving {
        Responder::restored(service, Psn::new(img.epsn), img.msn, tx.mtu, in_progress)
    } else {
        let mut r = Responder::new(service, Psn::new(a.rq_psn), tx.mtu);
        r.stop();
        r
    };
    tx.rq_next = img.rq_next;
    // The image checked their layout; they are checked whole again when
    // they are carried out.
    tx.held.extend_from_slice(img.held, GFP_KERNEL)?;
    tx.held_count =
        crate::proto::image::Held::parse(img.held).map_or(0, |h| h.iter().count() as u32);
    tx.mig = MigState::Stopped;
    Ok(tx)
}

/// Adopts the restored process `pid` (see the control device's ADOPT):
/// pins every MR of `ctx` still waiting for its memory, then gives `file`,
/// the context's uverbs file (taken once by the caller, from its own
/// descriptor), the process's credentials. Returns how many MRs it pinned.
///
/// The process must hold that very file in its descriptor table (EPERM
/// otherwise): pinning memory in a process opens it to the context's
/// remote peers, so it is done only for a process the file was restored
/// into. Once per context, and only for one RESTORE made, or by the
/// process itself ([`Context::adopt`]).
pub(crate) fn adopt(ctx: &Context, file: &LocalFile, pid: i32) -> Result<u32> {
    let process = Process::by_pid(pid).inspect_err(|_| {
        pr_info!("restore: no process {} to adopt\n", pid);
    })?;
    if !process.holds(file) {
        pr_info!(
            "restore: process {} does not hold the context's file: adopt refused\n",
            pid
        );
        return Err(EPERM);
    }
    ctx.adopt(process.is_current(), || {
        let mut pinned = 0;
        for (_, object) in ctx.objects()? {
            if let Object::Mr(mr) = object {
                if ctx.with_device(|dev| mr.pin_in(dev, &process))?? {
                    pinned += 1;
                }
            }
        }
        // SAFETY: `Context::adopt` keeps the old credentials until the
        // context goes, which is when its uverbs file is released.
        let old = unsafe { process.give_credentials(file) };
        Ok((pinned, old))
    })
}
