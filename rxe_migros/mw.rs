// SPDX-License-Identifier: GPL-2.0

//! Memory windows (the C rxe's rxe_mw.c): the device's table of them, by
//! the index in their rkeys, which lies above every MR's; each holds a
//! [`Window`], which makes every decision, and the MR it is bound to.
//!
//! A window's state changes under its lock, from the requester of the QP
//! that binds or invalidates it and from the responder of a QP that gets
//! a SEND_WITH_INV; a responder's lookup takes the lock too, so a request
//! meets the window either before a change or after it. An MR with a
//! window bound to it is not deregistered (EINVAL, IBA 10.6.7.2.6); the
//! window's reference keeps its pages pinned whatever happens.

use crate::context::{self, Listing, Object};
use crate::mr::{MrError, MrInner};
use crate::param::{MAX_MW_INDEX, MIN_MW_INDEX};
use crate::proto::image;
use crate::proto::mw::{Bind, MwError, MwType, QpId, Window};
use crate::qp::QpInner;
use crate::rdma::device::Device;
use crate::rdma::qp::PdId;
use crate::rdma::uobject::{Owner, UIds};
use crate::Rxe;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::{Arc, SpinLock};

/// The pool's index range.
pub(crate) const INDICES: (u32, u32) = (MIN_MW_INDEX, MAX_MW_INDEX);

/// Whether `key` names a window, not an MR (the C rxe's rkey_is_mw).
pub(crate) fn is_mw(key: u32) -> bool {
    (MIN_MW_INDEX..=MAX_MW_INDEX).contains(&(key >> 8))
}

struct State {
    window: Window,
    /// The MR of the window's binding, if it has one.
    mr: Option<Arc<MrInner>>,
}

/// What the device's pool, and the transport, hold of a window.
#[pin_data]
pub(crate) struct MwInner {
    #[pin]
    state: SpinLock<State>,
}

impl State {
    /// Puts `mr` as the window's MR. Returns the one it had, for the
    /// caller to drop once the lock is released: the last reference to
    /// an MR unpins its pages, which may sleep.
    fn set_mr(&mut self, mr: Option<Arc<MrInner>>) -> Option<Arc<MrInner>> {
        if let Some(m) = &mr {
            m.windows.fetch_add(1, Relaxed);
        }
        let old = core::mem::replace(&mut self.mr, mr);
        if let Some(o) = &old {
            o.windows.fetch_sub(1, Relaxed);
        }
        old
    }
}

/// A memory window.
pub(crate) struct Mw {
    inner: Arc<MwInner>,
    index: u32,
    _listing: Option<Listing>,
}

impl Mw {
    /// `ibv_alloc_mw`: a window of type `ty` (`IB_MW_TYPE_*`) in `pd`,
    /// and its rkey; for a restore, the window `image` holds, with its
    /// rkey (its binding comes when the process is adopted,
    /// [`restore_bindings`]). EINVAL for another type.
    pub(crate) fn alloc(
        dev: &Device<Rxe>,
        pd: PdId,
        ty: u32,
        owner: &Owner<'_, Rxe>,
        image: Option<&image::Mw>,
    ) -> Result<(Mw, u32)> {
        let mw_type = MwType::from_abi(ty).ok_or(EINVAL)?;
        if image.is_some_and(|m| m.mw_type != ty) {
            pr_info!("restore: a memory window of another type than its image\n");
            return Err(EINVAL);
        }
        let make = |rkey: u32| {
            Arc::pin_init(
                pin_init!(MwInner {
                    state <- new_spinlock!(State {
                        window: Window::new(mw_type, pd.to_raw(), rkey),
                        mr: None,
                    }),
                }),
                GFP_KERNEL,
            )
        };
        let mut rkey = 0;
        let inner = match image {
            // The restore's plan found its index free.
            Some(m) => {
                rkey = m.rkey;
                dev.mws.add_at(rkey >> 8, |_| make(rkey))?
            }
            None => {
                let tag = dev.next_key_tag.fetch_add(1, Relaxed) & 0xff;
                dev.mws.add(|index| {
                    rkey = index << 8 | tag;
                    make(rkey)
                })?
            }
        };
        let index = rkey >> 8;
        let listing = context::list(owner, Object::Mw(inner.clone())).inspect_err(|_| {
            dev.mws.remove(index);
        })?;
        Ok((
            Mw {
                inner,
                index,
                _listing: listing,
            },
            rkey,
        ))
    }

    /// `ibv_dealloc_mw`: the window goes, with its binding.
    pub(crate) fn dealloc(&self, dev: &Device<Rxe>) {
        dev.mws.remove(self.index);
        let old = self.inner.state.lock().set_mr(None);
        drop(old);
    }
}

impl MwInner {
    /// The window as it is now, and the MR it is bound to (a checkpoint's).
    pub(crate) fn snapshot(&self) -> (Window, Option<Arc<MrInner>>) {
        let state = self.state.lock();
        (state.window, state.mr.clone())
    }
}

/// Binds the windows of a restored context again, as its image's
/// `bindings` say, when its process is adopted (before its QPs run):
/// `objects` are the context's, with their handles, the image's. Each
/// binding is checked as a bind would be, on a copy of its window, before
/// any is made: EINVAL, with one log line, and none is made, if one fails.
pub(crate) fn restore_bindings(
    objects: &[(Option<UIds>, Object)],
    bindings: &[image::MwBinding],
) -> Result {
    let find = |h: u32| {
        objects
            .iter()
            .find_map(|(ids, o)| (ids.map(|i| i.handle) == Some(h)).then_some(o))
    };
    let refused = |b: &image::MwBinding, why: &dyn core::fmt::Debug| {
        pr_info!(
            "restore: memory window {}: {:?}: not bound again\n",
            b.mw,
            why
        );
        EINVAL
    };
    let mut made = KVec::with_capacity(bindings.len(), GFP_KERNEL)?;
    for b in bindings {
        let (Some(Object::Mw(mw)), Some(Object::Mr(mr))) = (find(b.mw), find(b.mr)) else {
            return Err(refused(b, &"no such window or MR"));
        };
        let qp = match b.qp {
            image::NO_QP => None,
            h => match find(h) {
                Some(Object::Qp(q)) => Some(q),
                _ => return Err(refused(b, &"no such QP")),
            },
        };
        let facts = mr.facts().ok_or_else(|| refused(b, &"a kernel MR"))?;
        let mut window = mw.snapshot().0;
        let (qp_id, pd) = match qp {
            Some(q) => (id_of(q), q.pd.to_raw()),
            // A type 1 window is bound to no QP, in its own PD.
            None => (QpId { qpn: 0, serial: 0 }, window.pd),
        };
        let bind = Bind {
            mw_rkey: window.rkey(),
            new_rkey: window.rkey(),
            mr_lkey: mr.key(),
            addr: b.addr,
            length: b.length,
            access: b.access,
        };
        window
            .bind(&bind, qp_id, pd, Some(&facts))
            .map_err(|e| refused(b, &e))?;
        made.push((mw.clone(), mr.clone(), window), GFP_KERNEL)?;
    }
    for (mw, mr, window) in made {
        let mut state = mw.state.lock();
        state.window = window;
        // A restored window had no MR.
        let none = state.set_mr(Some(mr));
        drop(state);
        drop(none);
    }
    Ok(())
}

/// The window `key` names, if any.
fn find(dev: &Device<Rxe>, key: u32) -> Result<Arc<MwInner>, MwError> {
    dev.mws.get(key >> 8).ok_or(MwError::BadKey)
}

/// The requester of `qp` binds the window `b` names (BIND_MW).
pub(crate) fn bind(dev: &Device<Rxe>, qp: &QpInner, b: &Bind) -> Result<(), MwError> {
    let mw = find(dev, b.mw_rkey)?;
    let mr = if b.length == 0 {
        None
    } else {
        let mr = dev.mrs.get(b.mr_lkey >> 8).ok_or(MwError::BadKey)?;
        if mr.key() != b.mr_lkey {
            return Err(MwError::BadKey);
        }
        Some(mr)
    };
    // A DMA MR (a kernel consumer's) has no windows.
    let facts = match &mr {
        Some(m) => Some(m.facts().ok_or(MwError::BadKey)?),
        None => None,
    };
    let mut state = mw.state.lock();
    state
        .window
        .bind(b, id_of(qp), qp.pd.to_raw(), facts.as_ref())?;
    let old = state.set_mr(mr);
    drop(state);
    drop(old);
    Ok(())
}

/// `qp` invalidates the window `rkey` names: by its own LOCAL_INV, or
/// (`remote`) for a SEND_WITH_INV that came to it (an MR's key goes to
/// [`crate::mr::invalidate`]).
pub(crate) fn invalidate(
    dev: &Device<Rxe>,
    qp: &QpInner,
    rkey: u32,
    remote: bool,
) -> Result<(), MwError> {
    let mw = find(dev, rkey)?;
    let mut state = mw.state.lock();
    state
        .window
        .invalidate(rkey, id_of(qp), qp.pd.to_raw(), remote)?;
    let old = state.set_mr(None);
    drop(state);
    drop(old);
    Ok(())
}

/// The MR and offset that a remote request of `qp` for `access` (the
/// `IB_ACCESS_*` bits) to `len` bytes at `va` reaches through the window
/// `rkey` names.
pub(crate) fn lookup(
    dev: &Device<Rxe>,
    qp: &QpInner,
    rkey: u32,
    access: u32,
    va: u64,
    len: u32,
) -> Result<(Arc<MrInner>, usize), MrError> {
    let mw = find(dev, rkey).map_err(|_| MrError::BadKey)?;
    let state = mw.state.lock();
    let (_, off) = state
        .window
        .translate(rkey, id_of(qp), qp.pd.to_raw(), access, va, len)
        .ok_or(MrError::Access)?;
    let mr = state.mr.clone().ok_or(MrError::BadKey)?;
    // The bind checked the window against the MR, whose range does not
    // change (no rereg of its translation is offered).
    Ok((mr, usize::try_from(off).map_err(|_| MrError::Bounds)?))
}

fn id_of(qp: &QpInner) -> QpId {
    QpId {
        qpn: qp.qpn,
        serial: qp.serial,
    }
}
