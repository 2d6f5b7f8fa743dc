// SPDX-License-Identifier: GPL-2.0

//! The RoCEv2 invariant CRC (IBTA annex A17.3.3).
//!
//! A CRC-32 (the Ethernet polynomial, bit-reflected) over the IP and UDP
//! headers with their variant fields set to ones, the BTH with its reserved
//! byte set to ones, and the rest of the packet up to the ICRC. It is
//! preceded by eight bytes of ones standing in for the InfiniBand LRH, and
//! stored on the wire inverted, least significant byte first.

const POLY: u32 = 0xedb8_8320;

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut j = 1;
    while j < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[j - 1][i];
            t[j][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        j += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Continues a reflected CRC-32 over `data`, without the initial or final
/// inversion (the kernel's `crc32_le`).
pub fn crc32_le(mut crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// The CRC state after eight bytes of ones (the masked LRH) from the usual
/// initial value of all ones.
pub const LRH_SEED: u32 = 0xdebb_20e3;

const IPV4_HDR: usize = 20;
const IPV6_HDR: usize = 40;
const UDP_HDR: usize = 8;
const BTH: usize = super::opcode::BTH_BYTES;

/// Why an ICRC could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcrcError {
    /// Not an IPv4 header without options followed by UDP, nor an IPv6
    /// header followed directly by UDP.
    BadIpHeader,
    /// Shorter than a BTH.
    Truncated,
}

/// Computes the ICRC of a packet as it is to be stored on the wire (already
/// inverted; write it with `to_le_bytes`).
///
/// `ip_udp` is the IPv4 (20 bytes) or IPv6 (40 bytes) header followed by the
/// UDP header; `roce` runs from the BTH to the end of the pad, without the
/// ICRC.
pub fn compute(ip_udp: &[u8], roce: &[u8]) -> Result<u32, IcrcError> {
    if roce.len() < BTH {
        return Err(IcrcError::Truncated);
    }
    let mut pseudo = [0u8; IPV6_HDR + UDP_HDR + BTH];
    let ip_len = match ip_udp.first().map(|b| b >> 4) {
        Some(4) if ip_udp.len() == IPV4_HDR + UDP_HDR && ip_udp[0] & 0xf == 5 => IPV4_HDR,
        Some(6) if ip_udp.len() == IPV6_HDR + UDP_HDR => IPV6_HDR,
        _ => return Err(IcrcError::BadIpHeader),
    };
    let n = ip_len + UDP_HDR;
    pseudo[..n].copy_from_slice(ip_udp);
    if ip_len == IPV4_HDR {
        pseudo[1] = 0xff; // type of service
        pseudo[8] = 0xff; // time to live
        pseudo[10] = 0xff; // header checksum
        pseudo[11] = 0xff;
    } else {
        pseudo[0] |= 0x0f; // traffic class, high nibble
        pseudo[1] = 0xff; // traffic class, low nibble, and flow label
        pseudo[2] = 0xff;
        pseudo[3] = 0xff;
        pseudo[7] = 0xff; // hop limit
    }
    pseudo[ip_len + 6] = 0xff; // UDP checksum
    pseudo[ip_len + 7] = 0xff;
    pseudo[n..n + BTH].copy_from_slice(&roce[..BTH]);
    pseudo[n + 4] = 0xff; // BTH reserved byte (FECN, BECN, resv6a)

    let crc = crc32_le(LRH_SEED, &pseudo[..n + BTH]);
    let crc = crc32_le(crc, &roce[BTH..]);
    // The C rxe's FLUSH: its opcode table gives FLUSH no payload offset,
    // so its ICRC takes the payload to start at the BTH and covers every
    // byte from there again, unmasked (rxe_icrc.c's `payload_addr`). We
    // compute the same, in both directions, or no FLUSH would pass
    // between us and the C rxe.
    if roce[0] == RC_FLUSH {
        return Ok(!crc32_le(crc, roce));
    }
    Ok(!crc)
}

/// The RC FLUSH opcode (IBA annex A19), whose ICRC follows the C rxe's.
const RC_FLUSH: u8 = super::opcode::TRANSPORT_RC | super::opcode::op::FLUSH;

#[cfg(test)]
mod tests {
    use super::*;

    /// A FLUSH's ICRC covers its BTH, FETH and RETH once as headers and
    /// once more as the C rxe's payload; any other opcode's, once.
    #[test]
    fn a_flush_covers_its_headers_twice() {
        let ip_udp = {
            let mut h = [0u8; IPV4_HDR + UDP_HDR];
            h[0] = 0x45;
            h
        };
        let mut roce = [7u8; 32];
        roce[0] = RC_FLUSH;
        let once = {
            let mut other = roce;
            other[0] = super::super::opcode::op::RDMA_READ_REQUEST;
            compute(&ip_udp, &other).unwrap()
        };
        let mut pseudo = std::vec::Vec::new();
        pseudo.extend_from_slice(&ip_udp);
        pseudo[1] = 0xff;
        pseudo[8] = 0xff;
        pseudo[10] = 0xff;
        pseudo[11] = 0xff;
        pseudo[IPV4_HDR + 6] = 0xff;
        pseudo[IPV4_HDR + 7] = 0xff;
        let mut bth = roce[..BTH].to_vec();
        bth[4] = 0xff;
        pseudo.extend_from_slice(&bth);
        let crc = crc32_le(LRH_SEED, &pseudo);
        let crc = crc32_le(crc, &roce[BTH..]);
        assert_eq!(compute(&ip_udp, &roce).unwrap(), !crc32_le(crc, &roce));
        assert_ne!(compute(&ip_udp, &roce).unwrap(), once);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // CRC-32/ISO-HDLC of "123456789" is 0xcbf43926.
        assert_eq!(!crc32_le(!0, b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn seed_is_eight_bytes_of_ones() {
        assert_eq!(crc32_le(!0, &[0xff; 8]), LRH_SEED);
    }

    #[test]
    fn slicing_agrees_with_bytewise() {
        let mut rng = crate::testutil::Rng::new(5);
        let mut buf = [0u8; 300];
        for _ in 0..2000 {
            let n = rng.next_u32() as usize % buf.len();
            for b in buf.iter_mut().take(n) {
                *b = rng.next_u32() as u8;
            }
            let mut slow = 0x1234_5678u32;
            for &b in &buf[..n] {
                slow ^= b as u32;
                for _ in 0..8 {
                    slow = if slow & 1 != 0 {
                        (slow >> 1) ^ POLY
                    } else {
                        slow >> 1
                    };
                }
            }
            assert_eq!(crc32_le(0x1234_5678, &buf[..n]), slow);
        }
    }

    #[test]
    fn variant_fields_do_not_matter() {
        let mut ip = [0u8; 28];
        ip[0] = 0x45;
        ip[9] = 17;
        let roce = [
            0x04u8, 0, 0xff, 0xff, 0, 0, 0, 0x11, 0x80, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd,
        ];
        let a = compute(&ip, &roce).unwrap();
        ip[1] = 0x10; // DSCP
        ip[8] = 1; // TTL
        ip[10] = 0x12; // checksum
        ip[26] = 0x34; // UDP checksum
        let mut roce2 = roce;
        roce2[4] = 0x80; // FECN
        assert_eq!(compute(&ip, &roce2).unwrap(), a);
        roce2[12] ^= 1;
        assert_ne!(compute(&ip, &roce2).unwrap(), a);
    }

    /// Packets the C rxe put on the wire: our ICRC must be theirs, and our
    /// parser must find the headers of every one.
    #[test]
    fn matches_the_c_rxe() {
        use crate::hdr::Packet;
        let vectors = crate::icrc_vectors::VECTORS;
        assert!(vectors.len() >= 20);
        for (name, ip_udp, roce) in vectors {
            let n = roce.len();
            let wire = u32::from_le_bytes([roce[n - 4], roce[n - 3], roce[n - 2], roce[n - 1]]);
            assert_eq!(compute(ip_udp, &roce[..n - 4]), Ok(wire), "{name}");
            let p = Packet::parse(roce).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(p.icrc(), wire, "{name}");
            // One flipped payload or header bit changes it.
            let mut bad = roce.to_vec();
            bad[n - 5] ^= 0x10;
            assert_ne!(compute(ip_udp, &bad[..n - 4]), Ok(wire), "{name}");
        }
    }

    #[test]
    fn rejects_what_it_cannot_cover() {
        assert_eq!(compute(&[0x46; 28], &[0; 12]), Err(IcrcError::BadIpHeader));
        assert_eq!(compute(&[0x45; 20], &[0; 12]), Err(IcrcError::BadIpHeader));
        let mut ip = [0u8; 28];
        ip[0] = 0x45;
        assert_eq!(compute(&ip, &[0; 11]), Err(IcrcError::Truncated));
    }
}
