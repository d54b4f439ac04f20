//! The faces a member shows its clients, each a translation onto the one state machine below:
//! - [`etcd`]: etcd's v3 gRPC services (KV, Watch, Lease, Cluster, Maintenance, Lock, Election).
//! - [`metrics`]: `/metrics` (Prometheus) and `/health`, as etcd serves them.
//!
//! An API validates a request, hands it to the driver ([`crate::consensus`]) as an operation of
//! the replicated state machine ([`crate::state`]), and renders the result in its own wire format.
//! It never holds a second copy of the semantics.

pub mod etcd;
#[cfg(not(madsim))]
pub mod grpc_metrics;
pub mod metrics;
