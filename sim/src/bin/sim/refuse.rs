//! The plain build's commands: every simulated one refuses, saying how to build the simulator.

use crate::exit;
use detcd_node::bugs::Bug;
use detcd_sim::scenario::Scenario;
use std::path::PathBuf;

fn refuse() -> u8 {
    eprintln!(
        "sim: this binary was built without --cfg madsim, so it would run on real time and a real network. \
         Use `cargo sim ...` in the source tree, or install it with `cargo siminstall --root DIR` \
             (`cargo install --path sim` with --cfg madsim; see .cargo/config.toml). A RUSTFLAGS environment variable \
             overrides the aliases' rustflags."
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
