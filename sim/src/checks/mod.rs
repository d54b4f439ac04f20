//! Checks over a run's event log, besides linearizability (which `detcd-check` decides from the
//! client history). Each states what it proves:
//!
//! - **one leader per term** (Raft's Election Safety, §5.2): no two nodes ever report being leader
//!   in the same term.
//! - **terms never go back** (§5.1): a node's reported term never decreases, not even across a
//!   crash and restart (term and vote are persisted before any message depends on them).
//! - **applied entries agree** (State Machine Safety, §5.4.3): whenever two nodes, or two
//!   incarnations of one node, apply an entry at the same index, it has the same term and the same
//!   content digest. A committed entry that was lost or changed shows up here.
//! - **liveness**: after the last fault is undone, some node is leader and a client operation
//!   succeeds within the scenario's bound.
//!
//! These read only the event log (what nodes reported through the inspection API) and the history;
//! they share no code with the node's state machine.

pub mod hashkv;
pub mod lease;
pub mod lock;
pub mod watch;

use crate::eventlog::{Entry, EventLog};
use detcd_node::events::Role;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The verdict of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// A safety property failed; the text is the evidence.
    Fail(String),
    /// A liveness property failed.
    LivenessFail(String),
    /// The check could not decide (e.g. its time budget ran out).
    Unknown(String),
    /// Not applicable to this run (the scenario switched it off, or there was nothing to check).
    Skipped(String),
}

impl Verdict {
    /// `sim`'s exit code for this verdict (0 pass, 1 safety, 3 unknown, 4 liveness).
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Pass | Verdict::Skipped(_) => 0,
            Verdict::Fail(_) => 1,
            Verdict::Unknown(_) => 3,
            Verdict::LivenessFail(_) => 4,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => write!(f, "pass"),
            Verdict::Fail(w) => write!(f, "FAIL: {w}"),
            Verdict::LivenessFail(w) => write!(f, "FAIL (liveness): {w}"),
            Verdict::Unknown(w) => write!(f, "unknown: {w}"),
            Verdict::Skipped(w) => write!(f, "skipped: {w}"),
        }
    }
}

/// One leader per term.
pub fn one_leader_per_term(log: &EventLog) -> Verdict {
    let mut leaders: BTreeMap<u64, (usize, Duration)> = BTreeMap::new();
    for (at, e) in &log.lines {
        if let Entry::Role { node, term, role: Role::Leader, .. } = e {
            match leaders.get(&term.0) {
                Some((other, when)) if other != node => {
                    return Verdict::Fail(format!(
                        "two leaders in term {}: n{} at {:.3}s and n{} at {:.3}s",
                        term.0,
                        other + 1,
                        when.as_secs_f64(),
                        node + 1,
                        at.as_secs_f64()
                    ))
                }
                Some(_) => {}
                None => {
                    leaders.insert(term.0, (*node, *at));
                }
            }
        }
    }
    Verdict::Pass
}

/// A node's term never decreases.
pub fn terms_never_go_back(log: &EventLog) -> Verdict {
    let mut last: BTreeMap<usize, (u64, Duration)> = BTreeMap::new();
    for (at, e) in &log.lines {
        if let Entry::Role { node, term, .. } = e {
            if let Some((prev, when)) = last.get(node) {
                if term.0 < *prev {
                    return Verdict::Fail(format!(
                        "n{}'s term went back from {} (at {:.3}s) to {} (at {:.3}s)",
                        node + 1,
                        prev,
                        when.as_secs_f64(),
                        term.0,
                        at.as_secs_f64()
                    ));
                }
            }
            last.insert(*node, (term.0, *at));
        }
    }
    Verdict::Pass
}

/// Every application of an index has the same term and content.
pub fn applied_entries_agree(log: &EventLog) -> Verdict {
    let mut first: BTreeMap<u64, (u64, u64, usize, Duration)> = BTreeMap::new();
    for a in &log.applied {
        match first.get(&a.index) {
            Some(&(term, digest, node, at)) if (term, digest) != (a.term, a.digest) => {
                return Verdict::Fail(format!(
                    "index {}: n{} applied (term {}, digest {:016x}) at {:.3}s but n{} applied (term {}, digest {:016x}) at {:.3}s",
                    a.index,
                    node + 1,
                    term,
                    digest,
                    at.as_secs_f64(),
                    a.node + 1,
                    a.term,
                    a.digest,
                    a.at.as_secs_f64()
                ))
            }
            Some(_) => {}
            None => {
                first.insert(a.index, (a.term, a.digest, a.node, a.at));
            }
        }
    }
    if log.applied.is_empty() {
        return Verdict::Skipped("no entry was applied".into());
    }
    Verdict::Pass
}

/// No member refused a peer message: every message in a simulation comes from an honest member,
/// so a refusal means the peer guard (`consensus::peer_guard`) would drop real traffic.
pub fn honest_peers_accepted(log: &EventLog) -> Verdict {
    match log.peer_refusals.first() {
        Some((at, node, reason)) => Verdict::Fail(format!(
            "n{} refused {} peer message(s), the first at {:.3}s ({reason}); no honest member sends one",
            node + 1,
            log.peer_refusals.len(),
            at.as_secs_f64()
        )),
        None => Verdict::Pass,
    }
}

/// After `healed_at`, a leader within `bound`, and (if `op_successes` is given) a successful client
/// operation within `bound`.
pub fn liveness(log: &EventLog, healed_at: Duration, bound: Duration, op_successes: Option<&[Duration]>) -> Verdict {
    let deadline = healed_at + bound;
    // A leader believed in at the deadline, by the nodes' own reports.
    if log.leader_at(deadline).is_none() {
        return Verdict::LivenessFail(format!(
            "no leader {:.1}s after the last fault ended at {:.3}s",
            bound.as_secs_f64(),
            healed_at.as_secs_f64()
        ));
    }
    if let Some(ok) = op_successes {
        if !ok.iter().any(|t| *t > healed_at && *t <= deadline) {
            return Verdict::LivenessFail(format!(
                "no client operation succeeded within {:.1}s after the last fault ended at {:.3}s",
                bound.as_secs_f64(),
                healed_at.as_secs_f64()
            ));
        }
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::AppliedEntry;
    use detcd_node::types::{MemberId, Term};

    fn log() -> EventLog {
        EventLog::new(&[MemberId(1), MemberId(2), MemberId(3)])
    }

    fn role(l: &mut EventLog, ms: u64, node: usize, term: u64, role: Role) {
        l.record(Duration::from_millis(ms), Entry::Role { node, term: Term(term), role, leader: None });
    }

    #[test]
    fn two_leaders_in_one_term_fail_and_successive_terms_pass() {
        let mut l = log();
        role(&mut l, 10, 0, 1, Role::Leader);
        role(&mut l, 20, 1, 2, Role::Leader);
        assert_eq!(one_leader_per_term(&l), Verdict::Pass);
        role(&mut l, 30, 2, 2, Role::Leader);
        assert!(matches!(one_leader_per_term(&l), Verdict::Fail(w) if w.contains("term 2")));
    }

    #[test]
    fn a_term_going_back_fails() {
        let mut l = log();
        role(&mut l, 10, 0, 3, Role::Follower);
        role(&mut l, 20, 0, 3, Role::Candidate);
        assert_eq!(terms_never_go_back(&l), Verdict::Pass);
        role(&mut l, 30, 0, 2, Role::Follower);
        assert!(matches!(terms_never_go_back(&l), Verdict::Fail(w) if w.contains("from 3")));
    }

    #[test]
    fn an_index_applied_with_different_content_fails() {
        let mut l = log();
        let a = |node, index, term, digest| AppliedEntry { at: Duration::from_millis(index * 10), node, index, term, digest };
        l.applied = vec![a(0, 1, 1, 7), a(1, 1, 1, 7), a(0, 2, 1, 8), a(2, 1, 1, 7)];
        assert_eq!(applied_entries_agree(&l), Verdict::Pass);
        l.applied.push(a(1, 2, 2, 9));
        assert!(matches!(applied_entries_agree(&l), Verdict::Fail(w) if w.contains("index 2")));
    }

    #[test]
    fn liveness_needs_a_leader_and_a_success_after_the_heal() {
        let mut l = log();
        role(&mut l, 100, 0, 1, Role::Leader);
        role(&mut l, 2000, 0, 1, Role::Follower);
        let healed = Duration::from_secs(3);
        let bound = Duration::from_secs(2);
        assert!(matches!(liveness(&l, healed, bound, None), Verdict::LivenessFail(_)));
        role(&mut l, 4000, 1, 2, Role::Leader);
        assert_eq!(liveness(&l, healed, bound, None), Verdict::Pass);
        assert!(matches!(liveness(&l, healed, bound, Some(&[Duration::from_secs(1)])), Verdict::LivenessFail(_)));
        assert_eq!(liveness(&l, healed, bound, Some(&[Duration::from_millis(4500)])), Verdict::Pass);
    }
}
