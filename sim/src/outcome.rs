//! One run's verdict as `sweep`, `hunt` and `shrink` see it, and the thread pool they share.
//!
//! A run either finishes and is checked ([`Outcome::Ran`]), or a node assertion panics inside it
//! (a safety violation the node caught itself), or it cannot start. [`Outcome::failure`] reduces
//! any of these to the failing checks' names: that name is what `hunt` reports and what `shrink`
//! must keep failing, so a shrunk run fails for the same reason as the original.

use crate::run::{run_with_bugs, RunOutput};
use crate::scenario::Scenario;
use detcd_node::bugs::Bugs;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The name under which a node assertion (a panic inside the run) is reported as a failed check.
pub const NODE_ASSERTION: &str = "node-assertion";

/// Exit codes (as `sim` documents them).
const SAFETY: u8 = 1;
const USAGE: u8 = 2;

/// The verdict of one run.
pub enum Outcome {
    /// The run finished; its checks decide.
    Ran(Box<RunOutput>),
    /// A node assertion failed (e.g. a term went backwards): a safety violation.
    Panicked(String),
    /// The run could not start (an invalid scenario built in code).
    CannotRun(String),
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `sim`'s exit code for it (1 safety, 2 cannot run, 3 unknown, 4 liveness).
    pub code: u8,
    /// The failing checks, in the run's check order ([`NODE_ASSERTION`] for a panic).
    pub checks: Vec<&'static str>,
    /// One line per failing check: name and the first line of its evidence.
    pub why: String,
}

impl Outcome {
    /// `None` if every check passed.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Outcome::Ran(run) => {
                let code = run.exit_code();
                if code == 0 {
                    return None;
                }
                let failed: Vec<_> = run.verdicts.iter().filter(|(_, v)| v.exit_code() != 0).collect();
                Some(Failure {
                    code,
                    checks: failed.iter().map(|(name, _)| *name).collect(),
                    why: failed
                        .iter()
                        .map(|(name, v)| format!("{name}: {}", v.to_string().lines().next().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("; "),
                })
            }
            Outcome::Panicked(m) => Some(Failure { code: SAFETY, checks: vec![NODE_ASSERTION], why: format!("node assertion failed: {m}") }),
            Outcome::CannotRun(m) => Some(Failure { code: USAGE, checks: vec![], why: m.clone() }),
        }
    }
}

/// Runs `s` with `seed` and `bugs`, turning a panic inside the run into [`Outcome::Panicked`].
/// Callers that run many seeds silence the panic hook first (a node assertion prints through it).
pub fn run_one(s: &Scenario, seed: u64, bugs: Bugs) -> Outcome {
    match std::panic::catch_unwind(AssertUnwindSafe(|| run_with_bugs(s, seed, bugs))) {
        Ok(Ok(out)) => Outcome::Ran(Box::new(out)),
        Ok(Err(e)) => Outcome::CannotRun(e.to_string()),
        Err(p) => Outcome::Panicked(
            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default(),
        ),
    }
}

/// Calls `work(i)` for `i` in `0..n` on `jobs` threads, in increasing order of `i` as threads
/// free up, and stops handing out indices once `stop()` says so (work already started finishes).
/// Node assertions inside the work do not print (the panic hook is silenced meanwhile).
pub fn parallel(n: usize, jobs: usize, work: impl Fn(usize) + Sync, stop: impl Fn() -> bool + Sync) {
    let next = AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                if stop() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                work(i);
            });
        }
    });
    let _ = std::panic::take_hook();
}

/// The default number of threads: all cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
