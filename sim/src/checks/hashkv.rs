//! **Members' stores agree** (`HashKV`): at the end of a run, every member that answers hashes
//! its key-value store at one common revision, and the hashes are equal.
//!
//! etcd's corruption check does the same (`etcdctl endpoint hashkv`): the hash covers every key
//! version up to the revision, so two members that applied the same committed entries agree, and
//! a member whose store diverged (a lost or changed entry, a bug in apply) does not. The common
//! revision is the lowest current revision among the members that answer, so a member that lags
//! is compared on what it has. A member that does not answer within [`ASK_TIMEOUT`] (crashed,
//! cut off) is left out and named; with fewer than two answers there is nothing to compare.
//!
//! [`ask_all`] talks to the cluster (inside the simulation, from its own host); [`agree`] is the
//! pure verdict.

use super::Verdict;
#[cfg(madsim)]
use crate::cluster::node_ip;
#[cfg(madsim)]
use detcd_node::pb::etcdserverpb::{maintenance_client::MaintenanceClient, HashKvRequest};
#[cfg(madsim)]
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How long one member may take to answer one `HashKV`.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// The checker's host, apart from the members (`10.0.0.x`) and the clients (`10.0.1.x`..).
#[cfg(madsim)]
const CHECKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 200, 1));

/// One member's answer: `(revision hashed, hash)`, or why there is none.
pub type Answer = Result<(i64, u32), String>;

/// Asks every one of `members` members for its hash at a common revision. Inside a madsim runtime.
#[cfg(madsim)]
pub async fn ask_all(members: usize) -> Vec<Answer> {
    use madsim::runtime::Handle;
    let host = Handle::current().create_node().name("hashkv-checker").ip(CHECKER_IP).build();
    host.spawn(async move {
        let mut current = Vec::with_capacity(members);
        for m in 0..members {
            current.push(ask(m, 0).await);
        }
        let Some(common) = current.iter().filter_map(|a| a.as_ref().ok().map(|(rev, _)| *rev)).min() else { return current };
        let mut out = Vec::with_capacity(members);
        for (m, first) in current.into_iter().enumerate() {
            out.push(match first {
                Ok(_) => ask(m, common).await,
                Err(why) => Err(why),
            });
        }
        out
    })
    .await
    .expect("the hashkv checker task runs to completion")
}

#[cfg(madsim)]
async fn ask(member: usize, revision: i64) -> Answer {
    let url = format!("http://{}:2379", node_ip(member));
    let channel = madsim::time::timeout(ASK_TIMEOUT, tonic::transport::Endpoint::from_shared(url).expect("a valid URL").connect()).await;
    let channel = match channel {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
        Err(_) => return Err("no connection within the timeout".into()),
    };
    match madsim::time::timeout(ASK_TIMEOUT, MaintenanceClient::new(channel).hash_kv(HashKvRequest { revision })).await {
        Ok(Ok(r)) => {
            let r = r.into_inner();
            Ok((r.hash_revision, r.hash))
        }
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Err(_) => Err("no answer within the timeout".into()),
    }
}

/// The verdict over the members' answers (index = member).
pub fn agree(answers: &[Answer]) -> Verdict {
    let ok: Vec<(usize, i64, u32)> = answers.iter().enumerate().filter_map(|(m, a)| a.as_ref().ok().map(|(r, h)| (m, *r, *h))).collect();
    let silent: Vec<String> = answers.iter().enumerate().filter_map(|(m, a)| a.as_ref().err().map(|why| format!("n{} ({why})", m + 1))).collect();
    if ok.len() < 2 {
        return Verdict::Skipped(format!("{} member(s) answered; silent: {}", ok.len(), silent.join(", ")));
    }
    let (m0, r0, h0) = ok[0];
    for &(m, r, h) in &ok[1..] {
        if r != r0 {
            return Verdict::Fail(format!("n{} hashed revision {r0} but n{} revision {r} (asked for the same one)", m0 + 1, m + 1));
        }
        if h != h0 {
            return Verdict::Fail(format!("stores differ at revision {r0}: n{} hashes {h0:#010x}, n{} hashes {h:#010x}", m0 + 1, m + 1));
        }
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_hashes_pass_and_a_different_one_fails() {
        assert_eq!(agree(&[Ok((9, 0xabc)), Ok((9, 0xabc)), Err("down".into())]), Verdict::Pass);
        let v = agree(&[Ok((9, 0xabc)), Ok((9, 0xabc)), Ok((9, 0xabd))]);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("n3") && w.contains("revision 9")), "{v:?}");
        assert!(matches!(agree(&[Ok((9, 1)), Ok((8, 1))]), Verdict::Fail(_)));
        assert!(matches!(agree(&[Ok((9, 1)), Err("down".into()), Err("cut off".into())]), Verdict::Skipped(w) if w.contains("n2 (down)")));
    }
}
