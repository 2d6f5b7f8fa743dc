// SPDX-License-Identifier: GPL-2.0

//! Fast registration (IBA 10.6.3.4 and 10.7.2.x; the C rxe's
//! rxe_map_mr_sg, rxe_reg_fast_mr and rxe_invalidate_mr): the rules of an
//! MR that a kernel consumer allocates empty (`ib_alloc_mr`), fills with a
//! list of pages (`ib_map_mr_sg`), makes valid under a key of its choosing
//! with a REG_MR work request, and invalidates with LOCAL_INV or lets its
//! peer invalidate with SEND_WITH_INV.
//!
//! [`FastMr`] holds one such MR's state and makes every decision: which
//! key and range are valid, and where a byte of the registration lies in
//! the page list. The memory behind the pages is the caller's: the
//! kernel keeps the list beside it under a lock, the host simulation
//! names pieces of its buffer.

use super::engine::MrError;
use super::mw::MwError;

/// The largest page list a fast-registration MR takes (the C rxe's
/// RXE_MAX_FMR_PAGE_LIST_LEN; the device's max_fast_reg_page_list_len).
pub const MAX_PAGES: u32 = 512;

/// The page sizes a page list may have: from 512 bytes (a sector) to
/// 1 GiB, each a power of two.
const MIN_PAGE_SHIFT: u32 = 9;
const MAX_PAGE_SHIFT: u32 = 30;

/// `IB_ACCESS_*` bits a fast registration may grant: no windows and no
/// persistence on kernel memory.
const SUPPORTED_ACCESS: u32 = super::mw::access::LOCAL_WRITE
    | super::mw::access::REMOTE_WRITE
    | super::mw::access::REMOTE_READ
    | super::mw::access::REMOTE_ATOMIC;

/// A REG_MR request (`struct ib_reg_wr`, with what the MR's page map says
/// when it is posted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// The MR's key as the consumer knows it: only its index matters.
    pub mr_key: u32,
    /// The key it has once valid: only its low eight bits are the
    /// consumer's to choose.
    pub key: u32,
    pub access: u32,
    /// The address of its first byte, and its length.
    pub iova: u64,
    pub length: u64,
}

/// Why a REG_MR request is refused (the requester completes it with
/// LOC_QP_OP_ERR, as the C rxe does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegError {
    /// No fast-registration MR has the key's index, or the new key
    /// names another MR.
    BadKey,
    /// The MR is valid already: it must be invalidated first.
    NotFree,
    /// The MR is of another PD than the QP.
    Pd,
    /// Access a fast registration cannot grant.
    Access,
    /// The range is longer than the pages mapped, or wraps.
    Range,
}

/// Why a page map is refused (`ib_map_mr_sg` returns EINVAL or ENOMEM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A page size that is not a power of two from 512 B to 1 GiB.
    PageSize,
    /// More pages than the MR was allocated for.
    Full,
}

/// One fast-registration MR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastMr {
    pd: usize,
    key: u32,
    valid: bool,
    access: u32,
    /// The registration: its first byte's address and its length.
    iova: u64,
    length: u64,
    /// The page list: its page size, the offset of the mapped bytes in
    /// the first page, the pages mapped and the most the MR takes.
    shift: u32,
    first_offset: u64,
    pages: u32,
    max_pages: u32,
}

impl FastMr {
    /// A free MR of `pd` with `key`, for up to `max_pages` pages (at
    /// most [`MAX_PAGES`]; the caller refuses more).
    pub fn new(pd: usize, key: u32, max_pages: u32) -> FastMr {
        FastMr {
            pd,
            key,
            valid: false,
            access: 0,
            iova: 0,
            length: 0,
            shift: 12,
            first_offset: 0,
            pages: 0,
            max_pages: max_pages.min(MAX_PAGES),
        }
    }

    pub fn key(&self) -> u32 {
        self.key
    }

    pub fn pd(&self) -> usize {
        self.pd
    }

    pub fn valid(&self) -> bool {
        self.valid
    }

    pub fn page_size(&self) -> u64 {
        1 << self.shift
    }

    /// `ib_map_mr_sg` begins: a new page list of `page_size` pages,
    /// empty. A valid MR is mapped again as the C rxe lets it be: the
    /// consumer invalidates first, and one that does not only confuses
    /// its own transfers.
    pub fn begin_map(&mut self, page_size: u32) -> Result<(), MapError> {
        if !page_size.is_power_of_two()
            || !(MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT).contains(&page_size.trailing_zeros())
        {
            return Err(MapError::PageSize);
        }
        self.shift = page_size.trailing_zeros();
        self.pages = 0;
        self.first_offset = 0;
        Ok(())
    }

    /// Takes the next page of the list, at `addr` (its start, aligned to
    /// the page size by the core's `ib_sg_to_pages`): returns its index,
    /// where the caller keeps the address.
    pub fn add_page(&mut self) -> Result<usize, MapError> {
        if self.pages >= self.max_pages {
            return Err(MapError::Full);
        }
        self.pages += 1;
        Ok(self.pages as usize - 1)
    }

    /// `ib_map_mr_sg` is done: the mapped bytes begin at `iova`, inside
    /// the first page.
    pub fn end_map(&mut self, iova: u64) {
        self.first_offset = iova & (self.page_size() - 1);
    }

    /// The bytes the page list covers, from the first mapped one.
    fn mapped(&self) -> u64 {
        (u64::from(self.pages) << self.shift).saturating_sub(self.first_offset)
    }

    /// Carries out `r`, posted by a QP of PD `pd` (C rxe
    /// rxe_reg_fast_mr): a free MR of the QP's PD becomes valid under
    /// `r.key`, with `r.access`, over `r.length` bytes from `r.iova`.
    pub fn register(&mut self, r: &Reg, pd: usize) -> Result<(), RegError> {
        if r.mr_key >> 8 != self.key >> 8 || r.key >> 8 != self.key >> 8 {
            return Err(RegError::BadKey);
        }
        if self.valid {
            return Err(RegError::NotFree);
        }
        if pd != self.pd {
            return Err(RegError::Pd);
        }
        if r.access & !SUPPORTED_ACCESS != 0 {
            return Err(RegError::Access);
        }
        if r.length > self.mapped() || r.iova.checked_add(r.length).is_none() {
            return Err(RegError::Range);
        }
        self.key = r.key;
        self.access = r.access;
        self.iova = r.iova;
        self.length = r.length;
        self.valid = true;
        Ok(())
    }

    /// Invalidates `key` (C rxe rxe_invalidate_mr): a LOCAL_INV of a QP
    /// of PD `pd`, or (`remote`) the IETH of a SEND_WITH_INV that came to
    /// one. The key must be the MR's valid key, and a peer invalidates
    /// only an MR of the PD of the QP it sends to (IBA 10.7.2.x; the C rxe
    /// does not check the PD).
    pub fn invalidate(&mut self, key: u32, pd: usize, remote: bool) -> Result<(), MwError> {
        if key != self.key {
            return Err(MwError::BadKey);
        }
        if remote && pd != self.pd {
            return Err(MwError::Pd);
        }
        if !self.valid {
            return Err(MwError::State);
        }
        self.valid = false;
        Ok(())
    }

    /// Whether `key` names this MR, valid, in `pd`, with every bit of
    /// `access`: then the registration's first address and length.
    pub fn grants(&self, key: u32, pd: usize, access: u32) -> Result<(u64, u64), MrError> {
        if !self.valid || key != self.key || pd != self.pd {
            return Err(MrError::BadKey);
        }
        if access & !self.access != 0 {
            return Err(MrError::Access);
        }
        Ok((self.iova, self.length))
    }

    /// Where byte `off` of the registration lies: the index of its page
    /// in the list, its offset in that page, and how many bytes follow it
    /// there; `None` past the pages mapped (the list was mapped again
    /// under a valid registration).
    pub fn locate(&self, off: u64) -> Option<(usize, u64, u64)> {
        let at = self.first_offset.checked_add(off)?;
        let page = at >> self.shift;
        if page >= u64::from(self.pages) {
            return None;
        }
        let inside = at & (self.page_size() - 1);
        Some((page as usize, inside, self.page_size() - inside))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mw::access::*;

    const PD: usize = 7;
    const KEY: u32 = 0x0012_3400;

    fn mapped(pages: u32, iova: u64) -> FastMr {
        let mut mr = FastMr::new(PD, KEY, 4);
        mr.begin_map(4096).unwrap();
        for i in 0..pages {
            assert_eq!(mr.add_page(), Ok(i as usize));
        }
        mr.end_map(iova);
        mr
    }

    fn reg(key: u32, iova: u64, length: u64) -> Reg {
        Reg {
            mr_key: KEY,
            key,
            access: LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ,
            iova,
            length,
        }
    }

    #[test]
    fn a_registration_is_valid_under_its_key_until_invalidated() {
        let mut mr = mapped(3, 0x10_0200);
        assert_eq!(
            mr.grants(KEY, PD, 0),
            Err(MrError::BadKey),
            "free until registered"
        );
        mr.register(&reg(KEY | 5, 0x10_0200, 3 * 4096 - 0x200), PD)
            .unwrap();
        assert_eq!(
            mr.grants(KEY | 5, PD, REMOTE_WRITE),
            Ok((0x10_0200, 3 * 4096 - 0x200))
        );
        assert_eq!(
            mr.grants(KEY, PD, 0),
            Err(MrError::BadKey),
            "the old key is gone"
        );
        assert_eq!(
            mr.grants(KEY | 5, PD + 1, 0),
            Err(MrError::BadKey),
            "another PD"
        );
        assert_eq!(mr.grants(KEY | 5, PD, REMOTE_ATOMIC), Err(MrError::Access));
        assert_eq!(
            mr.register(&reg(KEY | 6, 0x10_0200, 16), PD),
            Err(RegError::NotFree)
        );
        assert_eq!(mr.invalidate(KEY, PD, false), Err(MwError::BadKey));
        assert_eq!(mr.invalidate(KEY | 5, PD + 1, true), Err(MwError::Pd));
        mr.invalidate(KEY | 5, PD, true).unwrap();
        assert_eq!(mr.grants(KEY | 5, PD, 0), Err(MrError::BadKey));
        assert_eq!(mr.invalidate(KEY | 5, PD, false), Err(MwError::State));
        mr.register(&reg(KEY | 6, 0x10_0200, 16), PD).unwrap();
    }

    #[test]
    fn registrations_are_checked() {
        let mut mr = mapped(2, 0x10_0200);
        let whole = 2 * 4096 - 0x200;
        assert_eq!(
            mr.register(&reg(KEY + 0x100, 0x10_0200, 16), PD),
            Err(RegError::BadKey),
            "a key of another index"
        );
        let mut r = reg(KEY | 1, 0x10_0200, 16);
        r.mr_key = KEY + 0x100;
        assert_eq!(mr.register(&r, PD), Err(RegError::BadKey));
        assert_eq!(
            mr.register(&reg(KEY | 1, 0x10_0200, 16), PD + 1),
            Err(RegError::Pd)
        );
        let mut r = reg(KEY | 1, 0x10_0200, 16);
        r.access |= MW_BIND;
        assert_eq!(mr.register(&r, PD), Err(RegError::Access));
        assert_eq!(
            mr.register(&reg(KEY | 1, 0x10_0200, whole + 1), PD),
            Err(RegError::Range),
            "past the pages mapped"
        );
        assert_eq!(
            mr.register(&reg(KEY | 1, u64::MAX - 4, 16), PD),
            Err(RegError::Range)
        );
        mr.register(&reg(KEY | 1, 0x10_0200, whole), PD).unwrap();
    }

    #[test]
    fn page_lists_are_bounded() {
        let mut mr = FastMr::new(PD, KEY, 2);
        assert_eq!(mr.begin_map(4095), Err(MapError::PageSize));
        assert_eq!(mr.begin_map(256), Err(MapError::PageSize));
        mr.begin_map(512).unwrap();
        mr.add_page().unwrap();
        mr.add_page().unwrap();
        assert_eq!(mr.add_page(), Err(MapError::Full));
        assert_eq!(FastMr::new(PD, KEY, u32::MAX).max_pages, MAX_PAGES);
    }

    #[test]
    fn bytes_are_found_across_pages() {
        let mr = mapped(3, 0x10_0f00);
        assert_eq!(mr.locate(0), Some((0, 0xf00, 0x100)));
        assert_eq!(mr.locate(0xff), Some((0, 0xfff, 1)));
        assert_eq!(mr.locate(0x100), Some((1, 0, 4096)));
        assert_eq!(mr.locate(0x100 + 4096 + 5), Some((2, 5, 4091)));
        assert_eq!(mr.locate(0x100 + 2 * 4096), None, "past the pages");
        assert_eq!(mr.locate(u64::MAX), None);
    }
}
