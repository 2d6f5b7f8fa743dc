// SPDX-License-Identifier: GPL-2.0

//! Another process, named by PID, as a checkpointer hands over a process it
//! restored: its address space, to pin memory in from a kernel worker, and
//! its credentials, for a file that was opened for it under the
//! checkpointer's.

use super::bindings as sys;
use super::work;
use core::ptr::NonNull;
use kernel::cred::Credential;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::fs::LocalFile;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Completion;
use kernel::task::Task;

/// A live process and its address space, both held.
///
/// # Invariants
///
/// `mm` is the address space of `task`, with a user reference
/// (`get_task_mm`) that this value owns.
pub struct Process {
    task: ARef<Task>,
    mm: NonNull<sys::mm_struct>,
}

// SAFETY: the task and address space references may be dropped from any
// thread; the address space is only used through `kthread_use_mm`.
unsafe impl Send for Process {}
// SAFETY: `&Process` gives nothing that is not thread-safe.
unsafe impl Sync for Process {}

impl Process {
    /// The process `pid` names in the caller's PID namespace: ESRCH if
    /// none; EINVAL if it has no address space (a kernel thread, or one
    /// exiting).
    pub fn by_pid(pid: i32) -> Result<Process> {
        if pid <= 0 {
            return Err(ESRCH);
        }
        // SAFETY: looks up in the caller's namespace; the result is a
        // counted `struct pid` or null.
        let p = unsafe { sys::find_get_pid(pid) };
        if p.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `p` is counted; the task, if any, comes counted, and `p`
        // is released after.
        let t = unsafe {
            let t = sys::get_pid_task(p, sys::pid_type_PIDTYPE_PID);
            sys::put_pid(p);
            t
        };
        let t = NonNull::new(t).ok_or(ESRCH)?;
        // SAFETY: `get_pid_task` took a reference, which the `ARef` owns;
        // `Task` is a transparent wrapper of `task_struct`.
        let task: ARef<Task> = unsafe { ARef::from_raw(t.cast()) };
        // SAFETY: the task is held; the result is a counted mm or null.
        let mm = unsafe { sys::get_task_mm(task.as_ptr()) };
        let mm = NonNull::new(mm.cast::<sys::mm_struct>()).ok_or(EINVAL)?;
        // INVARIANT: `mm` is the task's, counted for us.
        Ok(Process { task, mm })
    }

    /// Its task.
    pub(crate) fn task(&self) -> &Task {
        &self.task
    }

    /// Whether the process is the caller's own.
    pub fn is_current(&self) -> bool {
        self.task.tgid() == kernel::current!().tgid()
    }

    /// Whether the caller may attach to the process with ptrace
    /// ([`may_ptrace`]).
    pub fn may_ptrace(&self) -> bool {
        may_ptrace(&self.task)
    }

    /// Its name as a [`ProcessId`]; ESRCH if it is exiting and has none.
    pub fn id(&self) -> Result<ProcessId> {
        ProcessId::of(&self.task)
    }

    /// Whether `file` is in the process's descriptor table. Only the
    /// process itself, or one that may ptrace it (CRIU restoring it,
    /// `pidfd_getfd(2)`'s check), or one it took the file from, can have
    /// put it there.
    pub fn holds(&self, file: &LocalFile) -> bool {
        unsafe extern "C" fn is(p: *const c_void, f: *mut sys::file, _fd: c_uint) -> c_int {
            c_int::from(f.cast_const().cast::<c_void>() == p)
        }
        let t = self.task.as_ptr();
        // SAFETY: the task is held; its descriptor table is read and
        // walked under the task's lock, as the tty layer's SAK does, and
        // `is` only compares the pointers it is given.
        unsafe {
            sys::rxe_migros_task_lock(t);
            let found = sys::iterate_fd((*t).files, 0, Some(is), file.as_ptr().cast());
            sys::rxe_migros_task_unlock(t);
            found != 0
        }
    }

    /// Runs `f` on a kernel worker that has taken the process's address
    /// space as its own (`kthread_use_mm`), so that what `f` pins of user
    /// memory is the process's; waits for it. ENOMEM if no worker could be
    /// asked.
    pub fn in_address_space<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        let mut f = Some(f);
        let mut out: Option<R> = None;
        let mut call = || {
            if let Some(f) = f.take() {
                out = Some(f());
            }
        };
        let mut job: &mut dyn FnMut() = &mut call;
        pin_init::stack_pin_init!(let done = Completion::new());
        // The worker gets what it needs by address: all of it lives on this
        // stack, which outlives the worker's use of it since we wait for
        // `done` below. `F` and `R` are `Send`, so running `f` and leaving
        // its result there from another thread is sound.
        let mm = self.mm.as_ptr() as usize;
        let jp = &raw mut job as usize;
        let dp = &*done as *const Completion as usize;
        work::system_dfl()
            .try_spawn(GFP_KERNEL, move || {
                // SAFETY: per the above, `job` and `done` are live, and used by
                // this worker alone until `complete_all`. `mm` is held (type
                // invariant), and a workqueue worker is a kernel thread with no
                // address space of its own.
                unsafe {
                    let mm = mm as *mut sys::mm_struct;
                    sys::kthread_use_mm(mm);
                    (*(jp as *mut &mut dyn FnMut()))();
                    sys::kthread_unuse_mm(mm);
                    (*(dp as *const Completion)).complete_all();
                }
            })
            .map_err(|_| ENOMEM)?;
        done.wait_for_completion();
        drop(call);
        out.ok_or(EINVAL)
    }

    /// Gives `file` the process's credentials in place of those it was
    /// opened with, which are returned.
    ///
    /// Other tasks may be reading `f_cred` meanwhile: the RDMA core's
    /// `ib_safe_file_access` compares it with the writer's credentials on
    /// every uverbs write, and security modules may take a reference to
    /// it. The pointer is therefore replaced by one aligned word-sized
    /// volatile store, the kernel's `WRITE_ONCE`, so that a reader sees
    /// the old credentials or the new ones, never a mix; and the old ones
    /// stay alive (the returned reference) for whoever read them just
    /// before.
    ///
    /// # Safety
    ///
    /// The returned reference must be kept until `file` is released: a
    /// reader may still hold the old pointer without a reference of its
    /// own until then.
    pub unsafe fn give_credentials(&self, file: &LocalFile) -> ARef<Credential> {
        let file = file.as_ptr();
        // SAFETY: the task is held; the result is a counted cred.
        let new = unsafe { sys::get_task_cred(self.task.as_ptr()) };
        // SAFETY: the file is live (the caller's reference). Each access
        // to `f_cred` is a single volatile access of an aligned pointer
        // (`READ_ONCE`/`WRITE_ONCE`), as other tasks may read it. The old
        // credentials' reference moves to the returned value, which the
        // caller keeps past any reader (see above); the new one's to the
        // file, which puts it when it is released.
        unsafe {
            let at = &raw mut (*file).f_cred;
            let old = core::ptr::read_volatile(at);
            core::ptr::write_volatile(at, new.cast());
            ARef::from_raw(NonNull::new_unchecked(old.cast_mut().cast::<Credential>()))
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: the reference is ours (type invariant).
        unsafe { sys::mmput(self.mm.as_ptr().cast()) }
    }
}

/// A process named by its `struct pid`: it names the process without
/// holding its task or its memory, and finds the process again for as long
/// as it lives (a number could meanwhile name another).
///
/// # Invariants
///
/// The pointer is a thread group's `struct pid`, counted for this value.
pub struct ProcessId(NonNull<sys::pid>);

// SAFETY: a `struct pid` is reference counted and may be put from any
// thread; its task is looked up under the kernel's own locking.
unsafe impl Send for ProcessId {}
// SAFETY: `&ProcessId` only looks up.
unsafe impl Sync for ProcessId {}

impl ProcessId {
    /// The calling process.
    pub fn current() -> Result<ProcessId> {
        Self::of(kernel::current!())
    }

    /// The process `task` belongs to; ESRCH if it is exiting and no longer
    /// has one.
    fn of(task: &Task) -> Result<ProcessId> {
        // SAFETY: the task is held by the caller; the result is a counted
        // `struct pid`, or null once the task has left its thread group.
        let p = unsafe { sys::get_task_pid(task.as_ptr(), sys::pid_type_PIDTYPE_TGID) };
        // INVARIANT: counted for us, as `get_task_pid` returns it.
        NonNull::new(p).map(ProcessId).ok_or(ESRCH)
    }

    /// The process's leading task, while the process lives.
    pub fn task(&self) -> Option<ARef<Task>> {
        // SAFETY: the pid is counted (type invariant); the task, if any,
        // comes counted.
        let t = unsafe { sys::get_pid_task(self.0.as_ptr(), sys::pid_type_PIDTYPE_TGID) };
        // SAFETY: the reference `get_pid_task` took moves to the `ARef`;
        // `Task` is a transparent wrapper of `task_struct`.
        NonNull::new(t).map(|t| unsafe { ARef::from_raw(t.cast()) })
    }
}

impl Drop for ProcessId {
    fn drop(&mut self) {
        // SAFETY: the reference is ours (type invariant).
        unsafe { sys::put_pid(self.0.as_ptr()) }
    }
}

/// Whether the caller may attach to `task` with ptrace, as the kernel's
/// `ptrace_may_access(task, PTRACE_MODE_ATTACH_REALCREDS)` judges it, less
/// the security modules' hook: the kernel exports neither to modules, so
/// this is its credential and dumpability checks (kernel/ptrace.c
/// `__ptrace_may_access`) done in the same order on the same fields. The
/// caller's own process always may. Otherwise the caller's real uid and
/// gid must be each of the task's real, effective and saved ids, or the
/// caller must have CAP_SYS_PTRACE in the task's user namespace; and a task
/// that is not dumpable by its owner (a setuid program, one that changed
/// its ids, or `prctl(PR_SET_DUMPABLE, 0)`) needs CAP_SYS_PTRACE in the
/// namespace of the program it runs.
pub fn may_ptrace(task: &Task) -> bool {
    if task.tgid() == kernel::current!().tgid() {
        return true;
    }
    const PTRACE: c_int = sys::CAP_SYS_PTRACE as c_int;
    {
        let _rcu = kernel::sync::rcu::read_lock();
        // SAFETY: the caller's credentials are its own to read; the task
        // is held and its `real_cred` is read once (`rcu_dereference`),
        // under the RCU read lock that keeps those credentials alive.
        // `ns_capable` is called under it as `__ptrace_may_access` calls
        // it.
        let ok = unsafe {
            let me = &*sys::rxe_migros_current_cred();
            let them = &*core::ptr::read_volatile(&raw const (*task.as_ptr()).real_cred);
            let (uid, gid) = (me.uid.val, me.gid.val);
            (uid == them.euid.val
                && uid == them.suid.val
                && uid == them.uid.val
                && gid == them.egid.val
                && gid == them.sgid.val
                && gid == them.gid.val)
                || sys::ns_capable(them.user_ns, PTRACE)
        };
        if !ok {
            return false;
        }
    }
    // Dumpability is read after the credentials, so that a task that drops
    // its privileges meanwhile is seen as no longer dumpable (the kernel's
    // `smp_rmb`, paired with `commit_creds`).
    core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: the task is held; its exec state is read under the RCU read
    // lock that keeps it alive, as `task_still_dumpable` reads it.
    unsafe {
        let state = &*sys::rxe_migros_task_exec_state(task.as_ptr());
        core::ptr::read_volatile(&raw const state.dumpable)
            == sys::task_dumpable_TASK_DUMPABLE_OWNER
            || sys::ns_capable(state.user_ns, PTRACE)
    }
}
