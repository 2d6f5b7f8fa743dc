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
use crate::proto::roce::Datagram;
use crate::proto::ParseError;
use crate::rdma::device::DeviceRef;
use crate::rdma::skb::SkBuff;
use crate::rdma::udp_tunnel::Receiver;
use crate::Rxe;
use kernel::prelude::*;

/// The receiver of our UDP sockets.
pub(crate) struct Recv;

impl Receiver for Recv {
    fn recv(mut skb: SkBuff) {
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
                let info = datagram.packet.info;
                if info.has(flags::RESUME) && info.transport == Transport::Ud {
                    crate::migration::on_ud_move(&dev, &datagram);
                    return;
                }
                let qpn = datagram.packet.bth.dest_qpn;
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
}
