// SPDX-License-Identifier: GPL-2.0

//! Sending packets (the C rxe's rxe_net.c transmit half): a packet is
//! built whole, IP and UDP headers included, so that its ICRC covers the
//! headers as they go out, then routed and handed to the IP output path.

use crate::counters::Counter;
use crate::proto::hdr::{Bth, Extensions};
use crate::proto::opcode::{OpInfo, ICRC_BYTES};
use crate::proto::roce::Encap;
use crate::rdma::device::Device;
use crate::rdma::qp::AddressVector;
use crate::rdma::route::Route;
use crate::rdma::skb::TxSkb;
use crate::Rxe;
use kernel::prelude::*;

/// The UDP source ports of our QPs (the C rxe's RXE_ROCE_V2_SPORT): the
/// top quarter of the port space, spread by QP number.
pub(crate) fn src_port(qpn: u32) -> u16 {
    0xc000 | (qpn & 0x3fff) as u16
}

/// Where a QP's packets go: its address vector and source port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path {
    pub(crate) av: AddressVector,
    pub(crate) src_port: u16,
}

impl Path {
    fn encap(&self) -> Encap {
        Encap {
            src: self.av.sgid,
            dst: self.av.dgid,
            ipv6: self.av.ipv6,
            src_port: self.src_port,
            traffic_class: self.av.traffic_class,
            hop_limit: self.av.hop_limit,
            flow_label: self.av.flow_label,
        }
    }
}

/// Sends one packet along `path`: `bth` (its pad is set here), the
/// extended headers `ext`, and `payload_len` bytes of payload, which
/// `fill` writes into the slice it is given.
pub(crate) fn send(
    dev: &Device<Rxe>,
    path: &Path,
    mut bth: Bth,
    ext: &Extensions,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    let info = OpInfo::lookup(bth.opcode).ok_or(EINVAL)?;
    let pad = (4 - payload_len % 4) % 4;
    bth.pad = pad as u8;
    let encap = path.encap();
    let hl = encap.header_len();
    let total = hl + info.header_len() + payload_len + pad + ICRC_BYTES;
    let ndev = dev.netdev(1).ok_or(ENODEV)?;
    let mut skb = TxSkb::alloc(&ndev, total, encap.ipv6)?;
    let buf = skb.data_mut();
    let roce = &mut buf[hl..];
    bth.emit(roce);
    ext.emit(&info, roce);
    let start = info.header_len();
    fill(&mut roce[start..start + payload_len])?;
    encap.seal(buf).map_err(|_| EINVAL)?;
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
