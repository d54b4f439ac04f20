//! `sim`: deterministic simulation of a detcd cluster.
//!
//! ```text
//! cargo sim run split-brain --seed 42          # one run, its story on stdout, files in reports/
//! cargo sim sweep all --seeds 1..200 --jobs 2  # many runs; failing seeds with their repro command
//! cargo sim sweep all --seeds 1..20 --report   # ... and every run's report, reports/index.html
//! cargo sim list                               # the scenario catalog
//! cargo sim check FILE --model etcd            # check a recorded history
//! ```
//!
//! Exit codes: 0 pass, 1 safety violation (a failed correctness check or an assertion inside a
//! node), 2 bad input or usage, 3 a check ran out of its time budget, 4 liveness violation.

use clap::{Parser, Subcommand};

/// A simulated run allocates and frees many small buffers (messages, futures, timers); mimalloc
/// makes the run faster (see `docs/BENCH.md`). Allocation addresses never reach the output.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use detcd_node::bugs::Bug;
use detcd_sim::scenario::{self, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes (documented in the module doc and the README).
#[allow(dead_code)] // UNKNOWN and LIVENESS are named for the docs; verdicts carry their own codes.
pub mod exit {
    pub const PASS: u8 = 0;
    pub const SAFETY: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNKNOWN: u8 = 3;
    pub const LIVENESS: u8 = 4;
}

#[derive(Parser)]
#[command(name = "sim", version, about = "Deterministic simulation of a detcd cluster (madsim)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario with one seed and print its story.
    Run {
        /// Scenario name (see `sim list`) or path to a .toml file.
        #[arg(default_value = "split-brain")]
        scenario: String,
        /// The seed: the same seed gives the same run, byte for byte.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Override the scenario's cluster size.
        #[arg(long)]
        nodes: Option<usize>,
        /// Override the scenario's duration, in simulated seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Where to write the run's files (default: reports/<scenario>-seed<N>[-<bug>]).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Switch on one injected bug in every node (`detcd_node::bugs`; a wrong name lists them).
        #[arg(long)]
        bug: Option<Bug>,
    },
    /// Run many seeds of one scenario (or `all`), in parallel; print every failing seed.
    Sweep {
        /// Scenario name, path, or `all` for the whole catalog.
        scenario: String,
        /// Seeds, inclusive: `1..1000` or a single seed.
        #[arg(long, default_value = "1..100")]
        seeds: String,
        /// Threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard i of n (`0/4`): lets a batch system split a sweep across machines.
        #[arg(long)]
        shard: Option<String>,
        /// Write every run's report (reports/<scenario>-seed<N>/) and reports/index.html.
        #[arg(long)]
        report: bool,
        /// Switch on one injected bug in every node (`detcd_node::bugs`; a wrong name lists them).
        #[arg(long)]
        bug: Option<Bug>,
    },
    /// Sweep seeds with an injected bug until the checks fail; report which scenarios catch it.
    Hunt {
        /// The bug to hunt (a wrong name lists the valid ones).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        bug: Option<Bug>,
        /// Hunt every bug of the catalog and print the Markdown table.
        #[arg(long)]
        all: bool,
        /// Scenarios to try, comma-separated (default: the whole catalog).
        #[arg(long, value_delimiter = ',')]
        scenarios: Vec<String>,
        /// Seeds, inclusive: `1..200` or a single seed.
        #[arg(long, default_value = "1..200")]
        seeds: String,
        /// Threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Internal: hunt one bug in one scenario in this process and print the catch as one line.
        /// The parent runs each (bug, scenario) in such a child, so that the memory a long hunt's
        /// runs leave behind is returned after each scenario.
        #[arg(long, hide = true)]
        child: bool,
    },
    /// Minimize a failing run while the same check keeps failing; write it to scenarios/regressions/.
    Shrink {
        /// Scenario name or path.
        scenario: String,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// The injected bug the run fails with, if any.
        #[arg(long)]
        bug: Option<Bug>,
        /// Directory to write the regression file to (default: scenarios/regressions).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the scenarios.
    List,
    /// Check a recorded history for linearizability.
    Check {
        file: PathBuf,
        /// etcd, register or kv-append.
        #[arg(long, default_value = "etcd")]
        model: String,
        /// ours, jepsen or porcupine-kv (detected from the content when not given).
        #[arg(long)]
        format: Option<String>,
        /// Give up after this many seconds (exit 3).
        #[arg(long, default_value_t = 60.0)]
        budget_s: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::List => list(),
        Cmd::Shrink { scenario, seed, bug, out } => match load(&scenario, None, None) {
            Ok(s) => sim_mode::shrink(&s, seed, bug, out),
            Err(e) => usage(e),
        },
        Cmd::Hunt { bug, all, scenarios, seeds, jobs, child } => {
            let bugs = if all { Bug::ALL.to_vec() } else { bug.into_iter().collect() };
            match (hunt_scenarios(&scenarios), parse_seeds(&seeds)) {
                (Ok(s), Ok(_)) if child => match (bugs.as_slice(), s.as_slice()) {
                    ([bug], [one]) => sim_mode::hunt_child(*bug, one, &parse_seeds(&seeds).unwrap_or_default(), jobs),
                    _ => usage("--child hunts one bug in one scenario"),
                },
                (Ok(s), Ok(n)) => {
                    let names: Vec<String> = if scenarios.is_empty() { s.iter().map(|s| s.name.clone()).collect() } else { scenarios };
                    sim_mode::hunt(&bugs, &names, &seeds, n.len(), jobs)
                }
                (Err(e), _) | (_, Err(e)) => usage(e),
            }
        }
        Cmd::Check { file, model, format, budget_s } => check(&file, &model, format.as_deref(), budget_s),
        Cmd::Run { scenario, seed, nodes, duration, out, bug } => match load(&scenario, nodes, duration) {
            Ok(s) => sim_mode::run(&s, seed, out, bug),
            Err(e) => usage(e),
        },
        Cmd::Sweep { scenario, seeds, jobs, shard, report, bug } => match sweep_plan(&scenario, &seeds, shard.as_deref()) {
            Ok(plan) => sim_mode::sweep(plan, jobs, report, bug),
            Err(e) => usage(e),
        },
    };
    ExitCode::from(code)
}

fn usage(e: impl std::fmt::Display) -> u8 {
    eprintln!("sim: {e}");
    exit::USAGE
}

fn list() -> u8 {
    match scenario::catalog() {
        Ok(all) => {
            for s in all {
                println!("{:<30} {}", s.name, s.description);
            }
            exit::PASS
        }
        Err(e) => usage(e),
    }
}

fn load(name: &str, nodes: Option<usize>, duration: Option<f64>) -> Result<Scenario, String> {
    let mut s = scenario::find(name).map_err(|e| e.to_string())?;
    if let Some(n) = nodes {
        s.nodes = n;
    }
    if let Some(d) = duration {
        s.duration_s = d;
    }
    s.validate().map_err(|(field, why)| format!("{}: {field}: {why}", s.name))?;
    Ok(s)
}

/// Parses `A..B` (inclusive) or `A`.
fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("--seeds {s:?}: expected A..B (inclusive) or a single seed");
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![s.trim().parse().map_err(|_| bad())?]),
    }
}

/// Parses `i/n` with `i < n`.
fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s:?}: expected i/n with 0 <= i < n");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The scenarios a hunt tries: the named ones, or the whole catalog.
fn hunt_scenarios(names: &[String]) -> Result<Vec<Scenario>, String> {
    if names.is_empty() {
        return scenario::catalog().map_err(|e| e.to_string());
    }
    names.iter().map(|n| load(n, None, None)).collect()
}

/// The (scenario, seed) pairs of a sweep, after sharding.
fn sweep_plan(scenario: &str, seeds: &str, shard: Option<&str>) -> Result<Vec<(Scenario, u64)>, String> {
    let scenarios = if scenario == "all" {
        scenario::catalog().map_err(|e| e.to_string())?
    } else {
        vec![load(scenario, None, None)?]
    };
    let seeds = parse_seeds(seeds)?;
    let shard = shard.map(parse_shard).transpose()?;
    let pairs = scenarios.iter().flat_map(|s| seeds.iter().map(move |&seed| (s.clone(), seed)));
    Ok(pairs
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|(k, n)| i % n == k))
        .map(|(_, p)| p)
        .collect())
}

fn check(file: &std::path::Path, model: &str, format: Option<&str>, budget_s: f64) -> u8 {
    use detcd_check::{check_file, CheckError};
    let model = match model.parse() {
        Ok(m) => m,
        Err(e) => return usage(format!("--model: {e}")),
    };
    let format = match format.map(str::parse).transpose() {
        Ok(f) => f,
        Err(e) => return usage(format!("--format: {e}")),
    };
    if !(budget_s > 0.0 && budget_s.is_finite()) {
        return usage("--budget-s: expected a positive number of seconds");
    }
    match check_file(file, model, format, std::time::Duration::from_secs_f64(budget_s)) {
        Ok(report) => {
            println!("{}", report.description);
            report.exit_code() as u8
        }
        Err(e) => {
            eprintln!("sim check: {}: {e}", file.display());
            CheckError::EXIT_CODE as u8
        }
    }
}

#[cfg(madsim)]
mod sim_mode {
    use super::exit;
    use detcd_node::bugs::{Bug, Bugs};
    use detcd_sim::outcome::{default_jobs, parallel, run_one, Outcome};
    use detcd_sim::report;
    use detcd_sim::scenario::Scenario;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    fn bugs_of(bug: Option<Bug>) -> Bugs {
        bug.map_or(Bugs::none(), Bugs::only)
    }

    /// The command that reproduces one run.
    pub fn reproduce(s: &Scenario, seed: u64, bug: Option<Bug>) -> String {
        let bug = bug.map(|b| format!(" --bug {b}")).unwrap_or_default();
        format!("cargo sim run {} --seed {seed}{bug}", s.name)
    }

    pub fn run(s: &Scenario, seed: u64, out: Option<PathBuf>, bug: Option<Bug>) -> u8 {
        match run_one(s, seed, bugs_of(bug)) {
            Outcome::Ran(run) => {
                let text = run.text();
                print!("{text}");
                // A run with a bug gets its own directory: it must not overwrite the clean run's.
                let name = format!("{}-seed{seed}{}", s.name, bug.map(|b| format!("-{b}")).unwrap_or_default());
                let dir = out.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports").join(name));
                if let Err(e) = write_run_files(&dir, s, seed, &run) {
                    eprintln!("sim: cannot write the run's files to {}: {e}", dir.display());
                    return exit::USAGE;
                }
                eprintln!("run files: {} (report: index.html, report.md)", dir.display());
                let code = run.exit_code();
                if code != exit::PASS {
                    eprintln!("FAIL {} seed {seed}\n  reproduce: {}", s.name, reproduce(s, seed, bug));
                }
                code
            }
            Outcome::Panicked(msg) => {
                eprintln!("FAIL {} seed {seed}: a node assertion failed: {msg}", s.name);
                exit::SAFETY
            }
            Outcome::CannotRun(msg) => {
                eprintln!("sim: {msg}");
                exit::USAGE
            }
        }
    }

    /// The run's files: its story, the client history (the checker's format), watch records, and
    /// the report (index.html, report.md, plots; see `detcd_sim::report`). Returns the run's row
    /// for a sweep's index.
    fn write_run_files(dir: &Path, s: &Scenario, seed: u64, run: &detcd_sim::run::RunOutput) -> Result<report::sweep::Row, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("events.log"), run.text()).map_err(|e| e.to_string())?;
        if let Some(h) = &run.history {
            std::fs::write(dir.join("history.jsonl"), h.to_jsonl()).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("watches.jsonl"), h.watches_jsonl()).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("locks.jsonl"), h.locks_jsonl()).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("keepalives.jsonl"), h.keepalives_jsonl()).map_err(|e| e.to_string())?;
        }
        report::write_run_report(dir, &report::RunData::of(s, seed, run)).map_err(|e| e.to_string())
    }

    /// A sweep's row for one run, writing the run's files under `reports`.
    fn report_row(reports: &Path, s: &Scenario, seed: u64, outcome: &Outcome) -> report::sweep::Row {
        let name = format!("{}-seed{seed}", s.name);
        match outcome {
            Outcome::Ran(run) => match write_run_files(&reports.join(&name), s, seed, run) {
                Ok(row) => report::sweep::Row { link: Some(format!("{name}/index.html")), ..row },
                Err(e) => report::sweep::Row::not_run(&s.name, seed, exit::USAGE, format!("cannot write the report: {e}"), s.duration_s),
            },
            Outcome::Panicked(m) => report::sweep::Row::not_run(&s.name, seed, exit::SAFETY, format!("node assertion failed: {m}"), s.duration_s),
            Outcome::CannotRun(m) => report::sweep::Row::not_run(&s.name, seed, exit::USAGE, m.clone(), s.duration_s),
        }
    }

    pub use super::hunt_mode::{hunt, hunt_child};
    pub use super::shrink_mode::shrink;

    pub fn sweep(plan: Vec<(Scenario, u64)>, jobs: Option<usize>, with_report: bool, bug: Option<Bug>) -> u8 {
        let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports");
        let rows: Mutex<Vec<report::sweep::Row>> = Mutex::new(Vec::new());
        let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
        let worst = Mutex::new(exit::PASS);
        let work = |i: usize| {
            let (s, seed) = &plan[i];
            let outcome = run_one(s, *seed, bugs_of(bug));
            if with_report {
                rows.lock().expect("lock").push(report_row(&reports, s, *seed, &outcome));
            }
            let Some(f) = outcome.failure() else { return };
            let line = format!("FAIL {} seed {seed}: {}\n  reproduce: {}", s.name, f.why, reproduce(s, *seed, bug));
            failures.lock().expect("lock").push((i, line));
            let mut w = worst.lock().expect("lock");
            // Most severe first: safety (1) > liveness (4) > unknown (3) > usage (2).
            let rank = |c: u8| [exit::SAFETY, exit::LIVENESS, exit::UNKNOWN, exit::USAGE].iter().position(|x| *x == c).unwrap_or(9);
            if *w == exit::PASS || rank(f.code) < rank(*w) {
                *w = f.code;
            }
        };
        parallel(plan.len(), jobs.unwrap_or_else(default_jobs), work, || false);
        let mut failures = failures.into_inner().expect("lock");
        failures.sort();
        for (_, line) in &failures {
            println!("{line}");
        }
        println!("sweep: {} passed, {} failed", plan.len() - failures.len(), failures.len());
        if with_report {
            match report::sweep::write_index(&reports, &rows.into_inner().expect("lock")) {
                Ok(path) => println!("sweep report: {}", path.display()),
                Err(e) => eprintln!("sim: cannot write the sweep's index in {}: {e}", reports.display()),
            }
        }
        worst.into_inner().expect("lock")
    }
}

#[cfg(madsim)]
mod hunt_mode {
    use super::exit;
    use detcd_node::bugs::Bug;
    use detcd_sim::hunt;
    use detcd_sim::outcome::default_jobs;
    use detcd_sim::scenario::Scenario;
    use std::process::{Command, Stdio};

    /// Hunts each bug; prints every catch as it is found, then the table. Each (bug, scenario)
    /// runs in a child process (`--child`), so memory stays bounded over a long hunt. Exit 0 if
    /// every bug was caught by some scenario, 1 otherwise (an uncaught bug is a gap in the testbed).
    pub fn hunt(bugs: &[Bug], scenarios: &[String], seeds: &str, seeds_max: usize, jobs: Option<usize>) -> u8 {
        let jobs = jobs.unwrap_or_else(default_jobs);
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("sim hunt: cannot find my own binary to run children: {e}");
                return exit::USAGE;
            }
        };
        let mut hunts = Vec::new();
        for &bug in bugs {
            let mut find = |scenario: &str| {
                let out = Command::new(&exe)
                    .args(["hunt", "--child", "--bug", bug.name(), "--scenarios", scenario, "--seeds", seeds, "--jobs", &jobs.to_string()])
                    .stderr(Stdio::null())
                    .output();
                match out {
                    Ok(o) => String::from_utf8_lossy(&o.stdout).lines().find_map(|l| hunt::Catch::from_line(scenario, l)),
                    Err(e) => {
                        eprintln!("sim hunt: cannot run a child for {bug} in {scenario}: {e}");
                        None
                    }
                }
            };
            let h = hunt::hunt(bug, scenarios, seeds_max, &mut find, &|line| eprintln!("caught {line}"));
            if h.catches.is_empty() {
                eprintln!("missed {bug}: no scenario caught it within {seeds_max} seeds");
            }
            hunts.push(h);
        }
        print!("{}", hunt::table(&hunts));
        if hunts.iter().all(|h| !h.catches.is_empty()) {
            exit::PASS
        } else {
            exit::SAFETY
        }
    }

    /// One (bug, scenario) of a hunt, in this process: prints the catch line, or `none`.
    pub fn hunt_child(bug: Bug, s: &Scenario, seeds: &[u64], jobs: Option<usize>) -> u8 {
        match hunt::first_failure(s, seeds, bug, jobs.unwrap_or_else(default_jobs)) {
            Some(c) => println!("{}", c.to_line()),
            None => println!("none"),
        }
        exit::PASS
    }
}

#[cfg(madsim)]
mod shrink_mode {
    use super::exit;
    use detcd_node::bugs::{Bug, Bugs};
    use detcd_sim::outcome::run_one;
    use detcd_sim::scenario::{scenario_dir, Regression, Scenario};
    use detcd_sim::shrink;
    use std::path::PathBuf;

    /// Shrinks a failing run (see `detcd_sim::shrink`), writes the regression file, and prints the
    /// shrunk run's story. Exit 0 when a file was written, 2 if the run does not fail.
    pub fn shrink(s: &Scenario, seed: u64, bug: Option<Bug>, out: Option<PathBuf>) -> u8 {
        let bugs = bug.map_or(Bugs::none(), Bugs::only);
        std::panic::set_hook(Box::new(|_| {}));
        let Some(failure) = run_one(s, seed, bugs).failure() else {
            let _ = std::panic::take_hook();
            eprintln!("sim shrink: {} seed {seed} passes: nothing to shrink", s.name);
            return exit::USAGE;
        };
        let Some(&check) = failure.checks.first() else {
            let _ = std::panic::take_hook();
            eprintln!("sim shrink: {} seed {seed} cannot run: {}", s.name, failure.why);
            return exit::USAGE;
        };
        // With a bug whose run passes without it, every step must keep that so: a shrunk file
        // whose clean run fails (say, too short for liveness) would not be about the bug.
        let keep_clean = bug.is_some() && run_one(s, seed, Bugs::none()).failure().is_none();
        eprintln!(
            "shrinking {} seed {seed}: keeps failing {check}{} ({})",
            s.name,
            if keep_clean { " and passing without the bug" } else { "" },
            failure.why
        );
        let fails = |c: &Scenario| {
            run_one(c, seed, bugs).failure().is_some_and(|f| f.checks.contains(&check))
                && (!keep_clean || run_one(c, seed, Bugs::none()).failure().is_none())
        };
        let shrunk = shrink::shrink(s, fails, &|line| eprintln!("  {line}"));
        let passes_without_bug = bug.is_some() && run_one(&shrunk.scenario, seed, Bugs::none()).failure().is_none();
        let final_run = run_one(&shrunk.scenario, seed, bugs);
        let _ = std::panic::take_hook();
        let name = format!("{}-{}-seed{seed}", bug.map_or("detcd".to_string(), |b| b.to_string()), s.name);
        let regression = Regression {
            seed,
            bug: bug.map(|b| b.to_string()),
            check: check.to_string(),
            passes_without_bug,
            shrunk_from: format!("{} seed {seed}: {}", s.name, shrunk.steps.join("; ")),
        };
        let dir = out.unwrap_or_else(|| scenario_dir().join("regressions"));
        let file = dir.join(format!("{name}.toml"));
        let mut minimal = shrunk.scenario.clone();
        minimal.description = format!("shrunk by `sim shrink` from {} seed {seed}{}: {}", s.name, bug.map(|b| format!(" with {b}")).unwrap_or_default(), s.description);
        let text = shrink::regression_file(&minimal, &name, regression);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, text)) {
            eprintln!("sim shrink: cannot write {}: {e}", file.display());
            return exit::USAGE;
        }
        if let detcd_sim::outcome::Outcome::Ran(run) = &final_run {
            print!("{}", run.text());
        }
        eprintln!(
            "shrunk in {} candidates ({} steps kept); {} without the bug\nregression: {}",
            shrunk.runs,
            shrunk.steps.len(),
            if passes_without_bug { "passes" } else { "fails (or no bug)" },
            file.display()
        );
        exit::PASS
    }
}

#[cfg(not(madsim))]
mod sim_mode {
    use super::exit;
    use detcd_node::bugs::Bug;
    use detcd_sim::scenario::Scenario;
    use std::path::PathBuf;

    fn refuse() -> u8 {
        eprintln!(
            "sim: this binary was built without --cfg madsim, so it would run on real time and a real network. \
             Use `cargo sim ...` (see .cargo/config.toml); a RUSTFLAGS environment variable overrides the alias's rustflags."
        );
        exit::USAGE
    }

    pub fn run(_: &Scenario, _: u64, _: Option<PathBuf>, _: Option<Bug>) -> u8 {
        refuse()
    }

    pub fn sweep(_: Vec<(Scenario, u64)>, _: Option<usize>, _: bool, _: Option<Bug>) -> u8 {
        refuse()
    }

    pub fn hunt(_: &[Bug], _: &[String], _: &str, _: usize, _: Option<usize>) -> u8 {
        refuse()
    }

    pub fn hunt_child(_: Bug, _: &Scenario, _: &[u64], _: Option<usize>) -> u8 {
        refuse()
    }

    pub fn shrink(_: &Scenario, _: u64, _: Option<Bug>, _: Option<PathBuf>) -> u8 {
        refuse()
    }
}
