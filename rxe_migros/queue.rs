// SPDX-License-Identifier: GPL-2.0

//! Rings shared with a process (the C rxe's rxe_queue.c and rxe_mmap.c):
//! the memory, its header, and the offer to map it that librxe finds in a
//! create or resize response. Their shape is the core's [`Ring`]. A kernel
//! consumer's QP has the same rings, offered to nobody: its posts write
//! them as librxe would.

use crate::proto::queue::Ring;
use crate::rdma::mmap::{Published, SharedBuf};
use crate::rdma::udata::UData;
use kernel::prelude::*;
use kernel::sync::Arc;

/// A ring in memory a process maps. Dropping it withdraws the offer; the
/// memory stays while the process still maps it.
pub(crate) struct UserRing {
    pub(crate) buf: Arc<SharedBuf>,
    /// None for a kernel consumer's ring.
    offer: Option<Published>,
}

impl UserRing {
    /// Allocates `ring`, writes its header and offers it to the caller of
    /// `udata`. Also returns `struct mminfo { __u64 offset; __u32 size;
    /// __u32 pad; }` for the response.
    pub(crate) fn new(ring: &Ring, udata: &UData<'_>) -> Result<(UserRing, [u8; 16])> {
        let mut r = UserRing::kernel(ring)?;
        let offer = udata.publish(&r.buf)?;
        let mut mi = [0u8; 16];
        mi[..8].copy_from_slice(&offer.offset().to_ne_bytes());
        mi[8..12].copy_from_slice(&(r.buf.len() as u32).to_ne_bytes());
        r.offer = Some(offer);
        Ok((r, mi))
    }

    /// Allocates `ring` and writes its header, offered to nobody.
    pub(crate) fn kernel(ring: &Ring) -> Result<UserRing> {
        let buf = SharedBuf::new(ring.bytes())?;
        let (log2_elem_size, index_mask) = ring.header();
        buf.write(0, &log2_elem_size.to_ne_bytes())?;
        buf.write(4, &index_mask.to_ne_bytes())?;
        Ok(UserRing { buf, offer: None })
    }

    /// The offset the process maps the ring at (0 for a kernel ring).
    pub(crate) fn mmap_offset(&self) -> u64 {
        self.offer.as_ref().map_or(0, Published::offset)
    }

    /// A copy of the whole ring, header and slots, for a checkpoint.
    pub(crate) fn snapshot(&self) -> Result<KVVec<u8>> {
        snapshot(&self.buf)
    }
}

/// A copy of all of `buf`.
pub(crate) fn snapshot(buf: &SharedBuf) -> Result<KVVec<u8>> {
    let mut out = KVVec::from_elem(0u8, buf.len(), GFP_KERNEL)?;
    buf.read(0, &mut out)?;
    Ok(out)
}
