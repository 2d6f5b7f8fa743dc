// SPDX-License-Identifier: GPL-2.0

//! The migration protocol in the QP (docs/migration.md): Stopped while the
//! process is checkpointed, Paused while a partner is, and Resuming until a
//! partner has heard the RESUME that announces the restored QP's address.
//!
//! The decisions are the core's ([`MigState`], the completer's pause and
//! the responder's paused verdict); this glue keeps the state, sends the
//! paused NAK and RESUME, takes a partner's new address, and bounds the
//! waits. Like the rest of the transport, it runs with the QP's mutex held.
//!
//! The control device ([`crate::control`]) finds a process's QPs through
//! its user context ([`crate::context`]).

use crate::counters::Counter;
use crate::proto::comp::Action;
use crate::proto::hdr::Deth;
use crate::proto::hdr::{Bth, Extensions};
use crate::proto::mig::{AddressUpdate, MigState, UdMove, UD_MOVE_QPN};
use crate::proto::modify::QpState as State;
use crate::proto::opcode::{op, TRANSPORT_RC, TRANSPORT_UD};
use crate::proto::psn::Psn;
use crate::proto::req::Service;
use crate::proto::roce::Datagram;
use crate::qp::QpState;
use crate::rdma::cq::WcStatus;
use crate::rdma::device::Device;
use crate::rdma::qp::AddressVector;
use crate::requester::PKEY;
use crate::transport::{due, Ctx, Transport};
use crate::xmit::{self, Path};
use crate::Rxe;
use kernel::prelude::*;
use kernel::time::{ClockSource, Delta, Instant, Monotonic};

/// How often a Resuming QP sends RESUME when its QP has no retransmission
/// timeout of its own.
const RESUME_INTERVAL_MS: i64 = 100;

/// Milliseconds of the monotonic clock, for the migration states' times.
pub(crate) fn now_ms() -> u64 {
    (Monotonic::ktime_get() / 1_000_000) as u64
}

/// The bound on waiting for a partner (Paused, Resuming), in ms.
fn wait_limit_ms() -> u64 {
    u64::from(crate::module_parameters::pause_timeout_s.value()) * 1000
}

/// A new source address for a resumed QP: a GID of its device's port and
/// its index in the GID table.
#[derive(Clone, Copy)]
pub(crate) struct NewSource {
    pub(crate) gid: [u8; 16],
    pub(crate) index: u8,
}

/// The Q_Key of UD announcements (the general services QP's).
const UD_MOVE_QKEY: u32 = crate::qp::GSI_QKEY;

/// Where a restored UD QP was known: the destination of one of its
/// context's AHs, and the source GID the AH had there.
#[derive(Clone, Copy)]
pub(crate) struct KnownAt {
    pub(crate) av: AddressVector,
    pub(crate) old: [u8; 16],
}

/// Announces that UD QP `qpn` moved to `src`: once to each peer device
/// in `known`, from the old GID it knows the QP by. Returns how many
/// announcements went out. Like a UD datagram, an announcement may be
/// lost; the peers' UD traffic to the QP is lost with it.
pub(crate) fn announce_ud_move(
    dev: &Device<Rxe>,
    qpn: u32,
    src: NewSource,
    known: &[KnownAt],
) -> u32 {
    let mut sent = 0;
    for (i, k) in known.iter().enumerate() {
        let seen = known[..i]
            .iter()
            .any(|e| e.av.dgid == k.av.dgid && e.old == k.old);
        if seen || k.old == src.gid || is_v4_mapped(&src.gid) == k.av.ipv6 {
            continue;
        }
        let mut av = k.av;
        av.sgid = src.gid;
        av.sgid_index = src.index;
        let path = Path {
            av,
            src_port: xmit::src_port(qpn),
        };
        let bth = Bth {
            opcode: op::RESUME | TRANSPORT_UD,
            pkey: PKEY,
            dest_qpn: UD_MOVE_QPN,
            ..Bth::default()
        };
        let ext = Extensions {
            deth: Some(Deth {
                qkey: UD_MOVE_QKEY,
                src_qpn: qpn,
            }),
            ..Extensions::default()
        };
        let news = UdMove {
            qpn,
            old: k.old,
            new: src.gid,
        }
        .emit();
        let r = xmit::send(dev, &path, bth, &ext, news.len(), |b| {
            b.copy_from_slice(&news);
            Ok(())
        });
        if r.is_ok() {
            dev.counters.inc(Counter::ResumeSent);
            sent += 1;
        }
    }
    sent
}

/// A UD announcement arrived (in the receive path): our UD QPs send to
/// the QP it names at its new address from now on.
pub(crate) fn on_ud_move(dev: &Device<Rxe>, d: &Datagram<'_>) {
    dev.counters.inc(Counter::ResumeRcvd);
    let news = match (d.packet.bth.dest_qpn, d.packet.deth()) {
        // A moved QP announces itself from its new address.
        (UD_MOVE_QPN, Some(deth)) if deth.qkey == UD_MOVE_QKEY => UdMove::parse(d.packet.payload())
            .ok()
            .filter(|m| m.qpn == deth.src_qpn && m.new == d.src),
        _ => None,
    };
    let why = match news.map(|m| dev.moves.learn(&m)) {
        Some(Ok(())) => return,
        Some(Err(e)) => e,
        None => crate::moved::Refused::Malformed,
    };
    if dev.counters.inc_first(Counter::RcvdMalformed) {
        pr_info!(
            "{}: a UD announcement refused ({:?}); counting further ones in hw_counters/rcvd_malformed\n",
            dev.name(),
            why
        );
    }
}

/// Whether `gid` is an IPv4-mapped address (`::ffff:a.b.c.d`).
pub(crate) fn is_v4_mapped(gid: &[u8; 16]) -> bool {
    gid[..10].iter().all(|&b| b == 0) && gid[10] == 0xff && gid[11] == 0xff
}

impl QpState {
    /// Stops the QP for a checkpoint. Nothing of the QP runs meanwhile
    /// (the caller holds its mutex), so it is quiescent when this returns:
    /// later doorbells, packets and timers find it Stopped.
    pub(crate) fn stop(&mut self, cx: &Ctx<'_>) {
        self.end_wait(cx, None);
        self.tx.mig = MigState::Stopped;
        self.tx.responder.stop();
        // A READ reply under way stops too: the requester asks again for
        // the rest once the QP is back (or restored elsewhere).
        self.tx.reading = None;
        // Its own retransmissions wait: go-back-N resumes them.
        self.tx.retransmit_at = None;
        self.tx.resume_at = None;
    }

    /// Resumes a Stopped QP, from `src` if its address changed. An RC QP
    /// with a partner (RTR or RTS) announces itself with RESUME unless
    /// `loopback` (its partner is resumed with it); returns whether it
    /// does. A QP that is not Stopped is left as it is (`None`).
    pub(crate) fn resume(
        &mut self,
        cx: &Ctx<'_>,
        src: Option<NewSource>,
        loopback: bool,
    ) -> Option<bool> {
        if self.tx.mig != MigState::Stopped {
            return None;
        }
        self.tx.responder.resume();
        if let Some(src) = src {
            let moved = |av: &mut AddressVector| {
                av.sgid = src.gid;
                av.sgid_index = src.index;
                if loopback {
                    // Its partner moved with it.
                    av.dgid = src.gid;
                }
            };
            if let Some(av) = self.attrs.av.as_mut() {
                moved(av);
            }
            if let Some(path) = self.tx.path.as_mut() {
                moved(&mut path.av);
            }
        }
        let st = self.attrs.state;
        let connected = st == State::Rtr || st == State::Rts;
        if cx.qp.service == Service::Rc && connected && self.tx.path.is_some() && !loopback {
            self.tx.mig = MigState::Resuming { since_ms: now_ms() };
            self.send_resume(cx);
            Some(true)
        } else {
            self.tx.mig = MigState::Running;
            self.restart_from_oldest(cx);
            Some(false)
        }
    }

    /// The PSN a RESUME carries: the oldest unacknowledged one, or the
    /// first to send for a QP that never reached RTS.
    fn resume_psn(&self) -> Psn {
        if self.attrs.state == State::Rts {
            self.tx.acked
        } else {
            Psn::new(self.attrs.sq_psn)
        }
    }

    /// Sends RESUME with our address, and arms its retransmission.
    fn send_resume(&mut self, cx: &Ctx<'_>) {
        let Some(path) = self.tx.path else {
            return;
        };
        let bth = Bth {
            opcode: op::RESUME | TRANSPORT_RC,
            pkey: PKEY,
            dest_qpn: self.attrs.dest_qpn,
            psn: self.resume_psn(),
            ack_req: true,
            ..Bth::default()
        };
        let update = AddressUpdate {
            qpn: cx.qp.qpn,
            gid: path.av.sgid,
        }
        .emit();
        let sent = xmit::send(
            cx.dev,
            &path,
            bth,
            &Extensions::default(),
            update.len(),
            |b| {
                b.copy_from_slice(&update);
                Ok(())
            },
        );
        if sent.is_ok() {
            cx.dev.counters.inc(Counter::ResumeSent);
        }
        let every = self
            .tx
            .timeout
            .unwrap_or(Delta::from_millis(RESUME_INTERVAL_MS));
        self.tx.resume_at = Some(Instant::now() + every);
    }

    /// A response reached a Resuming QP: the partner heard the RESUME (a
    /// RESUME is acknowledged like any request). Sends again from the
    /// oldest unacknowledged request.
    pub(crate) fn resume_acknowledged(&mut self, cx: &Ctx<'_>) {
        self.end_wait(cx, Some(MigState::Running));
        self.restart_from_oldest(cx);
    }

    /// The partner answered with the paused NAK: it is being checkpointed.
    pub(crate) fn partner_paused(&mut self, cx: &Ctx<'_>) {
        cx.dev.counters.inc(Counter::PausedNakRcvd);
        if matches!(self.tx.mig, MigState::Running | MigState::Resuming { .. }) {
            self.tx.mig = MigState::Paused { since_ms: now_ms() };
        }
        // Frozen: no retransmission, no budget spent, until it is back.
        self.tx.retransmit_at = None;
    }

    /// A Paused QP carried out a new request of its partner, which is
    /// therefore running again at the address it already has (an aborted
    /// checkpoint whose RESUME was lost or overtaken).
    pub(crate) fn partner_is_back(&mut self, cx: &Ctx<'_>) {
        if matches!(self.tx.mig, MigState::Paused { .. }) {
            self.end_wait(cx, Some(MigState::Running));
            self.restart_from_oldest(cx);
        }
    }

    /// The partner's RESUME arrived: take its address (the payload's, or
    /// the packet's source), leave Paused, acknowledge it, and send again
    /// from the oldest unacknowledged request. The simulation in
    /// `proto/src/sim.rs` models exactly this.
    pub(crate) fn on_resume_request(&mut self, cx: &Ctx<'_>, d: &Datagram<'_>) {
        cx.dev.counters.inc(Counter::ResumeRcvd);
        let update = match AddressUpdate::parse(d.packet.payload()) {
            Ok(Some(u)) => u,
            Ok(None) => AddressUpdate {
                qpn: self.attrs.dest_qpn,
                gid: d.src,
            },
            Err(e) => {
                if cx.dev.counters.inc_first(Counter::RcvdMalformed) {
                    pr_info!("QP {}: RESUME refused: {:?}\n", cx.qp.qpn, e);
                }
                return;
            }
        };
        let Some(mut av) = self.attrs.av else {
            return;
        };
        if is_v4_mapped(&update.gid) != !av.ipv6 {
            pr_info!(
                "QP {}: RESUME refused: the new address is of another IP family\n",
                cx.qp.qpn
            );
            return;
        }
        av.dgid = update.gid;
        self.attrs.av = Some(av);
        self.attrs.dest_qpn = update.qpn;
        if let Some(path) = self.tx.path.as_mut() {
            path.av.dgid = update.gid;
        }
        if matches!(self.tx.mig, MigState::Paused { .. }) {
            self.end_wait(cx, Some(MigState::Running));
        }
        self.ack_last(cx);
        match self.tx.mig {
            MigState::Running => self.restart_from_oldest(cx),
            // Stopped, or announcing itself: it sends again once resumed,
            // or once its own RESUME is answered (the partner's RESUME
            // does not show that the partner heard ours).
            _ => self.tx.completer.unpause(),
        }
    }

    /// Sends again from the oldest unacknowledged request, with full
    /// retry budgets, and restarts its timer.
    fn restart_from_oldest(&mut self, cx: &Ctx<'_>) {
        if self.attrs.state != State::Rts {
            self.tx.completer.unpause();
            return;
        }
        match self.oldest(cx) {
            Some(p) => {
                if let Action::Retry { from } = self.tx.completer.on_resume(&p) {
                    self.go_back(cx, from);
                }
                self.tx.restart_retransmit();
            }
            None => self.tx.completer.unpause(),
        }
    }

    /// Leaves a wait (Paused, Resuming) for `next`, counting the time
    /// spent paused; `None` only counts.
    fn end_wait(&mut self, cx: &Ctx<'_>, next: Option<MigState>) {
        if let MigState::Paused { since_ms } = self.tx.mig {
            let ms = now_ms().saturating_sub(since_ms);
            cx.dev.counters.add(Counter::PausedMs, ms);
        }
        self.tx.resume_at = None;
        if let Some(next) = next {
            self.tx.mig = next;
        }
    }

    /// The migration side of the QP's timer: RESUME again when due, and
    /// the error state for a wait that went on too long.
    pub(crate) fn migration_timer(&mut self, cx: &Ctx<'_>) {
        let limit = wait_limit_ms();
        if self.tx.mig.waited_too_long(now_ms(), limit) {
            let what = if matches!(self.tx.mig, MigState::Paused { .. }) {
                "its partner stayed paused"
            } else {
                "no partner acknowledged its RESUME"
            };
            pr_warn!(
                "QP {}: {} for more than {} s: error state\n",
                cx.qp.qpn,
                what,
                limit / 1000
            );
            self.end_wait(cx, Some(MigState::Running));
            self.fail(cx, WcStatus::RetryExcErr);
            return;
        }
        if let (MigState::Resuming { .. }, Some(at)) = (self.tx.mig, self.tx.resume_at) {
            if due(at) {
                self.send_resume(cx);
            }
        }
    }
}

impl Transport {
    /// When the migration side of the timer is next due, if waiting.
    pub(crate) fn migration_deadline(&self) -> Option<Instant<Monotonic>> {
        let since = self.mig.waiting_since()?;
        let left = (since + wait_limit_ms()).saturating_sub(now_ms()) + 1;
        let bound = Instant::now() + Delta::from_millis(left as i64);
        Some(match self.resume_at {
            Some(at) if (at - bound).is_negative() => at,
            _ => bound,
        })
    }
}
