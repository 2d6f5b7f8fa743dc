// SPDX-License-Identifier: GPL-2.0

//! Device and port limits, as the C rxe advertises them (rxe_param.h), so
//! that tools and applications see the same device whichever driver runs;
//! but only for what is implemented (an application that looks before it
//! leaps, as UCX, SPDK and libfabric do, must not leap into a hole).

/// Default ceiling of the object counts.
pub(crate) const DEFAULT_MAX_VALUE: u32 = 1 << 20;

pub(crate) const VENDOR_ID: u32 = 0x00ff_ffff;
pub(crate) const MAX_MR_SIZE: u64 = u64::MAX;
pub(crate) const PAGE_SIZE_CAP: u64 = 0xffff_f000;
pub(crate) const MIN_QP_INDEX: u32 = 16;
pub(crate) const MAX_QP: u32 = DEFAULT_MAX_VALUE - MIN_QP_INDEX;
pub(crate) const MAX_QP_WR: u32 = DEFAULT_MAX_VALUE;
pub(crate) const MAX_SGE: u32 = 32;
pub(crate) const MAX_SGE_RD: u32 = 32;
pub(crate) const MAX_CQ: u32 = DEFAULT_MAX_VALUE;
pub(crate) const MAX_LOG_CQE: u32 = 15;
pub(crate) const MAX_PD: u32 = DEFAULT_MAX_VALUE;
pub(crate) const MIN_MR_INDEX: u32 = 1;
pub(crate) const MAX_MR_INDEX: u32 = DEFAULT_MAX_VALUE >> 1;
pub(crate) const MAX_MR: u32 = MAX_MR_INDEX - MIN_MR_INDEX;
/// Memory windows' keys have indices above every MR's.
pub(crate) const MIN_MW_INDEX: u32 = MAX_MR_INDEX + 1;
pub(crate) const MAX_MW_INDEX: u32 = DEFAULT_MAX_VALUE;
pub(crate) const MAX_MW: u32 = MAX_MW_INDEX - MIN_MW_INDEX;
pub(crate) const MAX_QP_RD_ATOM: u32 = crate::proto::modify::MAX_RD_ATOMIC as u32;
pub(crate) const MAX_RES_RD_ATOM: u32 = 0x3f000;
pub(crate) const MAX_QP_INIT_RD_ATOM: u32 = 128;
pub(crate) const MAX_AH: u32 = (1 << 15) - 1;
pub(crate) const MIN_SRQ_INDEX: u32 = 0x0002_0001;
pub(crate) const MAX_SRQ: u32 = DEFAULT_MAX_VALUE - MIN_SRQ_INDEX;
pub(crate) const MAX_SRQ_WR: u32 = DEFAULT_MAX_VALUE;
pub(crate) const MAX_SRQ_SGE: u32 = 27;
pub(crate) const MAX_PKEYS: u16 = 64;
pub(crate) const LOCAL_CA_ACK_DELAY: u8 = 15;

/// Port: GIDs follow the netdev's addresses through the RDMA core.
pub(crate) const PORT_GID_TBL_LEN: i32 = 1024;
pub(crate) const PORT_MAX_MSG_SZ: u32 = 1 << 31;
pub(crate) const PORT_PKEY_TBL_LEN: u16 = 1;
pub(crate) const PORT_MAX_VL_NUM: u8 = 1;
/// The default, full-membership P_Key, the only entry of the table.
pub(crate) const DEFAULT_PKEY: u16 = 0xffff;

/// Bytes of headers a RoCEv2 packet may carry beyond the IB MTU (the C
/// rxe's RXE_MAX_HDR_LENGTH): the path MTU is what remains of the netdev's.
pub(crate) const MAX_HDR_LENGTH: u32 = 80;
