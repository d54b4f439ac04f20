//! Consensus: the Raft driver and the peer transport (the network seam between members).
//!
//! - [`driver`]: the one task that owns raft-rs's `RawNode` and does its I/O, in the order
//!   persist → send → apply;
//! - [`transport`]: Raft messages between members over gRPC;
//! - [`peer_guard`]: the checks every message from a peer passes before raft-rs sees it.
//!
//! The folder is not called `raft/`: that name is the raft-rs crate's, which every file here
//! imports (`raft::RawNode`), and `crate::raft` beside `raft::` would read as one thing.

pub mod driver;
pub mod peer_guard;
pub mod transport;
