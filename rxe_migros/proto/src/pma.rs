// SPDX-License-Identifier: GPL-2.0

//! The port's performance management agent (PMA, IBTA vol. 1, 16.1): the
//! answers to Get(ClassPortInfo), Get(PortCounters) and
//! Get(PortCountersExtended) from the port's counters. The RDMA core asks
//! through `process_mad` when `/sys/class/infiniband/DEV/ports/1/counters/`
//! is read, and so does `perfquery` over the GSI QP.
//!
//! MADs are 256 bytes: a 24-byte common header, then for the PMA class 40
//! reserved bytes before the attribute (`struct ib_pma_mad`).

/// Bytes in a MAD.
pub const MAD_BYTES: usize = 256;
/// Where the attribute starts: after the common header and the PMA's 40
/// reserved bytes.
const ATTR: usize = 24 + 40;

/// Management class and methods (IBTA 13.4.4, 13.4.5).
const CLASS_PERF_MGMT: u8 = 0x04;
const METHOD_GET: u8 = 0x01;
const METHOD_GET_RESP: u8 = 0x81;
/// MAD status: the attribute is not supported (13.4.7).
const STATUS_UNSUPPORTED_METHOD_ATTRIB: u16 = 0x000c;

/// PMA attributes (16.1.3).
const ATTR_CLASS_PORT_INFO: u16 = 0x0001;
const ATTR_PORT_COUNTERS: u16 = 0x0012;
const ATTR_PORT_COUNTERS_EXT: u16 = 0x001d;
/// ClassPortInfo's CapabilityMask bit: PortCountersExtended is supported
/// with 64-bit data counters (`IB_PMA_CLASS_CAP_EXT_WIDTH`).
const CAP_EXT_WIDTH: u16 = 1 << 9;

/// What the port has counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub xmit_bytes: u64,
    pub rcv_bytes: u64,
    pub xmit_packets: u64,
    pub rcv_packets: u64,
    pub link_downed: u64,
}

/// What to do with a MAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `out` holds the response to send (or to read, for the core).
    Reply,
    /// Not a PMA Get: leave it to the MAD layer's own agents.
    NotOurs,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put_be64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Answers the MAD `mad` from the counters `c` into `out`.
pub fn answer(mad: &[u8; MAD_BYTES], c: &PortCounters, out: &mut [u8; MAD_BYTES]) -> Answer {
    let (class, method) = (mad[1], mad[3]);
    if class != CLASS_PERF_MGMT || method != METHOD_GET {
        return Answer::NotOurs;
    }
    *out = [0; MAD_BYTES];
    // The request's header, as a response.
    out[..24].copy_from_slice(&mad[..24]);
    out[3] = METHOD_GET_RESP;
    out[4..6].copy_from_slice(&0u16.to_be_bytes());
    let a = &mut out[ATTR..];
    match be16(mad, 16) {
        ATTR_CLASS_PORT_INFO => {
            // BaseVersion, ClassVersion, then CapabilityMask.
            a[0] = 1;
            a[1] = 1;
            a[2..4].copy_from_slice(&CAP_EXT_WIDTH.to_be_bytes());
        }
        ATTR_PORT_COUNTERS => {
            // PortSelect as asked; LinkDownedCounter stops at all ones
            // (16.1.3.5). The 32-bit data counters are left to the
            // extended attribute, as ClassPortInfo says.
            a[1] = mad[ATTR + 1];
            a[7] = c.link_downed.min(u64::from(u8::MAX)) as u8;
        }
        ATTR_PORT_COUNTERS_EXT => {
            a[1] = mad[ATTR + 1];
            // Data counters count 4-byte words.
            put_be64(a, 8, c.xmit_bytes >> 2);
            put_be64(a, 16, c.rcv_bytes >> 2);
            put_be64(a, 24, c.xmit_packets);
            put_be64(a, 32, c.rcv_packets);
        }
        _ => out[4..6].copy_from_slice(&STATUS_UNSUPPORTED_METHOD_ATTRIB.to_be_bytes()),
    }
    Answer::Reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(attr: u16, port: u8) -> [u8; MAD_BYTES] {
        let mut m = [0u8; MAD_BYTES];
        m[0] = 1;
        m[1] = CLASS_PERF_MGMT;
        m[2] = 1;
        m[3] = METHOD_GET;
        m[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        m[16..18].copy_from_slice(&attr.to_be_bytes());
        m[ATTR + 1] = port;
        m
    }

    const C: PortCounters = PortCounters {
        xmit_bytes: 4000,
        rcv_bytes: 8000,
        xmit_packets: 7,
        rcv_packets: 9,
        link_downed: 300,
    };

    #[test]
    fn counters_land_where_the_kernel_reads_them() {
        let mut out = [0u8; MAD_BYTES];
        assert_eq!(answer(&get(0x001d, 1), &C, &mut out), Answer::Reply);
        // struct ib_pma_portcounters_ext: port_xmit_data at 8, port_rcv_data
        // at 16, packets at 24 and 32, after the 64 bytes before `data + 40`.
        let at = |o: usize| u64::from_be_bytes(out[64 + o..72 + o].try_into().unwrap());
        assert_eq!((at(8), at(16), at(24), at(32)), (1000, 2000, 7, 9));
        assert_eq!(out[65], 1, "PortSelect");
        // A response to the request: its TID, GetResp, status 0.
        assert_eq!(&out[8..16], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert_eq!((out[3], &out[4..6]), (METHOD_GET_RESP, &[0u8, 0][..]));

        assert_eq!(answer(&get(0x0012, 1), &C, &mut out), Answer::Reply);
        assert_eq!(out[64 + 7], 255, "link_downed_counter stops at all ones");

        assert_eq!(answer(&get(0x0001, 0), &C, &mut out), Answer::Reply);
        assert_eq!(be16(&out, 64 + 2), CAP_EXT_WIDTH);
    }

    #[test]
    fn others_are_refused_or_left_alone() {
        let mut out = [0u8; MAD_BYTES];
        assert_eq!(answer(&get(0x0016, 1), &C, &mut out), Answer::Reply);
        assert_eq!(be16(&out, 4), STATUS_UNSUPPORTED_METHOD_ATTRIB);
        let mut set = get(0x001d, 1);
        set[3] = 0x02;
        assert_eq!(answer(&set, &C, &mut out), Answer::NotOurs);
        let mut cm = get(0x001d, 1);
        cm[1] = 0x07;
        assert_eq!(answer(&cm, &C, &mut out), Answer::NotOurs);
    }
}
