// SPDX-License-Identifier: GPL-2.0

//! The port's counters (the C rxe's rxe_hw_counters.c), read from
//! `/sys/class/infiniband/DEV/ports/1/hw_counters/` or `rdma statistic`.
//!
//! The first seventeen are the C rxe's, with its names and meanings, so that
//! tools reading them see no difference. The rest are ours: why received
//! packets were dropped before reaching a QP, and the migration protocol.

use crate::rdma::stats::StatDesc;
use kernel::sync::atomic::{Atomic, Relaxed};

macro_rules! counters {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A counter of the port, named as the C rxe's. `ack_deferred`
        /// stays 0: our responder does not defer ACKs that way.
        #[allow(dead_code)]
        #[derive(Clone, Copy, Debug)]
        #[repr(usize)]
        pub(crate) enum Counter {
            $($(#[$doc])* $variant,)*
        }

        /// Their names, in the order of [`Counter`].
        pub(crate) static DESCS: &[StatDesc] = &[$(StatDesc::new($name),)*];
    };
}

counters! {
    /// Packets handed to the network.
    SentPkts => c"sent_pkts",
    /// Packets received and delivered to a QP.
    RcvdPkts => c"rcvd_pkts",
    /// Requests received again, already executed.
    DupReq => c"duplicate_request",
    /// Requests received ahead of the expected PSN.
    OutOfSeqReq => c"out_of_seq_request",
    /// RNR NAKs received.
    RcvRnr => c"rcvd_rnr_err",
    /// RNR NAKs sent.
    SndRnr => c"send_rnr_err",
    /// Sequence error NAKs received.
    RcvSeqErr => c"rcvd_seq_err",
    /// ACKs deferred for lack of send resources.
    AckDeferred => c"ack_deferred",
    /// Requests that exhausted retry_cnt.
    RetryExceeded => c"retry_exceeded_err",
    /// Requests that exhausted rnr_retry.
    RnrRetryExceeded => c"retry_rnr_exceeded_err",
    /// Retransmissions started by the completer.
    CompRetry => c"completer_retry_err",
    /// Packets the network refused.
    SendErr => c"send_err",
    /// Times the link went down.
    LinkDowned => c"link_downed",
    /// SEND requests sent.
    RdmaSends => c"rdma_sends",
    /// SEND requests received.
    RdmaRecvs => c"rdma_recvs",
    /// Bytes handed to the network.
    SentBytes => c"sent_bytes",
    /// Bytes received and delivered.
    RcvdBytes => c"rcvd_bytes",
    /// Received datagrams that are not well-formed RoCEv2: truncated, an
    /// unknown opcode or version, a bad pad or length, IP options.
    RcvdMalformed => c"rcvd_malformed",
    /// Received datagrams whose ICRC is wrong.
    RcvdBadIcrc => c"rcvd_bad_icrc",
    /// Well-formed packets that no QP of the device takes.
    RcvdNoDest => c"rcvd_no_dest",
    /// Packets addressed to none of the device's GIDs (the C rxe's
    /// rxe_chk_dgid), and RC and UC packets whose IP source or destination
    /// is not their QP's path (its check_addr): the forged or misrouted.
    RcvdBadAddr => c"rcvd_bad_addr",
    /// Packets whose P_Key is not the default one (also the port's
    /// bad_pkey_cntr, as the C rxe keeps it).
    RcvdBadPkey => c"rcvd_bad_pkey",
    /// UD datagrams whose Q_Key is not their QP's (also the port's
    /// qkey_viol_cntr).
    RcvdBadQkey => c"rcvd_bad_qkey",
    /// Paused NAKs sent by Stopped QPs (docs/migration.md).
    PausedNakSent => c"paused_nak_sent",
    /// Paused NAKs received: a partner is being checkpointed.
    PausedNakRcvd => c"paused_nak_rcvd",
    /// RESUME packets sent, first ones and retransmissions.
    ResumeSent => c"resume_sent",
    /// RESUME packets received.
    ResumeRcvd => c"resume_rcvd",
    /// RESUMEs refused: from another address than the one they name, with
    /// a PSN past the one their QP expects, or a new address without the
    /// token the QP granted (docs/migration.md): the forged.
    RcvdBadResume => c"rcvd_bad_resume",
    /// Milliseconds QPs spent Paused, counted when each pause ends.
    PausedMs => c"paused_ms",
}

const N: usize = Counter::PausedMs as usize + 1;

/// The counters of one device.
pub(crate) struct Counters {
    values: [Atomic<u64>; N],
    /// Whether each counter's first event was logged: a drop is logged once
    /// per kind and device, then only counted.
    logged: [Atomic<bool>; N],
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            values: [const { Atomic::new(0) }; N],
            logged: [const { Atomic::new(false) }; N],
        }
    }

    pub(crate) fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    pub(crate) fn add(&self, c: Counter, n: u64) {
        self.values[c as usize].add(n, Relaxed);
    }

    /// Counts `c`, and tells whether this is the first time, to log it.
    pub(crate) fn inc_first(&self, c: Counter) -> bool {
        self.inc(c);
        // Read first: under a flood of bad packets the flag is set, and a
        // plain load keeps its cache line shared between CPUs.
        let logged = &self.logged[c as usize];
        !logged.load(Relaxed) && !logged.xchg(true, Relaxed)
    }

    /// Copies the values out, in the order of [`DESCS`].
    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.values[c as usize].load(Relaxed)
    }

    pub(crate) fn read(&self, out: &mut [u64]) {
        for (o, v) in out.iter_mut().zip(self.values.iter()) {
            *o = v.load(Relaxed);
        }
    }
}
