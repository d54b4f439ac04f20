//! `sim hunt`: does the testbed catch an injected bug, where, and how fast?
//!
//! For one bug ([`detcd_node::bugs::Bug`]) and each scenario, the seeds are run in increasing
//! order (in parallel) until the first run whose checks fail. The result is the smallest failing
//! seed of the range, whatever the number of threads: every smaller seed was handed out before it
//! and passed. Each catch is then re-run without the bug: a catch counts only if the same
//! (scenario, seed) passes with no bug (otherwise the scenario fails on its own and says nothing
//! about the bug).
//!
//! What a table row proves: the named checks fail on that (scenario, seed, bug) and pass on that
//! (scenario, seed) without it. A bug that no scenario catches within the seeds tried is a gap in
//! the scenarios or the checks, and the table says so.

use detcd_node::bugs::Bug;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// One scenario that caught the bug.
#[derive(Clone, Debug, PartialEq)]
pub struct Catch {
    pub scenario: String,
    /// The first failing seed.
    pub seed: u64,
    /// How many seeds of the range were needed (the first failing seed's position, 1-based).
    pub seeds_needed: usize,
    /// The checks that failed (`outcome::NODE_ASSERTION` for a node assertion).
    pub checks: Vec<String>,
    /// Whether the same (scenario, seed) passes without the bug.
    pub clean_passes: bool,
}

/// What hunting one bug found.
#[derive(Clone, Debug, PartialEq)]
pub struct BugHunt {
    pub bug: Bug,
    /// Scenarios tried, in order.
    pub scenarios: Vec<String>,
    /// Seeds tried per scenario (at most).
    pub seeds_max: usize,
    /// Scenarios whose first failure also passes without the bug.
    pub catches: Vec<Catch>,
    /// Scenarios that failed with the bug but also fail without it (not counted as catches).
    pub failing_anyway: Vec<Catch>,
    /// Wall time of the hunt.
    pub wall: Duration,
}

impl Catch {
    /// One line for a parent process (`sim hunt` runs each scenario's hunt in a child process):
    /// `catch seed=N needed=N clean=BOOL checks=a,b`.
    pub fn to_line(&self) -> String {
        format!("catch seed={} needed={} clean={} checks={}", self.seed, self.seeds_needed, self.clean_passes, self.checks.join(","))
    }

    /// Parses [`Catch::to_line`]'s output for `scenario`.
    pub fn from_line(scenario: &str, line: &str) -> Option<Catch> {
        let mut f = line.strip_prefix("catch ")?.split(' ').map(|kv| kv.split_once('=').map_or("", |(_, v)| v));
        let (seed, needed, clean, checks) = (f.next()?, f.next()?, f.next()?, f.next()?);
        Some(Catch {
            scenario: scenario.to_string(),
            seed: seed.parse().ok()?,
            seeds_needed: needed.parse().ok()?,
            clean_passes: clean.parse().ok()?,
            checks: checks.split(',').filter(|c| !c.is_empty()).map(String::from).collect(),
        })
    }
}

impl BugHunt {
    /// The median, over the catching scenarios, of the seeds needed (None: not caught).
    pub fn median_seeds(&self) -> Option<f64> {
        median(self.catches.iter().map(|c| c.seeds_needed).collect())
    }
}

/// The median of `v` (the mean of the middle two for an even count); None if empty.
pub fn median(mut v: Vec<usize>) -> Option<f64> {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    }
}

/// The Markdown table of a hunt: one row per bug; then a note for every scenario that failed
/// with the bug but also without it (not counted as a catch).
pub fn table(hunts: &[BugHunt]) -> String {
    let mut t = String::from(
        "| bug | caught by (scenario: first failing seed) | failing checks (in how many catches) | seeds to first failure (median) | wall time |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for h in hunts {
        let catches = if h.catches.is_empty() {
            format!("**none** of {} scenarios within {} seeds", h.scenarios.len(), h.seeds_max)
        } else {
            let list: Vec<String> = h.catches.iter().map(|c| format!("{}: {}", c.scenario, c.seed)).collect();
            format!("{} of {}: {}", h.catches.len(), h.scenarios.len(), list.join(", "))
        };
        let mut checks: BTreeMap<&str, usize> = BTreeMap::new();
        for c in h.catches.iter().flat_map(|c| &c.checks) {
            *checks.entry(c.as_str()).or_default() += 1;
        }
        let checks: Vec<String> = checks.iter().map(|(c, n)| format!("{c} ({n})")).collect();
        let median = h.median_seeds().map_or("—".to_string(), |m| format!("{m}"));
        let _ = writeln!(t, "| `{}` | {catches} | {} | {median} | {:.1} s |", h.bug, checks.join(", "), h.wall.as_secs_f64());
    }
    for h in hunts {
        for c in &h.failing_anyway {
            let _ = writeln!(t, "\nNote: `{}` made {} seed {} fail ({}), but that run fails without the bug too; not counted.", h.bug, c.scenario, c.seed, c.checks.join(", "));
        }
    }
    t
}

/// Hunts `bug` in each of `scenarios` (module doc): `find` returns a scenario's first failing
/// seed, checked against a clean run (`first_failure`, in this process or a child). `progress`
/// hears of every catch.
pub fn hunt(
    bug: Bug,
    scenarios: &[String],
    seeds_max: usize,
    find: &mut dyn FnMut(&str) -> Option<Catch>,
    progress: &dyn Fn(&str),
) -> BugHunt {
    let started = std::time::Instant::now();
    let mut catches = Vec::new();
    let mut failing_anyway = Vec::new();
    for s in scenarios {
        let Some(catch) = find(s) else { continue };
        progress(&format!(
            "{bug}: {} seed {} ({}){}",
            catch.scenario,
            catch.seed,
            catch.checks.join(", "),
            if catch.clean_passes { "" } else { " -- but it fails without the bug too" }
        ));
        if catch.clean_passes {
            catches.push(catch);
        } else {
            failing_anyway.push(catch);
        }
    }
    BugHunt { bug, scenarios: scenarios.to_vec(), seeds_max, catches, failing_anyway, wall: started.elapsed() }
}

#[cfg(madsim)]
pub use run::first_failure;

#[cfg(madsim)]
mod run {
    use super::Catch;
    use crate::outcome::{parallel, run_one};
    use crate::scenario::Scenario;
    use detcd_node::bugs::{Bug, Bugs};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// The first seed of `seeds` whose run of `s` with `bug` fails, checked against a clean run.
    pub fn first_failure(s: &Scenario, seeds: &[u64], bug: Bug, jobs: usize) -> Option<Catch> {
        let first = AtomicUsize::new(usize::MAX);
        let found: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
        let work = |i: usize| {
            if let Some(f) = run_one(s, seeds[i], Bugs::only(bug)).failure() {
                first.fetch_min(i, Ordering::Relaxed);
                found.lock().expect("lock").push((i, f.checks.into_iter().map(String::from).collect::<Vec<_>>()));
            }
        };
        parallel(seeds.len(), jobs, work, || first.load(Ordering::Relaxed) != usize::MAX);
        let (i, checks): (usize, Vec<String>) = found.into_inner().expect("lock").into_iter().min_by_key(|(i, _)| *i)?;
        let clean_passes = run_one(s, seeds[i], Bugs::none()).failure().is_none();
        Some(Catch { scenario: s.name.clone(), seed: seeds[i], seeds_needed: i + 1, checks, clean_passes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7, 1, 3]), Some(3.0));
        assert_eq!(median(vec![10, 1, 3, 4]), Some(3.5));
    }

    #[test]
    fn a_catch_survives_the_trip_through_a_child_process_line() {
        let c = Catch { scenario: "s".into(), seed: 17, seeds_needed: 3, checks: vec!["a".into(), "node-assertion".into()], clean_passes: true };
        assert_eq!(Catch::from_line("s", &c.to_line()), Some(c));
        assert_eq!(Catch::from_line("s", "none"), None);
    }

    #[test]
    fn an_uncaught_bug_is_a_finding_in_the_table() {
        let caught = BugHunt {
            bug: Bug::SkipDirFsync,
            scenarios: vec!["power-loss".into(), "happy-path".into()],
            seeds_max: 200,
            catches: vec![Catch { scenario: "power-loss".into(), seed: 4, seeds_needed: 4, checks: vec!["linearizability".into()], clean_passes: true }],
            failing_anyway: vec![],
            wall: Duration::from_millis(1500),
        };
        let anyway = Catch { scenario: "happy-path".into(), seed: 9, seeds_needed: 9, checks: vec!["liveness".into()], clean_passes: false };
        let missed = BugHunt { bug: Bug::UnfencedLock, catches: vec![], failing_anyway: vec![anyway], ..caught.clone() };
        let t = table(&[caught, missed]);
        assert!(t.contains("| `skip-dir-fsync` | 1 of 2: power-loss: 4 | linearizability (1) | 4 | 1.5 s |"), "{t}");
        assert!(t.contains("| `unfenced-lock` | **none** of 2 scenarios within 200 seeds |  | — |"), "{t}");
        assert!(t.contains("`unfenced-lock` made happy-path seed 9 fail (liveness), but that run fails without the bug too"), "{t}");
    }
}
