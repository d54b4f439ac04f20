//! etcd's KV semantics on top of the MVCC store: validation, Range options, Put, DeleteRange, Txn
//! and Compaction, with etcd's results and errors (etcd `server/etcdserver/apply.go`,
//! `api/v3rpc/key.go`). Pure and synchronous: the driver calls it when an entry is applied, the read
//! path calls it for Range and read-only Txn.
//!
//! Response headers carry only `revision` here; the gRPC layer fills in cluster, member and term.

use crate::config::Limits;
use crate::error::ApiError;
use crate::state::lease::LeaseTable;
use crate::state::mvcc::{KeyValue, Store, WriteTxn};
use crate::pb::etcdserverpb::{
    compare, request_op, response_op, Compare, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp,
    TxnRequest, TxnResponse,
};
use crate::pb::mvccpb;
use crate::types::{LeaseId, Revision};
use std::cmp::Ordering;
use std::collections::BTreeSet;

fn header(rev: Revision) -> Option<ResponseHeader> {
    Some(ResponseHeader { revision: rev.0, ..Default::default() })
}

pub(crate) fn to_pb(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision.0,
        mod_revision: kv.mod_revision.0,
        version: kv.version,
        value: kv.value,
        lease: kv.lease.0,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation before a request is proposed (etcd `api/v3rpc/key.go`: checkRangeRequest & co).

pub fn check_range(r: &RangeRequest) -> Result<(), ApiError> {
    if r.key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    if !(0..=2).contains(&r.sort_order) {
        return Err(ApiError::InvalidArgument("invalid sort option".into()));
    }
    if !(0..=4).contains(&r.sort_target) {
        return Err(ApiError::InvalidArgument("invalid sort option".into()));
    }
    Ok(())
}

pub fn check_put(r: &PutRequest) -> Result<(), ApiError> {
    if r.key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(ApiError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(ApiError::LeaseProvided);
    }
    Ok(())
}

pub fn check_delete(r: &DeleteRangeRequest) -> Result<(), ApiError> {
    if r.key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    Ok(())
}

pub fn check_txn(r: &TxnRequest, limits: &Limits) -> Result<(), ApiError> {
    let max = limits.max_txn_ops;
    if r.compare.len() > max || r.success.len() > max || r.failure.len() > max {
        return Err(ApiError::TooManyOps);
    }
    for c in &r.compare {
        if c.key.is_empty() {
            return Err(ApiError::EmptyKey);
        }
    }
    for op in r.success.iter().chain(&r.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(q)) => check_range(q)?,
            Some(request_op::Request::RequestPut(q)) => check_put(q)?,
            Some(request_op::Request::RequestDeleteRange(q)) => check_delete(q)?,
            Some(request_op::Request::RequestTxn(q)) => check_txn(q, limits)?,
            None => return Err(ApiError::InvalidArgument("request op is empty".into())),
        }
    }
    check_intervals(&r.success)?;
    check_intervals(&r.failure)?;
    Ok(())
}

/// A key written twice in one branch, or written and deleted, is refused (etcd `checkIntervals`).
/// Returns the branch's delete ranges and put keys, nested transactions included.
/// A branch's delete ranges (`key`, `range_end`) and put keys.
type Intervals = (Vec<(Vec<u8>, Vec<u8>)>, BTreeSet<Vec<u8>>);

fn check_intervals(ops: &[RequestOp]) -> Result<Intervals, ApiError> {
    let mut dels = Vec::new();
    let mut puts = BTreeSet::new();
    for op in ops {
        match &op.request {
            Some(request_op::Request::RequestDeleteRange(d)) => dels.push((d.key.clone(), d.range_end.clone())),
            Some(request_op::Request::RequestPut(p)) if !puts.insert(p.key.clone()) => {
                return Err(ApiError::DuplicateKey);
            }
            _ => {}
        }
    }
    for op in ops {
        if let Some(request_op::Request::RequestTxn(t)) = &op.request {
            let (sd, sp) = check_intervals(&t.success)?;
            let (fd, fp) = check_intervals(&t.failure)?;
            for k in sp.iter().chain(&fp) {
                if puts.contains(k) {
                    return Err(ApiError::DuplicateKey);
                }
            }
            dels.extend(sd.into_iter().chain(fd));
            puts.extend(sp.into_iter().chain(fp));
        }
    }
    for (key, end) in &dels {
        if puts.iter().any(|p| in_range(p, key, end)) {
            return Err(ApiError::DuplicateKey);
        }
    }
    Ok((dels, puts))
}

/// Whether `k` is in etcd's range `[key, end)` (end empty: just `key`; end `\0`: from `key` on).
pub fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        k == key
    } else if end == [0] {
        k >= key
    } else {
        k >= key && k < end
    }
}

// ---------------------------------------------------------------------------------------------
// Reads.

/// Range with etcd's options. `read` is the store or an open write transaction.
pub fn range(read: &impl ReadView, r: &RangeRequest) -> Result<RangeResponse, ApiError> {
    let rev = Revision(r.revision);
    let sorted_or_filtered = r.sort_order != 0
        || r.sort_target != 0
        || r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    // Sorting or filtering needs every key before the limit applies; otherwise fetch one extra key
    // to learn whether there are more.
    let fetch_limit = if sorted_or_filtered || r.limit <= 0 { 0 } else { r.limit as usize + 1 };
    let res = read.read_range(&r.key, &r.range_end, rev, fetch_limit, r.count_only)?;
    let mut kvs = res.kvs;
    kvs.retain(|kv| {
        (r.min_mod_revision == 0 || kv.mod_revision.0 >= r.min_mod_revision)
            && (r.max_mod_revision == 0 || kv.mod_revision.0 <= r.max_mod_revision)
            && (r.min_create_revision == 0 || kv.create_revision.0 >= r.min_create_revision)
            && (r.max_create_revision == 0 || kv.create_revision.0 <= r.max_create_revision)
    });
    // etcd: with a non-key target and no order, sort ascending; key-ascending is the store's order.
    let order = if r.sort_target != 0 && r.sort_order == 0 { 1 } else { r.sort_order };
    if order != 0 {
        let by = |a: &KeyValue, b: &KeyValue| -> Ordering {
            match r.sort_target {
                1 => a.version.cmp(&b.version),
                2 => a.create_revision.cmp(&b.create_revision),
                3 => a.mod_revision.cmp(&b.mod_revision),
                4 => a.value.cmp(&b.value),
                _ => a.key.cmp(&b.key),
            }
        };
        if order == 2 {
            kvs.sort_by(|a, b| by(b, a));
        } else {
            kvs.sort_by(by);
        }
    }
    let mut more = false;
    if r.limit > 0 && kvs.len() > r.limit as usize {
        kvs.truncate(r.limit as usize);
        more = true;
    }
    let kvs = if r.count_only {
        vec![]
    } else {
        kvs.into_iter()
            .map(|mut kv| {
                if r.keys_only {
                    kv.value.clear();
                }
                to_pb(kv)
            })
            .collect()
    };
    Ok(RangeResponse { header: header(read.revision()), kvs, more, count: res.count as i64 })
}

/// What a range returns from the store.
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    /// Keys in the range at that revision, ignoring the limit.
    pub count: usize,
}

/// A consistent view to read from: the store, or a write transaction seeing its own writes.
pub trait ReadView {
    fn revision(&self) -> Revision;
    fn read_range(&self, key: &[u8], end: &[u8], rev: Revision, limit: usize, count_only: bool) -> Result<RangeResult, ApiError>;
}

impl ReadView for Store {
    fn revision(&self) -> Revision {
        self.current_revision()
    }
    fn read_range(&self, key: &[u8], end: &[u8], rev: Revision, limit: usize, _count_only: bool) -> Result<RangeResult, ApiError> {
        let r = self.range(key, end, rev, limit)?;
        Ok(RangeResult { kvs: r.kvs, count: r.count })
    }
}

impl ReadView for WriteTxn<'_> {
    fn revision(&self) -> Revision {
        self.revision()
    }
    fn read_range(&self, key: &[u8], end: &[u8], rev: Revision, limit: usize, _count_only: bool) -> Result<RangeResult, ApiError> {
        let r = self.range(key, end, rev, limit)?;
        Ok(RangeResult { kvs: r.kvs, count: r.count })
    }
}

/// Whether a txn only reads (etcd serves those through the read path, not Raft).
pub fn txn_is_read_only(r: &TxnRequest) -> bool {
    r.success.iter().chain(&r.failure).all(|op| match &op.request {
        Some(request_op::Request::RequestRange(_)) => true,
        Some(request_op::Request::RequestTxn(t)) => txn_is_read_only(t),
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// Writes, applied in log order on every member.

/// The lease table as the KV writes see it: a put names an existing lease or none; the keys a
/// lease holds follow every put and delete (etcd's mvcc calls `Attach`/`Detach` the same way).
pub trait Leases {
    fn exists(&self, id: LeaseId) -> bool;
    fn attach(&mut self, id: LeaseId, key: &[u8]);
    fn detach(&mut self, id: LeaseId, key: &[u8]);
}

impl Leases for LeaseTable {
    fn exists(&self, id: LeaseId) -> bool {
        self.contains(id)
    }
    fn attach(&mut self, id: LeaseId, key: &[u8]) {
        LeaseTable::attach(self, id, key)
    }
    fn detach(&mut self, id: LeaseId, key: &[u8]) {
        LeaseTable::detach(self, id, key)
    }
}

pub fn put(store: &mut Store, leases: &mut impl Leases, r: &PutRequest) -> Result<PutResponse, ApiError> {
    let mut txn = store.write();
    pre_check_put(&txn, leases, r)?;
    let resp = put_in(&mut txn, leases, r);
    let rev = txn.commit();
    Ok(PutResponse { header: header(rev), ..resp })
}

pub fn delete_range(store: &mut Store, leases: &mut impl Leases, r: &DeleteRangeRequest) -> Result<DeleteRangeResponse, ApiError> {
    let mut txn = store.write();
    let resp = delete_in(&mut txn, leases, r);
    let rev = txn.commit();
    Ok(DeleteRangeResponse { header: header(rev), ..resp })
}

pub fn compaction(store: &mut Store, r: &CompactionRequest) -> Result<CompactionResponse, ApiError> {
    store.compact(Revision(r.revision))?;
    Ok(CompactionResponse { header: header(store.current_revision()) })
}

/// Revokes a lease: deletes its keys, in key order, all in one revision (none if it holds no key),
/// as etcd's `lessor.Revoke`. Returns the revision after.
///
/// # Errors
/// `LeaseNotFound` if there is no such lease.
pub fn lease_revoke(store: &mut Store, leases: &mut LeaseTable, id: LeaseId) -> Result<Revision, ApiError> {
    let lease = leases.revoke(id).map_err(|_| ApiError::LeaseNotFound)?;
    let mut txn = store.write();
    for key in &lease.keys {
        let deleted = txn.delete_range(key, &[]);
        assert!(
            deleted.len() == 1 && deleted[0].lease == id,
            "lease {id} holds {key:?}, but the store has {deleted:?}"
        );
    }
    Ok(txn.commit())
}

/// Applies a txn: compares, then the chosen branch, atomically (one revision at most). A branch that
/// would fail (lease not found, key not found for ignore_value, range at a compacted or future
/// revision) fails the whole txn with no effect, as in etcd.
pub fn txn(store: &mut Store, leases: &mut impl Leases, r: &TxnRequest) -> Result<TxnResponse, ApiError> {
    let mut txn = store.write();
    let mut branches = Vec::new();
    pre_check_txn(&txn, leases, r, &mut branches)?;
    let resp = txn_in(&mut txn, leases, r, &mut branches.into_iter());
    let rev = txn.commit();
    Ok(TxnResponse { header: header(rev), ..resp })
}

/// A read-only txn, served from a read view without Raft.
pub fn txn_read_only(read: &impl ReadView, r: &TxnRequest) -> Result<TxnResponse, ApiError> {
    assert!(txn_is_read_only(r), "txn_read_only called with a txn that writes");
    let succeeded = compares_hold(read, &r.compare)?;
    let ops = if succeeded { &r.success } else { &r.failure };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let response = match &op.request {
            Some(request_op::Request::RequestRange(q)) => response_op::Response::ResponseRange(range(read, q)?),
            Some(request_op::Request::RequestTxn(t)) => response_op::Response::ResponseTxn(txn_read_only(read, t)?),
            _ => unreachable!("checked read-only above"),
        };
        responses.push(ResponseOp { response: Some(response) });
    }
    Ok(TxnResponse { header: header(read.revision()), succeeded, responses })
}

fn pre_check_put(view: &impl ReadView, leases: &impl Leases, r: &PutRequest) -> Result<(), ApiError> {
    if r.lease != 0 && !leases.exists(LeaseId(r.lease)) {
        return Err(ApiError::LeaseNotFound);
    }
    if r.ignore_value || r.ignore_lease {
        let found = view.read_range(&r.key, &[], Revision(0), 1, false)?;
        if found.kvs.is_empty() {
            return Err(ApiError::KeyNotFound);
        }
    }
    Ok(())
}

/// Evaluates compares and checks the chosen branch recursively, recording each (nested) txn's
/// branch choice in evaluation order so that execution takes the same branches.
fn pre_check_txn(view: &WriteTxn<'_>, leases: &impl Leases, r: &TxnRequest, branches: &mut Vec<bool>) -> Result<(), ApiError> {
    let succeeded = compares_hold(view, &r.compare)?;
    branches.push(succeeded);
    for op in if succeeded { &r.success } else { &r.failure } {
        match &op.request {
            Some(request_op::Request::RequestPut(p)) => pre_check_put(view, leases, p)?,
            Some(request_op::Request::RequestRange(q)) => {
                view.check_revision(Revision(q.revision))?;
            }
            Some(request_op::Request::RequestTxn(t)) => pre_check_txn(view, leases, t, branches)?,
            _ => {}
        }
    }
    Ok(())
}

fn txn_in(txn: &mut WriteTxn<'_>, leases: &mut impl Leases, r: &TxnRequest, branches: &mut impl Iterator<Item = bool>) -> TxnResponse {
    let succeeded = branches.next().expect("pre_check_txn recorded every branch");
    let ops = if succeeded { &r.success } else { &r.failure };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let response = match op.request.as_ref().expect("checked non-empty") {
            request_op::Request::RequestRange(q) => {
                response_op::Response::ResponseRange(range(&*txn, q).expect("pre-checked range revision"))
            }
            request_op::Request::RequestPut(p) => response_op::Response::ResponsePut(put_in(txn, leases, p)),
            request_op::Request::RequestDeleteRange(d) => {
                response_op::Response::ResponseDeleteRange(delete_in(txn, leases, d))
            }
            request_op::Request::RequestTxn(t) => response_op::Response::ResponseTxn(txn_in(txn, leases, t, branches)),
        };
        responses.push(ResponseOp { response: Some(response) });
    }
    TxnResponse { header: header(txn.revision()), succeeded, responses }
}

fn put_in(txn: &mut WriteTxn<'_>, leases: &mut impl Leases, r: &PutRequest) -> PutResponse {
    let prev = txn.range(&r.key, &[], Revision(0), 1).expect("current revision is readable").kvs.into_iter().next();
    let value = match (&prev, r.ignore_value) {
        (Some(p), true) => p.value.clone(),
        _ => r.value.clone(),
    };
    let lease = match (&prev, r.ignore_lease) {
        (Some(p), true) => p.lease,
        _ => LeaseId(r.lease),
    };
    txn.put(&r.key, &value, lease);
    if let Some(old) = prev.as_ref().map(|p| p.lease).filter(|l| l.0 != 0) {
        leases.detach(old, &r.key);
    }
    if lease.0 != 0 {
        leases.attach(lease, &r.key);
    }
    PutResponse { header: header(txn.revision()), prev_kv: if r.prev_kv { prev.map(to_pb) } else { None } }
}

fn delete_in(txn: &mut WriteTxn<'_>, leases: &mut impl Leases, r: &DeleteRangeRequest) -> DeleteRangeResponse {
    let deleted = txn.delete_range(&r.key, &r.range_end);
    for kv in deleted.iter().filter(|kv| kv.lease.0 != 0) {
        leases.detach(kv.lease, &kv.key);
    }
    DeleteRangeResponse {
        header: header(txn.revision()),
        deleted: deleted.len() as i64,
        prev_kvs: if r.prev_kv { deleted.into_iter().map(to_pb).collect() } else { vec![] },
    }
}

/// All compares hold (etcd `applyCompares`). A compare over a range holds only if it holds for every
/// key in it. A missing key has version, create and mod revision 0 and no value: a value compare on
/// it fails.
fn compares_hold(view: &impl ReadView, compares: &[Compare]) -> Result<bool, ApiError> {
    for c in compares {
        let kvs = view.read_range(&c.key, &c.range_end, Revision(0), 0, false)?.kvs;
        let holds = if kvs.is_empty() {
            c.target != compare::CompareTarget::Value as i32 && compare_one(c, None)
        } else {
            kvs.iter().all(|kv| compare_one(c, Some(kv)))
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn compare_one(c: &Compare, kv: Option<&KeyValue>) -> bool {
    use compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    let ord = match (T::try_from(c.target), &c.target_union) {
        (Ok(T::Version), Some(U::Version(v))) => kv.map_or(0, |k| k.version).cmp(v),
        (Ok(T::Create), Some(U::CreateRevision(v))) => kv.map_or(0, |k| k.create_revision.0).cmp(v),
        (Ok(T::Mod), Some(U::ModRevision(v))) => kv.map_or(0, |k| k.mod_revision.0).cmp(v),
        (Ok(T::Lease), Some(U::Lease(v))) => kv.map_or(0, |k| k.lease.0).cmp(v),
        (Ok(T::Value), Some(U::Value(v))) => match kv {
            Some(k) => k.value.as_slice().cmp(v.as_slice()),
            None => return false,
        },
        // A target without its value compares against the zero value, as Go's getters do.
        (Ok(T::Value), None) => kv.map_or(Ordering::Less, |k| k.value.as_slice().cmp(&[][..])),
        (Ok(_), None) => kv.map_or(0, |k| match T::try_from(c.target) {
            Ok(T::Version) => k.version,
            Ok(T::Create) => k.create_revision.0,
            Ok(T::Mod) => k.mod_revision.0,
            _ => k.lease.0,
        }).cmp(&0),
        _ => return false,
    };
    match R::try_from(c.result) {
        Ok(R::Equal) => ord == Ordering::Equal,
        Ok(R::NotEqual) => ord != Ordering::Equal,
        Ok(R::Greater) => ord == Ordering::Greater,
        Ok(R::Less) => ord == Ordering::Less,
        Err(_) => false,
    }
}
