//! What a member accepts from its peer port: the checks a Raft message passes before it reaches
//! raft-rs.
//!
//! raft-rs trusts its input. Fed a heartbeat whose commit index lies past the end of the log it
//! panics (`raft_log.rs`, "to_commit is out of range"); fed an empty `MsgPropose` it panics; fed a
//! message with term `u64::MAX` it follows that term for ever, after which no member can win an
//! election; fed a snapshot with another voter set it adopts that membership. The peer port is
//! open to anything that can reach it (mutual TLS comes with the auth/TLS work), so every message
//! is vetted here first, by a pure function of the message and what this member knows.
//!
//! The rules, each something no honest member of this cluster sends:
//! - the message is addressed to this member and comes from the member that sent the batch, which
//!   is a voter of this cluster (the batch-level checks, cluster ID and sender, are in `transport`);
//! - no local-only type (`MsgHup`, `MsgBeat`, ...: raft-rs refuses those too), and none this build
//!   never sends (`MsgTimeoutNow`, `MsgTransferLeader`: detcd has no leadership transfer);
//! - a term of 0 on exactly the two types raft-rs sends without a term (`MsgPropose`,
//!   `MsgReadIndex`);
//! - no term more than [`TERM_JUMP_MAX`] ahead of this member's: terms grow by one per election,
//!   and with pre-vote a cut-off member does not inflate its own; no index past [`INDEX_MAX`];
//! - entries only on proposals and appends, one context entry on a read and its answer, a
//!   snapshot only on `MsgSnapshot`;
//! - in a term whose leader this member knows, leader messages (appends, heartbeats, snapshots,
//!   read answers) come from that leader only; no one asks for a snapshot (`request_snapshot`);
//! - a proposal carries at least one entry; every entry in a proposal or an append is a normal
//!   entry (this build has no membership changes) whose data is empty or a request that passes the
//!   same structural check as at apply ([`crate::state::request::check`]): a forged entry cannot
//!   stop a member when it is applied;
//! - an append's entries follow its anchor: consecutive indexes after `index`, terms between
//!   `log_term` and the message's term, never decreasing;
//! - a heartbeat's commit index is within this member's log: an honest leader sends
//!   `min(match, commit)`, never more than the follower holds; an append response acknowledges
//!   no index past the end of this member's log (the leader sent no more): raft-rs would believe
//!   the follower holds it and tell it to commit entries it does not have;
//! - a snapshot's voter set is this cluster's, with no learners and no joint configuration, and it
//!   has an index and a term no later than the message's.
//!
//! Refused messages are dropped and counted by [`Refusal`]; the sender learns nothing.
//!
//! What these checks cannot stop: a process that can reach the port and impersonates a member with
//! well-formed messages (a higher term, then appends of valid requests) can still depose leaders and
//! make a member's log diverge. Only authenticating peers closes that: peer mutual TLS
//! (`--peer-client-cert-auth`), which the auth/TLS work adds. These checks make sure no message,
//! however forged, panics a member or wedges the cluster for ever.

use crate::state::request::{self, ReplicatedRequest};
use prost::Message as _;
use raft::prelude::{Entry, EntryType, Message, MessageType};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// How far ahead of this member's term a message's term may be.
pub const TERM_JUMP_MAX: u64 = 1 << 32;
/// No index in a message may exceed this: a log of 2^62 entries is out of reach, and raft-rs adds
/// to indexes without checking for overflow (a snapshot at `u64::MAX` wraps its log to 0).
pub const INDEX_MAX: u64 = 1 << 62;

/// What this member knows when it vets a message.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub me: u64,
    pub voters: &'a BTreeSet<u64>,
    pub term: u64,
    /// The leader this member follows in `term` (0: none known).
    pub leader: u64,
    pub last_index: u64,
}

/// Why a peer message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// The batch is for another cluster, or its sender is not a voter of this one.
    Stranger,
    /// The message is not for this member, or not from the batch's sender.
    Misaddressed,
    /// Bytes that do not decode as a Raft message, or a batch over the size limits.
    Undecodable,
    /// A type raft-rs only generates locally, or one this build never sends.
    NeverSent,
    /// Entries or a snapshot on a type that carries none, or a read without its one context entry.
    Malformed,
    /// A term of 0 on a type that carries one, or a term on `MsgPropose` / `MsgReadIndex`.
    TermMismatch,
    TermAbsurd,
    /// An index past [`INDEX_MAX`].
    IndexAbsurd,
    /// A leader's message in this member's current term from someone other than its leader.
    NotTheLeader,
    EmptyProposal,
    /// An entry that is not a normal entry with a valid request.
    BadEntry,
    /// An append whose entries do not follow its anchor (`append_is_coherent`).
    IncoherentAppend,
    /// A heartbeat whose commit index, or an append response whose index, is past the end of this
    /// member's log.
    BeyondLog,
    /// A snapshot whose membership is not this cluster's.
    ForeignSnapshot,
}

impl Refusal {
    pub const ALL: [Refusal; 14] = [
        Refusal::Stranger,
        Refusal::Misaddressed,
        Refusal::Undecodable,
        Refusal::NeverSent,
        Refusal::Malformed,
        Refusal::TermMismatch,
        Refusal::TermAbsurd,
        Refusal::IndexAbsurd,
        Refusal::NotTheLeader,
        Refusal::EmptyProposal,
        Refusal::BadEntry,
        Refusal::IncoherentAppend,
        Refusal::BeyondLog,
        Refusal::ForeignSnapshot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Stranger => "stranger",
            Refusal::Misaddressed => "misaddressed",
            Refusal::Undecodable => "undecodable",
            Refusal::NeverSent => "never-sent-type",
            Refusal::Malformed => "malformed",
            Refusal::TermMismatch => "term-mismatch",
            Refusal::TermAbsurd => "term-absurd",
            Refusal::IndexAbsurd => "index-absurd",
            Refusal::NotTheLeader => "not-the-leader",
            Refusal::EmptyProposal => "empty-proposal",
            Refusal::BadEntry => "bad-entry",
            Refusal::IncoherentAppend => "incoherent-append",
            Refusal::BeyondLog => "beyond-log",
            Refusal::ForeignSnapshot => "foreign-snapshot",
        }
    }
}

/// Vets one decoded message (module doc). `sender` is the batch's sender, already known to be a
/// voter of this cluster.
pub fn vet(m: &Message, sender: u64, view: &View<'_>) -> Result<(), Refusal> {
    use MessageType::*;
    if m.to != view.me || m.from != sender || m.from == view.me || !view.voters.contains(&m.from) {
        return Err(Refusal::Misaddressed);
    }
    let kind = m.get_msg_type();
    if matches!(kind, MsgHup | MsgBeat | MsgUnreachable | MsgSnapStatus | MsgCheckQuorum | MsgTimeoutNow | MsgTransferLeader) {
        return Err(Refusal::NeverSent);
    }
    // raft-rs sends exactly these two without a term, and every other type with one (it panics
    // when forwarding a proposal or read that arrived with a term).
    if (m.term == 0) != matches!(kind, MsgPropose | MsgReadIndex) {
        return Err(Refusal::TermMismatch);
    }
    if m.term > view.term.saturating_add(TERM_JUMP_MAX) {
        return Err(Refusal::TermAbsurd);
    }
    let (snap_index, _) = cs_meta(m);
    let indexes = [m.index, m.commit, m.reject_hint, snap_index].into_iter().chain(m.entries.iter().map(|e| e.index));
    if indexes.into_iter().any(|i| i > INDEX_MAX) {
        return Err(Refusal::IndexAbsurd);
    }
    // One leader per term (Raft's election safety): in a term whose leader this member knows, no
    // one else sends leader messages.
    let from_leader = matches!(kind, MsgAppend | MsgHeartbeat | MsgSnapshot | MsgReadIndexResp);
    if from_leader && m.term == view.term && view.leader != 0 && m.from != view.leader {
        return Err(Refusal::NotTheLeader);
    }
    if m.request_snapshot != 0 {
        // detcd never asks a leader for a snapshot (raft-rs `request_snapshot`).
        return Err(Refusal::NeverSent);
    }
    // Entries travel only on these types, a read's context as its one entry; a snapshot only on
    // MsgSnapshot.
    let entries_ok = match kind {
        MsgPropose | MsgAppend => true,
        MsgReadIndex | MsgReadIndexResp => m.entries.len() == 1,
        _ => m.entries.is_empty(),
    };
    if !entries_ok || (kind != MsgSnapshot && m.has_snapshot()) {
        return Err(Refusal::Malformed);
    }
    match kind {
        MsgPropose if m.entries.is_empty() => return Err(Refusal::EmptyProposal),
        MsgPropose | MsgAppend => {
            if !m.entries.iter().all(entry_is_sound) {
                return Err(Refusal::BadEntry);
            }
            if kind == MsgAppend && !append_is_coherent(m) {
                return Err(Refusal::IncoherentAppend);
            }
        }
        MsgHeartbeat if m.commit > view.last_index => return Err(Refusal::BeyondLog),
        // (In this member's term only: a late answer to an earlier term's appends may name entries
        // this member's log has since dropped, and raft-rs ignores it anyway.)
        MsgAppendResponse if m.term == view.term && (m.index > view.last_index || m.reject_hint > view.last_index) => {
            return Err(Refusal::BeyondLog);
        }
        MsgSnapshot => {
            let cs = m.get_snapshot().get_metadata().get_conf_state();
            let voters: BTreeSet<u64> = cs.voters.iter().copied().collect();
            let plain = cs.learners.is_empty() && cs.voters_outgoing.is_empty() && cs.learners_next.is_empty() && !cs.auto_leave;
            let meta = cs_meta(m);
            if !plain || voters != *view.voters || meta.0 == 0 || meta.1 == 0 || meta.1 > m.term {
                return Err(Refusal::ForeignSnapshot);
            }
        }
        _ => {}
    }
    Ok(())
}

/// A snapshot's (index, term).
fn cs_meta(m: &Message) -> (u64, u64) {
    let meta = m.get_snapshot().get_metadata();
    (meta.index, meta.term)
}

/// An append's entries follow its anchor `(index, log_term)`: indexes `index + 1, index + 2, ...`,
/// terms never decreasing, from at least `log_term` to at most the message's term. raft-rs assumes
/// as much (it commits up to `index + entries` and panics if its log does not reach that far).
fn append_is_coherent(m: &Message) -> bool {
    let mut prev_term = m.log_term;
    for (k, e) in m.entries.iter().enumerate() {
        let want = m.index.checked_add(k as u64 + 1);
        if want != Some(e.index) || e.term < prev_term || e.term > m.term {
            return false;
        }
        prev_term = e.term;
    }
    // Every entry has a term of at least 1, so an anchor past index 0 has one too (raft-rs reads
    // the term of an index past its log as 0 and would take such an anchor as a match).
    m.log_term <= m.term && (m.index == 0 || m.log_term > 0)
}

/// A normal entry with no data (a new leader's first entry) or a request that passes the check
/// apply relies on.
pub fn entry_is_sound(e: &Entry) -> bool {
    if e.get_entry_type() != EntryType::EntryNormal {
        return false;
    }
    e.data.is_empty() || ReplicatedRequest::decode(e.data.as_ref()).is_ok_and(|r| request::check(&r).is_ok())
}

/// Refused peer messages by reason, shared by the peer service and the driver.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; Refusal::ALL.len()],
}

impl Refusals {
    /// Counts one refusal; logs the first of each reason and then every power of two.
    pub fn count(&self, why: Refusal, member: crate::types::MemberId) {
        let slot = Refusal::ALL.iter().position(|r| *r == why).expect("every refusal is listed");
        let n = self.counts[slot].fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(%member, reason = why.as_str(), total = n, "peer message refused");
        }
    }

    /// The counts so far, by reason (zeros included).
    pub fn snapshot(&self) -> Vec<(Refusal, u64)> {
        Refusal::ALL.iter().zip(&self.counts).map(|(r, c)| (*r, c.load(Ordering::Relaxed))).collect()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
#[path = "peer_guard_tests.rs"]
mod tests;
