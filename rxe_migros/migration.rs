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

/// The clock UD tokens are computed against, in seconds.
fn now_s() -> u64 {
    crate::transport::now() / 1_000_000_000
}

/// A UD announcement arrived (in the receive path): if it carries the
/// token this device granted the QP at its old address, our UD QPs send to
/// the QP it names at its new address from now on.
pub(crate) fn on_ud_move(dev: &Device<Rxe>, d: &Datagram<'_>) {
    dev.counters.inc(Counter::ResumeRcvd);
    let v = &dev.verifier;
    let Err(why) = moves::accept(d, v, now_s()).and_then(|m| dev.moves.learn(&m)) else {
        return;
    };
    let counter = match why {
        moves::Refused::BadToken => Counter::RcvdBadResume,
        _ => Counter::RcvdMalformed,
    };
    if dev.counters.inc_first(counter) {
        pr_info!(
            "{}: a UD announcement from {:?} refused ({:?}); counting further ones in hw_counters\n",
            dev.name(),
            crate::recv::Gid(&d.src),
            why
        );
    }
}

/// A UD token request arrived for the device (QPN 1, whose work item
/// hands it here, in process context, where we may send): the grant goes
/// to the QP it names, at the address it came from, whoever sent it.
/// Nothing is kept (the token is computed), so requests fill nothing, and
/// the GSI QP's queue bounds how many wait.
pub(crate) fn on_ud_token_request(dev: &Device<Rxe>, d: &Datagram<'_>) {
    let mut g = match moves::grant(d, &dev.verifier, now_s()) {
        Ok(g) => g,
        Err(why) => {
            if dev.counters.inc_first(Counter::RcvdMalformed) {
                pr_info!(
                    "{}: a UD token request refused ({:?}); counting further ones in hw_counters/rcvd_malformed\n",
                    dev.name(),
                    why
                );
            }
            return;
        }
    };
    let Ok(index) = dev.roce_gid_index(1, &d.dst) else {
        return;
    };
    g.path.av.sgid_index = index;
    let _ = crate::xmit::send(dev, &g.path, g.bth, &g.ext, g.payload.len(), |b| {
        b.copy_from_slice(&g.payload);
        Ok(())
    });
}
