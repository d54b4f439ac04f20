//! `sim`: deterministic simulation of a detcd cluster.
//!
//! ```text
//! cargo sim run split-brain --seed 42
//! cargo sim list
//! ```

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
        /// Scenario name (see `sim list`).
        #[arg(default_value = "split-brain")]
        scenario: String,
        /// The seed: the same seed gives the same run, byte for byte.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// List the scenarios.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::List => {
            for s in detcd_sim::scenario::builtin() {
                println!("{:<14} {}", s.name, s.description);
            }
            ExitCode::SUCCESS
        }
        Cmd::Run { scenario, seed } => {
            let Some(s) = detcd_sim::scenario::find(&scenario) else {
                eprintln!("sim: unknown scenario {scenario:?}; `sim list` shows them");
                return ExitCode::from(2);
            };
            run(&s, seed)
        }
    }
}

#[cfg(madsim)]
fn run(s: &detcd_sim::scenario::Scenario, seed: u64) -> ExitCode {
    let out = detcd_sim::run::run(s, seed);
    print!("{}", out.text());
    ExitCode::SUCCESS
}

#[cfg(not(madsim))]
fn run(_: &detcd_sim::scenario::Scenario, _: u64) -> ExitCode {
    eprintln!(
        "sim: this binary was built without --cfg madsim, so it would run on real time and a real network. \
         Use `cargo sim ...` (see .cargo/config.toml); a RUSTFLAGS environment variable overrides the alias's rustflags."
    );
    ExitCode::from(2)
}
