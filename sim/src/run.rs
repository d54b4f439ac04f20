//! Runs one scenario with one seed and returns its story.

use crate::cluster::SimCluster;
use crate::eventlog::{Entry, EventLog};
use crate::scenario::{Action, Scenario};
use crate::seeds::Seeds;
use detcd_node::config::RaftTiming;
use std::fmt::Write as _;

/// What a run produced.
pub struct RunOutput {
    /// The derived options, printed first.
    pub header: String,
    /// The event log, rendered.
    pub log: String,
}

impl RunOutput {
    pub fn text(&self) -> String {
        format!("{}{}", self.header, self.log)
    }
}

/// Runs `scenario` with `seed` on a fresh madsim runtime.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutput {
    let header = describe(scenario, seed);
    RunOutput { header, log: run_log(scenario, seed).render() }
}

/// The derived options of a run, as printed before its story.
pub fn describe(scenario: &Scenario, seed: u64) -> String {
    let seeds = Seeds::derive(seed, scenario.nodes);
    let timing = RaftTiming::default();
    let mut header = String::new();
    let _ = writeln!(header, "scenario {}: {}", scenario.name, scenario.description);
    let _ = writeln!(header, "seed {} (runtime seed {:#018x})", seeds.run, seeds.runtime);
    let _ = writeln!(
        header,
        "nodes {}  duration {:.1}s  tick {}ms  election timeout {}-{} ticks  heartbeat {} ticks",
        scenario.nodes,
        scenario.duration.as_secs_f64(),
        timing.tick.as_millis(),
        timing.election_ticks_min,
        timing.election_ticks_max,
        timing.heartbeat_ticks
    );
    for (i, s) in seeds.nodes.iter().enumerate() {
        let _ = writeln!(header, "node n{} seed {:#018x}", i + 1, s);
    }
    header
}

/// Runs `scenario` with `seed` and returns the event log.
pub fn run_log(scenario: &Scenario, seed: u64) -> EventLog {
    let seeds = Seeds::derive(seed, scenario.nodes);
    let timing = RaftTiming::default();
    let rt = madsim::runtime::Runtime::with_seed_and_config(seeds.runtime, madsim::Config::default());
    let scenario = scenario.clone();
    rt.block_on(async move {
        let cluster = SimCluster::start(&seeds.nodes, timing);
        for step in &scenario.timeline {
            madsim::time::sleep(step.at.saturating_sub(cluster.elapsed())).await;
            match step.action {
                Action::IsolateLeader => match cluster.leader() {
                    Some(l) => cluster.isolate(l, " (the leader)"),
                    None => cluster.log.lock().expect("log").record(cluster.elapsed(), Entry::Note("no leader to isolate".into())),
                },
                Action::HealAll => cluster.heal_all(),
            }
        }
        madsim::time::sleep(scenario.duration.saturating_sub(cluster.elapsed())).await;
        let log = cluster.log.lock().expect("log").clone();
        log
    })
}
