//! Member and cluster IDs, derived exactly as etcd derives them, so the same flags give the same IDs
//! as etcd (etcd `server/etcdserver/api/membership/member.go` and `cluster.go`).
//!
//! - member ID: the big-endian u64 of the first 8 bytes of
//!   `sha1(sorted peer URLs concatenated ++ cluster token)`.
//! - cluster ID: the big-endian u64 of the first 8 bytes of `sha1(sorted member IDs, each as 8
//!   big-endian bytes)`.

use crate::types::{ClusterId, MemberId};
use sha1::{Digest, Sha1};

fn first_u64(bytes: &[u8]) -> u64 {
    let digest = Sha1::digest(bytes);
    u64::from_be_bytes(digest[..8].try_into().expect("sha1 digest has 20 bytes"))
}

/// The ID etcd gives a member with these peer URLs in a cluster started with `token`.
pub fn member_id(peer_urls: &[String], token: &str) -> MemberId {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut b = Vec::new();
    for u in urls {
        b.extend_from_slice(u.as_bytes());
    }
    b.extend_from_slice(token.as_bytes());
    MemberId(first_u64(&b))
}

/// The ID etcd gives a cluster of these members.
pub fn cluster_id(members: &[MemberId]) -> ClusterId {
    let mut ids: Vec<u64> = members.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    let mut b = Vec::with_capacity(8 * ids.len());
    for id in ids {
        b.extend_from_slice(&id.to_be_bytes());
    }
    ClusterId(first_u64(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// etcd 3.4.23's demo cluster on one machine (`scripts/local-cluster.sh`): peer URLs
    /// http://127.0.0.1:2380, :22380, :32380 and token `token-01`. Recorded from Debian's
    /// etcd-server (tests/golden/etcd-3.4.23/*member-list*).
    #[test]
    fn ids_match_etcd_for_the_demo_cluster() {
        let m = |port: u16| member_id(&[format!("http://127.0.0.1:{port}")], "token-01");
        let ids = [m(2380), m(22380), m(32380)];
        assert_eq!(ids.map(|i| i.to_string()), ["264ae6bc59e99892", "68c2741afd9b3cb9", "4e692cf7935f0b46"]);
        assert_eq!(cluster_id(&ids).to_string(), "c75a71613519a7a9");
    }

    #[test]
    fn member_id_ignores_url_order() {
        let a = member_id(&["http://b:1".into(), "http://a:1".into()], "t");
        let b = member_id(&["http://a:1".into(), "http://b:1".into()], "t");
        assert_eq!(a, b);
    }
}
