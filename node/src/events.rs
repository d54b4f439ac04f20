//! The read-only inspection API: what the simulator (and logs, and `Maintenance.Status`) may see of a
//! running node. Nothing here lets an observer change the node.

use crate::trace_context::TraceId;
use crate::types::{Index, MemberId, Term};
use serde::Serialize;
use std::sync::Arc;

/// A Raft role, as raft-rs's `StateRole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

impl From<raft::StateRole> for Role {
    fn from(r: raft::StateRole) -> Self {
        match r {
            raft::StateRole::Follower => Role::Follower,
            raft::StateRole::PreCandidate => Role::PreCandidate,
            raft::StateRole::Candidate => Role::Candidate,
            raft::StateRole::Leader => Role::Leader,
        }
    }
}

/// A snapshot of a node's Raft state, refreshed after every Ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub id: MemberId,
    pub term: Term,
    pub role: Role,
    pub leader: Option<MemberId>,
    pub commit: Index,
    pub applied: Index,
    /// While this node leads: the index of the first entry of its term (the empty entry raft-rs
    /// appends on election). Every entry committed before the term began lies below it. `None`
    /// unless leader.
    pub term_start: Option<Index>,
}

impl NodeStatus {
    /// Whether this node leads and has applied every entry committed before its term began (its
    /// term's first entry included): only then may it act on replicated state as the leader of
    /// this term, e.g. take over the lease timers (see `state::lease`).
    pub fn lead_ready(&self) -> bool {
        self.role == Role::Leader && self.term_start.is_some_and(|start| self.applied >= start)
    }
}

/// What applying one entry gave: the store's revision after it, or the error its client got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum EntryOutcome {
    /// Applied; `revision` is the response header's (the store's revision after it), if any.
    Ok { revision: Option<i64> },
    /// Refused at apply (no effect): etcd's error message.
    Error { message: String },
}

/// Something that happened inside a node, reported as it happens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum NodeEvent {
    /// The node's term, role or known leader changed.
    RoleChanged { id: MemberId, term: Term, role: Role, leader: Option<MemberId> },
    /// The node applied a committed entry to its state machine. `digest` identifies the entry's
    /// content (first 8 bytes of its SHA-1, big-endian), so that checkers can compare what
    /// different members applied at the same index without the entries themselves.
    /// `trace` is the trace ID of the client call that proposed it, if it carried one, and
    /// `outcome` what applying it gave (not for empty entries).
    Applied { id: MemberId, index: Index, term: Term, digest: u64, trace: Option<TraceId>, outcome: Option<EntryOutcome> },
    /// The node stopped because of an error it cannot recover from (e.g. storage).
    Stopped { id: MemberId, reason: String },
    /// The node's log was opened from an existing data directory (not emitted for a fresh one):
    /// the newest snapshot, the log's last index and term as recovered, and what the WAL repaired.
    Recovered {
        id: MemberId,
        snapshot_index: Index,
        last_index: Index,
        term: Term,
        /// The torn record cut off the end of the newest segment, described.
        torn_tail: Option<String>,
        /// Files removed while opening.
        removed: Vec<String>,
    },
    /// The node refused to start: its data directory cannot be trusted (e.g. a corrupt WAL record,
    /// named by file and offset in `reason`).
    StartFailed { id: MemberId, reason: String },
    /// The node applied the end of a lease (its keys deleted): a client's revoke, or with
    /// `expired` the primary lessor's expiry. `revision` is the store's revision after it. Not
    /// emitted for a revoke or expiry that found the lease already gone. `request` is the ID of
    /// the entry that ended it (its top 16 bits are the low 16 bits of the proposing member's ID,
    /// `state::request::RequestIds`), so an inspector can tell who decided an expiry.
    LeaseEnded { id: MemberId, lease: i64, revision: i64, expired: bool, request: u64 },
    /// The node refused a message from peer `from` (`consensus::peer_guard`, `reason` one of its
    /// refusal names). No honest member sends such a message, so the simulator fails a run that
    /// has one.
    PeerMessageRefused { id: MemberId, from: MemberId, reason: &'static str },
    /// The node (leading) sent a snapshot to `to`, a follower too far behind for its log.
    SnapshotSent { id: MemberId, to: MemberId, index: Index },
    /// The node saved a snapshot of its state machine at `index` and compacted its log.
    SnapshotSaved { id: MemberId, index: Index },
    /// The node replaced its state machine with a snapshot the leader sent (it was too far
    /// behind for the leader's log).
    SnapshotInstalled { id: MemberId, index: Index, term: Term },
    /// The node made entries `first..=last` durable (one WAL write + fsync for a Ready), which
    /// took `took` by its clock, simulated disk time included. Traces show it as the entry's
    /// "append + fsync" span on this member.
    Persisted { id: MemberId, first: Index, last: Index, took: std::time::Duration },
}

impl NodeEvent {
    /// The member the event is about (the one that reports it).
    pub fn member(&self) -> MemberId {
        match self {
            NodeEvent::RoleChanged { id, .. } |
            NodeEvent::Applied { id, .. } |
            NodeEvent::Stopped { id, .. } |
            NodeEvent::Recovered { id, .. } |
            NodeEvent::StartFailed { id, .. } |
            NodeEvent::LeaseEnded { id, .. } |
            NodeEvent::PeerMessageRefused { id, .. } |
            NodeEvent::SnapshotSent { id, .. } |
            NodeEvent::SnapshotSaved { id, .. } |
            NodeEvent::SnapshotInstalled { id, .. } |
            NodeEvent::Persisted { id, .. } => *id,
        }
    }
}

/// The digest [`NodeEvent::Applied`] carries for an entry's data.
pub fn entry_digest(data: &[u8]) -> u64 {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(data);
    u64::from_be_bytes(d[..8].try_into().expect("sha1 has 20 bytes"))
}

/// Where a node reports its events. Must not block.
pub type EventSink = Arc<dyn Fn(&NodeEvent) + Send + Sync>;

/// An event sink that logs through `tracing`.
pub fn tracing_sink() -> EventSink {
    Arc::new(|e: &NodeEvent| match e {
        NodeEvent::RoleChanged { id, term, role, leader } => {
            let leader = leader.map(|l| l.to_string()).unwrap_or_else(|| "none".into());
            tracing::info!(member = %id, term = term.0, role = role.as_str(), leader = %leader, "raft role changed")
        }
        NodeEvent::Applied { id, index, term, .. } => tracing::trace!(member = %id, index = index.0, term = term.0, "applied"),
        NodeEvent::Stopped { id, reason } => tracing::error!(member = %id, %reason, "node stopped"),
        NodeEvent::Recovered { id, snapshot_index, last_index, term, torn_tail, removed } => tracing::info!(
            member = %id,
            snapshot_index = snapshot_index.0,
            last_index = last_index.0,
            term = term.0,
            torn_tail = torn_tail.as_deref().unwrap_or("none"),
            removed = ?removed,
            "recovered the log from the data directory"
        ),
        NodeEvent::StartFailed { id, reason } => tracing::error!(member = %id, %reason, "refusing to start"),
        NodeEvent::LeaseEnded { id, lease, revision, expired, request } => {
            tracing::debug!(member = %id, lease, revision, expired, request, "lease ended")
        }
        NodeEvent::PeerMessageRefused { id, from, reason } => tracing::debug!(member = %id, from = %from, reason, "peer message refused"),
        NodeEvent::SnapshotSent { id, to, index } => tracing::info!(member = %id, to = %to, index = index.0, "sent a snapshot to a lagging follower"),
        NodeEvent::SnapshotSaved { id, index } => tracing::info!(member = %id, index = index.0, "saved a snapshot, log compacted"),
        NodeEvent::Persisted { id, first, last, took } => {
            tracing::trace!(member = %id, first = first.0, last = last.0, took_us = took.as_micros() as u64, "persisted")
        }
        NodeEvent::SnapshotInstalled { id, index, term } => {
            tracing::info!(member = %id, index = index.0, term = term.0, "installed a snapshot from the leader")
        }
    })
}
