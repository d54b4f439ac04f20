//! The run's event log: one line per term/role change and per fault, stamped with simulated time.
//! It is the run's story for a person and the input of later stages (checks, report).
//!
//! Line format (stable: tests snapshot it):
//!
//! ```text
//!    0.312s  n2  term 1   leader         leader n2
//!    2.000s  --  fault: isolate n2
//! ```

use detcd_node::events::{EntryOutcome, NodeEvent, Role};
use detcd_node::types::{MemberId, Term};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// One thing that happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Role { node: usize, term: Term, role: Role, leader: Option<usize> },
    Fault(String),
    Note(String),
}

/// One entry a node applied (kept apart from the story: there are many).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliedEntry {
    pub at: Duration,
    pub node: usize,
    pub index: u64,
    pub term: u64,
    pub digest: u64,
}

/// An entry that carried a client request's trace ID, as one node applied it (history
/// patching, `crate::patch`, reads these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedEntry {
    pub at: Duration,
    pub node: usize,
    pub index: u64,
    pub outcome: EntryOutcome,
}

/// Entries a node made durable with one WAL write + fsync (`NodeEvent::Persisted`): traces show
/// it as those entries' "append + fsync" span on that node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistedRange {
    /// When the fsync returned (and the simulated disk time was slept off).
    pub at: Duration,
    pub node: usize,
    pub first: u64,
    pub last: u64,
    /// How long it took by the node's clock.
    pub took: Duration,
}

/// The end of a lease as one node applied it (every member reports its own application).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseEnd {
    pub at: Duration,
    pub node: usize,
    pub lease: i64,
    /// The store's revision after the end (one more than before if the lease held keys).
    pub revision: i64,
    /// Ended by the primary lessor's expiry, not by a client's revoke.
    pub expired: bool,
    /// The node that proposed the entry ending it (from the request ID's member bits), if its
    /// member ID's low 16 bits are unique in the cluster.
    pub proposer: Option<usize>,
}

/// A node's clock as it read right after the simulator changed it. Every node's clock reads 0
/// at time 0 and runs at rate 1 until its first change; between changes it is linear, so these
/// give any node's local time at any moment ([`EventLog::local_time`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockChange {
    pub at: Duration,
    pub node: usize,
    /// The node's local time right after the change, in nanoseconds.
    pub local_ns: i128,
    /// The rate from now on (1.0: a perfect clock).
    pub rate: f64,
    /// The change was a jump (a step of local time), not a new rate.
    pub jumped: bool,
}

/// The log of one run, in the order things happened.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    /// Each node's own metrics, sampled at its events (`crate::node_metrics`).
    pub metrics: Vec<crate::node_metrics::MetricSample>,
    /// When each node was last sampled.
    metrics_last: BTreeMap<usize, Duration>,
    pub lines: Vec<(Duration, Entry)>,
    /// Every entry every node applied, in the order they were applied (a restarted node applies
    /// its log again from its newest snapshot on).
    pub applied: Vec<AppliedEntry>,
    /// Every snapshot a node saved (and compacted its log after), as (time, node, index): kept
    /// apart from the story, like `applied`, because there are many.
    pub snapshots_saved: Vec<(Duration, usize, u64)>,
    /// Every WAL write + fsync of entries, per node, in order.
    pub persisted: Vec<PersistedRange>,
    /// Every lease end every node applied, in the order applied.
    pub lease_ends: Vec<LeaseEnd>,
    /// Every peer message a node refused, as (time, node, reason): no honest member sends one.
    pub peer_refusals: Vec<(Duration, usize, &'static str)>,
    /// By trace ID, every application of an entry that carried one, in the order applied.
    pub traced: BTreeMap<u128, Vec<TracedEntry>>,
    /// Every change the simulator made to a node's clock, in time order.
    pub clock_changes: Vec<ClockChange>,
    /// How often each kind of node event worth covering happened (`crate::coverage` names them).
    pub counters: BTreeMap<&'static str, u64>,
    /// How long the settle phase after the run took (`run.rs`), or `None` if the cluster did not
    /// settle within its bound.
    pub settled_after: Option<Duration>,
    /// Each member's `HashKV` at a common revision after the run (see `checks::hashkv`), if asked.
    pub end_hashes: Option<Vec<crate::checks::hashkv::Answer>>,
    names: BTreeMap<MemberId, usize>,
}

impl EventLog {
    pub fn new(members: &[MemberId]) -> EventLog {
        EventLog {
            lines: Vec::new(),
            applied: Vec::new(),
            snapshots_saved: Vec::new(),
            persisted: Vec::new(),
            lease_ends: Vec::new(),
            peer_refusals: Vec::new(),
            traced: BTreeMap::new(),
            clock_changes: Vec::new(),
            counters: BTreeMap::new(),
            settled_after: None,
            end_hashes: None,
            metrics: Vec::new(),
            metrics_last: BTreeMap::new(),
            names: members.iter().enumerate().map(|(i, m)| (*m, i)).collect(),
        }
    }

    /// The node index of a member.
    pub fn node_of(&self, id: MemberId) -> usize {
        *self.names.get(&id).unwrap_or_else(|| panic!("unknown member {id}"))
    }

    /// The node whose member ID carries the top 16 bits of request ID `request`
    /// (`detcd_node::state::request::RequestIds`), if exactly one does.
    pub fn node_of_request(&self, request: u64) -> Option<usize> {
        let prefix = request >> 48;
        let mut matching = self.names.iter().filter(|(id, _)| id.0 & 0xffff == prefix);
        match (matching.next(), matching.next()) {
            (Some((_, node)), None) => Some(*node),
            _ => None,
        }
    }

    /// Whether node `node` is due a metrics sample at `at` (none for [`crate::node_metrics::SAMPLE_EVERY`]).
    pub fn metrics_due(&self, node: usize, at: Duration) -> bool {
        self.metrics_last.get(&node).is_none_or(|l| at >= *l + crate::node_metrics::SAMPLE_EVERY)
    }

    /// Records a metrics sample.
    pub fn record_metrics(&mut self, sample: crate::node_metrics::MetricSample) {
        self.metrics_last.insert(sample.node, sample.at);
        self.metrics.push(sample);
    }

    pub fn record_node_event(&mut self, at: Duration, e: &NodeEvent) {
        match e {
            NodeEvent::RoleChanged { id, term, role, leader } => {
                let entry = Entry::Role {
                    node: self.node_of(*id),
                    term: *term,
                    role: *role,
                    leader: leader.map(|l| self.node_of(l)),
                };
                self.lines.push((at, entry));
            }
            NodeEvent::Applied { id, index, term, digest, trace, outcome } => {
                let node = self.node_of(*id);
                self.applied.push(AppliedEntry { at, node, index: index.0, term: term.0, digest: *digest });
                if let (Some(trace), Some(outcome)) = (trace, outcome) {
                    self.traced.entry(trace.0).or_default().push(TracedEntry { at, node, index: index.0, outcome: outcome.clone() });
                }
            }
            NodeEvent::Stopped { id, reason } => {
                self.count(crate::coverage::NODE_STOPPED);
                let node = self.node_of(*id);
                self.lines.push((at, Entry::Note(format!("n{} stopped: {reason}", node + 1))));
            }
            NodeEvent::Recovered { id, snapshot_index, last_index, term, torn_tail, removed } => {
                let node = self.node_of(*id);
                let mut text = format!(
                    "n{} recovered from its disk: snapshot at {}, log to {}, term {}",
                    node + 1,
                    snapshot_index.0,
                    last_index.0,
                    term.0
                );
                self.count(crate::coverage::RECOVERED);
                if let Some(t) = torn_tail {
                    self.count(crate::coverage::TORN_TAIL_REPAIRED);
                    text += &format!("; torn tail cut: {t}");
                }
                if !removed.is_empty() {
                    text += &format!("; removed {}", removed.join(", "));
                }
                self.lines.push((at, Entry::Note(text)));
            }
            NodeEvent::StartFailed { id, reason } => {
                self.count(crate::coverage::START_REFUSED);
                let node = self.node_of(*id);
                self.lines.push((at, Entry::Note(format!("n{} refused to start: {reason}", node + 1))));
            }
            NodeEvent::LeaseEnded { id, lease, revision, expired, request } => {
                let node = self.node_of(*id);
                let proposer = self.node_of_request(*request);
                self.lease_ends.push(LeaseEnd { at, node, lease: *lease, revision: *revision, expired: *expired, proposer });
            }
            NodeEvent::SnapshotSaved { id, index } => {
                let node = self.node_of(*id);
                self.snapshots_saved.push((at, node, index.0));
            }
            NodeEvent::SnapshotSent { .. } => self.count(crate::coverage::SNAPSHOT_SENT),
            NodeEvent::Persisted { id, first, last, took } => {
                let node = self.node_of(*id);
                self.persisted.push(PersistedRange { at, node, first: first.0, last: last.0, took: *took });
            }
            NodeEvent::PeerMessageRefused { id, from, reason } => {
                let (node, sender) = (self.node_of(*id), self.node_of(*from));
                self.peer_refusals.push((at, node, reason));
                self.lines.push((at, Entry::Note(format!("n{} refused a message from n{}: {reason}", node + 1, sender + 1))));
            }
            NodeEvent::SnapshotInstalled { id, index, term } => {
                self.count(crate::coverage::SNAPSHOT_INSTALLED);
                let node = self.node_of(*id);
                let text = format!("n{} installed a snapshot from the leader at index {} (term {})", node + 1, index.0, term.0);
                self.lines.push((at, Entry::Note(text)));
            }
        }
    }

    fn count(&mut self, event: &'static str) {
        *self.counters.entry(event).or_default() += 1;
    }

    pub fn record(&mut self, at: Duration, e: Entry) {
        self.lines.push((at, e));
    }

    /// Each lease the cluster expired (as opposed to a client's revoke), once: the first time
    /// any member applied the expiry, and the revision after it, ordered by that time.
    pub fn expiries(&self) -> Vec<LeaseEnd> {
        let mut seen = std::collections::BTreeSet::new();
        self.lease_ends.iter().filter(|e| e.expired && seen.insert(e.lease)).copied().collect()
    }

    /// Node `node`'s local time at `at`, in nanoseconds.
    pub fn local_time(&self, node: usize, at: Duration) -> i128 {
        let last = self.clock_changes.iter().rfind(|c| c.node == node && c.at <= at);
        let (from, local, rate) = last.map_or((Duration::ZERO, 0, 1.0), |c| (c.at, c.local_ns, c.rate));
        local + ((at - from).as_nanos() as f64 * rate) as i128
    }

    /// When node `node`'s clock last jumped at or before `at`.
    pub fn last_jump(&self, node: usize, at: Duration) -> Option<Duration> {
        self.clock_changes.iter().rfind(|c| c.node == node && c.jumped && c.at <= at).map(|c| c.at)
    }

    /// The latest (term, role, leader) each node reported by `at`.
    pub fn roles_at(&self, at: Duration) -> BTreeMap<usize, (Term, Role, Option<usize>)> {
        let mut out = BTreeMap::new();
        for (t, e) in &self.lines {
            if *t > at {
                break;
            }
            if let Entry::Role { node, term, role, leader } = e {
                out.insert(*node, (*term, *role, *leader));
            }
        }
        out
    }

    /// The latest (term, role, leader) each node reported.
    pub fn latest_roles(&self) -> BTreeMap<usize, (Term, Role, Option<usize>)> {
        self.roles_at(Duration::MAX)
    }

    /// The node that believed itself leader in the highest term reported by `at`, if any still
    /// did at `at`.
    pub fn leader_at(&self, at: Duration) -> Option<usize> {
        let roles = self.roles_at(at);
        roles.iter().filter(|(_, (_, role, _))| *role == Role::Leader).max_by_key(|(_, (term, _, _))| *term).map(|(n, _)| *n)
    }

    /// The index of the entry each node applied last (after a restart: the last since then).
    pub fn last_applied(&self) -> BTreeMap<usize, u64> {
        self.applied.iter().map(|a| (a.node, a.index)).collect()
    }

    /// Whether node `node` believed itself leader at some moment in `[from, to]`.
    pub fn led_during(&self, node: usize, from: Duration, to: Duration) -> bool {
        let led_at_start = self.roles_at(from).get(&node).is_some_and(|(_, role, _)| *role == Role::Leader);
        led_at_start
            || self.lines.iter().any(|(t, e)| {
                *t > from && *t <= to && matches!(e, Entry::Role { node: n, role: Role::Leader, .. } if *n == node)
            })
    }

    /// The node that is leader in the highest term any node reports, if it still believes so.
    pub fn current_leader(&self) -> Option<usize> {
        self.leader_at(Duration::MAX)
    }

    /// Renders the whole log as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (at, e) in &self.lines {
            let t = format!("{:>8.3}s", at.as_secs_f64());
            match e {
                Entry::Role { node, term, role, leader } => {
                    let leader = leader.map(|l| format!("n{}", l + 1)).unwrap_or_else(|| "none".into());
                    let _ = writeln!(s, "{t}  n{}  term {:<3} {:<13}  leader {leader}", node + 1, term.0, role.as_str());
                }
                Entry::Fault(f) => {
                    let _ = writeln!(s, "{t}  --  fault: {f}");
                }
                Entry::Note(n) => {
                    let _ = writeln!(s, "{t}  --  {n}");
                }
            }
        }
        s
    }
}
