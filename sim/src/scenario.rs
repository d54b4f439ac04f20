//! What a run does: cluster size, duration and a timeline of faults.
//!
//! Built-in for now; scenario files (`scenarios/*.toml`) will parse into the same types.

use std::time::Duration;

/// A fault or action at a point of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Cut the current leader off from every other node (both directions).
    IsolateLeader,
    /// Undo every partition.
    HealAll,
}

/// One timeline step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    pub action: Action,
}

/// A scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub nodes: usize,
    pub duration: Duration,
    pub timeline: Vec<Step>,
}

/// The scenarios built into this version.
pub fn builtin() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "election",
            description: "3 nodes, no faults: the cluster elects a leader and keeps it",
            nodes: 3,
            duration: Duration::from_secs(5),
            timeline: vec![],
        },
        Scenario {
            name: "split-brain",
            description: "the leader is cut off at 2 s; the majority elects a new leader; at 8 s the partition heals and the old leader steps down",
            nodes: 3,
            duration: Duration::from_secs(12),
            timeline: vec![
                Step { at: Duration::from_secs(2), action: Action::IsolateLeader },
                Step { at: Duration::from_secs(8), action: Action::HealAll },
            ],
        },
    ]
}

/// Looks a built-in scenario up by name.
pub fn find(name: &str) -> Option<Scenario> {
    builtin().into_iter().find(|s| s.name == name)
}
