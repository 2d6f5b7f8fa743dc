// SPDX-License-Identifier: GPL-2.0

//! Checkpoint images from a file anyone may have edited: the parser and
//! the restore plan. Each input is tried as a whole image, and as the
//! records of one with a right header and CRC, so that the fuzzer gets
//! past the CRC. An image that parses must plan without a panic, must
//! hand out a step only once the whole plan passed, and its stopped UD
//! QPs' held datagrams must parse inside their records.
#![no_main]

use rxe_proto::image::{self, Held, Image, Record, HEADER_BYTES};
use rxe_proto::restore::{self, Name, Step};
use rxe_proto_fuzz::fuzz_target;

fn check(bytes: &[u8], taken: u8) {
    let Ok(img) = Image::parse(bytes) else {
        return;
    };
    assert_eq!(img.records().count(), img.len() as usize);
    for r in img.records() {
        if let Ok(Record::Qp(q)) = r {
            if let Some(h) = Held::parse(q.held) {
                for d in h.iter() {
                    assert!(d.len() <= q.held.len());
                }
            }
        }
    }
    // The device has given out the identities whose low bits match.
    let in_use = |n: Name| {
        let v = match n {
            Name::Qpn(v) | Name::MrIndex(v) | Name::AhNum(v) | Name::SrqNum(v) | Name::MwIndex(v) => v,
        };
        taken != 0 && v % u32::from(taken) == 0
    };
    let mut index = vec![0u8; restore::index_bytes(&img)];
    let mut steps = 0u32;
    let r = restore::plan(
        &img,
        in_use,
        &mut index,
        || true,
        |s| {
            steps += 1;
            if let Step::Create {
                record: Record::Qp(q),
                ..
            } = s
            {
                assert!(!in_use(Name::Qpn(q.qpn)));
            }
        },
    );
    match r {
        Ok(p) => assert_eq!(steps, p.objects),
        Err(_) => assert_eq!(steps, 0, "a step handed out before the plan failed"),
    }
}

fn run(data: &[u8]) {
    let Some((&taken, body)) = data.split_first() else {
        return;
    };
    check(body, taken);
    // The same bytes as records, under a right header.
    let records = Image::accepted(&sealed(body, 0)).map_or(0, |i| i.records().count());
    check(&sealed(body, records as u32), taken);
}

fn sealed(body: &[u8], records: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&image::header(HEADER_BYTES + body.len(), records));
    out.extend_from_slice(body);
    image::seal(&mut out);
    out
}

fuzz_target!(run);
