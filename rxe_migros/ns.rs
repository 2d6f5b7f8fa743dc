// SPDX-License-Identifier: GPL-2.0

//! One pair of UDP sockets per network namespace (the C rxe's rxe_ns.c).
//!
//! RoCEv2 is received on UDP port 4791. The first device created in a
//! namespace binds it there, over IPv4 and IPv6; the last one gone closes
//! it. When a namespace dies before its devices are freed (their removal is
//! queued), its sockets close with it and the devices' references lapse.
//! Binding fails if another driver (the C rxe) holds the port in that
//! namespace: the two run side by side only in separate namespaces.

use crate::rdma::netns::{Net, PernetExit};
use crate::rdma::udp_tunnel::TunnelSocket;
use crate::recv::Recv;
use kernel::prelude::*;
use kernel::sync::global_lock;

use crate::proto::roce::UDP_PORT;

/// The sockets of one namespace and how many devices use them.
struct NsSockets {
    /// The namespace's identity, while it lives.
    net: usize,
    /// Ours, never reused: what devices hold.
    id: u64,
    users: usize,
    _v4: TunnelSocket<Recv>,
    _v6: Option<TunnelSocket<Recv>>,
}

struct Table {
    next_id: u64,
    list: KVec<NsSockets>,
}

global_lock! {
    // SAFETY: initialised first thing in `RxeModule::init`.
    unsafe(uninit) static SOCKETS: Mutex<Table> = Table { next_id: 1, list: KVec::new() };
}

/// Must run before any other function of this module.
///
/// # Safety
///
/// Called once, at module init, before anything else uses the table.
pub(crate) unsafe fn init() {
    // SAFETY: per the caller.
    unsafe { SOCKETS.init() };
}

/// Frees the table's buffer at module exit, when no device uses it.
pub(crate) fn release_list() {
    SOCKETS.lock().list = KVec::new();
}

/// A device's use of its namespace's sockets; dropping it closes them if
/// it was the last.
pub(crate) struct NsRef(u64);

impl NsRef {
    /// Uses the sockets of `net`, binding them if they are not yet.
    pub(crate) fn get(net: &Net) -> Result<NsRef> {
        let mut table = SOCKETS.lock();
        if let Some(s) = table.list.iter_mut().find(|s| s.net == net.id()) {
            s.users += 1;
            return Ok(NsRef(s.id));
        }
        let v4 = TunnelSocket::bind(net, UDP_PORT, false).inspect_err(|e| {
            pr_err!("cannot bind UDP port {UDP_PORT} (IPv4): {e:?}; is another RoCE driver using it in this namespace?\n")
        })?;
        let v6 = match TunnelSocket::bind(net, UDP_PORT, true) {
            Ok(s) => Some(s),
            Err(e) if e == EAFNOSUPPORT => None,
            Err(e) => {
                pr_err!("cannot bind UDP port {UDP_PORT} (IPv6): {e:?}\n");
                return Err(e);
            }
        };
        let id = table.next_id;
        table.next_id += 1;
        table.list.push(
            NsSockets {
                net: net.id(),
                id,
                users: 1,
                _v4: v4,
                _v6: v6,
            },
            GFP_KERNEL,
        )?;
        Ok(NsRef(id))
    }
}

impl Drop for NsRef {
    fn drop(&mut self) {
        let closed = {
            let mut table = SOCKETS.lock();
            let Some(i) = table.list.iter().position(|s| s.id == self.0) else {
                // The namespace went first and took its sockets along.
                return;
            };
            table.list[i].users -= 1;
            if table.list[i].users > 0 {
                return;
            }
            table.list.remove(i).ok()
        };
        // Closing waits for readers (`synchronize_rcu`): not under the lock.
        drop(closed);
    }
}

/// Closes a dying namespace's sockets.
pub(crate) struct NsExit;

impl PernetExit for NsExit {
    fn exit(net: &Net) {
        let closed = {
            let mut table = SOCKETS.lock();
            let i = table.list.iter().position(|s| s.net == net.id());
            i.and_then(|i| table.list.remove(i).ok())
        };
        drop(closed);
    }
}
