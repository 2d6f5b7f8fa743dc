// SPDX-License-Identifier: GPL-2.0

//! Memory windows (IBA 10.6.7; the C rxe's rxe_mw.c): the rules of
//! binding, invalidating and using one, with no memory behind them.
//!
//! A window is a range of an MR that a remote peer may reach with the
//! window's own rkey and access, and no more: a type 1 window is bound
//! through the verb (librxe posts `ibv_bind_mw` as a BIND_MW request
//! too), a type 2 window only by a BIND_MW request, to one QP, and only
//! that QP's partner may use it. A type 2 window is invalidated by a
//! LOCAL_INV request, or by a SEND_WITH_INV from the partner; a type 1
//! window is unbound by binding it to nothing.
//!
//! [`Window`] holds one window's state and makes every decision; the
//! kernel keeps one under a lock beside the MR it is bound to, the host
//! simulation in a table.

/// `IB_ACCESS_*` bits a window is checked with.
pub mod access {
    pub const LOCAL_WRITE: u32 = 1 << 0;
    pub const REMOTE_WRITE: u32 = 1 << 1;
    pub const REMOTE_READ: u32 = 1 << 2;
    pub const REMOTE_ATOMIC: u32 = 1 << 3;
    pub const MW_BIND: u32 = 1 << 4;
    /// `IB_ZERO_BASED`: the window's addresses count from its start.
    pub const ZERO_BASED: u32 = 1 << 5;
    pub const FLUSH_GLOBAL: u32 = 1 << 8;
    /// What a window may grant (the C rxe's RXE_ACCESS_SUPPORTED_MW,
    /// without what our MRs do not offer either).
    pub const SUPPORTED: u32 = LOCAL_WRITE
        | REMOTE_WRITE
        | REMOTE_READ
        | REMOTE_ATOMIC
        | MW_BIND
        | ZERO_BASED
        | FLUSH_GLOBAL;
}

/// The two types of window (`enum ib_mw_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MwType {
    /// Bound through the verb, not to a QP; always valid.
    One,
    /// Bound by a work request, to the QP that posts it; free until then.
    Two,
}

impl MwType {
    /// `IB_MW_TYPE_1` and `IB_MW_TYPE_2`.
    pub fn from_abi(t: u32) -> Option<MwType> {
        match t {
            1 => Some(MwType::One),
            2 => Some(MwType::Two),
            _ => None,
        }
    }

    /// Back to `enum ib_mw_type`.
    pub fn abi(self) -> u32 {
        match self {
            MwType::One => 1,
            MwType::Two => 2,
        }
    }
}

/// A QP, as a window bound to it knows it: its number, and a serial that
/// no later QP with the same number has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QpId {
    pub qpn: u32,
    pub serial: u64,
}

/// A BIND_MW request (`wr.mw` of `struct rxe_send_wqe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bind {
    /// The window's rkey as the process knows it now.
    pub mw_rkey: u32,
    /// The rkey it has once bound: only its low eight bits (the key
    /// tag) are the process's to choose.
    pub new_rkey: u32,
    /// The MR it is bound to (unused for a length of 0).
    pub mr_lkey: u32,
    pub addr: u64,
    pub length: u64,
    pub access: u32,
}

/// What a bind checks of the MR it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MrFacts {
    pub pd: usize,
    pub access: u32,
    pub iova: u64,
    pub length: u64,
}

/// Why a window refuses a bind or an invalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MwError {
    /// No window, or no MR, has the key (or it names another one).
    BadKey,
    /// Access a window cannot grant (EOPNOTSUPP in the C rxe).
    Unsupported,
    /// Not in a state for it: a bound type 2 window bound again, a
    /// type 1 window invalidated, one not bound invalidated.
    State,
    /// Another PD than the QP's (C10-72).
    Pd,
    /// The MR does not allow windows (C10-73), or not local write under
    /// a window that grants remote write or atomics (C10-74).
    MrAccess,
    /// The range lies outside the MR (C10-75), or is empty for a type 2
    /// window, or a type 1 window is asked to be zero based.
    Range,
}

/// A window bound to an MR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub mr_key: u32,
    /// Where the window starts in the MR's address space, and its length.
    pub addr: u64,
    pub length: u64,
    pub access: u32,
    /// Its start's offset in the MR.
    pub mr_offset: u64,
    /// The QP a type 2 window is bound to.
    pub qp: Option<QpId>,
}

/// One memory window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub ty: MwType,
    pub pd: usize,
    rkey: u32,
    binding: Option<Binding>,
}

impl Window {
    /// A new window of `ty` in `pd` with `rkey`: a type 1 window valid
    /// and bound to nothing, a type 2 window free.
    pub fn new(ty: MwType, pd: usize, rkey: u32) -> Window {
        Window {
            ty,
            pd,
            rkey,
            binding: None,
        }
    }

    /// A window as a checkpoint left it (its rkey and binding checked by
    /// the caller against the objects it names).
    pub fn restored(ty: MwType, pd: usize, rkey: u32, binding: Option<Binding>) -> Window {
        Window {
            ty,
            pd,
            rkey,
            binding,
        }
    }

    pub fn rkey(&self) -> u32 {
        self.rkey
    }

    pub fn binding(&self) -> Option<&Binding> {
        self.binding.as_ref()
    }

    /// Checks `b`, posted by QP `qp` of PD `pd`, against the window and
    /// `mr` (the MR `b.mr_lkey` names, if any), and binds it. Returns the
    /// binding the window had before, if any (its MR is the caller's to
    /// let go of).
    pub fn bind(
        &mut self,
        b: &Bind,
        qp: QpId,
        pd: usize,
        mr: Option<&MrFacts>,
    ) -> Result<Option<Binding>, MwError> {
        if b.mw_rkey != self.rkey {
            return Err(MwError::BadKey);
        }
        if b.access & !access::SUPPORTED != 0 {
            return Err(MwError::Unsupported);
        }
        let zero_based = b.access & access::ZERO_BASED != 0;
        match self.ty {
            // o10-36.2.2: a type 1 window is never zero based.
            MwType::One if zero_based => return Err(MwError::Range),
            // o10-37.2.30: a type 2 window is bound once until invalidated,
            // and (o10-37.2.40) to something.
            MwType::Two if self.binding.is_some() => return Err(MwError::State),
            MwType::Two if b.length == 0 => return Err(MwError::Range),
            _ => {}
        }
        if pd != self.pd {
            return Err(MwError::Pd);
        }
        let binding = if b.length == 0 {
            None
        } else {
            let mr = mr.ok_or(MwError::BadKey)?;
            if mr.pd != pd {
                return Err(MwError::Pd);
            }
            if mr.access & access::MW_BIND == 0 {
                return Err(MwError::MrAccess);
            }
            let writes = access::REMOTE_WRITE | access::REMOTE_ATOMIC;
            if b.access & writes != 0 && mr.access & access::LOCAL_WRITE == 0 {
                return Err(MwError::MrAccess);
            }
            // A zero-based window too starts where its address says in
            // the MR's space; only its requests count from there.
            let mr_offset = b.addr.checked_sub(mr.iova).ok_or(MwError::Range)?;
            let end = mr_offset.checked_add(b.length).ok_or(MwError::Range)?;
            if end > mr.length {
                return Err(MwError::Range);
            }
            Some(Binding {
                mr_key: b.mr_lkey,
                addr: b.addr,
                length: b.length,
                access: b.access,
                mr_offset,
                qp: (self.ty == MwType::Two).then_some(qp),
            })
        };
        self.rkey = (self.rkey & !0xff) | (b.new_rkey & 0xff);
        Ok(core::mem::replace(&mut self.binding, binding))
    }

    /// Invalidates a type 2 window, which is free again: by a LOCAL_INV
    /// of a QP `qp` of its PD `pd`, or (`remote`) by a SEND_WITH_INV that
    /// arrived on the QP it is bound to (type 2B: no other QP's partner
    /// may take a window away). Returns the binding it had.
    pub fn invalidate(
        &mut self,
        rkey: u32,
        qp: QpId,
        pd: usize,
        remote: bool,
    ) -> Result<Binding, MwError> {
        if rkey != self.rkey {
            return Err(MwError::BadKey);
        }
        // o10-37.2.26: a type 1 window is not invalidated.
        if self.ty == MwType::One {
            return Err(MwError::State);
        }
        if pd != self.pd {
            return Err(MwError::Pd);
        }
        let b = self.binding.as_ref().ok_or(MwError::State)?;
        if remote && b.qp != Some(qp) {
            return Err(MwError::Pd);
        }
        self.binding.take().ok_or(MwError::State)
    }

    /// Where a remote request of QP `qp` in PD `pd` for `access` to `len`
    /// bytes at `va` with `rkey` lands: the MR's key and the offset in
    /// the MR; `None` if the window does not allow it. The range is
    /// checked against the window itself.
    pub fn translate(
        &self,
        rkey: u32,
        qp: QpId,
        pd: usize,
        access: u32,
        va: u64,
        len: u32,
    ) -> Option<(u32, u64)> {
        let b = self.binding.as_ref()?;
        if rkey != self.rkey || pd != self.pd || b.access & access != access {
            return None;
        }
        if b.qp.is_some_and(|q| q != qp) {
            return None;
        }
        let off = if b.access & access::ZERO_BASED != 0 {
            va
        } else {
            va.checked_sub(b.addr)?
        };
        if off.checked_add(u64::from(len))? > b.length {
            return None;
        }
        Some((b.mr_key, b.mr_offset + off))
    }
}

/// The key tag of the next rkey after `rkey`, as librxe's
/// `ibv_inc_rkey` moves it for a type 1 bind.
pub fn next_rkey(rkey: u32) -> u32 {
    (rkey & !0xff) | (rkey.wrapping_add(1) & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PD: usize = 0x1000;
    const QP: QpId = QpId { qpn: 17, serial: 1 };
    const MR: MrFacts = MrFacts {
        pd: PD,
        access: access::LOCAL_WRITE | access::MW_BIND | access::REMOTE_WRITE,
        iova: 0x10_000,
        length: 0x1000,
    };

    fn bind(w: &Window, addr: u64, length: u64, acc: u32) -> Bind {
        Bind {
            mw_rkey: w.rkey(),
            new_rkey: next_rkey(w.rkey()),
            mr_lkey: 0x105,
            addr,
            length,
            access: acc,
        }
    }

    #[test]
    fn a_type_2_window_grants_its_range_to_its_qp_until_invalidated() {
        let mut w = Window::new(MwType::Two, PD, 0x8_0001 << 8);
        // Free: nothing gets through.
        assert_eq!(w.translate(w.rkey(), QP, PD, 2, 0x10_100, 8), None);
        let b = bind(&w, 0x10_100, 0x100, access::REMOTE_WRITE);
        assert_eq!(w.bind(&b, QP, PD, Some(&MR)), Ok(None));
        let key = w.rkey();
        assert_eq!(key & 0xff, 1);
        assert_eq!(
            w.translate(key, QP, PD, 2, 0x10_180, 0x80),
            Some((0x105, 0x180))
        );
        // Past its end, before its start, another QP, another access,
        // the old key: refused.
        assert_eq!(w.translate(key, QP, PD, 2, 0x10_180, 0x81), None);
        assert_eq!(w.translate(key, QP, PD, 2, 0x10_0ff, 1), None);
        let other = QpId { qpn: 17, serial: 2 };
        assert_eq!(w.translate(key, other, PD, 2, 0x10_100, 1), None);
        assert_eq!(w.translate(key, QP, PD, 4, 0x10_100, 1), None);
        assert_eq!(w.translate(key - 1, QP, PD, 2, 0x10_100, 1), None);
        // Bound once only.
        let again = bind(&w, 0x10_100, 0x10, access::REMOTE_WRITE);
        assert_eq!(w.bind(&again, QP, PD, Some(&MR)), Err(MwError::State));
        assert_eq!(w.invalidate(key - 1, QP, PD, true), Err(MwError::BadKey));
        // Only through its own QP, or locally in its PD.
        assert_eq!(w.invalidate(key, other, PD, true), Err(MwError::Pd));
        assert_eq!(w.invalidate(key, QP, PD + 1, false), Err(MwError::Pd));
        assert!(w.invalidate(key, QP, PD, true).is_ok());
        assert_eq!(w.translate(key, QP, PD, 2, 0x10_100, 1), None);
        assert_eq!(w.invalidate(key, QP, PD, false), Err(MwError::State));
        // Free again: bound anew, then invalidated by another QP of its PD.
        let b = bind(&w, 0x10_100, 0x100, access::REMOTE_WRITE);
        assert_eq!(w.bind(&b, QP, PD, Some(&MR)), Ok(None));
        assert!(w.invalidate(w.rkey(), other, PD, false).is_ok());
    }

    #[test]
    fn binds_are_checked_as_the_iba_says() {
        let w = Window::new(MwType::Two, PD, 0x8_0002 << 8);
        let cases = [
            // Outside the MR (C10-75).
            (bind(&w, 0xfff0, 0x20, 2), MR, PD, MwError::Range),
            (bind(&w, 0x10_ff0, 0x20, 2), MR, PD, MwError::Range),
            // An empty type 2 bind (o10-37.2.40).
            (bind(&w, 0x10_000, 0, 2), MR, PD, MwError::Range),
            // No bind access on the MR (C10-73).
            (
                bind(&w, 0x10_000, 8, 4),
                MrFacts {
                    access: access::LOCAL_WRITE,
                    ..MR
                },
                PD,
                MwError::MrAccess,
            ),
            // Remote write through an MR without local write (C10-74).
            (
                bind(&w, 0x10_000, 8, 2),
                MrFacts {
                    access: access::MW_BIND,
                    ..MR
                },
                PD,
                MwError::MrAccess,
            ),
            // Another PD's QP or MR (C10-72).
            (bind(&w, 0x10_000, 8, 2), MR, PD + 1, MwError::Pd),
            (
                bind(&w, 0x10_000, 8, 2),
                MrFacts { pd: PD + 1, ..MR },
                PD,
                MwError::Pd,
            ),
            // Access nobody offers.
            (bind(&w, 0x10_000, 8, 1 << 6), MR, PD, MwError::Unsupported),
        ];
        for (b, mr, pd, want) in cases {
            let mut w = w;
            assert_eq!(w.bind(&b, QP, pd, Some(&mr)), Err(want), "{b:?}");
            assert_eq!(w.rkey(), 0x8_0002 << 8, "a refused bind keeps the key");
        }
        let mut w = w;
        let stale = Bind {
            mw_rkey: w.rkey() + 1,
            ..bind(&w, 0x10_000, 8, 2)
        };
        assert_eq!(w.bind(&stale, QP, PD, Some(&MR)), Err(MwError::BadKey));
    }

    #[test]
    fn a_type_1_window_is_rebound_and_unbound_but_not_invalidated() {
        let mut w = Window::new(MwType::One, PD, 0x8_0003 << 8);
        let b = bind(&w, 0x10_000, 0x10, access::REMOTE_READ);
        assert!(w.bind(&b, QP, PD, Some(&MR)).unwrap().is_none());
        let k1 = w.rkey();
        // Any QP's partner may use it.
        let other = QpId { qpn: 99, serial: 7 };
        assert_eq!(w.translate(k1, other, PD, 4, 0x10_008, 8), Some((0x105, 8)));
        assert_eq!(w.invalidate(k1, QP, PD, false), Err(MwError::State));
        let zb = bind(&w, 0x10_000, 0x10, access::REMOTE_READ | access::ZERO_BASED);
        assert_eq!(w.bind(&zb, QP, PD, Some(&MR)), Err(MwError::Range));
        // Bound again elsewhere: the old binding comes back to let go of.
        let b2 = bind(&w, 0x10_800, 0x10, access::REMOTE_READ);
        assert!(w.bind(&b2, QP, PD, Some(&MR)).unwrap().is_some());
        let k2 = w.rkey();
        assert_ne!(k1, k2);
        assert_eq!(w.translate(k1, QP, PD, 4, 0x10_800, 8), None);
        assert_eq!(
            w.translate(k2, QP, PD, 4, 0x10_800, 8),
            Some((0x105, 0x800))
        );
        // Unbound with a length of 0, without an MR.
        let none = bind(&w, 0, 0, 0);
        assert!(w.bind(&none, QP, PD, None).unwrap().is_some());
        assert_eq!(w.translate(w.rkey(), QP, PD, 4, 0x10_800, 8), None);
    }

    #[test]
    fn a_zero_based_window_counts_from_its_start() {
        let mut w = Window::new(MwType::Two, PD, 0x8_0004 << 8);
        let acc = access::REMOTE_WRITE | access::ZERO_BASED;
        let b = bind(&w, 0x10_400, 0x100, acc);
        w.bind(&b, QP, PD, Some(&MR)).unwrap();
        assert_eq!(
            w.translate(w.rkey(), QP, PD, 2, 0x10, 0xf0),
            Some((0x105, 0x410))
        );
        assert_eq!(w.translate(w.rkey(), QP, PD, 2, 0x10, 0xf1), None);
        assert_eq!(w.translate(w.rkey(), QP, PD, 2, u64::MAX, 2), None);
    }
}
