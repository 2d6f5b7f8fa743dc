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

impl<'a> Datagram<'a> {
    /// Parses `l3`, the bytes from the IP header to the end of the UDP
    /// payload, and checks lengths, headers and the ICRC.
    ///
    /// IPv4 options and IPv6 extension headers are refused as
    /// [`ParseError::BadIpHeader`]: the ICRC (A17.3.3) is defined over the
    /// bare headers, and no RoCEv2 sender emits them.
    pub fn parse(l3: &'a [u8]) -> Result<Datagram<'a>, ParseError> {
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
}
