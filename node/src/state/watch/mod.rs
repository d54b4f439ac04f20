//! Watches: streams of the changes to a key or range, from a start revision on (etcd `mvcc/watch*.go`,
//! `api/v3rpc/watch.go`).
//!
//! Every watcher reads its events from the store's history through the change feed
//! ([`crate::state::mvcc::Store::changes`]), from the next revision it has not yet sent. A write only bumps
//! the state machine's [`Progress`](crate::state::Progress); each watch stream then reads what its
//! watchers have not seen, as far as its client takes responses. So:
//! - a slow watcher never blocks a write or another stream: nothing is pushed into its buffer; it
//!   just reads further back in the history (etcd's "unsynced" watchers do the same), bounded by
//!   [`SEND_BUFFER_MAX`] responses of at most [`BATCH_BYTES_MAX`] each;
//! - catching up from history and following live writes are the same code path, so they cannot
//!   disagree.
//!
//! The guarantees etcd documents, and where each comes from:
//! - **ordered**: events come in revision order ([`crate::state::mvcc::Changes`]);
//! - **unique**: a watcher's `next` revision only moves forward past what it sent;
//! - **atomic**: a batch ends only between revisions, so one revision's events share a response
//!   (unless the watcher asked for `fragment`, which splits an oversized response into pieces
//!   marked `fragment` that the client reassembles);
//! - **reliable**: `next` moves only over revisions whose events in range were all sent; a watcher
//!   whose history was compacted away is cancelled with `compact_revision`, never skipped ahead;
//! - **resumable**: a client that restarts a watch at the last revision it saw + 1 gets exactly what
//!   follows (same feed, same order);
//! - **bookmarkable**: a progress notification (periodic with `progress_notify`, or asked for with a
//!   progress request) carries a revision only once the watchers have sent everything up to it.

mod stream;
#[cfg(test)]
mod tests;

pub use stream::{WatchLimits, WatchStream, PROGRESS_RESPONSE_ID};

use std::time::Duration;

/// Responses a watch stream has produced that its client has not yet taken, at most (etcd's
/// watch stream channel holds 128 smaller ones).
pub const SEND_BUFFER_MAX: usize = 16;
/// Bytes of keys and values read for one response, at most (a single larger revision still comes
/// whole: atomicity wins).
pub const BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Revisions with events in one response, at most (etcd `watchBatchMaxRevs`).
pub const BATCH_REVISIONS_MAX: usize = 1000;
/// Records one read may look at, at most: bounds how long a stream holds the state lock.
pub const SCAN_RECORDS_MAX: usize = 10_000;
/// Watchers one stream may hold, at most.
pub const WATCHERS_PER_STREAM_MAX: usize = 10_000;
/// Control responses (created, canceled, progress) queued on one stream, at most: past that the
/// stream stops reading client requests until its client takes responses.
pub const CONTROL_QUEUE_MAX: usize = 64;
/// How often a watcher with `progress_notify` hears the current revision when nothing happened in
/// its range (etcd `progressReportInterval`).
pub const PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);
