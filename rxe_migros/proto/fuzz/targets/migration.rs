// SPDX-License-Identifier: GPL-2.0

//! The migration protocol's payloads, from any host on the network: the
//! RESUME's address update, the token messages and the UD move
//! announcement. What parses
//! must come out of `emit` the same and parse back to itself.
#![no_main]

use rxe_proto::mig::{AddressUpdate, Token, UdMove};
use rxe_proto_fuzz::fuzz_target;

fn run(data: &[u8]) {
    if let Ok(Some(a)) = AddressUpdate::parse(data) {
        assert!(a.qpn < 1 << 24);
        let b = a.emit();
        assert_eq!(&b[..], data, "an address update is read as it was written");
        assert_eq!(AddressUpdate::parse(&b), Ok(Some(a)));
    }
    if let Ok(t) = Token::parse(data) {
        assert!(t.qpn < 1 << 24);
        let b = t.emit();
        assert_eq!(&b[..], data, "a token message is read as it was written");
        assert_eq!(Token::parse(&b), Ok(t));
    }
    if let Ok(m) = UdMove::parse(data) {
        assert!(m.qpn < 1 << 24);
        let b = m.emit();
        assert_eq!(&b[..], data, "a move is read as it was written");
        assert_eq!(UdMove::parse(&b), Ok(m));
    }
}

fuzz_target!(run);
