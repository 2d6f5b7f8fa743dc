// SPDX-License-Identifier: GPL-2.0

//! The device's side of the migration protocol (docs/migration.md): UD
//! QPs that moved announce themselves to their peers' devices, and the
//! announcements our device receives are learnt. A QP's own migration
//! states (Stopped, Paused, Resuming) are its engine's
//! ([`crate::proto::engine`]).
//!
//! The control device ([`crate::control`]) finds a process's QPs through
//! its user context ([`crate::context`]).

use crate::counters::Counter;
use crate::proto::moves::{self, Known};
use crate::proto::roce::Datagram;
use crate::rdma::device::Device;
use crate::Rxe;
use kernel::prelude::*;

pub(crate) use crate::proto::engine::is_v4_mapped;
pub(crate) use crate::proto::engine::NewSource;

/// Announces that UD QP `qpn` moved to `src`: once to each peer device
/// in `known` ([`moves::announcements`]), from the old GID it knows the
/// QP by. Returns how many announcements went out. Like a UD datagram, an
/// announcement may be lost; the peers' UD traffic to the QP is lost with
/// it.
pub(crate) fn announce_ud_move(
    dev: &Device<Rxe>,
    qpn: u32,
    src: NewSource,
    known: &[Known],
) -> u32 {
    let mut sent = 0;
    for a in moves::announcements(qpn, src, known) {
        let r = crate::xmit::send(dev, &a.path, a.bth, &a.ext, a.payload.len(), |b| {
            b.copy_from_slice(&a.payload);
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
    let Err(why) = moves::accept(d).and_then(|m| dev.moves.learn(&m)) else {
        return;
    };
    if dev.counters.inc_first(Counter::RcvdMalformed) {
        pr_info!(
            "{}: a UD announcement refused ({:?}); counting further ones in hw_counters/rcvd_malformed\n",
            dev.name(),
            why
        );
    }
}
