// SPDX-License-Identifier: GPL-2.0

//! The sans-IO protocol core (`proto/`), compiled into the module from the
//! same files `cargo test` runs on the host. The module list mirrors
//! `proto/src/lib.rs`.
//!
//! The module uses what the kernel side needs of it; the rest (the host
//! simulation's helpers, encoders only tests call) is why `dead_code` is
//! allowed.

#![allow(dead_code, unreachable_pub, missing_docs)]

#[path = "proto/src/aeth.rs"]
pub(crate) mod aeth;
#[path = "proto/src/comp.rs"]
pub(crate) mod comp;
#[path = "proto/src/engine/mod.rs"]
pub(crate) mod engine;
#[path = "proto/src/error.rs"]
mod error;
#[path = "proto/src/fastreg.rs"]
pub(crate) mod fastreg;
#[path = "proto/src/hdr.rs"]
pub(crate) mod hdr;
#[path = "proto/src/icrc.rs"]
pub(crate) mod icrc;
#[path = "proto/src/image.rs"]
pub(crate) mod image;
#[path = "proto/src/mig.rs"]
pub(crate) mod mig;
#[path = "proto/src/modify.rs"]
pub(crate) mod modify;
#[path = "proto/src/moves.rs"]
pub(crate) mod moves;
#[path = "proto/src/mw.rs"]
pub(crate) mod mw;
#[path = "proto/src/opcode.rs"]
pub(crate) mod opcode;
#[path = "proto/src/pma.rs"]
pub(crate) mod pma;
#[path = "proto/src/psn.rs"]
pub(crate) mod psn;
#[path = "proto/src/queue.rs"]
pub(crate) mod queue;
#[path = "proto/src/req.rs"]
pub(crate) mod req;
#[path = "proto/src/resp.rs"]
pub(crate) mod resp;
#[path = "proto/src/restore.rs"]
pub(crate) mod restore;
#[path = "proto/src/roce.rs"]
pub(crate) mod roce;
#[path = "proto/src/seq.rs"]
pub(crate) mod seq;
#[path = "proto/src/siphash.rs"]
pub(crate) mod siphash;
#[path = "proto/src/wqe.rs"]
pub(crate) mod wqe;

pub(crate) use error::ParseError;
