//! A member's configuration: who it is, who its peers are, where it listens, Raft timing and limits.
//! Built from etcd's flags by the `detcd` binary, or directly by the simulator.

use crate::ids;
use crate::types::{ClusterId, MemberId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Raft timing in ticks (defaults: STACK.md "timing that fits the spec").
#[derive(Clone, Debug, PartialEq)]
pub struct RaftTiming {
    /// One Raft logical clock tick, in the node's local time.
    pub tick: Duration,
    /// Election timeout is drawn uniformly from `[election_ticks_min, election_ticks_max)`.
    pub election_ticks_min: usize,
    pub election_ticks_max: usize,
    /// Leader heartbeat interval.
    pub heartbeat_ticks: usize,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            tick: Duration::from_millis(10),
            election_ticks_min: 15,
            election_ticks_max: 30,
            heartbeat_ticks: 3,
        }
    }
}

impl RaftTiming {
    /// How long a client request may wait for its proposal to apply before "request timed out".
    /// etcd: 5 s + 2 x election timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(5) + self.tick * (2 * self.election_ticks_max as u32)
    }
}

/// Limits on what a client may send, as etcd's.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// etcd `--max-request-bytes`: a request larger than this is refused ("request is too large").
    pub max_request_bytes: usize,
    /// etcd `--max-txn-ops`: compares, success ops and failure ops each at most this many.
    pub max_txn_ops: usize,
}

/// gRPC's own frame limit sits this far above `max_request_bytes`, as in etcd (`grpcOverheadBytes`),
/// so that an oversized request reaches our check and gets etcd's error instead of a transport one.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_request_bytes: 3 * 512 * 1024, max_txn_ops: 128 }
    }
}

/// A member as `--initial-cluster` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub id: MemberId,
    pub cluster_id: ClusterId,
    /// Every initial member, this one included, by ID.
    pub members: BTreeMap<MemberId, InitialMember>,
    pub listen_client: Vec<SocketAddr>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer: Vec<SocketAddr>,
    /// `--listen-metrics-urls`: extra HTTP listeners for `/metrics` and `/health` (real mode; the
    /// client port serves them too).
    pub listen_metrics: Vec<SocketAddr>,
    pub timing: RaftTiming,
    pub limits: Limits,
    /// Seeds the node's own RNG (election timeouts). The simulator derives it from the run's seed.
    pub seed: u64,
    /// Injected bugs (simulation only; always none in the real build, see `bugs`).
    pub bugs: crate::bugs::Bugs,
    /// Where request and lease IDs start counting (milliseconds, etcd's `idutil`): the wall clock
    /// at start in real mode, so that IDs do not repeat across restarts; `None` takes the node's
    /// clock (the simulator, where the run's seed fixes everything).
    pub id_epoch_ms: Option<u64>,
    /// Test hook (hidden flag `--debug-panic-after-applied`): the driver panics once it has
    /// applied this index, to check that a member whose driver dies does not linger.
    pub panic_after_applied: Option<u64>,
    pub auth: AuthConfig,
}

/// etcd's auth flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// `--bcrypt-cost` (etcd: 10; bcrypt allows 4..=31).
    pub bcrypt_cost: u32,
    /// `--auth-token-ttl`: how long a simple token lives without use (etcd: 300 s).
    pub token_ttl: std::time::Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { bcrypt_cost: 10, token_ttl: std::time::Duration::from_secs(300) }
    }
}

/// A configuration that cannot work, named the way etcd names it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("invalid value {value:?} for flag {flag}: {why}")]
    BadFlag { flag: &'static str, value: String, why: String },
    #[error("couldn't find local name {name:?} in the initial cluster configuration")]
    NameNotInCluster { name: String },
    #[error("--initial-cluster has {name}={urls:?} but --initial-advertise-peer-urls has {advertised:?}")]
    PeerUrlMismatch { name: String, urls: Vec<String>, advertised: Vec<String> },
    #[error("unsupported --initial-cluster-state {0:?}: only \"new\" is supported so far")]
    ClusterState(String),
}

/// Parses `name1=url1,name1=url2,name2=url3` (etcd's `--initial-cluster`). A name may repeat to
/// give a member several peer URLs. Order of members follows first appearance.
pub fn parse_initial_cluster(s: &str) -> Result<Vec<InitialMember>, ConfigError> {
    let bad = |why: &str| ConfigError::BadFlag { flag: "--initial-cluster", value: s.to_string(), why: why.into() };
    let mut out: Vec<InitialMember> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, url) = part.split_once('=').ok_or_else(|| bad("expected name=url"))?;
        parse_url(url).map_err(|why| bad(&why))?;
        match out.iter_mut().find(|m| m.name == name) {
            Some(m) => m.peer_urls.push(url.to_string()),
            None => out.push(InitialMember { name: name.to_string(), peer_urls: vec![url.to_string()] }),
        }
    }
    if out.is_empty() {
        return Err(bad("no members"));
    }
    Ok(out)
}

/// Parses `http://host:port` into a socket address to listen on or dial.
pub fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("URL {url:?} must start with http:// (TLS is not supported yet)"))?;
    let hostport = rest.trim_end_matches('/');
    let hostport = if let Some(port) = hostport.strip_prefix("localhost:") { format!("127.0.0.1:{port}") } else { hostport.to_string() };
    hostport.parse::<SocketAddr>().map_err(|e| format!("URL {url:?}: {e} (want http://IP:port)"))
}

/// Parses a comma-separated URL list flag.
pub fn parse_url_list(flag: &'static str, s: &str) -> Result<(Vec<String>, Vec<SocketAddr>), ConfigError> {
    let urls: Vec<String> = s.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
    let addrs = urls
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| ConfigError::BadFlag { flag, value: s.to_string(), why })?;
    if urls.is_empty() {
        return Err(ConfigError::BadFlag { flag, value: s.to_string(), why: "no URLs".into() });
    }
    Ok((urls, addrs))
}

/// The member table for an initial cluster: IDs derived as etcd derives them.
pub fn members_of(initial: &[InitialMember], token: &str) -> BTreeMap<MemberId, InitialMember> {
    initial.iter().map(|m| (ids::member_id(&m.peer_urls, token), m.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_parses_names_and_repeated_urls() {
        let ms = parse_initial_cluster("a=http://127.0.0.1:1,b=http://127.0.0.1:2,a=http://127.0.0.1:3").unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].peer_urls, vec!["http://127.0.0.1:1", "http://127.0.0.1:3"]);
    }

    #[test]
    fn initial_cluster_rejects_garbage_with_the_flag_name() {
        let e = parse_initial_cluster("a").unwrap_err();
        assert!(e.to_string().contains("--initial-cluster"), "{e}");
        let e = parse_initial_cluster("a=https://x:1").unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
    }

    #[test]
    fn request_limit_is_etcds_default() {
        assert_eq!(Limits::default().max_request_bytes, 1_572_864);
    }
}
