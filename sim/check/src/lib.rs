//! # detcd-check: was a run correct?
//!
//! The `check` stage of the simulator (scenario -> cluster + faults -> history -> **check** ->
//! report). Its input is a recorded history; it decides whether the run was correct and, when
//! it was not, shows the evidence. It never imports `detcd-node`: a model that shares code
//! with the server shares its bugs.
//!
//! ## Linearizability ([`linearizability`])
//! **What it proves.** A history is linearizable with respect to a model when its operations
//! can be put in one order that keeps every operation that returned before another was called
//! ahead of it, and that the model accepts step by step from its initial state. A verdict of
//! [`Verdict::Ok`] proves such an order exists for the history *as recorded*; a verdict of
//! [`Verdict::Illegal`] proves none does, and shows, per failing partition, the longest
//! linearizable prefix found, the model's state after it, the operation whose return forces
//! the issue and why each operation that could go next fails.
//!
//! **How.** The Wing-Gong/Lowe search with Porcupine's improvements: P-compositionality (a
//! model may split a history into independent parts, checked in parallel), memoization of
//! (linearized set, state), and a time budget after which the answer is [`Verdict::Unknown`].
//! Operations of unknown outcome (timeouts, crashes) may take effect at any time after their
//! call, or never, with any output.
//!
//! **Limits.**
//! - It checks what the history records. An operation the recorder missed, or a wrong time
//!   stamp, changes the question. Times must come from one clock shared by all clients (the
//!   simulator's virtual time); equal times count as concurrent (the lenient reading).
//! - An operation recorded as failed (`fail`) is taken to have had no effect and is dropped;
//!   only record `fail` when that is certain, otherwise `info` (unknown outcome).
//! - The search is NP-complete in general. A history with many concurrent writes whose order
//!   only a late read reveals (kv-append with 5 to 10 appends in flight on one key), or many
//!   operations of unknown outcome, can exhaust the budget: the answer is then 3, "unknown",
//!   never a wrong one. Memory is bounded likewise (`MEMO_*_MAX`). See BENCH.md for numbers.
//! - A model is a specification, not etcd: what a model leaves out (see each model's doc) is
//!   not checked. The etcd model has no reads at past revisions, no compaction, no TTLs.
//!
//! ## Models ([`models`])
//! - `etcd`: KV and Lease APIs with revisions (range, put, delete, txn with compares, lease
//!   grant/revoke/expiry), checked as a whole because the revision is global;
//! - `register`: read/write/cas on one register, for Jepsen's etcd logs;
//! - `kv-append`: get/put/append on string keys, partitioned per key, for Porcupine's kv logs.
//!
//! ## History formats ([`formats`])
//! - `ours`: JSON Lines with a versioned header, one Jepsen-style event per line (invoke, ok,
//!   fail, info); documented in [`formats::ours`]. The simulator writes this one.
//! - `jepsen`: Jepsen's etcd logs (register); `porcupine-kv`: Porcupine's kv logs (kv-append).
//!
//! The format is detected from the content when not given. Malformed input is a
//! [`CheckError`] naming the line and what was expected, never a panic.
//!
//! ## Command-line contract ([`check_file`])
//! `sim check FILE --model etcd|register|kv-append [--format ours|jepsen|porcupine-kv]` exits
//! with [`Report::exit_code`]: **0** linearizable, **1** not linearizable, **3** unknown (time
//! budget spent), and **2** ([`CheckError::EXIT_CODE`]) for bad input or usage.
//!
//! ## Layout
//! - [`linearizability`]: the model API ([`linearizability::Model`]), histories, the search
//!   (pure; no clock, no files), verdicts and violation reports;
//! - [`models`]: `register`, `kv_append`, `etcd`;
//! - [`formats`]: parsers (and our format's writer), format detection;
//! - [`check_file`] / [`check_text`]: what the CLI calls;
//! - [`io`]: the I/O seam (wall-clock deadline, reading files).
//!
//! Tests: `cargo test -p detcd-check` (Porcupine's corpus with its verdicts, ok/bad pairs per
//! model, fixed-seed property tests, end-to-end). Benchmark: `cargo run --release -p
//! detcd-check --example bench_check` (results in `sim/check/BENCH.md`).
//!
//! ## The other checks of a run
//! Checks over the nodes' event logs (Raft: one leader per term, terms never go back, committed
//! entries never change, members' `HashKV` agree; watch guarantees; lease expiry; liveness) live
//! in the simulator, `sim/src/checks/`, because their input is the simulator's event log; each
//! states what it proves in its module doc, as this crate does (lock exclusion too).
//!
//! The clock and the file system are touched only in [`io`] (the I/O seam).

mod api;
pub mod formats;
pub mod io;
pub mod linearizability;
pub mod models;

pub use api::{check_file, check_text, CheckError, Report};
pub use formats::Format;
pub use linearizability::Verdict;
pub use models::ModelKind;
