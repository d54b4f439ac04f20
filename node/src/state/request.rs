//! What goes through the Raft log: one [`ReplicatedRequest`] per normal entry.
//!
//! The request carries a unique ID. The member that proposed it waits for the entry with that ID to
//! be applied, whatever index it lands at: pairing proposals with committed entries by position
//! breaks on a leader change (STYLE.md, "what not to copy").
//!
//! Encoded with prost; field numbers are our on-disk format once the WAL exists, so never reuse one.

use crate::config::Limits;
use crate::error::ApiError;
use crate::pb::etcdserverpb as pb;

/// One replicated state-machine command.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReplicatedRequest {
    /// Unique per request cluster-wide: see [`RequestIds`].
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "Op", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 23, 24")]
    pub op: Option<Op>,
    /// The W3C trace ID of the client call that proposed it (16 bytes), or empty: reported when
    /// the entry is applied (`crate::trace_context`).
    #[prost(bytes = "vec", tag = "20")]
    pub trace: Vec<u8>,
    /// Who proposed it (etcd's `RequestHeader.username`): the user the client's token or
    /// certificate named, empty for none. Checked against the auth store when applied.
    #[prost(string, tag = "21")]
    pub auth_user: String,
    /// The auth revision when that user was looked up (`RequestHeader.auth_revision`), 0 for none:
    /// a request looked up before a change to users or roles is refused when applied.
    #[prost(uint64, tag = "22")]
    pub auth_revision: u64,
}

/// The command itself.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Op {
    #[prost(message, tag = "2")]
    Put(pb::PutRequest),
    #[prost(message, tag = "3")]
    DeleteRange(pb::DeleteRangeRequest),
    #[prost(message, tag = "4")]
    Txn(pb::TxnRequest),
    #[prost(message, tag = "5")]
    Compaction(pb::CompactionRequest),
    /// A member publishes its name and client URLs (etcd's `publish`): no MVCC revision.
    #[prost(message, tag = "6")]
    Publish(MemberAttributes),
    /// Creates a lease. The ID is always set: the member that takes the client's request picks one
    /// when the client did not (etcd does the same before proposing), so applying is deterministic.
    #[prost(message, tag = "7")]
    LeaseGrant(pb::LeaseGrantRequest),
    /// Ends a lease and deletes its keys: a client's revoke.
    #[prost(message, tag = "8")]
    LeaseRevoke(pb::LeaseRevokeRequest),
    /// The same as [`Op::LeaseRevoke`], proposed by the primary lessor because the lease ran out.
    /// (etcd proposes a plain revoke; a distinct op lets members report expiries apart from
    /// revokes, which the simulator's lease checks need. It applies exactly as a revoke.)
    #[prost(message, tag = "9")]
    LeaseExpire(pb::LeaseRevokeRequest),
    #[prost(message, tag = "10")]
    AuthEnable(pb::AuthEnableRequest),
    #[prost(message, tag = "11")]
    AuthDisable(pb::AuthDisableRequest),
    /// Hands `name` a simple token (etcd's `InternalAuthenticateRequest`): the proposing member
    /// checked the password; the entry carries neither it nor its hash.
    #[prost(message, tag = "12")]
    Authenticate(AuthenticateEntry),
    /// `password` is always empty: the proposing member hashed it into `hashed_password` (empty
    /// with `options.no_password`).
    #[prost(message, tag = "13")]
    UserAdd(pb::AuthUserAddRequest),
    #[prost(message, tag = "14")]
    UserDelete(pb::AuthUserDeleteRequest),
    /// As [`Op::UserAdd`]: only `hashed_password` is set.
    #[prost(message, tag = "15")]
    UserChangePassword(pb::AuthUserChangePasswordRequest),
    #[prost(message, tag = "16")]
    UserGrantRole(pb::AuthUserGrantRoleRequest),
    #[prost(message, tag = "17")]
    UserRevokeRole(pb::AuthUserRevokeRoleRequest),
    #[prost(message, tag = "18")]
    RoleAdd(pb::AuthRoleAddRequest),
    #[prost(message, tag = "19")]
    RoleDelete(pb::AuthRoleDeleteRequest),
    #[prost(message, tag = "23")]
    RoleGrantPermission(pb::AuthRoleGrantPermissionRequest),
    #[prost(message, tag = "24")]
    RoleRevokePermission(pb::AuthRoleRevokePermissionRequest),
}

impl Op {
    /// Whether applying it needs the `root` role once auth is enabled (etcd
    /// `needAdminPermission`).
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            Op::AuthEnable(_)
                | Op::AuthDisable(_)
                | Op::UserAdd(_)
                | Op::UserDelete(_)
                | Op::UserChangePassword(_)
                | Op::UserGrantRole(_)
                | Op::UserRevokeRole(_)
                | Op::RoleAdd(_)
                | Op::RoleDelete(_)
                | Op::RoleGrantPermission(_)
                | Op::RoleRevokePermission(_)
        )
    }
}

/// An authenticate entry: the user, and the random prefix of the token every member records.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthenticateEntry {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub token_prefix: String,
}

/// A member's published attributes, as `etcdctl member list` shows them.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberAttributes {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, repeated, tag = "3")]
    pub client_urls: Vec<String>,
}

/// The result of applying one request, handed back to the waiting client.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Put(pb::PutResponse),
    DeleteRange(pb::DeleteRangeResponse),
    Txn(pb::TxnResponse),
    Compaction(pb::CompactionResponse),
    Publish,
    LeaseGrant(pb::LeaseGrantResponse),
    LeaseRevoke(pb::LeaseRevokeResponse),
    /// An auth change took effect (the service builds etcd's empty response around it).
    Auth,
    /// The token an authenticate entry granted.
    Authenticated(String),
}

impl Applied {
    /// The store's revision after the request (its response header's), if it has one.
    pub fn revision(&self) -> Option<i64> {
        let header = match self {
            Applied::Put(r) => &r.header,
            Applied::DeleteRange(r) => &r.header,
            Applied::Txn(r) => &r.header,
            Applied::Compaction(r) => &r.header,
            Applied::LeaseGrant(r) => &r.header,
            Applied::LeaseRevoke(r) => &r.header,
            Applied::Publish | Applied::Auth | Applied::Authenticated(_) => return None,
        };
        header.as_ref().map(|h| h.revision)
    }
}

/// The structural check a request passes before it is proposed and again before it is applied:
/// what apply relies on (a key that is not empty, a transaction whose branches do not write one key
/// twice, an op this build knows). Limits that are per-member flags (`--max-txn-ops`) are not part
/// of it: members may differ in them, and an entry the leader accepted must apply everywhere.
///
/// # Errors
/// The reason, as etcd words it for a client.
pub fn check(r: &ReplicatedRequest) -> Result<(), ApiError> {
    use crate::state::apply;
    let unlimited = Limits { max_request_bytes: usize::MAX, max_txn_ops: usize::MAX };
    match &r.op {
        None => Err(ApiError::InvalidArgument("request of a kind this member does not know (written by a newer version?)".into())),
        Some(Op::Put(p)) => apply::check_put(p),
        Some(Op::DeleteRange(d)) => apply::check_delete(d),
        Some(Op::Txn(t)) => apply::check_txn(t, &unlimited),
        Some(Op::RoleGrantPermission(g)) => match &g.perm {
            Some(p) if crate::state::auth::PermKind::from_i32(p.perm_type).is_some() => Ok(()),
            Some(_) => Err(ApiError::InvalidArgument("invalid permission type".into())),
            None => Err(ApiError::InvalidArgument("permission is not provided".into())),
        },
        Some(_) => Ok(()),
    }
}

/// Generates request IDs the way etcd's `idutil.Generator` does: the low 16 bits of the member ID,
/// then 48 bits that start at the node's clock in milliseconds shifted left by 8 and count up. IDs
/// from different members never collide; IDs of one member collide only if it restarts less than
/// 2^8 requests' worth of milliseconds later, as in etcd.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    suffix: u64,
}

impl RequestIds {
    const SUFFIX_BITS: u32 = 48;

    pub fn new(member: u64, now_ms: u64) -> RequestIds {
        let mask = (1u64 << Self::SUFFIX_BITS) - 1;
        RequestIds { prefix: (member & 0xffff) << Self::SUFFIX_BITS, suffix: (now_ms << 8) & mask }
    }

    pub fn next_id(&mut self) -> u64 {
        let mask = (1u64 << Self::SUFFIX_BITS) - 1;
        self.suffix = (self.suffix + 1) & mask;
        self.prefix | self.suffix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn request_round_trips_through_its_encoding() {
        let req = ReplicatedRequest {
            id: 7,
            op: Some(Op::Put(pb::PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() })),
            trace: vec![9; 16],
            auth_user: "alice".into(),
            auth_revision: 3,
        };
        let bytes = req.encode_to_vec();
        assert_eq!(ReplicatedRequest::decode(bytes.as_slice()).unwrap(), req);
    }

    #[test]
    fn request_ids_are_unique_and_carry_the_member() {
        let mut a = RequestIds::new(0x1234_5678_9abc_def0, 1_000);
        let mut b = RequestIds::new(0x1111_2222_3333_4444, 1_000);
        let (x, y, z) = (a.next_id(), a.next_id(), b.next_id());
        assert_ne!(x, y);
        assert_ne!(x, z);
        assert_eq!(x >> 48, 0xdef0);
    }
}
