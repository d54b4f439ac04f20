//! The client-facing etcd v3 gRPC API. Each service is one file; they share a [`Shared`] context that
//! talks to the driver (proposals, ReadIndex) and reads the state machine.
//!
//! Services: `KV`, `Watch`, `Lease`, `Cluster`, `Maintenance`, `Auth`, and the concurrency services
//! `v3lockpb.Lock` and `v3electionpb.Election`. Every RPC of a served service is
//! implemented (madsim ignores default stubs); those whose feature does not exist yet answer
//! `Unimplemented` with a message saying so, never a fake success.

mod auth;
mod authz;
mod cluster;
mod election;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod recipes;
mod watch;

pub use auth::AuthService;
pub use cluster::ClusterService;
pub use election::ElectionService;
pub use lock::LockService;
pub use kv::KvService;
pub use lease::{run_lessor, LeaseService};
pub use maintenance::MaintenanceService;
pub use watch::WatchService;

use crate::bugs::{Bug, Bugs};
use crate::clock::Clock;
use crate::config::{AuthConfig, Limits, RaftTiming};
use crate::consensus::driver::Command;
use crate::error::ApiError;
use crate::events::NodeStatus;
use crate::pb::etcdserverpb::ResponseHeader;
use crate::state::auth::Caller;
use crate::state::request::{Applied, Op, RequestIds};
use rand::rngs::StdRng;
use crate::state::StateMachine;
use crate::trace_context::TraceId;
use crate::types::{ClusterId, LeaseId, MemberId, Revision, Term};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
use tokio::sync::{mpsc, oneshot};

/// What every service needs. Cheap to clone.
#[derive(Clone)]
pub struct Shared {
    pub id: MemberId,
    pub cluster_id: ClusterId,
    pub state: Arc<Mutex<StateMachine>>,
    pub commands: mpsc::Sender<Command>,
    pub status: tokio::sync::watch::Receiver<NodeStatus>,
    pub clock: Clock,
    pub timing: RaftTiming,
    pub limits: Limits,
    /// Picks lease IDs for grants that name none (etcd uses its request ID generator).
    pub lease_ids: Arc<Mutex<RequestIds>>,
    /// A connection to the leader's client URL, for what only the leader answers (keep-alives and
    /// TTLs of leases). Replaced when the leader's URL changes.
    pub leader_link: Arc<Mutex<Option<(String, Channel)>>>,
    /// Flips to true when the member stops. Streams and waits that could last forever (watches,
    /// keep-alives, observes, lock and campaign waits) end then: a graceful server shutdown waits
    /// for every open request.
    pub shutdown: crate::feed::FeedRx<bool>,
    /// Injected bugs (simulation only, see `crate::bugs`).
    pub bugs: Bugs,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub auth: AuthConfig,
    /// Draws token prefixes and password salts: seeded from the node's seed (the randomness seam).
    pub rng: Arc<Mutex<StdRng>>,
    /// Who the request being served runs as (`None` on the shared copy, and for a client without
    /// a token or certificate): see [`Shared::for_request`]. Proposals carry it.
    pub caller: Option<Caller>,
}

/// How long dialing the leader may take.
const LEADER_DIAL_TIMEOUT: Duration = Duration::from_secs(1);

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, StateMachine> {
        self.state.lock().expect("state lock")
    }

    /// Resolves when the member stops.
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The store's current revision.
    pub fn current_revision(&self) -> Revision {
        self.state().kv.current_revision()
    }

    /// A lease ID for a grant that names none: positive (etcd keeps only 63 bits) and not in use.
    pub fn new_lease_id(&self) -> LeaseId {
        let mut ids = self.lease_ids.lock().expect("lease id lock");
        loop {
            let id = LeaseId((ids.next_id() & (i64::MAX as u64)) as i64);
            if id.0 != 0 && !self.state().leases.contains(id) {
                return id;
            }
        }
    }

    /// A channel to the current leader's client API; `None` if there is no leader, this member
    /// leads, the leader has not published its client URLs yet, or it cannot be reached.
    pub async fn leader_channel(&self) -> Option<Channel> {
        let leader = self.status.borrow().leader.filter(|l| *l != self.id)?;
        let url = self.state().members.get(&leader)?.client_urls.first()?.clone();
        if let Some((cached, ch)) = self.leader_link.lock().expect("leader link lock").as_ref() {
            if *cached == url {
                return Some(ch.clone());
            }
        }
        let endpoint = Endpoint::from_shared(url.clone()).ok()?.connect_timeout(LEADER_DIAL_TIMEOUT).timeout(self.timing.request_timeout());
        let ch = endpoint.connect().await.ok()?;
        *self.leader_link.lock().expect("leader link lock") = Some((url, ch.clone()));
        Some(ch)
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
        self.propose_traced(op, None).await
    }

    /// [`Shared::propose`] for a client call in trace `trace` (its `traceparent`, see
    /// `crate::trace_context`): the entry carries the trace ID.
    pub async fn propose_traced(&self, op: Op, trace: Option<TraceId>) -> Result<Applied, ApiError> {
        let caller = self.caller.clone();
        self.ask(|reply| Command::Propose { op, trace, caller, reply }).await
    }

    /// Returns once this member has applied everything committed before the call (ReadIndex): a read
    /// after this sees every write acknowledged before the read began (linearizable).
    pub async fn read_barrier(&self) -> Result<(), ApiError> {
        if self.bugs.has(Bug::StaleFollowerRead) && self.status.borrow().role != crate::events::Role::Leader {
            // BUG stale-follower-read: a follower trusts its own state; no ReadIndex round.
            return Ok(());
        }
        self.ask(|reply| Command::ReadIndex { reply }).await
    }

    /// Confirms that this member still leads in `term`, by a ReadIndex round begun now (a quorum
    /// acknowledged this leader after the call), and that it has applied everything committed
    /// before it (etcd's `ensureLeadership`, PR 16822). `false` if the round fails or the member
    /// no longer leads in `term` afterwards.
    pub async fn ensure_leadership(&self, term: Term) -> bool {
        if self.status.borrow().term != term || self.read_barrier().await.is_err() {
            return false;
        }
        let s = *self.status.borrow();
        s.role == crate::events::Role::Leader && s.term == term
    }

    /// Sends the driver a command and waits for its answer: `NoLeader` at once when no leader is
    /// known, `Timeout` after etcd's request timeout, `Stopped` if the driver is gone.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, ApiError>>) -> Command,
    ) -> Result<T, ApiError> {
        // With serve-after-step-down, the driver decides (a node that led in this term answers).
        if self.status.borrow().leader.is_none() && !self.bugs.has(Bug::ServeAfterStepDown) {
            return Err(ApiError::NoLeader);
        }
        let (reply, rx) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| ApiError::Stopped)?;
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
