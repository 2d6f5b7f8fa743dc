// SPDX-License-Identifier: GPL-2.0

//! Address handles (the AH half of the C rxe's rxe_av.c): where a UD send
//! goes. librxe names an AH in its work requests by the number the kernel
//! returns at creation (`struct rxe_create_ah_resp`), so the device keeps
//! them in a pool by that number. A kernel consumer names its AH by
//! pointer in each UD request, so its AHs are not pooled.

use crate::context::{self, Listing, Object};
use crate::proto::image;
use crate::rdma::device::Device;
use crate::rdma::qp::{AddressVector, PdId};
use crate::rdma::udata::UData;
use crate::rdma::uobject::Owner;
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The range of AH numbers (the C rxe's RXE_MIN_AH_INDEX, RXE_MAX_AH_INDEX).
pub(crate) const NUMBERS: (u32, u32) = (1, crate::param::MAX_AH);

/// The number of a kernel consumer's AH: none, below the pool's range.
const KERNEL_AH: u32 = 0;

/// What the device's pool, and later the UD requester, hold of an AH.
pub(crate) struct AhInner {
    num: u32,
    pub(crate) pd: PdId,
    av: AddressVector,
    /// For an AH restored at another address: the source GID it had, by
    /// which its destination knows the process's UD QPs.
    moved_from: Option<[u8; 16]>,
}

/// An address handle.
pub(crate) struct Ah {
    inner: Arc<AhInner>,
    _listing: Option<Listing>,
}

impl AhInner {
    pub(crate) fn av(&self) -> AddressVector {
        self.av
    }

    /// The number librxe names it by in UD work requests.
    pub(crate) fn num(&self) -> u32 {
        self.num
    }

    /// The source GID it had before a migration, if that was another.
    pub(crate) fn moved_from(&self) -> Option<[u8; 16]> {
        self.moved_from
    }
}

impl Ah {
    pub(crate) fn new(
        dev: &Device<Rxe>,
        pd: PdId,
        av: &AddressVector,
        udata: Option<&UData<'_>>,
        sleepable: bool,
        owner: &Owner<'_, Rxe>,
        image: Option<&image::Ah>,
    ) -> Result<Ah> {
        let av = *av;
        if udata.is_none() {
            // A kernel consumer's AH rides in its UD requests by pointer,
            // so it needs no number, and the connection manager creates
            // (and destroys) them with interrupts off: no pool, no lock.
            let flags = if sleepable { GFP_KERNEL } else { GFP_ATOMIC };
            let inner = Arc::new(
                AhInner {
                    num: KERNEL_AH,
                    pd,
                    av,
                    moved_from: None,
                },
                flags,
            )?;
            return Ok(Ah {
                inner,
                _listing: None,
            });
        }
        let moved_from = image.map(|a| a.av.sgid).filter(|old| *old != av.sgid);
        let make = |num| {
            Ok(Arc::new(
                AhInner {
                    num,
                    pd,
                    av,
                    moved_from,
                },
                GFP_KERNEL,
            )?)
        };
        let inner = match image {
            // A restored AH keeps its number: the work requests in the
            // process's send rings name it. Its source may be another
            // host's; its destination is the same.
            Some(a) if a.av.dgid != av.dgid => {
                pr_info!("restore: an AH to another destination than its image\n");
                return Err(EINVAL);
            }
            Some(a) => dev.ahs.add_at(a.num, make)?,
            None => dev.ahs.add(make)?,
        };
        // struct rxe_create_ah_resp { __u32 ah_num; __u32 reserved; }: only
        // providers that know it leave room for it.
        if let Some(udata) = udata.filter(|u| u.outlen() >= 8) {
            let mut resp = [0u8; 8];
            resp[..4].copy_from_slice(&inner.num.to_ne_bytes());
            if let Err(e) = udata.write_bytes(&resp) {
                dev.ahs.remove(inner.num);
                return Err(e);
            }
        }
        let listing = context::list(owner, Object::Ah(inner.clone())).inspect_err(|_| {
            dev.ahs.remove(inner.num);
        })?;
        Ok(Ah {
            inner,
            _listing: listing,
        })
    }

    pub(crate) fn av(&self) -> AddressVector {
        self.inner.av
    }

    pub(crate) fn destroy(&self, dev: &Device<Rxe>) {
        if self.inner.num != KERNEL_AH {
            dev.ahs.remove(self.inner.num);
        }
    }
}
