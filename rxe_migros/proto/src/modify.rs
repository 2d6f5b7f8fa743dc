// SPDX-License-Identifier: GPL-2.0

//! Modify QP: the QP state machine and the checks on a modification's
//! attributes.
//!
//! The states and transitions are those of IBTA vol. 1, 10.3.1 (figure
//! 125), with the attributes each transition requires and allows (11.2.4.2,
//! "Modify Queue Pair"). The numbers of states and mask bits are the uverbs
//! ABI's (`enum ib_qp_state`, `enum ib_qp_attr_mask`), so that values from
//! user space and from the kernel's core convert without a table.
//!
//! [`Attrs::modified`] is the whole verb: it checks the transition and
//! every attribute the mask names, and returns the new attributes, or
//! refuses without changing anything.

use core::ops::{BitAnd, BitOr, Not};

/// The state of a QP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum QpState {
    Reset = 0,
    Init = 1,
    /// Ready to receive.
    Rtr = 2,
    /// Ready to send.
    Rts = 3,
    /// Send queue drained.
    Sqd = 4,
    /// Send queue error (UC and UD).
    Sqe = 5,
    Error = 6,
}

impl QpState {
    /// Every state, in ABI order.
    pub const ALL: [QpState; 7] = [
        QpState::Reset,
        QpState::Init,
        QpState::Rtr,
        QpState::Rts,
        QpState::Sqd,
        QpState::Sqe,
        QpState::Error,
    ];

    /// The state numbered `n` in the ABI.
    pub fn from_abi(n: u32) -> Option<QpState> {
        QpState::ALL.get(usize::try_from(n).ok()?).copied()
    }

    /// Its number in the ABI.
    pub fn abi(self) -> u32 {
        self as u32
    }

    /// Whether the QP has begun sending to its partner: RTS, and SQD,
    /// where what it began it finishes.
    pub fn has_sent(self) -> bool {
        matches!(self, QpState::Rts | QpState::Sqd)
    }

    /// Whether the QP's responder takes requests: RTR, RTS and SQD.
    pub fn responds(self) -> bool {
        matches!(self, QpState::Rtr | QpState::Rts | QpState::Sqd)
    }

    /// Whether the QP has a partner's address and receives (RTR and on,
    /// short of an error).
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            QpState::Rtr | QpState::Rts | QpState::Sqd | QpState::Sqe
        )
    }
}

/// The transport service of a QP, as the state machine tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QpType {
    /// Reliable connected.
    Rc,
    /// Unreliable connected.
    Uc,
    /// Unreliable datagram.
    Ud,
    /// The general services QP (QP1): UD with a fixed number.
    Gsi,
}

/// Which attributes a modification names (`enum ib_qp_attr_mask`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct AttrMask(u32);

impl AttrMask {
    pub const NONE: AttrMask = AttrMask(0);
    pub const STATE: AttrMask = AttrMask(1 << 0);
    pub const CUR_STATE: AttrMask = AttrMask(1 << 1);
    pub const EN_SQD_ASYNC_NOTIFY: AttrMask = AttrMask(1 << 2);
    pub const ACCESS_FLAGS: AttrMask = AttrMask(1 << 3);
    pub const PKEY_INDEX: AttrMask = AttrMask(1 << 4);
    pub const PORT: AttrMask = AttrMask(1 << 5);
    pub const QKEY: AttrMask = AttrMask(1 << 6);
    pub const AV: AttrMask = AttrMask(1 << 7);
    pub const PATH_MTU: AttrMask = AttrMask(1 << 8);
    pub const TIMEOUT: AttrMask = AttrMask(1 << 9);
    pub const RETRY_CNT: AttrMask = AttrMask(1 << 10);
    pub const RNR_RETRY: AttrMask = AttrMask(1 << 11);
    pub const RQ_PSN: AttrMask = AttrMask(1 << 12);
    pub const MAX_QP_RD_ATOMIC: AttrMask = AttrMask(1 << 13);
    pub const ALT_PATH: AttrMask = AttrMask(1 << 14);
    pub const MIN_RNR_TIMER: AttrMask = AttrMask(1 << 15);
    pub const SQ_PSN: AttrMask = AttrMask(1 << 16);
    pub const MAX_DEST_RD_ATOMIC: AttrMask = AttrMask(1 << 17);
    pub const PATH_MIG_STATE: AttrMask = AttrMask(1 << 18);
    pub const CAP: AttrMask = AttrMask(1 << 19);
    pub const DEST_QPN: AttrMask = AttrMask(1 << 20);
    /// A rate limit, which any transition may name (and which a soft
    /// device ignores, as the C rxe does).
    pub const RATE_LIMIT: AttrMask = AttrMask(1 << 25);

    /// The mask of the ABI's bits `bits`, unknown ones included: they are
    /// refused by [`transition`], not lost here.
    pub const fn from_abi(bits: u32) -> AttrMask {
        AttrMask(bits)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every attribute of `other` is named.
    pub const fn contains(self, other: AttrMask) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    const fn or(self, other: AttrMask) -> AttrMask {
        AttrMask(self.0 | other.0)
    }
}

impl BitOr for AttrMask {
    type Output = AttrMask;
    fn bitor(self, rhs: AttrMask) -> AttrMask {
        self.or(rhs)
    }
}

impl BitAnd for AttrMask {
    type Output = AttrMask;
    fn bitand(self, rhs: AttrMask) -> AttrMask {
        AttrMask(self.0 & rhs.0)
    }
}

impl Not for AttrMask {
    type Output = AttrMask;
    fn not(self) -> AttrMask {
        AttrMask(!self.0)
    }
}

impl core::fmt::Debug for AttrMask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Why a modification is refused (EINVAL, each of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The state number is not a state.
    NoSuchState,
    /// CUR_STATE is named but is not the QP's state, or is named from a
    /// state that does not allow it.
    CurState,
    /// The state machine has no such edge.
    NoTransition { from: QpState, to: QpState },
    /// Attributes the transition requires are missing.
    Missing(AttrMask),
    /// Attributes the transition does not allow are named.
    NotAllowed(AttrMask),
    /// An attribute is out of its range, or asks for something the device
    /// does not offer (a second port, an alternate path, larger queues).
    BadValue(AttrMask),
    /// The state is named while SQD drains the send queue: until SQ_DRAINED
    /// only the error state may be (the C rxe's rule).
    Draining,
}

use AttrMask as M;

/// The attributes every transition takes besides its own.
const ALWAYS: AttrMask = M::STATE.or(M::RATE_LIMIT);

/// The attributes that initialise a QP: its partition, port, and the
/// remote access of a connected QP or the Q_Key of a datagram one.
const fn init_attrs(ty: QpType) -> AttrMask {
    match ty {
        QpType::Rc | QpType::Uc => M::PKEY_INDEX.or(M::PORT).or(M::ACCESS_FLAGS),
        QpType::Ud => M::PKEY_INDEX.or(M::PORT).or(M::QKEY),
        // QP1's port is its device's.
        QpType::Gsi => M::PKEY_INDEX.or(M::QKEY),
    }
}

/// What a QP in RTS or SQD may change on its way to (or staying in) RTS.
const fn rts_optional(ty: QpType) -> AttrMask {
    let connected = M::CUR_STATE
        .or(M::ACCESS_FLAGS)
        .or(M::ALT_PATH)
        .or(M::PATH_MIG_STATE);
    match ty {
        QpType::Rc => connected.or(M::MIN_RNR_TIMER),
        QpType::Uc => connected,
        QpType::Ud | QpType::Gsi => M::CUR_STATE.or(M::QKEY),
    }
}

/// The attributes `ty` requires and allows on the edge `from` -> `to`,
/// or `None` if the state machine has no such edge.
fn edge(ty: QpType, from: QpState, to: QpState) -> Option<(AttrMask, AttrMask)> {
    use QpState::*;
    let none = (M::NONE, M::NONE);
    let datagram = matches!(ty, QpType::Ud | QpType::Gsi);
    Some(match (from, to) {
        // A reset from anywhere. RESET itself has not been initialised,
        // so it can not be in error.
        (_, Reset) => none,
        (Reset, Error) => return None,
        (_, Error) => none,
        (Reset, Init) => (init_attrs(ty), M::NONE),
        (Init, Init) => (M::NONE, init_attrs(ty)),
        (Init, Rtr) if datagram => (M::NONE, M::PKEY_INDEX | M::QKEY),
        (Init, Rtr) => {
            let path = M::AV | M::PATH_MTU | M::DEST_QPN | M::RQ_PSN;
            let req = match ty {
                QpType::Rc => path | M::MAX_DEST_RD_ATOMIC | M::MIN_RNR_TIMER,
                _ => path,
            };
            (req, M::ALT_PATH | M::ACCESS_FLAGS | M::PKEY_INDEX)
        }
        (Rtr, Rts) => {
            let req = match ty {
                QpType::Rc => {
                    M::SQ_PSN | M::TIMEOUT | M::RETRY_CNT | M::RNR_RETRY | M::MAX_QP_RD_ATOMIC
                }
                _ => M::SQ_PSN,
            };
            (req, rts_optional(ty))
        }
        (Rts | Sqd, Rts) => (M::NONE, rts_optional(ty)),
        (Rts, Sqd) => (M::NONE, M::EN_SQD_ASYNC_NOTIFY),
        (Sqd, Sqd) => (
            M::NONE,
            match ty {
                QpType::Rc => {
                    M::PORT
                        | M::AV
                        | M::TIMEOUT
                        | M::RETRY_CNT
                        | M::RNR_RETRY
                        | M::MAX_QP_RD_ATOMIC
                        | M::MAX_DEST_RD_ATOMIC
                        | M::ALT_PATH
                        | M::ACCESS_FLAGS
                        | M::PKEY_INDEX
                        | M::MIN_RNR_TIMER
                        | M::PATH_MIG_STATE
                }
                QpType::Uc => {
                    M::AV | M::ALT_PATH | M::ACCESS_FLAGS | M::PKEY_INDEX | M::PATH_MIG_STATE
                }
                QpType::Ud | QpType::Gsi => M::PKEY_INDEX | M::QKEY,
            },
        ),
        // Out of a send queue error (which RC does not have: it goes to
        // the error state instead, so it may only leave with the state).
        (Sqe, Rts) => (
            M::NONE,
            match ty {
                QpType::Rc => M::NONE,
                QpType::Uc => M::CUR_STATE | M::ACCESS_FLAGS,
                QpType::Ud | QpType::Gsi => M::CUR_STATE | M::QKEY,
            },
        ),
        _ => return None,
    })
}

/// Whether a QP of type `ty` may go from `from` to `to` naming the
/// attributes in `mask` (the state, when it changes, among them).
pub fn transition(ty: QpType, from: QpState, to: QpState, mask: AttrMask) -> Result<(), Refused> {
    if mask.contains(M::CUR_STATE)
        && !matches!(
            from,
            QpState::Rtr | QpState::Rts | QpState::Sqd | QpState::Sqe
        )
    {
        return Err(Refused::CurState);
    }
    let (required, optional) = edge(ty, from, to).ok_or(Refused::NoTransition { from, to })?;
    let missing = required & !mask;
    if !missing.is_empty() {
        return Err(Refused::Missing(missing));
    }
    let extra = mask & !(required | optional | ALWAYS);
    if !extra.is_empty() {
        return Err(Refused::NotAllowed(extra));
    }
    Ok(())
}

/// The largest number of RDMA READ and atomic requests outstanding, each
/// way, that a QP may be given.
pub const MAX_RD_ATOMIC: u8 = 128;

/// What a modification asks for: the mask and the values it names (the
/// others are ignored). `Av` is the driver's address vector.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<Av> {
    pub mask: AttrMask,
    /// The new state, as a number (checked here).
    pub state: u32,
    /// The state the caller believes the QP is in.
    pub cur_state: u32,
    pub port: u32,
    pub pkey_index: u16,
    pub qkey: u32,
    pub access: u32,
    /// The partner's address, when AV is named.
    pub av: Option<Av>,
    /// `enum ib_mtu`.
    pub path_mtu: u32,
    pub timeout: u8,
    pub retry_cnt: u8,
    pub rnr_retry: u8,
    pub min_rnr_timer: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
    pub dest_qpn: u32,
    pub sq_psn: u32,
    pub rq_psn: u32,
}

impl<Av: Default> Request<Av> {
    /// A request that names only the new state.
    pub fn to_state(state: QpState) -> Self {
        Request {
            mask: M::STATE,
            state: state.abi(),
            ..Default::default()
        }
    }
}

/// The attributes a QP has been given, with its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs<Av> {
    pub state: QpState,
    pub pkey_index: u16,
    pub qkey: u32,
    /// `ib_access_flags` for remote access.
    pub access: u32,
    /// `enum ib_mtu`.
    pub path_mtu: u32,
    pub dest_qpn: u32,
    pub sq_psn: u32,
    pub rq_psn: u32,
    pub av: Option<Av>,
    pub timeout: u8,
    pub retry_cnt: u8,
    pub rnr_retry: u8,
    pub min_rnr_timer: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
}

/// `enum ib_mtu`: 256 to 4096 bytes.
const MTUS: core::ops::RangeInclusive<u32> = 1..=5;

impl<Av: Copy> Attrs<Av> {
    /// A new QP's: RESET, the smallest MTU, nothing set.
    pub const fn new() -> Self {
        Attrs {
            state: QpState::Reset,
            pkey_index: 0,
            qkey: 0,
            access: 0,
            path_mtu: *MTUS.start(),
            dest_qpn: 0,
            sq_psn: 0,
            rq_psn: 0,
            av: None,
            timeout: 0,
            retry_cnt: 0,
            rnr_retry: 0,
            min_rnr_timer: 0,
            max_rd_atomic: 0,
            max_dest_rd_atomic: 0,
        }
    }

    /// The attributes after `r`, on a QP of type `ty`; nothing changes if
    /// it is refused.
    pub fn modified(&self, ty: QpType, r: &Request<Av>) -> Result<Self, Refused> {
        let has = |m: AttrMask| r.mask.contains(m);
        let bad = |m: AttrMask| Err(Refused::BadValue(m));
        if has(M::CUR_STATE) && r.cur_state != self.state.abi() {
            return Err(Refused::CurState);
        }
        let next = if has(M::STATE) {
            QpState::from_abi(r.state).ok_or(Refused::NoSuchState)?
        } else {
            self.state
        };
        transition(ty, self.state, next, r.mask)?;
        let mut new = *self;
        new.state = next;
        // One port, one P_Key, no alternate path (no automatic path
        // migration). Work queues are not resized: no transition allows
        // CAP.
        if has(M::PORT) && r.port != 1 {
            return bad(M::PORT);
        }
        if has(M::PKEY_INDEX) {
            if r.pkey_index != 0 {
                return bad(M::PKEY_INDEX);
            }
            new.pkey_index = r.pkey_index;
        }
        if has(M::ALT_PATH) {
            return bad(M::ALT_PATH);
        }
        if has(M::QKEY) {
            new.qkey = r.qkey;
        }
        if has(M::ACCESS_FLAGS) {
            new.access = r.access;
        }
        if has(M::AV) {
            // The driver refuses an address it can not use before this.
            new.av = Some(r.av.ok_or(Refused::BadValue(M::AV))?);
        }
        if has(M::PATH_MTU) {
            if !MTUS.contains(&r.path_mtu) {
                return bad(M::PATH_MTU);
            }
            new.path_mtu = r.path_mtu;
        }
        // Five-bit timer codes and three-bit retry counts (IBTA 9.7.5.2).
        let small = [
            (M::TIMEOUT, r.timeout, 31, &mut new.timeout),
            (M::RETRY_CNT, r.retry_cnt, 7, &mut new.retry_cnt),
            (M::RNR_RETRY, r.rnr_retry, 7, &mut new.rnr_retry),
            (
                M::MIN_RNR_TIMER,
                r.min_rnr_timer,
                31,
                &mut new.min_rnr_timer,
            ),
            (
                M::MAX_QP_RD_ATOMIC,
                r.max_rd_atomic,
                MAX_RD_ATOMIC,
                &mut new.max_rd_atomic,
            ),
            (
                M::MAX_DEST_RD_ATOMIC,
                r.max_dest_rd_atomic,
                MAX_RD_ATOMIC,
                &mut new.max_dest_rd_atomic,
            ),
        ];
        for (bit, value, max, field) in small {
            if has(bit) {
                if value > max {
                    return bad(bit);
                }
                *field = value;
            }
        }
        if has(M::DEST_QPN) {
            new.dest_qpn = r.dest_qpn & super::hdr::QPN_MASK;
        }
        if has(M::SQ_PSN) {
            new.sq_psn = r.sq_psn & super::psn::PSN_MASK;
        }
        if has(M::RQ_PSN) {
            new.rq_psn = r.rq_psn & super::psn::PSN_MASK;
        }
        Ok(new)
    }
}

impl<Av: Copy> Default for Attrs<Av> {
    fn default() -> Self {
        Attrs::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const TYPES: [QpType; 4] = [QpType::Rc, QpType::Uc, QpType::Ud, QpType::Gsi];

    /// Every named mask bit, by the kernel's names.
    const NAMES: [(&str, AttrMask); 22] = [
        ("STATE", M::STATE),
        ("CUR_STATE", M::CUR_STATE),
        ("EN_SQD_ASYNC_NOTIFY", M::EN_SQD_ASYNC_NOTIFY),
        ("ACCESS_FLAGS", M::ACCESS_FLAGS),
        ("PKEY_INDEX", M::PKEY_INDEX),
        ("PORT", M::PORT),
        ("QKEY", M::QKEY),
        ("AV", M::AV),
        ("PATH_MTU", M::PATH_MTU),
        ("TIMEOUT", M::TIMEOUT),
        ("RETRY_CNT", M::RETRY_CNT),
        ("RNR_RETRY", M::RNR_RETRY),
        ("RQ_PSN", M::RQ_PSN),
        ("MAX_QP_RD_ATOMIC", M::MAX_QP_RD_ATOMIC),
        ("ALT_PATH", M::ALT_PATH),
        ("MIN_RNR_TIMER", M::MIN_RNR_TIMER),
        ("SQ_PSN", M::SQ_PSN),
        ("MAX_DEST_RD_ATOMIC", M::MAX_DEST_RD_ATOMIC),
        ("PATH_MIG_STATE", M::PATH_MIG_STATE),
        ("CAP", M::CAP),
        ("DEST_QPN", M::DEST_QPN),
        ("RATE_LIMIT", M::RATE_LIMIT),
    ];

    fn state(name: &str) -> QpState {
        let i = ["RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"]
            .iter()
            .position(|n| *n == name)
            .expect("a state's name");
        QpState::ALL[i]
    }

    fn qp_type(name: &str) -> QpType {
        TYPES[["RC", "UC", "UD", "GSI"]
            .iter()
            .position(|n| *n == name)
            .expect("a type")]
    }

    fn mask(names: &str) -> AttrMask {
        if names == "-" {
            return M::NONE;
        }
        names.split('|').fold(M::NONE, |m, n| {
            m | NAMES
                .iter()
                .find(|(k, _)| *k == n)
                .expect("a mask bit's name")
                .1
        })
    }

    /// The kernel's table: (type, from, to) -> (required, optional).
    fn kernel_table() -> Vec<(QpType, QpState, QpState, AttrMask, AttrMask)> {
        include_str!("../testdata/qp_transitions.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (
                    qp_type(w[2]),
                    state(w[0]),
                    state(w[1]),
                    mask(w[3]),
                    mask(w[4]),
                )
            })
            .collect()
    }

    /// The kernel's rule (ib_modify_qp_is_ok) over its recorded table.
    fn kernel_ok(
        table: &[(QpType, QpState, QpState, AttrMask, AttrMask)],
        ty: QpType,
        from: QpState,
        to: QpState,
        m: AttrMask,
    ) -> bool {
        use QpState::*;
        if m.contains(M::CUR_STATE) && !matches!(from, Rtr | Rts | Sqd | Sqe) {
            return false;
        }
        let Some(&(_, _, _, req, opt)) =
            table.iter().find(|e| e.0 == ty && e.1 == from && e.2 == to)
        else {
            return false;
        };
        m.contains(req) && (m & !(req | opt | ALWAYS)).is_empty()
    }

    /// Every subset of `bits`.
    fn subsets(bits: AttrMask) -> impl Iterator<Item = AttrMask> {
        let b = bits.bits();
        let mut sub = 0u32;
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            let out = AttrMask(sub);
            sub = sub.wrapping_sub(b) & b;
            done = sub == 0;
            Some(out)
        })
    }

    #[test]
    fn the_table_is_the_kernels() {
        let table = kernel_table();
        assert_eq!(table.len(), 22 * 4, "the record has 22 edges for 4 types");
        let all_bits = NAMES.iter().fold(M::NONE, |m, n| m | n.1);
        let unknown = [AttrMask(1 << 21), AttrMask(1 << 24), AttrMask(1 << 31)];
        let mut checked = 0u64;
        for ty in TYPES {
            for from in QpState::ALL {
                for to in QpState::ALL {
                    // Every combination of the attributes this edge is
                    // about, and each other attribute on top of it.
                    let (req, opt) = table
                        .iter()
                        .find(|e| e.0 == ty && e.1 == from && e.2 == to)
                        .map_or((M::NONE, M::NONE), |e| (e.3, e.4));
                    let near = req | opt | ALWAYS | M::CUR_STATE;
                    for sub in subsets(near) {
                        let extras = NAMES
                            .iter()
                            .map(|n| n.1)
                            .chain(unknown)
                            .filter(|b| !near.contains(*b));
                        for m in core::iter::once(sub).chain(extras.map(|b| sub | b)) {
                            let ours = transition(ty, from, to, m).is_ok();
                            assert_eq!(
                                ours,
                                kernel_ok(&table, ty, from, to, m),
                                "{ty:?} {from:?} -> {to:?} with {m:?}"
                            );
                            checked += 1;
                        }
                    }
                    // And every named bit at once.
                    assert_eq!(
                        transition(ty, from, to, all_bits).is_ok(),
                        kernel_ok(&table, ty, from, to, all_bits)
                    );
                }
            }
        }
        std::println!("{checked} (type, state, state, mask) cases agree with the kernel's table");
        assert!(checked > 100_000);
    }

    #[test]
    fn refusals_say_why() {
        use QpState::*;
        let rc = QpType::Rc;
        assert_eq!(
            transition(rc, Reset, Rts, M::STATE),
            Err(Refused::NoTransition {
                from: Reset,
                to: Rts
            })
        );
        assert_eq!(
            transition(rc, Reset, Init, M::STATE | M::PORT),
            Err(Refused::Missing(M::PKEY_INDEX | M::ACCESS_FLAGS))
        );
        assert_eq!(
            transition(
                QpType::Ud,
                Reset,
                Init,
                M::STATE | M::PORT | M::PKEY_INDEX | M::QKEY | M::AV
            ),
            Err(Refused::NotAllowed(M::AV))
        );
        assert_eq!(
            transition(rc, Init, Init, M::CUR_STATE),
            Err(Refused::CurState)
        );
        assert_eq!(
            transition(rc, Error, Reset, M::STATE | M::RATE_LIMIT),
            Ok(())
        );
    }

    fn request(mask: AttrMask, state: QpState) -> Request<u8> {
        Request {
            mask,
            state: state.abi(),
            cur_state: 0,
            port: 1,
            pkey_index: 0,
            qkey: 0x1234,
            access: 7,
            av: Some(9),
            path_mtu: 5,
            timeout: 14,
            retry_cnt: 7,
            rnr_retry: 7,
            min_rnr_timer: 12,
            max_rd_atomic: 16,
            max_dest_rd_atomic: 16,
            dest_qpn: 0xff00_0011,
            sq_psn: 0x0100_0002,
            rq_psn: 0x0100_0003,
        }
    }

    #[test]
    fn an_rc_qp_is_brought_up_and_its_values_checked() {
        let rc = QpType::Rc;
        let a = Attrs::<u8>::new();
        let a = a
            .modified(rc, &request(M::STATE | init_attrs(rc), QpState::Init))
            .unwrap();
        assert_eq!((a.state, a.access), (QpState::Init, 7));
        let rtr = M::STATE
            | M::AV
            | M::PATH_MTU
            | M::DEST_QPN
            | M::RQ_PSN
            | M::MAX_DEST_RD_ATOMIC
            | M::MIN_RNR_TIMER;
        let b = a.modified(rc, &request(rtr, QpState::Rtr)).unwrap();
        assert_eq!(
            (b.av, b.dest_qpn, b.rq_psn, b.path_mtu),
            (Some(9), 0x11, 3, 5)
        );
        // Out of range values, and what the device does not offer, leave
        // the attributes as they were.
        for (field, bit) in [
            ((|r| r.path_mtu = 6) as fn(&mut Request<u8>), M::PATH_MTU),
            (|r| r.min_rnr_timer = 32, M::MIN_RNR_TIMER),
            (|r| r.max_dest_rd_atomic = 129, M::MAX_DEST_RD_ATOMIC),
            (|r| r.av = None, M::AV),
        ] {
            let mut r = request(rtr, QpState::Rtr);
            field(&mut r);
            assert_eq!(a.modified(rc, &r), Err(Refused::BadValue(bit)));
        }
        let mut r = request(rtr | M::PKEY_INDEX, QpState::Rtr);
        r.pkey_index = 1;
        assert_eq!(a.modified(rc, &r), Err(Refused::BadValue(M::PKEY_INDEX)));
        let r = request(rtr | M::ALT_PATH, QpState::Rtr);
        assert_eq!(a.modified(rc, &r), Err(Refused::BadValue(M::ALT_PATH)));
        let rts =
            M::STATE | M::SQ_PSN | M::TIMEOUT | M::RETRY_CNT | M::RNR_RETRY | M::MAX_QP_RD_ATOMIC;
        let c = b.modified(rc, &request(rts, QpState::Rts)).unwrap();
        assert_eq!(
            (c.state, c.sq_psn, c.timeout, c.max_rd_atomic),
            (QpState::Rts, 2, 14, 16)
        );
        let mut r = request(M::CUR_STATE, QpState::Rts);
        r.cur_state = QpState::Rtr.abi();
        assert_eq!(c.modified(rc, &r), Err(Refused::CurState));
        let mut r = request(M::STATE, QpState::Error);
        r.state = 7;
        assert_eq!(c.modified(rc, &r), Err(Refused::NoSuchState));
        let r = request(M::CAP, QpState::Rts);
        assert_eq!(c.modified(rc, &r), Err(Refused::NotAllowed(M::CAP)));
    }
}
