// SPDX-License-Identifier: GPL-2.0

//! Whether a checkpoint image can be recreated on a device, and with which
//! identities (the migration spec's section 3), decided before anything is
//! created: a restore that cannot finish must not begin.
//!
//! - The image must be one context's: a context record first, then its
//!   objects, each naming only objects before it (its PD, its CQs), every
//!   uverbs handle once. The objects are recreated in image order (the
//!   order the process created them). The RDMA core hands out handles
//!   lowest free first, so before each object the restorer fills every
//!   free handle below the object's with a placeholder, or, for a handle
//!   the process reused, destroys the placeholder that holds it; the
//!   placeholders left are destroyed at the end.
//! - A QP keeps its number if the device has it free. If not, an RC or UC
//!   QP gets another, which its RESUME announces; a UD QP, which peers
//!   address by number in every work request, cannot be restored.
//! - An MR keeps its keys exactly (peers hold the rkey): a key whose index
//!   is taken on the device cannot be restored, rather than alias another
//!   MR. An AH keeps its number likewise (librxe writes it into every UD
//!   work request), and an SRQ its SRQ number.
//! - A QP on a shared receive queue names an SRQ of an earlier record; the
//!   receive request it had taken from it, if any, has that SRQ's slot
//!   size, and nothing else has one.
//! - A memory window keeps its rkey, as an MR its keys. Its binding comes
//!   after every object (it may name an MR or a QP created after the
//!   window): an MR, and for a type 2 window a QP, of the image, each
//!   window bound once. The driver binds the windows again when the
//!   restored process is adopted, before its QPs run; it checks there
//!   what only the objects show (their PDs, the range within the MR).
//! - A multicast attachment comes after every object too: a UD QP of the
//!   image and a multicast GID. The restorer attaches the QP again through
//!   the uverbs command, so that the core knows the attachment as the
//!   process's and a later detach finds it.

use super::image::{Image, ImageError, McastAttach, MwBinding, Partial, Qp, Record, NO_QP};

/// `ib_qp_type` values an image may hold.
const QPT_RC: u32 = 2;
const QPT_UC: u32 = 3;
const QPT_UD: u32 = 4;
/// `IB_QPS_ERR`, the last `ib_qp_state`.
const QPS_ERR: u32 = 6;

/// An identity the destination device may already have given out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    Qpn(u32),
    /// An MR's index (its key without the low eight bits).
    MrIndex(u32),
    /// An AH's number.
    AhNum(u32),
    /// An SRQ's number.
    SrqNum(u32),
    /// A memory window's index (its rkey without the low eight bits).
    MwIndex(u32),
}

/// Why an image cannot be restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The image itself is refused.
    Image(ImageError),
    /// Not the image of a uverbs file: no context record first, or event
    /// file records in it.
    NotContext,
    /// A handle that comes twice, or so high that the placeholders below
    /// it would pass [`MAX_PLACEHOLDERS`].
    HandleOrder { handle: u32 },
    /// An object names a PD or CQ that no earlier record is.
    Dangling { handle: u32 },
    /// A field out of its range, or records that contradict each other.
    Inconsistent { handle: u32 },
    /// A UD QP whose number the device has given out.
    QpnInUse { qpn: u32 },
    /// An MR whose key's index the device has given out.
    KeyInUse { key: u32 },
    /// An AH whose number the device has given out.
    AhInUse { num: u32 },
    /// An SRQ whose number the device has given out.
    SrqInUse { num: u32 },
    /// A memory window whose rkey's index the device has given out.
    MwInUse { rkey: u32 },
    /// The caller asked to stop (a fatal signal).
    Interrupted,
}

impl From<ImageError> for RestoreError {
    fn from(e: ImageError) -> Self {
        RestoreError::Image(e)
    }
}

/// The most placeholders a restore takes. Handles stay below the most
/// objects a process had at once, so an image that needs more is forged.
pub const MAX_PLACEHOLDERS: u32 = 1 << 16;

/// What to do with one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Create `placeholder` objects first, for handles nobody uses any
    /// more (or, with none, destroy the placeholder holding the record's
    /// handle if it is below ones already given), and destroy the rest once
    /// everything is created.
    Create {
        record: Record<'a>,
        placeholders: u32,
    },
    /// Create this QP with another number.
    RemapQpn { qp: Qp<'a>, placeholders: u32 },
}

/// What a restore will do, in numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub objects: u32,
    pub placeholders: u32,
    pub remapped_qpns: u32,
}

/// What a handle holds, in the index [`plan`] keeps.
const FREE: u8 = 0;
const HOLDS_PD: u8 = 1;
const HOLDS_CQ: u8 = 2;
const HOLDS_OTHER: u8 = 3;
const HOLDS_MR: u8 = 4;
const HOLDS_QP: u8 = 5;
/// A memory window of type 1 or 2 not bound yet (in the image's
/// bindings, which come after every object).
const HOLDS_MW1: u8 = 6;
const HOLDS_MW2: u8 = 7;
/// A UD QP (the only type that joins multicast groups).
const HOLDS_UD_QP: u8 = 8;
/// An SRQ: this plus log2 of its ring's slot size (below 16), which a
/// request taken from it has, or plus 16 if its ring header has none.
const HOLDS_SRQ: u8 = 16;
const SRQ_SLOT_UNKNOWN: u8 = 16;

/// The bytes of index [`plan`] needs for `image`: one per handle an image
/// that passes can use. Every handle at or above the highest given so far
/// is either the next object's or a placeholder's, and there are at most
/// [`MAX_PLACEHOLDERS`] of those.
pub fn index_bytes(image: &Image<'_>) -> usize {
    image.len() as usize + MAX_PLACEHOLDERS as usize
}

/// Checks `image` for a device on which `in_use` tells the identities
/// already given out, and calls `step` for each object in the order to
/// create them. Nothing is called unless the whole image passes.
///
/// `index` is the caller's room, at least [`index_bytes`] long (less is
/// [`RestoreError::HandleOrder`] for the handles past it). The work is
/// two passes over the records, each record looked at once per pass, and
/// `go_on` is called every [`PACE`](super::image::PACE) records: when it
/// says no, the plan stops with [`RestoreError::Interrupted`].
pub fn plan<'a>(
    image: &Image<'a>,
    in_use: impl Fn(Name) -> bool,
    index: &mut [u8],
    mut go_on: impl FnMut() -> bool,
    mut step: impl FnMut(Step<'a>),
) -> Result<Plan, RestoreError> {
    let p = check(image, &in_use, index, &mut go_on)?;
    walk(image, &in_use, index, &mut go_on, &mut step)?;
    Ok(p)
}

/// What [`plan`] would do, without the steps: one pass over the records.
pub fn check(
    image: &Image<'_>,
    in_use: impl Fn(Name) -> bool,
    index: &mut [u8],
    mut go_on: impl FnMut() -> bool,
) -> Result<Plan, RestoreError> {
    walk(image, &in_use, index, &mut go_on, &mut |_| {})
}

/// One pass over the image: checks it, and hands out each step.
fn walk<'a>(
    image: &Image<'a>,
    in_use: &impl Fn(Name) -> bool,
    index: &mut [u8],
    go_on: &mut impl FnMut() -> bool,
    step: &mut impl FnMut(Step<'a>),
) -> Result<Plan, RestoreError> {
    let mut records = image.records();
    match records.next() {
        Some(Ok(Record::Context(_))) => {}
        Some(Err(e)) => return Err(e.into()),
        _ => return Err(RestoreError::NotContext),
    }
    index.fill(FREE);
    let mut plan = Plan::default();
    // One past the highest handle given so far: every handle below it is
    // held, by an object or by a placeholder.
    let mut next_handle = 0u32;
    // Whether the records after the objects (bindings, attachments) began.
    let mut trailer = false;
    for (i, r) in records.enumerate() {
        if i % super::image::PACE == super::image::PACE - 1 && !go_on() {
            return Err(RestoreError::Interrupted);
        }
        let r = r?;
        match r {
            Record::MwBinding(b) => {
                check_binding(index, &b)?;
                trailer = true;
                continue;
            }
            Record::McastAttach(a) => {
                check_attachment(index, &a)?;
                trailer = true;
                continue;
            }
            _ => {}
        }
        let handle = r.handle().ok_or(RestoreError::NotContext)?;
        // Bindings and attachments come after every object.
        if trailer {
            return Err(RestoreError::Inconsistent { handle });
        }
        let slot = index
            .get_mut(handle as usize)
            .ok_or(RestoreError::HandleOrder { handle })?;
        if *slot != FREE {
            return Err(RestoreError::HandleOrder { handle });
        }
        // Below `next_handle`, the handle is a placeholder's, reused.
        let placeholders = handle.saturating_sub(next_handle);
        next_handle = next_handle.max(
            handle
                .checked_add(1)
                .ok_or(RestoreError::HandleOrder { handle })?,
        );
        check_refs(index, &r, handle)?;
        index[handle as usize] = match r {
            Record::Pd(_) => HOLDS_PD,
            Record::Cq(_) => HOLDS_CQ,
            Record::Mr(_) => HOLDS_MR,
            Record::Qp(q) if q.qp_type == QPT_UD => HOLDS_UD_QP,
            Record::Qp(_) => HOLDS_QP,
            Record::Mw(m) if m.mw_type == 1 => HOLDS_MW1,
            Record::Mw(m) if m.mw_type == 2 => HOLDS_MW2,
            Record::Mw(_) => return Err(RestoreError::Inconsistent { handle }),
            Record::Srq(s) => HOLDS_SRQ + srq_slot_log2(&s),
            _ => HOLDS_OTHER,
        };
        plan.objects += 1;
        plan.placeholders += placeholders;
        if plan.placeholders > MAX_PLACEHOLDERS {
            return Err(RestoreError::HandleOrder { handle });
        }
        match r {
            Record::Qp(q) => {
                let slot = q.srq.and_then(|s| {
                    let log2 = index[s as usize] - HOLDS_SRQ;
                    (log2 < SRQ_SLOT_UNKNOWN).then(|| 1usize << log2)
                });
                check_qp(&q, slot)?;
                if in_use(Name::Qpn(q.qpn)) {
                    if q.qp_type == QPT_UD {
                        return Err(RestoreError::QpnInUse { qpn: q.qpn });
                    }
                    plan.remapped_qpns += 1;
                    step(Step::RemapQpn {
                        qp: q,
                        placeholders,
                    });
                    continue;
                }
            }
            Record::Mr(m) => {
                if m.lkey != m.rkey || m.length == 0 {
                    return Err(RestoreError::Inconsistent { handle });
                }
                if in_use(Name::MrIndex(m.lkey >> 8)) {
                    return Err(RestoreError::KeyInUse { key: m.lkey });
                }
            }
            Record::Ah(a) if in_use(Name::AhNum(a.num)) => {
                return Err(RestoreError::AhInUse { num: a.num });
            }
            Record::Srq(s) => {
                check_srq(&s)?;
                if in_use(Name::SrqNum(s.num)) {
                    return Err(RestoreError::SrqInUse { num: s.num });
                }
            }
            Record::Mw(m) if in_use(Name::MwIndex(m.rkey >> 8)) => {
                return Err(RestoreError::MwInUse { rkey: m.rkey });
            }
            _ => {}
        }
        step(Step::Create {
            record: r,
            placeholders,
        });
    }
    Ok(plan)
}

/// Whether the objects `r` names are earlier records of the right kinds:
/// they are created before it.
fn check_refs(index: &[u8], r: &Record<'_>, handle: u32) -> Result<(), RestoreError> {
    let is = |want: u32, what: u8| index.get(want as usize) == Some(&what);
    let ok = match r {
        Record::Mr(m) => is(m.pd, HOLDS_PD),
        Record::Ah(a) => is(a.pd, HOLDS_PD),
        Record::Srq(s) => is(s.pd, HOLDS_PD),
        Record::Mw(m) => is(m.pd, HOLDS_PD),
        Record::Qp(q) => {
            is(q.pd, HOLDS_PD)
                && is(q.send_cq, HOLDS_CQ)
                && is(q.recv_cq, HOLDS_CQ)
                && q.srq.is_none_or(|s| {
                    index
                        .get(s as usize)
                        .is_some_and(|&v| (HOLDS_SRQ..=HOLDS_SRQ + SRQ_SLOT_UNKNOWN).contains(&v))
                })
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(RestoreError::Dangling { handle })
    }
}

/// Whether a window's binding names a window of the image not bound yet,
/// an MR, and for a type 2 window a QP (a type 1 window none), and is
/// one a bind could make: some bytes, access a window grants, not zero
/// based for type 1. The window counts as bound from here on.
fn check_binding(index: &mut [u8], b: &MwBinding) -> Result<(), RestoreError> {
    use super::mw::access;
    let holds = |h: u32| index.get(h as usize).copied();
    let ty = holds(b.mw);
    let qp_ok = match ty {
        Some(HOLDS_MW1) => b.qp == NO_QP && b.access & access::ZERO_BASED == 0,
        Some(HOLDS_MW2) => holds(b.qp) == Some(HOLDS_QP),
        _ => false,
    };
    let ok = qp_ok
        && holds(b.mr) == Some(HOLDS_MR)
        && b.length != 0
        && b.access & !access::SUPPORTED == 0;
    if !ok {
        return Err(RestoreError::Dangling { handle: b.mw });
    }
    index[b.mw as usize] = HOLDS_OTHER;
    Ok(())
}

/// Whether a multicast attachment names a UD QP of the image and a
/// multicast GID.
fn check_attachment(index: &[u8], a: &McastAttach) -> Result<(), RestoreError> {
    if index.get(a.qp as usize) == Some(&HOLDS_UD_QP) && super::roce::is_multicast(&a.gid) {
        Ok(())
    } else {
        Err(RestoreError::Dangling { handle: a.qp })
    }
}

/// Log2 of the slot size of an SRQ's ring, from its header (the first
/// u32), or [`SRQ_SLOT_UNKNOWN`].
fn srq_slot_log2(s: &super::image::Srq<'_>) -> u8 {
    match s.ring.bytes.get(..4) {
        Some(h) => match u32::from_le_bytes([h[0], h[1], h[2], h[3]]) {
            v @ 0..16 => v as u8,
            _ => SRQ_SLOT_UNKNOWN,
        },
        None => SRQ_SLOT_UNKNOWN,
    }
}

/// Whether an SRQ's fields are in range: a limit within its capacity and
/// a consumer index within its ring's (whose shape its create checks).
fn check_srq(s: &super::image::Srq<'_>) -> Result<(), RestoreError> {
    if s.max_wr == 0 || s.limit > s.max_wr || s.next > s.max_wr || s.num >= 1 << 24 {
        return Err(RestoreError::Inconsistent { handle: s.handle });
    }
    Ok(())
}

/// `slot` is the size of the slots of the SRQ a QP takes from, if known,
/// which a request it had taken must have.
fn check_qp(q: &Qp<'_>, slot: Option<usize>) -> Result<(), RestoreError> {
    let bad = RestoreError::Inconsistent { handle: q.handle };
    let psn_ok = |v: u32| v < 1 << 24;
    let fits = matches!(q.qp_type, QPT_RC | QPT_UC | QPT_UD)
        && q.state <= QPS_ERR
        && (1..=5).contains(&q.path_mtu)
        && q.qpn < 1 << 24
        && q.dest_qpn < 1 << 24
        && [
            q.sq_psn,
            q.rq_psn,
            q.restart_psn,
            q.high_psn,
            q.acked_psn,
            q.epsn,
        ]
        .into_iter()
        .all(psn_ok)
        && q.msn < 1 << 24;
    // Only RC and UC messages span packets; only a connected QP has a path.
    let partial_ok = q.partial == Partial::None || q.qp_type != QPT_UD;
    let path_ok = q.av.is_none() || q.qp_type != QPT_UD;
    let taken_ok = q.taken.is_empty() || Some(q.taken.len()) == slot;
    if fits && partial_ok && path_ok && taken_ok {
        Ok(())
    } else {
        Err(bad)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::image::{self, Ah, Av, Context, Cq, EventFile, Mr, Pd, RingImage};
    use super::super::image::{MwBinding, NO_QP};
    use super::*;
    use std::vec::Vec;

    fn ring() -> RingImage<'static> {
        RingImage {
            mmap_offset: 0,
            bytes: &[0; 8],
        }
    }

    fn qp(handle: u32, qpn: u32, qp_type: u32) -> Qp<'static> {
        Qp {
            handle,
            qpn,
            qp_type,
            state: 3,
            send_cq: 2,
            recv_cq: 2,
            max_send_wr: 8,
            max_recv_wr: 8,
            max_send_sge: 1,
            max_recv_sge: 1,
            path_mtu: 3,
            dest_qpn: 0x20,
            sq_psn: 1,
            rq_psn: 2,
            timeout: 14,
            retry_cnt: 7,
            rnr_retry: 7,
            min_rnr_timer: 12,
            max_rd_atomic: 1,
            max_dest_rd_atomic: 1,
            av: (qp_type != QPT_UD).then(Av::default),
            restart_psn: 1,
            high_psn: 1,
            acked_psn: 1,
            epsn: 2,
            sq: ring(),
            rq: ring(),
            ..Qp::EMPTY
        }
    }

    fn cq(handle: u32) -> Record<'static> {
        Record::Cq(Cq {
            handle,
            cqe: 15,
            notify: 0,
            channel: 0,
            comp_vector: 0,
            user_handle: 0,
            comp_events: 0,
            async_events: 0,
            comp_event_waiting: false,
            ring: ring(),
        })
    }

    fn records() -> Vec<Record<'static>> {
        std::vec![
            Record::Context(Context { cookie: 9 }),
            Record::Pd(Pd { handle: 0 }),
            Record::Mr(Mr {
                handle: 1,
                pd: 0,
                access: 7,
                lkey: 0x1_0203,
                rkey: 0x1_0203,
                start: 0x1000,
                iova: 0x1000,
                length: 4096,
            }),
            cq(2),
            Record::Qp(qp(3, 0x11, QPT_RC)),
            Record::Qp(qp(5, 0x12, QPT_UD)),
            Record::Ah(Ah {
                handle: 6,
                pd: 0,
                num: 9,
                av: Av::default(),
            }),
        ]
    }

    fn run(
        records: &[Record<'_>],
        in_use: impl Fn(Name) -> bool,
    ) -> Result<(Plan, Vec<Step<'static>>), RestoreError> {
        let b: &'static [u8] = std::boxed::Box::leak(image::sealed(records).into_boxed_slice());
        let img = Image::parse(b)?;
        let mut steps = Vec::new();
        let mut index = std::vec![0u8; index_bytes(&img)];
        let p = plan(&img, in_use, &mut index, || true, |s| steps.push(s))?;
        Ok((p, steps))
    }

    #[test]
    fn a_free_device_keeps_every_identity() {
        let (p, steps) = run(&records(), |_| false).unwrap();
        assert_eq!(
            p,
            Plan {
                objects: 6,
                placeholders: 1,
                remapped_qpns: 0
            }
        );
        assert!(steps.iter().all(|s| matches!(s, Step::Create { .. })));
        // Handle 4 went away: a placeholder keeps the UD QP at 5.
        assert!(matches!(
            steps[4],
            Step::Create {
                placeholders: 1,
                ..
            }
        ));
    }

    #[test]
    fn a_reused_handle_takes_a_placeholder_back() {
        // The process freed handles 3 and 4, then made the QP at 5, then
        // one that took 3 again: placeholders fill 3 and 4, and the QP at 3
        // takes its own back.
        let mut r = records();
        r.swap(4, 5);
        let (p, steps) = run(&r, |_| false).unwrap();
        assert_eq!((p.objects, p.placeholders), (6, 2));
        assert!(matches!(
            steps[3],
            Step::Create {
                placeholders: 2,
                ..
            }
        ));
        assert!(matches!(
            steps[4],
            Step::Create {
                placeholders: 0,
                ..
            }
        ));
    }

    /// An SRQ of 4 slots of 64 bytes (its ring header says so) at handle
    /// 7, and an RC QP on it at 8 that had taken a request of `taken`
    /// bytes.
    fn on_srq(taken: usize, limit: u32) -> Vec<Record<'static>> {
        let mut ring = std::vec![0u8; 384 + 4 * 64];
        ring[0] = 6;
        ring[4] = 3;
        let ring: &'static [u8] = std::boxed::Box::leak(ring.into_boxed_slice());
        let taken: &'static [u8] = std::boxed::Box::leak(std::vec![1u8; taken].into_boxed_slice());
        let mut r = records();
        r.push(Record::Srq(image::Srq {
            handle: 7,
            pd: 0,
            num: 0x20001,
            max_wr: 3,
            max_sge: 2,
            limit,
            next: 2,
            user_handle: 0,
            async_events: 0,
            ring: RingImage {
                mmap_offset: 0,
                bytes: ring,
            },
        }));
        r.push(Record::Qp(Qp {
            srq: Some(7),
            taken,
            ..qp(8, 0x13, QPT_RC)
        }));
        r
    }

    /// An SRQ keeps its number, or the image is refused; a QP names an
    /// SRQ of an earlier record, and a request it took has that SRQ's slot
    /// size.
    #[test]
    fn shared_receive_queues_and_their_qps() {
        let (p, _) = run(&on_srq(64, 2), |_| false).unwrap();
        assert_eq!(p.objects, 8);
        assert_eq!(run(&on_srq(0, 3), |_| false).unwrap().0.objects, 8);
        assert_eq!(
            run(&on_srq(64, 2), |n| n == Name::SrqNum(0x20001)).unwrap_err(),
            RestoreError::SrqInUse { num: 0x20001 }
        );
        let bad = RestoreError::Inconsistent { handle: 8 };
        assert_eq!(run(&on_srq(63, 0), |_| false).unwrap_err(), bad);
        assert_eq!(run(&on_srq(128, 0), |_| false).unwrap_err(), bad);
        assert_eq!(
            run(&on_srq(64, 4), |_| false).unwrap_err(),
            RestoreError::Inconsistent { handle: 7 }
        );
        // The QP before its SRQ, or naming a CQ as its SRQ.
        let mut r = on_srq(64, 0);
        r.swap(7, 8);
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Dangling { handle: 8 }
        );
        let mut r = on_srq(0, 0);
        if let Some(Record::Qp(q)) = r.last_mut() {
            q.srq = Some(2);
        }
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Dangling { handle: 8 }
        );
        // An SRQ ring without a header: no request taken from it fits.
        let mut r = on_srq(64, 0);
        if let Some(Record::Srq(s)) = r.get_mut(7) {
            s.ring.bytes = &[];
        }
        assert_eq!(run(&r, |_| false).unwrap_err(), bad);
    }

    /// The records, with a type 1 window at 7 and a type 2 window at 8,
    /// each bound after every object, to the MR (and the RC QP).
    fn with_windows() -> Vec<Record<'static>> {
        let mut r = records();
        for (handle, mw_type) in [(7, 1), (8, 2)] {
            r.push(Record::Mw(image::Mw {
                handle,
                pd: 0,
                mw_type,
                rkey: (0x8_0000 + handle) << 8 | 0x11,
            }));
        }
        for (mw, qp) in [(7, NO_QP), (8, 3)] {
            r.push(Record::MwBinding(MwBinding {
                mw,
                mr: 1,
                qp,
                access: 2,
                addr: 0x1000,
                length: 64,
            }));
        }
        r
    }

    /// Which record of an image to change, and how.
    type Case<T> = (usize, fn(&mut T));

    /// Each case changes record `at` of `base()` (a `T`, which `field`
    /// finds in it) so that the plan refuses the image as dangling.
    fn each_dangles<T>(
        base: fn() -> Vec<Record<'static>>,
        cases: &[Case<T>],
        field: for<'r> fn(&'r mut Record<'static>) -> Option<&'r mut T>,
    ) {
        for (i, (at, change)) in cases.iter().enumerate() {
            let mut r = base();
            change(field(&mut r[*at]).expect("a case names a record of its kind"));
            assert!(
                matches!(run(&r, |_| false), Err(RestoreError::Dangling { .. })),
                "case {i}"
            );
        }
    }

    #[test]
    fn memory_windows_and_their_bindings() {
        let (p, steps) = run(&with_windows(), |_| false).unwrap();
        // Windows are objects; bindings are not created, the driver
        // makes them when the process is adopted.
        assert_eq!((p.objects, steps.len()), (8, 8));
        assert_eq!(
            run(&with_windows(), |n| n == Name::MwIndex(0x8_0008)).unwrap_err(),
            RestoreError::MwInUse { rkey: 0x0800_0811 }
        );
        // Bindings that name the wrong things, or that no bind makes.
        let cases: [Case<MwBinding>; 8] = [
            (9, |b| b.mr = 2),           // a CQ as the MR
            (9, |b| b.mw = 1),           // an MR as the window
            (9, |b| b.qp = 3),           // a type 1 window on a QP
            (10, |b| b.qp = NO_QP),      // a type 2 window on none
            (10, |b| b.qp = 6),          // an AH as the QP
            (10, |b| b.length = 0),      // nothing
            (10, |b| b.access = 1 << 6), // access no window grants
            (9, |b| b.access = 0x22),    // a zero-based type 1 window
        ];
        each_dangles(with_windows, &cases, |r| match r {
            Record::MwBinding(b) => Some(b),
            _ => None,
        });
        // A window bound twice; an object after a binding; a window of
        // no type.
        let mut r = with_windows();
        r.push(r[10]);
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Dangling { handle: 8 }
        );
        let mut r = with_windows();
        r.push(Record::Pd(Pd { handle: 9 }));
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Inconsistent { handle: 9 }
        );
        let mut r = with_windows();
        if let Record::Mw(m) = &mut r[7] {
            m.mw_type = 3;
        }
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Inconsistent { handle: 7 }
        );
    }

    /// The windows' records, then the UD QP at 5 attached to an IPv4
    /// group and to an IPv6 one.
    fn with_attachments() -> Vec<Record<'static>> {
        let mut r = with_windows();
        let mut v4 = [0u8; 16];
        v4[10..].copy_from_slice(&[0xff, 0xff, 239, 1, 2, 3]);
        let mut v6 = [0u8; 16];
        v6[0] = 0xff;
        v6[15] = 0x42;
        for gid in [v4, v6] {
            r.push(Record::McastAttach(McastAttach { qp: 5, lid: 0, gid }));
        }
        r
    }

    #[test]
    fn multicast_attachments_name_ud_qps_and_groups() {
        let (p, steps) = run(&with_attachments(), |_| false).unwrap();
        // Attachments are not objects: the restorer makes them.
        assert_eq!((p.objects, steps.len()), (8, 8));
        // Before the bindings is as good as after them.
        let mut r = with_attachments();
        let a = r.remove(11);
        r.insert(9, a);
        assert!(run(&r, |_| false).is_ok());
        let cases: [Case<McastAttach>; 6] = [
            (12, |a| a.qp = 3),        // an RC QP
            (12, |a| a.qp = 6),        // an AH
            (12, |a| a.qp = 40),       // no object
            (11, |a| a.qp = u32::MAX), // past any handle
            (12, |a| a.gid[0] = 0xfe), // a unicast IPv6 address
            (11, |a| a.gid[12] = 10),  // a unicast IPv4 address
        ];
        each_dangles(with_attachments, &cases, |r| match r {
            Record::McastAttach(a) => Some(a),
            _ => None,
        });
        // An object after an attachment.
        let mut r = with_attachments();
        r.push(Record::Pd(Pd { handle: 9 }));
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Inconsistent { handle: 9 }
        );
    }

    #[test]
    fn collisions_remap_rc_and_refuse_ud_and_keys() {
        let (p, steps) = run(&records(), |n| n == Name::Qpn(0x11)).unwrap();
        assert_eq!(p.remapped_qpns, 1);
        assert!(matches!(steps[3], Step::RemapQpn { qp, .. } if qp.qpn == 0x11));
        assert_eq!(
            run(&records(), |n| n == Name::Qpn(0x12)).unwrap_err(),
            RestoreError::QpnInUse { qpn: 0x12 }
        );
        assert_eq!(
            run(&records(), |n| n == Name::MrIndex(0x102)).unwrap_err(),
            RestoreError::KeyInUse { key: 0x1_0203 }
        );
        assert_eq!(
            run(&records(), |n| n == Name::AhNum(9)).unwrap_err(),
            RestoreError::AhInUse { num: 9 }
        );
    }

    #[test]
    fn nothing_is_handed_out_before_the_whole_image_passes() {
        let mut steps = 0;
        let b = image::sealed(&records());
        let img = Image::parse(&b).unwrap();
        let mut index = std::vec![0u8; index_bytes(&img)];
        let r = plan(
            &img,
            |n| n == Name::Qpn(0x12),
            &mut index,
            || true,
            |_| steps += 1,
        );
        assert!(r.is_err());
        assert_eq!(steps, 0);
    }

    #[test]
    fn malformed_contexts_are_refused() {
        let mut r = records();
        r.remove(0);
        assert_eq!(run(&r, |_| false).unwrap_err(), RestoreError::NotContext);
        let mut r = records();
        r.push(Record::EventFile(EventFile {
            context: 9,
            channel: 0,
        }));
        assert_eq!(run(&r, |_| false).unwrap_err(), RestoreError::NotContext);
        // A handle twice, or past the placeholders allowed.
        let mut r = records();
        r.push(Record::Qp(qp(MAX_PLACEHOLDERS + 8, 0x13, QPT_RC)));
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::HandleOrder {
                handle: MAX_PLACEHOLDERS + 8
            }
        );
        let mut r = records();
        r.push(Record::Qp(qp(5, 0x13, QPT_RC)));
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::HandleOrder { handle: 5 }
        );
        // A QP whose CQ is not in the image, or comes after it.
        let mut r = records();
        r.push(Record::Qp(Qp {
            send_cq: 7,
            ..qp(7, 0x14, QPT_RC)
        }));
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Dangling { handle: 7 }
        );
        // Fields out of range.
        for bad in [
            Qp {
                qp_type: 9,
                ..qp(7, 0x14, QPT_RC)
            },
            Qp {
                epsn: 1 << 24,
                ..qp(7, 0x14, QPT_RC)
            },
            Qp {
                path_mtu: 0,
                ..qp(7, 0x14, QPT_RC)
            },
            Qp {
                partial: Partial::Send {
                    wr_id: 1,
                    offset: 2,
                },
                ..qp(7, 0x14, QPT_UD)
            },
        ] {
            let mut r = records();
            r.push(Record::Qp(bad));
            assert_eq!(
                run(&r, |_| false).unwrap_err(),
                RestoreError::Inconsistent { handle: 7 }
            );
        }
        let mut r = records();
        if let Record::Mr(m) = &mut r[2] {
            m.rkey ^= 1;
        }
        assert_eq!(
            run(&r, |_| false).unwrap_err(),
            RestoreError::Inconsistent { handle: 1 }
        );
    }

    /// An image of a context and `n` PDs with handles 0 to n - 1.
    fn pds(n: u32) -> Vec<u8> {
        let mut r = std::vec![Record::Context(Context { cookie: 1 })];
        r.extend((0..n).map(|handle| Record::Pd(Pd { handle })));
        image::sealed(&r)
    }

    #[test]
    fn a_million_records_plan_in_two_linear_passes() {
        // A rescan per record, as the planner once did, would be 10^12
        // record reads here: the test would not end.
        let b = pds(1_000_000);
        let img = Image::parse(&b).unwrap();
        let mut index = std::vec![0u8; index_bytes(&img)];
        let mut asked = 0u32;
        let p = plan(
            &img,
            |_| false,
            &mut index,
            || {
                asked += 1;
                true
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(p.objects, 1_000_000);
        assert_eq!(asked, 2 * (1_000_000 / super::super::image::PACE as u32));
    }

    #[test]
    fn the_caller_can_stop_a_long_plan_and_parse() {
        let b = pds(100_000);
        let mut calls = 0;
        let r = Image::parse_paced(&b, || {
            calls += 1;
            calls < 5
        });
        assert_eq!(r.unwrap_err(), ImageError::Interrupted);
        let img = Image::parse(&b).unwrap();
        let mut index = std::vec![0u8; index_bytes(&img)];
        let mut steps = 0;
        let r = plan(&img, |_| false, &mut index, || false, |_| steps += 1);
        assert_eq!(r.unwrap_err(), RestoreError::Interrupted);
        assert_eq!(steps, 0);
    }

    #[test]
    fn references_go_to_earlier_records_whatever_their_handles() {
        // The process made a PD at 1 after freeing 0, then a QP that took
        // handle 0 back and names the PD at 1 (and CQ 2): fine.
        let mut r = records();
        r.truncate(1);
        r.push(Record::Pd(Pd { handle: 1 }));
        r.push(cq(2));
        r.push(Record::Qp(Qp {
            pd: 1,
            ..qp(0, 0x11, QPT_RC)
        }));
        let (p, _) = run(&r, |_| false).unwrap();
        assert_eq!((p.objects, p.placeholders), (3, 1));
        // A QP naming a PD that only a later record makes, and one naming
        // a handle that is an MR's.
        let refused = |r: Vec<Record<'static>>, handle| {
            assert_eq!(
                run(&r, |_| false).unwrap_err(),
                RestoreError::Dangling { handle }
            )
        };
        let mut r = records();
        r.truncate(1);
        r.push(cq(2));
        r.push(Record::Qp(Qp {
            pd: 1,
            ..qp(0, 0x11, QPT_RC)
        }));
        r.push(Record::Pd(Pd { handle: 1 }));
        refused(r, 0);
        let mut r = records();
        r.push(Record::Qp(Qp {
            pd: 1,
            ..qp(7, 0x14, QPT_RC)
        }));
        refused(r, 7);
    }
}
