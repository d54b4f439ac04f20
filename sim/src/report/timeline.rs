//! The client history timeline's data: one compact JSON document the page's script draws on a
//! canvas (Porcupine's picture: a lane per client, a bar per operation from invoke to
//! completion). The page holds one canvas however many operations there are; the script draws
//! only what the current time window shows, so 10,000 operations stay cheap.
//!
//! Layout of the document (times in microseconds since the run's start):
//!
//! ```text
//!   {"end_us": 12000000, "clients": 5, "kinds": ["get", "put", ...],
//!    "ops": [[client, invoked_us, completed_us, outcome, kind, flags, "text"], ...],
//!    "bands": [[start_us, end_us, "label", "network" | "leaderless" | "down"], ...],
//!    "violation": "first offending operation, as the checker wrote it" | null}
//! ```
//!
//! `outcome` is 0 ok, 1 fail, 2 unknown; `flags` bit 0 marks an operation the checker names as
//! offending (it, or an operation that could go after the longest linearizable prefix, cannot
//! take effect), bit 1 one of the prefix operations the checker's report lists.

use super::raft::RaftSummary;
use super::story::{Story, WindowKind};
use crate::history::{ClientOp, History, OutcomeClass, StepOutcome};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// How many characters of an operation's text the page keeps (the rest is in history.jsonl).
pub const OP_TEXT_CHARS_MAX: usize = 96;

pub const FLAG_OFFENDING: u8 = 1;
pub const FLAG_PREFIX: u8 = 2;

/// The operations a failed linearizability verdict names, as (client, call time in ns).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    pub offending: BTreeSet<(u64, u64)>,
    pub prefix: BTreeSet<(u64, u64)>,
    /// The first offending operation's line, for the page.
    pub first: Option<String>,
}

/// Reads the operations out of the checker's violation text (`detcd_check`'s `ViolationInfo`
/// display): prefix lines are `   12. op #N (client C, [CALL, RET]): ...`; every other `op #`
/// (the operation that has returned, the candidates) is offending.
pub fn named_in_violation(text: &str) -> Named {
    let mut named = Named::default();
    for line in text.lines() {
        let Some(pos) = line.find("op #") else { continue };
        let Some(key) = op_key(&line[pos..]) else { continue };
        let before = line[..pos].trim();
        let in_prefix = before.strip_suffix('.').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if in_prefix {
            named.prefix.insert(key);
        } else {
            named.offending.insert(key);
            named.first.get_or_insert_with(|| line.trim().to_string());
        }
    }
    named
}

/// `op #7 (client 3, [1000, 2000]): ...` -> (3, 1000).
fn op_key(s: &str) -> Option<(u64, u64)> {
    let rest = s.split_once("(client ")?.1;
    let (client, rest) = rest.split_once(", [")?;
    let call = rest.split_once(',')?.0;
    Some((client.trim().parse().ok()?, call.trim().parse().ok()?))
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A JSON value in a few words: `put key=k1 value=c0-3`, `range revision=7 kvs=[..2]`.
fn words(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut parts = Vec::new();
            if let Some(Value::String(f)) = m.get("f") {
                parts.push(f.clone());
            }
            for (k, x) in m.iter().filter(|(k, _)| *k != "f") {
                let x = match x {
                    Value::String(s) => s.clone(),
                    Value::Array(a) if a.is_empty() => "[]".into(),
                    Value::Array(a) if a.len() > 2 => format!("[{} items]", a.len()),
                    Value::Null | Value::Bool(false) => continue,
                    other => other.to_string(),
                };
                parts.push(format!("{k}={x}"));
            }
            parts.join(" ")
        }
        other => other.to_string(),
    }
}

fn clip(mut s: String) -> String {
    if s.chars().count() > OP_TEXT_CHARS_MAX {
        s = s.chars().take(OP_TEXT_CHARS_MAX - 1).collect::<String>() + "…";
    }
    s
}

/// One operation for a person: its requests and what came back.
pub fn op_text(op: &ClientOp) -> String {
    if let Some(w) = &op.watch {
        let keys = serde_json::to_value(&w.keys).map(|v| words(&v)).unwrap_or_default();
        return clip(format!("watch {keys} from rev {}: {} events, {}", w.start_revision, w.events.len(), w.end));
    }
    let steps: Vec<String> = op
        .steps
        .iter()
        .map(|s| {
            let req = serde_json::to_value(&s.request).map(|v| words(&v)).unwrap_or_default();
            let out = match &s.outcome {
                StepOutcome::Ok(r) => serde_json::to_value(r).map(|v| words(&v)).unwrap_or_default(),
                StepOutcome::Fail(why) => format!("fail: {why}"),
                StepOutcome::Info(why) => format!("unknown: {why}"),
            };
            format!("{req} → {out}")
        })
        .collect();
    clip(steps.join("; "))
}

/// The timeline document (see the module doc).
pub fn document(history: &History, story: &Story, raft: &RaftSummary, named: &Named) -> Value {
    let kinds: Vec<String> = {
        let set: BTreeSet<String> = history.all().map(kind_name).collect();
        set.into_iter().collect()
    };
    let mut ops = Vec::new();
    for op in history.all() {
        let outcome = match op.outcome() {
            OutcomeClass::Ok => 0,
            OutcomeClass::Fail => 1,
            OutcomeClass::Info => 2,
        };
        let keys: Vec<(u64, u64)> = op.steps.iter().map(|s| (op.client as u64, s.invoked.as_nanos() as u64)).collect();
        let mut flags = 0u8;
        if keys.iter().any(|k| named.offending.contains(k)) {
            flags |= FLAG_OFFENDING;
        }
        if keys.iter().any(|k| named.prefix.contains(k)) {
            flags |= FLAG_PREFIX;
        }
        let kind = kinds.iter().position(|k| *k == kind_name(op)).unwrap_or(0);
        ops.push(json!([op.client, us(op.invoked()), us(op.completed()), outcome, kind, flags, op_text(op)]));
    }
    let mut bands = Vec::new();
    for w in story.windows_of(WindowKind::Network) {
        bands.push(json!([us(w.start), us(w.end), w.label, "network"]));
    }
    for w in story.windows_of(WindowKind::Down) {
        bands.push(json!([us(w.start), us(w.end), format!("n{} {}", w.node.map_or(0, |n| n + 1), w.label), "down"]));
    }
    for (a, b) in &raft.leaderless {
        bands.push(json!([us(*a), us(*b), "no leader", "leaderless"]));
    }
    json!({
        "end_us": us(story.end),
        "clients": history.ops.len(),
        "kinds": kinds,
        "ops": ops,
        "bands": bands,
        "violation": named.first,
    })
}

fn kind_name(op: &ClientOp) -> String {
    serde_json::to_value(op.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIOLATION: &str = "etcd model, ours format, 4 operations: not linearizable: 1 of 1 partition(s) have no valid order
partition 0 (4 operations):
  longest linearizable prefix found: 2 operation(s)
       1. op #0 (client 0, [10000000, 20000000]): put k1=a -> rev 2
       2. op #1 (client 1, [30000000, 40000000]): get k1 -> a
  state after it: rev 2
  op #3 (client 1, [50000000, 60000000]): get k1 -> b has returned, so it or an operation called before that return must take effect next, but none can:
    op #3 (client 1, [50000000, 60000000]): get k1 -> b: impossible in this state
    op #2 (client 2, [45000000, ∞)): put k1=c: possible, but no order of the remaining operations works after it";

    #[test]
    fn the_violation_text_names_prefix_and_offending_operations() {
        let n = named_in_violation(VIOLATION);
        assert_eq!(n.prefix, [(0, 10_000_000), (1, 30_000_000)].into_iter().collect());
        assert_eq!(n.offending, [(1, 50_000_000), (2, 45_000_000)].into_iter().collect());
        assert!(n.first.as_deref().is_some_and(|f| f.starts_with("op #3 (client 1")), "{n:?}");
        assert_eq!(named_in_violation("pass"), Named::default());
    }

    #[test]
    fn words_are_short_and_clipped() {
        assert_eq!(words(&json!({"f": "put", "key": "k1", "value": "v", "prev_kv": false})), "put key=k1 value=v");
        assert_eq!(words(&json!({"f": "range", "revision": 7, "kvs": [1, 2, 3]})), "range kvs=[3 items] revision=7");
        assert_eq!(clip("x".repeat(200)).chars().count(), OP_TEXT_CHARS_MAX);
    }
}
