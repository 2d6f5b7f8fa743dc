// SPDX-License-Identifier: GPL-2.0

//! UD multicast (the C rxe's rxe_mcast.c): the groups a device's UD QPs
//! are attached to, and the receive path's copy of a multicast datagram to
//! each of them.
//!
//! A group is named by its GID, an IPv4-mapped or IPv6 multicast address.
//! The first QP attached to a group makes the netdev take frames to the
//! group's MAC (`dev_mc_add`) and joins the group's IP membership on it
//! (IGMP or MLD), without which the stack drops the datagrams before UDP
//! sees them; the last one detached undoes both. The C rxe leaves the
//! membership to the application (`rdma_join_multicast` takes it, a raw
//! verbs program joins with a socket), so a datagram reaches its QPs only
//! while some socket of the host is in the group. Here the attachment is
//! enough, as on a RoCE NIC, which takes the group's frames before any IP
//! stack: a process restored by CRIU, which does not restore its sockets'
//! memberships, keeps getting its groups' datagrams. A membership the
//! application took as well is counted apart and stays its own.
//!
//! The table is read in the receive path (softirq), so a spinlock guards
//! it; attach and detach, which call into the netdev outside it, are
//! serialised by a mutex.

use crate::counters::Counter;
use crate::proto::engine::is_v4_mapped;
use crate::proto::roce::multicast_mac;
use crate::rdma::device::Device;
use crate::rdma::netdev::IpGroup;
use crate::rdma::skb::SkBuff;
use crate::Rxe;
use kernel::new_mutex;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{Mutex, SpinLockIrq};

/// Groups a device has at most (`max_mcast_grp`).
pub(crate) const MAX_GROUPS: usize = 256;
/// QPs a group has at most (`max_mcast_qp_attach`, the C rxe's).
pub(crate) const MAX_QP_ATTACH: usize = 56;

/// A group and the QPs attached to it.
struct Group {
    gid: [u8; 16],
    len: usize,
    qpns: [u32; MAX_QP_ATTACH],
    /// The LID each QP was attached with (RoCE has no use for it; a
    /// checkpoint keeps it, as the core does, for the detach).
    lids: [u16; MAX_QP_ATTACH],
    /// Whether the group holds an IP membership on the netdev.
    joined: bool,
}

impl Group {
    fn members(&self) -> &[u32] {
        &self.qpns[..self.len]
    }
}

/// A device's multicast groups.
#[pin_data]
pub(crate) struct Groups {
    /// Serialises attach and detach.
    #[pin]
    writers: Mutex<()>,
    /// The groups, sorted by GID; its capacity is `MAX_GROUPS` from the
    /// start, so nothing is allocated under the lock.
    #[pin]
    table: SpinLockIrq<KVec<KBox<Group>>>,
}

impl Groups {
    pub(crate) fn new() -> Result<impl PinInit<Self>> {
        let table = KVec::with_capacity(MAX_GROUPS, GFP_KERNEL)?;
        Ok(pin_init!(Groups {
            writers <- new_mutex!(()),
            table <- new_spinlock_irq!(table),
        }))
    }

    /// Attaches QP `qpn` of `dev` to group `gid` with `lid`; no error if
    /// it is attached already. ENOMEM when the device has `MAX_GROUPS`
    /// groups or the group `MAX_QP_ATTACH` QPs, as the C rxe.
    pub(crate) fn attach(&self, dev: &Device<Rxe>, gid: &[u8; 16], qpn: u32, lid: u16) -> Result {
        let _writer = self.writers.lock();
        let exists = {
            let t = self.table.lock();
            match find(&t, gid) {
                Ok(i) if t[i].members().contains(&qpn) => return Ok(()),
                Ok(i) if t[i].len == MAX_QP_ATTACH => return Err(ENOMEM),
                Ok(_) => true,
                Err(_) if t.len() == MAX_GROUPS => return Err(ENOMEM),
                Err(_) => false,
            }
        };
        if exists {
            let mut t = self.table.lock();
            // Writers are serialised: the group is still there, with room.
            let i = find(&t, gid).map_err(|_| EINVAL)?;
            let g = &mut t[i];
            let n = g.len;
            g.qpns[n] = qpn;
            g.lids[n] = lid;
            g.len = n + 1;
            return Ok(());
        }
        let mut group = KBox::new(
            Group {
                gid: *gid,
                len: 1,
                qpns: [0; MAX_QP_ATTACH],
                lids: [0; MAX_QP_ATTACH],
                joined: false,
            },
            GFP_KERNEL,
        )?;
        group.qpns[0] = qpn;
        group.lids[0] = lid;
        let ndev = dev.netdev(1).ok_or(ENODEV)?;
        let mac = multicast_mac(gid);
        ndev.mc_add(&mac)?;
        // A netdev without IP of the group's family takes no datagram to
        // it anyway; the attachment stands, as on the C rxe.
        let joined = ndev.ip_mc_join(ip_group(gid)).is_ok();
        group.joined = joined;
        let listed = {
            let mut t = self.table.lock();
            // Writers are serialised: nobody made the group meanwhile, and
            // there is room (fewer than `MAX_GROUPS`, checked above).
            match find(&t, gid) {
                Err(at) => t.insert_within_capacity(at, group).is_ok(),
                Ok(_) => false,
            }
        };
        if !listed {
            if joined {
                ndev.ip_mc_leave(ip_group(gid));
            }
            let _ = ndev.mc_del(&mac);
            return Err(ENOMEM);
        }
        Ok(())
    }

    /// Detaches QP `qpn` from group `gid`: EINVAL if it is not attached.
    pub(crate) fn detach(&self, dev: &Device<Rxe>, gid: &[u8; 16], qpn: u32) -> Result {
        let _writer = self.writers.lock();
        let emptied = {
            let mut t = self.table.lock();
            let i = find(&t, gid).map_err(|_| EINVAL)?;
            let g = &mut t[i];
            let k = g.members().iter().position(|&q| q == qpn).ok_or(EINVAL)?;
            let last = g.len - 1;
            g.qpns[k] = g.qpns[last];
            g.lids[k] = g.lids[last];
            g.len = last;
            if g.len == 0 {
                t.remove(i).ok()
            } else {
                None
            }
        };
        if let Some(group) = emptied {
            // The netdev may be gone with its namespace; then so are its
            // addresses.
            if let Some(ndev) = dev.netdev(1) {
                if group.joined {
                    ndev.ip_mc_leave(ip_group(&group.gid));
                }
                let _ = ndev.mc_del(&multicast_mac(&group.gid));
            }
        }
        Ok(())
    }

    /// The first group QP `qpn` is attached to.
    fn group_of(&self, qpn: u32) -> Option<[u8; 16]> {
        let t = self.table.lock();
        t.iter().find(|g| g.members().contains(&qpn)).map(|g| g.gid)
    }

    /// The groups QP `qpn` is attached to, each with the LID it was
    /// attached with, in the order of their GIDs.
    pub(crate) fn attachments_of(&self, qpn: u32) -> Result<KVec<([u8; 16], u16)>> {
        // Room for every group first: nothing is allocated under the lock.
        let mut out = KVec::with_capacity(MAX_GROUPS, GFP_KERNEL)?;
        let t = self.table.lock();
        for g in t.iter() {
            if let Some(k) = g.members().iter().position(|&q| q == qpn) {
                out.push_within_capacity((g.gid, g.lids[k]))
                    .map_err(|_| ENOMEM)?;
            }
        }
        Ok(out)
    }

    /// Detaches QP `qpn`, which is being destroyed, from every group.
    pub(crate) fn detach_all(&self, dev: &Device<Rxe>, qpn: u32) {
        while let Some(gid) = self.group_of(qpn) {
            if self.detach(dev, &gid, qpn).is_err() {
                break;
            }
        }
    }

    /// Copies the QPs attached to `gid` into `out`; how many there are.
    fn members(&self, gid: &[u8; 16], out: &mut [u32; MAX_QP_ATTACH]) -> usize {
        let t = self.table.lock();
        let Ok(i) = find(&t, gid) else {
            return 0;
        };
        let m = t[i].members();
        out[..m.len()].copy_from_slice(m);
        m.len()
    }
}

/// The IP group of a multicast GID: IPv4 for an IPv4-mapped one.
fn ip_group(gid: &[u8; 16]) -> IpGroup {
    if is_v4_mapped(gid) {
        IpGroup::V4([gid[12], gid[13], gid[14], gid[15]])
    } else {
        IpGroup::V6(*gid)
    }
}

fn find(t: &[KBox<Group>], gid: &[u8; 16]) -> core::result::Result<usize, usize> {
    t.binary_search_by(|g| g.gid.cmp(gid))
}

/// Hands a datagram to multicast group `gid` of `dev` (the receive path
/// checked it whole): a copy to each QP attached, which checks its Q_Key
/// and state as for any datagram. Dropped, and counted, if the group has
/// no QP here.
pub(crate) fn deliver(dev: &Device<Rxe>, skb: SkBuff, gid: &[u8; 16]) {
    let mut qpns = [0u32; MAX_QP_ATTACH];
    let n = dev.mcast.members(gid, &mut qpns);
    let mut qps = qpns[..n].iter().filter_map(|&q| dev.qps.get(q)).peekable();
    if qps.peek().is_none() {
        if dev.counters.inc_first(Counter::RcvdNoDest) {
            pr_info!(
                "{}: dropped a multicast datagram for a group none of its QPs is attached to; counting further ones in hw_counters/rcvd_no_dest\n",
                dev.name()
            );
        }
        return;
    }
    let mut skb = Some(skb);
    while let Some(qp) = qps.next() {
        // The last QP takes the packet itself, each other one a clone.
        let copy = if qps.peek().is_some() {
            skb.as_ref().and_then(SkBuff::try_clone)
        } else {
            skb.take()
        };
        if !copy.is_some_and(|c| qp.deliver(c).is_ok()) {
            dev.counters.inc(Counter::RcvdNoDest);
        }
    }
}
