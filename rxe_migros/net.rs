// SPDX-License-Identifier: GPL-2.0

//! Following the network devices under our RDMA devices (the notifier half
//! of the C rxe's rxe_net.c). GIDs need nothing here: the RDMA core keeps a
//! RoCE port's GID table in step with its netdev's addresses by itself.

use crate::counters::Counter;
use crate::rdma::device::DeviceRef;
use crate::rdma::netdev::{Event, Listener, NetDev};
use crate::Rxe;
use kernel::prelude::*;

/// Receives netdevice events and applies those of our devices' netdevs.
pub(crate) struct NetEvents;

impl Listener for NetEvents {
    fn event(event: Event, ndev: &NetDev) {
        let Some(dev) = DeviceRef::<Rxe>::by_netdev(ndev, crate::this_module()) else {
            return;
        };
        match event {
            // RTNL is held here, and unregistering takes it: leave that to a
            // work item. The core detaches the netdev before it goes.
            Event::Unregister => {
                pr_info!(
                    "{}: {} is going away, removing the device\n",
                    dev.name(),
                    ndev.name()
                );
                dev.unregister_queued();
            }
            Event::Up => dev.dispatch_port_state(ndev),
            Event::Down | Event::Change => {
                if !ndev.is_active() {
                    dev.counters.inc(Counter::LinkDowned);
                }
                dev.dispatch_port_state(ndev);
            }
            // The port's active MTU is read from the netdev on every query.
            Event::ChangeMtu | Event::Other(_) => {}
        }
    }
}
