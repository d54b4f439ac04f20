//! `v3lockpb.Lock`: a distributed mutex over leases, served with etcd's own recipe
//! (`clientv3/concurrency.Mutex`, run server-side as etcd's `v3lock` does):
//!
//! 1. the caller's key is `name/<lease hex>`, put with its lease if absent (a txn on its
//!    create revision, so a retried request reuses the key);
//! 2. the holder is the key under `name/` with the lowest create revision;
//! 3. a waiter waits for every key created before its own to be deleted (released, or its lease
//!    ended), then holds the lock.
//!
//! A request that is cancelled while waiting deletes its key (etcd unlocks on a failed wait), so it
//! leaves no phantom waiter behind. A waiter whose own key vanished meanwhile (its lease expired)
//! gets "session expired" rather than a lock it does not hold (etcd 3.5 checks this too).

use super::recipes::{self, create_revision_is, op_get, op_put, prefix_end, range_response, SESSION_TTL_S};
use super::Shared;
use crate::error::ApiError;
use crate::pb::etcdserverpb::{RangeRequest, TxnRequest};
use crate::pb::v3lockpb::lock_server::Lock;
use crate::pb::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use crate::types::{LeaseId, Revision};
use tonic::{Request, Response, Status};

pub struct LockService {
    pub shared: Shared,
}

/// Deletes a waiter's key if the wait does not finish (the request was cancelled or failed).
pub(super) struct ReleaseOnDrop {
    pub shared: Shared,
    pub key: Vec<u8>,
    pub armed: bool,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let (shared, key) = (self.shared.clone(), std::mem::take(&mut self.key));
            tokio::spawn(async move {
                let _ = recipes::delete(&shared, &key).await;
            });
        }
    }
}

/// The key of lease `lease` under `prefix` (etcd formats the lease in lower-case hex, unpadded).
pub(super) fn waiter_key(prefix: &[u8], lease: LeaseId) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{:x}", lease.0).as_bytes());
    key
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, req: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let shared = &self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        let lease = if r.lease == 0 { recipes::grant(shared, SESSION_TTL_S).await? } else { LeaseId(r.lease) };
        let mut prefix = r.name.clone();
        prefix.push(b'/');
        let key = waiter_key(&prefix, lease);
        let owner = RangeRequest {
            key: prefix.clone(),
            range_end: prefix_end(&prefix),
            limit: 1,
            sort_target: crate::pb::etcdserverpb::range_request::SortTarget::Create as i32,
            sort_order: crate::pb::etcdserverpb::range_request::SortOrder::Ascend as i32,
            ..Default::default()
        };
        let t = recipes::txn(
            shared,
            TxnRequest {
                compare: vec![create_revision_is(&key, 0)],
                success: vec![op_put(&key, b"", lease), op_get(owner.clone())],
                failure: vec![op_get(RangeRequest { key: key.clone(), ..Default::default() }), op_get(owner)],
            },
        )
        .await?;
        let txn_rev = t.header.as_ref().map_or(0, |h| h.revision);
        let my_rev = if t.succeeded {
            txn_rev
        } else {
            range_response(&t, 0).kvs.first().map_or(txn_rev, |kv| kv.create_revision)
        };
        let holder = range_response(&t, 1).kvs.first().map(|kv| kv.create_revision);
        let mut rev = Revision(txn_rev);
        if holder.is_some_and(|h| h != my_rev) {
            let mut release = ReleaseOnDrop { shared: shared.clone(), key: key.clone(), armed: true };
            rev = recipes::wait_deletes(shared, &prefix, my_rev - 1).await?;
            let mine = recipes::get(shared, RangeRequest { key: key.clone(), ..Default::default() }).await?;
            if mine.kvs.first().is_none_or(|kv| kv.create_revision != my_rev) {
                return Err(ApiError::Unknown("concurrency: session expired".into()).into());
            }
            release.armed = false;
        }
        Ok(Response::new(LockResponse { header: shared.header(rev), key }))
    }

    async fn unlock(&self, req: Request<UnlockRequest>) -> Result<Response<UnlockResponse>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        let rev = recipes::delete(&shared, &req.into_inner().key).await?;
        Ok(Response::new(UnlockResponse { header: self.shared.header(rev) }))
    }
}
