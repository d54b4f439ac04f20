//! Runs one scenario with one seed: derives everything from the seed, compiles the fault schedule,
//! starts the cluster on a fresh madsim runtime, applies the schedule, and returns the story.

use crate::checks::{self, Verdict};
use crate::coverage::Coverage;
use crate::patch::PatchReport;
use crate::cluster::SimCluster;
use crate::eventlog::EventLog;
use crate::history::{History, OutcomeClass};
use crate::workload;
use crate::faults::Schedule;
use crate::inject::Injector;
use crate::scenario::Scenario;
use crate::seeds::Seeds;
use detcd_node::bugs::Bugs;
use detcd_node::config::RaftTiming;
use std::fmt::Write as _;

/// A run that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario breaks a rule that parsing a file would have caught (a scenario built in code
    /// skips the parser).
    #[error("scenario {name}: {field}: {why}")]
    Invalid { name: String, field: String, why: String },
}

/// Everything derived from (scenario, seed) before the run starts.
#[derive(Clone)]
pub struct Plan {
    pub seeds: Seeds,
    /// Injected bugs, switched on in every node (and the simulated clients where a bug lives there).
    pub bugs: Bugs,
    pub timing: RaftTiming,
    pub schedule: Schedule,
}

impl Plan {
    pub fn new(s: &Scenario, seed: u64, bugs: Bugs) -> Result<Plan, RunError> {
        s.validate().map_err(|(field, why)| RunError::Invalid { name: s.name.clone(), field, why })?;
        let seeds = Seeds::derive(seed, s.nodes);
        let schedule = Schedule::compile(s, seeds.faults);
        Ok(Plan { seeds, bugs, timing: timing_of(s), schedule })
    }

    /// The derived options, printed before the story and stored with the run.
    pub fn describe(&self, s: &Scenario) -> String {
        let mut h = String::new();
        let t = &self.timing;
        let _ = writeln!(h, "scenario {}: {}", s.name, s.description);
        if self.bugs != Bugs::none() {
            let _ = writeln!(h, "injected bug: {} (reproduce with --bug {})", self.bugs, self.bugs);
        }
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
    /// What the clients saw (None: the scenario has no workload).
    pub history: Option<History>,
    /// Every check's verdict, by name, in a fixed order.
    pub verdicts: Vec<(&'static str, Verdict)>,
    /// The interesting events the run reached (`crate::coverage`).
    pub coverage: Coverage,
}

impl RunOutput {
    /// Header and story, as `sim run` prints them, then the verdicts.
    pub fn text(&self) -> String {
        let mut t = format!("{}{}", self.header, self.log.render());
        if let Some(h) = &self.history {
            let ops: Vec<_> = h.all().collect();
            let count = |c| ops.iter().filter(|o| o.outcome() == c).count();
            let _ = writeln!(
                t,
                "clients: {} operations: {} ok, {} failed, {} unknown",
                ops.len(),
                count(OutcomeClass::Ok),
                count(OutcomeClass::Fail),
                count(OutcomeClass::Info)
            );
        }
        for (name, v) in &self.verdicts {
            let _ = writeln!(t, "check {name:<22} {v}");
        }
        let _ = writeln!(t, "coverage: {}", self.coverage.line());
        t
    }

    /// The exit code the verdicts call for: the most severe one (safety 1 > liveness 4 > unknown 3).
    pub fn exit_code(&self) -> u8 {
        let codes: Vec<u8> = self.verdicts.iter().map(|(_, v)| v.exit_code()).collect();
        [1, 4, 3].into_iter().find(|c| codes.contains(c)).unwrap_or(0)
    }
}

/// The checker's time budget for one run's history.
pub const LINEARIZABILITY_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `scenario` with `seed` on a fresh madsim runtime, then checks it.
pub fn run(s: &Scenario, seed: u64) -> Result<RunOutput, RunError> {
    run_with_bugs(s, seed, Bugs::none())
}

/// Runs `scenario` with `seed` and `bugs` switched on (see `detcd_node::bugs`), then checks it.
pub fn run_with_bugs(s: &Scenario, seed: u64, bugs: Bugs) -> Result<RunOutput, RunError> {
    let plan = Plan::new(s, seed, bugs)?;
    let header = plan.describe(s);
    let healed_at = plan.schedule.steps.last().map(|(t, _)| *t).unwrap_or_default();
    let (log, history) = execute(s, plan);
    let patched = history.as_ref().map(|h| crate::patch::patch(h, &log));
    let verdicts = check(s, &log, history.as_ref(), patched.as_ref(), healed_at);
    let coverage = Coverage::of(&log, history.as_ref(), patched.as_ref().map(|(_, r)| r));
    Ok(RunOutput { header, log, history, verdicts, coverage })
}

/// Runs a scenario that is known to be runnable and returns its event log (for tests).
///
/// # Panics
/// If the scenario cannot run (see [`RunError`]).
pub fn run_log(s: &Scenario, seed: u64) -> EventLog {
    execute(s, Plan::new(s, seed, Bugs::none()).expect("runnable scenario")).0
}

/// With this variable set (madsim's own name for it), every run happens twice in this process and
/// madsim compares the two runs' random draws, panicking at the first that differs: the panic's
/// time and backtrace say where the runs went apart. Slower (two runs), for hunting nondeterminism.
pub const CHECK_DETERMINISM_ENV: &str = "MADSIM_TEST_CHECK_DETERMINISM";

/// The run that [`CHECK_DETERMINISM_ENV`] repeats: madsim takes a function pointer, not a closure.
/// Checked runs take turns (`CHECK_ONE_AT_A_TIME`) when a sweep runs several at once.
static CHECKED_RUN: std::sync::Mutex<Option<(Scenario, Plan)>> = std::sync::Mutex::new(None);
static CHECK_ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn execute(s: &Scenario, plan: Plan) -> (EventLog, Option<History>) {
    if std::env::var_os(CHECK_DETERMINISM_ENV).is_some() {
        let seed = plan.seeds.runtime;
        let _turn = CHECK_ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *CHECKED_RUN.lock().expect("checked run") = Some((s.clone(), plan));
        return madsim::runtime::Runtime::check_determinism(seed, madsim::Config::default(), || {
            let (s, plan) = CHECKED_RUN.lock().expect("checked run").clone().expect("set above");
            simulate(s, plan)
        });
    }
    let rt = madsim::runtime::Runtime::with_seed_and_config(plan.seeds.runtime, madsim::Config::default());
    rt.block_on(simulate(s.clone(), plan))
}

async fn simulate(s: Scenario, plan: Plan) -> (EventLog, Option<History>) {
    let duration = s.duration();
    let workload_spec = s.workload.clone();
    let ask_hashes = s.checks.raft;
    let cluster = SimCluster::start_with_bugs(&plan.seeds.nodes, plan.timing.clone(), plan.bugs);
    let clients = workload_spec.map(|w| {
        let stop_at = w.stop_s.map(std::time::Duration::from_secs_f64).unwrap_or_else(|| duration.saturating_sub(std::time::Duration::from_secs(1)));
        let fenced_locks = !plan.bugs.has(detcd_node::bugs::Bug::UnfencedLock);
        workload::start_with(&w, plan.seeds.workload, cluster.hosts.len(), cluster.start_instant(), stop_at, fenced_locks)
    });
    let mut injector = Injector::new(&cluster);
    for (at, action) in &plan.schedule.steps {
        // Steps due at the same time happen at the same instant (a power loss cuts every node
        // at once): madsim's sleep advances time even for a zero duration.
        if *at > cluster.elapsed() {
            madsim::time::sleep(*at - cluster.elapsed()).await;
        }
        injector.apply(action);
    }
    madsim::time::sleep(duration.saturating_sub(cluster.elapsed())).await;
    let mut history = match clients {
        Some(c) => Some(c.finish().await),
        None => None,
    };
    let settled_after = settle(&cluster).await;
    let mut log = cluster.log.lock().expect("log").clone();
    // The story ends where the scenario does; what the members applied while settling counts.
    log.lines.retain(|(at, _)| *at <= duration);
    log.settled_after = settled_after;
    if let Some(h) = &mut history {
        h.note_expiries(&log);
    }
    // After the log is taken, so the story ends where the scenario does.
    if ask_hashes {
        log.end_hashes = Some(checks::hashkv::ask_all(cluster.hosts.len()).await);
    }
    // Kill every member before the runtime goes: madsim does not cancel a node's tasks when
    // the runtime is dropped, and tasks that hold their own node's handle then leak (about
    // 1 MB per run, which a long sweep in one process cannot afford; madsim issue 242).
    for h in &cluster.hosts {
        madsim::runtime::Handle::current().kill(h.id());
    }
    (log, history)
}

/// The settle phase's bound, and how long the members must stay quiet (no entry applied, all at
/// the same index, a leader known) to count as settled: longer than a peer RPC's timeout, so no
/// proposal is still on its way.
const SETTLE_MAX: std::time::Duration = std::time::Duration::from_secs(10);
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_secs(2);
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// After the run (clients stopped, every scheduled fault undone): waits until the running members
/// have applied the same last entry, with a leader known, and nothing new was applied for
/// [`SETTLE_QUIET`]; so that entries still in flight land before the history is patched
/// (`crate::patch`). Returns how long that took, `None` past [`SETTLE_MAX`].
async fn settle(cluster: &SimCluster) -> Option<std::time::Duration> {
    let start = cluster.elapsed();
    let mut quiet_since: Option<(std::time::Duration, usize)> = None;
    while cluster.elapsed() - start <= SETTLE_MAX {
        let (agreed, applied) = {
            let log = cluster.log.lock().expect("log");
            let last = log.last_applied();
            let running = cluster.running();
            let at: Vec<Option<&u64>> = running.iter().map(|i| last.get(i)).collect();
            let agreed = log.current_leader().is_some() && !at.is_empty() && at.iter().all(|x| *x == at[0]);
            (agreed, log.applied.len())
        };
        match quiet_since {
            Some((since, n)) if agreed && n == applied => {
                if cluster.elapsed() - since >= SETTLE_QUIET {
                    return Some(cluster.elapsed() - start);
                }
            }
            _ => quiet_since = agreed.then_some((cluster.elapsed(), applied)),
        }
        madsim::time::sleep(SETTLE_POLL).await;
    }
    None
}

/// Runs every check that applies. Outside the simulated runtime: the checker's budget is wall time.
fn check(
    s: &Scenario,
    log: &EventLog,
    history: Option<&History>,
    patched: Option<&(History, PatchReport)>,
    healed_at: std::time::Duration,
) -> Vec<(&'static str, Verdict)> {
    let mut v = Vec::new();
    if s.checks.raft {
        v.push(("one-leader-per-term", checks::one_leader_per_term(log)));
        v.push(("terms-never-go-back", checks::terms_never_go_back(log)));
        v.push(("applied-entries-agree", checks::applied_entries_agree(log)));
        v.push(("applied-at-most-once", crate::patch::applied_at_most_once(log)));
        v.push(("honest-peers-accepted", checks::honest_peers_accepted(log)));
        v.push(("stores-agree-hashkv", log.end_hashes.as_deref().map_or(Verdict::Skipped("not asked".into()), checks::hashkv::agree)));
    }
    if s.checks.linearizability {
        let locks = s.workload.as_ref().is_some_and(|w| w.mix.get(&crate::scenario::OpKind::Lock).is_some_and(|&n| n > 0));
        v.push(("linearizability", match history {
            None => Verdict::Skipped("no workload".into()),
            Some(_) if locks => Verdict::Skipped("the lock service writes keys the model does not see".into()),
            Some(_) => patched.map_or(Verdict::Skipped("no workload".into()), |(p, r)| linearizability(p, r)),
        }));
    }
    if s.checks.lease {
        let (keys, expiry) = match history {
            None => (Verdict::Skipped("no workload".into()), Verdict::Skipped("no workload".into())),
            Some(h) => (checks::lease::keys_die_with_their_lease(h, log), checks::lease::no_early_expiry(h, log)),
        };
        v.push(("keys-die-with-lease", keys));
        v.push(("no-early-lease-expiry", expiry));
    }
    if s.checks.lock {
        v.push(("lock-exclusion", history.map_or(Verdict::Skipped("no workload".into()), |h| checks::lock::lock_exclusion(h, log))));
    }
    if s.checks.watch {
        v.push(("watch-guarantees", history.map_or(Verdict::Skipped("no workload".into()), checks::watch::watch_guarantees)));
    }
    if let Some(bound) = s.checks.liveness_s {
        let ok: Option<Vec<std::time::Duration>> = history.map(|h| h.all().filter(|o| o.outcome() == OutcomeClass::Ok).map(|o| o.completed()).collect());
        v.push(("liveness", checks::liveness(log, healed_at, std::time::Duration::from_secs_f64(bound), ok.as_deref())));
    }
    v
}

/// Linearizability of the history patched from the members' record (`crate::patch`).
fn linearizability(patched: &History, report: &PatchReport) -> Verdict {
    use detcd_check::{check_text, Format, ModelKind, Verdict as L};
    let deadline = detcd_check::io::WallClockDeadline::after(LINEARIZABILITY_BUDGET);
    match check_text(&patched.to_jsonl(), ModelKind::Etcd, Some(Format::Ours), &deadline) {
        Ok(r) => match r.verdict {
            L::Ok => Verdict::Pass,
            L::Unknown => Verdict::Unknown(format!("{} ({report})", r.description)),
            L::Illegal(_) => Verdict::Fail(format!("{} ({report})\n{}", r.description, r.verdict)),
        },
        Err(e) => Verdict::Fail(format!("the recorded history does not parse (a recorder bug): {e}")),
    }
}
