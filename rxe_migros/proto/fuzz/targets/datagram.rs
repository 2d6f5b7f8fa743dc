// SPDX-License-Identifier: GPL-2.0

//! `Datagram::parse` on any bytes from the network: the IP and UDP
//! headers, the BTH and extension headers, pad and lengths. Each input
//! is tried as it is and with its ICRC made right, so that the fuzzer
//! gets past the CRC to the headers behind it. A datagram that parses
//! must parse again the same without the ICRC check, and its parts must
//! lie inside it.
#![no_main]

use rxe_proto::icrc;
use rxe_proto::roce::Datagram;
use rxe_proto_fuzz::fuzz_target;

fn check(l3: &[u8]) {
    let Ok(d) = Datagram::parse(l3) else {
        return;
    };
    let again = Datagram::reparse(l3).expect("a datagram that parsed reparses");
    assert_eq!(again.src, d.src);
    assert_eq!(again.dst, d.dst);
    assert_eq!(again.packet.bth.dest_qpn, d.packet.bth.dest_qpn);
    let payload = d.packet.payload();
    assert!(payload.len() <= l3.len());
    let _ = (d.packet.reth(), d.packet.aeth(), d.packet.icrc());
}

/// Writes the right ICRC into the last four bytes, where there is room.
fn with_icrc(data: &[u8]) -> Option<Vec<u8>> {
    let ip = match data.first()? >> 4 {
        4 => 20,
        6 => 40,
        _ => return None,
    };
    let roce = ip + 8;
    if data.len() < roce + 4 {
        return None;
    }
    let mut out = data.to_vec();
    let n = out.len();
    let crc = icrc::compute(&out[..roce], &out[roce..n - 4]).ok()?;
    out[n - 4..].copy_from_slice(&crc.to_le_bytes());
    Some(out)
}

fn run(data: &[u8]) {
    check(data);
    if let Some(fixed) = with_icrc(data) {
        check(&fixed);
    }
}

fuzz_target!(run);
