// SPDX-License-Identifier: GPL-2.0

//! DUMP: a checkpoint image of one user context, in the core's format
//! ([`crate::proto::image`], docs/image.md). Every object the process
//! created on the device goes in, in the order it was created (so that a
//! restore that creates them in image order meets every dependency), with
//! the uverbs handle the process knows it by.
//!
//! The QPs must be Stopped first: then none of them moves, their
//! partners are paused, and the process itself is frozen by its
//! checkpointer, so the image is consistent.
//!
//! An event file's image only names its context (by the cookie the
//! context's image starts with).

use crate::context::{Context, Object};
use crate::proto::engine::DumpError;
use crate::proto::image::{self, Record, RingImage};
use crate::qp::QpInner;
use crate::queue;
use crate::rdma::qp::PdId;
use crate::rdma::uobject::UIds;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The objects of a context with their identities, all set.
struct Objects(KVec<(UIds, Object)>);

impl Objects {
    /// The handle of the object `is` picks; EINVAL, with one log line
    /// naming `what`, if the context has none.
    fn find(&self, what: &str, is: impl Fn(&Object) -> bool) -> Result<u32> {
        self.0
            .iter()
            .find_map(|(ids, o)| is(o).then_some(ids.handle))
            .ok_or_else(|| {
                pr_info!("checkpoint: {} is not in its context\n", what);
                EINVAL
            })
    }

    fn pd(&self, id: PdId) -> Result<u32> {
        self.find("an object's PD", |o| matches!(o, Object::Pd(p) if *p == id))
    }

    fn cq(&self, cq: &Arc<crate::cq::CqInner>) -> Result<u32> {
        self.find(
            "a QP's CQ",
            |o| matches!(o, Object::Cq(c) if Arc::ptr_eq(c, cq)),
        )
    }

    fn srq(&self, srq: &Arc<crate::srq::SrqInner>) -> Result<u32> {
        self.find(
            "a QP's SRQ",
            |o| matches!(o, Object::Srq(s) if Arc::ptr_eq(s, srq)),
        )
    }
}

/// Appends `rec` to `out`.
/// Appends `rec` to the image in `out`; E2BIG once the image passes what
/// a restore takes ([`image::MAX_IMAGE_BYTES`]).
fn put(out: &mut KVVec<u8>, rec: &Record<'_>) -> Result {
    if out.len().saturating_add(rec.bytes()) > image::MAX_IMAGE_BYTES {
        return Err(E2BIG);
    }
    rec.write(|b| out.extend_from_slice(b, GFP_KERNEL).map_err(Error::from))
}

/// The image of every object of `ctx`. EBUSY while a QP is not Stopped
/// or an object is still being created, E2BIG if it would be larger than
/// a restore takes.
pub(crate) fn dump(ctx: &Context) -> Result<KVVec<u8>> {
    let mut objects = KVec::new();
    for (ids, o) in ctx.objects()? {
        let Some(ids) = ids else {
            pr_info!("checkpoint: an object is still being created\n");
            return Err(EBUSY);
        };
        objects.push((ids, o), GFP_KERNEL)?;
    }
    let objects = Objects(objects);
    let channels = ctx.channels()?;
    let mut out = KVVec::new();
    out.extend_from_slice(&[0u8; image::HEADER_BYTES], GFP_KERNEL)?;
    let context = image::Context { cookie: ctx.cookie };
    put(&mut out, &Record::Context(context))?;
    let mut records = 1u32;
    // Memory windows' bindings go after every object: a window may be
    // bound to an MR or a QP created after it. So do the multicast
    // attachments, which the restorer makes through the core.
    let mut bindings = KVec::new();
    let mut attachments = KVec::new();
    for (ids, object) in objects.0.iter() {
        let handle = ids.handle;
        match object {
            Object::Pd(_) => put(&mut out, &Record::Pd(image::Pd { handle }))?,
            Object::Mr(mr) => {
                let Some(m) = mr.image(handle, objects.pd(mr.pd())?) else {
                    continue;
                };
                put(&mut out, &Record::Mr(m))?;
            }
            Object::Cq(cq) => {
                let Some(c) = cq.image() else {
                    continue;
                };
                let bytes = queue::snapshot(&c.buf)?;
                let rec = Record::Cq(image::Cq {
                    handle,
                    cqe: c.cqe,
                    notify: c.notify,
                    channel: channel_number(&channels, cq.channel)?,
                    comp_vector: cq.comp_vector,
                    user_handle: ids.user_handle,
                    comp_events: ids.events.completion,
                    async_events: ids.events.asynchronous,
                    comp_event_waiting: c.comp_event_waiting,
                    ring: RingImage {
                        mmap_offset: c.mmap_offset,
                        bytes: &bytes,
                    },
                });
                put(&mut out, &rec)?;
            }
            Object::Ah(ah) => {
                let rec = Record::Ah(image::Ah {
                    handle,
                    pd: objects.pd(ah.pd)?,
                    num: ah.num(),
                    av: crate::transport::av_core(&ah.av()),
                });
                put(&mut out, &rec)?;
            }
            Object::Qp(qp) => {
                dump_qp(&mut out, &objects, ids, qp)?;
                for (gid, lid) in qp.multicast_attachments()? {
                    let a = image::McastAttach {
                        qp: handle,
                        lid,
                        gid,
                    };
                    attachments.push(a, GFP_KERNEL)?;
                }
            }
            Object::Mw(mw) => {
                let (window, mr) = mw.snapshot();
                let rec = Record::Mw(image::Mw {
                    handle,
                    pd: objects.pd(PdId::from_raw(window.pd))?,
                    mw_type: window.ty.abi(),
                    rkey: window.rkey(),
                });
                put(&mut out, &rec)?;
                if let (Some(b), Some(mr)) = (window.binding(), mr) {
                    bindings.push((handle, *b, mr), GFP_KERNEL)?;
                }
            }
            Object::Srq(srq) => {
                let s = srq.image()?;
                let rec = Record::Srq(image::Srq {
                    handle,
                    pd: objects.pd(srq.pd)?,
                    num: srq.num,
                    max_wr: s.max_wr,
                    max_sge: srq.max_sge,
                    limit: s.limit,
                    next: s.next,
                    user_handle: ids.user_handle,
                    async_events: ids.events.asynchronous,
                    ring: RingImage {
                        mmap_offset: s.mmap_offset,
                        bytes: &s.bytes,
                    },
                });
                put(&mut out, &rec)?;
            }
        }
        records += 1;
    }
    for (mw, b, mr) in bindings {
        let rec = Record::MwBinding(image::MwBinding {
            mw,
            mr: objects.find(
                "a window's MR",
                |o| matches!(o, Object::Mr(m) if Arc::ptr_eq(m, &mr)),
            )?,
            qp: match b.qp {
                Some(q) => objects.find(
                    "a window's QP",
                    |o| matches!(o, Object::Qp(x) if x.serial == q.serial),
                )?,
                None => image::NO_QP,
            },
            access: b.access,
            addr: b.addr,
            length: b.length,
        });
        put(&mut out, &rec)?;
        records += 1;
    }
    for a in attachments {
        put(&mut out, &Record::McastAttach(a))?;
        records += 1;
    }
    Ok(sealed(out, records))
}

/// Writes the header of the image in `out` (whose room for it is first)
/// and seals it.
fn sealed(mut out: KVVec<u8>, records: u32) -> KVVec<u8> {
    let h = image::header(out.len(), records);
    out[..image::HEADER_BYTES].copy_from_slice(&h);
    image::seal(&mut out);
    out
}

/// The number of completion channel `queue` among `channels` (from 1),
/// 0 for none.
fn channel_number(channels: &[usize], queue: Option<usize>) -> Result<u32> {
    let Some(q) = queue else {
        return Ok(0);
    };
    let at = channels.iter().position(|c| *c == q).ok_or(EBUSY)?;
    Ok(at as u32 + 1)
}

/// Which completion channel of `ctx` the event file whose queue is
/// `queue` is (from 1); 0 for the asynchronous event file, or a channel
/// no CQ reports to.
pub(crate) fn event_file_channel(ctx: &Context, queue: usize) -> Result<u32> {
    let channels = ctx.channels()?;
    Ok(channel_number(&channels, Some(queue)).unwrap_or(0))
}

/// The image of an event file of `ctx` (whose event queue is `queue`):
/// its context, and which of its completion channels it is.
pub(crate) fn dump_event_file(ctx: &Context, queue: usize) -> Result<KVVec<u8>> {
    let mut out = KVVec::new();
    out.extend_from_slice(&[0u8; image::HEADER_BYTES], GFP_KERNEL)?;
    let rec = Record::EventFile(image::EventFile {
        context: ctx.cookie,
        channel: event_file_channel(ctx, queue)?,
    });
    put(&mut out, &rec)?;
    Ok(sealed(out, 1))
}

fn dump_qp(out: &mut KVVec<u8>, objects: &Objects, ids: &UIds, qp: &Arc<QpInner>) -> Result {
    let pd = objects.pd(qp.pd)?;
    let send_cq = objects.cq(&qp.send_cq)?;
    let recv_cq = objects.cq(&qp.recv_cq)?;
    let srq = qp.srq.as_ref().map(|s| objects.srq(s)).transpose()?;
    let sq = qp.sq.user.snapshot()?;
    let rq = qp.rq.user.snapshot()?;
    // Datagrams that reached a Stopped UD QP and wait on it go with it.
    qp.hold_datagrams();
    let rec = qp.inspect(|e| {
        let mut rec = image::Qp {
            handle: ids.handle,
            qpn: qp.qpn,
            qp_type: qp.qp_type(),
            pd,
            send_cq,
            recv_cq,
            srq,
            max_send_wr: qp.caps.max_send_wr,
            max_recv_wr: qp.caps.max_recv_wr,
            max_send_sge: qp.caps.max_send_sge,
            max_recv_sge: qp.caps.max_recv_sge,
            max_inline: qp.caps.max_inline_data,
            user_handle: ids.user_handle,
            async_events: ids.events.asynchronous,
            sq: RingImage {
                mmap_offset: qp.sq.user.mmap_offset(),
                bytes: &sq,
            },
            rq: RingImage {
                mmap_offset: qp.rq.user.mmap_offset(),
                bytes: &rq,
            },
            ..image::Qp::EMPTY
        };
        match e.dump(&mut rec) {
            Ok(()) => put(out, &Record::Qp(rec)),
            Err(DumpError::NotStopped) => {
                pr_info!("checkpoint: QP {} is not stopped\n", qp.qpn);
                Err(EBUSY)
            }
            Err(DumpError::TwoMessages) => {
                pr_info!("checkpoint: QP {} is inside two messages\n", qp.qpn);
                Err(EINVAL)
            }
        }
    });
    rec.ok_or(EBUSY)?
}
