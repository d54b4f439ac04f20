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
//! node), 2 bad input or usage, 3 a check ran out of its time budget, 4 liveness violation, 5 a
//! sweep in which a scenario's seeds never reached an event the scenario expects (`[expect]`).

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
    /// A sweep in which no seed of a scenario reached an event its `[expect]` names.
    pub const COVERAGE: u8 = 5;
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
        /// Where to write the run's files (default: ./reports/<scenario>-seed<N>[-<bug>]).
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
        /// Write every run's report (./reports/<scenario>-seed<N>/) and ./reports/index.html.
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
    /// Minimize a failing run while the same check keeps failing; write it to ./scenarios/regressions/.
    Shrink {
        /// Scenario name or path.
        scenario: String,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// The injected bug the run fails with, if any.
        #[arg(long)]
        bug: Option<Bug>,
        /// Directory to write the regression file to (default: scenarios/regressions of the current directory).
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
        s.selector.push_str(&format!(" --nodes {n}"));
    }
    if let Some(d) = duration {
        s.duration_s = d;
        s.selector.push_str(&format!(" --duration {d}"));
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
mod hunt;
#[cfg(not(madsim))]
mod refuse;
#[cfg(madsim)]
mod run;
#[cfg(madsim)]
mod shrink;

/// The commands that need the simulation build, or their refusal in a plain build.
mod sim_mode {
    #[cfg(madsim)]
    pub use super::hunt::{hunt, hunt_child};
    #[cfg(not(madsim))]
    pub use super::refuse::{hunt, hunt_child, run, shrink, sweep};
    #[cfg(madsim)]
    pub use super::run::{run, sweep};
    #[cfg(madsim)]
    pub use super::shrink::shrink;
}
