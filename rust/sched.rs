// SPDX-License-Identifier: GPL-2.0

//! What a long loop in process context owes the rest of the system: a
//! chance for others to run, and an end when its caller is being killed.

use super::bindings as sys;

/// Lets other tasks run if this one has used its share (`cond_resched`).
/// Only in process context, with no spinlock held.
pub fn cond_resched() {
    // SAFETY: callable from any process context; the callers (ioctls and
    // work items) hold no spinlock.
    unsafe { sys::rxe_migros_cond_resched() }
}

/// Whether the current task has a fatal signal pending: its caller is
/// being killed and will never see the result.
pub fn fatal_signal_pending() -> bool {
    // SAFETY: reads the current task's signal state, which always exists
    // in process context.
    unsafe { sys::rxe_migros_fatal_signal_pending() }
}

/// For a long loop over what a process handed in: reschedules, and says
/// whether to go on (no fatal signal).
pub fn go_on() -> bool {
    cond_resched();
    !fatal_signal_pending()
}
