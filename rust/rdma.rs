// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the C RDMA core (ib_core) and the parts of
//! networking a software RDMA driver stands on.
//!
//! Nothing here knows about rxe: it is written as a `kernel::rdma` could be
//! upstream. All `unsafe` of the project lives in this layer; the driver in
//! `rxe_migros/` builds on the safe types below.
//!
//! - [`device`]: allocating, registering and unregistering an `ib_device`,
//!   and the `ib_device_ops` table built from a [`device::Driver`].
//! - [`link`]: the `rdma link add` entry point (`rdma_link_ops`).
//! - [`netdev`]: borrowed network devices and netdevice notifiers.
//! - [`param`]: a string module parameter, which `module!` lacks.

// This layer is a library with a public API of its own, compiled into the
// driver's crate: its `pub` items are meant as `pub`.
#![allow(unreachable_pub)]

#[path = "bindings.rs"]
pub mod bindings;
#[path = "device.rs"]
pub mod device;
#[path = "link.rs"]
pub mod link;
#[path = "netdev.rs"]
pub mod netdev;
#[path = "param.rs"]
pub mod param;
