// SPDX-License-Identifier: GPL-2.0

//! The uverbs side of a user object: which uverbs file and event files a
//! process holds, the handle the core gave each object, and the events it
//! has counted for it. What a checkpoint needs to name objects as the
//! process knows them.

use super::bindings as sys;
use super::device::Driver;
use core::mem::size_of;
use core::ptr::NonNull;
use kernel::prelude::*;

/// The identity of a uverbs file (the `ib_uverbs_file` behind an open
/// /dev/infiniband/uverbsN), for telling which user context a file
/// descriptor names. It is only ever compared, never followed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UverbsFile(pub(super) usize);

impl UverbsFile {
    /// The uverbs file that the caller's descriptor `fd` would be, if it
    /// is one: what matches no user context is not. EBADF if `fd` is not
    /// open.
    pub fn of_fd(fd: i32) -> Result<UverbsFile> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = kernel::fs::LocalFile::fget(fd).map_err(|_| EBADF)?;
        Ok(Self::of_file(&file))
    }

    /// The uverbs file that `file` would be, if it is one.
    pub fn of_file(file: &kernel::fs::LocalFile) -> UverbsFile {
        // SAFETY: `file` holds a reference to a live `struct file`; its
        // `private_data` (a uverbs file's `ib_uverbs_file`) is read as a
        // number and never followed.
        let private = unsafe { (*file.as_ptr()).private_data };
        UverbsFile(private as usize)
    }

    /// The uverbs file that an event file (uverbs' `[infinibandevent]`:
    /// a context's asynchronous event file, or a completion channel)
    /// belongs to, if the caller's descriptor `fd` is one. EBADF if `fd`
    /// is not open; ENODEV if it is no such file.
    pub fn of_event_fd(fd: i32) -> Result<EventFile> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = kernel::fs::LocalFile::fget(fd).map_err(|_| EBADF)?;
        let f = file.as_ptr();
        // SAFETY: `file` holds a reference to a live `struct file`, whose
        // operations, dentry and private data stay while it is held.
        // uverbs gives every file it makes for an object the release
        // method `uverbs_uobject_fd_release` and, once the object is
        // committed, the object's `ib_uobject` as private data (null only
        // while it is being aborted). The `ufile` of that object is read
        // as a number and never followed.
        unsafe {
            let ops = (*f).f_op;
            let release = sys::uverbs_uobject_fd_release as *const () as usize;
            if ops.is_null() || (*ops).release.map(|r| r as usize) != Some(release) {
                return Err(ENODEV);
            }
            let name = (*(*f).__bindgen_anon_1.f_path.dentry)
                .__bindgen_anon_1
                .d_name
                .name;
            if CStr::from_char_ptr(name.cast()).to_bytes() != b"[infinibandevent]" {
                return Err(ENODEV);
            }
            let uobj = (*f).private_data.cast::<sys::ib_uobject>();
            if uobj.is_null() {
                return Err(ENODEV);
            }
            Ok(EventFile {
                ufile: UverbsFile((*uobj).ufile as usize),
                queue: uobj as usize + EVENT_QUEUE_OFFSET,
            })
        }
    }
}

/// Where an event file's event queue is, from its `ib_uobject`: both
/// kinds (`struct ib_uverbs_async_event_file` and
/// `ib_uverbs_completion_event_file`, private to the core) start with
/// their `ib_uobject`, followed by their `ib_uverbs_event_queue`, which is
/// pointer-aligned. Only ever compared: a wrong offset could only fail to
/// match a CQ to its channel.
const EVENT_QUEUE_OFFSET: usize = size_of::<sys::ib_uobject>().next_multiple_of(8);

/// An event file of a uverbs file (`[infinibandevent]`).
pub struct EventFile {
    /// The uverbs file it belongs to.
    pub ufile: UverbsFile,
    /// Its event queue, as an identity: a completion channel's is the
    /// `channel` of the CQs that report to it ([`CqInit`]).
    pub queue: usize,
}

/// Where the RDMA core keeps the uverbs object of a user object (the
/// `uobject` field of its `ib_pd`, `ib_mr`, `ib_cq`, `ib_qp` or `ib_ah`),
/// so that the driver can tell, at checkpoint time, which handle the
/// process knows the object by. The core sets the field during the create
/// call or right after it returns.
#[derive(Clone, Copy)]
pub struct UHandle {
    field: NonNull<*mut sys::ib_uobject>,
    kind: UKind,
}

/// Which uverbs object a [`UHandle`]'s field points to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum UKind {
    /// A bare `ib_uobject` (PD, MR, AH).
    Plain,
    /// An `ib_ucq_object`.
    Cq,
    /// An `ib_uqp_object`.
    Qp,
    /// An `ib_usrq_object`.
    Srq,
}

/// The identities of a user object.
#[derive(Clone, Copy, Debug)]
pub struct UIds {
    /// Its handle in its uverbs file.
    pub handle: u32,
    /// What the process gave when it created it (libibverbs' address of
    /// its own struct for the object, which the core hands back in events).
    pub user_handle: u64,
    /// The events the core has counted as read by the process for it.
    pub events: EventCounts,
}

/// How many events the core has handed a process for one of its objects:
/// what it answers when the process destroys the object, and what
/// libibverbs then waits for its own acknowledgements to reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Completion events (CQs).
    pub completion: u32,
    /// Asynchronous events (CQs and QPs).
    pub asynchronous: u32,
}

// SAFETY: a location only read through `get`, whose caller vouches for it.
unsafe impl Send for UHandle {}
// SAFETY: as for `Send`.
unsafe impl Sync for UHandle {}

impl UHandle {
    /// The location of `field`, the `uobject` field of a core object of
    /// `kind`. `ib_ucq_object`, `ib_uqp_object` and `ib_usrq_object`
    /// start with their `ib_uobject` (inside `ib_uevent_object`), so all
    /// are read alike.
    ///
    /// # Safety
    ///
    /// `field` must be the address of such a field (so never null).
    pub(super) unsafe fn at<U>(field: *mut *mut U, kind: UKind) -> Self {
        UHandle {
            // SAFETY: per the caller, the address of a field.
            field: unsafe { NonNull::new_unchecked(field.cast()) },
            kind,
        }
    }

    /// The uverbs object, once the core has set it; `None` for an object of
    /// the kernel, or one still being created.
    ///
    /// # Safety
    ///
    /// The object must not have been destroyed.
    unsafe fn uobject(self) -> Option<NonNull<sys::ib_uobject>> {
        // SAFETY: per the caller the object, and so its field, is live.
        // The core may be setting the field on another CPU; a whole
        // pointer is read either way.
        NonNull::new(unsafe { core::ptr::read_volatile(self.field.as_ptr()) })
    }

    /// The object's identities, once the core has set them; `None` for an
    /// object of the kernel, or one still being created.
    ///
    /// # Safety
    ///
    /// The object must not have been destroyed: its driver data (which
    /// the create call that received this handle returned) must not have
    /// been dropped yet.
    pub unsafe fn ids(self) -> Option<UIds> {
        // SAFETY: per the caller.
        let uobj = unsafe { self.uobject() }?.as_ptr();
        // SAFETY: a set `uobject` lives as long as its object; the core
        // sets its user handle before it publishes it.
        let (id, user_handle) = unsafe { ((*uobj).id, (*uobj).user_handle) };
        Some(UIds {
            handle: u32::try_from(id).ok()?,
            user_handle,
            // SAFETY: as above.
            events: unsafe { self.events(uobj) },
        })
    }

    /// The events the core has counted as read by the process for the
    /// object (zero for objects without events).
    ///
    /// # Safety
    ///
    /// `uobj` must be the object's live uverbs object.
    unsafe fn events(self, uobj: *mut sys::ib_uobject) -> EventCounts {
        // SAFETY: `kind` says which object `uobj` is the first member of.
        // The counts are raised under the locks of the object's event
        // files as the process reads events; a count read while that
        // happens is one or the other value.
        unsafe {
            match self.kind {
                UKind::Plain => EventCounts::default(),
                UKind::Qp => EventCounts {
                    completion: 0,
                    asynchronous: core::ptr::read_volatile(
                        &raw const (*uobj.cast::<sys::ib_uqp_object>()).uevent.events_reported,
                    ),
                },
                UKind::Srq => EventCounts {
                    completion: 0,
                    asynchronous: core::ptr::read_volatile(
                        &raw const (*uobj.cast::<sys::ib_usrq_object>()).uevent.events_reported,
                    ),
                },
                UKind::Cq => {
                    let cq = uobj.cast::<sys::ib_ucq_object>();
                    EventCounts {
                        completion: core::ptr::read_volatile(&raw const (*cq).comp_events_reported),
                        asynchronous: core::ptr::read_volatile(
                            &raw const (*cq).uevent.events_reported,
                        ),
                    }
                }
            }
        }
    }

    /// Sets the counts of [`UHandle::events`]: a restored object goes on
    /// from the counts of its checkpoint, which the process's library
    /// remembers. EINVAL for an object of the kernel, or one without
    /// those counts.
    ///
    /// # Safety
    ///
    /// Only while the object is being created: no event can have reached
    /// it yet.
    pub unsafe fn set_events(self, counts: EventCounts) -> Result {
        if counts == EventCounts::default() {
            return Ok(());
        }
        // SAFETY: per the caller, a live object.
        let uobj = unsafe { self.uobject() }.ok_or(EINVAL)?.as_ptr();
        // SAFETY: `kind` says which object `uobj` is the first member of;
        // nothing else writes the counts before the object is published.
        unsafe {
            match self.kind {
                UKind::Qp if counts.completion == 0 => {
                    (*uobj.cast::<sys::ib_uqp_object>()).uevent.events_reported =
                        counts.asynchronous;
                }
                UKind::Srq if counts.completion == 0 => {
                    (*uobj.cast::<sys::ib_usrq_object>()).uevent.events_reported =
                        counts.asynchronous;
                }
                UKind::Cq => {
                    let cq = uobj.cast::<sys::ib_ucq_object>();
                    (*cq).comp_events_reported = counts.completion;
                    (*cq).uevent.events_reported = counts.asynchronous;
                }
                _ => return Err(EINVAL),
            }
        }
        Ok(())
    }
}

/// Who a new object belongs to: the user context it is created in (none
/// for the kernel's objects), and where its uverbs handle will be.
pub struct Owner<'a, T: Driver> {
    pub uctx: Option<&'a T::UContext>,
    pub handle: UHandle,
}
