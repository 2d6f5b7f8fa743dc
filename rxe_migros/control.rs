// SPDX-License-Identifier: GPL-2.0

//! The control device, /dev/rxe_migros: what a checkpointer (our CRIU
//! plugin, a test) uses to stop a process's QPs, to dump its objects
//! ([`crate::checkpoint`]) and to resume them, optionally at a new
//! address. The ABI is uapi/rxe_migros_ctl.h.
//!
//! A process's QPs are named by its uverbs file: the caller passes a
//! descriptor of that very file (its own, or one taken from the process
//! with pidfd_getfd). Every command needs CAP_CHECKPOINT_RESTORE or
//! CAP_SYS_ADMIN.

use crate::context::Context;
use crate::migration::NewSource;
use crate::proto::image::{self, ImageError};
use crate::proto::moves::Known;
use crate::proto::restore::{self, Name, RestoreError};
use kernel::fs::{File, LocalFile};
use kernel::ioctl::_IOWR;
use kernel::miscdevice::{MiscDevice, MiscDeviceRegistration};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::uaccess::{UserPtr, UserSlice};

/// `RXE_MIGROS_CTL_VERSION`: the version every command struct carries.
const VERSION: u32 = 1;

/// The ioctl type of our commands (free in ioctl-number.rst).
const IOC_TYPE: u32 = 0xbb;

/// `struct rxe_migros_stop`.
#[repr(C)]
struct StopArgs {
    size: u32,
    version: u32,
    uverbs_fd: i32,
    flags: u32,
    qps: u32,
    reserved: u32,
}

/// `struct rxe_migros_resume`.
#[repr(C)]
struct ResumeArgs {
    size: u32,
    version: u32,
    uverbs_fd: i32,
    flags: u32,
    sgid: [u8; 16],
    qps: u32,
    announced: u32,
}

/// `struct rxe_migros_dump`.
#[repr(C)]
struct DumpArgs {
    size: u32,
    version: u32,
    uverbs_fd: i32,
    flags: u32,
    buf: u64,
    buf_len: u64,
    image_len: u64,
}

/// `struct rxe_migros_identify`.
#[repr(C)]
struct IdentifyArgs {
    size: u32,
    version: u32,
    fd: i32,
    flags: u32,
    kind: u32,
    channel: u32,
    context: u64,
}

/// `struct rxe_migros_restore`, of RESTORE_CHECK and RESTORE.
#[repr(C)]
struct RestoreArgs {
    size: u32,
    version: u32,
    uverbs_fd: i32,
    flags: u32,
    image: u64,
    image_len: u64,
    objects: u32,
    placeholders: u32,
    remapped_qpns: u32,
    reserved: u32,
}

/// `struct rxe_migros_adopt`.
#[repr(C)]
struct AdoptArgs {
    size: u32,
    version: u32,
    uverbs_fd: i32,
    flags: u32,
    pid: i32,
    pinned: u32,
}

/// `RXE_MIGROS_IOC_STOP`.
const IOC_STOP: u32 = _IOWR::<StopArgs>(IOC_TYPE, 1);
/// `RXE_MIGROS_IOC_RESUME`.
const IOC_RESUME: u32 = _IOWR::<ResumeArgs>(IOC_TYPE, 2);
/// `RXE_MIGROS_IOC_DUMP`.
const IOC_DUMP: u32 = _IOWR::<DumpArgs>(IOC_TYPE, 3);
/// `RXE_MIGROS_IOC_IDENTIFY`.
const IOC_IDENTIFY: u32 = _IOWR::<IdentifyArgs>(IOC_TYPE, 4);
/// `RXE_MIGROS_IOC_RESTORE_CHECK`.
const IOC_RESTORE_CHECK: u32 = _IOWR::<RestoreArgs>(IOC_TYPE, 5);
/// `RXE_MIGROS_IOC_RESTORE`.
const IOC_RESTORE: u32 = _IOWR::<RestoreArgs>(IOC_TYPE, 6);
/// `RXE_MIGROS_IOC_ADOPT`.
const IOC_ADOPT: u32 = _IOWR::<AdoptArgs>(IOC_TYPE, 7);
/// `RXE_MIGROS_RESTORE_PIN_LATER`: restored MRs are pinned on ADOPT.
const RESTORE_PIN_LATER: u32 = 1 << 0;
/// `RXE_MIGROS_FILE_UVERBS`, `RXE_MIGROS_FILE_EVENT`: what IDENTIFY found.
const FILE_UVERBS: u32 = 1;
const FILE_EVENT: u32 = 2;
/// `RXE_MIGROS_RESUME_SGID`: `sgid` is the QPs' new source GID.
const RESUME_SGID: u32 = 1 << 0;

/// Where the output fields are, in bytes from the struct's start.
const STOP_QPS_AT: usize = 16;
const RESUME_QPS_AT: usize = 32;
const DUMP_LEN_AT: usize = 32;
const IDENTIFY_KIND_AT: usize = 16;
const CHECK_OUT_AT: usize = 32;
const ADOPT_PINNED_AT: usize = 20;

// The ABI as uapi/rxe_migros_ctl.h has it (tools/check-abi.sh pins the
// header to the same numbers).
const _: () = {
    assert!(size_of::<StopArgs>() == 24 && size_of::<ResumeArgs>() == 40);
    assert!(core::mem::offset_of!(StopArgs, qps) == STOP_QPS_AT);
    assert!(core::mem::offset_of!(ResumeArgs, qps) == RESUME_QPS_AT);
    assert!(IOC_STOP == 0xc018_bb01 && IOC_RESUME == 0xc028_bb02);
    assert!(size_of::<DumpArgs>() == 40 && core::mem::offset_of!(DumpArgs, buf) == 16);
    assert!(core::mem::offset_of!(DumpArgs, image_len) == DUMP_LEN_AT);
    assert!(IOC_DUMP == 0xc028_bb03);
    assert!(size_of::<IdentifyArgs>() == 32 && IOC_IDENTIFY == 0xc020_bb04);
    assert!(core::mem::offset_of!(IdentifyArgs, kind) == IDENTIFY_KIND_AT);
    assert!(size_of::<RestoreArgs>() == 48 && IOC_RESTORE_CHECK == 0xc030_bb05);
    assert!(core::mem::offset_of!(RestoreArgs, objects) == CHECK_OUT_AT);
    assert!(IOC_RESTORE == 0xc030_bb06);
    assert!(size_of::<AdoptArgs>() == 24 && IOC_ADOPT == 0xc018_bb07);
    assert!(core::mem::offset_of!(AdoptArgs, pinned) == ADOPT_PINNED_AT);
};

/// The control device's registration, held by the module.
pub(crate) type Registration = MiscDeviceRegistration<Control>;

/// An open /dev/rxe_migros: it keeps nothing of its own.
pub(crate) struct Control;

/// A command struct read from user space: its bytes, checked for size and
/// version.
struct Command<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> Command<N> {
    /// Reads the struct at `arg`. Its first two fields, size and version,
    /// must be ours: EINVAL for a truncated struct or another size,
    /// EPROTONOSUPPORT for another version.
    fn read(arg: usize) -> Result<Self> {
        let mut bytes = [0u8; N];
        UserSlice::new(UserPtr::from_addr(arg), N)
            .reader()
            .read_slice(&mut bytes)?;
        let size = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let version = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if size as usize != N {
            pr_info!("control: a command struct of {} bytes, not {}\n", size, N);
            return Err(EINVAL);
        }
        if version != VERSION {
            pr_info!(
                "control: command version {} unknown (ours is {})\n",
                version,
                VERSION
            );
            return Err(EPROTONOSUPPORT);
        }
        Ok(Command { bytes })
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.bytes;
        u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from(self.u32_at(at)) | u64::from(self.u32_at(at + 4)) << 32
    }

    /// The context the struct's uverbs_fd (at offset 8) names, if the
    /// caller may do `what` to it ([`Context::check_caller`]).
    fn context(&self, what: &str) -> Result<Arc<Context>> {
        let fd = self.u32_at(8) as i32;
        let ctx = Context::of_fd(fd).inspect_err(|e| not_ours(fd, e))?;
        ctx.check_caller(what)?;
        Ok(ctx)
    }

    /// The context whose uverbs file or event file the struct's fd (at
    /// offset 8) is, if the caller may do `what` to it.
    fn file(&self, what: &str) -> Result<ContextFile> {
        let file = self.any_file()?;
        match &file {
            ContextFile::Uverbs(ctx) | ContextFile::Event(ctx, _) => ctx.check_caller(what)?,
        }
        Ok(file)
    }

    fn any_file(&self) -> Result<ContextFile> {
        let fd = self.u32_at(8) as i32;
        match Context::of_fd(fd) {
            Ok(ctx) => Ok(ContextFile::Uverbs(ctx)),
            Err(e) if e == ENODEV => Context::of_event_fd(fd)
                .map(|(ctx, queue)| ContextFile::Event(ctx, queue))
                .inspect_err(|e| not_ours(fd, e)),
            Err(e) => {
                not_ours(fd, &e);
                Err(e)
            }
        }
    }

    /// Writes the output fields `values` at `at` back to the struct.
    fn answer(arg: usize, at: usize, values: &[u32]) -> Result {
        let mut out = KVec::with_capacity(values.len() * 4, GFP_KERNEL)?;
        for v in values {
            out.extend_from_slice(&v.to_ne_bytes(), GFP_KERNEL)?;
        }
        Self::answer_bytes(arg, at, &out)
    }

    fn answer_bytes(arg: usize, at: usize, bytes: &[u8]) -> Result {
        UserSlice::new(UserPtr::from_addr(arg + at), bytes.len())
            .writer()
            .write_slice(bytes)
    }
}

/// A file of a user context.
enum ContextFile {
    Uverbs(Arc<Context>),
    /// An event file, with its event queue (an identity).
    Event(Arc<Context>, usize),
}

fn not_ours(fd: i32, e: &Error) {
    pr_info!(
        "control: fd {} is not a file of an rxe_migros context ({:?})\n",
        fd,
        e
    );
}

/// How long STOP waits for the partners' tokens, in ms, and how often it
/// looks.
const TOKEN_WAIT_MS: u32 = 2000;
const TOKEN_POLL_MS: u32 = 5;
/// How often STOP asks the UD peers' devices again, in ms.
const UD_ASK_MS: u32 = 50;

/// STOP: stops every QP of the context; they are quiescent on return.
/// Each RC QP whose partner speaks the migration protocol asks it for the
/// token a RESUME from a new address must carry; STOP waits a bounded time
/// for the grants (docs/migration.md).
fn stop(arg: usize) -> Result {
    let cmd = Command::<{ size_of::<StopArgs>() }>::read(arg)?;
    if cmd.u32_at(12) != 0 || cmd.u32_at(20) != 0 {
        return Err(EINVAL);
    }
    let ctx = cmd.context("STOP")?;
    let qps = ctx.qps()?;
    let mut n = 0u32;
    for qp in qps.iter() {
        if qp.stop() {
            n += 1;
        }
    }
    // UD QPs ask the devices their context's AHs name.
    let mut peers = KVec::new();
    for (_, object) in ctx.objects()? {
        if let crate::context::Object::Ah(ah) = object {
            peers.push(crate::transport::av_core(&ah.av()), GFP_KERNEL)?;
        }
    }
    let ask_ud = |qps: &[Arc<crate::qp::QpInner>]| {
        qps.iter().map(|qp| qp.ask_ud_tokens(&peers)).sum::<usize>()
    };
    let mut ud_missing = ask_ud(&qps);
    let mut waited = 0;
    while waited < TOKEN_WAIT_MS && (ud_missing != 0 || qps.iter().any(|qp| qp.token_pending())) {
        if crate::rdma::sched::fatal_signal_pending() {
            // Its caller is going: the QPs stay stopped for whoever
            // resumes them, with what tokens came.
            break;
        }
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(TOKEN_POLL_MS.into()));
        waited += TOKEN_POLL_MS;
        if waited % UD_ASK_MS == 0 {
            ud_missing = ask_ud(&qps);
        }
    }
    let without = qps.iter().filter(|qp| qp.token_pending()).count() + ud_missing;
    if without != 0 {
        pr_info!(
            "control: {} QPs had no token from their partner within {} ms: they resume in place, but restored elsewhere their partners will not follow\n",
            without,
            TOKEN_WAIT_MS
        );
    }
    Command::<{ size_of::<StopArgs>() }>::answer(arg, STOP_QPS_AT, &[n])
}

/// RESUME: resumes every Stopped QP of the context, from a new source GID
/// if the flags say so; RC and UC QPs announce themselves with RESUME.
fn resume(arg: usize) -> Result {
    let cmd = Command::<{ size_of::<ResumeArgs>() }>::read(arg)?;
    let flags = cmd.u32_at(12);
    if flags & !RESUME_SGID != 0 {
        return Err(EINVAL);
    }
    let ctx = cmd.context("RESUME")?;
    let qps = ctx.qps()?;
    let mut gid = [0u8; 16];
    gid.copy_from_slice(&cmd.bytes[16..32]);
    let src = match (flags & RESUME_SGID != 0, qps.first()) {
        (true, Some(qp)) => Some(NewSource {
            gid,
            index: qp.gid_index(&gid).inspect_err(|_| {
                pr_info!("control: the new source GID is not one of the device's\n")
            })?,
        }),
        _ => None,
    };
    if let Some(src) = src {
        // A path keeps its IP family: its partner's address is of it.
        let ipv6 = !crate::migration::is_v4_mapped(&src.gid);
        if qps
            .iter()
            .any(|qp| qp.path_is_ipv6().is_some_and(|v6| v6 != ipv6))
        {
            pr_info!("control: the new source GID is of another IP family than a QP's path\n");
            return Err(EINVAL);
        }
    }
    let (n, announced) = resume_context(&ctx, &qps, src)?;
    Command::<{ size_of::<ResumeArgs>() }>::answer(arg, RESUME_QPS_AT, &[n, announced])
}

/// Resumes every Stopped QP of `ctx` (its `qps`), from `src` if given;
/// how many resumed, and how many of those announced themselves.
fn resume_context(
    ctx: &Context,
    qps: &[Arc<crate::qp::QpInner>],
    src: Option<NewSource>,
) -> Result<(u32, u32)> {
    let mut siblings = KVec::with_capacity(qps.len(), GFP_KERNEL)?;
    for qp in qps.iter() {
        siblings.push(qp.qpn, GFP_KERNEL)?;
    }
    // Where the context's UD QPs were known, if they moved.
    let mut known = KVec::new();
    for (_, object) in ctx.objects()? {
        if let crate::context::Object::Ah(ah) = object {
            if let Some(old) = ah.moved_from() {
                known.push(
                    Known {
                        av: crate::transport::av_core(&ah.av()),
                        old,
                        // Each QP's own, filled in as it resumes.
                        token: 0,
                    },
                    GFP_KERNEL,
                )?;
            }
        }
    }
    let (mut n, mut announced) = (0u32, 0u32);
    for qp in qps.iter() {
        if let Some(a) = qp.resume(src, &siblings, &known) {
            n += 1;
            announced += u32::from(a);
        }
    }
    // Completion events a checkpoint had waiting, unread, come again.
    for (_, object) in ctx.objects()? {
        if let crate::context::Object::Cq(cq) = object {
            cq.redeliver_event();
        }
    }
    Ok((n, announced))
}

/// DUMP: writes the context's checkpoint image to the caller's buffer.
fn dump(arg: usize) -> Result {
    type Cmd = Command<{ size_of::<DumpArgs>() }>;
    let cmd = Cmd::read(arg)?;
    if cmd.u32_at(12) != 0 {
        return Err(EINVAL);
    }
    let (buf, room) = (cmd.u64_at(16), cmd.u64_at(24));
    let image = match cmd.file("DUMP")? {
        ContextFile::Uverbs(ctx) => match crate::checkpoint::dump(&ctx) {
            Err(e) if e == E2BIG => {
                // Restore would refuse it: the process goes on here.
                let (n, _) = resume_context(&ctx, &ctx.qps()?, None)?;
                pr_info!(
                    "checkpoint: the image would pass {} bytes, more than a restore takes: dump refused, {} QPs resumed in place\n",
                    image::MAX_IMAGE_BYTES,
                    n
                );
                return Err(E2BIG);
            }
            r => r?,
        },
        ContextFile::Event(ctx, queue) => crate::checkpoint::dump_event_file(&ctx, queue)?,
    };
    let len = image.len() as u64;
    Cmd::answer_bytes(arg, DUMP_LEN_AT, &len.to_ne_bytes())?;
    if room < len {
        return Err(ENOSPC);
    }
    let buf = usize::try_from(buf).map_err(|_| EFAULT)?;
    UserSlice::new(UserPtr::from_addr(buf), image.len())
        .writer()
        .write_slice(&image)
}

/// IDENTIFY: whether a file is a uverbs file or an event file of one of
/// our contexts, which context, and for an event file which completion
/// channel.
fn identify(arg: usize) -> Result {
    type Cmd = Command<{ size_of::<IdentifyArgs>() }>;
    let cmd = Cmd::read(arg)?;
    if cmd.u32_at(12) != 0 {
        return Err(EINVAL);
    }
    let (kind, channel, ctx) = match cmd.file("IDENTIFY")? {
        ContextFile::Uverbs(ctx) => (FILE_UVERBS, 0, ctx),
        ContextFile::Event(ctx, queue) => (
            FILE_EVENT,
            crate::checkpoint::event_file_channel(&ctx, queue)?,
            ctx,
        ),
    };
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&kind.to_ne_bytes());
    out[4..8].copy_from_slice(&channel.to_ne_bytes());
    out[8..].copy_from_slice(&ctx.cookie.to_ne_bytes());
    Cmd::answer_bytes(arg, IDENTIFY_KIND_AT, &out)
}

/// Reads the image a RESTORE_CHECK or RESTORE names (its address and
/// length at offsets 16 and 24), checks it whole and plans it for the
/// device of the struct's context.
fn planned<const N: usize>(cmd: &Command<N>) -> Result<(Arc<Context>, KVVec<u8>, restore::Plan)> {
    let (at, len) = (cmd.u64_at(16), cmd.u64_at(24));
    let len = usize::try_from(len)
        .ok()
        .filter(|n| *n <= image::MAX_IMAGE_BYTES)
        .ok_or_else(|| {
            pr_info!(
                "control: an image of {} bytes is larger than any of ours\n",
                len
            );
            EINVAL
        })?;
    let ctx = cmd.context("RESTORE")?;
    let mut bytes = KVVec::with_capacity(len, GFP_KERNEL)?;
    let at = usize::try_from(at).map_err(|_| EFAULT)?;
    UserSlice::new(UserPtr::from_addr(at), len).read_all(&mut bytes, GFP_KERNEL)?;
    let go_on = crate::rdma::sched::go_on;
    let img = image::Image::parse_paced(&bytes, go_on).map_err(|e| {
        pr_info!("control: image refused: {:?}\n", e);
        match e {
            ImageError::UnknownVersion(_) | ImageError::UnknownRecordVersion { .. } => {
                EPROTONOSUPPORT
            }
            ImageError::Interrupted => EINTR,
            _ => EINVAL,
        }
    })?;
    let mut index = KVVec::from_elem(0u8, restore::index_bytes(&img), GFP_KERNEL)?;
    let plan = ctx.with_device(|dev| {
        let in_use = |n: Name| match n {
            Name::Qpn(q) => dev.qps.get(q).is_some(),
            Name::MrIndex(i) => dev.mrs.get(i).is_some(),
            Name::AhNum(n) => dev.ahs.get(n).is_some(),
            Name::SrqNum(n) => dev.srqs.get(n).is_some(),
            Name::MwIndex(i) => dev.mws.get(i).is_some(),
        };
        restore::check(&img, in_use, &mut index, go_on)
    })?;
    let plan = plan.map_err(|e| {
        pr_info!("control: image cannot be restored here: {:?}\n", e);
        match e {
            RestoreError::QpnInUse { .. }
            | RestoreError::KeyInUse { .. }
            | RestoreError::AhInUse { .. }
            | RestoreError::SrqInUse { .. }
            | RestoreError::MwInUse { .. } => EADDRINUSE,
            RestoreError::Interrupted => EINTR,
            _ => EINVAL,
        }
    })?;
    Ok((ctx, bytes, plan))
}

/// RESTORE_CHECK: whether an image could be restored on the device of
/// the caller's context, and with how many placeholders and new QPNs.
fn restore_check(arg: usize) -> Result {
    type Cmd = Command<{ size_of::<RestoreArgs>() }>;
    let cmd = Cmd::read(arg)?;
    if cmd.u32_at(12) != 0 || cmd.u32_at(44) != 0 {
        return Err(EINVAL);
    }
    let (_, _, plan) = planned(&cmd)?;
    Cmd::answer(
        arg,
        CHECK_OUT_AT,
        &[plan.objects, plan.placeholders, plan.remapped_qpns],
    )
}

/// RESTORE: stages an image on a fresh context, whose objects the caller
/// then creates in image order: PDs, MRs, CQs, AHs, SRQs and QPs, with
/// the handles, keys, completions, AH and SRQ numbers and QP numbers (or
/// new ones, counted) of the image, with placeholder PDs (counted) in the handles
/// the process had freed (see [`Context::restoring`]).
fn restore(arg: usize) -> Result {
    type Cmd = Command<{ size_of::<RestoreArgs>() }>;
    let cmd = Cmd::read(arg)?;
    let flags = cmd.u32_at(12);
    if flags & !RESTORE_PIN_LATER != 0 || cmd.u32_at(44) != 0 {
        return Err(EINVAL);
    }
    if cmd.context("RESTORE")?.is_busy() {
        pr_info!("restore: the context already has objects, or a restore\n");
        return Err(EBUSY);
    }
    // Event file records are refused by the plan: they have no handle.
    let (ctx, bytes, plan) = planned(&cmd)?;
    if plan.objects > 0 {
        let pin_later = flags & RESTORE_PIN_LATER != 0;
        ctx.begin_restore(bytes, pin_later).inspect_err(|_| {
            pr_info!("restore: the context already has objects, or a restore\n")
        })?;
    }
    Cmd::answer(
        arg,
        CHECK_OUT_AT,
        &[plan.objects, plan.placeholders, plan.remapped_qpns],
    )
}

/// ADOPT: the process `pid`, restored by the caller with the context of
/// uverbs_fd, is in place (its memory and credentials are back): pin the
/// MRs its restore left unpinned, in its memory, and give the uverbs file
/// its credentials, so that its own uverbs writes (librxe's doorbell) pass
/// the RDMA core's check that the writer is the opener. ESRCH if there is
/// no such process, EBUSY while the restore has objects left to create,
/// EFAULT if an MR's memory is not mapped in it.
fn adopt(arg: usize) -> Result {
    type Cmd = Command<{ size_of::<AdoptArgs>() }>;
    let cmd = Cmd::read(arg)?;
    if cmd.u32_at(12) != 0 {
        return Err(EINVAL);
    }
    // The file is taken once, and the context found from it: a second look
    // by number could find another file (dup2 meanwhile).
    let fd = cmd.u32_at(8);
    let file = LocalFile::fget(fd).map_err(|_| EBADF)?;
    let ctx = Context::of_file(&file).inspect_err(|e| not_ours(fd as i32, e))?;
    ctx.check_caller("ADOPT")?;
    let pinned = crate::restore::adopt(&ctx, &file, cmd.u32_at(16) as i32)?;
    Cmd::answer(arg, ADOPT_PINNED_AT, &[pinned])
}

/// Whether the caller may checkpoint and restore.
fn may_checkpoint() -> bool {
    crate::rdma::caps::capable(crate::rdma::caps::CHECKPOINT_RESTORE)
        || crate::rdma::caps::capable(crate::rdma::caps::SYS_ADMIN)
}

#[vtable]
impl MiscDevice for Control {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(Control, GFP_KERNEL)?)
    }

    fn ioctl(_me: &Control, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        if !may_checkpoint() {
            return Err(EPERM);
        }
        match cmd {
            IOC_STOP => stop(arg)?,
            IOC_RESUME => resume(arg)?,
            IOC_DUMP => dump(arg)?,
            IOC_IDENTIFY => identify(arg)?,
            IOC_RESTORE_CHECK => restore_check(arg)?,
            IOC_RESTORE => restore(arg)?,
            IOC_ADOPT => adopt(arg)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}
