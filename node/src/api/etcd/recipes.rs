//! The building blocks of etcd's client-side concurrency recipes (`clientv3/concurrency`), run
//! inside the server for the Lock and Election services, as etcd runs them over an in-process
//! client: linearizable reads, transactions and deletes through Raft, and a cursor over the change
//! feed to wait for keys to go away.

use super::Shared;
use crate::state::apply;
use crate::error::ApiError;
use crate::state::mvcc::{ChangeLimits, Event, EventKind, MvccError};
use crate::pb::etcdserverpb::{
    compare, request_op, DeleteRangeRequest, LeaseGrantRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest,
    TxnResponse,
};
use crate::pb::etcdserverpb::{range_request::SortOrder, range_request::SortTarget, Compare};
use crate::state::request::{Applied, Op};
use crate::types::{LeaseId, Revision};
use crate::state::watch::{BATCH_BYTES_MAX, BATCH_REVISIONS_MAX, SCAN_RECORDS_MAX};

/// The TTL of the lease a Lock or Campaign request without a lease gets (etcd's session default).
pub const SESSION_TTL_S: i64 = 60;

/// The end of the range of keys with prefix `key` (etcd `GetPrefixRangeEnd`).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A linearizable range read, if the caller may read the range.
pub async fn get(shared: &Shared, r: RangeRequest) -> Result<RangeResponse, ApiError> {
    shared.read_barrier().await?;
    let state = shared.state();
    crate::state::auth::requests::check_range(&state.auth, shared.caller.as_ref(), &r)?;
    apply::range(&state.kv, &r)
}

/// The key under `prefix` with the lowest (`first`) or highest create revision, at most
/// `max_create_revision` (0: any); etcd's `WithFirstCreate` / `WithLastCreate`.
pub async fn by_create(shared: &Shared, prefix: &[u8], first: bool, max_create_revision: i64) -> Result<RangeResponse, ApiError> {
    get(
        shared,
        RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            limit: 1,
            sort_target: SortTarget::Create as i32,
            sort_order: if first { SortOrder::Ascend } else { SortOrder::Descend } as i32,
            max_create_revision,
            ..Default::default()
        },
    )
    .await
}

/// A transaction through Raft.
pub async fn txn(shared: &Shared, r: TxnRequest) -> Result<TxnResponse, ApiError> {
    apply::check_txn(&r, &shared.limits)?;
    match shared.propose(Op::Txn(r)).await? {
        Applied::Txn(resp) => Ok(resp),
        other => unreachable!("txn applied as {other:?}"),
    }
}

/// Deletes one key through Raft; returns the revision after.
pub async fn delete(shared: &Shared, key: &[u8]) -> Result<Revision, ApiError> {
    let r = DeleteRangeRequest { key: key.to_vec(), ..Default::default() };
    match shared.propose(Op::DeleteRange(r)).await? {
        Applied::DeleteRange(resp) => Ok(Revision(resp.header.map_or(0, |h| h.revision))),
        other => unreachable!("delete applied as {other:?}"),
    }
}

/// Grants a lease of `ttl_s` seconds.
pub async fn grant(shared: &Shared, ttl_s: i64) -> Result<LeaseId, ApiError> {
    let id = shared.new_lease_id();
    match shared.propose(Op::LeaseGrant(LeaseGrantRequest { ttl: ttl_s, id: id.0 })).await? {
        Applied::LeaseGrant(resp) => Ok(LeaseId(resp.id)),
        other => unreachable!("grant applied as {other:?}"),
    }
}

/// `create_revision(key) == rev`.
pub fn create_revision_is(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(rev)),
        range_end: vec![],
    }
}

pub fn op_put(key: &[u8], value: &[u8], lease: LeaseId) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(crate::pb::etcdserverpb::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease: lease.0,
            ..Default::default()
        })),
    }
}

pub fn op_get(r: RangeRequest) -> RequestOp {
    RequestOp { request: Some(request_op::Request::RequestRange(r)) }
}

pub fn op_delete(key: &[u8]) -> RequestOp {
    RequestOp { request: Some(request_op::Request::RequestDeleteRange(DeleteRangeRequest { key: key.to_vec(), ..Default::default() })) }
}

/// The range of a txn's `i`th response.
pub fn range_response(t: &TxnResponse, i: usize) -> &RangeResponse {
    match t.responses.get(i).and_then(|r| r.response.as_ref()) {
        Some(crate::pb::etcdserverpb::response_op::Response::ResponseRange(r)) => r,
        other => panic!("txn response {i} is {other:?}, not a range"),
    }
}

/// A position in the change feed of a key range: yields every change from a revision on, waiting
/// for writes when it has seen them all. The same feed, with the same guarantees, as a watcher.
pub struct Feed {
    key: Vec<u8>,
    range_end: Vec<u8>,
    next: Revision,
}

impl Feed {
    /// The changes to `key`..`range_end` from revision `from` on.
    pub fn new(key: &[u8], range_end: &[u8], from: Revision) -> Feed {
        Feed { key: key.to_vec(), range_end: range_end.to_vec(), next: Revision(from.0.max(1)) }
    }

    /// The next changes, waiting until there are some.
    ///
    /// # Errors
    /// `Compacted` if the history the feed needs was compacted; `Stopped` if the state machine went
    /// away.
    pub async fn next(&mut self, shared: &Shared) -> Result<Vec<Event>, ApiError> {
        let limits = ChangeLimits { max_revisions: BATCH_REVISIONS_MAX, max_records_scanned: SCAN_RECORDS_MAX, max_bytes: BATCH_BYTES_MAX };
        let mut progress = shared.state().subscribe();
        loop {
            let changes = shared.state().kv.changes(&self.key, &self.range_end, self.next, false, limits).map_err(|e| match e {
                MvccError::Compacted => ApiError::Compacted,
                MvccError::FutureRevision => unreachable!("the change feed reads no future revision"),
            })?;
            assert!(changes.next >= self.next);
            let advanced = changes.next > self.next;
            self.next = changes.next;
            if !changes.events.is_empty() {
                return Ok(changes.events);
            }
            if !advanced {
                tokio::select! {
                    biased;
                    _ = shared.stopped() => return Err(ApiError::Stopped),
                    changed = progress.changed() => if changed.is_err() { return Err(ApiError::Stopped) },
                }
            }
        }
    }
}

/// Waits until `key` is deleted at or after revision `from` (etcd's `waitDelete`).
pub async fn wait_delete(shared: &Shared, key: &[u8], from: Revision) -> Result<(), ApiError> {
    let mut feed = Feed::new(key, &[], from);
    loop {
        if feed.next(shared).await?.iter().any(|e| e.kind == EventKind::Delete) {
            return Ok(());
        }
    }
}

/// Waits until no key under `prefix` created at or before `max_create_revision` is left (etcd's
/// `waitDeletes`: the waiters ahead in line are gone). Returns the revision of the final read.
pub async fn wait_deletes(shared: &Shared, prefix: &[u8], max_create_revision: i64) -> Result<Revision, ApiError> {
    loop {
        let r = by_create(shared, prefix, false, max_create_revision).await?;
        let rev = Revision(r.header.as_ref().map_or(0, |h| h.revision));
        let Some(last) = r.kvs.first() else { return Ok(rev) };
        wait_delete(shared, &last.key, rev).await?;
    }
}
