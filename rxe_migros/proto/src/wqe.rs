// SPDX-License-Identifier: GPL-2.0

//! Work requests as librxe writes them into a QP's rings
//! (uapi/rdma_user_rxe.h: `struct rxe_send_wqe`, `struct rxe_recv_wqe`).
//!
//! The driver copies a slot out of the ring and hands the copy here. A
//! process may have written anything into it, so every field is checked
//! against the QP's limits before it means anything; what comes back is
//! typed and in range.

/// Work request opcodes (`enum ib_uverbs_wr_opcode`).
pub mod opcode {
    pub const RDMA_WRITE: u32 = 0;
    pub const RDMA_WRITE_WITH_IMM: u32 = 1;
    pub const SEND: u32 = 2;
    pub const SEND_WITH_IMM: u32 = 3;
    pub const RDMA_READ: u32 = 4;
    pub const ATOMIC_CMP_AND_SWP: u32 = 5;
    pub const ATOMIC_FETCH_AND_ADD: u32 = 6;
    pub const LOCAL_INV: u32 = 7;
    pub const BIND_MW: u32 = 8;
    pub const SEND_WITH_INV: u32 = 9;
    pub const FLUSH: u32 = 14;
    pub const ATOMIC_WRITE: u32 = 15;
    /// `IB_WR_REG_MR`: a kernel consumer's fast registration. librxe has
    /// no such request; a process's ring cannot carry it.
    pub const REG_MR: u32 = 0x20;
}

/// Send flags (`enum ib_send_flags`).
pub mod send_flags {
    pub const FENCE: u32 = 1 << 0;
    pub const SIGNALED: u32 = 1 << 1;
    pub const SOLICITED: u32 = 1 << 2;
    pub const INLINE: u32 = 1 << 3;
}

/// Byte offsets in `struct rxe_send_wqe`.
mod send {
    pub const WR_ID: usize = 0;
    pub const OPCODE: usize = 12;
    pub const SEND_FLAGS: usize = 16;
    pub const EX: usize = 20;
    pub const REMOTE_ADDR: usize = 24;
    pub const RDMA_RKEY: usize = 32;
    pub const COMPARE_ADD: usize = 32;
    pub const SWAP: usize = 40;
    pub const ATOMIC_RKEY: usize = 48;
    pub const FLUSH_RKEY: usize = 36;
    pub const FLUSH_TYPE: usize = 40;
    pub const FLUSH_LEVEL: usize = 41;
    pub const MW_ADDR: usize = 24;
    pub const MW_LENGTH: usize = 32;
    pub const MW_MR_LKEY: usize = 40;
    pub const MW_MW_RKEY: usize = 44;
    pub const MW_RKEY: usize = 48;
    pub const MW_ACCESS: usize = 52;
    pub const UD_REMOTE_QPN: usize = 24;
    pub const UD_REMOTE_QKEY: usize = 28;
    pub const UD_AH_NUM: usize = 36;
    pub const DMA_LENGTH: usize = 184;
    pub const DMA_NUM_SGE: usize = 196;
    /// The scatter list or the inline data.
    pub const DATA: usize = 208;
}

/// Byte offsets in `struct rxe_recv_wqe`.
mod recv {
    pub const WR_ID: usize = 0;
    pub const DMA_LENGTH: usize = 16;
    pub const DMA_NUM_SGE: usize = 28;
    pub const SGE: usize = 40;
}

/// Size of a `struct rxe_send_wqe` before its data.
pub const SEND_WQE_BYTES: usize = send::DATA;
/// Size of a `struct rxe_recv_wqe` before its scatter list.
pub const RECV_WQE_BYTES: usize = recv::SGE;
/// Size of a `struct rxe_sge`.
pub const SGE_BYTES: usize = 16;
/// The largest message (the port's max_msg_sz).
pub const MAX_MSG_BYTES: u64 = 1 << 31;
/// An atomic operates on eight bytes.
const ATOMIC_BYTES: u32 = 8;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    (u32_at(b, at) as u64) | (u32_at(b, at + 4) as u64) << 32
}

/// Why a work request is refused: each completes in error
/// (`IB_WC_LOC_QP_OP_ERR` or `IB_WC_LOC_LEN_ERR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WqeError {
    /// The slot is smaller than the request says it is.
    Truncated,
    /// An opcode this QP type does not carry out.
    BadOpcode(u32),
    /// More scatter entries than the QP was created with.
    TooManySges,
    /// Inline data larger than the QP allows.
    InlineTooLong,
    /// The lengths disagree, or exceed the largest message, or an atomic
    /// is not eight bytes at an aligned address.
    BadLength,
    /// A FLUSH to no placement or an unknown one, or at an unknown level.
    BadFlush,
}

/// What the QP was created with: the bounds a request must keep.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sge: u32,
    pub max_inline: u32,
    /// An unreliable datagram QP: sends only, with a destination.
    pub ud: bool,
    /// A kernel consumer's QP, which may post REG_MR.
    pub fast_reg: bool,
}

/// A scatter/gather entry (`struct rxe_sge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sge {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}

/// A checked scatter list inside a slot.
#[derive(Clone, Copy, Debug)]
pub struct SgeList<'a> {
    bytes: &'a [u8],
}

impl<'a> SgeList<'a> {
    fn new(slot: &'a [u8], at: usize, n: u32, max: u32) -> Result<Self, WqeError> {
        if n > max {
            return Err(WqeError::TooManySges);
        }
        let end = at + n as usize * SGE_BYTES;
        let bytes = slot.get(at..end).ok_or(WqeError::Truncated)?;
        Ok(SgeList { bytes })
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.bytes.len() / SGE_BYTES
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Entry `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Sge> {
        let b = self.bytes.get(i * SGE_BYTES..(i + 1) * SGE_BYTES)?;
        Some(Sge {
            addr: u64_at(b, 0),
            length: u32_at(b, 8),
            lkey: u32_at(b, 12),
        })
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = Sge> + 'a {
        let list = *self;
        (0..list.len()).filter_map(move |i| list.get(i))
    }

    /// The sum of the lengths, which may exceed 32 bits.
    fn total(&self) -> u64 {
        self.iter().map(|s| s.length as u64).sum()
    }
}

/// Where a send request's data comes from.
#[derive(Clone, Copy, Debug)]
pub enum Data<'a> {
    /// From registered memory.
    Sges(SgeList<'a>),
    /// Copied into the request itself.
    Inline(&'a [u8]),
}

/// What a send request asks the remote side to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// SEND, with immediate data (as on the wire) if any.
    Send { imm: Option<u32> },
    /// SEND that invalidates `rkey` at the responder.
    SendInvalidate { rkey: u32 },
    /// RDMA WRITE, with immediate data if any.
    Write {
        addr: u64,
        rkey: u32,
        imm: Option<u32>,
    },
    /// RDMA READ.
    Read { addr: u64, rkey: u32 },
    /// Atomic compare and swap.
    CompareSwap {
        addr: u64,
        rkey: u32,
        compare: u64,
        swap: u64,
    },
    /// Atomic fetch and add.
    FetchAdd { addr: u64, rkey: u32, add: u64 },
    /// ATOMIC WRITE: eight bytes written in one step (the value is the
    /// request's data, in the slot).
    AtomicWrite { addr: u64, rkey: u32 },
    /// FLUSH of the request's length of bytes at `addr` (or of the whole
    /// MR), to the `placement` (`IB_FLUSH_GLOBAL`, `IB_FLUSH_PERSISTENT`)
    /// at `level` (`IB_FLUSH_RANGE`, `IB_FLUSH_MR`).
    Flush {
        addr: u64,
        rkey: u32,
        placement: u8,
        level: u8,
    },
    /// LOCAL_INV: invalidates `rkey` here, sending nothing.
    LocalInvalidate { rkey: u32 },
    /// BIND_MW: binds a memory window here, sending nothing.
    BindMw(super::mw::Bind),
    /// REG_MR: makes a fast-registration MR valid here, sending nothing.
    RegMr(super::fastreg::Reg),
}

/// A UD send's destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdDest {
    pub remote_qpn: u32,
    pub remote_qkey: u32,
    /// The address handle, by the number the kernel gave it.
    pub ah_num: u32,
}

/// A checked send request.
#[derive(Clone, Copy, Debug)]
pub struct SendWqe<'a> {
    pub wr_id: u64,
    pub op: Operation,
    /// [`send_flags`] bits.
    pub flags: u32,
    /// The message length.
    pub length: u32,
    pub data: Data<'a>,
    /// Set for UD QPs.
    pub ud: Option<UdDest>,
}

/// The opcode and send flags of the send request in `slot`, unchecked,
/// for deciding whether it may start yet.
pub fn peek_send(slot: &[u8]) -> Option<(u32, u32)> {
    if slot.len() < send::EX {
        return None;
    }
    Some((u32_at(slot, send::OPCODE), u32_at(slot, send::SEND_FLAGS)))
}

/// Bytes [`peek_send`] needs.
pub const PEEK_BYTES: usize = send::EX;

/// Reads and checks the send request in `slot`.
pub fn parse_send<'a>(slot: &'a [u8], limits: &Limits) -> Result<SendWqe<'a>, WqeError> {
    use opcode::*;
    if slot.len() < send::DATA {
        return Err(WqeError::Truncated);
    }
    let code = u32_at(slot, send::OPCODE);
    let flags = u32_at(slot, send::SEND_FLAGS);
    let ex = u32_at(slot, send::EX);
    let addr = u64_at(slot, send::REMOTE_ADDR);
    let op = match code {
        SEND => Operation::Send { imm: None },
        SEND_WITH_IMM => Operation::Send { imm: Some(ex) },
        SEND_WITH_INV if !limits.ud => Operation::SendInvalidate { rkey: ex },
        RDMA_WRITE | RDMA_WRITE_WITH_IMM if !limits.ud => Operation::Write {
            addr,
            rkey: u32_at(slot, send::RDMA_RKEY),
            imm: (code == RDMA_WRITE_WITH_IMM).then_some(ex),
        },
        RDMA_READ if !limits.ud => Operation::Read {
            addr,
            rkey: u32_at(slot, send::RDMA_RKEY),
        },
        ATOMIC_CMP_AND_SWP if !limits.ud => Operation::CompareSwap {
            addr,
            rkey: u32_at(slot, send::ATOMIC_RKEY),
            compare: u64_at(slot, send::COMPARE_ADD),
            swap: u64_at(slot, send::SWAP),
        },
        ATOMIC_FETCH_AND_ADD if !limits.ud => Operation::FetchAdd {
            addr,
            rkey: u32_at(slot, send::ATOMIC_RKEY),
            add: u64_at(slot, send::COMPARE_ADD),
        },
        ATOMIC_WRITE if !limits.ud => Operation::AtomicWrite {
            addr,
            rkey: u32_at(slot, send::RDMA_RKEY),
        },
        LOCAL_INV if !limits.ud => Operation::LocalInvalidate { rkey: ex },
        BIND_MW if !limits.ud => Operation::BindMw(read_mw(slot)),
        // Laid out as a bind is (`write_reg`).
        REG_MR if !limits.ud && limits.fast_reg => {
            let b = read_mw(slot);
            Operation::RegMr(super::fastreg::Reg {
                mr_key: b.mr_lkey,
                key: b.new_rkey,
                access: b.access,
                iova: b.addr,
                length: b.length,
            })
        }
        FLUSH if !limits.ud => Operation::Flush {
            addr,
            rkey: u32_at(slot, send::FLUSH_RKEY),
            placement: slot[send::FLUSH_TYPE],
            level: slot[send::FLUSH_LEVEL],
        },
        _ => return Err(WqeError::BadOpcode(code)),
    };
    let local = matches!(
        op,
        Operation::LocalInvalidate { .. } | Operation::BindMw(_) | Operation::RegMr(_)
    );
    // A local operation moves no bytes, whatever the slot says.
    let length = if local {
        0
    } else {
        u32_at(slot, send::DMA_LENGTH)
    };
    // ATOMIC WRITE's eight bytes are in the request (librxe's
    // `dma.atomic_wr`), aligned; a FLUSH carries nothing, its length only
    // says how much to flush.
    let data = match op {
        Operation::AtomicWrite { addr, .. } => {
            if length != ATOMIC_BYTES || addr % ATOMIC_BYTES as u64 != 0 {
                return Err(WqeError::BadLength);
            }
            Data::Inline(
                slot.get(send::DATA..send::DATA + 8)
                    .ok_or(WqeError::Truncated)?,
            )
        }
        Operation::Flush {
            placement, level, ..
        } => {
            if placement & !3 != 0 || placement == 0 || level > 1 {
                return Err(WqeError::BadFlush);
            }
            Data::Inline(&[])
        }
        // Carried out here: no data, whatever the slot says.
        Operation::LocalInvalidate { .. } | Operation::BindMw(_) | Operation::RegMr(_) => {
            Data::Inline(&[])
        }
        _ => sent_data(slot, &op, flags, length, limits)?,
    };
    let ud = limits.ud.then(|| UdDest {
        remote_qpn: u32_at(slot, send::UD_REMOTE_QPN) & super::hdr::QPN_MASK,
        remote_qkey: u32_at(slot, send::UD_REMOTE_QKEY),
        ah_num: u32_at(slot, send::UD_AH_NUM),
    });
    Ok(SendWqe {
        wr_id: u64_at(slot, send::WR_ID),
        op,
        flags,
        length,
        data,
        ud,
    })
}

/// The data a request of `op` sends (or, for a READ, receives): inline in
/// its slot, or its scatter list, checked against `length` and the QP's
/// limits; an atomic's is eight bytes at an aligned address.
fn sent_data<'a>(
    slot: &'a [u8],
    op: &Operation,
    flags: u32,
    length: u32,
    limits: &Limits,
) -> Result<Data<'a>, WqeError> {
    let num_sge = u32_at(slot, send::DMA_NUM_SGE);
    // Inline data only goes out with what a request carries outbound.
    let inline = flags & send_flags::INLINE != 0 && !matches!(op, Operation::Read { .. });
    let data = if inline {
        if length > limits.max_inline {
            return Err(WqeError::InlineTooLong);
        }
        let end = send::DATA + length as usize;
        Data::Inline(slot.get(send::DATA..end).ok_or(WqeError::Truncated)?)
    } else {
        let sges = SgeList::new(slot, send::DATA, num_sge, limits.max_sge)?;
        if sges.total() != length as u64 {
            return Err(WqeError::BadLength);
        }
        Data::Sges(sges)
    };
    if length as u64 > MAX_MSG_BYTES {
        return Err(WqeError::BadLength);
    }
    if let Operation::CompareSwap { addr, .. } | Operation::FetchAdd { addr, .. } = *op {
        if length != ATOMIC_BYTES || addr % ATOMIC_BYTES as u64 != 0 {
            return Err(WqeError::BadLength);
        }
    }
    Ok(data)
}

/// The fields of a send request that a kernel consumer posts, to write
/// into a slot as librxe would (`struct rxe_send_wqe`): the requester then
/// reads a kernel QP's ring as it reads a process's.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendHead {
    pub wr_id: u64,
    /// One of [`opcode`].
    pub opcode: u32,
    /// [`send_flags`] bits.
    pub flags: u32,
    /// Immediate data (as on the wire) or the rkey to invalidate.
    pub ex: u32,
    /// Where an RDMA request reads or writes, and its key.
    pub remote_addr: u64,
    pub rkey: u32,
    /// A UD request's destination.
    pub ud: Option<UdDest>,
    /// An atomic's operands: the value to compare or add, and the value to
    /// swap in (compare and swap only).
    pub atomic: Option<(u64, u64)>,
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Writes `sges` as a scatter list at `at` in `slot`, with its count and
/// total length at `num_at` and `len_at`.
fn write_sges(
    slot: &mut [u8],
    at: usize,
    num_at: usize,
    len_at: usize,
    sges: impl Iterator<Item = Sge>,
) -> Result<(), WqeError> {
    let (mut n, mut total) = (0usize, 0u64);
    for sge in sges {
        let b = slot
            .get_mut(at + n * SGE_BYTES..at + (n + 1) * SGE_BYTES)
            .ok_or(WqeError::TooManySges)?;
        put64(b, 0, sge.addr);
        put32(b, 8, sge.length);
        put32(b, 12, sge.lkey);
        n += 1;
        total += sge.length as u64;
    }
    if total > MAX_MSG_BYTES {
        return Err(WqeError::BadLength);
    }
    put32(slot, num_at, n as u32);
    put32(slot, len_at, total as u32);
    Ok(())
}

/// Writes everything of a send request but its data.
fn write_head(slot: &mut [u8], h: &SendHead) -> Result<(), WqeError> {
    use opcode::*;
    if slot.len() < send::DATA {
        return Err(WqeError::Truncated);
    }
    slot[..send::DATA].fill(0);
    put64(slot, send::WR_ID, h.wr_id);
    put32(slot, send::OPCODE, h.opcode);
    put32(slot, send::SEND_FLAGS, h.flags);
    put32(slot, send::EX, h.ex);
    match (h.ud, h.opcode) {
        (Some(ud), _) => {
            put32(slot, send::UD_REMOTE_QPN, ud.remote_qpn);
            put32(slot, send::UD_REMOTE_QKEY, ud.remote_qkey);
            put32(slot, send::UD_AH_NUM, ud.ah_num);
        }
        (None, ATOMIC_CMP_AND_SWP | ATOMIC_FETCH_AND_ADD) => {
            let (compare_add, swap) = h.atomic.ok_or(WqeError::BadOpcode(h.opcode))?;
            put64(slot, send::REMOTE_ADDR, h.remote_addr);
            put64(slot, send::COMPARE_ADD, compare_add);
            put64(slot, send::SWAP, swap);
            put32(slot, send::ATOMIC_RKEY, h.rkey);
        }
        (None, _) => {
            put64(slot, send::REMOTE_ADDR, h.remote_addr);
            put32(slot, send::RDMA_RKEY, h.rkey);
        }
    }
    Ok(())
}

/// Writes a send request whose data is in registered memory (`sges`).
pub fn write_send(
    slot: &mut [u8],
    head: &SendHead,
    sges: impl Iterator<Item = Sge>,
) -> Result<(), WqeError> {
    write_head(slot, head)?;
    write_sges(slot, send::DATA, send::DMA_NUM_SGE, send::DMA_LENGTH, sges)
}

/// Writes a send request that carries its `len` bytes of data itself
/// (`send_flags::INLINE`); returns the room the caller copies them into.
pub fn write_send_inline<'s>(
    slot: &'s mut [u8],
    head: &SendHead,
    len: usize,
) -> Result<&'s mut [u8], WqeError> {
    write_head(slot, head)?;
    if slot.len() < send::DATA + len {
        return Err(WqeError::InlineTooLong);
    }
    put32(slot, send::DMA_LENGTH, len as u32);
    Ok(&mut slot[send::DATA..send::DATA + len])
}

/// Writes a BIND_MW request as librxe's `wr_bind_mw` does: `head`'s ID
/// and flags, and the binding in `wr.mw`.
pub fn write_bind(slot: &mut [u8], head: &SendHead, b: &super::mw::Bind) -> Result<(), WqeError> {
    write_mw(slot, head, opcode::BIND_MW, b)
}

/// Writes a kernel consumer's REG_MR request, in the places of a bind
/// (see [`parse_send`]).
pub fn write_reg(
    slot: &mut [u8],
    head: &SendHead,
    r: &super::fastreg::Reg,
) -> Result<(), WqeError> {
    let b = super::mw::Bind {
        mw_rkey: 0,
        new_rkey: r.key,
        mr_lkey: r.mr_key,
        addr: r.iova,
        length: r.length,
        access: r.access,
    };
    write_mw(slot, head, opcode::REG_MR, &b)
}

/// Writes a local operation of `code` laid out in `wr.mw`, with no data.
fn write_mw(
    slot: &mut [u8],
    head: &SendHead,
    code: u32,
    b: &super::mw::Bind,
) -> Result<(), WqeError> {
    write_head(
        slot,
        &SendHead {
            opcode: code,
            ..*head
        },
    )?;
    put64(slot, send::MW_ADDR, b.addr);
    put64(slot, send::MW_LENGTH, b.length);
    put32(slot, send::MW_MR_LKEY, b.mr_lkey);
    put32(slot, send::MW_MW_RKEY, b.mw_rkey);
    put32(slot, send::MW_RKEY, b.new_rkey);
    put32(slot, send::MW_ACCESS, b.access);
    put32(slot, send::DMA_LENGTH, 0);
    put32(slot, send::DMA_NUM_SGE, 0);
    Ok(())
}

/// `wr.mw` of a send slot (BIND_MW, and REG_MR in the same places).
fn read_mw(slot: &[u8]) -> super::mw::Bind {
    super::mw::Bind {
        mw_rkey: u32_at(slot, send::MW_MW_RKEY),
        new_rkey: u32_at(slot, send::MW_RKEY),
        mr_lkey: u32_at(slot, send::MW_MR_LKEY),
        addr: u64_at(slot, send::MW_ADDR),
        length: u64_at(slot, send::MW_LENGTH),
        access: u32_at(slot, send::MW_ACCESS),
    }
}

/// Writes a FLUSH request as librxe's `wr_flush` does: its placement
/// type and level in `wr.flush`, its length in `dma.length`.
pub fn write_flush(
    slot: &mut [u8],
    head: &SendHead,
    len: u32,
    placement: u8,
    level: u8,
) -> Result<(), WqeError> {
    write_head(slot, head)?;
    put32(slot, send::RDMA_RKEY, 0);
    put32(slot, send::FLUSH_RKEY, head.rkey);
    slot[send::FLUSH_TYPE] = placement;
    slot[send::FLUSH_LEVEL] = level;
    put32(slot, send::DMA_LENGTH, len);
    Ok(())
}

/// Writes a receive request (`struct rxe_recv_wqe`).
pub fn write_recv(
    slot: &mut [u8],
    wr_id: u64,
    sges: impl Iterator<Item = Sge>,
) -> Result<(), WqeError> {
    if slot.len() < recv::SGE {
        return Err(WqeError::Truncated);
    }
    slot[..recv::SGE].fill(0);
    put64(slot, recv::WR_ID, wr_id);
    write_sges(slot, recv::SGE, recv::DMA_NUM_SGE, recv::DMA_LENGTH, sges)
}

/// A checked receive request.
#[derive(Clone, Copy, Debug)]
pub struct RecvWqe<'a> {
    pub wr_id: u64,
    /// The room the scatter list offers.
    pub length: u32,
    pub sges: SgeList<'a>,
}

/// Reads and checks the receive request in `slot`.
pub fn parse_recv(slot: &[u8], max_sge: u32) -> Result<RecvWqe<'_>, WqeError> {
    if slot.len() < recv::SGE {
        return Err(WqeError::Truncated);
    }
    let num_sge = u32_at(slot, recv::DMA_NUM_SGE);
    let sges = SgeList::new(slot, recv::SGE, num_sge, max_sge)?;
    // librxe writes the sum of the lengths; the room is what the list
    // really offers, and a process claiming more gets refused.
    let length = u32_at(slot, recv::DMA_LENGTH);
    if sges.total() != length as u64 || length as u64 > MAX_MSG_BYTES {
        return Err(WqeError::BadLength);
    }
    Ok(RecvWqe {
        wr_id: u64_at(slot, recv::WR_ID),
        length,
        sges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const RC: Limits = Limits {
        max_sge: 4,
        max_inline: 64,
        ud: false,
        fast_reg: false,
    };
    const UD: Limits = Limits { ud: true, ..RC };

    /// A send slot as librxe's init_send_wqe fills it.
    struct SendSlot([u8; 512]);

    impl SendSlot {
        fn new(code: u32, flags: u32) -> Self {
            let mut s = SendSlot([0; 512]);
            s.put32(send::OPCODE, code);
            s.put32(send::SEND_FLAGS, flags);
            s.put64(send::WR_ID, 0x1122_3344_5566_7788);
            s
        }
        fn put32(&mut self, at: usize, v: u32) -> &mut Self {
            self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            self
        }
        fn put64(&mut self, at: usize, v: u64) -> &mut Self {
            self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
            self
        }
        fn sges(&mut self, list: &[(u64, u32, u32)]) -> &mut Self {
            let mut total = 0u32;
            for (i, &(addr, len, lkey)) in list.iter().enumerate() {
                let at = send::DATA + i * SGE_BYTES;
                self.put64(at, addr).put32(at + 8, len).put32(at + 12, lkey);
                total = len.wrapping_add(total);
            }
            self.put32(send::DMA_NUM_SGE, list.len() as u32)
                .put32(send::DMA_LENGTH, total)
        }
        fn inline(&mut self, data: &[u8]) -> &mut Self {
            self.0[send::DATA..send::DATA + data.len()].copy_from_slice(data);
            self.put32(send::DMA_LENGTH, data.len() as u32)
        }
    }

    #[test]
    fn a_send_with_two_sges() {
        let mut s = SendSlot::new(opcode::SEND_WITH_IMM, send_flags::SIGNALED);
        s.put32(send::EX, 0xdead_beef)
            .sges(&[(0x1000, 100, 0x105), (0x9000, 28, 0x206)]);
        let w = parse_send(&s.0, &RC).unwrap();
        assert_eq!(w.wr_id, 0x1122_3344_5566_7788);
        assert_eq!(
            w.op,
            Operation::Send {
                imm: Some(0xdead_beef)
            }
        );
        assert_eq!(w.length, 128);
        let Data::Sges(l) = w.data else { panic!() };
        assert_eq!(l.len(), 2);
        assert_eq!(
            l.get(1),
            Some(Sge {
                addr: 0x9000,
                length: 28,
                lkey: 0x206
            })
        );
        assert!(w.ud.is_none());
    }

    #[test]
    fn rdma_and_atomics() {
        let mut s = SendSlot::new(opcode::RDMA_WRITE_WITH_IMM, 0);
        s.put64(send::REMOTE_ADDR, 0xabc0)
            .put32(send::RDMA_RKEY, 0x77)
            .put32(send::EX, 5);
        s.sges(&[(1, 10, 2)]);
        let w = parse_send(&s.0, &RC).unwrap();
        assert_eq!(
            w.op,
            Operation::Write {
                addr: 0xabc0,
                rkey: 0x77,
                imm: Some(5)
            }
        );
        let mut s = SendSlot::new(opcode::ATOMIC_CMP_AND_SWP, 0);
        s.put64(send::REMOTE_ADDR, 0x1000)
            .put32(send::ATOMIC_RKEY, 9);
        s.put64(send::COMPARE_ADD, 3)
            .put64(send::SWAP, 4)
            .sges(&[(0x2000, 8, 1)]);
        let w = parse_send(&s.0, &RC).unwrap();
        assert_eq!(
            w.op,
            Operation::CompareSwap {
                addr: 0x1000,
                rkey: 9,
                compare: 3,
                swap: 4
            }
        );
        // Misaligned, or not eight bytes: refused.
        s.put64(send::REMOTE_ADDR, 0x1004);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::BadLength);
        s.put64(send::REMOTE_ADDR, 0x1000).sges(&[(0x2000, 4, 1)]);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::BadLength);
    }

    #[test]
    fn inline_data() {
        let mut s = SendSlot::new(opcode::SEND, send_flags::INLINE);
        s.inline(b"hello, world");
        let w = parse_send(&s.0, &RC).unwrap();
        let Data::Inline(d) = w.data else { panic!() };
        assert_eq!(d, b"hello, world");
        s.put32(send::DMA_LENGTH, 65);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::InlineTooLong);
    }

    #[test]
    fn ud_takes_sends_only_and_a_destination() {
        let mut s = SendSlot::new(opcode::SEND, 0);
        s.put32(send::UD_REMOTE_QPN, 0xff12_3456)
            .put32(send::UD_REMOTE_QKEY, 0x1111);
        s.put32(send::UD_AH_NUM, 3).sges(&[(0, 0, 0)]);
        let w = parse_send(&s.0, &UD).unwrap();
        assert_eq!(
            w.ud,
            Some(UdDest {
                remote_qpn: 0x12_3456,
                remote_qkey: 0x1111,
                ah_num: 3
            })
        );
        s.put32(send::OPCODE, opcode::RDMA_WRITE);
        assert_eq!(parse_send(&s.0, &UD).unwrap_err(), WqeError::BadOpcode(0));
    }

    #[test]
    fn lists_and_lengths_are_checked() {
        let mut s = SendSlot::new(opcode::SEND, 0);
        s.sges(&[(0, 1, 0); 5]);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::TooManySges);
        s.sges(&[(0, 1, 0); 3]).put32(send::DMA_LENGTH, 4);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::BadLength);
        // The list may not run past the slot.
        s.sges(&[(0, 1, 0); 3]);
        assert_eq!(
            parse_send(&s.0[..send::DATA + 20], &RC).unwrap_err(),
            WqeError::Truncated
        );
        // Lengths summing past 32 bits do not wrap into a match.
        s.sges(&[(0, u32::MAX, 0), (0, 1, 0)])
            .put32(send::DMA_LENGTH, 0);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::BadLength);
        s.put32(send::OPCODE, 42);
        assert_eq!(parse_send(&s.0, &RC).unwrap_err(), WqeError::BadOpcode(42));
    }

    #[test]
    fn receives() {
        let mut b = [0u8; 200];
        b[0..8].copy_from_slice(&7u64.to_ne_bytes());
        b[recv::DMA_NUM_SGE..recv::DMA_NUM_SGE + 4].copy_from_slice(&2u32.to_ne_bytes());
        b[recv::DMA_LENGTH..recv::DMA_LENGTH + 4].copy_from_slice(&300u32.to_ne_bytes());
        for (i, len) in [100u32, 200].iter().enumerate() {
            let at = recv::SGE + i * SGE_BYTES + 8;
            b[at..at + 4].copy_from_slice(&len.to_ne_bytes());
        }
        let w = parse_recv(&b, 2).unwrap();
        assert_eq!((w.wr_id, w.length, w.sges.len()), (7, 300, 2));
        assert_eq!(parse_recv(&b, 1).unwrap_err(), WqeError::TooManySges);
        b[recv::DMA_LENGTH] = 0;
        assert_eq!(parse_recv(&b, 2).unwrap_err(), WqeError::BadLength);
    }

    #[test]
    fn what_a_kernel_consumer_posts_reads_back() {
        let limits = Limits {
            max_sge: 2,
            max_inline: 64,
            ud: false,
            fast_reg: true,
        };
        let mut slot = [0xa5u8; send::DATA + 2 * SGE_BYTES];
        let head = SendHead {
            wr_id: 7,
            opcode: opcode::RDMA_WRITE_WITH_IMM,
            flags: send_flags::SIGNALED,
            ex: 0x1234,
            remote_addr: 0x1000,
            rkey: 0x301,
            ud: None,
            atomic: None,
        };
        let sges = [
            Sge {
                addr: 0xffff_8880_0000_0000,
                length: 100,
                lkey: 0x101,
            },
            Sge {
                addr: 0xffff_8880_0000_1000,
                length: 28,
                lkey: 0x101,
            },
        ];
        write_send(&mut slot, &head, sges.iter().copied()).unwrap();
        let w = parse_send(&slot, &limits).unwrap();
        assert_eq!((w.wr_id, w.length, w.flags), (7, 128, send_flags::SIGNALED));
        assert_eq!(
            w.op,
            Operation::Write {
                addr: 0x1000,
                rkey: 0x301,
                imm: Some(0x1234)
            }
        );
        let Data::Sges(list) = w.data else {
            panic!("not a scatter list")
        };
        assert!(list.iter().eq(sges.iter().copied()));
        // A third entry does not fit.
        let three = [sges[0]; 3];
        assert_eq!(
            write_send(&mut slot, &head, three.iter().copied()),
            Err(WqeError::TooManySges)
        );

        let ud = UdDest {
            remote_qpn: 1,
            remote_qkey: 0x8001_0000,
            ah_num: 0,
        };
        let head = SendHead {
            opcode: opcode::SEND,
            flags: send_flags::INLINE,
            ud: Some(ud),
            ..head
        };
        write_send_inline(&mut slot, &head, 5)
            .unwrap()
            .copy_from_slice(b"hello");
        let w = parse_send(&slot, &Limits { ud: true, ..limits }).unwrap();
        assert_eq!((w.ud, w.length), (Some(ud), 5));
        assert!(matches!(w.data, Data::Inline(b"hello")));
        assert_eq!(
            write_send_inline(&mut slot, &head, 33),
            Err(WqeError::InlineTooLong)
        );

        let mut slot = [0u8; recv::SGE + SGE_BYTES];
        write_recv(&mut slot, 9, sges[..1].iter().copied()).unwrap();
        let r = parse_recv(&slot, 1).unwrap();
        assert_eq!((r.wr_id, r.length, r.sges.get(0)), (9, 100, Some(sges[0])));
    }

    #[test]
    fn noise_never_panics_and_what_passes_is_in_range() {
        let mut rng = Rng::new(11);
        let mut slot = [0u8; 512];
        for _ in 0..100_000 {
            for chunk in slot.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_ne_bytes()[..chunk.len()]);
            }
            // Small counts now and then, so that some pass.
            if rng.bool() {
                slot[send::DMA_NUM_SGE..send::DMA_NUM_SGE + 4]
                    .copy_from_slice(&(rng.next_u32() % 6).to_ne_bytes());
                slot[send::OPCODE..send::OPCODE + 4]
                    .copy_from_slice(&(rng.next_u32() % 16).to_ne_bytes());
            }
            let n = rng.next_u32() as usize % slot.len();
            for l in [RC, UD] {
                if let Ok(w) = parse_send(&slot[..n], &l) {
                    match w.data {
                        Data::Inline(d) => assert!(d.len() as u32 <= l.max_inline),
                        Data::Sges(s) => assert!(s.len() as u32 <= l.max_sge),
                    }
                    assert!(w.length as u64 <= MAX_MSG_BYTES);
                }
            }
            if let Ok(w) = parse_recv(&slot[..n], 4) {
                assert!(w.sges.len() <= 4);
            }
        }
    }
}
