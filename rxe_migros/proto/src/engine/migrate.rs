// SPDX-License-Identifier: GPL-2.0

//! The migration protocol in the QP (docs/migration.md): Stopped while the
//! process is checkpointed, Paused while a partner is, and Resuming until a
//! partner has heard the RESUME that announces the restored QP's address.
//!
//! The decisions are the core's ([`MigState`], the completer's pause and
//! the responder's paused verdict); this part of the engine keeps the
//! state, sends the paused NAK and RESUME, takes a partner's new address,
//! and bounds the waits.
//!
//! A RESUME from a new address must prove that it comes from the partner
//! (docs/migration.md, "Authenticating RESUME"): a stopping QP asks its
//! partner for a token, which the partner draws and sends along the path
//! it already has, where an off-path host cannot read it; the RESUME
//! carries it back.

use super::comp::Action;
use super::hdr::{Bth, Extensions};
use super::image::Grants;
use super::mig::{AddressUpdate, MigState, Token, TokenKind};
use super::opcode::op;
use super::psn::Psn;
use super::req::Service;
use super::roce::Datagram;
use super::Bytes;
use super::{Count, Engine, Io, QpEvent, Status, Storage, Time, NS_PER_MS, PKEY};

/// How often a Resuming QP sends RESUME when its QP has no retransmission
/// timeout of its own, in ms.
const RESUME_INTERVAL_MS: u64 = 100;

/// How often, at most, a Stopped QP asks its partner for a token again
/// while the grant has not come.
const ASK_INTERVAL_MS: u64 = 50;

/// A token or nonce: 64 random bits, never 0 (which means none).
fn draw<I: Io>(io: &I) -> u64 {
    (0..8).map(|_| io.random()).find(|&r| r != 0).unwrap_or(1)
}

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
        // A partner that speaks the protocol grants the token a RESUME
        // from a new address must carry (the old one may be spent).
        self.asking = 0;
        self.ask_at = None;
        // A UD QP's grants were for the address it had at its last stop.
        self.ud_grants = S::Bytes::default();
        if self.connected() && self.speaks {
            self.asking = draw(io);
            self.ask_token(io);
        }
    }

    /// Whether this is a connected QP (RC or UC) with a partner (RTR, RTS
    /// or SQD).
    fn connected(&self) -> bool {
        self.cfg.service != Service::Ud && self.attrs.state.responds() && self.path.is_some()
    }

    /// Sends the token request, and arms its repetition.
    fn ask_token<I: Io<S = S>>(&mut self, io: &I) {
        self.send_token(io, TokenKind::Request, self.asking, 0);
        let every = ASK_INTERVAL_MS * NS_PER_MS;
        self.ask_at = Some(self.now + self.timeout.map_or(every, |t| t.min(every)));
    }

    /// Sends a token message to the partner, along the QP's path.
    fn send_token<I: Io<S = S>>(&self, io: &I, kind: TokenKind, nonce: u64, token: u64) {
        let Some(path) = self.path else {
            return;
        };
        let bth = Bth {
            opcode: op::TOKEN | self.cfg.service.transport(),
            pkey: PKEY,
            dest_qpn: self.attrs.dest_qpn,
            psn: self.resume_psn(),
            ..Bth::default()
        };
        let msg = Token {
            kind,
            qpn: self.cfg.qpn,
            nonce,
            token,
        }
        .emit();
        let _ = io.transmit(&path, bth, &Extensions::default(), msg.len(), |b| {
            b.copy_from_slice(&msg);
            Ok(())
        });
    }

    /// A token message from the partner's address (the receive path
    /// checked that it came by the QP's path). A request is answered with
    /// the QP's grant, drawn at the first request and kept until a RESUME
    /// spends it, so that repeated or forged requests change nothing; the
    /// grant goes along the path on file, to the QP on file, whoever asked.
    /// A grant is taken only if it echoes the nonce of our request.
    pub(super) fn on_token<I: Io<S = S>>(&mut self, io: &I, d: &Datagram<'_>) {
        if self.cfg.service == Service::Ud {
            if self.cfg.qpn == super::GSI_QPN {
                // The device's to answer, here where it may send.
                io.ud_token_request(d);
            } else {
                self.on_ud_grant(d);
            }
            return;
        }
        if !self.connected() {
            return;
        }
        let t = match Token::parse(d.packet.payload()) {
            Ok(t) => t,
            Err(e) => {
                if io.count_first(Count::RcvdMalformed) {
                    io.log(format_args!(
                        "QP {}: a token message refused: {:?}",
                        self.cfg.qpn, e
                    ));
                }
                return;
            }
        };
        if t.qpn != self.attrs.dest_qpn {
            return;
        }
        match t.kind {
            TokenKind::Request => {
                if self.granted == 0 {
                    self.granted = draw(io);
                }
                self.send_token(io, TokenKind::Grant, t.nonce, self.granted);
            }
            TokenKind::Grant => {
                if self.asking != 0 && t.nonce == self.asking && t.token != 0 {
                    self.token = t.token;
                    self.asking = 0;
                    self.ask_at = None;
                }
            }
            // RC hears it from the ACK of its RESUME.
            TokenKind::Heard => {
                if self.cfg.service == Service::Uc
                    && matches!(self.mig, MigState::Resuming { .. })
                    && t.nonce == self.token
                {
                    self.resume_acknowledged(io);
                }
            }
        }
    }

    /// A Stopped UD QP asks the devices of `peers` (its context's AHs)
    /// that `speaks` (they showed they speak the protocol) for the tokens
    /// its move announcements will carry, those it has no token from yet
    /// (a first call starts afresh). Returns how many it asked: none once
    /// every device answered.
    pub fn ask_ud_tokens<I: Io<S = S>>(
        &mut self,
        io: &I,
        peers: &[super::Av],
        speaks: impl Fn(&[u8; 16]) -> bool,
    ) -> usize {
        if self.cfg.service != Service::Ud || self.mig != MigState::Stopped {
            return 0;
        }
        if self.asking == 0 {
            self.asking = draw(io);
            self.ud_grants = S::Bytes::default();
        }
        let mut asked = 0;
        for (i, av) in peers.iter().enumerate() {
            let seen = peers[..i].iter().any(|p| p.dgid == av.dgid);
            if seen || !speaks(&av.dgid) || Grants::find(self.ud_grants.as_ref(), &av.dgid) != 0 {
                continue;
            }
            let r = super::super::moves::token_request(self.cfg.qpn, *av, self.asking);
            let _ = io.transmit(&r.path, r.bth, &r.ext, r.payload.len(), |b| {
                b.copy_from_slice(&r.payload);
                Ok(())
            });
            asked += 1;
        }
        asked
    }

    /// The token the device at `gid` granted this UD QP, or 0.
    pub fn ud_token(&self, gid: &[u8; 16]) -> u64 {
        Grants::find(self.ud_grants.as_ref(), gid)
    }

    /// A device's grant reached this UD QP: kept if it answers our
    /// request (its nonce), once per device.
    fn on_ud_grant(&mut self, d: &Datagram<'_>) {
        let from_device = d.packet.deth().is_some_and(|x| x.src_qpn == 1);
        let Ok(t) = Token::parse(d.packet.payload()) else {
            return;
        };
        if !from_device || t.kind != TokenKind::Grant || self.asking == 0 || t.nonce != self.asking
        {
            return;
        }
        let held = self.ud_grants.as_ref();
        if t.token == 0
            || Grants::find(held, &d.src) != 0
            || held.len() >= Grants::MAX * Grants::ENTRY
        {
            return;
        }
        let _ = self.ud_grants.append(&[&Grants::entry(&d.src, t.token)]);
    }

    /// Resumes a Stopped QP, from `src` if its address changed. A
    /// connected QP (RC, UC) with a partner (RTR or RTS) announces itself
    /// with RESUME unless `loopback` (its partner is resumed with it);
    /// returns whether it does. A QP that is not Stopped is left as it is (`None`).
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
        self.asking = 0;
        self.ask_at = None;
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
        // RESUME goes only to a partner that showed it speaks the protocol:
        // the C rxe would drop it, and has no paused NAK to end.
        if self.connected() && self.speaks && !loopback {
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

    /// The PSN a RESUME carries: the oldest unacknowledged one (UC: the
    /// next to send, nothing being acknowledged), or the first to send for
    /// a QP that never reached RTS.
    fn resume_psn(&self) -> Psn {
        if self.cfg.service == Service::Uc && self.attrs.state.has_sent() {
            self.psn
        } else if self.attrs.state.has_sent() {
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
            opcode: op::RESUME | self.cfg.service.transport(),
            pkey: PKEY,
            dest_qpn: self.attrs.dest_qpn,
            psn: self.resume_psn(),
            ack_req: self.cfg.service == Service::Rc,
            ..Bth::default()
        };
        let update = AddressUpdate {
            qpn: self.cfg.qpn,
            gid: path.av.sgid,
            token: self.token,
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

    /// The partner heard the RESUME of this Resuming QP: on RC a response
    /// came (a RESUME is acknowledged like any request), on UC a heard
    /// token message. Sends again from the oldest unacknowledged request.
    pub(super) fn resume_acknowledged<I: Io<S = S>>(&mut self, io: &I) {
        self.end_wait(io, Some(MigState::Running));
        // The partner spent it if we came from a new address; the next
        // stop asks again (it gets the same one if it was not spent).
        self.token = 0;
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
    /// from the oldest unacknowledged request. Anyone may send a RESUME
    /// from any address, so it is taken only if it comes from the address
    /// it names, with a PSN the QP's responder could have left the partner
    /// at (none past the one it expects, once the partner sent anything),
    /// and, if it changes the path, with the token this QP granted; that
    /// token is then spent.
    pub(super) fn on_resume_request<I: Io<S = S>>(&mut self, io: &I, d: &Datagram<'_>) {
        io.count(Count::ResumeRcvd, 1);
        let update = match AddressUpdate::parse(d.packet.payload()) {
            Ok(Some(u)) => u,
            Ok(None) => AddressUpdate {
                qpn: self.attrs.dest_qpn,
                gid: d.src,
                token: 0,
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
        let moves = update.gid != av.dgid || update.qpn != self.attrs.dest_qpn;
        // A partner that sent us anything has reached RTS, and its oldest
        // unacknowledged PSN is no later than the one we expect; one that
        // stayed in RTR (a receiver only) has no send PSN we know.
        // UC keeps no sequence across messages that a RESUME could be
        // held to: lost packets are not asked for again.
        let epsn = self.responder.epsn();
        let heard = self.cfg.service == Service::Rc && epsn != Psn::new(self.attrs.rq_psn);
        let refused = if update.gid != d.src {
            Some("not sent from the address it names")
        } else if is_v4_mapped(&update.gid) == av.ipv6 {
            Some("the new address is of another IP family")
        } else if heard && d.packet.bth.psn.diff(epsn) > 0 {
            Some("its PSN is past the one this QP expects")
        } else if moves && (self.granted == 0 || update.token != self.granted) {
            Some("a new address without the token this QP granted")
        } else {
            None
        };
        if let Some(why) = refused {
            if io.count_first(Count::RcvdBadResume) {
                io.log(format_args!(
                    "QP {}: a RESUME from {:?} refused ({}); counting further ones in hw_counters/rcvd_bad_resume",
                    self.cfg.qpn,
                    super::Gid(&d.src),
                    why
                ));
            }
            return;
        }
        if moves {
            self.granted = 0;
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
        if self.cfg.service == Service::Uc {
            self.send_token(io, TokenKind::Heard, update.token, 0);
            return;
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
        if !self.attrs.state.has_sent() {
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
            // A QP with nothing outstanding has no completion to say so.
            if self.fail(io, Status::RetryExcErr) {
                io.event(QpEvent::Fatal);
            }
            return;
        }
        if let (MigState::Resuming { .. }, Some(at)) = (self.mig, self.resume_at) {
            if self.now >= at {
                self.send_resume(io);
            }
        }
        if self.mig == MigState::Stopped && self.ask_at.is_some_and(|at| self.now >= at) {
            self.ask_token(io);
        }
    }

    /// When the migration side of the timer is next due, if waiting.
    pub(super) fn migration_deadline<I: Io<S = S>>(&self, io: &I) -> Option<Time> {
        let wait = self.mig.waiting_since().map(|since| {
            // The first instant `waited_too_long` holds: a fixed point in
            // time, which a caller that polls finds due once it passes.
            let bound = (since + io.wait_limit_ms() + 1) * NS_PER_MS;
            match self.resume_at {
                Some(at) if at < bound => at,
                _ => bound,
            }
        });
        super::earlier(wait, self.ask_at)
    }
}
