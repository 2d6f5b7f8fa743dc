// SPDX-License-Identifier: GPL-2.0

//! What a device and its port report (`ibv_query_device`,
//! `ibv_query_port`), in typed form, written into the core's `struct
//! ib_device_attr` and `struct ib_port_attr` in one place.

use super::bindings as sys;

/// The device capability flags (`enum ib_device_cap_flags`) a software
/// RoCE device may report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCaps(u64);

impl DeviceCaps {
    pub const BAD_PKEY_CNTR: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_BAD_PKEY_CNTR as u64);
    pub const BAD_QKEY_CNTR: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_BAD_QKEY_CNTR as u64);
    pub const CHANGE_PHY_PORT: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_CHANGE_PHY_PORT as u64);
    pub const UD_AV_PORT_ENFORCE: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_UD_AV_PORT_ENFORCE as u64);
    pub const PORT_ACTIVE_EVENT: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_PORT_ACTIVE_EVENT as u64);
    pub const SYS_IMAGE_GUID: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_SYS_IMAGE_GUID as u64);
    pub const RC_RNR_NAK_GEN: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_RC_RNR_NAK_GEN as u64);
    pub const SRQ_RESIZE: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_SRQ_RESIZE as u64);
    pub const FLUSH_GLOBAL: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_FLUSH_GLOBAL as u64);
    pub const ATOMIC_WRITE: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_ATOMIC_WRITE as u64);
    pub const MEM_WINDOW: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_MEM_WINDOW as u64);
    pub const MEM_WINDOW_TYPE_2B: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_MEM_WINDOW_TYPE_2B as u64);
    /// Fast registration, LOCAL_INV and SEND_WITH_INV.
    pub const MEM_MGT_EXTENSIONS: DeviceCaps =
        DeviceCaps(sys::ib_device_cap_flags_IB_DEVICE_MEM_MGT_EXTENSIONS as u64);

    pub const fn union(self, other: DeviceCaps) -> DeviceCaps {
        DeviceCaps(self.0 | other.0)
    }
}

/// Atomic operations' guarantee (`enum ib_atomic_cap`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AtomicCap {
    /// No atomic operations.
    #[default]
    None,
    /// Atomic among the device's own atomics (`IB_ATOMIC_HCA`), not
    /// against the CPUs'.
    Hca,
}

/// What a transport may do with memory paged on demand
/// (`enum ib_odp_transport_cap_bits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OdpOps(u32);

impl OdpOps {
    pub const SEND: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_SEND);
    pub const RECV: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_RECV);
    pub const WRITE: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_WRITE);
    pub const READ: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_READ);
    pub const ATOMIC: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_ATOMIC);
    pub const SRQ_RECV: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_SRQ_RECV);
    pub const FLUSH: OdpOps = OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_FLUSH);
    pub const ATOMIC_WRITE: OdpOps =
        OdpOps(sys::ib_odp_transport_cap_bits_IB_ODP_SUPPORT_ATOMIC_WRITE);

    /// `self` and `other` together, in constant expressions.
    pub const fn union(self, other: OdpOps) -> OdpOps {
        OdpOps(self.0 | other.0)
    }
}

/// Memory paged on demand (`IB_ACCESS_ON_DEMAND` MRs of a given range;
/// not implicit ones), and what RC and UD QPs may do with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OdpCaps {
    pub rc: OdpOps,
    pub ud: OdpOps,
}

/// What `ibv_query_device` reports. Fields left out are 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceAttr {
    pub vendor_id: u32,
    pub max_mr_size: u64,
    pub page_size_cap: u64,
    /// In host order; reported in network order.
    pub sys_image_guid: u64,
    pub max_qp: u32,
    pub max_qp_wr: u32,
    pub device_caps: DeviceCaps,
    /// `rdma link del` may remove the device while processes hold it
    /// (`IBK_ALLOW_USER_UNREG`).
    pub allow_user_unreg: bool,
    /// Memory paged on demand, if offered.
    pub odp: Option<OdpCaps>,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_sge_rd: u32,
    pub max_cq: u32,
    pub max_cqe: u32,
    pub max_mr: u32,
    pub max_mw: u32,
    pub max_pd: u32,
    pub max_qp_rd_atom: u32,
    pub max_res_rd_atom: u32,
    pub max_qp_init_rd_atom: u32,
    pub atomic_cap: AtomicCap,
    pub max_mcast_grp: u32,
    pub max_mcast_qp_attach: u32,
    pub max_total_mcast_qp_attach: u32,
    pub max_ah: u32,
    pub max_srq: u32,
    pub max_srq_wr: u32,
    pub max_srq_sge: u32,
    pub max_fast_reg_page_list_len: u32,
    pub max_pkeys: u16,
    pub local_ca_ack_delay: u8,
}

impl DeviceAttr {
    /// Writes the attributes into the core's, which is zeroed first.
    pub(crate) fn write_raw(&self, a: &mut sys::ib_device_attr) {
        *a = sys::ib_device_attr::default();
        a.vendor_id = self.vendor_id;
        a.max_mr_size = self.max_mr_size;
        a.page_size_cap = self.page_size_cap;
        a.sys_image_guid = self.sys_image_guid.to_be();
        a.max_qp = self.max_qp;
        a.max_qp_wr = self.max_qp_wr;
        a.device_cap_flags = self.device_caps.0;
        if self.allow_user_unreg {
            a.kernel_cap_flags = sys::ib_kernel_cap_flags_IBK_ALLOW_USER_UNREG as u64;
        }
        if let Some(odp) = self.odp {
            a.kernel_cap_flags |= sys::ib_kernel_cap_flags_IBK_ON_DEMAND_PAGING as u64;
            a.odp_caps.general_caps = sys::ib_odp_general_cap_bits_IB_ODP_SUPPORT as u64;
            a.odp_caps.per_transport_caps.rc_odp_caps = odp.rc.0;
            a.odp_caps.per_transport_caps.ud_odp_caps = odp.ud.0;
        }
        a.max_send_sge = self.max_send_sge;
        a.max_recv_sge = self.max_recv_sge;
        a.max_sge_rd = self.max_sge_rd;
        a.max_cq = self.max_cq;
        a.max_cqe = self.max_cqe;
        a.max_mr = self.max_mr;
        a.max_mw = self.max_mw;
        a.max_pd = self.max_pd;
        a.max_qp_rd_atom = self.max_qp_rd_atom;
        a.max_res_rd_atom = self.max_res_rd_atom;
        a.max_qp_init_rd_atom = self.max_qp_init_rd_atom;
        a.atomic_cap = match self.atomic_cap {
            AtomicCap::None => sys::ib_atomic_cap_IB_ATOMIC_NONE,
            AtomicCap::Hca => sys::ib_atomic_cap_IB_ATOMIC_HCA,
        };
        a.max_mcast_grp = self.max_mcast_grp;
        a.max_mcast_qp_attach = self.max_mcast_qp_attach;
        a.max_total_mcast_qp_attach = self.max_total_mcast_qp_attach;
        a.max_ah = self.max_ah;
        a.max_srq = self.max_srq;
        a.max_srq_wr = self.max_srq_wr;
        a.max_srq_sge = self.max_srq_sge;
        a.max_fast_reg_page_list_len = self.max_fast_reg_page_list_len;
        a.max_pkeys = self.max_pkeys;
        a.local_ca_ack_delay = self.local_ca_ack_delay;
    }
}

/// The logical state of a port (`enum ib_port_state`) with its physical
/// state (`enum ib_port_phys_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortState {
    /// The link is up and carries traffic.
    Active,
    /// Down, its netdev up but without carrier.
    Polling,
    /// Down, its netdev down.
    #[default]
    Disabled,
}

/// What `ibv_query_port` reports. Fields left out are 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortAttr {
    pub state: PortState,
    /// `enum ib_mtu` ([`super::qp::ib_mtu_of`]).
    pub max_mtu: u32,
    pub active_mtu: u32,
    pub gid_tbl_len: i32,
    /// The port supports connection management (`IB_PORT_CM_SUP`).
    pub cm_supported: bool,
    pub max_msg_sz: u32,
    pub pkey_tbl_len: u16,
    pub max_vl_num: u8,
    pub bad_pkey_cntr: u32,
    pub qkey_viol_cntr: u32,
    /// `enum ib_port_speed` and `enum ib_port_width`, as the core derives
    /// them from the netdev's link speed.
    pub active_speed: u16,
    pub active_width: u8,
}

impl PortAttr {
    /// Writes the attributes into the core's. The core has set what it
    /// owns (the GID table's kind) before calling the driver, so only the
    /// driver's fields are written.
    pub(crate) fn write_raw(&self, a: &mut sys::ib_port_attr) {
        let (state, phys) = match self.state {
            PortState::Active => (
                sys::ib_port_state_IB_PORT_ACTIVE,
                sys::ib_port_phys_state_IB_PORT_PHYS_STATE_LINK_UP,
            ),
            PortState::Polling => (
                sys::ib_port_state_IB_PORT_DOWN,
                sys::ib_port_phys_state_IB_PORT_PHYS_STATE_POLLING,
            ),
            PortState::Disabled => (
                sys::ib_port_state_IB_PORT_DOWN,
                sys::ib_port_phys_state_IB_PORT_PHYS_STATE_DISABLED,
            ),
        };
        a.state = state;
        a.phys_state = phys as u8;
        a.max_mtu = self.max_mtu;
        a.active_mtu = self.active_mtu;
        a.gid_tbl_len = self.gid_tbl_len;
        a.port_cap_flags = if self.cm_supported {
            sys::ib_port_capability_mask_bits_IB_PORT_CM_SUP
        } else {
            0
        };
        a.max_msg_sz = self.max_msg_sz;
        a.pkey_tbl_len = self.pkey_tbl_len;
        a.max_vl_num = self.max_vl_num;
        a.bad_pkey_cntr = self.bad_pkey_cntr;
        a.qkey_viol_cntr = self.qkey_viol_cntr;
        a.active_speed = self.active_speed;
        a.active_width = self.active_width;
    }
}
