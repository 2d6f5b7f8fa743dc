// SPDX-License-Identifier: GPL-2.0

//! Sending packets (the C rxe's rxe_net.c transmit half): a packet is
//! built whole, IP and UDP headers included, so that its ICRC covers the
//! headers as they go out, then routed and handed to the IP output path.

use crate::counters::Counter;
use crate::proto::hdr::{Bth, Extensions};
use crate::rdma::device::Device;
use crate::rdma::route::Route;
use crate::rdma::skb::TxSkb;
use crate::Rxe;
use kernel::prelude::*;

pub(crate) use crate::proto::engine::Path;

/// Sends one packet along `path`: `bth` (its pad is set here), the
/// extended headers `ext`, and `payload_len` bytes of payload, which
/// `fill` writes into the slice it is given.
pub(crate) fn send(
    dev: &Device<Rxe>,
    path: &Path,
    bth: Bth,
    ext: &Extensions,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    let total = path.packet_len(bth.opcode, payload_len).ok_or(EINVAL)?;
    let encap = path.encap();
    let hl = encap.header_len();
    let ndev = dev.netdev(1).ok_or(ENODEV)?;
    let mut skb = TxSkb::alloc(&ndev, total, encap.ipv6)?;
    path.write_packet(bth, ext, payload_len, skb.data_mut(), fill)
        .map_err(|e| e.unwrap_or(EINVAL))?;
    skb.set_transport_offset(hl - 8);
    if dev.roce_gid_index(1, &encap.dst).is_ok() {
        // To one of the device's own addresses (two QPs of one device):
        // straight to the receive path, as the C rxe's rxe_loopback does.
        // Routed, it would come back on `lo`, where we have no device.
        dev.counters.inc(Counter::SentPkts);
        dev.counters.add(Counter::SentBytes, total as u64);
        crate::recv::loopback(skb.into_received());
        return Ok(());
    }
    let net = ndev.net();
    let route = if encap.ipv6 {
        Route::v6(net, ndev.ifindex(), encap.src, encap.dst)
    } else {
        let v4 = |g: &[u8; 16]| [g[12], g[13], g[14], g[15]];
        Route::v4(net, ndev.ifindex(), v4(&encap.src), v4(&encap.dst))
    };
    let sent = route.and_then(|r| r.send(net, skb));
    match sent {
        Ok(()) => {
            dev.counters.inc(Counter::SentPkts);
            dev.counters.add(Counter::SentBytes, total as u64);
        }
        Err(_) => dev.counters.inc(Counter::SendErr),
    }
    sent
}
