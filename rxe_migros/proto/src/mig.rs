// SPDX-License-Identifier: GPL-2.0

//! The migration protocol's wire items and per-QP state
//! (docs/migration.md; ../shared/design/migration-protocol.md sections 1
//! and 2).
//!
//! - The paused NAK: an RC ACKNOWLEDGE whose AETH syndrome is 0x65
//!   ([`NakCode::Paused`](super::aeth::NakCode::Paused)), PSN = the
//!   stopped responder's expected PSN.
//! - RESUME: RC opcode 0x19 ([`op::RESUME`](super::opcode::op::RESUME)),
//!   AckReq set, PSN = the sender's oldest unacknowledged PSN, with an
//!   optional address update as its payload ([`AddressUpdate`]).
//! - The UD announcement: UD opcode 0x79 (RESUME with the UD transport
//!   bits) to QPN 1, with a DETH naming the migrated QP, carrying its old
//!   and new address ([`UdMove`]); the receiving device sends what its UD
//!   QPs address to the old one to the new one.

/// The address update a RESUME carries: where the migrated QP now is,
/// and the token its partner granted it before it stopped ([`Token`]),
/// which a RESUME that changes the partner's path must carry.
///
/// Layout (32 bytes, big-endian, the payload of the RESUME packet):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | version, [`AddressUpdate::VERSION`] |
/// | 1 | 3 | reserved, zero |
/// | 4 | 4 | QPN in the low 24 bits, the top 8 zero |
/// | 8 | 16 | GID: the IPv6 or IPv4-mapped address of the QP's port |
/// | 24 | 8 | the token, 0 for none |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressUpdate {
    pub qpn: u32,
    pub gid: [u8; 16],
    pub token: u64,
}

/// Why a RESUME's (or a token message's) payload is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// Neither empty nor [`AddressUpdate::LEN`] bytes.
    BadLength,
    /// A version this implementation does not know.
    UnknownVersion(u8),
    /// Reserved bits set, or an unknown kind.
    Reserved,
}

impl AddressUpdate {
    /// The layout version written and accepted (1, without the token, is
    /// refused).
    pub const VERSION: u8 = 2;
    /// Its size on the wire.
    pub const LEN: usize = 32;

    /// Reads a RESUME payload: `None` for the MigrOS form, which has none
    /// (the address is then the packet's IP source).
    pub fn parse(payload: &[u8]) -> Result<Option<AddressUpdate>, ResumeError> {
        if payload.is_empty() {
            return Ok(None);
        }
        let qpn = parse_head(payload, Self::LEN, Self::VERSION)?;
        let mut gid = [0u8; 16];
        gid.copy_from_slice(&payload[8..24]);
        Ok(Some(AddressUpdate {
            qpn,
            gid,
            token: be64(&payload[24..32]),
        }))
    }

    /// Writes it as a RESUME payload.
    pub fn emit(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = Self::VERSION;
        b[4..8].copy_from_slice(&(self.qpn & super::hdr::QPN_MASK).to_be_bytes());
        b[8..24].copy_from_slice(&self.gid);
        b[24..].copy_from_slice(&self.token.to_be_bytes());
        b
    }
}

fn be64(b: &[u8]) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[..8]);
    u64::from_be_bytes(v)
}

/// The two token messages of an RC connection (opcode
/// [`op::TOKEN`](super::opcode::op::TOKEN), consuming no PSN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A stopping QP asks its partner for a token.
    Request,
    /// The partner's answer, sent along its own path to the QP on file.
    Grant,
    /// A UC QP took its partner's RESUME (UC has no ACK to say so): the
    /// nonce echoes the token the RESUME carried (0 for none).
    Heard,
}

/// A token message's payload: a stopping QP asks its partner for the
/// secret a later RESUME from another address must carry, and the partner
/// grants it along the path it already trusts (docs/migration.md,
/// "Authenticating RESUME").
///
/// Layout (24 bytes, big-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | version, [`Token::VERSION`] |
/// | 1 | 1 | kind: 1 request, 2 grant, 3 heard (a UC RESUME taken) |
/// | 2 | 2 | reserved, zero |
/// | 4 | 4 | the sender's QPN in the low 24 bits, the top 8 zero |
/// | 8 | 8 | nonce: drawn by the asker, echoed by the grant; in heard, the RESUME's token |
/// | 16 | 8 | token: zero in a request and in heard |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub qpn: u32,
    pub nonce: u64,
    pub token: u64,
}

impl Token {
    pub const VERSION: u8 = 1;
    pub const LEN: usize = 24;

    pub fn parse(payload: &[u8]) -> Result<Token, ResumeError> {
        if payload.len() != Self::LEN {
            return Err(ResumeError::BadLength);
        }
        if payload[0] != Self::VERSION {
            return Err(ResumeError::UnknownVersion(payload[0]));
        }
        let kind = match payload[1] {
            1 => TokenKind::Request,
            2 => TokenKind::Grant,
            3 => TokenKind::Heard,
            _ => return Err(ResumeError::Reserved),
        };
        if payload[2..5] != [0, 0, 0] {
            return Err(ResumeError::Reserved);
        }
        let t = Token {
            kind,
            qpn: u32::from_be_bytes([0, payload[5], payload[6], payload[7]]),
            nonce: be64(&payload[8..16]),
            token: be64(&payload[16..24]),
        };
        if kind != TokenKind::Grant && t.token != 0 {
            return Err(ResumeError::Reserved);
        }
        Ok(t)
    }

    pub fn emit(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = Self::VERSION;
        b[1] = match self.kind {
            TokenKind::Request => 1,
            TokenKind::Grant => 2,
            TokenKind::Heard => 3,
        };
        b[4..8].copy_from_slice(&(self.qpn & super::hdr::QPN_MASK).to_be_bytes());
        b[8..16].copy_from_slice(&self.nonce.to_be_bytes());
        b[16..].copy_from_slice(&self.token.to_be_bytes());
        b
    }
}

/// The payload of a UD announcement: UD QP `qpn`, which was at GID `old`,
/// is now at GID `new`; `token` is what the receiving device granted the
/// QP at `old` before it stopped (docs/migration.md, "UD moves").
///
/// Layout (48 bytes, big-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | version, [`UdMove::VERSION`] |
/// | 1 | 3 | reserved, zero |
/// | 4 | 4 | QPN in the low 24 bits, the top 8 zero |
/// | 8 | 16 | the old GID |
/// | 24 | 16 | the new GID |
/// | 40 | 8 | the token |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdMove {
    pub qpn: u32,
    pub old: [u8; 16],
    pub new: [u8; 16],
    pub token: u64,
}

/// The QPN a UD announcement goes to: the device's, not a QP's (the
/// general services QP's number, which UD sends never name).
pub const UD_MOVE_QPN: u32 = 1;

impl UdMove {
    /// The layout version written and accepted (1, without the token,
    /// is refused).
    pub const VERSION: u8 = 2;
    /// Its size on the wire.
    pub const LEN: usize = 48;

    pub fn parse(payload: &[u8]) -> Result<UdMove, ResumeError> {
        let mut m = UdMove {
            qpn: parse_head(payload, Self::LEN, Self::VERSION)?,
            old: [0; 16],
            new: [0; 16],
            token: be64(&payload[40..48]),
        };
        m.old.copy_from_slice(&payload[8..24]);
        m.new.copy_from_slice(&payload[24..40]);
        Ok(m)
    }

    pub fn emit(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = Self::VERSION;
        b[4..8].copy_from_slice(&(self.qpn & super::hdr::QPN_MASK).to_be_bytes());
        b[8..24].copy_from_slice(&self.old);
        b[24..40].copy_from_slice(&self.new);
        b[40..].copy_from_slice(&self.token.to_be_bytes());
        b
    }
}

/// Checks the head both payloads share (length `len`, version `version`,
/// then three reserved bytes and the top byte of the QPN zero) and
/// returns the QPN.
fn parse_head(payload: &[u8], len: usize, version: u8) -> Result<u32, ResumeError> {
    if payload.len() != len {
        return Err(ResumeError::BadLength);
    }
    if payload[0] != version {
        return Err(ResumeError::UnknownVersion(payload[0]));
    }
    if payload[1..5] != [0, 0, 0, 0] {
        return Err(ResumeError::Reserved);
    }
    Ok(u32::from_be_bytes([0, payload[5], payload[6], payload[7]]))
}

/// Where a QP stands in a migration; orthogonal to its IBTA state, which
/// the application sees and which does not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigState {
    /// Normal operation.
    Running,
    /// Being checkpointed: sends nothing, executes nothing new.
    Stopped,
    /// Its partner is Stopped (it answered with the paused NAK), since
    /// the given time in milliseconds: sends nothing, waits.
    Paused { since_ms: u64 },
    /// Restored (or resumed in place) since the given time: announces its
    /// address with RESUME until the partner acknowledges it.
    Resuming { since_ms: u64 },
}

impl MigState {
    /// Whether the requester may send.
    pub fn may_send(self) -> bool {
        matches!(self, MigState::Running)
    }

    /// Whether it has waited for its partner (Paused or Resuming) for
    /// longer than `limit_ms`: then the QP goes to the error state, so
    /// that a failed migration cannot hang its peers forever.
    pub fn waited_too_long(self, now_ms: u64, limit_ms: u64) -> bool {
        match self {
            MigState::Paused { since_ms } | MigState::Resuming { since_ms } => {
                now_ms.saturating_sub(since_ms) > limit_ms
            }
            _ => false,
        }
    }

    /// When the wait that `waited_too_long` bounds began, if waiting.
    pub fn waiting_since(self) -> Option<u64> {
        match self {
            MigState::Paused { since_ms } | MigState::Resuming { since_ms } => Some(since_ms),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_updates_round_trip() {
        let a = AddressUpdate {
            qpn: 0x12_3456,
            gid: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 3],
            token: 0x0102_0304_0506_0708,
        };
        let b = a.emit();
        assert_eq!(b[0], 2);
        assert_eq!(&b[24..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[4..8], &[0, 0x12, 0x34, 0x56]);
        assert_eq!(AddressUpdate::parse(&b), Ok(Some(a)));
        assert_eq!(AddressUpdate::parse(&[]), Ok(None));
    }

    #[test]
    fn bad_updates_are_refused() {
        let mut b = AddressUpdate {
            qpn: 1,
            gid: [7; 16],
            token: 9,
        }
        .emit();
        // The first version, without a token, is no longer taken.
        assert_eq!(AddressUpdate::parse(&b[..24]), Err(ResumeError::BadLength));
        b[0] = 1;
        assert_eq!(
            AddressUpdate::parse(&b),
            Err(ResumeError::UnknownVersion(1))
        );
        b[0] = 2;
        b[4] = 1;
        assert_eq!(AddressUpdate::parse(&b), Err(ResumeError::Reserved));
    }

    #[test]
    fn token_messages_round_trip() {
        let t = Token {
            kind: TokenKind::Grant,
            qpn: 0x11,
            nonce: u64::MAX - 1,
            token: 0xdead_beef,
        };
        let b = t.emit();
        assert_eq!((b[0], b[1]), (1, 2));
        assert_eq!(Token::parse(&b), Ok(t));
        assert_eq!(Token::parse(&b[..23]), Err(ResumeError::BadLength));
        let mut c = b;
        c[1] = 3;
        assert_eq!(Token::parse(&c), Err(ResumeError::Reserved));
        let mut c = b;
        c[1] = 1;
        // A request carries no token.
        assert_eq!(Token::parse(&c), Err(ResumeError::Reserved));
        c[16..].fill(0);
        assert!(Token::parse(&c).is_ok_and(|r| r.kind == TokenKind::Request));
        let mut c = b;
        c[3] = 1;
        assert_eq!(Token::parse(&c), Err(ResumeError::Reserved));
    }

    #[test]
    fn ud_moves_round_trip() {
        let m = UdMove {
            qpn: 0x11,
            old: [1; 16],
            new: [2; 16],
            token: 0x0102_0304_0506_0708,
        };
        let b = m.emit();
        assert_eq!(&b[40..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(UdMove::parse(&b), Ok(m));
        assert_eq!(UdMove::parse(&b[..40]), Err(ResumeError::BadLength));
        let mut c = b;
        c[0] = 9;
        assert_eq!(UdMove::parse(&c), Err(ResumeError::UnknownVersion(9)));
        let mut c = b;
        c[4] = 1;
        assert_eq!(UdMove::parse(&c), Err(ResumeError::Reserved));
    }

    #[test]
    fn waits_expire() {
        let p = MigState::Paused { since_ms: 1000 };
        assert!(!p.waited_too_long(61_000, 60_000));
        assert!(p.waited_too_long(61_001, 60_000));
        let r = MigState::Resuming { since_ms: 1000 };
        assert!(r.waited_too_long(61_001, 60_000) && r.waiting_since() == Some(1000));
        assert!(!MigState::Running.waited_too_long(u64::MAX, 0));
        assert!(!MigState::Stopped.waited_too_long(u64::MAX, 0));
        assert!(!p.may_send() && !r.may_send() && MigState::Running.may_send());
    }
}
