//! What a run does: the scenario. Parsed from `scenarios/*.toml` (serde), or built in code.
//!
//! A scenario names the cluster size, the run's duration, Raft timing if not the default, the client
//! workload, the faults (an explicit timeline and/or a randomized nemesis whose every parameter is
//! drawn from the seed), and which checks apply. Example:
//!
//! ```toml
//! description = "the leader is cut off with a minority; the minority must not commit"
//! nodes = 3
//! duration_s = 12.0
//!
//! [workload]
//! clients = 5
//! keys = 10
//! rate_per_s = 20.0
//! mix = { get = 40, put = 40, txn_cas = 20 }
//!
//! [[fault]]
//! at_s = 2.0
//! do = "isolate-leader"
//!
//! [[fault]]
//! at_s = 8.0
//! do = "heal"
//! ```
//!
//! A malformed file gets an error naming the file, the field and what was expected (serde's
//! message with the TOML position), never a panic.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Upper bounds that keep a run finite and a typo from asking for a million nodes.
pub const NODES_MAX: usize = 9;
pub const DURATION_S_MAX: f64 = 3600.0;
pub const CLIENTS_MAX: usize = 256;

/// A scenario file, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name; defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    /// One line for `sim list`.
    pub description: String,
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// Simulated seconds the run lasts.
    pub duration_s: f64,
    #[serde(default)]
    pub raft: Option<RaftTimingSpec>,
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
    /// The explicit fault timeline.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultStep>,
    /// Randomized faults, every parameter drawn from the seed.
    #[serde(default)]
    pub nemesis: Option<NemesisSpec>,
    #[serde(default)]
    pub checks: ChecksSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectSpec>,
    /// Set in a regression file (`scenarios/regressions/`, written by `sim shrink`): the run it
    /// pins, and the check that run must fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<Regression>,
    /// What `sim run` was given to select this scenario: the catalog name, or the path of a file
    /// as typed. Not part of the file; the reproduce line prints it so that it works as printed.
    #[serde(skip)]
    pub selector: String,
}

/// The run a regression file pins: this scenario with `seed` (and `bug` switched on) fails
/// `check`; without the bug it passes if `passes_without_bug`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    pub seed: u64,
    /// An injected bug's name (`detcd_node::bugs`), or none for a bug of detcd itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
    /// The check that fails (a name from the run's verdicts, or `node-assertion`).
    pub check: String,
    #[serde(default)]
    pub passes_without_bug: bool,
    /// Where the file came from: the original scenario and what shrinking removed.
    #[serde(default)]
    pub shrunk_from: String,
}

fn default_nodes() -> usize {
    3
}

/// Raft timing overrides (defaults: `detcd_node::config::RaftTiming::default()`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftTimingSpec {
    pub tick_ms: Option<u64>,
    pub election_ticks_min: Option<usize>,
    pub election_ticks_max: Option<usize>,
    pub heartbeat_ticks: Option<usize>,
}

/// The simulated clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub clients: usize,
    /// Keys are `k0 .. k{keys-1}`.
    #[serde(default = "default_keys")]
    pub keys: usize,
    /// Operations per second per client (each client waits for its previous operation).
    #[serde(default = "default_rate")]
    pub rate_per_s: f64,
    /// How long a client waits for one response before recording the outcome as unknown.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Relative weights of operation kinds. Kinds: get, put, delete, txn_cas, range, put_lease,
    /// lease_revoke, watch.
    pub mix: BTreeMap<OpKind, u32>,
    /// When clients stop issuing operations (default: one second before the end).
    #[serde(default)]
    pub stop_s: Option<f64>,
}

fn default_keys() -> usize {
    10
}
fn default_rate() -> f64 {
    20.0
}
fn default_timeout_ms() -> u64 {
    1000
}

/// A kind of client operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Get,
    Put,
    Delete,
    TxnCas,
    Range,
    PutLease,
    LeaseRevoke,
    Watch,
    /// Renew one of the client's leases once (etcd's `LeaseKeepAlive`, one request on the
    /// stream). Not a model operation: etcd serves renewals at the leader's lessor, outside Raft;
    /// the lease checks use its answer.
    LeaseKeepalive,
    /// Grant a lease, take the lock `lock` with it (etcd's `v3lock`), write `lockdata` while
    /// holding it (fenced by the ownership key), then unlock. The lock service writes keys the
    /// linearizability model does not see, so a workload with locks skips that check.
    Lock,
}

/// A node, named as in the event log (`n1`..), or chosen when the fault fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NodeRef {
    /// `n1`, `n2`, ... (1-based).
    Node(usize),
    /// `leader`: the node leading in the highest term when the fault fires.
    Leader,
    /// `follower`: the first node (by name) that is not the leader.
    Follower,
}

impl TryFrom<String> for NodeRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "leader" => Ok(NodeRef::Leader),
            "follower" => Ok(NodeRef::Follower),
            _ => s
                .strip_prefix('n')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n >= 1)
                .map(NodeRef::Node)
                .ok_or_else(|| format!("invalid node {s:?}: expected n1, n2, ..., \"leader\" or \"follower\"")),
        }
    }
}

impl From<NodeRef> for String {
    fn from(n: NodeRef) -> String {
        match n {
            NodeRef::Node(i) => format!("n{i}"),
            NodeRef::Leader => "leader".into(),
            NodeRef::Follower => "follower".into(),
        }
    }
}

/// One timeline step: at `at_s`, do the fault; if `for_s` is set, undo it that much later.
// No `deny_unknown_fields` here: serde cannot combine it with `flatten`; the flattened `Fault`
// rejects unknown fields itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultStep {
    pub at_s: f64,
    #[serde(default)]
    pub for_s: Option<f64>,
    #[serde(flatten)]
    pub fault: Fault,
}

/// The fault verbs. Each is usable in a timeline and by the nemesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Split the nodes into groups; nodes in different groups cannot talk (both directions).
    /// Nodes not named form one more group.
    Partition { groups: Vec<Vec<NodeRef>> },
    /// Cut one node off from every other node.
    Isolate { node: NodeRef },
    /// Cut the current leader off.
    IsolateLeader,
    /// Put the current leader with a minority: the leader and `floor((n-1)/2) - 1` followers on
    /// one side, the majority on the other.
    IsolateLeaderWithMinority,
    /// Messages from `from` to `to` are dropped; the other direction works.
    OneWay { from: Vec<NodeRef>, to: Vec<NodeRef> },
    /// Two halves that only `middle` joins: every link between the halves is cut.
    Bridge { middle: NodeRef },
    /// Every `period_s`, a new random partition (drawn from the seed), until undone.
    Flapping { period_s: f64 },
    /// FoundationDB-style swizzle-clog: clog the nodes one by one (random order, `step_s` apart),
    /// then unclog them one by one in a different random order.
    SwizzleClog { step_s: f64 },
    /// Extra latency on every message (`ms` added, uniformly up to `jitter_ms` more).
    Latency { ms: u64, #[serde(default)] jitter_ms: u64 },
    /// Drop this fraction of packets.
    Loss { rate: f64 },
    /// Undo every network fault.
    Heal,
    /// Kill a node's process: unsynced disk writes are lost.
    Crash { node: NodeRef },
    /// Start a crashed node again from its disk.
    Restart { node: NodeRef },
    /// Stop scheduling a node's tasks (its clock keeps running).
    Pause { node: NodeRef },
    Resume { node: NodeRef },
    /// Crash and restart every node in turn, `gap_s` apart, waiting `down_s` each.
    RollingRestart { gap_s: f64, down_s: f64 },
    /// Crash every node at once (unsynced writes lost everywhere), then restart them all.
    PowerLoss { down_s: f64 },
    /// Step a node's clock by `ms` (negative: backwards).
    ClockJump { node: NodeRef, ms: i64 },
    /// Make a node's clock run at `rate` times real speed.
    ClockDrift { node: NodeRef, rate: f64 },
    /// The node's next fsyncs fail.
    DiskFsyncFail { node: NodeRef },
    /// Each disk operation of the node takes `ms` longer.
    DiskSlow { node: NodeRef, ms: u64 },
}

/// Randomized faults: every parameter drawn from the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    /// Which fault families to draw from: partition, kill, pause, clock, disk, latency, loss.
    pub kinds: Vec<String>,
    /// Seconds between two faults, drawn uniformly from `[min, max]`.
    pub interval_s: [f64; 2],
    /// How long a fault lasts, drawn uniformly from `[min, max]`.
    pub duration_s: [f64; 2],
    #[serde(default)]
    pub start_s: Option<f64>,
    /// No new fault after this; everything heals by then (default: 3/4 of the run).
    #[serde(default)]
    pub stop_s: Option<f64>,
    /// Swarm testing (TigerBeetle's): each seed draws which of `kinds` are on (each with
    /// probability 1/2, so some seeds have one family, some all, some none) and how hard (the
    /// intervals between faults scaled by 1/2, 1 or 2). See `faults::swarm`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swarm: bool,
}

/// Events a scenario is written to reach (`crate::coverage::EVENTS`): a sweep in which none of
/// its seeds reaches one of them fails, so a scenario that stops reaching what it was written
/// for is found, not trusted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    #[serde(default)]
    pub events: Vec<String>,
}

/// Which checks apply (all on by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksSpec {
    #[serde(default = "yes")]
    pub linearizability: bool,
    #[serde(default = "yes")]
    pub raft: bool,
    /// Lease checks (keys die with their lease; no early expiry): see `checks::lease`.
    #[serde(default = "yes")]
    pub lease: bool,
    /// Watch checks (etcd's watch guarantees against the history): see `checks::watch`.
    #[serde(default = "yes")]
    pub watch: bool,
    /// Lock exclusion (holders never overlap; writes land while held): see `checks::lock`.
    #[serde(default = "yes")]
    pub lock: bool,
    /// After the last fault heals, a leader and a successful client operation within this many
    /// seconds (liveness). None: not checked.
    #[serde(default)]
    pub liveness_s: Option<f64>,
}

fn yes() -> bool {
    true
}

impl Default for ChecksSpec {
    fn default() -> Self {
        ChecksSpec { linearizability: true, raft: true, lease: true, watch: true, lock: true, liveness_s: None }
    }
}

/// A scenario that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {error}")]
    Read { file: PathBuf, error: std::io::Error },
    #[error("{file}: {error}")]
    Parse { file: PathBuf, error: String },
    #[error("{file}: {field}: {why}")]
    Invalid { file: PathBuf, field: String, why: String },
    #[error("no scenario named {0:?} (`sim list` shows them)")]
    Unknown(String),
}

impl Scenario {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_s)
    }

    /// Parses a scenario from TOML text; `file` names it in errors and gives the default name.
    pub fn parse(file: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Parse { file: file.to_path_buf(), error: e.to_string() })?;
        if s.name.is_empty() {
            s.name = file.file_stem().map(|x| x.to_string_lossy().into_owned()).unwrap_or_default();
        }
        s.validate().map_err(|(field, why)| ScenarioError::Invalid { file: file.to_path_buf(), field, why })?;
        Ok(s)
    }

    /// The command that reproduces a run of this scenario with `seed` (and an injected `bug`), as
    /// typed in the shell this binary runs in: `cargo sim ...` under cargo (the workspace alias),
    /// `sim ...` for an installed binary; the scenario as it was selected (catalog name, or the
    /// file's path with any `--nodes`/`--duration` override).
    pub fn reproduce(&self, seed: u64, bug: Option<&str>) -> String {
        let program = if std::env::var_os("CARGO").is_some() { "cargo sim" } else { "sim" };
        let selector = if self.selector.is_empty() { &self.name } else { &self.selector };
        let bug = bug.map(|b| format!(" --bug {b}")).unwrap_or_default();
        format!("{program} run {selector} --seed {seed}{bug}")
    }

    /// Reads and parses a scenario file.
    pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(file).map_err(|error| ScenarioError::Read { file: file.to_path_buf(), error })?;
        Scenario::parse(file, &text)
    }

    /// Checks what serde cannot: ranges and cross-field rules. Returns (field, why).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, why: String| Err((f.to_string(), why));
        if !(1..=NODES_MAX).contains(&self.nodes) {
            return bad("nodes", format!("expected 1..={NODES_MAX}, got {}", self.nodes));
        }
        if !(self.duration_s > 0.0 && self.duration_s <= DURATION_S_MAX) {
            return bad("duration_s", format!("expected a number in (0, {DURATION_S_MAX}], got {}", self.duration_s));
        }
        if let Some(w) = &self.workload {
            if w.clients > CLIENTS_MAX {
                return bad("workload.clients", format!("expected at most {CLIENTS_MAX}, got {}", w.clients));
            }
            if w.keys == 0 {
                return bad("workload.keys", "expected at least 1".into());
            }
            if !(w.rate_per_s > 0.0 && w.rate_per_s.is_finite()) {
                return bad("workload.rate_per_s", format!("expected a positive number, got {}", w.rate_per_s));
            }
            if w.mix.values().all(|&v| v == 0) {
                return bad("workload.mix", "expected at least one operation kind with a positive weight".into());
            }
        }
        for (i, step) in self.faults.iter().enumerate() {
            let field = format!("fault[{i}]");
            if !(step.at_s >= 0.0 && step.at_s <= self.duration_s) {
                return bad(&format!("{field}.at_s"), format!("expected a time within the run (0..={}), got {}", self.duration_s, step.at_s));
            }
            if let Some(f) = step.for_s {
                if !(f > 0.0 && f.is_finite()) {
                    return bad(&format!("{field}.for_s"), format!("expected a positive number, got {f}"));
                }
            }
            for n in step.fault.named_nodes() {
                if n == 0 || n > self.nodes {
                    return bad(&field, format!("names n{n} but the cluster has n1..n{}", self.nodes));
                }
            }
            match &step.fault {
                Fault::ClockDrift { rate, .. } if !(*rate > 0.0 && rate.is_finite()) => {
                    return bad(&format!("{field}.rate"), format!("expected a positive clock rate, got {rate}"));
                }
                Fault::Loss { rate } if !(0.0..=1.0).contains(rate) => {
                    return bad(&format!("{field}.rate"), format!("expected a fraction in [0, 1], got {rate}"));
                }
                _ => {}
            }
        }
        for e in self.expect.iter().flat_map(|x| &x.events) {
            if !crate::coverage::EVENTS.contains(&e.as_str()) {
                return bad("expect.events", format!("unknown event {e:?}: expected one of {:?}", crate::coverage::EVENTS));
            }
        }
        if let Some(bug) = self.regression.as_ref().and_then(|r| r.bug.as_ref()) {
            if let Err(e) = bug.parse::<detcd_node::bugs::Bug>() {
                return bad("regression.bug", e.to_string());
            }
        }
        if let Some(n) = &self.nemesis {
            if !(n.interval_s[0] > 0.0 && n.interval_s[0] <= n.interval_s[1]) {
                return bad("nemesis.interval_s", format!("expected [min, max] with 0 < min <= max, got {:?}", n.interval_s));
            }
            if !(n.duration_s[0] > 0.0 && n.duration_s[0] <= n.duration_s[1]) {
                return bad("nemesis.duration_s", format!("expected [min, max] with 0 < min <= max, got {:?}", n.duration_s));
            }
            for k in &n.kinds {
                if !NEMESIS_KINDS.contains(&k.as_str()) {
                    return bad("nemesis.kinds", format!("unknown kind {k:?}: expected one of {NEMESIS_KINDS:?}"));
                }
            }
        }
        Ok(())
    }
}

/// Fault families the nemesis draws from.
pub const NEMESIS_KINDS: &[&str] = &["partition", "kill", "pause", "clock", "disk", "latency", "loss"];

impl Fault {
    /// The 1-based node numbers this fault names explicitly.
    pub fn named_nodes(&self) -> Vec<usize> {
        let mut refs: Vec<&NodeRef> = Vec::new();
        match self {
            Fault::Partition { groups } => refs.extend(groups.iter().flatten()),
            Fault::OneWay { from, to } => refs.extend(from.iter().chain(to)),
            Fault::Isolate { node }
            | Fault::Bridge { middle: node }
            | Fault::Crash { node }
            | Fault::Restart { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::ClockJump { node, .. }
            | Fault::ClockDrift { node, .. }
            | Fault::DiskFsyncFail { node }
            | Fault::DiskSlow { node, .. } => refs.push(node),
            _ => {}
        }
        refs.into_iter().filter_map(|r| if let NodeRef::Node(i) = r { Some(*i) } else { None }).collect()
    }
}

mod compiled {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// The scenario directory of the source tree (`$DETCD_SCENARIOS`, else `scenarios/` of the
/// workspace the binary was built from): where the tests find the regression files. The binary's
/// own catalog is compiled in ([`catalog`]) and does not read it.
pub fn scenario_dir() -> PathBuf {
    std::env::var_os("DETCD_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))
}

/// Every scenario of the catalog, sorted by name: the `scenarios/*.toml` files as they were when
/// the binary was built (see `build.rs`).
pub fn catalog() -> Result<Vec<Scenario>, ScenarioError> {
    compiled::CATALOG.iter().map(|(name, text)| from_catalog(name, text)).collect()
}

fn from_catalog(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let mut s = Scenario::parse(&Path::new("scenarios").join(format!("{name}.toml")), text)?;
    s.selector = name.to_string();
    Ok(s)
}

/// A scenario by name (from the compiled-in catalog) or by path (anything ending in `.toml`,
/// read from the file system, relative to the current directory).
pub fn find(name_or_path: &str) -> Result<Scenario, ScenarioError> {
    if name_or_path.ends_with(".toml") {
        let mut s = Scenario::load(Path::new(name_or_path))?;
        s.selector = name_or_path.to_string();
        return Ok(s);
    }
    match compiled::CATALOG.iter().find(|(name, _)| *name == name_or_path) {
        Some((name, text)) => from_catalog(name, text),
        None => Err(ScenarioError::Unknown(name_or_path.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/x.toml"), text)
    }

    #[test]
    fn a_timeline_parses_with_node_refs_and_durations() {
        let s = parse(
            r#"
            description = "d"
            duration_s = 10
            [[fault]]
            at_s = 1
            for_s = 2
            do = "partition"
            groups = [["n1", "leader"]]
            [[fault]]
            at_s = 3
            do = "clock-drift"
            node = "n2"
            rate = 1.5
            "#,
        )
        .unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.nodes, 3);
        assert_eq!(s.faults[0].fault, Fault::Partition { groups: vec![vec![NodeRef::Node(1), NodeRef::Leader]] });
        assert_eq!(s.faults[0].for_s, Some(2.0));
        assert_eq!(s.faults[1].fault, Fault::ClockDrift { node: NodeRef::Node(2), rate: 1.5 });
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = parse("description = \"d\"\nduration_s = 5\n[[fault]]\nat_s = 1\ndo = \"explode\"\n").unwrap_err().to_string();
        assert!(e.starts_with("scenarios/x.toml:") && e.contains("explode"), "{e}");
        let e = parse("description = \"d\"\nduration_s = 5\nnodez = 3\n").unwrap_err().to_string();
        assert!(e.contains("nodez"), "{e}");
        let e = parse("description = \"d\"\nduration_s = 5\n[[fault]]\nat_s = 1\ndo = \"crash\"\nnode = \"n7\"\n").unwrap_err().to_string();
        assert!(e.contains("fault[0]") && e.contains("n7"), "{e}");
        let e = parse("description = \"d\"\nduration_s = -1\n").unwrap_err().to_string();
        assert!(e.contains("duration_s"), "{e}");
        let e = parse("description = \"d\"\nduration_s = 5\n[[fault]]\nat_s = 1\ndo = \"crash\"\nnode = \"x1\"\n").unwrap_err().to_string();
        assert!(e.contains("expected n1"), "{e}");
    }

    #[test]
    fn every_catalog_scenario_parses() {
        let all = catalog().expect("catalog loads");
        assert!(all.len() >= 2, "catalog has scenarios");
        for s in all {
            assert!(!s.description.is_empty(), "{} has a description", s.name);
        }
    }
}
