// SPDX-License-Identifier: GPL-2.0

//! The RoCEv2 encapsulation (IBTA annex A17.2): an IPv4 or IPv6 header, a UDP
//! header to port 4791, then the transport packet.
//!
//! [`Datagram::parse`] is the first check every received frame meets: it
//! takes the bytes from the IP header to the end, as the network stack hands
//! them over, and yields the addresses and the checked transport packet, or
//! the reason to drop it.

use super::hdr::Packet;
use super::icrc;
use super::ParseError;

/// The UDP destination port of RoCEv2 (IANA "roce").
pub const UDP_PORT: u16 = 4791;

const IPV4_HDR: usize = 20;
const IPV6_HDR: usize = 40;
const UDP_HDR: usize = 8;
const IPPROTO_UDP: u8 = 17;

/// A received RoCEv2 datagram, checked down to its ICRC.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// Source address as a GID (IPv4 addresses are IPv4-mapped).
    pub src: [u8; 16],
    /// Destination address as a GID.
    pub dst: [u8; 16],
    /// Whether it came over IPv6.
    pub ipv6: bool,
    /// UDP source port: the sender's flow entropy.
    pub src_port: u16,
    /// The transport packet, BTH to ICRC.
    pub packet: Packet<'a>,
}

/// The IPv4-mapped IPv6 address (and RoCE GID) of an IPv4 address.
pub fn ipv4_mapped(addr: [u8; 4]) -> [u8; 16] {
    let mut gid = [0u8; 16];
    gid[10] = 0xff;
    gid[11] = 0xff;
    gid[12..].copy_from_slice(&addr);
    gid
}

/// The destination QP number of a multicast datagram (IBTA 10.5.2.1):
/// the device gives a copy to each QP attached to the group.
pub const MULTICAST_QPN: u32 = 0xff_ffff;

/// Whether `gid` is a multicast address: an IPv4-mapped 224.0.0.0/4 one,
/// or an IPv6 ff00::/8 one (the kernel's `rdma_is_multicast_addr`).
pub fn is_multicast(gid: &[u8; 16]) -> bool {
    if super::engine::is_v4_mapped(gid) {
        gid[12] & 0xf0 == 0xe0
    } else {
        gid[0] == 0xff
    }
}

/// The Ethernet address that frames to multicast address `gid` go to:
/// 01:00:5e and the low 23 bits of an IPv4 group (RFC 1112), 33:33 and
/// the low 32 bits of an IPv6 one (RFC 2464).
pub fn multicast_mac(gid: &[u8; 16]) -> [u8; 6] {
    if gid[0] == 0xff {
        [0x33, 0x33, gid[12], gid[13], gid[14], gid[15]]
    } else {
        [0x01, 0x00, 0x5e, gid[13] & 0x7f, gid[14], gid[15]]
    }
}

impl<'a> Datagram<'a> {
    /// Parses `l3`, the bytes from the IP header to the end of the UDP
    /// payload, and checks lengths, headers and the ICRC.
    ///
    /// IPv4 options and IPv6 extension headers are refused as
    /// [`ParseError::BadIpHeader`]: the ICRC (A17.3.3) is defined over the
    /// bare headers, and no RoCEv2 sender emits them.
    pub fn parse(l3: &'a [u8]) -> Result<Datagram<'a>, ParseError> {
        Self::parse_inner(l3, true)
    }

    /// Parses bytes that [`Datagram::parse`] accepted before, without
    /// computing the ICRC again.
    pub fn reparse(l3: &'a [u8]) -> Result<Datagram<'a>, ParseError> {
        Self::parse_inner(l3, false)
    }

    fn parse_inner(l3: &'a [u8], check_icrc: bool) -> Result<Datagram<'a>, ParseError> {
        let version = l3.first().ok_or(ParseError::Truncated)? >> 4;
        let (ip_len, ipv6, src, dst, proto) = match version {
            4 => {
                if l3.len() < IPV4_HDR {
                    return Err(ParseError::Truncated);
                }
                if l3[0] & 0xf != 5 {
                    return Err(ParseError::BadIpHeader);
                }
                let addr = |at: usize| [l3[at], l3[at + 1], l3[at + 2], l3[at + 3]];
                (
                    IPV4_HDR,
                    false,
                    ipv4_mapped(addr(12)),
                    ipv4_mapped(addr(16)),
                    l3[9],
                )
            }
            6 => {
                if l3.len() < IPV6_HDR {
                    return Err(ParseError::Truncated);
                }
                let mut src = [0u8; 16];
                let mut dst = [0u8; 16];
                src.copy_from_slice(&l3[8..24]);
                dst.copy_from_slice(&l3[24..40]);
                (IPV6_HDR, true, src, dst, l3[6])
            }
            _ => return Err(ParseError::BadIpHeader),
        };
        if proto != IPPROTO_UDP {
            return Err(ParseError::BadIpHeader);
        }
        let udp = l3
            .get(ip_len..ip_len + UDP_HDR)
            .ok_or(ParseError::Truncated)?;
        let src_port = u16::from_be_bytes([udp[0], udp[1]]);
        let udp_len = u16::from_be_bytes([udp[4], udp[5]]) as usize;
        // The stack trims link-layer padding: the UDP length must match.
        if udp_len != l3.len() - ip_len {
            return Err(ParseError::BadLength);
        }
        let roce = &l3[ip_len + UDP_HDR..];
        let packet = Packet::parse(roce)?;
        if !check_icrc {
            return Ok(Datagram {
                src,
                dst,
                ipv6,
                src_port,
                packet,
            });
        }
        let covered = &roce[..roce.len() - super::opcode::ICRC_BYTES];
        let want =
            icrc::compute(&l3[..ip_len + UDP_HDR], covered).map_err(|_| ParseError::BadIpHeader)?;
        if want != packet.icrc() {
            return Err(ParseError::BadIcrc);
        }
        Ok(Datagram {
            src,
            dst,
            ipv6,
            src_port,
            packet,
        })
    }
}

/// What the IP and UDP headers of a datagram to send say.
#[derive(Clone, Copy, Debug)]
pub struct Encap {
    /// Source and destination GIDs (IPv4-mapped for IPv4).
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub ipv6: bool,
    /// UDP source port: flow entropy, constant per QP.
    pub src_port: u16,
    pub traffic_class: u8,
    pub hop_limit: u8,
    /// IPv6 flow label, 20 bits.
    pub flow_label: u32,
}

impl Encap {
    /// Bytes of IP and UDP header.
    pub const fn header_len(&self) -> usize {
        if self.ipv6 {
            IPV6_HDR + UDP_HDR
        } else {
            IPV4_HDR + UDP_HDR
        }
    }

    /// Seals a datagram: `buf` holds [`Self::header_len`] bytes of room,
    /// the transport packet (BTH to pad) and four bytes of room for the
    /// ICRC. Writes the IP and UDP headers, then the ICRC over them.
    ///
    /// IPv4 datagrams carry DF and an identification of zero (RFC 6864
    /// allows it for atomic datagrams), so the ICRC, which covers the
    /// identification, is final before the stack sees the packet.
    pub fn seal(&self, buf: &mut [u8]) -> Result<(), icrc::IcrcError> {
        let hl = self.header_len();
        if buf.len() < hl + super::opcode::BTH_BYTES + super::opcode::ICRC_BYTES {
            return Err(icrc::IcrcError::Truncated);
        }
        let total = buf.len();
        let udp_len = (total - hl + UDP_HDR) as u16;
        let ip_len = hl - UDP_HDR;
        if self.ipv6 {
            let v = 6u32 << 28 | (self.traffic_class as u32) << 20 | (self.flow_label & 0xf_ffff);
            buf[0..4].copy_from_slice(&v.to_be_bytes());
            buf[4..6].copy_from_slice(&udp_len.to_be_bytes());
            buf[6] = IPPROTO_UDP;
            buf[7] = self.hop_limit;
            buf[8..24].copy_from_slice(&self.src);
            buf[24..40].copy_from_slice(&self.dst);
        } else {
            buf[0] = 0x45;
            buf[1] = self.traffic_class;
            buf[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            buf[4..6].copy_from_slice(&[0, 0]);
            buf[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
            buf[8] = self.hop_limit;
            buf[9] = IPPROTO_UDP;
            buf[10..12].copy_from_slice(&[0, 0]);
            buf[12..16].copy_from_slice(&self.src[12..]);
            buf[16..20].copy_from_slice(&self.dst[12..]);
            let sum = ipv4_checksum(&buf[..IPV4_HDR]);
            buf[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        let udp = &mut buf[ip_len..hl];
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&UDP_PORT.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[6..8].copy_from_slice(&[0, 0]);
        let end = total - super::opcode::ICRC_BYTES;
        let crc = icrc::compute(&buf[..hl], &buf[hl..end])?;
        buf[end..].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }
}

/// The IPv4 header checksum (RFC 791) of `hdr`, whose checksum field is 0.
fn ipv4_checksum(hdr: &[u8]) -> u16 {
    let mut sum: u32 = hdr
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icrc_vectors::VECTORS;
    use crate::testutil::Rng;

    /// A captured packet as the stack hands it over: IP header to ICRC.
    fn frame(ip_udp: &[u8], roce: &[u8]) -> ([u8; 4096], usize) {
        let mut buf = [0u8; 4096];
        buf[..ip_udp.len()].copy_from_slice(ip_udp);
        buf[ip_udp.len()..ip_udp.len() + roce.len()].copy_from_slice(roce);
        (buf, ip_udp.len() + roce.len())
    }

    #[test]
    fn multicast_addresses_and_their_macs() {
        let v4 = ipv4_mapped([239, 129, 2, 3]);
        assert!(is_multicast(&v4));
        assert_eq!(multicast_mac(&v4), [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
        assert!(is_multicast(&ipv4_mapped([224, 0, 0, 1])));
        assert!(!is_multicast(&ipv4_mapped([10, 0, 0, 1])));
        assert!(!is_multicast(&ipv4_mapped([240, 0, 0, 1])));
        let mut v6 = [0u8; 16];
        v6[0] = 0xff;
        v6[1] = 0x0e;
        v6[12..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert!(is_multicast(&v6));
        assert_eq!(multicast_mac(&v6), [0x33, 0x33, 0xde, 0xad, 0xbe, 0xef]);
        let mut unicast = [0u8; 16];
        unicast[0] = 0xfd;
        assert!(!is_multicast(&unicast));
        // An address of none of these shapes (not mapped, not ff00::/8).
        assert!(!is_multicast(&[0xe0; 16]));
    }

    #[test]
    fn every_captured_packet_parses() {
        for (name, ip_udp, roce) in VECTORS {
            let (buf, n) = frame(ip_udp, roce);
            let d = Datagram::parse(&buf[..n]).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(d.ipv6, ip_udp[0] >> 4 == 6, "{name}");
            assert_eq!(d.packet.bth.opcode, roce[0], "{name}");
        }
    }

    #[test]
    fn ipv4_addresses_are_mapped() {
        let (_, ip_udp, roce) = VECTORS.iter().find(|v| v.1[0] >> 4 == 4).unwrap();
        let (buf, n) = frame(ip_udp, roce);
        let d = Datagram::parse(&buf[..n]).unwrap();
        assert_eq!(
            d.src,
            ipv4_mapped([ip_udp[12], ip_udp[13], ip_udp[14], ip_udp[15]])
        );
        assert_eq!(&d.src[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(&d.dst[12..], &ip_udp[16..20]);
    }

    /// Whether byte `byte`, bit `bit` of a frame lies in a field the ICRC
    /// leaves out (A17.3.3): such flips go unnoticed, as on real NICs.
    fn icrc_masked(ipv6: bool, byte: usize, bit: usize) -> bool {
        let (ip, masked): (usize, &[usize]) = if ipv6 {
            (IPV6_HDR, &[1, 2, 3, 7])
        } else {
            (IPV4_HDR, &[1, 8, 10, 11])
        };
        masked.contains(&byte)
            || (ipv6 && byte == 0 && bit < 4)
            || byte == ip + 6
            || byte == ip + 7
            || byte == ip + UDP_HDR + 4
    }

    #[test]
    fn any_flipped_bit_outside_the_masked_fields_is_refused() {
        let mut rng = Rng::new(7);
        for (name, ip_udp, roce) in VECTORS {
            let (mut buf, n) = frame(ip_udp, roce);
            let ipv6 = ip_udp[0] >> 4 == 6;
            for _ in 0..256 {
                let bit = rng.next_u32() as usize % (n * 8);
                buf[bit / 8] ^= 1 << (bit % 8);
                if Datagram::parse(&buf[..n]).is_ok() {
                    assert!(
                        icrc_masked(ipv6, bit / 8, bit % 8),
                        "{name}: bit {bit} unnoticed"
                    );
                }
                buf[bit / 8] ^= 1 << (bit % 8);
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for (name, ip_udp, roce) in VECTORS {
            let (buf, n) = frame(ip_udp, roce);
            for cut in 0..n {
                assert!(Datagram::parse(&buf[..cut]).is_err(), "{name} cut at {cut}");
            }
        }
    }

    #[test]
    fn ip_options_and_other_protocols_are_refused() {
        let (_, ip_udp, roce) = VECTORS.iter().find(|v| v.1[0] >> 4 == 4).unwrap();
        let (mut buf, n) = frame(ip_udp, roce);
        buf[0] = 0x46;
        assert_eq!(
            Datagram::parse(&buf[..n]).unwrap_err(),
            ParseError::BadIpHeader
        );
        buf[0] = 0x45;
        buf[9] = 6;
        assert_eq!(
            Datagram::parse(&buf[..n]).unwrap_err(),
            ParseError::BadIpHeader
        );
        buf[9] = 17;
        buf[0] = 0x55;
        assert_eq!(
            Datagram::parse(&buf[..n]).unwrap_err(),
            ParseError::BadIpHeader
        );
    }

    #[test]
    fn a_wrong_icrc_is_reported_as_such() {
        let (_, ip_udp, roce) = VECTORS[0];
        let (mut buf, n) = frame(ip_udp, roce);
        buf[n - 1] ^= 0x80;
        assert_eq!(Datagram::parse(&buf[..n]).unwrap_err(), ParseError::BadIcrc);
    }

    /// A datagram sealed by `Encap` passes the receive checks, for both IP
    /// versions and every payload length that needs a different pad.
    #[test]
    fn sealed_datagrams_parse() {
        use crate::hdr::{Bth, Deth, Extensions};
        use crate::opcode::{op, OpInfo, TRANSPORT_UD};
        use crate::psn::Psn;
        for ipv6 in [false, true] {
            for len in 0..9usize {
                let encap = Encap {
                    src: if ipv6 {
                        [0xfe; 16]
                    } else {
                        ipv4_mapped([10, 0, 0, 1])
                    },
                    dst: if ipv6 {
                        [0xfd; 16]
                    } else {
                        ipv4_mapped([10, 0, 0, 2])
                    },
                    ipv6,
                    src_port: 0xc123,
                    traffic_class: 3,
                    hop_limit: 64,
                    flow_label: 0x12345,
                };
                let opcode = TRANSPORT_UD | op::SEND_ONLY;
                let info = OpInfo::lookup(opcode).unwrap();
                let pad = (4 - len % 4) % 4;
                let hl = encap.header_len();
                let total = hl + info.header_len() + len + pad + 4;
                let mut buf = [0u8; 256];
                let b = &mut buf[..total];
                let bth = Bth {
                    opcode,
                    pad: pad as u8,
                    pkey: 0xffff,
                    dest_qpn: 17,
                    psn: Psn::new(5),
                    ..Bth::default()
                };
                bth.emit(&mut b[hl..]);
                let ext = Extensions {
                    deth: Some(Deth {
                        qkey: 0x1111_2222,
                        src_qpn: 18,
                    }),
                    ..Extensions::default()
                };
                ext.emit(&info, &mut b[hl..]);
                let p = hl + info.header_len();
                for (i, x) in b[p..p + len].iter_mut().enumerate() {
                    *x = i as u8 + 1;
                }
                encap.seal(b).unwrap();
                let d = Datagram::parse(b).unwrap_or_else(|e| panic!("v6 {ipv6} len {len}: {e:?}"));
                assert_eq!((d.src, d.dst, d.ipv6), (encap.src, encap.dst, ipv6));
                assert_eq!(d.src_port, 0xc123);
                assert_eq!(d.packet.bth, bth);
                assert_eq!(d.packet.deth(), ext.deth);
                assert_eq!(d.packet.payload(), &b[p..p + len]);
                if !ipv6 {
                    assert_eq!(ipv4_checksum(&b[..IPV4_HDR]), 0, "checksum verifies");
                }
            }
        }
    }
}
