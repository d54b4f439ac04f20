//! The Raft summary: elections per term, time without a leader, and how far each node applied.
//!
//! All of it comes from what the nodes reported (role lines, applied entries) and the crash and
//! restart fault lines, so it is only as fine as the reports: a leader that was cut off still
//! counts as acknowledged until its followers report otherwise (after an election timeout).
//!
//! **A leader acknowledged by a majority** at time t: a node that reports itself leader of term
//! T while a majority of the cluster (itself included) is up and reports term T with that
//! leader. Everything else is time without a leader, the time clients cannot write.

use super::faultlines::{self, FaultLine};
use super::story::{Mark, Story};
use crate::eventlog::{Entry, EventLog};
use detcd_node::events::Role;
use std::collections::BTreeMap;
use std::time::Duration;

/// One term's election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Election {
    pub term: u64,
    /// Nodes that campaigned as candidates in this term, in the order they did.
    pub candidates: Vec<usize>,
    /// When the first of them became a candidate.
    pub campaign_at: Option<Duration>,
    /// Who won, and when (None: nobody won this term).
    pub winner: Option<(usize, Duration)>,
}

/// Who led over an interval, acknowledged by a majority: (node, term), or nobody.
pub type Leadership = (Duration, Duration, Option<(usize, u64)>);

/// The last entry a node applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastApplied {
    pub index: u64,
    pub term: u64,
    pub at: Duration,
}

/// What the summary table shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftSummary {
    pub elections: Vec<Election>,
    /// Consecutive intervals covering the run: who led, acknowledged by a majority (see the
    /// module doc), as (node, term); None: nobody.
    pub leadership: Vec<Leadership>,
    /// The intervals of `leadership` without a leader.
    pub leaderless: Vec<(Duration, Duration)>,
    /// Elections won (a node becoming leader of a term).
    pub leaders_elected: usize,
    /// Elections won after the first: how often the cluster changed its leader (or its term).
    pub leader_changes: usize,
    /// Per node, the last entry it applied (None: it applied nothing).
    pub applied: Vec<Option<LastApplied>>,
    pub max_term: u64,
}

impl RaftSummary {
    pub fn build(log: &EventLog, story: &Story) -> RaftSummary {
        let nodes = story.nodes;
        let mut by_term: BTreeMap<u64, Election> = BTreeMap::new();
        for (at, e) in &log.lines {
            if let Entry::Role { node, term, role, .. } = e {
                let el = by_term.entry(term.0).or_insert(Election { term: term.0, candidates: Vec::new(), campaign_at: None, winner: None });
                match role {
                    Role::Candidate if !el.candidates.contains(node) => {
                        el.candidates.push(*node);
                        el.campaign_at.get_or_insert(*at);
                    }
                    Role::Leader if el.winner.is_none() => el.winner = Some((*node, *at)),
                    _ => {}
                }
            }
        }
        let elections: Vec<Election> = by_term.into_values().filter(|e| !e.candidates.is_empty() || e.winner.is_some()).collect();
        let leaders_elected = story.marks.iter().filter(|m| matches!(m, Mark::BecameLeader { .. })).count();
        let mut applied = vec![None; nodes];
        for a in log.applied.iter().filter(|a| a.node < nodes) {
            applied[a.node] = Some(LastApplied { index: a.index, term: a.term, at: a.at });
        }
        let leadership = leadership(log, nodes, story.end);
        RaftSummary {
            elections,
            leaderless: leadership.iter().filter(|(_, _, l)| l.is_none()).map(|(a, b, _)| (*a, *b)).collect(),
            leadership,
            leaders_elected,
            leader_changes: leaders_elected.saturating_sub(1),
            applied,
            max_term: story.max_term(),
        }
    }

    pub fn leaderless_total(&self) -> Duration {
        self.leaderless.iter().map(|(a, b)| *b - *a).sum()
    }

    /// The longest interval without a leader.
    pub fn longest_leaderless(&self) -> Option<(Duration, Duration)> {
        self.leaderless.iter().copied().max_by_key(|(a, b)| (*b - *a, std::cmp::Reverse(*a)))
    }
}

/// Consecutive intervals covering [0, end): the leader acknowledged by a majority, if any.
fn leadership(log: &EventLog, nodes: usize, end: Duration) -> Vec<Leadership> {
    #[derive(Clone, Copy)]
    struct NodeView {
        term: u64,
        role: Role,
        leader: Option<usize>,
        up: bool,
    }
    let mut view = vec![NodeView { term: 0, role: Role::Follower, leader: None, up: true }; nodes];
    let majority = nodes / 2 + 1;
    let leader_of = |view: &[NodeView]| {
        view.iter().enumerate().find_map(|(l, v)| {
            let acks = view.iter().enumerate().filter(|(j, w)| w.up && w.term == v.term && (*j == l || w.leader == Some(l))).count();
            (v.up && v.role == Role::Leader && acks >= majority).then_some((l, v.term))
        })
    };
    let mut out = Vec::new();
    let mut current: (Duration, Option<(usize, u64)>) = (Duration::ZERO, None);
    for (at, e) in &log.lines {
        match e {
            Entry::Role { node, term, role, leader } if *node < nodes => {
                view[*node] = NodeView { term: term.0, role: *role, leader: *leader, up: true };
            }
            Entry::Fault(text) => match faultlines::parse(text, nodes) {
                FaultLine::Crash(i) => view[i].up = false,
                FaultLine::Restart(i) | FaultLine::DiskEnd { node: i, restarted: true } => {
                    view[i] = NodeView { role: Role::Follower, leader: None, up: true, ..view[i] }
                }
                _ => continue,
            },
            Entry::Note(text) => match super::story::stopped_node(text, nodes) {
                Some(i) => view[i].up = false,
                None => continue,
            },
            _ => continue,
        }
        let now = leader_of(&view);
        if now != current.1 {
            if *at > current.0 {
                out.push((current.0, *at, current.1));
            }
            current = (*at, now);
        }
    }
    if end > current.0 {
        out.push((current.0, end, current.1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::story::tests::split_brain_log;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn elections_leaderless_time_and_applied_indexes() {
        let log = split_brain_log();
        let story = Story::build(&log, 3, ms(12000));
        let r = RaftSummary::build(&log, &story);
        let terms: Vec<_> = r.elections.iter().map(|e| (e.term, e.candidates.clone(), e.winner)).collect();
        assert_eq!(terms, vec![(1, vec![1], Some((1, ms(218)))), (2, vec![0], Some((0, ms(2317))))]);
        // Before the first leader is acknowledged by a majority; and from the old leader stepping
        // down (n1 still followed it: two of three) until n1 leads term 2 with n3 behind it.
        assert_eq!(r.leaderless, vec![(ms(0), ms(226)), (ms(2176), ms(2328))]);
        assert_eq!(r.longest_leaderless(), Some((ms(0), ms(226))));
        let led: Vec<_> = r.leadership.iter().map(|(a, _, l)| (*a, *l)).collect();
        assert_eq!(led, vec![(ms(0), None), (ms(226), Some((1, 1))), (ms(2176), None), (ms(2328), Some((0, 2)))]);
        assert_eq!((r.leaders_elected, r.leader_changes, r.max_term), (2, 1, 2));
        let applied: Vec<_> = r.applied.iter().map(|a| a.map(|a| (a.index, a.term))).collect();
        assert_eq!(applied, vec![Some((3, 2)), Some((3, 2)), Some((3, 2))]);
    }

    #[test]
    fn a_crashed_follower_does_not_count_for_the_majority() {
        let mut log = split_brain_log();
        // After the heal, crash both followers of n1: no majority acknowledges n1 any more.
        log.lines.retain(|(t, _)| *t <= ms(8013));
        log.record(ms(8500), Entry::Fault("crash n2".into()));
        log.record(ms(8600), Entry::Fault("crash n3".into()));
        let story = Story::build(&log, 3, ms(12000));
        let r = RaftSummary::build(&log, &story);
        assert_eq!(r.leaderless.last(), Some(&(ms(8600), ms(12000))));
    }
}
