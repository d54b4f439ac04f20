//! Coverage: which interesting events a run reached, and how often.
//!
//! A scenario is written to reach something (an election under partition, a snapshot sent to a
//! lagging follower, a lease expiry). A change to the node, the workload or the fault schedule can
//! silently stop it from reaching it, and then its seeds pass without testing what they were for.
//! So every run counts its events ([`Coverage::of`]), a sweep prints how many runs reached each
//! (`sim sweep`'s coverage table), and a scenario can declare the events it must reach
//! (`[expect] events = [...]`): a sweep in which none of its seeds reaches one fails (exit 5).
//!
//! The events, by name (each counted from the event log, the history or history patching):
//!
//! | event | what counts |
//! |---|---|
//! | `leader-elected` | a node became leader |
//! | `pre-vote-lost` | a pre-candidate went back to follower without becoming a candidate |
//! | `snapshot-saved` | a node saved a state-machine snapshot and compacted its log |
//! | `snapshot-sent` / `snapshot-installed` | a leader sent one to a lagging follower / a follower installed it |
//! | `lease-expired` | the cluster expired a lease (once per lease) |
//! | `lease-revoked` | a client's revoke ended a lease (once per lease) |
//! | `watch-cancelled-by-compaction` | a watch stream ended because its start revision was compacted |
//! | `torn-tail-repaired` | a node restarted and cut a torn record off its WAL |
//! | `node-recovered` | a node restarted from its disk |
//! | `node-stopped` | a node stopped on an error it cannot recover from (e.g. a failed fsync) |
//! | `start-refused` | a node refused to start from its disk (corruption) |
//! | `linearizable-read` | a client's read answered through a ReadIndex round (the workload's reads all are) |
//! | `unknown-resolved` | a client call of unknown outcome resolved by history patching |
//! | `unknown-left` | a client call whose outcome stayed unknown |

use crate::eventlog::{Entry, EventLog};
use crate::history::{History, StepOutcome};
use crate::patch::PatchReport;
use detcd_check::models::etcd::Request;
use detcd_node::events::Role;
use std::collections::BTreeMap;

pub const LEADER_ELECTED: &str = "leader-elected";
pub const PRE_VOTE_LOST: &str = "pre-vote-lost";
pub const SNAPSHOT_SAVED: &str = "snapshot-saved";
pub const SNAPSHOT_SENT: &str = "snapshot-sent";
pub const SNAPSHOT_INSTALLED: &str = "snapshot-installed";
pub const LEASE_EXPIRED: &str = "lease-expired";
pub const LEASE_REVOKED: &str = "lease-revoked";
pub const WATCH_CANCELLED_BY_COMPACTION: &str = "watch-cancelled-by-compaction";
pub const TORN_TAIL_REPAIRED: &str = "torn-tail-repaired";
pub const RECOVERED: &str = "node-recovered";
pub const NODE_STOPPED: &str = "node-stopped";
pub const START_REFUSED: &str = "start-refused";
pub const LINEARIZABLE_READ: &str = "linearizable-read";
pub const UNKNOWN_RESOLVED: &str = "unknown-resolved";
pub const UNKNOWN_LEFT: &str = "unknown-left";

/// Every event name, in the order tables list them.
pub const EVENTS: [&str; 15] = [
    LEADER_ELECTED,
    PRE_VOTE_LOST,
    SNAPSHOT_SAVED,
    SNAPSHOT_SENT,
    SNAPSHOT_INSTALLED,
    LEASE_EXPIRED,
    LEASE_REVOKED,
    WATCH_CANCELLED_BY_COMPACTION,
    TORN_TAIL_REPAIRED,
    RECOVERED,
    NODE_STOPPED,
    START_REFUSED,
    LINEARIZABLE_READ,
    UNKNOWN_RESOLVED,
    UNKNOWN_LEFT,
];

/// How often a run reached each event (names from [`EVENTS`]; an event not reached is absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub counts: BTreeMap<&'static str, u64>,
}

impl Coverage {
    /// Counts a run's events from its log, its history (if it had clients) and what patching did.
    pub fn of(log: &EventLog, history: Option<&History>, patch: Option<&PatchReport>) -> Coverage {
        let mut counts: BTreeMap<&'static str, u64> = log.counters.clone();
        let mut add = |name: &'static str, n: u64| {
            if n > 0 {
                *counts.entry(name).or_default() += n;
            }
        };
        let (elected, pre_vote_lost) = elections(log);
        add(LEADER_ELECTED, elected);
        add(PRE_VOTE_LOST, pre_vote_lost);
        add(SNAPSHOT_SAVED, log.snapshots_saved.len() as u64);
        let mut ended = std::collections::BTreeSet::new();
        for e in &log.lease_ends {
            if ended.insert(e.lease) {
                add(if e.expired { LEASE_EXPIRED } else { LEASE_REVOKED }, 1);
            }
        }
        if let Some(h) = history {
            let compacted = h.watches().filter(|(_, w)| w.end.contains("compact")).count();
            add(WATCH_CANCELLED_BY_COMPACTION, compacted as u64);
            let reads = h
                .all()
                .flat_map(|op| &op.steps)
                .filter(|s| matches!(s.request, Request::Range { .. }) && matches!(s.outcome, StepOutcome::Ok(_)))
                .count();
            add(LINEARIZABLE_READ, reads as u64);
        }
        if let Some(p) = patch {
            add(UNKNOWN_RESOLVED, (p.applied + p.never_applied + p.reads) as u64);
            add(UNKNOWN_LEFT, p.still_unknown as u64);
        }
        counts.retain(|name, n| *n > 0 && EVENTS.contains(name));
        Coverage { counts }
    }

    /// One line: `name count, ...` for the events reached, in [`EVENTS`] order.
    pub fn line(&self) -> String {
        let reached: Vec<String> = EVENTS.iter().filter_map(|e| self.counts.get(e).map(|n| format!("{e} {n}"))).collect();
        if reached.is_empty() {
            "none".into()
        } else {
            reached.join(", ")
        }
    }
}

/// Leaders elected, and pre-votes lost (a pre-candidate back to follower before candidacy).
fn elections(log: &EventLog) -> (u64, u64) {
    let mut last: BTreeMap<usize, Role> = BTreeMap::new();
    let (mut elected, mut lost) = (0, 0);
    for (_, e) in &log.lines {
        let Entry::Role { node, role, .. } = e else { continue };
        let before = last.insert(*node, *role);
        match (before, role) {
            (Some(Role::Leader), Role::Leader) => {}
            (_, Role::Leader) => elected += 1,
            (Some(Role::PreCandidate), Role::Follower) => lost += 1,
            _ => {}
        }
    }
    (elected, lost)
}

/// Per event, how many runs of a sweep reached it and how often in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub runs: u64,
    /// event -> (runs that reached it, total count)
    pub reached: BTreeMap<&'static str, (u64, u64)>,
}

impl Table {
    pub fn add(&mut self, c: &Coverage) {
        self.runs += 1;
        for (name, n) in &c.counts {
            let r = self.reached.entry(name).or_default();
            r.0 += 1;
            r.1 += n;
        }
    }

    /// The table as text: one line per event, runs that reached it and the total.
    pub fn render(&self) -> String {
        let mut s = format!("coverage over {} runs:\n", self.runs);
        for e in EVENTS {
            let (runs, total) = self.reached.get(e).copied().unwrap_or_default();
            s.push_str(&format!("  {e:<31} {runs:>6} runs {total:>9} in all\n"));
        }
        s
    }

    /// The expected events no run reached.
    pub fn missing<'a>(&self, expected: &'a [String]) -> Vec<&'a str> {
        expected.iter().map(String::as_str).filter(|e| !self.reached.contains_key(e)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detcd_node::types::{MemberId, Term};
    use std::time::Duration;

    #[test]
    fn elections_and_lost_pre_votes_are_counted_from_role_changes() {
        let mut log = EventLog::new(&[MemberId(1), MemberId(2)]);
        let role = |node, role| Entry::Role { node, term: Term(1), role, leader: None };
        for (i, e) in [role(0, Role::PreCandidate), role(0, Role::Follower), role(1, Role::PreCandidate), role(1, Role::Candidate), role(1, Role::Leader), role(1, Role::Leader)]
            .into_iter()
            .enumerate()
        {
            log.record(Duration::from_millis(i as u64), e);
        }
        let c = Coverage::of(&log, None, Some(&PatchReport { applied: 2, still_unknown: 1, ..PatchReport::default() }));
        assert_eq!(c.line(), "leader-elected 1, pre-vote-lost 1, unknown-resolved 2, unknown-left 1");
        let mut t = Table::default();
        t.add(&c);
        t.add(&Coverage::default());
        assert_eq!(t.reached[LEADER_ELECTED], (1, 1));
        assert_eq!(t.missing(&["leader-elected".into(), "snapshot-sent".into()]), vec!["snapshot-sent"]);
        assert!(t.render().contains("coverage over 2 runs"));
    }
}
