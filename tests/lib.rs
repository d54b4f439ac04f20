//! Helpers for the end-to-end tests in `tests/tests/`.
//!
//! Real mode: real server processes (detcd, or etcd itself to validate the harness) on 127.0.0.1,
//! driven by the real `etcdctl` 3.4 (Debian package `etcd-client`). See `tests/README.md`.
//!
//! - [`Cluster`]: starts 3 members with etcd's own flags; `Drop` kills them.
//! - [`Etcdctl`]: runs etcdctl with a hard timeout, capturing stdout, stderr and the exit code.
//! - [`Command`] / [`parse_commands`]: the shared command script `tests/golden/commands.txt`
//!   (also read by `scripts/etcd-reference.sh`).
//! - [`record`]: the golden-file text of one command's result (same format as the script writes).
//! - [`Masker`]: hides what legitimately differs between two fresh clusters.
//! - [`line_diff`]: a small unified-style diff for the mismatch report.
//!
//! One file per topic in `harness/`.

#[path = "harness/env.rs"]
mod env;
#[path = "harness/process.rs"]
mod process;
#[path = "harness/cluster.rs"]
mod cluster;
#[path = "harness/script.rs"]
mod script;
#[path = "harness/jobs.rs"]
mod jobs;
#[path = "harness/mask.rs"]
mod mask;
#[path = "harness/diff.rs"]
mod diff;

#[cfg(test)]
#[path = "harness/tests.rs"]
mod tests;

pub use env::*;
pub use process::*;
pub use cluster::*;
pub use script::*;
pub use jobs::*;
pub use mask::*;
pub use diff::*;
