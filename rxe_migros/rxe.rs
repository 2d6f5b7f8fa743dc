// SPDX-License-Identifier: GPL-2.0

//! rxe_migros: soft-RoCE (RoCEv2 over UDP) in Rust, a drop-in for the C
//! `rdma_rxe`, growing the protocol extensions that let a running RDMA
//! application be checkpointed and restored elsewhere.
//!
//! This file is the module: it registers the `rdma link` type, follows
//! netdev events and keeps the list of our devices (the C rxe's rxe.c).
//! The verbs are in [`verbs`], netdev events in [`net`], the UDP sockets in
//! [`ns`], received packets in [`recv`], multicast groups in [`mcast`],
//! shared receive queues in [`srq`], the port counters in [`counters`],
//! the limits in [`param`], and the wire protocol in the sans-IO core
//! [`proto`].

use kernel::prelude::*;
use kernel::sync::global_lock;
use kernel::{ModuleMetadata, ThisModule};

#[path = "../rust/rdma.rs"]
mod rdma;

mod ah;
mod checkpoint;
mod context;
mod control;
mod counters;
mod cq;
mod mcast;
mod migration;
mod moved;
mod mr;
mod mw;
mod net;
mod ns;
mod param;
mod pool;
mod proto;
mod qp;
mod queue;
mod recv;
mod restore;
mod srq;
mod transport;
mod verbs;
mod xmit;

use kernel::sync::atomic::Atomic;
use rdma::device::{Device, DeviceHandle, DeviceInfo, DeviceRef, NewDevice};
use rdma::link::{LinkType, NewLink};
use rdma::netdev::{NetDev, Notifier};
use rdma::netns::Pernet;
use rdma::param::CharpParam;

module! {
    type: RxeModule,
    name: "rxe_migros",
    authors: ["The rxe_migros developers"],
    description: "Soft RoCE in Rust, with live migration of RDMA applications",
    license: "GPL",
    alias: ["rdma-link-rxe_migros"],
    params: {
        pause_timeout_s: u32 {
            default: 60,
            description: "Seconds a QP waits for a migrating partner (Paused, Resuming) before its error state",
        },
    },
}

/// The `rdma link` type our devices are created with. "rxe" makes us a
/// drop-in for the C driver; another name lets both run side by side.
static LINK_TYPE: CharpParam = CharpParam::new(c"rxe");
charp_param!(
    LINK_TYPE,
    c"link_type",
    b"parm=link_type:rdma link type to register (default \"rxe\")\0"
);

global_lock! {
    // SAFETY: initialised first thing in `RxeModule::init`.
    unsafe(uninit) static DEVICES: Mutex<KVec<DeviceHandle>> = KVec::new();
}

pub(crate) fn this_module() -> &'static ThisModule {
    const MODULE: &ThisModule = &<RxeModule as ModuleMetadata>::THIS_MODULE;
    MODULE
}

/// Per-device data of an rxe device.
pub(crate) struct Rxe {
    /// Node and system image GUID: the EUI-64 of the netdev's MAC.
    pub(crate) node_guid: u64,
    /// Memory regions, by the index in their keys.
    pub(crate) mrs: Pin<KBox<pool::Pool<mr::MrInner>>>,
    /// Memory windows, by the index in their rkeys.
    pub(crate) mws: Pin<KBox<pool::Pool<mw::MwInner>>>,
    /// The tag of the next key.
    pub(crate) next_key_tag: Atomic<u32>,
    /// The port's counters.
    pub(crate) counters: counters::Counters,
    /// Address handles, by the number librxe names them with.
    pub(crate) ahs: Pin<KBox<pool::Pool<ah::AhInner>>>,
    /// The QPs, by number, for the packets that arrive for them.
    pub(crate) qps: Pin<KBox<pool::Pool<qp::QpInner>>>,
    /// Its shared receive queues, by number.
    pub(crate) srqs: Pin<KBox<pool::Pool<srq::SrqInner>>>,
    /// The multicast groups its UD QPs are attached to.
    pub(crate) mcast: Pin<KBox<mcast::Groups>>,
    /// UD QPs of other devices that moved, for our UD requesters.
    pub(crate) moves: Pin<KBox<moved::Moves>>,
    /// The tokens this device grants UD QPs that are about to move, under
    /// a secret drawn at creation (docs/migration.md, "UD moves").
    pub(crate) verifier: crate::proto::moves::Verifier,
    /// The UDP sockets of the netdev's namespace, which receive for us.
    _sockets: ns::NsRef,
}

/// The modified EUI-64 of a MAC address (RFC 4291, appendix A).
fn eui64(mac: [u8; 6]) -> u64 {
    u64::from_be_bytes([
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

impl NewLink for Rxe {
    fn newlink(name: &CStr, ndev: &NetDev) -> Result {
        if ndev.is_vlan() {
            pr_err!(
                "{}: is a VLAN: add the link on the device under it\n",
                ndev.name()
            );
            return Err(EPERM);
        }
        if DeviceRef::<Rxe>::any_on(ndev) {
            pr_err!("{}: already has an rxe device\n", ndev.name());
            return Err(EEXIST);
        }
        let node_guid = eui64(ndev.mac().unwrap_or_else(rdma::netdev::random_local_mac));
        let info = DeviceInfo {
            node_guid,
            node_desc: b"rxe",
            num_comp_vectors: kernel::cpu::nr_cpu_ids() as i32,
        };
        let data = Rxe {
            node_guid,
            mrs: KBox::pin_init(pool::Pool::new(mr::INDICES.0, mr::INDICES.1), GFP_KERNEL)?,
            mws: KBox::pin_init(pool::Pool::new(mw::INDICES.0, mw::INDICES.1), GFP_KERNEL)?,
            next_key_tag: Atomic::new(0),
            counters: counters::Counters::new(),
            ahs: KBox::pin_init(pool::Pool::new(ah::NUMBERS.0, ah::NUMBERS.1), GFP_KERNEL)?,
            qps: KBox::pin_init(pool::Pool::new(qp::QPNS.0, qp::QPNS.1), GFP_KERNEL)?,
            srqs: KBox::pin_init(pool::Pool::new(srq::NUMBERS.0, srq::NUMBERS.1), GFP_KERNEL)?,
            mcast: KBox::pin_init(mcast::Groups::new()?, GFP_KERNEL)?,
            moves: KBox::pin_init(moved::Moves::new(), GFP_KERNEL)?,
            verifier: crate::proto::moves::Verifier::new({
                let (a, b) = (rdma::random::u64(), rdma::random::u64());
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&a.to_ne_bytes());
                key[8..].copy_from_slice(&b.to_ne_bytes());
                key
            }),
            _sockets: ns::NsRef::get(ndev.net())?,
        };
        let dev = NewDevice::new(this_module(), &info, data)?;
        // Listed before it is registered, so that however soon it goes (its
        // netdev vanishing), `dealloc` finds it. Unload cannot run meanwhile:
        // it unregisters the link type first, which waits for us.
        DEVICES.lock().push(dev.handle(), GFP_KERNEL)?;
        dev.register(name, ndev)
            .inspect_err(|e| pr_err!("{}: cannot register on {}: {:?}\n", name, ndev.name(), e))?;
        pr_info!("{}: added on {}\n", name, ndev.name());
        Ok(())
    }
}

/// Called as the RDMA core frees one of our devices.
pub(crate) fn forget_device(dev: &Device<Rxe>) {
    let handle = dev.handle();
    DEVICES.lock().retain(|h| *h != handle);
}

/// Unregisters every device left when the module goes.
struct RemoveAllDevices;

impl Drop for RemoveAllDevices {
    fn drop(&mut self) {
        loop {
            let held = {
                let devices = DEVICES.lock();
                let Some(&handle) = devices.first() else {
                    break;
                };
                // SAFETY: `handle` is listed, so its `dealloc` (which unlists
                // it under this lock) has not run: the device is not freed.
                unsafe { handle.hold() }
            };
            // Returns once `dealloc` has run and unlisted the device.
            held.unregister();
        }
    }
}

/// Frees the buffers of the module's global lists (devices, user contexts,
/// namespaces' sockets): statics are never dropped, and a list keeps its
/// buffer when its last entry goes. Dropped last, when all are empty.
struct FreeLists;

impl Drop for FreeLists {
    fn drop(&mut self) {
        *DEVICES.lock() = KVec::new();
        context::release_list();
        ns::release_list();
    }
}

struct RxeModule {
    // Field order is drop order: first no control commands, then no new links, then no devices (their
    // sockets close with them), then no sockets in any namespace, and only
    // then no netdev events (which may still name a device).
    _control: Pin<KBox<control::Registration>>,
    _link: LinkType<Rxe>,
    _devices: RemoveAllDevices,
    _sockets: Pernet<ns::NsExit>,
    _events: Notifier<net::NetEvents>,
    _lists: FreeLists,
}

impl kernel::Module for RxeModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: called once, before anything else touches `DEVICES`.
        unsafe { DEVICES.init() };
        // SAFETY: as above, for the namespaces' sockets.
        unsafe { ns::init() };
        // SAFETY: as above, for the user contexts.
        unsafe { context::init() };
        // `rdma link add` reads at most IFNAMSIZ - 1 bytes of a type name.
        let link_type = LINK_TYPE.get();
        if link_type.is_empty() || link_type.to_bytes().len() >= 16 {
            pr_err!("link_type must be 1 to 15 characters long\n");
            return Err(EINVAL);
        }
        let events = Notifier::register()?;
        let sockets = Pernet::register()?;
        let link = LinkType::register(link_type)?;
        let control = KBox::pin_init(
            control::Registration::register(kernel::miscdevice::MiscDeviceOptions {
                name: c"rxe_migros",
            }),
            GFP_KERNEL,
        )?;
        pr_info!(
            "loaded, rdma link type \"{}\"\n",
            LINK_TYPE.get().to_str().unwrap_or("?")
        );
        Ok(RxeModule {
            _control: control,
            _link: link,
            _devices: RemoveAllDevices,
            _sockets: sockets,
            _events: events,
            _lists: FreeLists,
        })
    }
}
