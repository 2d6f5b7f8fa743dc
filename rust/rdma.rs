// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the C RDMA core (ib_core) and the parts of
//! networking a software RDMA driver stands on.
//!
//! Nothing here knows about rxe: it is written as a `kernel::rdma` could be
//! upstream. All `unsafe` of the project lives in this layer; the driver in
//! `rxe_migros/` builds on the safe types below.
//!
//! - [`access`]: access flags of MRs and QPs.
//! - [`attr`]: what a device and its port report.
//! - [`backlink`]: the way back from a driver's CQ or QP to the core's.
//! - [`bh`]: keeping softirqs off, for locks the receive path shares.
//! - [`cq`]: the link from a driver's completion queue to the core's.
//! - [`device`]: allocating, registering and unregistering an `ib_device`,
//!   and what a [`device::Driver`] provides.
//! - [`ops`]: the `ib_device_ops` table built from a driver.
//! - [`stats`]: the names of hardware counters.
//! - [`uobject`]: the uverbs side of user objects (files, handles, event
//!   counts).
//! - [`link`]: the `rdma link add` entry point (`rdma_link_ops`).
//! - [`netdev`]: borrowed network devices and netdevice notifiers.
//! - [`mmap`]: memory shared with a process through its mappings.
//! - [`netns`]: network namespaces and per-namespace exit hooks.
//! - [`process`]: a process named by PID: pinning in its memory, and
//!   giving a file its credentials (adopting a restored process).
//! - [`qp`]: queue pair creation and modification attributes.
//! - [`srq`]: shared receive queue attributes and events.
//! - [`param`]: a string module parameter, which `module!` lacks.
//! - [`caps`]: the caller's capabilities.
//! - [`route`]: routes, and sending packets a driver built whole.
//! - [`sched`]: reschedule points and fatal signals in long loops.
//! - [`skb`]: received packets, queues of them, and packets to send.
//! - [`umem`]: user memory pinned for memory regions, and copies to it.
//! - [`umem_odp`]: user memory paged on demand (ODP) for memory regions.
//! - [`kmem`]: copies to and from memory kernel consumers name by address.
//! - [`udata`]: the driver-specific part of a uverbs call.
//! - [`work`]: cancelling an object's queued work before it goes.
//! - [`udp_tunnel`]: UDP sockets that hand their datagrams to the driver.

// This layer is a library with a public API of its own, compiled into the
// driver's crate: its `pub` items are meant as `pub`.
#![allow(unreachable_pub)]

#[path = "access.rs"]
pub mod access;
#[path = "attr.rs"]
pub mod attr;
#[path = "backlink.rs"]
pub mod backlink;
#[path = "bh.rs"]
pub mod bh;
#[path = "bindings.rs"]
pub mod bindings;
#[path = "caps.rs"]
pub mod caps;
#[path = "cq.rs"]
pub mod cq;
#[path = "device.rs"]
pub mod device;
#[path = "kmem.rs"]
pub mod kmem;
#[path = "link.rs"]
pub mod link;
#[path = "mmap.rs"]
pub mod mmap;
#[path = "netdev.rs"]
pub mod netdev;
#[path = "netns.rs"]
pub mod netns;
#[path = "ops.rs"]
mod ops;
#[path = "param.rs"]
pub mod param;
#[path = "process.rs"]
pub mod process;
#[path = "qp.rs"]
pub mod qp;
#[path = "random.rs"]
pub mod random;
#[path = "route.rs"]
pub mod route;
#[path = "sched.rs"]
pub mod sched;
#[path = "skb.rs"]
pub mod skb;
#[path = "srq.rs"]
pub mod srq;
#[path = "stats.rs"]
pub mod stats;
#[path = "udata.rs"]
pub mod udata;
#[path = "udp_tunnel.rs"]
pub mod udp_tunnel;
#[path = "umem.rs"]
pub mod umem;
#[path = "umem_odp.rs"]
pub mod umem_odp;
#[path = "uobject.rs"]
pub mod uobject;
#[path = "work.rs"]
pub mod work;
