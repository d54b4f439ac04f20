//! A model of etcd's KV and Lease APIs with revisions, written from etcd's documented
//! semantics and independently of the node's MVCC code (a model that shares code with the
//! server shares its bugs).
//!
//! State ([`Store`]): the current revision and, per live key, its value, create revision,
//! mod revision, version and lease; plus the set of live leases.
//!
//! Semantics checked, exactly:
//! - a fresh store is at revision 1; each request that changes a key (put, delete of at least
//!   one key, a txn containing such, a revoke or expiry of a lease with keys) adds exactly 1;
//!   a delete of an absent key, a read, a failed compare with a read-only branch, a lease
//!   grant, or a revoke of a lease without keys adds nothing;
//! - every response carries the revision after the request (etcd's `header.revision`);
//! - `range` over one key, a prefix, `[start, end)` or every key from a start, sorted by key;
//! - `put` (optional lease, optional `prev_kv`), `delete` (count, optional `prev_kvs`);
//! - `txn` with compares on value, version, create revision, mod revision and lease
//!   (`=`, `!=`, `<`, `>`), success and failure branches of range/put/delete/txn; as in etcd all
//!   compares (also of nested txns) are evaluated against the store before the txn, and reads
//!   inside the txn see its earlier writes;
//! - leases: grant (client-chosen id), revoke and expiry delete every attached key in ONE
//!   revision; a put naming a missing lease fails with `lease_not_found` and has no effect.
//!
//! Lease expiry is an operation the history contains ([`Request::LeaseExpire`]): with a known
//! outcome when a node reported it, or of unknown outcome from the grant on to say "this lease
//! may expire at any time, or never". The model does not keep time.
//!
//! Not partitioned per key, deliberately: the revision is one counter shared by every key and
//! every response shows it, so etcd is not a product of independent per-key objects.
//! Two puts on different keys that both answer "revision 2" are each fine alone and
//! impossible together; a per-key check would accept that. Revisions pin the order of writes,
//! which keeps the whole-history search fast anyway (see BENCH.md).
//!
//! Limits (TODO):
//! - reads at a past revision and compaction are not modelled (no `revision` in `range`);
//! - `limit`, `count_only`, `keys_only`, sorting options, `ignore_value`/`ignore_lease` are not
//!   modelled; a txn that puts the same key twice (which etcd refuses) is applied in order;
//! - TTLs, keep-alives and `lease_time_to_live` are not modelled;
//! - watch, lock and election guarantees are separate checks (not written yet).

mod describe;
mod store;
mod types;

pub use store::Store;
pub use types::{
    Compare, CompareOp, CompareTarget, EtcdError, KeySet, KeyValue, LeaseId, Request, Response,
    Revision, TxnResponse,
};

use crate::linearizability::Model;

/// The etcd model.
pub struct Etcd;

impl Model for Etcd {
    type State = Store;
    type Input = Request;
    type Output = Response;

    fn init(&self) -> Store {
        Store::new()
    }

    fn step(&self, state: &Store, request: &Request, response: Option<&Response>) -> Option<Store> {
        if let Some(r) = response {
            assert!(
                r.answers(request),
                "etcd: {r:?} does not answer {request:?}"
            );
        }
        let (next, expected) = state.apply(request);
        let fits = match response {
            None => true,
            // Took effect (not refused) and left the store at `revision`.
            Some(Response::Applied { revision }) => {
                !matches!(expected, Response::Error { .. }) && expected.revision() == Some(*revision)
            }
            Some(seen) => *seen == expected,
        };
        fits.then(|| next.unwrap_or_else(|| state.clone()))
    }

    fn read_only(&self, request: &Request, response: Option<&Response>) -> bool {
        response.is_some_and(|r| r.changes_nothing(request))
    }

    fn order_hint(&self, _request: &Request, response: Option<&Response>) -> u64 {
        // The revision after the request: a write making revision r comes after every
        // request answered at r - 1. Errors carry no revision; unknown outcomes come last.
        response
            .and_then(Response::revision)
            .map_or(u64::MAX, |r| r.0.max(0) as u64)
    }

    fn too_late(&self, state: &Store, _request: &Request, response: Option<&Response>) -> bool {
        // Revisions never go back, and a request answered at revision r happened in a store at
        // revision r (or r - 1 if it made r).
        response
            .and_then(Response::revision)
            .is_some_and(|r| r < state.revision())
    }

    fn describe_operation(&self, request: &Request, response: Option<&Response>) -> String {
        format!(
            "{} -> {}",
            describe::request(request),
            describe::response(response)
        )
    }

    fn state_heap_bytes(&self, state: &Store) -> usize {
        state.heap_bytes()
    }

    fn describe_state(&self, state: &Store) -> String {
        state.describe()
    }
}

#[cfg(test)]
mod tests;
