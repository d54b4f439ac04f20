//! `v3electionpb.Election`: leader election over leases, served with etcd's own recipe
//! (`clientv3/concurrency.Election`, run server-side as etcd's `v3election` does). A candidate's
//! key is `name/<lease hex>` holding its value; the leader is the key under `name/` with the lowest
//! create revision; a candidate is elected once every key created before its own is gone.
//!
//! Errors are etcd's, including its plain (code Unknown) ones: "election: not leader",
//! "election: no leader", `"leader" field must be provided`.

use super::lock::{waiter_key, ReleaseOnDrop};
use super::recipes::{self, by_create, create_revision_is, op_delete, op_get, op_put, prefix_end, range_response, Feed, SESSION_TTL_S};
use super::Shared;
use crate::error::ApiError;
use crate::state::mvcc::EventKind;
use crate::pb::etcdserverpb::{RangeRequest, TxnRequest};
use crate::pb::v3electionpb::election_server::Election;
use crate::pb::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest, ProclaimResponse,
    ResignRequest, ResignResponse,
};
use crate::types::{LeaseId, Revision};
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Leader changes buffered for one Observe stream, at most.
const OBSERVE_BUFFER_MAX: usize = 16;

fn not_leader() -> ApiError {
    ApiError::Unknown("election: not leader".into())
}

fn no_leader() -> ApiError {
    ApiError::Unknown("election: no leader".into())
}

fn missing_leader() -> ApiError {
    ApiError::Unknown("\"leader\" field must be provided".into())
}

fn prefix_of(name: &[u8]) -> Vec<u8> {
    let mut p = name.to_vec();
    p.push(b'/');
    p
}

pub struct ElectionService {
    pub shared: Shared,
}

/// Sets the leader's value if `leader` still is the leader key (same create revision).
async fn proclaim(shared: &Shared, leader: &LeaderKey, value: &[u8]) -> Result<Revision, ApiError> {
    let t = recipes::txn(
        shared,
        TxnRequest {
            compare: vec![create_revision_is(&leader.key, leader.rev)],
            success: vec![op_put(&leader.key, value, LeaseId(leader.lease))],
            failure: vec![],
        },
    )
    .await?;
    if !t.succeeded {
        return Err(not_leader());
    }
    Ok(Revision(t.header.map_or(0, |h| h.revision)))
}

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(&self, req: Request<CampaignRequest>) -> Result<Response<CampaignResponse>, Status> {
        let shared = &self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        let lease = if r.lease == 0 { recipes::grant(shared, SESSION_TTL_S).await? } else { LeaseId(r.lease) };
        let prefix = prefix_of(&r.name);
        let key = waiter_key(&prefix, lease);
        let t = recipes::txn(
            shared,
            TxnRequest {
                compare: vec![create_revision_is(&key, 0)],
                success: vec![op_put(&key, &r.value, lease)],
                failure: vec![op_get(RangeRequest { key: key.clone(), ..Default::default() })],
            },
        )
        .await?;
        let header_rev = t.header.as_ref().map_or(0, |h| h.revision);
        let mut leader = LeaderKey { name: r.name.clone(), key: key.clone(), rev: header_rev, lease: lease.0 };
        let mut release = ReleaseOnDrop { shared: shared.clone(), key: key.clone(), armed: true };
        if !t.succeeded {
            // Campaigning again with the same lease: keep the key, update the value if it differs.
            let kv = range_response(&t, 0).kvs.first().cloned().ok_or_else(not_leader)?;
            leader.rev = kv.create_revision;
            if kv.value != r.value {
                proclaim(shared, &leader, &r.value).await?;
            }
        }
        recipes::wait_deletes(shared, &prefix, leader.rev - 1).await?;
        release.armed = false;
        Ok(Response::new(CampaignResponse { header: shared.header(Revision(header_rev)), leader: Some(leader) }))
    }

    async fn proclaim(&self, req: Request<ProclaimRequest>) -> Result<Response<ProclaimResponse>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        let leader = r.leader.ok_or_else(missing_leader)?;
        let rev = proclaim(&shared, &leader, &r.value).await?;
        Ok(Response::new(ProclaimResponse { header: self.shared.header(rev) }))
    }

    async fn leader(&self, req: Request<LeaderRequest>) -> Result<Response<LeaderResponse>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        let r = by_create(&shared, &prefix_of(&req.into_inner().name), true, 0).await?;
        let rev = Revision(r.header.as_ref().map_or(0, |h| h.revision));
        let kv = r.kvs.into_iter().next().ok_or_else(no_leader)?;
        Ok(Response::new(LeaderResponse { header: self.shared.header(rev), kv: Some(kv) }))
    }

    type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send + 'static>>;

    async fn observe(&self, req: Request<LeaderRequest>) -> Result<Response<Self::ObserveStream>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        let prefix = prefix_of(&req.into_inner().name);
        let (tx, rx) = mpsc::channel(OBSERVE_BUFFER_MAX);
        tokio::spawn(async move {
            let result = tokio::select! {
                biased;
                _ = tx.closed() => Ok(()),
                _ = shared.stopped() => Err(ApiError::Stopped),
                r = observe(&shared, &prefix, &tx) => r,
            };
            if let Err(e) = result {
                // Best effort: never wait on a client that stopped reading.
                let _ = tx.try_send(Err(e.into()));
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn resign(&self, req: Request<ResignRequest>) -> Result<Response<ResignResponse>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        let leader = req.into_inner().leader.ok_or_else(missing_leader)?;
        let t = recipes::txn(
            &shared,
            TxnRequest { compare: vec![create_revision_is(&leader.key, leader.rev)], success: vec![op_delete(&leader.key)], failure: vec![] },
        )
        .await?;
        let rev = Revision(t.header.map_or(0, |h| h.revision));
        Ok(Response::new(ResignResponse { header: self.shared.header(rev) }))
    }
}

/// etcd's `Election.observe`: sends the current leader's key-value, then every new value it
/// proclaims; when it goes, the next leader, and so on. Ends only with an error or the client.
async fn observe(shared: &Shared, prefix: &[u8], tx: &mpsc::Sender<Result<LeaderResponse, Status>>) -> Result<(), ApiError> {
    loop {
        let r = by_create(shared, prefix, true, 0).await?;
        let rev = Revision(r.header.as_ref().map_or(0, |h| h.revision));
        let (kv, at) = match r.kvs.into_iter().next() {
            Some(kv) => (kv, rev),
            None => {
                // No leader: wait for the first put under the prefix.
                let mut feed = Feed::new(prefix, &prefix_end(prefix), Revision(rev.0 + 1));
                loop {
                    let events = feed.next(shared).await?;
                    if let Some(e) = events.into_iter().find(|e| e.kind == EventKind::Put) {
                        let at = e.kv.mod_revision;
                        break (crate::state::apply::to_pb(e.kv), at);
                    }
                }
            }
        };
        let key = kv.key.clone();
        if tx.send(Ok(LeaderResponse { header: shared.header(at), kv: Some(kv) })).await.is_err() {
            return Ok(());
        }
        // Follow the leader's key until it is deleted.
        let mut feed = Feed::new(&key, &[], Revision(at.0 + 1));
        'follow: loop {
            for e in feed.next(shared).await? {
                if e.kind == EventKind::Delete {
                    break 'follow;
                }
                let at = e.kv.mod_revision;
                if tx.send(Ok(LeaderResponse { header: shared.header(at), kv: Some(crate::state::apply::to_pb(e.kv)) })).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}
