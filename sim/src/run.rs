//! Runs one scenario with one seed: derives everything from the seed, compiles the fault schedule,
//! starts the cluster on a fresh madsim runtime, applies the schedule, and returns the story.

use crate::cluster::SimCluster;
use crate::eventlog::EventLog;
use crate::faults::Schedule;
use crate::inject::Injector;
use crate::scenario::Scenario;
use crate::seeds::Seeds;
use detcd_node::config::RaftTiming;
use std::fmt::Write as _;

/// A run that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("scenario {0}: disk faults need the simulated disk, which is not wired into the simulator yet")]
    DiskFaultsUnsupported(String),
}

/// Everything derived from (scenario, seed) before the run starts.
pub struct Plan {
    pub seeds: Seeds,
    pub timing: RaftTiming,
    pub schedule: Schedule,
}

impl Plan {
    pub fn new(s: &Scenario, seed: u64) -> Result<Plan, RunError> {
        let seeds = Seeds::derive(seed, s.nodes);
        let schedule = Schedule::compile(s, seeds.faults);
        if schedule.needs_disk() {
            return Err(RunError::DiskFaultsUnsupported(s.name.clone()));
        }
        Ok(Plan { seeds, timing: timing_of(s), schedule })
    }

    /// The derived options, printed before the story and stored with the run.
    pub fn describe(&self, s: &Scenario) -> String {
        let mut h = String::new();
        let t = &self.timing;
        let _ = writeln!(h, "scenario {}: {}", s.name, s.description);
        let _ = writeln!(h, "seed {} (runtime {:#018x}, faults {:#018x}, workload {:#018x})", self.seeds.run, self.seeds.runtime, self.seeds.faults, self.seeds.workload);
        let _ = writeln!(
            h,
            "nodes {}  duration {:.1}s  tick {}ms  election timeout {}-{} ticks  heartbeat {} ticks",
            s.nodes,
            s.duration_s,
            t.tick.as_millis(),
            t.election_ticks_min,
            t.election_ticks_max,
            t.heartbeat_ticks
        );
        for (i, seed) in self.seeds.nodes.iter().enumerate() {
            let _ = writeln!(h, "node n{} seed {:#018x}", i + 1, seed);
        }
        if self.schedule.steps.is_empty() {
            let _ = writeln!(h, "faults: none");
        } else {
            let _ = writeln!(h, "faults:");
            h.push_str(&self.schedule.render());
        }
        h
    }
}

fn timing_of(s: &Scenario) -> RaftTiming {
    let mut t = RaftTiming::default();
    if let Some(r) = &s.raft {
        if let Some(ms) = r.tick_ms {
            t.tick = std::time::Duration::from_millis(ms);
        }
        t.election_ticks_min = r.election_ticks_min.unwrap_or(t.election_ticks_min);
        t.election_ticks_max = r.election_ticks_max.unwrap_or(t.election_ticks_max);
        t.heartbeat_ticks = r.heartbeat_ticks.unwrap_or(t.heartbeat_ticks);
    }
    t
}

/// What a run produced.
pub struct RunOutput {
    /// The derived options.
    pub header: String,
    /// What happened.
    pub log: EventLog,
}

impl RunOutput {
    /// Header and story, as `sim run` prints them.
    pub fn text(&self) -> String {
        format!("{}{}", self.header, self.log.render())
    }
}

/// Runs `scenario` with `seed` on a fresh madsim runtime.
pub fn run(s: &Scenario, seed: u64) -> Result<RunOutput, RunError> {
    let plan = Plan::new(s, seed)?;
    let header = plan.describe(s);
    let log = execute(s, plan);
    Ok(RunOutput { header, log })
}

/// Runs a scenario that is known to be runnable and returns its event log (for tests).
///
/// # Panics
/// If the scenario cannot run (see [`RunError`]).
pub fn run_log(s: &Scenario, seed: u64) -> EventLog {
    execute(s, Plan::new(s, seed).expect("runnable scenario"))
}

fn execute(s: &Scenario, plan: Plan) -> EventLog {
    let rt = madsim::runtime::Runtime::with_seed_and_config(plan.seeds.runtime, madsim::Config::default());
    let duration = s.duration();
    rt.block_on(async move {
        let cluster = SimCluster::start(&plan.seeds.nodes, plan.timing.clone());
        let mut injector = Injector::new(&cluster);
        for (at, action) in &plan.schedule.steps {
            madsim::time::sleep(at.saturating_sub(cluster.elapsed())).await;
            injector.apply(action);
        }
        madsim::time::sleep(duration.saturating_sub(cluster.elapsed())).await;
        let log = cluster.log.lock().expect("log").clone();
        log
    })
}
