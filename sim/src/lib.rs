//! detcd-sim: runs detcd members on madsim's simulated network and time.
//!
//! Stages, data flowing one way (STYLE.md):
//!
//! ```text
//!   scenario (what to do) -> cluster + faults (do it) -> event log (what happened)
//! ```
//!
//! Then the run is checked ([`checks`], `detcd-check`) and reported ([`report`]: an HTML page,
//! Markdown and plots, rendered from the run's data alone). Everything a run does is derived from
//! its seed ([`seeds`]).
//!
//! The cluster stage needs madsim's runtime and exists only in the simulation build
//! (`--cfg madsim`, see `.cargo/config.toml`); the pure parts build and test everywhere.

pub mod checks;
pub mod coverage;
pub mod eventlog;
pub mod faults;
pub mod history;
pub mod node_metrics;
pub mod hunt;
pub mod patch;
pub mod report;
pub mod scenario;
pub mod seeds;
pub mod shrink;

#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod inject;
#[cfg(madsim)]
pub mod outcome;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
pub mod workload;
pub mod zipkin;
