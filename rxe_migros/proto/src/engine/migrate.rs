// SPDX-License-Identifier: GPL-2.0

//! The migration protocol in the QP (docs/migration.md): Stopped while the
//! process is checkpointed, Paused while a partner is, and Resuming until a
//! partner has heard the RESUME that announces the restored QP's address.
//!
//! The decisions are the core's ([`MigState`], the completer's pause and
//! the responder's paused verdict); this part of the engine keeps the
//! state, sends the paused NAK and RESUME, takes a partner's new address,
//! and bounds the waits.

use super::comp::Action;
use super::hdr::{Bth, Extensions};
use super::mig::{AddressUpdate, MigState};
use super::modify::QpState as State;
use super::opcode::{op, TRANSPORT_RC};
use super::psn::Psn;
use super::req::Service;
use super::roce::Datagram;
use super::{Count, Engine, Io, Status, Storage, Time, NS_PER_MS, PKEY};

/// How often a Resuming QP sends RESUME when its QP has no retransmission
/// timeout of its own, in ms.
const RESUME_INTERVAL_MS: u64 = 100;

/// Whether `gid` is an IPv4-mapped address (`::ffff:a.b.c.d`).
pub fn is_v4_mapped(gid: &[u8; 16]) -> bool {
    gid[..10].iter().all(|&b| b == 0) && gid[10] == 0xff && gid[11] == 0xff
}

/// A new source address for a resumed QP: a GID of its device's port and
/// its index in the GID table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewSource {
    pub gid: [u8; 16],
    pub index: u8,
}

impl<S: Storage> Engine<S> {
    fn now_ms(&self) -> u64 {
        self.now / NS_PER_MS
    }

    /// Stops the QP for a checkpoint. Nothing of the QP runs meanwhile
    /// (the caller holds its lock), so it is quiescent when this returns:
    /// later doorbells, packets and timers find it Stopped.
    pub fn stop<I: Io<S = S>>(&mut self, io: &I, now: Time) {
        self.now = now;
        self.end_wait(io, None);
        self.mig = MigState::Stopped;
        self.responder.stop();
        // A READ reply under way stops too: the requester asks again for
        // the rest once the QP is back (or restored elsewhere).
        self.reading = None;
        // Its own retransmissions wait: go-back-N resumes them.
        self.retransmit_at = None;
        self.resume_at = None;
    }

    /// Resumes a Stopped QP, from `src` if its address changed. An RC QP
    /// with a partner (RTR or RTS) announces itself with RESUME unless
    /// `loopback` (its partner is resumed with it); returns whether it
    /// does. A QP that is not Stopped is left as it is (`None`).
    pub fn resume<I: Io<S = S>>(
        &mut self,
        io: &I,
        now: Time,
        src: Option<NewSource>,
        loopback: bool,
    ) -> Option<bool> {
        self.now = now;
        if self.mig != MigState::Stopped {
            return None;
        }
        self.responder.resume();
        if let Some(src) = src {
            let moved = |av: &mut super::Av| {
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
            if let Some(path) = self.path.as_mut() {
                moved(&mut path.av);
            }
        }
        let st = self.attrs.state;
        let connected = st == State::Rtr || st == State::Rts;
        if self.cfg.service == Service::Rc && connected && self.path.is_some() && !loopback {
            self.mig = MigState::Resuming {
                since_ms: self.now_ms(),
            };
            self.send_resume(io);
            Some(true)
        } else {
            self.mig = MigState::Running;
            self.restart_from_oldest();
            Some(false)
        }
    }

    /// The PSN a RESUME carries: the oldest unacknowledged one, or the
    /// first to send for a QP that never reached RTS.
    fn resume_psn(&self) -> Psn {
        if self.attrs.state == State::Rts {
            self.acked
        } else {
            Psn::new(self.attrs.sq_psn)
        }
    }

    /// Sends RESUME with our address, and arms its retransmission.
    fn send_resume<I: Io<S = S>>(&mut self, io: &I) {
        let Some(path) = self.path else {
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
            qpn: self.cfg.qpn,
            gid: path.av.sgid,
        }
        .emit();
        let sent = io.transmit(&path, bth, &Extensions::default(), update.len(), |b| {
            b.copy_from_slice(&update);
            Ok(())
        });
        if sent.is_ok() {
            io.count(Count::ResumeSent, 1);
        }
        let every = self.timeout.unwrap_or(RESUME_INTERVAL_MS * NS_PER_MS);
        self.resume_at = Some(self.now + every);
    }

    /// A response reached a Resuming QP: the partner heard the RESUME (a
    /// RESUME is acknowledged like any request). Sends again from the
    /// oldest unacknowledged request.
    pub(super) fn resume_acknowledged<I: Io<S = S>>(&mut self, io: &I) {
        self.end_wait(io, Some(MigState::Running));
        self.restart_from_oldest();
    }

    /// The partner answered with the paused NAK: it is being checkpointed.
    pub(super) fn partner_paused<I: Io<S = S>>(&mut self, io: &I) {
        io.count(Count::PausedNakRcvd, 1);
        if matches!(self.mig, MigState::Running | MigState::Resuming { .. }) {
            self.mig = MigState::Paused {
                since_ms: self.now_ms(),
            };
        }
        // Frozen: no retransmission, no budget spent, until it is back.
        self.retransmit_at = None;
    }

    /// A Paused QP carried out a new request of its partner, which is
    /// therefore running again at the address it already has (an aborted
    /// checkpoint whose RESUME was lost or overtaken).
    pub(super) fn partner_is_back<I: Io<S = S>>(&mut self, io: &I) {
        if matches!(self.mig, MigState::Paused { .. }) {
            self.end_wait(io, Some(MigState::Running));
            self.restart_from_oldest();
        }
    }

    /// The partner's RESUME arrived: take its address (the payload's, or
    /// the packet's source), leave Paused, acknowledge it, and send again
    /// from the oldest unacknowledged request.
    pub(super) fn on_resume_request<I: Io<S = S>>(&mut self, io: &I, d: &Datagram<'_>) {
        io.count(Count::ResumeRcvd, 1);
        let update = match AddressUpdate::parse(d.packet.payload()) {
            Ok(Some(u)) => u,
            Ok(None) => AddressUpdate {
                qpn: self.attrs.dest_qpn,
                gid: d.src,
            },
            Err(e) => {
                if io.count_first(Count::RcvdMalformed) {
                    io.log(format_args!("QP {}: RESUME refused: {:?}", self.cfg.qpn, e));
                }
                return;
            }
        };
        let Some(mut av) = self.attrs.av else {
            return;
        };
        if is_v4_mapped(&update.gid) == av.ipv6 {
            io.log(format_args!(
                "QP {}: RESUME refused: the new address is of another IP family",
                self.cfg.qpn
            ));
            return;
        }
        av.dgid = update.gid;
        self.attrs.av = Some(av);
        self.attrs.dest_qpn = update.qpn;
        if let Some(path) = self.path.as_mut() {
            path.av.dgid = update.gid;
        }
        if matches!(self.mig, MigState::Paused { .. }) {
            self.end_wait(io, Some(MigState::Running));
        }
        self.ack_last(io);
        match self.mig {
            MigState::Running => self.restart_from_oldest(),
            // Stopped, or announcing itself: it sends again once resumed,
            // or once its own RESUME is answered (the partner's RESUME
            // does not show that the partner heard ours).
            _ => self.completer.unpause(),
        }
    }

    /// Sends again from the oldest unacknowledged request, with full
    /// retry budgets, and restarts its timer.
    fn restart_from_oldest(&mut self) {
        if self.attrs.state != State::Rts {
            self.completer.unpause();
            return;
        }
        match self.oldest() {
            Some(p) => {
                if let Action::Retry { from } = self.completer.on_resume(&p) {
                    self.go_back(from);
                }
                self.restart_retransmit();
            }
            None => self.completer.unpause(),
        }
    }

    /// Leaves a wait (Paused, Resuming) for `next`, counting the time
    /// spent paused; `None` only counts.
    fn end_wait<I: Io<S = S>>(&mut self, io: &I, next: Option<MigState>) {
        if let MigState::Paused { since_ms } = self.mig {
            io.count(Count::PausedMs, self.now_ms().saturating_sub(since_ms));
        }
        self.resume_at = None;
        if let Some(next) = next {
            self.mig = next;
        }
    }

    /// The migration side of the QP's timer: RESUME again when due, and
    /// the error state for a wait that went on too long.
    pub(super) fn migration_timer<I: Io<S = S>>(&mut self, io: &I) {
        let limit = io.wait_limit_ms();
        if self.mig.waited_too_long(self.now_ms(), limit) {
            let what = if matches!(self.mig, MigState::Paused { .. }) {
                "its partner stayed paused"
            } else {
                "no partner acknowledged its RESUME"
            };
            io.warn(format_args!(
                "QP {}: {} for more than {} s: error state",
                self.cfg.qpn,
                what,
                limit / 1000
            ));
            self.end_wait(io, Some(MigState::Running));
            self.fail(io, Status::RetryExcErr);
            return;
        }
        if let (MigState::Resuming { .. }, Some(at)) = (self.mig, self.resume_at) {
            if self.now >= at {
                self.send_resume(io);
            }
        }
    }

    /// When the migration side of the timer is next due, if waiting.
    pub(super) fn migration_deadline<I: Io<S = S>>(&self, io: &I) -> Option<Time> {
        let since = self.mig.waiting_since()?;
        let left = (since + io.wait_limit_ms()).saturating_sub(self.now_ms()) + 1;
        let bound = self.now + left * NS_PER_MS;
        Some(match self.resume_at {
            Some(at) if at < bound => at,
            _ => bound,
        })
    }
}
