//! The client-facing etcd v3 gRPC API. Each service is one file; they share a [`Shared`] context that
//! talks to the driver (proposals, ReadIndex) and reads the state machine.
//!
//! Services served so far: `KV`, `Cluster`, `Maintenance`. Every RPC of a served service is
//! implemented (madsim ignores default stubs); those whose feature does not exist yet answer
//! `Unimplemented` with a message saying so, never a fake success.

mod cluster;
mod kv;
mod maintenance;

pub use cluster::ClusterService;
pub use kv::KvService;
pub use maintenance::MaintenanceService;

use crate::clock::Clock;
use crate::config::{Limits, RaftTiming};
use crate::driver::Command;
use crate::error::ApiError;
use crate::events::NodeStatus;
use crate::pb::etcdserverpb::ResponseHeader;
use crate::request::{Applied, Op};
use crate::state::StateMachine;
use crate::types::{ClusterId, MemberId, Revision};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot, watch};

/// What every service needs. Cheap to clone.
#[derive(Clone)]
pub struct Shared {
    pub id: MemberId,
    pub cluster_id: ClusterId,
    pub state: Arc<Mutex<StateMachine>>,
    pub commands: mpsc::Sender<Command>,
    pub status: watch::Receiver<NodeStatus>,
    pub clock: Clock,
    pub timing: RaftTiming,
    pub limits: Limits,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, StateMachine> {
        self.state.lock().expect("state lock")
    }

    /// A response header as etcd fills it: cluster, this member, the given revision, current term.
    pub fn header(&self, revision: Revision) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: self.cluster_id.0,
            member_id: self.id.0,
            revision: revision.0,
            raft_term: self.status.borrow().term.0,
        })
    }

    /// Replicates `op` and waits until it is applied here.
    ///
    /// # Errors
    /// `NoLeader` when no leader is known, `Timeout` after etcd's request timeout, `Stopped` when the
    /// node shuts down, or the error applying the request produced.
    pub async fn propose(&self, op: Op) -> Result<Applied, ApiError> {
        if self.status.borrow().leader.is_none() {
            return Err(ApiError::NoLeader);
        }
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Propose { op, reply }).await.map_err(|_| ApiError::Stopped)?;
        match self.clock.timeout(self.timing.request_timeout(), rx).await {
            None => Err(ApiError::Timeout),
            Some(Err(_)) => Err(ApiError::Stopped),
            Some(Ok(result)) => result,
        }
    }

    /// Returns once this member has applied everything committed before the call (ReadIndex): a read
    /// after this sees every write acknowledged before the read began (linearizable).
    pub async fn read_barrier(&self) -> Result<(), ApiError> {
        if self.status.borrow().leader.is_none() {
            return Err(ApiError::NoLeader);
        }
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::ReadIndex { reply }).await.map_err(|_| ApiError::Stopped)?;
        match self.clock.timeout(self.timing.request_timeout(), rx).await {
            None => Err(ApiError::Timeout),
            Some(Err(_)) => Err(ApiError::Stopped),
            Some(Ok(result)) => result,
        }
    }
}

/// The answer for an RPC whose feature does not exist yet.
pub fn unimplemented(what: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("detcd: {what} is not implemented yet"))
}
