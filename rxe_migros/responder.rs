// SPDX-License-Identifier: GPL-2.0

//! The responder (the kernel half of the C rxe's rxe_resp.c): judges each
//! request packet with the core's [`Responder`], then carries it out:
//! SEND payloads into receive work requests, WRITEs into the target MR,
//! READs answered from it, with ACKs, NAKs and RNR NAKs on RC.
//!
//! [`Responder`]: crate::proto::resp::Responder

use crate::counters::Counter;
use crate::mr::{self, MrError};
use crate::proto::aeth::{NakCode, Syndrome};
use crate::proto::hdr::{Aeth, Bth, Extensions, Reth};
use crate::proto::mig::MigState;
use crate::proto::modify::QpState as State;
use crate::proto::opcode::{flags, op, TRANSPORT_RC};
use crate::proto::psn::Psn;
use crate::proto::req::Service;
use crate::proto::resp::{Request, Verdict};
use crate::proto::roce::Datagram;
use crate::proto::wqe;
use crate::qp::{QpState, GSI_QKEY, GSI_QPN};
use crate::rdma::access::Access;
use crate::rdma::cq::{NetworkType, WcFlags, WcOpcode, WcStatus, WorkCompletion};
use crate::requester::PKEY;
use crate::transport::{post, scatter, Ctx, ReadReply, RecvProgress, WriteProgress, GRH_BYTES};
use crate::xmit;
use kernel::prelude::*;

/// ACK credits: the C rxe advertises an unlimited receive queue.
const CREDITS_UNLIMITED: u8 = 0x1f;

/// What went wrong carrying out a request, as the NAK and completion say.
#[derive(Clone, Copy)]
enum ExecError {
    /// The receive work request is too small (IB_WC_LOC_LEN_ERR, NAK
    /// invalid request).
    Length,
    /// An R_Key or local key problem (NAK remote access).
    Access,
    /// A malformed receive work request (NAK remote operational).
    Operational,
}

impl QpState {
    /// Whether the QP lets its partner do `access` (the remote access
    /// flags `modify_qp` gave it).
    fn remote_access(&self, access: Access) -> bool {
        Access::from_abi(self.attrs.access).contains(access)
    }

    /// A request packet arrived.
    pub(crate) fn on_request(&mut self, cx: &Ctx<'_>, d: &Datagram<'_>, l3: &[u8]) {
        let st = self.attrs.state;
        if st != State::Rtr && st != State::Rts {
            return;
        }
        let pkt = &d.packet;
        let info = pkt.info;
        let service = cx.qp.service;
        if service == Service::Ud {
            // The GSI QP takes the well-known Q_Key whatever its attribute
            // says (the C rxe's check_keys).
            let qkey = if cx.qp.qpn == GSI_QPN {
                GSI_QKEY
            } else {
                self.attrs.qkey
            };
            match pkt.deth() {
                Some(deth) if deth.qkey == qkey => {}
                _ => {
                    if cx.dev.counters.inc_first(Counter::RcvdBadQkey) {
                        pr_info!(
                            "QP {}: dropped a datagram with a wrong Q_Key; counting further ones in hw_counters/rcvd_bad_qkey\n",
                            cx.qp.qpn
                        );
                    }
                    return;
                }
            }
        }
        let payload = pkt.payload();
        let psn = pkt.bth.psn;
        // A message that takes a receive work request needs one waiting.
        if info.has(flags::RWR)
            && self.tx.mig != MigState::Stopped
            && self.tx.recv.is_none()
            && (service == Service::Ud || psn == self.tx.responder.epsn())
            && cx.qp.rq.producer() == self.tx.rq_next
        {
            if service == Service::Rc {
                cx.dev.counters.inc(Counter::SndRnr);
                let timer = self.attrs.min_rnr_timer;
                self.send_ack(cx, Syndrome::RnrNak { timer }, psn);
            }
            return;
        }
        let reth = pkt.reth();
        let req = Request {
            opcode: pkt.bth.opcode,
            psn,
            len: payload.len() as u32,
            read_len: reth.map_or(0, |r| r.len),
        };
        match self.tx.responder.receive(&req) {
            Verdict::Execute { first, last } => {
                if let Err(e) = self.execute(cx, d, l3, first, last) {
                    self.exec_failed(cx, psn, e);
                    return;
                }
                if service == Service::Rc && !info.has(flags::READ) {
                    if pkt.bth.ack_req {
                        self.ack_last(cx);
                    } else {
                        self.tx.ack_owed = true;
                    }
                }
                self.partner_is_back(cx);
            }
            Verdict::Duplicate => {
                cx.dev.counters.inc(Counter::DupReq);
                if info.has(flags::READ) {
                    if let Some(reth) = reth {
                        // Replayed from the request: the same bytes again.
                        if let Err(e) = self.read_respond(cx, reth, psn) {
                            self.exec_failed(cx, psn, e);
                        }
                    }
                } else {
                    self.ack_last(cx);
                }
            }
            Verdict::OutOfSequence { nak } => {
                cx.dev.counters.inc(Counter::OutOfSeqReq);
                if nak {
                    let epsn = self.tx.responder.epsn();
                    self.send_ack(cx, Syndrome::Nak(NakCode::PsnSequenceError), epsn);
                }
            }
            Verdict::Invalid => {
                if service == Service::Rc {
                    self.send_ack(cx, Syndrome::Nak(NakCode::InvalidRequest), psn);
                    if let Some(r) = self.tx.recv.take() {
                        let status = WcStatus::RemInvReqErr;
                        self.complete_recv(
                            cx,
                            r.wr_id,
                            status,
                            0,
                            0,
                            None,
                            false,
                            NetworkType::None,
                        );
                    }
                    self.to_error(cx);
                }
            }
            Verdict::Paused => {
                cx.dev.counters.inc(Counter::PausedNakSent);
                let epsn = self.tx.responder.epsn();
                self.send_ack(cx, Syndrome::Nak(NakCode::Paused), epsn);
            }
            Verdict::Resume => {
                if service == Service::Rc {
                    self.on_resume_request(cx, d);
                }
            }
        }
    }

    /// A request could not be carried out: on RC, NAK it and fail the QP;
    /// on UD and UC, drop the message.
    fn exec_failed(&mut self, cx: &Ctx<'_>, psn: Psn, e: ExecError) {
        let (code, status) = match e {
            ExecError::Length => (NakCode::InvalidRequest, WcStatus::LocLenErr),
            ExecError::Access => (NakCode::RemoteAccessError, WcStatus::LocProtErr),
            ExecError::Operational => (NakCode::RemoteOperationalError, WcStatus::LocQpOpErr),
        };
        if let Some(r) = self.tx.recv.take() {
            self.complete_recv(cx, r.wr_id, status, 0, 0, None, false, NetworkType::None);
        }
        self.tx.write = None;
        if cx.qp.service == Service::Rc {
            self.send_ack(cx, Syndrome::Nak(code), psn);
            self.to_error(cx);
        }
    }

    fn execute(
        &mut self,
        cx: &Ctx<'_>,
        d: &Datagram<'_>,
        l3: &[u8],
        first: bool,
        last: bool,
    ) -> core::result::Result<(), ExecError> {
        let pkt = &d.packet;
        let info = pkt.info;
        let payload = pkt.payload();
        if info.has(flags::READ) {
            let reth = pkt.reth().ok_or(ExecError::Operational)?;
            return self.read_respond(cx, reth, pkt.bth.psn);
        }
        if info.has(flags::SEND) {
            if first {
                self.begin_recv();
                if cx.qp.service == Service::Ud {
                    let grh = grh_of(d, l3);
                    self.recv_data(cx, &grh)?;
                }
            }
            self.recv_data(cx, payload)?;
            if last {
                let r = self.tx.recv.take().ok_or(ExecError::Operational)?;
                let imm = pkt.immdt().map(|i| u32::from_ne_bytes(i.imm));
                let src = pkt.deth().map_or(self.attrs.dest_qpn, |h| h.src_qpn);
                cx.dev.counters.inc(Counter::RdmaRecvs);
                let network = match d.ipv6 {
                    true => NetworkType::Ipv6,
                    false => NetworkType::Ipv4,
                };
                self.complete_recv(
                    cx,
                    r.wr_id,
                    WcStatus::Success,
                    r.offset,
                    src,
                    imm,
                    pkt.bth.se,
                    network,
                );
            }
            return Ok(());
        }
        // RDMA WRITE.
        if first {
            let reth = pkt.reth().ok_or(ExecError::Operational)?;
            let (mr, at) = if reth.len == 0 {
                (None, 0)
            } else {
                let (mr, at) = mr::lookup(
                    cx.dev,
                    cx.qp.pd,
                    reth.rkey,
                    Access::REMOTE_WRITE,
                    reth.va,
                    reth.len,
                )
                .map_err(|_| ExecError::Access)?;
                (Some(mr), at)
            };
            if !self.remote_access(Access::REMOTE_WRITE) && reth.len != 0 {
                return Err(ExecError::Access);
            }
            self.tx.write = mr.map(|mr| WriteProgress {
                mr,
                at,
                left: reth.len,
                total: reth.len,
            });
        }
        let total = if let Some(w) = self.tx.write.as_mut() {
            let n = payload.len() as u32;
            if n > w.left {
                return Err(ExecError::Length);
            }
            // SAFETY: `lookup` granted remote write over `w.total` bytes
            // from the RETH's address; `w.at` has advanced by what was
            // written and `n <= w.left`, so the payload is within them.
            unsafe { w.mr.write(w.at, payload) }.map_err(|_| ExecError::Access)?;
            w.at += payload.len();
            w.left -= n;
            w.total
        } else if payload.is_empty() {
            0
        } else {
            return Err(ExecError::Length);
        };
        if last {
            self.tx.write = None;
            if let Some(imm) = pkt.immdt() {
                let imm = u32::from_ne_bytes(imm.imm);
                self.complete_write_imm(cx, total, imm, pkt.bth.se);
            }
        }
        Ok(())
    }

    /// Takes the next receive work request for a new message.
    fn begin_recv(&mut self) {
        // The caller checked that one waits (RNR otherwise); its slot is
        // read as data is placed.
        self.tx.recv = Some(RecvProgress {
            wr_id: 0,
            offset: 0,
        });
    }

    /// Places `data` next in the receive work request being filled.
    fn recv_data(&mut self, cx: &Ctx<'_>, data: &[u8]) -> core::result::Result<(), ExecError> {
        let rq = &cx.qp.rq;
        let mut slot = core::mem::take(&mut self.tx.slot);
        let res = (|| {
            rq.read_slot(self.tx.rq_next, &mut slot)
                .map_err(|_| ExecError::Operational)?;
            let w = wqe::parse_recv(&slot, cx.qp.caps.max_recv_sge)
                .map_err(|_| ExecError::Operational)?;
            let r = self.tx.recv.as_mut().ok_or(ExecError::Operational)?;
            r.wr_id = w.wr_id;
            let end = r.offset as u64 + data.len() as u64;
            if end > u64::from(w.length) {
                return Err(ExecError::Length);
            }
            scatter(cx, &w.sges, r.offset, data).map_err(|e| match e {
                MrError::BadKey | MrError::Access | MrError::Bounds => ExecError::Access,
            })?;
            r.offset = end as u32;
            Ok(())
        })();
        self.tx.slot = slot;
        res
    }

    /// Completes the receive work request at the head of the queue.
    #[allow(clippy::too_many_arguments)]
    fn complete_recv(
        &mut self,
        cx: &Ctx<'_>,
        wr_id: u64,
        status: WcStatus,
        len: u32,
        src_qp: u32,
        imm: Option<u32>,
        solicited: bool,
        network: NetworkType,
    ) {
        let mut flags = WcFlags::NONE;
        // A UD receive starts with the GRH room; a kernel consumer also
        // learns which header it holds (`ib_init_ah_attr_from_wc`).
        let ud = cx.qp.service == Service::Ud;
        if ud {
            flags |= WcFlags::GRH;
        }
        if imm.is_some() {
            flags |= WcFlags::WITH_IMM;
        }
        let wc = WorkCompletion {
            wr_id,
            status,
            opcode: WcOpcode::Recv,
            byte_len: len,
            ex: imm.unwrap_or(0),
            qp_num: cx.qp.qpn,
            src_qp,
            wc_flags: flags,
            port_num: 1,
            network_hdr_type: if ud { network } else { NetworkType::None },
            ..WorkCompletion::default()
        };
        self.advance_rq(cx);
        post(cx.qp, &cx.qp.recv_cq, &wc, solicited);
    }

    /// A WRITE with immediate consumed the head receive work request (the
    /// caller checked that one waits): completes it, without data.
    fn complete_write_imm(&mut self, cx: &Ctx<'_>, len: u32, imm: u32, solicited: bool) {
        // Its ID is the first field of its slot.
        let mut id = [0u8; 8];
        let _ = cx.qp.rq.read_slot(self.tx.rq_next, &mut id);
        let wc = WorkCompletion {
            wr_id: u64::from_ne_bytes(id),
            status: WcStatus::Success,
            opcode: WcOpcode::RecvRdmaWithImm,
            byte_len: len,
            ex: imm,
            qp_num: cx.qp.qpn,
            src_qp: self.attrs.dest_qpn,
            wc_flags: WcFlags::WITH_IMM,
            port_num: 1,
            ..WorkCompletion::default()
        };
        self.advance_rq(cx);
        post(cx.qp, &cx.qp.recv_cq, &wc, solicited);
    }

    fn advance_rq(&mut self, cx: &Ctx<'_>) {
        let rq = &cx.qp.rq;
        self.tx.rq_next = rq.ring.next(self.tx.rq_next);
        rq.set_consumer(self.tx.rq_next);
    }

    /// Answers a READ request for `reth` whose first response has `psn`:
    /// checks it and begins the reply, which [`QpState::read_burst`] sends
    /// a burst at a time.
    fn read_respond(
        &mut self,
        cx: &Ctx<'_>,
        reth: Reth,
        psn: Psn,
    ) -> core::result::Result<(), ExecError> {
        if !self.remote_access(Access::REMOTE_READ) && reth.len != 0 {
            return Err(ExecError::Access);
        }
        let mr = if reth.len == 0 {
            None
        } else {
            Some(
                mr::lookup(
                    cx.dev,
                    cx.qp.pd,
                    reth.rkey,
                    Access::REMOTE_READ,
                    reth.va,
                    reth.len,
                )
                .map_err(|_| ExecError::Access)?,
            )
        };
        if self.tx.path.is_none() {
            return Err(ExecError::Operational);
        }
        self.tx.reading = Some(ReadReply {
            mr,
            psn,
            len: reth.len,
            packets: self.tx.mtu.packets(reth.len).max(1),
            next: 0,
        });
        Ok(())
    }

    /// Sends the next packets of the READ reply under way, at most
    /// `budget` of them (taken from it). The reply is over when it has
    /// sent them all, when one could not go out (lost like on a wire: the
    /// requester asks again), or when the QP left RTR and RTS.
    pub(crate) fn read_burst(&mut self, cx: &Ctx<'_>, budget: &mut u32) {
        let Some(mut r) = self.tx.reading.take() else {
            return;
        };
        if !matches!(self.attrs.state, State::Rtr | State::Rts) {
            return;
        }
        let Some(path) = self.tx.path else {
            return;
        };
        let mtu = self.tx.mtu.bytes();
        let n = r.packets;
        while r.next < n {
            if *budget == 0 {
                self.tx.reading = Some(r);
                return;
            }
            *budget -= 1;
            let i = r.next;
            let opcode = match (n, i) {
                (1, _) => op::RDMA_READ_RESPONSE_ONLY,
                (_, 0) => op::RDMA_READ_RESPONSE_FIRST,
                (_, i) if i == n - 1 => op::RDMA_READ_RESPONSE_LAST,
                _ => op::RDMA_READ_RESPONSE_MIDDLE,
            } | TRANSPORT_RC;
            let off = i * mtu;
            let len = (r.len - off).min(mtu) as usize;
            let ext = Extensions {
                aeth: Some(Aeth {
                    syndrome: Syndrome::Ack {
                        credits: CREDITS_UNLIMITED,
                    }
                    .to_byte(),
                    msn: self.tx.responder.msn(),
                }),
                ..Extensions::default()
            };
            let bth = Bth {
                opcode,
                pkey: PKEY,
                dest_qpn: self.attrs.dest_qpn,
                psn: r.psn + i,
                ..Bth::default()
            };
            let sent = xmit::send(cx.dev, &path, bth, &ext, len, |buf| match &r.mr {
                Some((mr, at)) => mr.read(at + off as usize, buf),
                None => Ok(()),
            });
            if let Err(e) = sent {
                if e == EFAULT {
                    self.exec_failed(cx, r.psn, ExecError::Access);
                }
                return;
            }
            r.next += 1;
        }
    }

    /// Acknowledges everything carried out so far.
    pub(crate) fn ack_last(&mut self, cx: &Ctx<'_>) {
        self.tx.ack_owed = false;
        let last = self.tx.responder.epsn() - 1;
        let ack = Syndrome::Ack {
            credits: CREDITS_UNLIMITED,
        };
        self.send_ack(cx, ack, last);
    }

    /// Sends an ACK or NAK with `syndrome` for `psn`.
    pub(crate) fn send_ack(&self, cx: &Ctx<'_>, syndrome: Syndrome, psn: Psn) {
        let Some(path) = self.tx.path else {
            return;
        };
        let bth = Bth {
            opcode: op::ACKNOWLEDGE | TRANSPORT_RC,
            pkey: PKEY,
            dest_qpn: self.attrs.dest_qpn,
            psn,
            ..Bth::default()
        };
        let ext = Extensions {
            aeth: Some(Aeth {
                syndrome: syndrome.to_byte(),
                msn: self.tx.responder.msn(),
            }),
            ..Extensions::default()
        };
        let _ = xmit::send(cx.dev, &path, bth, &ext, 0, |_| Ok(()));
    }
}

/// The 40 bytes a UD receive gets before the payload: the IPv6 header, or
/// 20 zero bytes and the IPv4 header (`union rdma_network_hdr`).
fn grh_of(d: &Datagram<'_>, l3: &[u8]) -> [u8; GRH_BYTES as usize] {
    let mut grh = [0u8; GRH_BYTES as usize];
    if d.ipv6 {
        grh.copy_from_slice(&l3[..40]);
    } else {
        grh[20..].copy_from_slice(&l3[..20]);
    }
    grh
}
