// SPDX-License-Identifier: GPL-2.0

//! A QP recreated from its checkpoint image: its rings as the process left
//! them, its attributes, and the transport state its engines resume from.
//! The image was checked whole and planned for this device before the
//! restore began ([`crate::proto::restore`]); what is checked here is
//! what only the create shows: that the process asks for a QP of the
//! image's shape, and that the indices fit the rings.
//!
//! The engine's state comes back from the image in the core
//! ([`Engine::restored`](crate::proto::engine::Engine::restored)). The QP
//! comes back Stopped; the RESUME ioctl lets it run, from its new address.

use crate::context::{Context, Object};
use crate::proto::image::{self, RingImage};
use crate::proto::queue::{CONSUMER_OFFSET, PRODUCER_OFFSET};
use crate::qp::WorkQueue;
use crate::rdma::process::Process;
use crate::rdma::qp::QpCaps;
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

/// Adopts the restored process `pid` (see the control device's ADOPT):
/// pins every MR of `ctx` still waiting for its memory, binds its memory
/// windows again, then gives `file`, the context's uverbs file (taken
/// once by the caller, from its own descriptor), the process's
/// credentials. Returns how many MRs it pinned.
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
    if !process.may_ptrace() {
        pr_info!(
            "restore: the caller may not ptrace process {}: adopt refused\n",
            pid
        );
        return Err(EPERM);
    }
    if !process.holds(file) {
        pr_info!(
            "restore: process {} does not hold the context's file: adopt refused\n",
            pid
        );
        return Err(EPERM);
    }
    ctx.adopt(process.is_current(), process.id()?, || {
        let mut pinned = 0;
        let objects = ctx.objects()?;
        for (_, object) in objects.iter() {
            if let Object::Mr(mr) = object {
                if ctx.with_device(|dev| mr.pin_in(dev, &process))?? {
                    pinned += 1;
                }
            }
        }
        // The windows reach the MRs' memory: bound once it is pinned.
        ctx.bind_windows(&objects)?;
        // SAFETY: `Context::adopt` keeps the old credentials until the
        // context goes, which is when its uverbs file is released.
        let old = unsafe { process.give_credentials(file) };
        Ok((pinned, old))
    })
}
