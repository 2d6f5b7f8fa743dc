// SPDX-License-Identifier: GPL-2.0

//! The kernel side of a QP's engine ([`Engine`]): the [`Io`] it runs
//! against. The engine, in the sans-IO core, holds all of a QP's transport
//! and migration state and decides everything; this file only reaches
//! what it asks for:
//!
//! - the rings librxe (or a kernel consumer's posts) fill, mapped shared;
//! - MRs, by key, in the QP's PD, and their pinned pages;
//! - skbs out ([`crate::xmit`]), completions into the CQs;
//! - the device's AHs, UD move table and counters, and the log.
//!
//! It runs with the QP's mutex held, in process context: from the send
//! doorbell, the QP's packet work item, or its timer ([`crate::qp`]).

use crate::counters::Counter;
use crate::cq::CqInner;
use crate::mr::{self, MrInner};
use crate::mw;
use crate::proto::engine::{
    self, AtomicOp, Av, Completion, Count, Engine, Inbox, Io, Need, Network, Path, QpEvent, Queue,
    SentWqe, Status, Storage, TxError, WcKind,
};
use crate::proto::fastreg::{Reg, RegError};
use crate::proto::hdr::{Bth, Extensions};
use crate::proto::mw::{Bind, MwError};
use crate::qp::QpInner;
use crate::rdma::access::Access;
use crate::rdma::cq::{NetworkType, WcFlags, WcOpcode, WcStatus, WorkCompletion};
use crate::rdma::device::Device;
use crate::rdma::qp::{AddressVector, QpEventKind};
use crate::rdma::skb::SkbQueue;
use crate::Rxe;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::{msecs_to_jiffies, ClockSource, Jiffies, Monotonic};

/// The longest the QP's timer is armed for at a time.
const MAX_TIMER_MS: u64 = 200;

/// What the kernel's engines keep: MR references, vmalloc-able arrays.
pub(crate) struct Kernel;

/// A byte buffer the engine may grow.
#[derive(Default)]
pub(crate) struct Bytes(KVVec<u8>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for Bytes {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl engine::Bytes for Bytes {
    fn append(&mut self, parts: &[&[u8]]) -> bool {
        let before = self.0.len();
        for p in parts {
            if self.0.extend_from_slice(p, GFP_KERNEL).is_err() {
                self.0.truncate(before);
                return false;
            }
        }
        true
    }
}

/// The engine's table of started send requests.
pub(crate) struct Sent(KVVec<SentWqe>);

impl AsRef<[SentWqe]> for Sent {
    fn as_ref(&self) -> &[SentWqe] {
        &self.0
    }
}

impl AsMut<[SentWqe]> for Sent {
    fn as_mut(&mut self) -> &mut [SentWqe] {
        &mut self.0
    }
}

impl Storage for Kernel {
    type Mr = Arc<MrInner>;
    type Sent = Sent;
    type Bytes = Bytes;

    fn key(mr: &Arc<MrInner>) -> u32 {
        mr.key()
    }
}

/// A QP's engine in the kernel.
pub(crate) type QpEngine = Engine<Kernel>;

/// The storage a new engine for rings `sq` and `rq` needs: a started
/// request per send slot, and the slot buffer (`Config::slot_room`).
pub(crate) fn storage(cfg: &engine::Config) -> Result<(Sent, Bytes)> {
    let n = cfg.sq.capacity() as usize + 1;
    let mut sent = KVVec::with_capacity(n, GFP_KERNEL)?;
    for _ in 0..n {
        sent.push(SentWqe::BLANK, GFP_KERNEL)?;
    }
    let room = cfg.slot_room();
    let mut slot = KVVec::with_capacity(room, GFP_KERNEL)?;
    slot.resize(room, 0, GFP_KERNEL)?;
    Ok((Sent(sent), Bytes(slot)))
}

/// The monotonic clock, as the engine takes time.
pub(crate) fn now() -> engine::Time {
    Monotonic::ktime_get() as u64
}

/// How long until the engine's next deadline, for the QP's delayed work.
pub(crate) fn timer_delay(at: engine::Time) -> Jiffies {
    let ms = at.saturating_sub(now()).div_ceil(1_000_000);
    // An armed timer is not moved earlier (arming it again does nothing),
    // and a pause may arm it for a minute: capped, it fires often enough
    // to serve a sooner deadline set meanwhile (a RESUME to send again),
    // and re-arms for what is due then.
    msecs_to_jiffies(ms.min(MAX_TIMER_MS) as u32).max(1)
}

/// The engine's Io for one QP of a device.
pub(crate) struct Ctx<'a> {
    pub(crate) dev: &'a Device<Rxe>,
    pub(crate) qp: &'a QpInner,
}

/// Packets the receive path queued on the QP.
pub(crate) struct Packets<'a>(pub(crate) &'a SkbQueue);

impl Inbox for Packets<'_> {
    fn next(&mut self, f: impl FnOnce(&[u8])) -> bool {
        let Some(mut skb) = self.0.pop() else {
            return false;
        };
        if let Ok(l3) = skb.network_bytes() {
            f(l3);
        }
        true
    }
}

/// The core's address vector of `av`.
pub(crate) fn av_core(av: &AddressVector) -> Av {
    Av {
        dgid: av.dgid,
        sgid: av.sgid,
        flow_label: av.flow_label,
        sgid_index: av.sgid_index,
        hop_limit: av.hop_limit,
        traffic_class: av.traffic_class,
        ipv6: av.ipv6,
        dmac: av.dmac,
    }
}

/// The verbs' address vector of `av`.
pub(crate) fn av_verbs(av: &Av) -> AddressVector {
    AddressVector {
        dgid: av.dgid,
        sgid: av.sgid,
        sgid_index: av.sgid_index,
        flow_label: av.flow_label,
        hop_limit: av.hop_limit,
        traffic_class: av.traffic_class,
        dmac: av.dmac,
        ipv6: av.ipv6,
    }
}

fn counter(c: Count) -> Counter {
    match c {
        Count::RcvdPkts => Counter::RcvdPkts,
        Count::RcvdBytes => Counter::RcvdBytes,
        Count::RcvdBadAddr => Counter::RcvdBadAddr,
        Count::RcvdBadQkey => Counter::RcvdBadQkey,
        Count::RcvdNoDest => Counter::RcvdNoDest,
        Count::RcvdMalformed => Counter::RcvdMalformed,
        Count::DupReq => Counter::DupReq,
        Count::OutOfSeqReq => Counter::OutOfSeqReq,
        Count::RcvRnr => Counter::RcvRnr,
        Count::SndRnr => Counter::SndRnr,
        Count::RcvSeqErr => Counter::RcvSeqErr,
        Count::RetryExceeded => Counter::RetryExceeded,
        Count::RnrRetryExceeded => Counter::RnrRetryExceeded,
        Count::CompRetry => Counter::CompRetry,
        Count::RdmaSends => Counter::RdmaSends,
        Count::RdmaRecvs => Counter::RdmaRecvs,
        Count::PausedNakSent => Counter::PausedNakSent,
        Count::PausedNakRcvd => Counter::PausedNakRcvd,
        Count::PausedMs => Counter::PausedMs,
        Count::ResumeSent => Counter::ResumeSent,
        Count::ResumeRcvd => Counter::ResumeRcvd,
        Count::RcvdBadResume => Counter::RcvdBadResume,
    }
}

fn status(s: Status) -> WcStatus {
    match s {
        Status::Success => WcStatus::Success,
        Status::LocLenErr => WcStatus::LocLenErr,
        Status::LocQpOpErr => WcStatus::LocQpOpErr,
        Status::LocProtErr => WcStatus::LocProtErr,
        Status::WrFlushErr => WcStatus::WrFlushErr,
        Status::BadRespErr => WcStatus::BadRespErr,
        Status::RemInvReqErr => WcStatus::RemInvReqErr,
        Status::RemAccessErr => WcStatus::RemAccessErr,
        Status::RemOpErr => WcStatus::RemOpErr,
        Status::RetryExcErr => WcStatus::RetryExcErr,
        Status::RnrRetryExcErr => WcStatus::RnrRetryExcErr,
        Status::MwBindErr => WcStatus::MwBindErr,
    }
}

fn opcode(k: WcKind) -> WcOpcode {
    match k {
        WcKind::Send => WcOpcode::Send,
        WcKind::RdmaWrite => WcOpcode::RdmaWrite,
        WcKind::RdmaRead => WcOpcode::RdmaRead,
        WcKind::CompSwap => WcOpcode::CompSwap,
        WcKind::FetchAdd => WcOpcode::FetchAdd,
        WcKind::Flush => WcOpcode::Flush,
        WcKind::AtomicWrite => WcOpcode::AtomicWrite,
        WcKind::LocalInv => WcOpcode::LocalInv,
        WcKind::BindMw => WcOpcode::BindMw,
        WcKind::RegMr => WcOpcode::RegMr,
        WcKind::Recv => WcOpcode::Recv,
        WcKind::RecvRdmaWithImm => WcOpcode::RecvRdmaWithImm,
    }
}

/// Posts `wc`; a full CQ has reported its overflow to its consumer.
fn post(qp: &QpInner, cq: &CqInner, c: &Completion, solicited: bool) {
    let mut flags = WcFlags::NONE;
    if c.grh {
        flags |= WcFlags::GRH;
    }
    if c.imm.is_some() {
        flags |= WcFlags::WITH_IMM;
    }
    if c.invalidated.is_some() {
        flags |= WcFlags::WITH_INVALIDATE;
    }
    let wc = WorkCompletion {
        wr_id: c.wr_id,
        status: status(c.status),
        opcode: opcode(c.kind),
        byte_len: c.byte_len,
        // Immediate data, or the rkey invalidated: never both (no
        // opcode carries an IMMDT and an IETH).
        ex: c.imm.or(c.invalidated).unwrap_or(0),
        qp_num: c.qpn,
        src_qp: c.src_qp,
        wc_flags: flags,
        port_num: 1,
        network_hdr_type: match c.network {
            Network::None => NetworkType::None,
            Network::Ipv4 => NetworkType::Ipv4,
            Network::Ipv6 => NetworkType::Ipv6,
        },
        qp: qp.core,
        ..WorkCompletion::default()
    };
    let _ = cq.post(&wc, solicited);
}

impl Io for Ctx<'_> {
    type S = Kernel;

    fn producer(&self, q: Queue) -> u32 {
        match q {
            Queue::Send => self.qp.sq.producer(),
            Queue::Recv => self.qp.rq.producer(),
        }
    }

    fn read_slot(
        &self,
        q: Queue,
        index: u32,
        out: &mut [u8],
    ) -> core::result::Result<(), engine::Fault> {
        let wq = match q {
            Queue::Send => &self.qp.sq,
            Queue::Recv => &self.qp.rq,
        };
        wq.read_slot(index, out).map_err(|_| engine::Fault)
    }

    fn set_consumer(&self, q: Queue, index: u32) {
        match q {
            Queue::Send => self.qp.sq.set_consumer(index),
            Queue::Recv => self.qp.rq.set_consumer(index),
        }
    }

    fn take_shared(&self, out: &mut [u8]) -> bool {
        self.qp.srq.as_ref().is_some_and(|srq| srq.take(out))
    }

    fn lookup(
        &self,
        key: u32,
        need: Need,
        addr: u64,
        len: u32,
    ) -> core::result::Result<(Arc<MrInner>, usize), mr::MrError> {
        // A window's key finds no MR: lkeys, and a FLUSH of a whole MR
        // (a window grants its range only), name MRs.
        let (access, remote) = match need {
            Need::LocalRead => (Access::LOCAL_READ, false),
            Need::LocalWrite => (Access::LOCAL_WRITE, false),
            Need::RemoteRead => (Access::REMOTE_READ, true),
            Need::RemoteWrite => (Access::REMOTE_WRITE, true),
            Need::RemoteAtomic => (Access::REMOTE_ATOMIC, true),
            Need::RemoteFlush => (Access::FLUSH_GLOBAL, true),
            Need::RemoteFlushMr => {
                return mr::find(self.dev, self.qp.pd, key, Access::FLUSH_GLOBAL)
                    .map(|(m, _)| (m, 0));
            }
        };
        if remote && mw::is_mw(key) {
            return mw::lookup(self.dev, self.qp, key, access.bits(), addr, len);
        }
        mr::lookup(self.dev, self.qp.pd, key, access, addr, len)
    }

    fn read(
        &self,
        mr: &Arc<MrInner>,
        at: usize,
        out: &mut [u8],
    ) -> core::result::Result<(), engine::Fault> {
        mr.read(at, out).map_err(|_| engine::Fault)
    }

    unsafe fn write(
        &self,
        mr: &Arc<MrInner>,
        at: usize,
        data: &[u8],
    ) -> core::result::Result<(), engine::Fault> {
        // SAFETY: per the caller, a lookup granted write access to this
        // range of `mr`.
        unsafe { mr.write(at, data) }.map_err(|_| engine::Fault)
    }

    unsafe fn atomic(
        &self,
        mr: &Arc<MrInner>,
        at: usize,
        op: AtomicOp,
    ) -> core::result::Result<u64, engine::Fault> {
        mr.atomic(at, op).map_err(|_| engine::Fault)
    }

    fn bind_mw(&self, b: &Bind) -> core::result::Result<(), MwError> {
        mw::bind(self.dev, self.qp, b)
    }

    fn invalidate(&self, rkey: u32, remote: bool) -> core::result::Result<(), MwError> {
        if mw::is_mw(rkey) {
            mw::invalidate(self.dev, self.qp, rkey, remote)
        } else {
            mr::invalidate(self.dev, self.qp.pd, rkey, remote)
        }
    }

    fn reg_mr(&self, r: &Reg) -> core::result::Result<(), RegError> {
        mr::register(self.dev, self.qp.pd, r)
    }

    fn transmit(
        &self,
        path: &Path,
        bth: Bth,
        ext: &Extensions,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> core::result::Result<(), TxError>,
    ) -> core::result::Result<(), TxError> {
        let mut why = None;
        let sent = crate::xmit::send(self.dev, path, bth, ext, len, |buf| {
            fill(buf).map_err(|e| {
                why = Some(e);
                EINVAL
            })
        });
        match (sent, why) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) if e == EINVAL => Err(TxError::Invalid),
            (Err(_), None) => Err(TxError::Dropped),
        }
    }

    fn complete(&self, q: Queue, wc: &Completion, solicited: bool) {
        let cq = match q {
            Queue::Send => &self.qp.send_cq,
            Queue::Recv => &self.qp.recv_cq,
        };
        post(self.qp, cq, wc, solicited);
    }

    fn ah(&self, num: u32) -> Option<Av> {
        let ah = self.dev.ahs.get(num)?;
        (ah.pd == self.qp.pd).then(|| av_core(&ah.av()))
    }

    fn kernel_av(&self, index: u32) -> Option<Av> {
        self.qp.kernel_av(index).map(|av| av_core(&av))
    }

    fn moved(&self, gid: &[u8; 16], qpn: u32) -> Option<[u8; 16]> {
        self.dev.moves.lookup(gid, qpn)
    }

    fn count(&self, c: Count, n: u64) {
        self.dev.counters.add(counter(c), n);
    }

    fn count_first(&self, c: Count) -> bool {
        self.dev.counters.inc_first(counter(c))
    }

    fn log(&self, args: core::fmt::Arguments<'_>) {
        pr_info!("{}\n", args);
    }

    fn warn(&self, args: core::fmt::Arguments<'_>) {
        pr_warn!("{}\n", args);
    }

    fn wait_limit_ms(&self) -> u64 {
        u64::from(crate::module_parameters::pause_timeout_s.value()) * 1000
    }

    fn random(&self) -> u64 {
        crate::rdma::random::u64()
    }

    fn ud_token_request(&self, d: &crate::proto::roce::Datagram<'_>) {
        crate::migration::on_ud_token_request(self.dev, d);
    }

    fn event(&self, e: QpEvent) {
        let kind = match e {
            QpEvent::Fatal => QpEventKind::Fatal,
            QpEvent::RequestError => QpEventKind::RequestError,
            QpEvent::AccessError => QpEventKind::AccessError,
            QpEvent::SqDrained => QpEventKind::SqDrained,
            QpEvent::LastWqeReached => QpEventKind::LastWqeReached,
        };
        self.qp.events.event(kind);
    }
}
