//! Which permissions each KV request needs (etcd `etcdserver/apply_auth.go`): checked when a
//! write is applied, and by the member serving a read before it reads.
//!
//! - Put: write on the key; read on it too with `prev_kv`; write on every key already attached
//!   to the lease it names (the put makes the caller a co-owner of that lease's fate).
//! - DeleteRange: write on the range; read on it too with `prev_kv`.
//! - Range: read on the range.
//! - Txn: read on every compare's key, and each op of both branches as above (nested
//!   transactions included: etcd 3.4 skipped them, which let a nested txn write anywhere).
//! - LeaseRevoke: write on every key attached to the lease.

use super::{AuthError, AuthStore, Caller, PermKind};
use crate::pb::etcdserverpb::{request_op, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest};
use crate::state::lease::LeaseTable;
use crate::types::LeaseId;

pub fn check_put(auth: &AuthStore, caller: Option<&Caller>, leases: &LeaseTable, r: &PutRequest) -> Result<(), AuthError> {
    if !auth.enabled() {
        return Ok(());
    }
    auth.check(caller, &r.key, &[], PermKind::Write)?;
    check_lease_keys(auth, caller, leases, LeaseId(r.lease))?;
    if r.prev_kv {
        auth.check(caller, &r.key, &[], PermKind::Read)?;
    }
    Ok(())
}

pub fn check_range(auth: &AuthStore, caller: Option<&Caller>, r: &RangeRequest) -> Result<(), AuthError> {
    auth.check(caller, &r.key, &r.range_end, PermKind::Read)
}

pub fn check_delete(auth: &AuthStore, caller: Option<&Caller>, r: &DeleteRangeRequest) -> Result<(), AuthError> {
    auth.check(caller, &r.key, &r.range_end, PermKind::Write)?;
    if r.prev_kv {
        auth.check(caller, &r.key, &r.range_end, PermKind::Read)?;
    }
    Ok(())
}

pub fn check_txn(auth: &AuthStore, caller: Option<&Caller>, leases: &LeaseTable, r: &TxnRequest) -> Result<(), AuthError> {
    if !auth.enabled() {
        return Ok(());
    }
    for c in &r.compare {
        auth.check(caller, &c.key, &c.range_end, PermKind::Read)?;
    }
    for op in r.success.iter().chain(&r.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(q)) => check_range(auth, caller, q)?,
            Some(request_op::Request::RequestPut(p)) => check_put(auth, caller, leases, p)?,
            Some(request_op::Request::RequestDeleteRange(d)) => check_delete(auth, caller, d)?,
            Some(request_op::Request::RequestTxn(t)) => check_txn(auth, caller, leases, t)?,
            None => {}
        }
    }
    Ok(())
}

/// Write permission on every key attached to `lease` (etcd `checkLeasePuts`); nothing to check
/// for no lease or an unknown one (applying reports that).
pub fn check_lease_keys(auth: &AuthStore, caller: Option<&Caller>, leases: &LeaseTable, lease: LeaseId) -> Result<(), AuthError> {
    if !auth.enabled() || lease.0 == 0 {
        return Ok(());
    }
    if let Some(l) = leases.get(lease) {
        for key in &l.keys {
            auth.check(caller, key, &[], PermKind::Write)?;
        }
    }
    Ok(())
}
