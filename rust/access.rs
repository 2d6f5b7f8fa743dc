// SPDX-License-Identifier: GPL-2.0

//! Access flags (`enum ib_access_flags`, numbered as the uverbs ABI's
//! `IBV_ACCESS_*`): what an MR, or a QP's remote peers, may do.

use super::bindings as sys;
use core::ops::{BitOr, BitOrAssign};

/// A set of access flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access(u32);

impl Access {
    /// Local reads need no flag.
    pub const LOCAL_READ: Access = Access(0);
    pub const LOCAL_WRITE: Access = Access(sys::ib_access_flags_IB_ACCESS_LOCAL_WRITE);
    pub const REMOTE_WRITE: Access = Access(sys::ib_access_flags_IB_ACCESS_REMOTE_WRITE);
    pub const REMOTE_READ: Access = Access(sys::ib_access_flags_IB_ACCESS_REMOTE_READ);
    pub const REMOTE_ATOMIC: Access = Access(sys::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC);
    pub const MW_BIND: Access = Access(sys::ib_access_flags_IB_ACCESS_MW_BIND);
    pub const FLUSH_GLOBAL: Access = Access(sys::ib_access_flags_IB_ACCESS_FLUSH_GLOBAL);
    pub const FLUSH_PERSISTENT: Access = Access(sys::ib_access_flags_IB_ACCESS_FLUSH_PERSISTENT);
    /// Paged on demand, not pinned (ODP).
    pub const ON_DEMAND: Access = Access(sys::ib_access_flags_IB_ACCESS_ON_DEMAND);
    /// The flags from here up are hints a device may ignore.
    pub const OPTIONAL: Access = Access(sys::ib_access_flags_IB_ACCESS_OPTIONAL);

    /// The flags of the ABI's bits, unknown ones kept (for the caller to
    /// refuse with [`Access::within`]).
    pub const fn from_abi(bits: u32) -> Access {
        Access(bits)
    }

    /// No access but local reads.
    pub const fn empty() -> Access {
        Access(0)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag outside `allowed` is set.
    pub const fn within(self, allowed: Access) -> bool {
        self.0 & !allowed.0 == 0
    }

    /// `self` and `other` together, in constant expressions.
    pub const fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }
}

impl BitOr for Access {
    type Output = Access;
    fn bitor(self, rhs: Access) -> Access {
        self.union(rhs)
    }
}

impl BitOrAssign for Access {
    fn bitor_assign(&mut self, rhs: Access) {
        self.0 |= rhs.0;
    }
}
