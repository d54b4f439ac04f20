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
        /// Where to write the run's files (default: reports/<scenario>-seed<N>).
        #[arg(long)]
        out: Option<PathBuf>,
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
        Cmd::Check { file, model, format, budget_s } => check(&file, &model, format.as_deref(), budget_s),
        Cmd::Run { scenario, seed, nodes, duration, out } => match load(&scenario, nodes, duration) {
            Ok(s) => sim_mode::run(&s, seed, out),
            Err(e) => usage(e),
        },
        Cmd::Sweep { scenario, seeds, jobs, shard, report } => match sweep_plan(&scenario, &seeds, shard.as_deref()) {
            Ok(plan) => sim_mode::sweep(plan, jobs, report),
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
    use detcd_sim::report;
    use detcd_sim::run::run as run_scenario;
    use detcd_sim::scenario::Scenario;
    use std::panic::AssertUnwindSafe;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// The verdict of one run.
    pub enum Outcome {
        /// The run finished; its checks decide the exit code.
        Ran(Box<detcd_sim::run::RunOutput>),
        /// A node assertion failed (e.g. a term went backwards): a safety violation.
        Panicked(String),
        CannotRun(String),
    }

    fn one(s: &Scenario, seed: u64) -> Outcome {
        match std::panic::catch_unwind(AssertUnwindSafe(|| run_scenario(s, seed))) {
            Ok(Ok(out)) => Outcome::Ran(Box::new(out)),
            Ok(Err(e)) => Outcome::CannotRun(e.to_string()),
            Err(p) => Outcome::Panicked(
                p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default(),
            ),
        }
    }

    pub fn run(s: &Scenario, seed: u64, out: Option<PathBuf>) -> u8 {
        match one(s, seed) {
            Outcome::Ran(run) => {
                let text = run.text();
                print!("{text}");
                let dir = out.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports").join(format!("{}-seed{seed}", s.name)));
                if let Err(e) = write_run_files(&dir, s, seed, &run) {
                    eprintln!("sim: cannot write the run's files to {}: {e}", dir.display());
                    return exit::USAGE;
                }
                eprintln!("run files: {} (report: index.html, report.md)", dir.display());
                let code = run.exit_code();
                if code != exit::PASS {
                    eprintln!("FAIL {} seed {seed}\n  reproduce: cargo sim run {} --seed {seed}", s.name, s.name);
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

    pub fn sweep(plan: Vec<(Scenario, u64)>, jobs: Option<usize>, with_report: bool) -> u8 {
        let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports");
        let rows: Mutex<Vec<report::sweep::Row>> = Mutex::new(Vec::new());
        let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
        // Node assertions print through the panic hook; keep the sweep's output to its verdicts.
        std::panic::set_hook(Box::new(|_| {}));
        let next = AtomicUsize::new(0);
        let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
        let worst = Mutex::new(exit::PASS);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((s, seed)) = plan.get(i) else { break };
                    let outcome = one(s, *seed);
                    if with_report {
                        rows.lock().expect("lock").push(report_row(&reports, s, *seed, &outcome));
                    }
                    let (code, why) = match outcome {
                        Outcome::Ran(run) => match run.exit_code() {
                            exit::PASS => continue,
                            code => {
                                let failed: Vec<String> = run
                                    .verdicts
                                    .iter()
                                    .filter(|(_, v)| v.exit_code() != exit::PASS)
                                    .map(|(name, v)| format!("{name}: {}", v.to_string().lines().next().unwrap_or_default()))
                                    .collect();
                                (code, failed.join("; "))
                            }
                        },
                        Outcome::Panicked(m) => (exit::SAFETY, format!("node assertion failed: {m}")),
                        Outcome::CannotRun(m) => (exit::USAGE, m),
                    };
                    let line = format!("FAIL {} seed {seed}: {why}\n  reproduce: cargo sim run {} --seed {seed}", s.name, s.name);
                    failures.lock().expect("lock").push((i, line));
                    let mut w = worst.lock().expect("lock");
                    // Most severe first: safety (1) > liveness (4) > unknown (3) > usage (2).
                    let rank = |c: u8| [exit::SAFETY, exit::LIVENESS, exit::UNKNOWN, exit::USAGE].iter().position(|x| *x == c).unwrap_or(9);
                    if *w == exit::PASS || rank(code) < rank(*w) {
                        *w = code;
                    }
                });
            }
        });
        let _ = std::panic::take_hook();
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

#[cfg(not(madsim))]
mod sim_mode {
    use super::exit;
    use detcd_sim::scenario::Scenario;
    use std::path::PathBuf;

    fn refuse() -> u8 {
        eprintln!(
            "sim: this binary was built without --cfg madsim, so it would run on real time and a real network. \
             Use `cargo sim ...` (see .cargo/config.toml); a RUSTFLAGS environment variable overrides the alias's rustflags."
        );
        exit::USAGE
    }

    pub fn run(_: &Scenario, _: u64, _: Option<PathBuf>) -> u8 {
        refuse()
    }

    pub fn sweep(_: Vec<(Scenario, u64)>, _: Option<usize>, _: bool) -> u8 {
        refuse()
    }
}
