// SPDX-License-Identifier: GPL-2.0

//! The QP engine: everything one queue pair does on the wire, in one type
//! with private state ([`Engine`]). It holds the C rxe's rxe_req.c,
//! rxe_comp.c and rxe_resp.c, the timers, and the migration states
//! (docs/migration.md), and it drives the core's decision engines
//! ([`Segments`](super::req::Segments), [`Completer`], [`Responder`]).
//!
//! It is sans-IO, in the manner of quinn-proto and smoltcp: time comes in
//! as a value with each call, and everything outside the QP goes through
//! the [`Io`] its caller passes:
//!
//! - the rings the owner posts work requests into;
//! - the memory regions that payloads are copied to and from;
//! - sending a packet, and posting a completion;
//! - the device's address handles, move table and counters.
//!
//! The kernel module implements [`Io`] over shared-memory rings, pinned
//! pages and skbs (`rxe_migros/qp.rs`); the host simulation (`sim.rs`)
//! over byte vectors and lossy links. Both run this very code.
//!
//! Its inputs: a received packet ([`Engine::receive`]), the send doorbell
//! ([`Engine::doorbell`]), the timer ([`Engine::on_timer`]), the attributes
//! of Modify QP ([`Engine::modify`]), and the migration commands
//! ([`Engine::stop`], [`Engine::resume`]). Its outputs: packets and
//! completions through [`Io`], and the next deadline
//! ([`Engine::poll_timeout`]). Its state goes into a checkpoint image's QP
//! record ([`Engine::dump`]) and comes back from one
//! ([`Engine::restored`]).
//!
//! The roles are in [`send`] (requester), [`complete`] (completer),
//! [`respond`] (responder) and [`migrate`] (the migration protocol).

mod complete;
mod migrate;
mod respond;
mod send;

// The core's other modules, for this one's parts too.
use super::{aeth, comp, hdr, mig, modify, opcode, psn, req, resp, roce, wqe};

use super::comp::Completer;
use super::fastreg::{Reg, RegError};
use super::hdr::{Bth, Extensions};
use super::image::{self, Held, Partial};
use super::mig::MigState;
use super::modify::{Attrs, QpState as State};
use super::mw::{Bind, MwError};
use super::opcode::{OpInfo, ICRC_BYTES};
use super::psn::Psn;
use super::queue::Ring;
use super::req::{psn_span, Kind, Mtu, Service};
use super::resp::{InProgress, Responder};
use super::roce::{Datagram, Encap, MULTICAST_QPN};
use super::wqe::{Operation, SgeList, UdDest};

pub use super::image::Av;
pub use migrate::{is_v4_mapped, NewSource};

/// Monotonic time in nanoseconds, as the caller's clock gives it.
pub type Time = u64;

const NS_PER_MS: u64 = 1_000_000;

/// The most PSNs an RC requester sends beyond the oldest unacknowledged
/// one (the C rxe's RXE_MAX_UNACKED_PSNS).
pub const MAX_UNACKED_PSNS: i32 = 128;

/// The most packets one call sends for READ replies before it lets other
/// work run (the C rxe's RXE_MAX_ITERATIONS).
pub const READ_BURST: u32 = 1024;

/// The most datagrams a Stopped QP holds; later ones are dropped, as a
/// full receive queue would drop them.
pub const MAX_HELD: u32 = 1024;

/// `struct ib_grh` room at the start of a UD receive buffer.
pub const GRH_BYTES: u32 = 40;

/// The default P_Key, full membership.
pub const PKEY: u16 = 0xffff;

/// The general services QP's number (IBTA 3.5.1.3) and its well-known
/// Q_Key (13.5.3.2).
pub const GSI_QPN: u32 = 1;
pub const GSI_QKEY: u32 = 0x8001_0000;

/// `IB_ACCESS_REMOTE_WRITE`, `IB_ACCESS_REMOTE_READ` and
/// `IB_ACCESS_REMOTE_ATOMIC`.
const ACCESS_REMOTE_WRITE: u32 = 1 << 1;
const ACCESS_REMOTE_READ: u32 = 1 << 2;
const ACCESS_REMOTE_ATOMIC: u32 = 1 << 3;
const ACCESS_FLUSH_GLOBAL: u32 = 1 << 8;
/// `IB_FLUSH_GLOBAL`, `IB_FLUSH_PERSISTENT` (FETH placement types) and
/// `IB_FLUSH_MR` (its level: the whole MR, not a range).
const FLUSH_GLOBAL: u8 = 1;
const FLUSH_PERSISTENT: u8 = 2;
const FLUSH_MR: u8 = 1;

/// An atomic operation on eight aligned bytes of memory ([`Io::atomic`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicOp {
    /// Writes `swap` if they hold `compare`.
    CompareSwap { compare: u64, swap: u64 },
    /// Adds `add`, wrapping.
    FetchAdd { add: u64 },
    /// Writes `value` (ATOMIC WRITE), in one step.
    Write { value: u64 },
}

impl AtomicOp {
    /// What eight bytes that held `old` hold after the operation.
    pub fn apply(self, old: u64) -> u64 {
        match self {
            AtomicOp::CompareSwap { compare, swap } if old == compare => swap,
            AtomicOp::CompareSwap { .. } => old,
            AtomicOp::FetchAdd { add } => old.wrapping_add(add),
            AtomicOp::Write { value } => value,
        }
    }
}

/// The UDP source ports of our QPs (the C rxe's RXE_ROCE_V2_SPORT): the
/// top quarter of the port space, spread by QP number.
pub fn src_port(qpn: u32) -> u16 {
    0xc000 | (qpn & 0x3fff) as u16
}

/// Where a QP's packets go: its address vector and source port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    pub av: Av,
    pub src_port: u16,
}

impl Path {
    /// The IP and UDP encapsulation of packets along the path.
    pub fn encap(&self) -> Encap {
        let av = &self.av;
        Encap {
            src: av.sgid,
            dst: av.dgid,
            ipv6: av.ipv6,
            src_port: self.src_port,
            traffic_class: av.traffic_class,
            hop_limit: av.hop_limit,
            flow_label: av.flow_label,
        }
    }

    /// The bytes of a packet along the path with `opcode` and `len` bytes
    /// of payload, IP header to ICRC; `None` for an unknown opcode.
    pub fn packet_len(&self, opcode: u8, len: usize) -> Option<usize> {
        let info = OpInfo::lookup(opcode)?;
        let pad = (4 - len % 4) % 4;
        Some(self.encap().header_len() + info.header_len() + len + pad + ICRC_BYTES)
    }

    /// Writes into `buf` ([`Path::packet_len`] bytes) the packet with
    /// `bth` (its pad is set here), the extended headers `ext`, and `len`
    /// bytes of payload that `fill` writes, then seals it: IP and UDP
    /// headers, and the ICRC over them. `Err(None)` for a `buf` of the
    /// wrong size, `Err(Some(e))` for `fill`'s error.
    pub fn write_packet<E>(
        &self,
        mut bth: Bth,
        ext: &Extensions,
        len: usize,
        buf: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), Option<E>> {
        let info = OpInfo::lookup(bth.opcode).ok_or(None)?;
        if self.packet_len(bth.opcode, len) != Some(buf.len()) {
            return Err(None);
        }
        bth.pad = ((4 - len % 4) % 4) as u8;
        // Every packet of ours carries the protocol's mark.
        bth.proto = true;
        let encap = self.encap();
        let roce = &mut buf[encap.header_len()..];
        bth.emit(roce);
        ext.emit(&info, roce);
        let start = info.header_len();
        fill(&mut roce[start..start + len]).map_err(Some)?;
        encap.seal(buf).map_err(|_| None)
    }
}

/// One of a QP's two work queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    Send,
    Recv,
}

/// The access a memory lookup must grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    LocalRead,
    LocalWrite,
    RemoteRead,
    RemoteWrite,
    RemoteAtomic,
    /// FLUSH to global visibility of a range (`IB_ACCESS_FLUSH_GLOBAL`).
    RemoteFlush,
    /// FLUSH of a whole MR: its key and access only, whatever the address
    /// and length (IBA A19: such a request need not give them).
    RemoteFlushMr,
}

/// Why a memory lookup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MrError {
    /// No MR has the key, or it is another PD's.
    BadKey,
    /// The MR does not grant the access.
    Access,
    /// The range lies outside the MR.
    Bounds,
}

/// A copy to or from memory (a ring, an MR) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// Why a packet did not go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// Its payload could not be read from memory.
    Fault,
    /// Its request is malformed (rewritten under us).
    Invalid,
    /// Lost, as on a wire: no memory, no route.
    Dropped,
}

/// An event of the QP's own for its owner, beside its completions (the
/// affiliated asynchronous events of `enum ib_event_type`): the QP went to
/// the error state for a reason that no completion of the owner's
/// reports, as its responder's errors and a lost partner are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QpEvent {
    /// `IB_EVENT_QP_FATAL`: the QP could not go on (a partner that never
    /// came back from a migration; a request that failed in the
    /// responder's hands).
    Fatal,
    /// `IB_EVENT_QP_REQ_ERR`: the RC responder met a request that is
    /// invalid (an opcode out of sequence, a length its buffers cannot
    /// take).
    RequestError,
    /// `IB_EVENT_QP_ACCESS_ERR`: the RC responder met a request its
    /// memory region does not allow (key, range or access).
    AccessError,
    /// `IB_EVENT_SQ_DRAINED`: in SQD, the send queue finished what it had
    /// begun, and every request of it is acknowledged.
    SqDrained,
    /// `IB_EVENT_QP_LAST_WQE_REACHED`: a QP on a shared receive queue
    /// entered the error state, and takes no more requests from it.
    LastWqeReached,
}

/// The status of a work completion (`enum ib_wc_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Success,
    LocLenErr,
    LocQpOpErr,
    LocProtErr,
    WrFlushErr,
    BadRespErr,
    RemInvReqErr,
    RemAccessErr,
    RemOpErr,
    RetryExcErr,
    RnrRetryExcErr,
    /// A BIND_MW request the window or its MR refused.
    MwBindErr,
}

/// What a work completion completes (`enum ib_wc_opcode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WcKind {
    Send,
    RdmaWrite,
    RdmaRead,
    CompSwap,
    FetchAdd,
    Flush,
    AtomicWrite,
    LocalInv,
    BindMw,
    RegMr,
    Recv,
    RecvRdmaWithImm,
}

/// The network header a UD receive starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    None,
    Ipv4,
    Ipv6,
}

/// A work completion, as the engine posts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub wr_id: u64,
    pub status: Status,
    pub kind: WcKind,
    pub byte_len: u32,
    pub imm: Option<u32>,
    pub qpn: u32,
    pub src_qp: u32,
    /// A UD receive: the buffer starts with [`GRH_BYTES`] of header.
    pub grh: bool,
    pub network: Network,
    /// A SEND_WITH_INV received: the rkey it invalidated here.
    pub invalidated: Option<u32>,
}

/// The device counters the engine moves (the module's hw_counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    RcvdPkts,
    RcvdBytes,
    RcvdBadAddr,
    RcvdBadQkey,
    RcvdNoDest,
    RcvdMalformed,
    DupReq,
    OutOfSeqReq,
    RcvRnr,
    SndRnr,
    RcvSeqErr,
    RetryExceeded,
    RnrRetryExceeded,
    CompRetry,
    RdmaSends,
    RdmaRecvs,
    PausedNakSent,
    PausedNakRcvd,
    PausedMs,
    ResumeSent,
    ResumeRcvd,
    /// RESUMEs refused: a new address without the partner's token, or a
    /// PSN the partner never left us at.
    RcvdBadResume,
}

/// The storage an engine keeps: the kernel's vmalloc-able vectors and
/// MR references, the host's `Vec`s.
pub trait Storage {
    /// A reference to a memory region a lookup granted.
    type Mr;
    /// One [`SentWqe`] per send queue slot.
    type Sent: AsRef<[SentWqe]> + AsMut<[SentWqe]>;
    /// A growable byte buffer.
    type Bytes: Bytes;

    /// The key an MR was found by (for a checkpoint).
    fn key(mr: &Self::Mr) -> u32;
}

/// A growable byte buffer: the held datagrams, the slot copy.
pub trait Bytes: AsRef<[u8]> + AsMut<[u8]> + Default {
    /// Appends all of `parts`, or nothing (false: no memory).
    fn append(&mut self, parts: &[&[u8]]) -> bool;
}

/// Everything outside the QP that the engine works with. All of it takes
/// `&self`: the kernel's side is shared state under its own locks, the
/// simulation's is cells.
pub trait Io {
    type S: Storage;

    /// The producer index the owner last published on `q`, in range.
    fn producer(&self, q: Queue) -> u32;
    /// Copies slot `index` of `q` into `out` (at most one slot).
    fn read_slot(&self, q: Queue, index: u32, out: &mut [u8]) -> Result<(), Fault>;
    /// Publishes our consumer index on `q`: slots before it are the
    /// owner's again.
    fn set_consumer(&self, q: Queue, index: u32);
    /// For a QP on a shared receive queue: copies the request at its head
    /// into `out` (at most one slot) and hands the slot back to its owner,
    /// as one step against the other QPs that take from it. False when it
    /// is empty. The queue's limit event is the implementer's to raise.
    fn take_shared(&self, out: &mut [u8]) -> bool;

    /// The MR of the QP's PD that `key` names, checked for `need` over
    /// `len` bytes at `addr`, and the offset of `addr` in it.
    fn lookup(
        &self,
        key: u32,
        need: Need,
        addr: u64,
        len: u32,
    ) -> Result<(<Self::S as Storage>::Mr, usize), MrError>;
    /// Copies out of `mr` from offset `at`.
    fn read(&self, mr: &<Self::S as Storage>::Mr, at: usize, out: &mut [u8]) -> Result<(), Fault>;
    /// Copies `data` into `mr` at offset `at`.
    ///
    /// # Safety
    ///
    /// `at..at + data.len()` lies within a range that [`Io::lookup`] (or
    /// the `write_target` of [`Engine::restored`]) granted write access
    /// to for `mr`.
    unsafe fn write(
        &self,
        mr: &<Self::S as Storage>::Mr,
        at: usize,
        data: &[u8],
    ) -> Result<(), Fault>;

    /// Carries out `op` on the eight bytes of `mr` at offset `at`, as one
    /// indivisible step with respect to every other access through the
    /// device, and returns what they held before.
    ///
    /// # Safety
    ///
    /// `at..at + 8` lies within a range that [`Io::lookup`] granted remote
    /// atomic access to for `mr`.
    unsafe fn atomic(
        &self,
        mr: &<Self::S as Storage>::Mr,
        at: usize,
        op: AtomicOp,
    ) -> Result<u64, Fault>;

    /// Binds the memory window `b` names, for this QP (a BIND_MW
    /// request; [`super::mw::Window::bind`] decides).
    fn bind_mw(&self, b: &Bind) -> Result<(), MwError>;
    /// Invalidates `rkey` for this QP: a LOCAL_INV request of its own, or
    /// (`remote`) the IETH of a SEND_WITH_INV from its partner
    /// ([`super::mw::Window::invalidate`] decides for a window).
    fn invalidate(&self, rkey: u32, remote: bool) -> Result<(), MwError>;
    /// Makes the fast-registration MR `r` names valid, for this QP (a
    /// kernel consumer's REG_MR request; [`super::fastreg::FastMr`]
    /// decides).
    fn reg_mr(&self, r: &Reg) -> Result<(), RegError>;

    /// Sends one packet along `path`: `bth`, the extended headers `ext`,
    /// and `len` bytes of payload, which `fill` writes.
    fn transmit(
        &self,
        path: &Path,
        bth: Bth,
        ext: &Extensions,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), TxError>,
    ) -> Result<(), TxError>;
    /// Posts a completion to the CQ of `q`.
    fn complete(&self, q: Queue, wc: &Completion, solicited: bool);

    /// The address of AH number `num`, if it is of the QP's PD.
    fn ah(&self, num: u32) -> Option<Av>;
    /// The address a kernel consumer gave the UD request in send slot
    /// `index` (kernel AHs have no number).
    fn kernel_av(&self, index: u32) -> Option<Av>;
    /// Where UD QP `qpn` at `gid` went, if it announced a move.
    fn moved(&self, gid: &[u8; 16], qpn: u32) -> Option<[u8; 16]>;

    /// Adds `n` to counter `c`.
    fn count(&self, c: Count, n: u64);
    /// Adds one to `c`; true the first time, for one log line.
    fn count_first(&self, c: Count) -> bool;
    /// One line for the log.
    fn log(&self, args: core::fmt::Arguments<'_>);
    /// One line for the log, as a warning.
    fn warn(&self, args: core::fmt::Arguments<'_>);
    /// The bound on waiting for a partner (Paused, Resuming), in ms.
    fn wait_limit_ms(&self) -> u64;
    /// 64 bits from a cryptographically secure generator (the kernel's
    /// RNG): tokens and nonces.
    fn random(&self) -> u64;
    /// A UD token request reached the device's general services QP: the
    /// device answers it ([`moves::grant`](super::moves::grant)).
    fn ud_token_request(&self, d: &Datagram<'_>);
    /// Tells the QP's owner of `e` (its asynchronous event file).
    fn event(&self, e: QpEvent);
}

/// Received packets waiting for the engine.
pub trait Inbox {
    /// Hands the next packet's IP header onwards (`l3`) to `f`, checked
    /// whole by the receive path; false when none waits.
    fn next(&mut self, f: impl FnOnce(&[u8])) -> bool;
}

/// What a QP is, for all its life.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub qpn: u32,
    pub service: Service,
    pub sq_sig_all: bool,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline: u32,
    pub sq: Ring,
    pub rq: Ring,
    /// The QP takes its receive work requests from a shared receive queue
    /// of `rq`'s shape ([`Io::take_shared`]), and has no ring of its own.
    pub srq: bool,
    /// A kernel consumer's QP: it may post REG_MR.
    pub kernel: bool,
}

impl Config {
    /// The bytes of the buffer work requests are copied into
    /// ([`Engine::new`]'s `slot`): one slot of either ring, and on a shared
    /// receive queue one more at the end, for the receive request taken
    /// from it. Reads of a ring copy at most one of its slots, so they
    /// never reach the taken one.
    pub fn slot_room(&self) -> usize {
        let one = self.sq.slot_bytes().max(self.rq.slot_bytes());
        match self.srq {
            true => one + self.rq.slot_bytes(),
            false => one,
        }
    }
}

/// A send work request the requester started, as the completer and a
/// retry need it: the ring slot may be rewritten by a confused process,
/// this may not.
#[derive(Clone, Copy, Debug)]
pub struct SentWqe {
    kind: Kind,
    op: Operation,
    first: Psn,
    length: u32,
    wr_id: u64,
    signaled: bool,
    solicited: bool,
    ud: Option<UdDest>,
    /// A kernel consumer's UD request carries its address itself.
    av: Option<Av>,
}

impl SentWqe {
    /// An unused slot: what a new engine's table is filled with.
    pub const BLANK: SentWqe = SentWqe {
        kind: Kind::Send,
        op: Operation::Send { imm: None },
        first: Psn::new(0),
        length: 0,
        wr_id: 0,
        signaled: false,
        solicited: false,
        ud: None,
        av: None,
    };
}

/// A SEND being received into a receive work request.
#[derive(Clone, Copy)]
struct RecvProgress {
    wr_id: u64,
    /// Bytes placed so far.
    offset: u32,
}

/// An RDMA WRITE being received.
struct WriteProgress<M> {
    mr: M,
    /// Where the next payload goes in the MR.
    at: usize,
    /// Bytes the RETH announced that have not come yet.
    left: u32,
    total: u32,
}

/// A READ being answered, a burst of packets at a time ([`READ_BURST`]),
/// so that one long READ does not keep the others waiting. Not in a
/// checkpoint: the requester asks again for what did not arrive, as for
/// packets lost on the wire.
struct ReadReply<M> {
    /// The MR and the offset in it that the reply reads from (none for a
    /// READ of zero bytes).
    mr: Option<(M, usize)>,
    /// The first response's PSN.
    psn: Psn,
    len: u32,
    packets: u32,
    /// The index of the next packet to send.
    next: u32,
}

/// Why a restore from an image record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Ring indices beyond the rings.
    Indices,
    /// The MR of the WRITE it was receiving.
    WriteTarget(MrError),
    /// No memory for its held datagrams.
    NoMemory,
    /// A receive request taken from a shared receive queue by a QP on
    /// none, or of another size than the queue's slots.
    Taken,
}

/// Why a QP cannot be dumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpError {
    /// It is not Stopped.
    NotStopped,
    /// It is inside two messages at once.
    TwoMessages,
}

/// The transport and migration state of one QP.
pub struct Engine<S: Storage> {
    cfg: Config,
    attrs: Attrs<Av>,
    /// The current call's time.
    now: Time,
    /// The path MTU: payload bytes per packet.
    mtu: Mtu,
    path: Option<Path>,
    /// Retransmission timeout in ns; none means never retransmit.
    timeout: Option<u64>,

    // The requester.
    /// The send queue index of the request being sent, or next to start.
    next_wqe: u32,
    /// The index after the last request started.
    started: u32,
    /// The PSN sent next, and the PSN after the furthest one sent.
    psn: Psn,
    high: Psn,
    /// The PSN after the last one the responder acknowledged.
    acked: Psn,
    /// Started requests, by send queue slot.
    sent: S::Sent,

    // The completer.
    /// The oldest incomplete request (the send queue's consumer index).
    comp_wqe: u32,
    completer: Completer,
    retransmit_at: Option<Time>,
    rnr_until: Option<Time>,

    // The responder.
    responder: Responder,
    /// The receive queue's consumer index.
    rq_next: u32,
    /// On a shared receive queue: a request taken from it waits at the
    /// end of `slot` for the next message ([`Config::slot_room`]).
    taken: bool,
    recv: Option<RecvProgress>,
    /// RC requests were carried out since the last ACK went out.
    ack_owed: bool,
    write: Option<WriteProgress<S::Mr>>,
    /// The READ reply under way.
    reading: Option<ReadReply<S::Mr>>,
    /// The results of the last atomics carried out, so that a duplicate
    /// atomic request (its response was lost) is answered with the value
    /// it first returned rather than carried out again: as many as a
    /// requester may have outstanding (IBTA 9.7.5.1.4). In the layout of a
    /// QP image's [`image::AtomicReplies`], so that a checkpoint takes them
    /// as they are; once full, each new one replaces the oldest, the one
    /// at `atomic_next`.
    atomics: S::Bytes,
    atomic_next: usize,

    /// Room for one work request, copied out of its ring.
    slot: S::Bytes,

    // Migration.
    mig: MigState,
    /// When a Resuming QP sends its RESUME again.
    resume_at: Option<Time>,
    /// Datagrams a Stopped UD or UC QP received, to carry out once it
    /// resumes, here or restored elsewhere: in the layout of a QP image's
    /// held datagrams ([`Held`]), so that a checkpoint takes them as
    /// they are.
    held: S::Bytes,
    held_count: u32,
    /// The partner marked a packet of this path as ours
    /// ([`Bth::proto`]): it speaks the migration protocol, so token
    /// requests and RESUME may go to it.
    speaks: bool,
    /// In SQD, the send queue not yet drained: SQ_DRAINED is still owed.
    draining: bool,
    /// The token the partner granted us, for a RESUME from another
    /// address; 0 for none.
    token: u64,
    /// The token we granted the partner, which its RESUME from another
    /// address must carry; 0 for none. Kept until such a RESUME is taken.
    granted: u64,
    /// The nonce of our token request while its grant has not come (0
    /// when not asking), and when it is asked again.
    asking: u64,
    ask_at: Option<Time>,
    /// A UD QP's tokens from its peers' devices, in the layout of an
    /// image's [`Grants`](image::Grants).
    ud_grants: S::Bytes,
}

/// Where the request taken from a shared receive queue waits in `slot`,
/// the engine's slot buffer for `cfg`: its last receive slot
/// ([`Config::slot_room`]).
fn taken_in<'a>(slot: &'a mut [u8], cfg: &Config) -> &'a mut [u8] {
    let at = taken_at(slot, cfg);
    &mut slot[at..]
}

/// Where [`taken_in`]'s request starts in `slot`.
fn taken_at(slot: &[u8], cfg: &Config) -> usize {
    slot.len().saturating_sub(cfg.rq.slot_bytes())
}

/// The retransmission timeout of the 5-bit code (IBTA 9.7.6.1.3):
/// 4.096 µs << code; 0 means none.
fn timeout_of(code: u8) -> Option<u64> {
    (code != 0).then(|| 4096u64 << code.min(31))
}

/// Whether `at` has come.
fn due(now: Time, at: Time) -> bool {
    now >= at
}

fn earlier(a: Option<Time>, b: Option<Time>) -> Option<Time> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<S: Storage> Engine<S> {
    /// A new QP's engine, in RESET. `sent` has one entry per send queue
    /// slot ([`SentWqe::BLANK`]), `slot` [`Config::slot_room`] bytes.
    pub fn new(cfg: Config, sent: S::Sent, slot: S::Bytes) -> Engine<S> {
        let mtu = Mtu::MIN;
        Engine {
            cfg,
            attrs: Attrs::new(),
            now: 0,
            mtu,
            path: None,
            timeout: None,
            next_wqe: 0,
            started: 0,
            psn: Psn::new(0),
            high: Psn::new(0),
            acked: Psn::new(0),
            sent,
            comp_wqe: 0,
            completer: Completer::new(0, 0, mtu),
            retransmit_at: None,
            rnr_until: None,
            responder: Responder::new(Service::Rc, Psn::new(0), mtu),
            rq_next: 0,
            taken: false,
            recv: None,
            ack_owed: false,
            write: None,
            reading: None,
            atomics: S::Bytes::default(),
            atomic_next: 0,
            slot,
            mig: MigState::Running,
            resume_at: None,
            held: S::Bytes::default(),
            held_count: 0,
            speaks: false,
            draining: false,
            token: 0,
            granted: 0,
            asking: 0,
            ask_at: None,
            ud_grants: S::Bytes::default(),
        }
    }

    /// Keeps the result `orig` of the atomic request at `psn` for
    /// duplicates of it. With no memory to keep it (which can only happen
    /// while fewer than 128 are kept), a duplicate of it goes unanswered,
    /// like one too old to be kept.
    fn keep_atomic(&mut self, psn: Psn, orig: u64) {
        const ENTRY: usize = image::AtomicReplies::ENTRY;
        let e = image::AtomicReplies::entry(psn.get(), orig);
        let at = self.atomic_next * ENTRY;
        if self.atomics.as_ref().len() > at {
            self.atomics.as_mut()[at..at + ENTRY].copy_from_slice(&e);
        } else if !self.atomics.append(&[&e]) {
            return;
        }
        self.atomic_next = (self.atomic_next + 1) % image::AtomicReplies::MAX;
    }

    /// The result kept for the atomic request at `psn`.
    fn atomic_result(&self, psn: Psn) -> Option<u64> {
        image::AtomicReplies::find(self.atomics.as_ref(), psn.get())
    }

    /// PSNs sent that the partner has not acknowledged (the simulation
    /// checks that a finished schedule leaves none).
    #[cfg(test)]
    pub(crate) fn unacknowledged(&self) -> i32 {
        self.psn.diff(self.acked)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The attributes Modify QP set, with the state.
    pub fn attrs(&self) -> &Attrs<Av> {
        &self.attrs
    }

    /// The migration state.
    pub fn mig(&self) -> MigState {
        self.mig
    }

    /// Whether a Stopped QP still waits for its partner's token: until it
    /// has one it may resume only in place (docs/migration.md).
    pub fn token_pending(&self) -> bool {
        self.asking != 0
    }

    /// Whether the QP holds a token from its partner for a RESUME from a
    /// new address.
    pub fn has_token(&self) -> bool {
        self.token != 0
    }

    /// Whether a READ reply spent its burst and waits for the next call.
    pub fn wants_run(&self) -> bool {
        self.reading.is_some()
    }

    /// Derives the MTU, path and retransmission timeout from the
    /// attributes: a UD QP's datagrams may be as large as the port allows
    /// (`port_mtu`, `enum ib_mtu`), a connection's packets as its path MTU.
    fn take_attrs(&mut self, port_mtu: u32) {
        let a = &self.attrs;
        let ib_mtu = match self.cfg.service {
            Service::Ud => port_mtu,
            _ => a.path_mtu,
        };
        self.mtu = Mtu::from_ib(ib_mtu).unwrap_or(Mtu::MIN);
        let src_port = src_port(self.cfg.qpn);
        self.path = a.av.map(|av| Path { av, src_port });
        self.timeout = timeout_of(a.timeout);
    }

    /// Modify QP on a QP of type `ty`: checks `r` against the attributes
    /// and the state (the state machine, each value's range, and that SQD
    /// is not left while it drains but for the error state), then applies
    /// all of it ([`Engine::set_attrs`]), or nothing. `port_mtu` is the
    /// port's, if it has a link.
    pub fn modify<I: Io<S = S>>(
        &mut self,
        io: &I,
        now: Time,
        ty: modify::QpType,
        r: &modify::Request<Av>,
        port_mtu: Option<u32>,
    ) -> Result<(), modify::Refused> {
        let attrs = self.attrs.modified(ty, r)?;
        if self.draining && r.mask.contains(modify::AttrMask::STATE) && attrs.state != State::Error
        {
            return Err(modify::Refused::Draining);
        }
        self.set_attrs(io, now, attrs, port_mtu.unwrap_or(attrs.path_mtu));
        Ok(())
    }

    /// Takes the attributes Modify QP checked (`attrs`) and moves the
    /// transport to their state. `port_mtu` (`enum ib_mtu`) is the port's,
    /// which datagrams may fill.
    pub fn set_attrs<I: Io<S = S>>(&mut self, io: &I, now: Time, attrs: Attrs<Av>, port_mtu: u32) {
        self.now = now;
        let prev = self.attrs.state;
        self.attrs = attrs;
        self.take_attrs(port_mtu);
        let a = self.attrs;
        let st = a.state;
        if st == State::Rtr && prev != State::Rtr {
            self.responder = Responder::new(self.cfg.service, Psn::new(a.rq_psn), self.mtu);
            // A new connection: nothing is known of its partner yet.
            self.speaks = false;
            self.token = 0;
            self.granted = 0;
        }
        // Only RTR's step to RTS starts sending afresh: SQD's back to RTS
        // goes on from where it paused.
        if st == State::Rts && prev == State::Rtr {
            self.psn = Psn::new(a.sq_psn);
            self.high = self.psn;
            self.acked = self.psn;
            self.completer = Completer::new(a.retry_cnt, a.rnr_retry, self.mtu);
        }
        if st == State::Error && prev != State::Error {
            self.entered_error(io);
        }
        self.draining = st == State::Sqd && (prev != State::Sqd || self.draining);
        self.check_drained(io);
        // Back from SQD: what was posted meanwhile goes now, as no
        // doorbell will ring for it.
        if st == State::Rts && prev == State::Sqd {
            self.send_requests(io);
        }
    }

    /// Whether the QP is in SQD and its send queue not yet drained (the
    /// `sq_draining` that Query QP reports).
    pub fn draining(&self) -> bool {
        self.draining
    }

    /// In SQD: once nothing is being sent and everything sent is
    /// acknowledged, the send queue is drained, which its owner hears once.
    fn check_drained<I: Io<S = S>>(&mut self, io: &I) {
        // Owed only in SQD: set_attrs and enter_error clear it elsewhere.
        if self.draining && self.next_wqe == self.started && self.comp_wqe == self.started {
            self.draining = false;
            io.event(QpEvent::SqDrained);
        }
    }

    /// The send doorbell, or a packet work item's run: handles the packets
    /// waiting in `inbox`, then sends what can be sent.
    pub fn run<I: Io<S = S>>(&mut self, io: &I, now: Time, inbox: &mut impl Inbox) {
        self.receive(io, now, inbox);
        if self.attrs.state == State::Error {
            self.flush(io);
        } else {
            self.send_requests(io);
            self.check_drained(io);
        }
    }

    /// Handles the packets waiting in `inbox`.
    pub fn receive<I: Io<S = S>>(&mut self, io: &I, now: Time, inbox: &mut impl Inbox) {
        self.now = now;
        // A Stopped QP carries out nothing new. RC requests get the paused
        // NAK and come again; datagrams (UD, UC), which nobody sends
        // again, are held for the resume, and go into a checkpoint.
        if self.mig == MigState::Stopped && self.cfg.service != Service::Rc {
            self.hold(io, inbox);
            return;
        }
        if self.held_count != 0 {
            self.replay_held(io);
        }
        let mut budget = READ_BURST;
        loop {
            // A READ reply under way goes first: the packets after its
            // request wait for it, as they would on a real responder.
            if self.reading.is_some() {
                self.read_burst(io, &mut budget);
                if self.reading.is_some() {
                    // Its burst is spent: the caller runs us again.
                    break;
                }
            }
            let more = inbox.next(|l3| {
                // The receive path checked it whole, ICRC included.
                if let Ok(d) = Datagram::reparse(l3) {
                    let marked = !self.speaks && d.packet.bth.proto;
                    if marked && self.path.is_some_and(|p| p.av.dgid == d.src) {
                        self.speaks = true;
                    }
                    if self.on_path(io, &d) {
                        self.on_packet(io, &d, l3);
                    }
                }
            });
            if !more {
                break;
            }
        }
        // One ACK for the whole batch, besides those the requester asked
        // for: it keeps the requester's window and timer moving when
        // packets come faster than they are handled.
        if self.ack_owed {
            self.ack_last(io);
        }
    }

    /// Moves the datagrams waiting on a Stopped QP to those it holds.
    fn hold<I: Io<S = S>>(&mut self, io: &I, inbox: &mut impl Inbox) {
        while inbox.next(|l3| {
            // UC packets are checked now, while the path they came by is
            // the QP's: they are carried out after a restore, perhaps at
            // another address. UD datagrams come from anyone.
            if self.cfg.service == Service::Uc
                && !Datagram::reparse(l3).is_ok_and(|d| self.on_path(io, &d))
            {
                return;
            }
            // A device's token grant is for now, not for the resume.
            if let Ok(d) = Datagram::reparse(l3) {
                if d.packet.info.has(super::opcode::flags::TOKEN) {
                    self.on_token(io, &d);
                    return;
                }
            }
            let kept = self.held_count < MAX_HELD
                && Held::entry_header(l3.len())
                    .is_some_and(|(header, pad)| self.held.append(&[&header, l3, pad]));
            if kept {
                self.held_count += 1;
            } else if io.count_first(Count::RcvdNoDest) {
                io.log(format_args!(
                    "QP {}: stopped, and holds no more datagrams",
                    self.cfg.qpn
                ));
            }
        }) {}
    }

    /// Carries out the datagrams the QP held while it was Stopped (or
    /// that its image held), oldest first. They are checked whole again:
    /// those of an image come from a file.
    fn replay_held<I: Io<S = S>>(&mut self, io: &I) {
        let held = core::mem::take(&mut self.held);
        self.held_count = 0;
        let Some(datagrams) = Held::parse(held.as_ref()) else {
            return;
        };
        for l3 in datagrams.iter() {
            match Datagram::parse(l3) {
                Ok(d) if self.held_for_us(&d) => self.on_packet(io, &d, l3),
                _ => io.count(Count::RcvdMalformed, 1),
            }
        }
    }

    /// Whether a held datagram was for this QP: to its number, or to a
    /// multicast group (a UD QP holds only those of its groups).
    fn held_for_us(&self, d: &Datagram<'_>) -> bool {
        let qpn = d.packet.bth.dest_qpn;
        qpn == self.cfg.qpn || (qpn == MULTICAST_QPN && self.cfg.service == Service::Ud)
    }

    fn on_packet<I: Io<S = S>>(&mut self, io: &I, d: &Datagram<'_>, l3: &[u8]) {
        use super::opcode::flags;
        // The transport bits of the opcode must be the QP's.
        if d.packet.bth.opcode & 0xe0 != self.cfg.service.transport() {
            return;
        }
        io.count(Count::RcvdPkts, 1);
        io.count(Count::RcvdBytes, l3.len() as u64);
        if d.packet.info.has(flags::TOKEN) {
            // Control traffic: not a request of the connection's.
            self.on_token(io, d);
        } else if d.packet.info.has(flags::REQ) {
            self.on_request(io, d, l3);
        } else {
            self.on_response(io, &d.packet);
        }
    }

    /// Whether `d` may be an RC or UC packet of this QP's connection: from
    /// the partner's address to ours, as the C rxe's check_addr asks.
    /// Anyone can send a packet with any QPN and a guessed PSN; only the
    /// path keeps it out. A RESUME is the exception: it comes from the
    /// partner's new address (docs/migration.md), and what proves that it
    /// comes from the partner is the token it carries, which
    /// `on_resume_request` checks.
    /// Datagrams (UD) come from anyone by design. Held datagrams are
    /// checked as they arrive, not when they are carried out.
    fn on_path<I: Io<S = S>>(&self, io: &I, d: &Datagram<'_>) -> bool {
        use super::opcode::flags;
        if self.cfg.service == Service::Ud || d.packet.info.has(flags::RESUME) {
            return true;
        }
        // Before RTR there is no path, and the responder takes nothing.
        let Some(path) = &self.path else {
            return true;
        };
        if d.src == path.av.dgid && d.dst == path.av.sgid {
            return true;
        }
        if io.count_first(Count::RcvdBadAddr) {
            io.log(format_args!(
                "QP {}: dropped a packet from {:?} to {:?}, not its path; counting further ones in hw_counters/rcvd_bad_addr",
                self.cfg.qpn,
                Gid(&d.src),
                Gid(&d.dst)
            ));
        }
        false
    }

    /// The timer fired: RESUME again, end a wait that went on too long,
    /// retransmit or resume after an RNR wait, whatever is due at `now`.
    pub fn on_timer<I: Io<S = S>>(&mut self, io: &I, now: Time) {
        self.now = now;
        self.migration_timer(io);
        if self.rnr_until.is_some_and(|at| due(now, at)) {
            self.rnr_until = None;
        }
        if self.retransmit_at.is_some_and(|at| due(now, at)) {
            self.retransmit_timeout(io);
        }
    }

    /// When the timer should next fire, if it should.
    pub fn poll_timeout<I: Io<S = S>>(&self, io: &I) -> Option<Time> {
        earlier(
            earlier(self.retransmit_at, self.rnr_until),
            self.migration_deadline(io),
        )
    }

    /// The retransmission timer restarts (progress, or a first packet).
    /// Not while an RNR NAK is waited out: nothing is in flight then, and
    /// the resend after the wait starts it.
    fn restart_retransmit(&mut self) {
        if self.rnr_until.is_none() {
            self.retransmit_at = self.timeout.map(|t| self.now + t);
        }
    }

    /// The responder has everything up to `psn`.
    fn advance_acked(&mut self, psn: Psn) {
        if psn.next().diff(self.acked) > 0 {
            self.acked = psn.next();
        }
    }

    fn sent_at(&self, index: u32) -> SentWqe {
        self.sent.as_ref()[(index & self.cfg.sq.capacity()) as usize]
    }

    fn sent_mut(&mut self, index: u32) -> &mut SentWqe {
        let i = (index & self.cfg.sq.capacity()) as usize;
        &mut self.sent.as_mut()[i]
    }

    /// Posts a completion for a send work request.
    fn complete_send<I: Io<S = S>>(&mut self, io: &I, w: &SentWqe, status: Status) {
        if status == Status::Success && !w.signaled {
            return;
        }
        let kind = match w.kind {
            Kind::Send | Kind::SendImm | Kind::SendInv => WcKind::Send,
            Kind::Write | Kind::WriteImm => WcKind::RdmaWrite,
            Kind::Read => WcKind::RdmaRead,
            Kind::CompareSwap => WcKind::CompSwap,
            Kind::FetchAdd => WcKind::FetchAdd,
            Kind::AtomicWrite => WcKind::AtomicWrite,
            Kind::Flush => WcKind::Flush,
            Kind::LocalInv => WcKind::LocalInv,
            Kind::BindMw => WcKind::BindMw,
            Kind::RegMr => WcKind::RegMr,
        };
        let wc = Completion {
            wr_id: w.wr_id,
            status,
            kind,
            byte_len: w.length,
            imm: None,
            qpn: self.cfg.qpn,
            src_qp: 0,
            grh: false,
            network: Network::None,
            invalidated: None,
        };
        io.complete(Queue::Send, &wc, false);
    }

    /// The oldest request is done: complete it and free its slot.
    fn retire_oldest<I: Io<S = S>>(&mut self, io: &I, status: Status) {
        let sq = self.cfg.sq;
        let old = self.comp_wqe;
        let w = self.sent_at(old);
        self.comp_wqe = sq.next(old);
        if self.next_wqe == old {
            // A retry was resending it: go on after it, and never touch
            // its slot again, which is the process's now.
            let end = w.first + psn_span(w.kind, w.length, self.mtu);
            self.next_wqe = self.comp_wqe;
            if self.psn.diff(end) < 0 {
                self.psn = end;
            }
        }
        // The slot is free before its completion is seen: a process that
        // polls the completion and posts again must find room (librxe
        // refuses a post to a full ring).
        io.set_consumer(Queue::Send, self.comp_wqe);
        self.complete_send(io, &w, status);
    }

    /// A request failed for good: it completes with `status`, the QP goes
    /// to the error state, and every other outstanding work request
    /// completes flushed. False if the QP was in the error state already.
    fn fail<I: Io<S = S>>(&mut self, io: &I, status: Status) -> bool {
        if self.attrs.state == State::Error {
            return false;
        }
        if self.comp_wqe != self.started {
            self.retire_oldest(io, status);
        }
        self.enter_error(io)
    }

    /// The QP goes to the error state on its own (its responder met a bad
    /// request, whose receive, if any, has its own status): every posted
    /// work request completes flushed, its own sends included, and no
    /// SQ_DRAINED is owed any more. False if it was there already.
    fn enter_error<I: Io<S = S>>(&mut self, io: &I) -> bool {
        if self.attrs.state == State::Error {
            return false;
        }
        self.attrs.state = State::Error;
        self.draining = false;
        self.entered_error(io);
        true
    }

    /// The QP has just entered the error state: its requests are flushed,
    /// and on a shared receive queue, from which it takes no more, its
    /// owner hears that the last one it took is done (IBTA 10.3.1.1).
    fn entered_error<I: Io<S = S>>(&mut self, io: &I) {
        self.flush(io);
        if self.cfg.srq {
            io.event(QpEvent::LastWqeReached);
        }
    }

    /// In the error state: completes every posted work request with
    /// `IB_WC_WR_FLUSH_ERR`, send and receive. A shared receive queue is
    /// not the QP's to flush, but the request it took from one is.
    fn flush<I: Io<S = S>>(&mut self, io: &I) {
        let flushed = Status::WrFlushErr;
        self.retransmit_at = None;
        self.rnr_until = None;
        let sq = self.cfg.sq;
        let producer = io.producer(Queue::Send);
        while self.comp_wqe != producer {
            if self.comp_wqe == self.started {
                // Never started: its ID is the first field of its slot.
                let mut id = [0u8; 8];
                let _ = io.read_slot(Queue::Send, self.comp_wqe, &mut id);
                let started = self.started;
                let w = self.sent_mut(started);
                w.wr_id = u64::from_ne_bytes(id);
                w.signaled = true;
                self.started = sq.next(self.started);
            }
            self.retire_oldest(io, flushed);
        }
        self.next_wqe = self.comp_wqe;
        let rq = self.cfg.rq;
        let producer = io.producer(Queue::Recv);
        self.recv = None;
        self.write = None;
        self.reading = None;
        let qpn = self.cfg.qpn;
        let flushed_recv = |wr_id| Completion {
            wr_id,
            status: flushed,
            kind: WcKind::Recv,
            byte_len: 0,
            imm: None,
            qpn,
            src_qp: 0,
            grh: false,
            network: Network::None,
            invalidated: None,
        };
        if self.cfg.srq {
            if self.taken {
                let id = self.head_recv_id(io);
                self.taken = false;
                io.complete(Queue::Recv, &flushed_recv(id), false);
            }
            return;
        }
        while self.rq_next != producer {
            let id = self.head_recv_id(io);
            self.rq_next = rq.next(self.rq_next);
            io.set_consumer(Queue::Recv, self.rq_next);
            io.complete(Queue::Recv, &flushed_recv(id), false);
        }
    }

    /// The request taken from the shared receive queue, at the end of
    /// `slot` ([`Config::slot_room`]).
    fn taken_slot(&mut self) -> &mut [u8] {
        taken_in(self.slot.as_mut(), &self.cfg)
    }

    /// The ID of the receive work request at the head (the one taken from
    /// the shared receive queue, if the QP is on one): the first field of
    /// its slot.
    fn head_recv_id<I: Io<S = S>>(&mut self, io: &I) -> u64 {
        let mut id = [0u8; 8];
        if self.cfg.srq {
            let s = self.taken_slot();
            let n = s.len().min(8);
            id[..n].copy_from_slice(&s[..n]);
        } else {
            let _ = io.read_slot(Queue::Recv, self.rq_next, &mut id);
        }
        u64::from_ne_bytes(id)
    }

    /// Restores a QP's engine from its image record `img` (checked whole
    /// by [`super::restore`]), for a QP numbered `cfg.qpn` here. It comes
    /// back Stopped. `write_target` finds the MR of a WRITE the image was
    /// in the middle of: the MR a key names, with remote write access
    /// over `left` bytes from offset `at`.
    ///
    /// The requester goes back to the oldest incomplete send request, at
    /// the PSN it started at, and sends again from there: the partner's
    /// responder takes what it already had as duplicates (go-back-N), so
    /// nothing is carried out twice and nothing is lost.
    pub fn restored(
        write_target: impl FnOnce(u32, usize, u32) -> Result<S::Mr, MrError>,
        cfg: Config,
        sent: S::Sent,
        slot: S::Bytes,
        img: &image::Qp<'_>,
        port_mtu: u32,
    ) -> Result<Engine<S>, RestoreError> {
        if img.comp_wqe > cfg.sq.capacity() || img.rq_next > cfg.rq.capacity() {
            return Err(RestoreError::Indices);
        }
        // The request a QP on a shared receive queue had taken comes back
        // into its slot buffer, where it waits for the message it begins.
        let taken = !img.taken.is_empty();
        if taken && (!cfg.srq || img.taken.len() != cfg.rq.slot_bytes()) {
            return Err(RestoreError::Taken);
        }
        let mut e: Engine<S> = Engine::new(cfg, sent, slot);
        if taken {
            e.taken_slot().copy_from_slice(img.taken);
            e.taken = true;
        }
        e.attrs = attrs_of(img);
        e.take_attrs(port_mtu);
        let a = e.attrs;
        // The requester starts again at the oldest incomplete request; the
        // PSNs it sent beyond it are sent again.
        let restart = Psn::new(img.restart_psn);
        e.comp_wqe = img.comp_wqe;
        e.next_wqe = img.comp_wqe;
        e.started = img.comp_wqe;
        e.psn = restart;
        // The furthest it sent stays: the partner's ACKs for it complete
        // the requests sent again, which its responder takes as
        // duplicates. Taking those ACKs for PSNs never sent, a requester
        // that had more than MAX_UNACKED_PSNS past the restart would
        // resend that window until its retries ran out.
        let high = Psn::new(img.high_psn);
        e.high = if high.diff(restart) > 0 {
            high
        } else {
            restart
        };
        // Nothing past the restart counts as acknowledged: the completer
        // comes back at the start of the oldest request (where it stood in
        // a READ's responses is not in the image), and what the partner
        // acknowledged after it is acknowledged again as it comes again.
        e.acked = restart;
        e.completer = Completer::restored(a.retry_cnt, a.rnr_retry, e.mtu, img.partner_paused);
        let in_progress = match img.partial {
            Partial::None => InProgress::None,
            Partial::Send { wr_id, offset } => {
                e.recv = Some(RecvProgress { wr_id, offset });
                InProgress::Send
            }
            Partial::Write {
                rkey,
                at,
                left,
                total,
            } => {
                let bad = RestoreError::WriteTarget(MrError::Bounds);
                let at = usize::try_from(at).map_err(|_| bad)?;
                let mr = write_target(rkey, at, left).map_err(RestoreError::WriteTarget)?;
                e.write = Some(WriteProgress {
                    mr,
                    at,
                    left,
                    total,
                });
                InProgress::Write
            }
        };
        let receiving = a.state.responds();
        e.responder = if receiving {
            Responder::restored(cfg.service, Psn::new(img.epsn), img.msn, e.mtu, in_progress)
        } else {
            let mut r = Responder::new(cfg.service, Psn::new(a.rq_psn), e.mtu);
            r.stop();
            r
        };
        e.rq_next = img.rq_next;
        // The image checked their layout; they are checked whole again
        // when they are carried out.
        if !img.held.is_empty() && !e.held.append(&[img.held]) {
            return Err(RestoreError::NoMemory);
        }
        e.held_count = Held::parse(img.held).map_or(0, |h| h.iter().count() as u32);
        if !img.grants.is_empty() && !e.ud_grants.append(&[img.grants]) {
            return Err(RestoreError::NoMemory);
        }
        if !img.atomics.is_empty() && !e.atomics.append(&[img.atomics]) {
            return Err(RestoreError::NoMemory);
        }
        e.atomic_next = img.atomics.len() / image::AtomicReplies::ENTRY % image::AtomicReplies::MAX;
        e.speaks = img.speaks;
        e.token = img.token;
        e.granted = img.granted;
        e.mig = MigState::Stopped;
        Ok(e)
    }

    /// Fills the engine's part of the image record `rec`: attributes,
    /// where each engine stands, the held datagrams (borrowed from the
    /// engine). The QP must be Stopped.
    pub fn dump<'a>(&'a self, rec: &mut image::Qp<'a>) -> Result<(), DumpError> {
        if self.mig != MigState::Stopped {
            return Err(DumpError::NotStopped);
        }
        // The requester goes back to the oldest incomplete request.
        let restart_psn = if self.comp_wqe == self.started {
            self.psn
        } else {
            self.sent_at(self.comp_wqe).first
        };
        rec.partial = match (&self.recv, &self.write) {
            (None, None) => Partial::None,
            (Some(r), None) => Partial::Send {
                wr_id: r.wr_id,
                offset: r.offset,
            },
            (None, Some(w)) => Partial::Write {
                rkey: S::key(&w.mr),
                at: w.at as u64,
                left: w.left,
                total: w.total,
            },
            (Some(_), Some(_)) => return Err(DumpError::TwoMessages),
        };
        let a = &self.attrs;
        rec.state = a.state.abi();
        rec.pkey_index = a.pkey_index;
        rec.qkey = a.qkey;
        rec.access = a.access;
        rec.path_mtu = a.path_mtu;
        rec.dest_qpn = a.dest_qpn;
        rec.sq_psn = a.sq_psn;
        rec.rq_psn = a.rq_psn;
        rec.timeout = a.timeout;
        rec.retry_cnt = a.retry_cnt;
        rec.rnr_retry = a.rnr_retry;
        rec.min_rnr_timer = a.min_rnr_timer;
        rec.max_rd_atomic = a.max_rd_atomic;
        rec.max_dest_rd_atomic = a.max_dest_rd_atomic;
        rec.av = a.av;
        rec.comp_wqe = self.comp_wqe;
        rec.restart_psn = restart_psn.get();
        rec.started = self.started;
        rec.high_psn = self.high.get();
        rec.acked_psn = self.acked.get();
        rec.epsn = self.responder.epsn().get();
        rec.msn = self.responder.msn();
        rec.rq_next = self.rq_next;
        rec.partner_paused = self.completer.is_paused();
        rec.sq_sig_all = self.cfg.sq_sig_all;
        rec.held = self.held.as_ref();
        rec.speaks = self.speaks;
        rec.token = self.token;
        rec.granted = self.granted;
        rec.grants = self.ud_grants.as_ref();
        rec.atomics = self.atomics.as_ref();
        // A request taken from a shared receive queue is the QP's now: the
        // queue no longer holds it.
        rec.taken = match self.taken {
            true => {
                let slot = self.slot.as_ref();
                &slot[taken_at(slot, &self.cfg)..]
            }
            false => &[],
        };
        Ok(())
    }
}

/// The attributes Modify QP had set, as an image holds them.
fn attrs_of(img: &image::Qp<'_>) -> Attrs<Av> {
    Attrs {
        // The image's state was checked (super::restore refuses one past
        // ERR); the error state is the safe reading of anything else.
        state: State::from_abi(img.state).unwrap_or(State::Error),
        pkey_index: img.pkey_index,
        qkey: img.qkey,
        access: img.access,
        path_mtu: img.path_mtu,
        dest_qpn: img.dest_qpn,
        sq_psn: img.sq_psn,
        rq_psn: img.rq_psn,
        av: img.av,
        timeout: img.timeout,
        retry_cnt: img.retry_cnt,
        rnr_retry: img.rnr_retry,
        min_rnr_timer: img.min_rnr_timer,
        max_rd_atomic: img.max_rd_atomic,
        max_dest_rd_atomic: img.max_dest_rd_atomic,
    }
}

/// Walks the scatter list `sges` over message bytes `off..off + len`,
/// calling `f` with each piece's MR (checked for `need`), its offset in
/// the MR, and its range within the `len` bytes.
fn walk<I: Io>(
    io: &I,
    sges: &SgeList<'_>,
    mut off: u32,
    len: usize,
    need: Need,
    mut f: impl FnMut(&<I::S as Storage>::Mr, usize, core::ops::Range<usize>) -> Result<(), Fault>,
) -> Result<(), MrError> {
    let mut done = 0usize;
    for sge in sges.iter() {
        if done == len {
            break;
        }
        if off >= sge.length {
            off -= sge.length;
            continue;
        }
        let n = ((sge.length - off) as usize).min(len - done);
        let addr = sge.addr.wrapping_add(u64::from(off));
        let (mr, at) = io.lookup(sge.lkey, need, addr, n as u32)?;
        f(&mr, at, done..done + n).map_err(|_| MrError::Bounds)?;
        done += n;
        off = 0;
    }
    if done == len {
        Ok(())
    } else {
        Err(MrError::Bounds)
    }
}

/// Copies message bytes `off..off + out.len()` out of the scatter list
/// `sges` into `out`.
fn gather<I: Io>(io: &I, sges: &SgeList<'_>, off: u32, out: &mut [u8]) -> Result<(), MrError> {
    let len = out.len();
    walk(io, sges, off, len, Need::LocalRead, |mr, at, r| {
        io.read(mr, at, &mut out[r])
    })
}

/// Copies `data` into the scatter list `sges` at message offset `off`.
fn scatter<I: Io>(io: &I, sges: &SgeList<'_>, off: u32, data: &[u8]) -> Result<(), MrError> {
    walk(
        io,
        sges,
        off,
        data.len(),
        Need::LocalWrite,
        // SAFETY: `walk` hands each piece's range as `lookup` granted it,
        // with local write access.
        |mr, at, r| unsafe { io.write(mr, at, &data[r]) },
    )
}

/// A GID, shown as an IPv6 address (IPv4-mapped ones too).
pub struct Gid<'a>(pub &'a [u8; 16]);

impl core::fmt::Debug for Gid<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let g = self.0;
        if is_v4_mapped(g) {
            return write!(f, "{}.{}.{}.{}", g[12], g[13], g[14], g[15]);
        }
        for (i, pair) in g.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{:x}", u16::from_be_bytes([pair[0], pair[1]]))?;
        }
        Ok(())
    }
}
