// SPDX-License-Identifier: GPL-2.0

//! Memory regions (the C rxe's rxe_mr.c): the DMA MR of kernel users and
//! process memory pinned for RDMA.
//!
//! A key is the MR's index in the device's pool, shifted left by eight,
//! and an eight-bit tag, as the C rxe builds them; lkey and rkey are the
//! same. Reading and writing the memory comes with the transport.

use crate::param::{MAX_MR_INDEX, MIN_MR_INDEX};
use crate::rdma::bindings as sys;
use crate::rdma::device::Device;
use crate::rdma::umem::Umem;
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

/// Access flags a software device honours (the C rxe's
/// RXE_ACCESS_SUPPORTED_MR, without on-demand paging).
const SUPPORTED_ACCESS: u32 = sys::ib_access_flags_IB_ACCESS_LOCAL_WRITE
    | sys::ib_access_flags_IB_ACCESS_REMOTE_WRITE
    | sys::ib_access_flags_IB_ACCESS_REMOTE_READ
    | sys::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC
    | sys::ib_access_flags_IB_ACCESS_MW_BIND
    | sys::ib_access_flags_IB_ACCESS_FLUSH_GLOBAL
    | sys::ib_access_flags_IB_ACCESS_FLUSH_PERSISTENT
    | sys::ib_access_flags_IB_ACCESS_OPTIONAL;

/// What an MR covers.
enum Memory {
    /// All of memory, by kernel address (`ib_get_dma_mr`).
    Dma,
    /// A process's pages, pinned, which it addresses from `iova`.
    User { _umem: Umem, _iova: u64, _len: u64 },
}

/// What the device's pool, and later the transport, hold of an MR.
pub(crate) struct MrInner {
    key: u32,
    _access: u32,
    _memory: Memory,
}

/// A memory region.
pub(crate) struct Mr {
    inner: Arc<MrInner>,
}

impl Mr {
    fn new(dev: &Device<Rxe>, access: u32, memory: Memory) -> Result<(Mr, u32, u32)> {
        let inner = dev.mrs.add(|index| {
            let tag = dev.next_key_tag.fetch_add(1, Relaxed) & 0xff;
            Ok(Arc::new(
                MrInner {
                    key: index << 8 | tag,
                    _access: access,
                    _memory: memory,
                },
                GFP_KERNEL,
            )?)
        })?;
        let key = inner.key;
        Ok((Mr { inner }, key, key))
    }

    pub(crate) fn dma(dev: &Device<Rxe>, access: i32) -> Result<(Mr, u32, u32)> {
        Mr::new(dev, access as u32, Memory::Dma)
    }

    pub(crate) fn user(
        dev: &Device<Rxe>,
        start: u64,
        len: u64,
        iova: u64,
        access: i32,
    ) -> Result<(Mr, u32, u32)> {
        if access as u32 & !SUPPORTED_ACCESS != 0 {
            return Err(EOPNOTSUPP);
        }
        let umem = Umem::pin(dev, start, len, access)?;
        let memory = Memory::User {
            _umem: umem,
            _iova: iova,
            _len: len,
        };
        Mr::new(dev, access as u32, memory)
    }

    pub(crate) fn dereg(&self, dev: &Device<Rxe>) {
        dev.mrs.remove(self.inner.key >> 8);
    }
}

/// The pool's index range.
pub(crate) const INDICES: (u32, u32) = (MIN_MR_INDEX, MAX_MR_INDEX);
