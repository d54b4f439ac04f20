//! `etcdserverpb.Maintenance`: Status (for `etcdctl endpoint status`), Alarm list, HashKV, Hash and
//! a no-op Defragment. Snapshot download, MoveLeader and Downgrade are not built yet.

use super::{unimplemented, Shared};
use crate::pb::etcdserverpb::maintenance_server::Maintenance;
use crate::pb::etcdserverpb::{
    alarm_request::AlarmAction, AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest, MoveLeaderResponse,
    SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use crate::error::ApiError;
use crate::state::auth::AuthError;
use crate::types::Revision;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The version `Maintenance.Status` reports: the etcd API level we implement, with detcd's own
/// version as semver build metadata, so that clients comparing versions see 3.4 and people see detcd.
pub const SERVER_VERSION: &str = concat!("3.4.23+detcd.", env!("CARGO_PKG_VERSION"));

pub struct MaintenanceService {
    pub shared: Shared,
}

impl MaintenanceService {
    /// What etcd's maintenance service asks of Defragment, Hash, HashKV, Snapshot and MoveLeader
    /// once auth is enabled: a caller with the `root` role. Its errors pass through unconverted
    /// (gRPC `Unknown`, `auth: ...`), as etcd's do.
    async fn admin<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let shared = self.shared.for_request(req.metadata()).await.map_err(|e| match e {
            ApiError::InvalidAuthToken => AuthError::InvalidAuthToken.raw(),
            e => e,
        })?;
        shared.check_admin().map_err(AuthError::raw)?;
        Ok(())
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, req: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        let r = req.into_inner();
        match AlarmAction::try_from(r.action) {
            // No alarm is ever raised in this build (no space quota, no corruption check yet), so the
            // list is truthfully empty and deactivating is a no-op.
            Ok(AlarmAction::Get) | Ok(AlarmAction::Deactivate) => {
                let rev = self.shared.state().kv.current_revision();
                Ok(Response::new(AlarmResponse { header: self.shared.header(rev), alarms: vec![] }))
            }
            Ok(AlarmAction::Activate) => Err(unimplemented("raising alarms")),
            Err(_) => Err(Status::invalid_argument("etcdserver: unknown alarm action")),
        }
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let status = *self.shared.status.borrow();
        let (rev, db_size) = {
            let state = self.shared.state();
            (state.kv.current_revision(), state.kv.approximate_size() as i64)
        };
        Ok(Response::new(StatusResponse {
            header: self.shared.header(rev),
            version: SERVER_VERSION.to_string(),
            db_size,
            leader: status.leader.map_or(0, |l| l.0),
            raft_index: status.commit.0,
            raft_term: status.term.0,
            raft_applied_index: status.applied.0,
            errors: vec![],
            db_size_in_use: db_size,
            is_learner: false,
            ..Default::default()
        }))
    }

    async fn defragment(&self, req: Request<DefragmentRequest>) -> Result<Response<DefragmentResponse>, Status> {
        self.admin(&req).await?;
        // The store lives in memory and compaction frees space at once: nothing to defragment.
        let rev = self.shared.state().kv.current_revision();
        Ok(Response::new(DefragmentResponse { header: self.shared.header(rev) }))
    }

    async fn hash(&self, req: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.admin(&req).await?;
        let state = self.shared.state();
        let rev = state.kv.current_revision();
        let hash = state.kv.hash_kv(Revision(0)).map_err(ApiError::from)?;
        Ok(Response::new(HashResponse { header: self.shared.header(rev), hash }))
    }

    async fn hash_kv(&self, req: Request<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let state = self.shared.state();
        let current = state.kv.current_revision();
        // Revision 0 means "current" to hash_kv too, and stays valid after compacting at current.
        let hash = state.kv.hash_kv(Revision(r.revision)).map_err(ApiError::from)?;
        let at = if r.revision == 0 { current } else { Revision(r.revision) };
        Ok(Response::new(HashKvResponse {
            header: self.shared.header(current),
            hash,
            compact_revision: state.kv.compacted_revision().0,
            hash_revision: at.0,
        }))
    }

    type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static>>;

    async fn snapshot(&self, req: Request<SnapshotRequest>) -> Result<Response<Self::SnapshotStream>, Status> {
        self.admin(&req).await?;
        Err(unimplemented("snapshot download"))
    }

    async fn move_leader(&self, req: Request<MoveLeaderRequest>) -> Result<Response<MoveLeaderResponse>, Status> {
        self.admin(&req).await?;
        Err(unimplemented("move-leader"))
    }

    async fn downgrade(&self, _: Request<DowngradeRequest>) -> Result<Response<DowngradeResponse>, Status> {
        Err(unimplemented("downgrade"))
    }
}
