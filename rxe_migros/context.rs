// SPDX-License-Identifier: GPL-2.0

//! A process's open device (its user context) and the objects it created
//! there, in the order it created them: what the control device stops,
//! resumes and checkpoints ([`crate::control`], [`crate::checkpoint`]).
//!
//! Each object is listed with the place its uverbs handle will be, and
//! unlisted when its driver data is dropped (its [`Listing`] goes with
//! it), under the context's lock: a handle read under that lock is that
//! of a live object.
//!
//! A fresh context may be given a checkpoint image to restore
//! ([`Context::begin_restore`]): the process (our CRIU plugin) then
//! creates the image's objects in order with the usual verbs, and each
//! create takes its state from the image's next record
//! ([`Context::restoring`]). Lock order: the restore, then the objects.

use crate::ah::AhInner;
use crate::cq::CqInner;
use crate::mr::MrInner;
use crate::proto::image::{Image, Kind, MwBinding, Record};
use crate::qp::QpInner;
use crate::rdma::device::{Device, DeviceHandle};
use crate::rdma::process::{may_ptrace, ProcessId};
use crate::rdma::qp::PdId;
use crate::rdma::uobject::{Owner, UHandle, UIds, UverbsFile};
use crate::Rxe;
use kernel::cred::Credential;
use kernel::fs::LocalFile;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{global_lock, Arc, Mutex};

/// An object of a user context.
#[derive(Clone)]
pub(crate) enum Object {
    Pd(PdId),
    Mr(Arc<MrInner>),
    Cq(Arc<CqInner>),
    Qp(Arc<QpInner>),
    Ah(Arc<AhInner>),
    Srq(Arc<crate::srq::SrqInner>),
    Mw(Arc<crate::mw::MwInner>),
}

impl Object {
    /// What tells it from every other object while it exists: the address
    /// of its core object (PD) or of its shared part.
    fn key(&self) -> usize {
        match self {
            Object::Pd(id) => id.0,
            Object::Mr(a) => Arc::as_ptr(a) as usize,
            Object::Cq(a) => Arc::as_ptr(a) as usize,
            Object::Qp(a) => Arc::as_ptr(a) as usize,
            Object::Ah(a) => Arc::as_ptr(a) as usize,
            Object::Srq(a) => Arc::as_ptr(a) as usize,
            Object::Mw(a) => Arc::as_ptr(a) as usize,
        }
    }
}

struct Entry {
    object: Object,
    handle: UHandle,
}

/// A process's open device, as the control device finds it: the uverbs
/// file it was opened on, and the objects created in it.
#[pin_data]
pub(crate) struct Context {
    file: UverbsFile,
    /// What names the context in checkpoint images, unique in this boot:
    /// its event files' images point to it.
    pub(crate) cookie: u64,
    #[pin]
    objects: Mutex<KVec<Entry>>,
    /// Its device, until the context is freed (which the core does before
    /// it frees the device).
    #[pin]
    dev: Mutex<Option<DeviceHandle>>,
    /// A restore in progress.
    #[pin]
    restore: Mutex<Option<Restore>>,
    /// Whether MRs restored here wait for [`crate::restore::adopt`] to be
    /// pinned (1), because the process's memory is not in place yet.
    pin_later: Atomic<u32>,
    /// Whether a restored process has taken the context as its own.
    #[pin]
    adoption: Mutex<Adoption>,
    /// A restore's memory window bindings, which its adoption makes
    /// ([`crate::mw::restore_bindings`]).
    #[pin]
    bindings: Mutex<KVec<MwBinding>>,
    /// The process it belongs to: the one that opened it, or the one a
    /// restore handed it to (ADOPT). Who may act on the context through the
    /// control device is judged against it ([`Context::check_caller`]).
    #[pin]
    owner: Mutex<ProcessId>,
}

/// Where a context is in being adopted (see [`crate::restore::adopt`]).
enum Adoption {
    /// Not made by RESTORE: nothing to adopt.
    NotRestored,
    /// Made by RESTORE, waiting for its process.
    Waiting,
    /// Adopted, once for all; with the credentials the uverbs file was
    /// opened with, replaced by the process's and kept until the context
    /// goes (code that read the old pointer may still use it).
    Adopted(#[allow(dead_code)] ARef<Credential>),
}

/// A restore in progress: the image (checked whole when it was staged),
/// how many of its objects are recreated, where the next one's record
/// starts, and one past the highest uverbs handle given so far (the core
/// gives the lowest free one).
struct Restore {
    image: KVVec<u8>,
    done: u32,
    /// The next record's offset ([`crate::proto::image::Records::offset`]).
    at: usize,
    next_handle: u32,
}

global_lock! {
    // SAFETY: initialised first thing in `RxeModule::init`, before any
    // device (and so any user context) exists.
    unsafe(uninit) static CONTEXTS: Mutex<KVec<Arc<Context>>> = KVec::new();
}

/// Frees the list's buffer at module exit, when no context is left.
pub(crate) fn release_list() {
    *CONTEXTS.lock() = KVec::new();
}

/// The cookie of the next context.
static NEXT_COOKIE: Atomic<u64> = Atomic::new(1);

/// Initialises the list of user contexts.
///
/// # Safety
///
/// Called once, in the module's init, before anything else uses it.
pub(crate) unsafe fn init() {
    // SAFETY: per the caller.
    unsafe { CONTEXTS.init() };
}

/// An object's place in its context's list; dropping it unlists the
/// object. Kept in the object's driver data.
pub(crate) struct Listing {
    ctx: Arc<Context>,
    key: usize,
}

impl Drop for Listing {
    fn drop(&mut self) {
        self.ctx
            .objects
            .lock()
            .retain(|e| e.object.key() != self.key);
    }
}

/// Lists `object` in the user context `owner` names; `None` for the
/// kernel's objects, which belong to no context.
pub(crate) fn list(owner: &Owner<'_, Rxe>, object: Object) -> Result<Option<Listing>> {
    let Some(uctx) = owner.uctx else {
        return Ok(None);
    };
    let ctx = uctx.context.clone();
    let key = object.key();
    ctx.objects.lock().push(
        Entry {
            object,
            handle: owner.handle,
        },
        GFP_KERNEL,
    )?;
    Ok(Some(Listing { ctx, key }))
}

impl Context {
    /// Lists a new user context opened on `file`.
    pub(crate) fn register(file: UverbsFile, dev: DeviceHandle) -> Result<Arc<Context>> {
        // The core opens a context in the opening process.
        let owner = ProcessId::current()?;
        let ctx = Arc::pin_init(
            pin_init!(Context {
                file,
                cookie: NEXT_COOKIE.fetch_add(1, Relaxed),
                objects <- kernel::new_mutex!(KVec::new()),
                dev <- kernel::new_mutex!(Some(dev)),
                restore <- kernel::new_mutex!(None),
                pin_later: Atomic::new(0),
                adoption <- kernel::new_mutex!(Adoption::NotRestored),
                bindings <- kernel::new_mutex!(KVec::new()),
                owner <- kernel::new_mutex!(owner),
            }),
            GFP_KERNEL,
        )?;
        CONTEXTS.lock().push(ctx.clone(), GFP_KERNEL)?;
        Ok(ctx)
    }

    /// Unlists it (the context is being freed).
    pub(crate) fn unregister(this: &Arc<Context>) {
        CONTEXTS.lock().retain(|c| !Arc::ptr_eq(c, this));
        *this.dev.lock() = None;
    }

    /// Whether the caller may act on the context through the control
    /// device: only if it may ptrace the process the context belongs to
    /// (as CRIU must, to checkpoint or restore that process), or, if that
    /// process is gone, if it has CAP_SYS_PTRACE. EPERM otherwise, with one
    /// log line naming `what` was asked.
    pub(crate) fn check_caller(&self, what: &str) -> Result {
        let owner = self.owner.lock().task();
        let allowed = match &owner {
            Some(task) => may_ptrace(task),
            None => crate::rdma::caps::capable(crate::rdma::caps::SYS_PTRACE),
        };
        if !allowed {
            match &owner {
                Some(task) => pr_info!(
                    "control: {}: the caller may not ptrace process {}, whose context it is: refused\n",
                    what,
                    task.pid()
                ),
                None => pr_info!(
                    "control: {}: the context's process is gone and the caller lacks CAP_SYS_PTRACE: refused\n",
                    what
                ),
            }
            return Err(EPERM);
        }
        Ok(())
    }

    /// Runs `f` with the context's device; ENODEV once the context is
    /// being freed.
    pub(crate) fn with_device<R>(&self, f: impl FnOnce(&Device<Rxe>) -> R) -> Result<R> {
        let dev = self.dev.lock();
        let handle = dev.ok_or(ENODEV)?;
        // SAFETY: set while the context is not yet freed, which the core
        // does before it frees the device; `unregister` clears it under
        // the lock we hold, so the device outlives this call.
        Ok(f(unsafe { handle.get() }))
    }

    /// The context opened on the caller's descriptor `fd`. EBADF if `fd` is
    /// not open; ENODEV if it is not a uverbs file of one of our devices.
    pub(crate) fn of_fd(fd: i32) -> Result<Arc<Context>> {
        Self::of_uverbs(UverbsFile::of_fd(fd)?)
    }

    /// The context opened on `file`; ENODEV if it is not a uverbs file of
    /// one of our devices.
    pub(crate) fn of_file(file: &LocalFile) -> Result<Arc<Context>> {
        Self::of_uverbs(UverbsFile::of_file(file))
    }

    fn of_uverbs(file: UverbsFile) -> Result<Arc<Context>> {
        let found = CONTEXTS.lock().iter().find(|c| c.file == file).cloned();
        found.ok_or(ENODEV)
    }

    /// The context an event file (its asynchronous event file, or one of
    /// its completion channels) belongs to, named by the caller's
    /// descriptor `fd`. EBADF if `fd` is not open; ENODEV if it is not an
    /// event file of one of our contexts.
    /// Returns it with the file's event queue (an identity).
    pub(crate) fn of_event_fd(fd: i32) -> Result<(Arc<Context>, usize)> {
        let ev = UverbsFile::of_event_fd(fd)?;
        let found = CONTEXTS.lock().iter().find(|c| c.file == ev.ufile).cloned();
        Ok((found.ok_or(ENODEV)?, ev.queue))
    }

    /// The completion channels its CQs report to, in the order of the
    /// first CQ of each: a channel's number in checkpoint images is its
    /// place here, from 1.
    pub(crate) fn channels(&self) -> Result<KVec<usize>> {
        let objects = self.objects.lock();
        let mut out = KVec::new();
        for e in objects.iter() {
            if let Object::Cq(cq) = &e.object {
                if let Some(ch) = cq.channel.filter(|ch| !out.contains(ch)) {
                    out.push(ch, GFP_KERNEL)?;
                }
            }
        }
        Ok(out)
    }

    /// Whether it has objects or a restore in progress: then it cannot
    /// begin a restore.
    pub(crate) fn is_busy(&self) -> bool {
        let restore = self.restore.lock();
        restore.is_some() || !self.objects.lock().is_empty()
    }

    /// Stages a restore of `image`, which the caller has checked whole and
    /// planned for this device; its MRs are pinned when they are created,
    /// or, if `pin_later`, when the process is adopted. EBUSY unless the
    /// context has no object and no restore yet.
    pub(crate) fn begin_restore(&self, image: KVVec<u8>, pin_later: bool) -> Result {
        let mut restore = self.restore.lock();
        let objects = self.objects.lock();
        if !objects.is_empty() || restore.is_some() {
            return Err(EBUSY);
        }
        self.pin_later.store(u32::from(pin_later), Relaxed);
        // The context record is not an object: start after it.
        let at = {
            let img = Image::accepted(&image).map_err(|_| EINVAL)?;
            let mut records = img.records();
            records.next();
            records.offset()
        };
        *restore = Some(Restore {
            image,
            done: 0,
            at,
            next_handle: 0,
        });
        drop(objects);
        drop(restore);
        // Not under the restore's lock: `adopt` takes that one inside this.
        *self.adoption.lock() = Adoption::Waiting;
        Ok(())
    }

    /// Whether MRs restored here are pinned later (see `begin_restore`).
    pub(crate) fn pins_later(&self) -> bool {
        self.pin_later.load(Relaxed) != 0
    }

    /// Whether a restore is staged and not all of its objects are
    /// created yet.
    pub(crate) fn is_restoring(&self) -> bool {
        self.restore.lock().is_some()
    }

    /// Adopts the context, once: `f` does it and returns the uverbs file's
    /// old credentials, kept until the context goes. EPERM, with one log
    /// line, for one already adopted, and for a context RESTORE did not
    /// make unless the process adopting it is the caller (`by_itself`: a
    /// process that changed its credentials taking its own file along,
    /// which it could as well open again). EBUSY while the restore has
    /// objects left to create. Adoptions of one context are serialised: a
    /// failed one (EFAULT: the memory is not back yet) may be tried again.
    pub(crate) fn adopt<R>(
        &self,
        by_itself: bool,
        owner: ProcessId,
        f: impl FnOnce() -> Result<(R, ARef<Credential>)>,
    ) -> Result<R> {
        let mut adoption = self.adoption.lock();
        match *adoption {
            Adoption::NotRestored if !by_itself => {
                pr_info!("restore: adopt of a context that RESTORE did not make, into another process: refused\n");
                return Err(EPERM);
            }
            Adoption::NotRestored => {}
            Adoption::Adopted(_) => {
                pr_info!("restore: adopt of a context already adopted: refused\n");
                return Err(EPERM);
            }
            Adoption::Waiting => {}
        }
        if self.is_restoring() {
            pr_info!("restore: adopt before every object of the image is created\n");
            return Err(EBUSY);
        }
        let (r, old) = f()?;
        *adoption = Adoption::Adopted(old);
        *self.owner.lock() = owner;
        Ok(r)
    }

    /// Creates an object of `kind`: `make` gets the next record of the
    /// restore in progress, which must be a `kind` (EINVAL otherwise, with
    /// one log line), or `None` if no restore is in progress. The record
    /// counts as recreated if `make` succeeds; after the last, the restore
    /// is over. Where the image's handles have a gap (objects the process
    /// had destroyed), the restorer first fills it with PDs, which get
    /// `None`; it destroys one where the process reused its handle, and
    /// the rest once everything is created.
    pub(crate) fn restoring<R>(
        &self,
        kind: Kind,
        make: impl FnOnce(Option<&Record<'_>>) -> Result<R>,
    ) -> Result<R> {
        let mut guard = self.restore.lock();
        let Some(r) = (*guard).as_mut() else {
            drop(guard);
            return make(None);
        };
        // Checked whole when it was staged: each create reads one record.
        let img = Image::accepted(&r.image).map_err(|_| EINVAL)?;
        let mut records = img.records_from(r.at);
        let next = records.next();
        let after = records.offset();
        let gap = matches!(&next, Some(Ok(rec)) if rec.handle() > Some(r.next_handle));
        if gap && kind == Kind::Pd {
            let out = make(None)?;
            r.next_handle += 1;
            return Ok(out);
        }
        let Some(Ok(rec)) = next.filter(|n| !gap && matches!(n, Ok(rec) if rec.kind() == kind))
        else {
            pr_info!(
                "restore: a {:?} created where the image has {} {} next\n",
                kind,
                if gap {
                    "a placeholder before object"
                } else {
                    "object"
                },
                r.done
            );
            return Err(EINVAL);
        };
        let out = make(Some(&rec))?;
        // A handle below `next_handle` is one the process reused: the
        // restorer gave it back by destroying its placeholder.
        let past = rec.handle().map_or(0, |h| h.saturating_add(1));
        r.next_handle = r.next_handle.max(past);
        r.done += 1;
        r.at = after;
        // After the objects come their windows' bindings, which the
        // adoption makes, and their multicast attachments, which the
        // restorer makes through the core: the restore is over when no
        // object is left.
        let mut rest = img.records_from(after).peekable();
        if matches!(
            rest.peek(),
            None | Some(Ok(Record::MwBinding(_) | Record::McastAttach(_)))
        ) {
            let mut bindings = KVec::new();
            for rec in rest {
                if let Ok(Record::MwBinding(b)) = rec {
                    bindings.push(b, GFP_KERNEL)?;
                }
            }
            pr_info!(
                "restore: the image's {} objects are recreated ({} windows to bind)\n",
                r.done,
                bindings.len()
            );
            *self.bindings.lock() = bindings;
            *guard = None;
        }
        Ok(out)
    }

    /// Makes the memory window bindings of the restore, once its objects
    /// are all created and have their handles; each is made once.
    pub(crate) fn bind_windows(&self, objects: &[(Option<UIds>, Object)]) -> Result {
        let mut bindings = self.bindings.lock();
        crate::mw::restore_bindings(objects, &bindings)?;
        *bindings = KVec::new();
        Ok(())
    }

    /// The context's QPs, as they are now.
    pub(crate) fn qps(&self) -> Result<KVec<Arc<QpInner>>> {
        let objects = self.objects.lock();
        let mut out = KVec::new();
        for e in objects.iter() {
            if let Object::Qp(q) = &e.object {
                out.push(q.clone(), GFP_KERNEL)?;
            }
        }
        Ok(out)
    }

    /// The uverbs handle of `object` (the same object, by identity), if it
    /// is one of the context's and the core has set its handle.
    pub(crate) fn handle_of(&self, object: &Object) -> Result<Option<u32>> {
        Ok(self
            .objects()?
            .into_iter()
            .find(|(_, o)| o.key() == object.key())
            .and_then(|(ids, _)| ids.map(|i| i.handle)))
    }

    /// Every object with its identities (`None` while the core has not
    /// set them yet), in the order they were created.
    pub(crate) fn objects(&self) -> Result<KVec<(Option<UIds>, Object)>> {
        let objects = self.objects.lock();
        let mut out = KVec::with_capacity(objects.len(), GFP_KERNEL)?;
        for e in objects.iter() {
            // SAFETY: a listed object is live: it is unlisted, under the
            // lock we hold, before its driver data is dropped.
            let handle = unsafe { e.handle.ids() };
            out.push((handle, e.object.clone()), GFP_KERNEL)?;
        }
        Ok(out)
    }
}
