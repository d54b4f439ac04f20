//! detcd-node: one member of a detcd cluster.
pub mod mvcc;
pub mod types;
