// SPDX-License-Identifier: GPL-2.0

//! The sans-IO protocol core of rxe_migros.
//!
//! Nothing here touches a socket, a clock, an allocator or a kernel type: the
//! driver feeds bytes and time in and carries out what comes back. The same
//! files are compiled into the kernel module (see `rxe_migros/rxe.rs`) and
//! tested on the host with `cargo test`.
//!
//! - [`psn`]: 24-bit packet sequence numbers that compare modulo 2^24.
//! - [`mig`]: the migration protocol's wire items and per-QP state.
//! - [`modify`]: the QP state machine and the checks of Modify QP.
//! - [`moves`]: UD QPs that moved: announcements, and the table a device
//!   keeps.
//! - [`mw`]: memory windows: binding, invalidation, and the checks of a
//!   request through one.
//! - [`opcode`]: the BTH opcode table (IBTA vol. 1, 9.2.1 and table 38).
//! - [`fastreg`]: fast-registration MRs of kernel consumers: page maps,
//!   REG_MR, invalidation.
//! - [`hdr`]: the base and extended transport headers, parsed and emitted.
//! - [`icrc`]: the RoCEv2 invariant CRC (IBTA annex A17.3.3).
//! - [`image`]: checkpoint images of a user context's objects.
//! - [`engine`]: the QP engine: all of a QP's transport and migration
//!   state, driven through a trait the kernel and the simulation implement.
//! - [`comp`]: the completer: what responses and timeouts mean for the
//!   oldest outstanding request.
//! - [`aeth`]: ACK syndromes: credits, RNR NAK timers, NAK codes.
//! - [`pma`]: the port's answers to performance management MADs.
//! - [`queue`]: the shape of the rings shared with user space.
//! - [`req`]: the requester's cutting of a message into packets.
//! - [`resp`]: the responder's acceptance of request packets.
//! - [`restore`]: whether an image can be recreated on a device, and how.
//! - [`roce`]: the IP and UDP encapsulation, and the checks every received
//!   datagram meets.
//! - [`seq`]: request and ACK PSN checks of the reliable transport.
//! - [`wqe`]: work requests as librxe writes them, read and checked.

#![no_std]

// The host tests and the simulated host use std; the crate itself never
// does.
#[cfg(any(test, feature = "host"))]
extern crate std;

pub mod aeth;
pub mod comp;
pub mod engine;
pub mod fastreg;
pub mod hdr;
pub mod icrc;
pub mod image;
pub mod mig;
pub mod modify;
pub mod moves;
pub mod mw;
pub mod opcode;
pub mod pma;
pub mod psn;
pub mod queue;
pub mod req;
pub mod resp;
pub mod restore;
pub mod roce;
pub mod seq;
pub mod siphash;
pub mod wqe;

mod error;
pub use error::ParseError;

#[cfg(any(test, feature = "host"))]
pub mod host;
#[cfg(test)]
mod icrc_vectors;
#[cfg(test)]
mod sim;

#[cfg(test)]
mod testutil {
    /// A small deterministic generator (xorshift64*) for property tests, so
    /// that the core's tests need no crates from the network.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }
        pub fn bool(&mut self) -> bool {
            self.next_u64() & 1 != 0
        }
    }

    /// The path MTU of `bytes` per packet, which tests give as a number.
    pub fn path_mtu(bytes: u32) -> crate::req::Mtu {
        crate::req::Mtu::new(bytes).expect("a test's MTU is not 0")
    }
}
