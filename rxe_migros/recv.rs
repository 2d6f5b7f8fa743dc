// SPDX-License-Identifier: GPL-2.0

//! Received packets (the C rxe's rxe_recv.c): every datagram that reaches
//! UDP port 4791 in a namespace with one of our devices comes here, in
//! softirq context. The checks themselves are the core's
//! ([`Datagram::parse`]); this file finds the device and the QP, counts,
//! and queues the packet on the QP, whose work item handles it.
//!
//! Drops are counted per reason (see [`crate::counters`]) and the first of
//! each kind on a device is logged, so that a flood of bad packets cannot
//! flood the log too.

use crate::counters::Counter;
use crate::proto::opcode::{flags, Transport};
use crate::proto::roce::{is_multicast, Datagram, MULTICAST_QPN};
use crate::proto::ParseError;
use crate::rdma::bh::BhOff;
use crate::rdma::device::DeviceRef;
use crate::rdma::skb::SkBuff;
use crate::rdma::udp_tunnel::Receiver;
use crate::Rxe;
use kernel::prelude::*;

/// The receiver of our UDP sockets.
pub(crate) struct Recv;

impl Receiver for Recv {
    fn recv(skb: SkBuff) {
        receive(skb)
    }
}

/// Receives a packet the device sent to one of its own addresses, with the
/// checks and counters of any other. Softirqs are kept off, as for a packet
/// from the socket: the receive path's locks expect it, and it makes the
/// call an RCU reader that `wait_for_receivers` waits for.
pub(crate) fn loopback(skb: SkBuff) {
    let _bh = BhOff::new();
    receive(skb)
}

/// A datagram that reached UDP port 4791 (see the module's description).
fn receive(mut skb: SkBuff) {
    // Packets on netdevs without a device of ours are not for us.
    let Some(dev) = DeviceRef::<Rxe>::by_netdev(skb.dev(), crate::this_module()) else {
        return;
    };
    let Ok(l3) = skb.network_bytes() else {
        return;
    };
    let (counter, why) = match Datagram::parse(l3) {
        Err(ParseError::BadIcrc) => (Counter::RcvdBadIcrc, ParseError::BadIcrc),
        Err(e) => (Counter::RcvdMalformed, e),
        Ok(datagram) => {
            if let Err(c) = check_addressing(&dev, &datagram) {
                if dev.counters.inc_first(c) {
                    pr_info!(
                        "{}: dropped a packet from {:?} to {:?} ({}); counting further ones in hw_counters\n",
                        dev.name(),
                        Gid(&datagram.src),
                        Gid(&datagram.dst),
                        match c {
                            Counter::RcvdBadPkey => "not the default P_Key",
                            _ => "to none of the device's addresses",
                        }
                    );
                }
                return;
            }
            let info = datagram.packet.info;
            if info.transport == Transport::Ud && datagram.packet.bth.proto {
                // A peer device that speaks the protocol: our UD QPs may
                // ask it for tokens.
                dev.moves.heard(&datagram.src);
            }
            if info.has(flags::RESUME) && info.transport == Transport::Ud {
                crate::migration::on_ud_move(&dev, &datagram);
                return;
            }
            let qpn = datagram.packet.bth.dest_qpn;
            if qpn == MULTICAST_QPN {
                let group = datagram.dst;
                crate::mcast::deliver(&dev, skb, &group);
                return;
            }
            if let Some(qp) = dev.qps.get(qpn) {
                if qp.deliver(skb).is_err() {
                    dev.counters.inc(Counter::RcvdNoDest);
                }
                return;
            }
            if dev.counters.inc_first(Counter::RcvdNoDest) {
                pr_info!(
                    "{}: dropped a packet for a QP it does not have; counting further ones in hw_counters/rcvd_no_dest\n",
                    dev.name()
                );
            }
            return;
        }
    };
    if dev.counters.inc_first(counter) {
        pr_info!(
            "{}: dropped a bad RoCEv2 packet ({:?}); counting further ones in hw_counters\n",
            dev.name(),
            why
        );
    }
}

/// The checks every packet passes before any QP sees it, as the C rxe's
/// rxe_chk_dgid and check_keys: the default P_Key (full or limited member:
/// our port's is full, so any membership matches), and a destination that
/// is one of the device's GIDs or, for a UD datagram to the multicast QP
/// number, a multicast address, since the socket takes datagrams for every
/// address of the namespace, not only those of our netdev.
fn check_addressing(
    dev: &crate::rdma::device::Device<Rxe>,
    d: &Datagram<'_>,
) -> core::result::Result<(), Counter> {
    if d.packet.bth.pkey & 0x7fff != crate::proto::engine::PKEY & 0x7fff {
        return Err(Counter::RcvdBadPkey);
    }
    if is_multicast(&d.dst) {
        // A group's datagram: UD, to the multicast QP number.
        let ud = d.packet.info.transport == Transport::Ud;
        if !ud || d.packet.bth.dest_qpn != MULTICAST_QPN {
            return Err(Counter::RcvdBadAddr);
        }
    } else if dev.roce_gid_index(1, &d.dst).is_err() {
        return Err(Counter::RcvdBadAddr);
    }
    Ok(())
}

pub(crate) use crate::proto::engine::Gid;
