//! detcd-node: one member of a detcd cluster.
//!
//! The same code runs in the real `detcd` binary and inside the madsim simulator. It touches the
//! outside world only through three seams: [`clock`] (time), [`durable::disk`] (files) and
//! [`consensus::transport`] plus the servers in [`node`] (network). Randomness is a seed in
//! [`config::NodeConfig`]. Everything else is deterministic given its inputs.
//!
//! Layers, outermost first; a layer imports only from the layers below it and from the shared
//! leaves (docs/ARCHITECTURE.md draws it):
//! - [`node`]: wires a member together and starts its tasks.
//! - [`api`]: the client-facing faces ([`api::etcd`]: etcd's v3 gRPC services).
//! - [`consensus`]: the Raft Ready loop (persist, send, apply) around raft-rs's `RawNode`, and
//!   the peer transport.
//! - [`state`]: the replicated state machine (pure): what an entry carries, etcd's KV semantics,
//!   the MVCC store, leases, watches, snapshots of it; and [`durable`]: the log's storage (disk
//!   seam, WAL, snapshot files). Neither imports the other.
//! - Shared leaves, imported from anywhere: [`clock`], [`config`], [`error`], [`events`],
//!   [`types`], [`ids`], [`bugs`], [`feed`], [`pb`], [`trace_context`].

pub mod api;
pub mod consensus;
pub mod durable;
pub mod node;
pub mod state;

pub mod bugs;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod feed;
pub mod ids;
pub mod metrics;
pub mod pb;
pub mod trace_context;
pub mod types;
