//! The state machine as bytes: what goes into a Raft snapshot's `data`
//! ([`StateMachine::snapshot`]) and what a member restores from one ([`StateMachine::restore`]).
//!
//! # Format
//! ```text
//!   offset  size  field
//!   0       1     format version, now 2
//!   1       ...   postcard encoding of the image: applied index, MVCC store (records in revision
//!                 order, current and compacted revisions: see `mvcc/store/image.rs`), leases
//!                 (ID and granted TTL), members (ID, peer URLs, name, client URLs), then (since
//!                 version 2) the auth store (enabled flag, auth revision, users with their
//!                 bcrypt hashes and roles, roles with their permissions)
//! ```
//! Version 1 (before auth existed) is the same without the auth store, and still restores: as
//! auth disabled, with no users or roles.
//! The snapshot file around these bytes carries the checksum (`durable/snapshot.rs`); postcard is a compact,
//! stable binary encoding of serde types (its 1.x wire format is specified and frozen).
//!
//! Not in the image, because it is not replicated state: the lessor's timers (a restored member
//! is not the primary; a leader never installs another member's snapshot), the minimum lease TTL
//! (configuration), and the progress channel's subscribers (they stay subscribed and are told).
//! A lease's keys are not stored either: they are exactly the live keys carrying that lease, and
//! are rebuilt from the store.

use super::{MemberInfo, StateMachine};
use crate::state::auth::AuthStore;
use crate::state::lease::Lessor;
use crate::state::mvcc::Store;
use crate::types::{Index, LeaseId, MemberId, Revision};
use serde::{Deserialize, Serialize};

/// The format this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 2;
/// The format before the auth store: read, never written.
const FORMAT_WITHOUT_AUTH: u8 = 1;

/// Why a snapshot's bytes cannot be restored.
///
/// # Errors
/// - `Empty`: no bytes at all.
/// - `Version`: written by a build with another format.
/// - `Decode`: the bytes are not an image (a bug in the writer: the file's checksum held).
/// - `Index`: the image was taken at another index than the Raft snapshot says.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    #[error("the state machine snapshot is empty")]
    Empty,
    #[error("the state machine snapshot has format version {0}; this build reads versions {FORMAT_WITHOUT_AUTH} and {SNAPSHOT_FORMAT_VERSION}")]
    Version(u8),
    #[error("the state machine snapshot does not decode: {0}")]
    Decode(String),
    #[error("the state machine snapshot was taken at index {found}, but its Raft snapshot is at {expected}")]
    Index { expected: Index, found: Index },
}

#[derive(Serialize, Deserialize)]
struct MemberImage {
    id: u64,
    peer_urls: Vec<String>,
    name: String,
    client_urls: Vec<String>,
}

#[derive(Serialize)]
struct ImageRef<'a> {
    applied: u64,
    kv: &'a Store,
    /// (lease ID, TTL in seconds as granted), by ID.
    leases: Vec<(i64, i64)>,
    members: Vec<MemberImage>,
    auth: &'a AuthStore,
}

#[derive(Deserialize)]
struct Image {
    applied: u64,
    kv: Store,
    leases: Vec<(i64, i64)>,
    members: Vec<MemberImage>,
}

impl StateMachine {
    /// The state machine at its applied index, as bytes (module doc).
    pub fn snapshot(&self) -> Vec<u8> {
        let image = ImageRef {
            applied: self.applied.0,
            kv: &self.kv,
            leases: self.leases.iter().map(|l| (l.id.0, l.ttl_s)).collect(),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberImage { id: id.0, peer_urls: m.peer_urls.clone(), name: m.name.clone(), client_urls: m.client_urls.clone() })
                .collect(),
            auth: &self.auth,
        };
        let mut out = vec![SNAPSHOT_FORMAT_VERSION];
        out.extend(postcard::to_stdvec(&image).expect("encoding to memory cannot fail"));
        out
    }

    /// Replaces the whole state with the snapshot `data` taken at `index`, and tells subscribers
    /// (watchers see the revision move, possibly past history they needed: they get "compacted").
    /// On an error nothing changes.
    ///
    /// # Errors
    /// See [`RestoreError`].
    pub fn restore(&mut self, data: &[u8], index: Index) -> Result<(), RestoreError> {
        let (&version, body) = data.split_first().ok_or(RestoreError::Empty)?;
        if version != SNAPSHOT_FORMAT_VERSION && version != FORMAT_WITHOUT_AUTH {
            return Err(RestoreError::Version(version));
        }
        let decode = |e: postcard::Error| RestoreError::Decode(e.to_string());
        let (image, rest): (Image, &[u8]) = postcard::take_from_bytes(body).map_err(decode)?;
        let auth = if version == FORMAT_WITHOUT_AUTH {
            if !rest.is_empty() {
                return Err(RestoreError::Decode(format!("{} bytes after the image", rest.len())));
            }
            AuthStore::new()
        } else {
            postcard::from_bytes(rest).map_err(decode)?
        };
        if image.applied != index.0 {
            return Err(RestoreError::Index { expected: index, found: Index(image.applied) });
        }
        // A fresh table with the same minimum TTL (configuration, not state): empty a copy.
        let mut leases = self.leases.clone();
        let old: Vec<LeaseId> = leases.iter().map(|l| l.id).collect();
        for id in old {
            leases.revoke(id).expect("a listed lease exists");
        }
        for (id, ttl_s) in image.leases {
            leases.grant(LeaseId(id), ttl_s).map_err(|e| RestoreError::Decode(format!("lease {id:x}: {e}")))?;
        }
        let live = image.kv.range(&[0], &[0], Revision(0), 0).expect("the current revision is readable");
        for kv in live.kvs.iter().filter(|kv| kv.lease.0 != 0) {
            if !leases.contains(kv.lease) {
                return Err(RestoreError::Decode(format!("key {:?} carries lease {}, which is not in the snapshot", kv.key, kv.lease)));
            }
            leases.attach(kv.lease, &kv.key);
        }
        self.leases = leases;
        self.kv = image.kv;
        self.members = image
            .members
            .into_iter()
            .map(|m| (MemberId(m.id), MemberInfo { peer_urls: m.peer_urls, name: m.name, client_urls: m.client_urls }))
            .collect();
        self.lessor = Lessor::new();
        self.auth = auth;
        self.applied = index;
        self.check_invariants();
        self.notify();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InitialMember;
    use crate::pb::etcdserverpb::{
        AuthEnableRequest, AuthRoleAddRequest, AuthUserAddRequest, AuthUserGrantRoleRequest, CompactionRequest, LeaseGrantRequest,
        PutRequest,
    };
    use crate::state::request::{MemberAttributes, Op, ReplicatedRequest};
    use std::collections::BTreeMap;

    fn members() -> BTreeMap<MemberId, InitialMember> {
        [(MemberId(7), InitialMember { name: "a".into(), peer_urls: vec!["http://10.0.0.1:2380".into()] })].into()
    }

    /// A state machine with history, a compaction, a lease with keys, a published member, and auth
    /// enabled with a root user and a role.
    fn busy() -> StateMachine {
        let mut sm = StateMachine::new(&members(), 2);
        let ops = vec![
            Op::LeaseGrant(LeaseGrantRequest { id: 5, ttl: 30 }),
            Op::Put(PutRequest { key: b"a".to_vec(), value: b"1".to_vec(), ..Default::default() }),
            Op::Put(PutRequest { key: b"a".to_vec(), value: b"2".to_vec(), lease: 5, ..Default::default() }),
            Op::Put(PutRequest { key: b"b".to_vec(), value: b"3".to_vec(), ..Default::default() }),
            Op::Compaction(CompactionRequest { revision: 3, ..Default::default() }),
            Op::Put(PutRequest { key: b"c".to_vec(), value: b"4".to_vec(), lease: 5, ..Default::default() }),
            Op::Publish(MemberAttributes { id: 7, name: "a".into(), client_urls: vec!["http://10.0.0.1:2379".into()] }),
            Op::RoleAdd(AuthRoleAddRequest { name: "reader".into() }),
            Op::UserAdd(AuthUserAddRequest { name: "root".into(), hashed_password: "$2a$04$hash".into(), ..Default::default() }),
            Op::UserGrantRole(AuthUserGrantRoleRequest { user: "root".into(), role: "root".into() }),
            Op::AuthEnable(AuthEnableRequest {}),
        ];
        for (i, op) in ops.into_iter().enumerate() {
            sm.apply(Index(i as u64 + 1), ReplicatedRequest { id: i as u64, op: Some(op), trace: vec![], ..Default::default() }).unwrap();
        }
        sm
    }

    #[test]
    fn a_restored_state_machine_equals_the_original() {
        let sm = busy();
        let mut other = StateMachine::new(&members(), 2);
        let rx = other.subscribe();
        other.restore(&sm.snapshot(), sm.applied()).unwrap();
        assert_eq!(other.kv, sm.kv);
        assert_eq!(other.leases, sm.leases);
        assert_eq!(other.members, sm.members);
        assert_eq!(other.auth, sm.auth);
        assert!(other.auth.enabled() && other.auth.user("root").is_some() && other.auth.role("reader").is_some());
        assert_eq!(other.applied(), Index(11));
        assert_eq!(rx.borrow().revision, sm.kv.current_revision(), "subscribers are told");
        assert_eq!(other.kv.compacted_revision(), Revision(3));
        assert_eq!(other.leases.get(LeaseId(5)).unwrap().keys.len(), 2);
        // And it goes on applying from there.
        other.apply_empty(Index(12));
    }

    #[test]
    fn restore_replaces_state_rather_than_merging() {
        let sm = busy();
        let mut other = busy();
        other.apply(Index(12), ReplicatedRequest { id: 99, op: Some(Op::LeaseGrant(LeaseGrantRequest { id: 9, ttl: 10 })), trace: vec![], ..Default::default() }).unwrap();
        other.restore(&sm.snapshot(), Index(11)).unwrap();
        assert!(other.leases.get(LeaseId(9)).is_none());
        assert_eq!(other.kv, sm.kv);
    }

    #[test]
    fn bad_bytes_are_refused_and_change_nothing() {
        let sm = busy();
        let snap = sm.snapshot();
        let mut other = StateMachine::new(&members(), 2);
        assert_eq!(other.restore(&[], Index(11)), Err(RestoreError::Empty));
        let mut v3 = snap.clone();
        v3[0] = 3;
        assert_eq!(other.restore(&v3, Index(11)), Err(RestoreError::Version(3)));
        assert!(matches!(other.restore(&snap[..snap.len() / 2], Index(11)), Err(RestoreError::Decode(_))));
        assert!(matches!(other.restore(&snap[..snap.len() - 1], Index(11)), Err(RestoreError::Decode(_))), "auth cut short");
        let mut v1_with_auth = snap.clone();
        v1_with_auth[0] = 1;
        assert!(matches!(other.restore(&v1_with_auth, Index(11)), Err(RestoreError::Decode(_))), "version 1 has no auth");
        assert_eq!(other.restore(&snap, Index(6)), Err(RestoreError::Index { expected: Index(6), found: Index(11) }));
        assert_eq!(other.applied(), Index(0));
        assert_eq!(other.kv, Store::new());
    }

    #[test]
    fn a_version_1_snapshot_restores_with_auth_disabled() {
        let sm = busy();
        let snap = sm.snapshot();
        let auth_len = postcard::to_stdvec(&sm.auth).unwrap().len();
        let mut v1 = snap[..snap.len() - auth_len].to_vec();
        v1[0] = 1;
        let mut other = StateMachine::new(&members(), 2);
        other.restore(&v1, Index(11)).unwrap();
        assert_eq!(other.kv, sm.kv);
        assert_eq!(other.auth, AuthStore::new());
    }
}
