// SPDX-License-Identifier: GPL-2.0

//! The requester (the kernel half of the C rxe's rxe_req.c): takes send
//! work requests out of the send queue in order, cuts each into packets
//! with the core's [`Segments`], and sends them. On RC it keeps at most
//! [`MAX_UNACKED_PSNS`] PSNs unacknowledged and as many READs outstanding
//! as `max_rd_atomic` allows; UD and UC requests complete once sent.

use crate::mr::MrError;
use crate::proto::hdr::{Bth, Deth, Extensions, Ieth, Immdt, Reth};
use crate::proto::modify::QpState as State;
use crate::proto::opcode::{OpInfo, TRANSPORT_RC};
use crate::proto::psn::Psn;
use crate::proto::req::{psn_span, Kind, Segment, Segments, Service};
use crate::proto::wqe::{self, send_flags, Data, Limits, Operation};
use crate::qp::QpState;
use crate::rdma::cq::WcStatus;
use crate::transport::{gather, Ctx, SentWqe, MAX_UNACKED_PSNS};
use crate::xmit::{self, Path};
use kernel::prelude::*;

/// The default P_Key, full membership.
pub(crate) const PKEY: u16 = 0xffff;

/// A controlled Q_Key (the top bit) in a UD request means "use the QP's".
const QKEY_CONTROLLED: u32 = 0x8000_0000;

/// Why a request cannot go on.
enum Stop {
    /// Wait: window, READ budget, fence, or nothing to send.
    Wait,
    /// The request is bad: complete it with this status; the QP fails.
    Fail(WcStatus),
}

impl QpState {
    /// Sends what the send queue holds, as far as the window allows.
    pub(crate) fn send_requests(&mut self, cx: &Ctx<'_>) {
        if self.attrs.state != State::Rts
            || !self.tx.mig.may_send()
            || self.tx.completer.is_paused()
            || self.tx.rnr_until.is_some()
        {
            return;
        }
        loop {
            match self.send_one(cx) {
                Ok(()) => {}
                Err(Stop::Wait) => return,
                Err(Stop::Fail(status)) => {
                    self.fail(cx, status);
                    return;
                }
            }
        }
    }

    /// Starts the request at `next_wqe`: reads and checks it, and records
    /// it for the completer.
    fn start(&mut self, cx: &Ctx<'_>) -> core::result::Result<(), Stop> {
        let sq = &cx.qp.sq;
        let index = self.tx.next_wqe;
        let service = cx.qp.service;
        if service == Service::Rc {
            // READs outstanding, and a fenced request waits for them all.
            let mut reads = 0;
            let mut i = self.tx.comp_wqe;
            while i != index {
                if self.tx.sent[(i & sq.ring.capacity()) as usize].kind == Kind::Read {
                    reads += 1;
                }
                i = sq.ring.next(i);
            }
            let mut head = [0u8; wqe::PEEK_BYTES];
            sq.read_slot(index, &mut head).map_err(|_| Stop::Wait)?;
            let (code, flags) = wqe::peek_send(&head).ok_or(Stop::Wait)?;
            if reads > 0 && flags & send_flags::FENCE != 0 {
                return Err(Stop::Wait);
            }
            if code == wqe::opcode::RDMA_READ && reads >= u32::from(self.attrs.max_rd_atomic.max(1))
            {
                return Err(Stop::Wait);
            }
        }
        let mut slot = core::mem::take(&mut self.tx.slot);
        let started = self.parse_into_sent(cx, &mut slot, index);
        self.tx.slot = slot;
        started
    }

    fn parse_into_sent(
        &mut self,
        cx: &Ctx<'_>,
        slot: &mut [u8],
        index: u32,
    ) -> core::result::Result<(), Stop> {
        let sq = &cx.qp.sq;
        let bad = Stop::Fail(WcStatus::LocQpOpErr);
        let i = (index & sq.ring.capacity()) as usize;
        sq.read_slot(index, slot).map_err(|_| Stop::Wait)?;
        // Refused requests complete in error under their own ID.
        self.tx.sent[i].wr_id = u64::from_ne_bytes([
            slot[0], slot[1], slot[2], slot[3], slot[4], slot[5], slot[6], slot[7],
        ]);
        self.tx.sent[i].signaled = true;
        self.tx.started = sq.ring.next(self.tx.started);
        let service = cx.qp.service;
        let limits = Limits {
            max_sge: cx.qp.caps.max_send_sge,
            max_inline: cx.qp.caps.max_inline_data,
            ud: service == Service::Ud,
        };
        let w = wqe::parse_send(slot, &limits).map_err(|e| match e {
            wqe::WqeError::BadLength | wqe::WqeError::InlineTooLong => {
                Stop::Fail(WcStatus::LocLenErr)
            }
            _ => Stop::Fail(WcStatus::LocQpOpErr),
        })?;
        let kind = Kind::of(&w.op);
        if !kind.allowed_on(service) || matches!(kind, Kind::CompareSwap | Kind::FetchAdd) {
            // Atomics are not offered (the device reports no atomic cap).
            return Err(bad);
        }
        if service == Service::Ud && w.length > self.tx.mtu.bytes() {
            return Err(Stop::Fail(WcStatus::LocLenErr));
        }
        self.tx.sent[i] = SentWqe {
            kind,
            op: w.op,
            first: self.tx.psn,
            length: w.length,
            wr_id: w.wr_id,
            signaled: cx.qp.sq_sig_all || w.flags & send_flags::SIGNALED != 0,
            solicited: w.flags & send_flags::SOLICITED != 0,
            ud: w.ud,
            av: w.ud.and_then(|_| cx.qp.kernel_av(index)),
        };
        Ok(())
    }

    /// Sends the next packet of the request at `next_wqe`.
    fn send_one(&mut self, cx: &Ctx<'_>) -> core::result::Result<(), Stop> {
        let sq = &cx.qp.sq;
        let index = self.tx.next_wqe;
        if index == sq.producer() && index == self.tx.started {
            return Err(Stop::Wait);
        }
        let service = cx.qp.service;
        if service == Service::Rc && self.tx.psn.diff(self.tx.acked) >= MAX_UNACKED_PSNS {
            return Err(Stop::Wait);
        }
        if index == self.tx.started {
            self.start(cx)?;
        }
        let w = self.tx.sent[(index & sq.ring.capacity()) as usize];
        let mtu = self.tx.mtu;
        let end = w.first + psn_span(w.kind, w.length, mtu);
        let segs = Segments::new(w.kind, service, w.length, mtu, w.first)
            .map_err(|_| Stop::Fail(WcStatus::LocQpOpErr))?;
        let seg = if w.kind == Kind::Read {
            // One request asks for what has not come back yet.
            let mut s = segs.clone().next().ok_or(Stop::Wait)?;
            s.psn = self.tx.psn;
            s.offset = (self.tx.psn.diff(w.first).max(0) as u32).saturating_mul(mtu.bytes());
            Some(s)
        } else {
            let mut segs = segs;
            segs.skip_to(self.tx.psn);
            segs.next().filter(|s| s.psn == self.tx.psn)
        };
        let Some(seg) = seg else {
            // Nothing left of it to send.
            self.tx.next_wqe = sq.ring.next(index);
            return Ok(());
        };
        if let Err(status) = self.send_segment(cx, &w, &seg) {
            return Err(Stop::Fail(status));
        }
        let last = w.kind == Kind::Read || seg.psn.next() == end;
        self.tx.psn = if w.kind == Kind::Read {
            end
        } else {
            seg.psn.next()
        };
        if self.tx.psn.diff(self.tx.high) > 0 {
            self.tx.high = self.tx.psn;
        }
        if last {
            self.tx.next_wqe = sq.ring.next(index);
            if service != Service::Rc {
                // Unacknowledged services complete as they send.
                self.retire_oldest(cx, WcStatus::Success);
            }
        }
        if service == Service::Rc && self.tx.retransmit_at.is_none() {
            self.tx.restart_retransmit();
        }
        Ok(())
    }

    /// Builds and sends one packet of `w`.
    fn send_segment(
        &mut self,
        cx: &Ctx<'_>,
        w: &SentWqe,
        seg: &Segment,
    ) -> core::result::Result<(), WcStatus> {
        let info = OpInfo::lookup(seg.opcode).ok_or(WcStatus::LocQpOpErr)?;
        let service = cx.qp.service;
        let (path, dest_qpn, qkey) = match (service, w.ud) {
            (Service::Ud, Some(ud)) => {
                let mut av = match w.av {
                    Some(av) => av,
                    None => {
                        let ah = cx.dev.ahs.get(ud.ah_num).ok_or(WcStatus::LocQpOpErr)?;
                        // AH numbers are the device's, handed out in
                        // sequence: only an AH of the QP's own PD (so of
                        // its own process) is the QP's to send through, as
                        // in the C rxe's rxe_get_av.
                        if ah.pd != cx.qp.pd {
                            return Err(WcStatus::LocQpOpErr);
                        }
                        ah.av()
                    }
                };
                // A UD QP that migrated, announced by its new device.
                if let Some(gid) = cx.dev.moves.lookup(&av.dgid, ud.remote_qpn) {
                    av.dgid = gid;
                }
                let path = Path {
                    av,
                    src_port: xmit::src_port(cx.qp.qpn),
                };
                let qkey = if ud.remote_qkey & QKEY_CONTROLLED != 0 {
                    self.attrs.qkey
                } else {
                    ud.remote_qkey
                };
                (path, ud.remote_qpn, qkey)
            }
            _ => (
                self.tx.path.ok_or(WcStatus::LocQpOpErr)?,
                self.attrs.dest_qpn,
                0,
            ),
        };
        let first = seg.offset == 0;
        let last_pkt = seg.offset + seg.len == w.length || w.kind == Kind::Read;
        let mut ext = Extensions::default();
        match w.op {
            Operation::Write { addr, rkey, imm } => {
                if first {
                    ext.reth = Some(Reth {
                        va: addr,
                        rkey,
                        len: w.length,
                    });
                }
                ext.immdt = imm.filter(|_| last_pkt).map(|i| Immdt {
                    imm: i.to_ne_bytes(),
                });
            }
            Operation::Read { addr, rkey } => {
                ext.reth = Some(Reth {
                    va: addr.wrapping_add(u64::from(seg.offset)),
                    rkey,
                    len: w.length.saturating_sub(seg.offset),
                });
            }
            Operation::Send { imm } => {
                ext.immdt = imm.filter(|_| last_pkt).map(|i| Immdt {
                    imm: i.to_ne_bytes(),
                });
            }
            Operation::SendInvalidate { rkey } => {
                ext.ieth = Some(Ieth { rkey });
            }
            _ => {}
        }
        if service == Service::Ud {
            ext.deth = Some(Deth {
                qkey,
                src_qpn: cx.qp.qpn,
            });
        }
        let is_send = info.has(crate::proto::opcode::flags::SEND);
        let bth = Bth {
            opcode: seg.opcode,
            se: w.solicited && last_pkt && (is_send || ext.immdt.is_some()),
            pkey: PKEY,
            dest_qpn,
            ack_req: seg.ack_req && seg.opcode & 0xe0 == TRANSPORT_RC,
            psn: seg.psn,
            ..Bth::default()
        };
        let payload = seg.len as usize;
        let mut slot = core::mem::take(&mut self.tx.slot);
        let res = if payload == 0 {
            xmit::send(cx.dev, &path, bth, &ext, 0, |_| Ok(()))
        } else {
            self.fill_from_slot(cx, &mut slot, seg.offset, &path, bth, &ext, payload)
        };
        self.tx.slot = slot;
        match res {
            Ok(()) => {
                if is_send && last_pkt {
                    cx.dev.counters.inc(crate::counters::Counter::RdmaSends);
                }
                Ok(())
            }
            Err(e) if e == EFAULT => Err(WcStatus::LocProtErr),
            Err(e) if e == EINVAL => Err(WcStatus::LocQpOpErr),
            // Out of memory or no route: the packet is lost, as on a wire;
            // the retransmission timer covers it (and UD is unreliable).
            Err(_) => Ok(()),
        }
    }

    /// Sends a packet whose payload is `len` bytes of the message at `off`,
    /// from the request's inline data or scatter list in the ring.
    #[allow(clippy::too_many_arguments)]
    fn fill_from_slot(
        &self,
        cx: &Ctx<'_>,
        slot: &mut [u8],
        off: u32,
        path: &Path,
        bth: Bth,
        ext: &Extensions,
        len: usize,
    ) -> Result {
        let sq = &cx.qp.sq;
        let index = self.tx.next_wqe;
        sq.read_slot(index, slot)?;
        let limits = Limits {
            max_sge: cx.qp.caps.max_send_sge,
            max_inline: cx.qp.caps.max_inline_data,
            ud: cx.qp.service == Service::Ud,
        };
        let w = wqe::parse_send(slot, &limits).map_err(|_| EINVAL)?;
        let sent = self.tx.sent[(index & sq.ring.capacity()) as usize];
        if w.length != sent.length {
            // Rewritten under us.
            return Err(EINVAL);
        }
        xmit::send(cx.dev, path, bth, ext, len, |buf| match w.data {
            Data::Inline(bytes) => {
                let o = off as usize;
                buf.copy_from_slice(bytes.get(o..o + len).ok_or(EINVAL)?);
                Ok(())
            }
            Data::Sges(list) => gather(cx, &list, off, buf).map_err(|e| match e {
                MrError::BadKey | MrError::Access | MrError::Bounds => EFAULT,
            }),
        })
    }

    /// Goes back to resend from `from` (go-back-N): the request holding
    /// that PSN is sent again from there.
    pub(crate) fn go_back(&mut self, cx: &Ctx<'_>, from: Psn) {
        // ACKs are cumulative: what the responder acknowledged within the
        // request need not go again.
        let t = &self.tx;
        let from = if t.acked.diff(from) > 0 && t.acked.diff(t.high) <= 0 {
            t.acked
        } else {
            from
        };
        let ring = &cx.qp.sq.ring;
        let mut i = self.tx.comp_wqe;
        while i != self.tx.started {
            let w = self.tx.sent[(i & ring.capacity()) as usize];
            let end = w.first + psn_span(w.kind, w.length, self.tx.mtu);
            if from.diff(end) < 0 {
                break;
            }
            i = ring.next(i);
        }
        self.tx.next_wqe = i;
        self.tx.psn = from;
    }
}
