//! The replicated state machine: the MVCC store, the lease table and cluster metadata, advanced one
//! committed entry at a time. Deterministic: the same entries in the same order give the same state
//! on every member. Pure and synchronous: nothing in `state/` touches the disk, the network or the
//! clock; time arrives as arguments.
//!
//! The room, by what each part holds:
//! - [`request`]: what a committed entry carries (`ReplicatedRequest`, prost-encoded) and the
//!   result of applying it;
//! - [`apply`]: etcd's KV semantics over the store (validation, Range, Put, DeleteRange, Txn,
//!   Compaction);
//! - [`mvcc`]: the multi-version store; [`lease`]: the replicated lease table and the leader's
//!   lease timers; [`watch`]: watch streams reading the store's history;
//! - this module: [`StateMachine`], which applies one entry at a time, and its snapshot bytes.
//!
//! Invariants:
//! - `applied` only grows, one entry at a time (every committed index is applied exactly once, in
//!   order): asserted in [`StateMachine::apply`].
//! - The MVCC revision changes only when a write request is applied.
//! - The lease table and the store agree: a live key whose value carries lease `L` is one of `L`'s
//!   keys, and each of `L`'s keys is live with lease `L` ([`StateMachine::check_invariants`],
//!   asserted after every entry in test and simulation builds).
//!
//! Not replicated, and documented as such where they live: the [`Lessor`] (the leader's lease
//! timers) and the [`Progress`] notification that wakes watchers and waiting keep-alives.

use crate::config::InitialMember;
use crate::error::ApiError;
use crate::state::auth::tokens::SimpleTokens;
use crate::state::auth::{requests as authz, AuthStore, Caller, PermKind, Permission};
use crate::state::lease::{LeaseError, LeaseTable, Lessor};
use crate::state::mvcc::Store;
use crate::pb::etcdserverpb::{LeaseGrantResponse, LeaseRevokeResponse, ResponseHeader};
use crate::state::request::{Applied, MemberAttributes, Op, ReplicatedRequest};
use crate::types::{Index, LeaseId, MemberId, Revision};
use std::collections::BTreeMap;
use crate::feed::{Feed, FeedRx};

pub mod apply;
pub mod auth;
pub mod lease;
pub mod mvcc;
pub mod request;
mod snapshot;
pub mod watch;

pub use snapshot::{RestoreError, SNAPSHOT_FORMAT_VERSION};

/// A member as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub peer_urls: Vec<String>,
    /// Empty until the member has published itself (etcd shows it as "unstarted").
    pub name: String,
    pub client_urls: Vec<String>,
}

/// How far this member's state machine has come: sent after every applied entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub applied: Index,
    pub revision: Revision,
}

pub struct StateMachine {
    pub kv: Store,
    pub leases: LeaseTable,
    /// This member's lease timers: leader-local, NOT replicated (see [`crate::state::lease`]).
    pub lessor: Lessor,
    pub members: BTreeMap<MemberId, MemberInfo>,
    /// Users, roles, permissions, the enabled flag (replicated; see [`crate::state::auth`]).
    pub auth: AuthStore,
    /// The simple tokens this member knows: member-local, NOT replicated (see
    /// [`crate::state::auth::tokens`]).
    pub tokens: SimpleTokens,
    applied: Index,
    /// Wakes whoever waits for the state to move (watchers, keep-alives of expired leases).
    /// Sending never blocks: the feed keeps only the latest value, and wakes subscribers in a
    /// fixed order (see [`crate::feed`]).
    progress: Feed<Progress>,
}

impl StateMachine {
    /// An empty state machine for a cluster of `initial` members, granting leases at least
    /// `min_lease_ttl_s` seconds (see [`crate::state::lease::min_ttl_s`]).
    pub fn new(initial: &BTreeMap<MemberId, InitialMember>, min_lease_ttl_s: i64) -> StateMachine {
        let members = initial
            .iter()
            .map(|(id, m)| (*id, MemberInfo { peer_urls: m.peer_urls.clone(), name: String::new(), client_urls: vec![] }))
            .collect();
        let kv = Store::new();
        let progress = Feed::new(Progress { applied: Index(0), revision: kv.current_revision() });
        StateMachine {
            kv,
            leases: LeaseTable::new(min_lease_ttl_s),
            lessor: Lessor::new(),
            members,
            auth: AuthStore::new(),
            tokens: SimpleTokens::new(crate::state::auth::tokens::DEFAULT_TTL),
            applied: Index(0),
            progress,
        }
    }

    /// The index of the last applied entry.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// A receiver that sees the state move (at least the latest [`Progress`]; intermediate values
    /// may be skipped, so receivers re-read the state rather than count notifications).
    pub fn subscribe(&self) -> FeedRx<Progress> {
        self.progress.subscribe()
    }

    fn advance(&mut self, index: Index) {
        assert_eq!(index.0, self.applied.0 + 1, "entries must be applied in order, exactly once");
        self.applied = index;
    }

    fn notify(&self) {
        self.progress.send_replace(Progress { applied: self.applied, revision: self.kv.current_revision() });
    }

    /// Applies an entry with no command (a new leader's first entry).
    pub fn apply_empty(&mut self, index: Index) {
        self.advance(index);
        self.notify();
    }

    /// Applies a committed request. Errors are results for the client (e.g. key not found); the
    /// state machine is unchanged by a request that fails.
    pub fn apply(&mut self, index: Index, req: ReplicatedRequest) -> Result<Applied, ApiError> {
        self.advance(index);
        let caller = (!req.auth_user.is_empty() || req.auth_revision != 0)
            .then_some(Caller { user: req.auth_user, revision: crate::types::AuthRevision(req.auth_revision) });
        let result = self.apply_op(index, req.op, caller.as_ref());
        // The full check walks the whole state: after every entry in unit tests, and on every
        // 16th index in simulation, where it was a tenth of a run's CPU time when done on every
        // entry. Most broken invariants persist and are caught a few entries late; unit tests still
        // check after every entry.
        #[cfg(any(test, madsim))]
        if cfg!(test) || index.0 % 64 == 0 {
            self.check_invariants();
        }
        self.notify();
        result
    }

    /// Applies one command for `caller`, after the permission check etcd's auth applier makes.
    fn apply_op(&mut self, index: Index, op: Option<Op>, caller: Option<&Caller>) -> Result<Applied, ApiError> {
        if op.as_ref().is_some_and(Op::needs_admin) {
            self.auth.check_admin(caller)?;
        }
        let is_expiry = matches!(op, Some(Op::LeaseExpire(_)));
        match op {
            Some(Op::Put(r)) => {
                authz::check_put(&self.auth, caller, &self.leases, &r)?;
                apply::put(&mut self.kv, &mut self.leases, &r).map(Applied::Put)
            }
            Some(Op::DeleteRange(r)) => {
                authz::check_delete(&self.auth, caller, &r)?;
                apply::delete_range(&mut self.kv, &mut self.leases, &r).map(Applied::DeleteRange)
            }
            Some(Op::Txn(r)) => {
                authz::check_txn(&self.auth, caller, &self.leases, &r)?;
                apply::txn(&mut self.kv, &mut self.leases, &r).map(Applied::Txn)
            }
            Some(Op::Compaction(r)) => apply::compaction(&mut self.kv, &r).map(Applied::Compaction),
            Some(Op::Publish(m)) => {
                self.publish(m);
                Ok(Applied::Publish)
            }
            Some(Op::LeaseGrant(r)) => {
                let id = LeaseId(r.id);
                let lease = self.leases.grant(id, r.ttl).map_err(lease_error)?;
                let ttl = lease.ttl_s;
                self.lessor.granted(id);
                let header = Some(ResponseHeader { revision: self.kv.current_revision().0, ..Default::default() });
                Ok(Applied::LeaseGrant(LeaseGrantResponse { header, id: id.0, ttl, error: String::new() }))
            }
            Some(Op::LeaseRevoke(r)) | Some(Op::LeaseExpire(r)) => {
                let id = LeaseId(r.id);
                if !is_expiry {
                    // An expiry is the lessor's, not a client's: etcd proposes it as root.
                    authz::check_lease_keys(&self.auth, caller, &self.leases, id)?;
                }
                let rev = apply::lease_revoke(&mut self.kv, &mut self.leases, id)?;
                self.lessor.revoked(id);
                let header = Some(ResponseHeader { revision: rev.0, ..Default::default() });
                Ok(Applied::LeaseRevoke(LeaseRevokeResponse { header }))
            }
            Some(op) => self.apply_auth(index, op),
            None => Err(ApiError::InvalidArgument("empty request".into())),
        }
    }

    /// Applies a change to users, roles or the enabled flag, or grants a token.
    fn apply_auth(&mut self, index: Index, op: Op) -> Result<Applied, ApiError> {
        let auth = &mut self.auth;
        match op {
            Op::AuthEnable(_) => auth.enable()?,
            Op::AuthDisable(_) => {
                auth.disable();
                self.tokens.clear();
            }
            Op::Authenticate(e) => {
                auth.can_authenticate(&e.name)?;
                return Ok(Applied::Authenticated(self.tokens.assign(&e.token_prefix, index, &e.name)));
            }
            Op::UserAdd(r) => {
                let no_password = r.options.is_some_and(|o| o.no_password);
                auth.user_add(&r.name, (!no_password).then_some(r.hashed_password))?;
            }
            Op::UserDelete(r) => {
                auth.user_delete(&r.name)?;
                self.tokens.invalidate_user(&r.name);
            }
            Op::UserChangePassword(r) => {
                auth.user_change_password(&r.name, r.hashed_password)?;
                self.tokens.invalidate_user(&r.name);
            }
            Op::UserGrantRole(r) => auth.user_grant_role(&r.user, &r.role)?,
            Op::UserRevokeRole(r) => auth.user_revoke_role(&r.name, &r.role)?,
            Op::RoleAdd(r) => auth.role_add(&r.name)?,
            Op::RoleDelete(r) => auth.role_delete(&r.role)?,
            Op::RoleGrantPermission(r) => {
                let p = r.perm.unwrap_or_default();
                let kind = PermKind::from_i32(p.perm_type).ok_or_else(|| ApiError::InvalidArgument("invalid permission type".into()))?;
                auth.role_grant_permission(&r.name, Permission { kind, key: p.key, range_end: p.range_end })?;
            }
            Op::RoleRevokePermission(r) => auth.role_revoke_permission(&r.role, &r.key, &r.range_end)?,
            other => unreachable!("not an auth request: {other:?}"),
        }
        Ok(Applied::Auth)
    }

    fn publish(&mut self, m: MemberAttributes) {
        if let Some(info) = self.members.get_mut(&MemberId(m.id)) {
            info.name = m.name;
            info.client_urls = m.client_urls;
        }
    }

    /// Asserts the invariants of the module doc, and those of the parts. Costs a scan of every
    /// live key: for tests and simulation builds.
    pub fn check_invariants(&self) {
        self.kv.check_invariants();
        self.leases.check_invariants();
        self.lessor.check_invariants(&self.leases);
        let live = self.kv.range(&[0], &[0], Revision(0), 0).expect("the current revision is readable");
        let mut held = 0;
        for kv in live.kvs.iter().filter(|kv| kv.lease.0 != 0) {
            let lease = self.leases.get(kv.lease).unwrap_or_else(|| panic!("{:?} carries missing lease {}", kv.key, kv.lease));
            assert!(lease.keys.contains(&kv.key), "lease {} does not list its key {:?}", kv.lease, kv.key);
            held += 1;
        }
        let listed: usize = self.leases.iter().map(|l| l.keys.len()).sum();
        assert_eq!(listed, held, "leases list keys that are not live with that lease");
    }
}

fn lease_error(e: LeaseError) -> ApiError {
    match e {
        LeaseError::NotFound => ApiError::LeaseNotFound,
        LeaseError::Exists => ApiError::LeaseExists,
        LeaseError::TtlTooLarge => ApiError::LeaseTtlTooLarge,
    }
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RangeRequest};

    struct Sm {
        sm: StateMachine,
        next: u64,
    }

    impl Sm {
        fn new() -> Sm {
            Sm { sm: StateMachine::new(&BTreeMap::new(), 2), next: 1 }
        }
        fn apply(&mut self, op: Op) -> Result<Applied, ApiError> {
            let index = Index(self.next);
            self.next += 1;
            self.sm.apply(index, ReplicatedRequest { id: index.0, op: Some(op), trace: vec![], ..Default::default() })
        }
        fn grant(&mut self, id: i64, ttl: i64) -> Result<Applied, ApiError> {
            self.apply(Op::LeaseGrant(LeaseGrantRequest { id, ttl }))
        }
        fn put(&mut self, key: &str, lease: i64) -> Result<Applied, ApiError> {
            self.apply(Op::Put(PutRequest { key: key.into(), value: b"v".to_vec(), lease, ..Default::default() }))
        }
        fn revoke(&mut self, id: i64) -> Result<Applied, ApiError> {
            self.apply(Op::LeaseRevoke(LeaseRevokeRequest { id }))
        }
        fn keys(&self) -> Vec<String> {
            let r = crate::state::apply::range(&self.sm.kv, &RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() }).unwrap();
            r.kvs.iter().map(|kv| String::from_utf8(kv.key.clone()).unwrap()).collect()
        }
    }

    #[test]
    fn revoking_a_lease_deletes_all_its_keys_in_one_revision() {
        let mut s = Sm::new();
        match s.grant(7, 1).unwrap() {
            Applied::LeaseGrant(r) => assert_eq!((r.id, r.ttl), (7, 2), "TTL raised to the minimum"),
            other => panic!("{other:?}"),
        }
        s.put("b", 7).unwrap();
        s.put("a", 7).unwrap();
        s.put("c", 0).unwrap();
        assert_eq!(s.sm.kv.current_revision(), Revision(4));
        match s.revoke(7).unwrap() {
            Applied::LeaseRevoke(r) => assert_eq!(r.header.unwrap().revision, 5),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.keys(), ["c"]);
        assert_eq!(s.sm.kv.current_revision(), Revision(5), "both deletes share revision 5");
        assert_eq!(s.revoke(7), Err(ApiError::LeaseNotFound));
    }

    #[test]
    fn a_lease_without_keys_revokes_without_a_new_revision() {
        let mut s = Sm::new();
        s.grant(1, 10).unwrap();
        s.revoke(1).unwrap();
        assert_eq!(s.sm.kv.current_revision(), Revision(1));
    }

    #[test]
    fn overwriting_or_deleting_a_key_detaches_it_from_its_lease() {
        let mut s = Sm::new();
        s.grant(1, 10).unwrap();
        s.grant(2, 10).unwrap();
        s.put("k", 1).unwrap();
        s.put("k", 2).unwrap();
        assert!(s.sm.leases.get(LeaseId(1)).unwrap().keys.is_empty());
        s.put("j", 1).unwrap();
        s.apply(Op::DeleteRange(DeleteRangeRequest { key: b"j".to_vec(), ..Default::default() })).unwrap();
        s.revoke(1).unwrap();
        assert_eq!(s.keys(), ["k"], "revoking lease 1 leaves k, which moved to lease 2");
        s.revoke(2).unwrap();
        assert!(s.keys().is_empty());
    }

    #[test]
    fn lease_errors_are_etcds() {
        let mut s = Sm::new();
        assert_eq!(s.put("k", 99), Err(ApiError::LeaseNotFound));
        s.grant(5, 10).unwrap();
        assert_eq!(s.grant(5, 10), Err(ApiError::LeaseExists));
        assert_eq!(s.grant(6, crate::state::lease::MAX_LEASE_TTL_S + 1), Err(ApiError::LeaseTtlTooLarge));
        assert_eq!(s.sm.kv.current_revision(), Revision(1), "failed requests change nothing");
    }

    #[test]
    fn every_applied_entry_is_announced() {
        let mut s = Sm::new();
        let rx = s.sm.subscribe();
        s.grant(5, 10).unwrap();
        assert_eq!(rx.borrow(), Progress { applied: Index(1), revision: Revision(1) });
        s.put("k", 5).unwrap();
        assert_eq!(rx.borrow(), Progress { applied: Index(2), revision: Revision(2) });
    }
}
