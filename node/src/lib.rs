//! detcd-node: one member of a detcd cluster.
//!
//! The same code runs in the real `detcd` binary and inside the madsim simulator. It touches the
//! outside world only through three seams: [`clock`] (time), [`storage`] (disk) and
//! [`transport`] plus the gRPC servers in [`node`] (network). Randomness is a seed in
//! [`config::NodeConfig`]. Everything else is deterministic given its inputs.
//!
//! Layers, outermost first:
//! - [`node`]: wires a member together and starts its tasks.
//! - [`server`]: etcd's v3 gRPC services (validation, headers, waiting for Raft).
//! - [`driver`]: the Raft Ready loop (persist, send, apply) around raft-rs's `RawNode`.
//! - [`state`] and [`apply`]: the replicated state machine and etcd's KV semantics; [`lease`]:
//!   the lease table (replicated) and the leader's lease timers; [`watch`]: watchers fed from the
//!   store's history.
//! - [`mvcc`]: the multi-version key-value store (pure).

pub mod apply;
pub mod bugs;
pub mod clock;
pub mod config;
pub mod disk;
pub mod driver;
pub mod error;
pub mod events;
pub mod feed;
pub mod ids;
pub mod lease;
pub mod mvcc;
pub mod node;
pub mod pb;
pub mod request;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod transport;
pub mod types;
pub mod watch;
pub mod wal;
pub mod wal_log;
