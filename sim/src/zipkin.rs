//! Traces of client requests as Zipkin v2 JSON (issue 16): where a slow, failed or unknown request
//! spent its time, from what the run recorded.
//!
//! One trace per request (its W3C trace ID, which the request carried and the entry it became
//! keeps): a root span for the client's call (the member it called, its outcome, the error if
//! any), and for the entry: each member's WAL write + fsync that made it durable there
//! (`NodeEvent::Persisted`, simulated disk time included) and each member's apply of it. A
//! follower cut off from the leader has no span; a slow disk shows as a long one.
//!
//! Deterministic: span IDs are derived from the trace ID (which the workload drew from the run's
//! seed) and the span's position; times are simulated time, offset to [`EPOCH_US`] so that a
//! trace viewer shows a plausible date. Files follow the Zipkin UI's "Upload JSON" rules:
//! microsecond timestamps, durations of at least 1 µs, a root span without a `parentId` field.

use crate::eventlog::EventLog;
use crate::history::{ClientOp, History, OutcomeClass, Step, StepOutcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Simulated time 0 as a Zipkin timestamp: 2026-01-01T00:00:00Z in microseconds.
pub const EPOCH_US: u64 = 1_767_225_600_000_000;
/// Trace files written for failed and unknown requests at most (the slowest is always written).
pub const FAILED_TRACES_MAX: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub service_name: String,
}

/// A Zipkin v2 span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub trace_id: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    /// Microseconds, at least 1.
    pub duration: u64,
    pub local_endpoint: Endpoint,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Why a trace was chosen for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Slowest,
    /// The slowest successful request that became a log entry (a read served by ReadIndex
    /// leaves none, so its trace is the client's span alone).
    SlowestWrite,
    Failed,
    Unknown,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Slowest => "slowest successful request",
            Why::SlowestWrite => "slowest successful write",
            Why::Failed => "failed",
            Why::Unknown => "unknown outcome",
        }
    }
}

/// One request's trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub trace: u128,
    pub why: Why,
    pub spans: Vec<Span>,
}

impl Trace {
    /// The file name of the trace in a report (`traces/<trace ID>.json`).
    pub fn file_name(&self) -> String {
        format!("{:032x}.json", self.trace)
    }

    /// The trace as Zipkin v2 JSON (an array of spans).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.spans).expect("spans serialize") + "\n"
    }
}

fn us(d: Duration) -> u64 {
    EPOCH_US + d.as_micros() as u64
}

/// A span ID: 64 bits mixed from the trace ID and the span's position (splitmix64), never 0.
fn span_id(trace: u128, n: u64) -> String {
    let mut z = (trace as u64) ^ ((trace >> 64) as u64).rotate_left(17) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{:016x}", z.max(1))
}

fn kind_name(op: &ClientOp) -> String {
    serde_json::to_value(op.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| format!("{:?}", op.kind))
}

/// The spans of one step (a request) of `op`.
pub fn spans_of(op: &ClientOp, step: &Step, log: &EventLog) -> Vec<Span> {
    let trace_id = format!("{:032x}", step.trace);
    let root = span_id(step.trace, 0);
    let mut tags = BTreeMap::from([
        ("client".to_string(), format!("c{}", op.client)),
        ("member".to_string(), format!("n{}", op.member + 1)),
    ]);
    match &step.outcome {
        StepOutcome::Ok(_) => {
            tags.insert("outcome".into(), "ok".into());
        }
        StepOutcome::Fail(why) | StepOutcome::Info(why) => {
            tags.insert("outcome".into(), if step.outcome.class() == OutcomeClass::Fail { "failed".into() } else { "unknown".into() });
            tags.insert("error".into(), why.clone());
        }
    }
    let mut spans = vec![Span {
        trace_id: trace_id.clone(),
        id: root.clone(),
        parent_id: None,
        name: kind_name(op),
        kind: Some("CLIENT"),
        timestamp: us(step.invoked),
        duration: (step.completed - step.invoked).as_micros().max(1) as u64,
        local_endpoint: Endpoint { service_name: format!("client-{}", op.client) },
        tags,
    }];
    let applied = log.traced.get(&step.trace).map(Vec::as_slice).unwrap_or_default();
    let indexes: std::collections::BTreeSet<u64> = applied.iter().map(|e| e.index).collect();
    let mut n = 1;
    let mut child = |name: &str, node: usize, start: Duration, took: Duration, tags: BTreeMap<String, String>| {
        let s = Span {
            trace_id: trace_id.clone(),
            id: span_id(step.trace, n),
            parent_id: Some(root.clone()),
            name: name.to_string(),
            kind: None,
            timestamp: us(start),
            duration: took.as_micros().max(1) as u64,
            local_endpoint: Endpoint { service_name: format!("n{}", node + 1) },
            tags,
        };
        n += 1;
        s
    };
    for &index in &indexes {
        // Each member's first write of the entry after the request was sent.
        let mut seen = std::collections::BTreeSet::new();
        for p in log.persisted.iter().filter(|p| p.first <= index && index <= p.last && p.at >= step.invoked) {
            if seen.insert(p.node) {
                let tags = BTreeMap::from([("index".to_string(), index.to_string()), ("entries".to_string(), (p.last - p.first + 1).to_string())]);
                spans.push(child("append + fsync", p.node, p.at.saturating_sub(p.took), p.took, tags));
            }
        }
        for e in applied.iter().filter(|e| e.index == index) {
            let outcome = match &e.outcome {
                detcd_node::events::EntryOutcome::Ok { revision: Some(r) } => format!("ok at revision {r}"),
                detcd_node::events::EntryOutcome::Ok { revision: None } => "ok".to_string(),
                detcd_node::events::EntryOutcome::Error { message } => message.clone(),
            };
            let tags = BTreeMap::from([("index".to_string(), index.to_string()), ("result".to_string(), outcome)]);
            spans.push(child("apply", e.node, e.at, Duration::ZERO, tags));
        }
    }
    spans
}

/// The traces a report shows: the slowest successful write (first: the page draws it), the slowest
/// successful request if that is another one, then every failed and unknown one (at most
/// [`FAILED_TRACES_MAX`], earliest first). Requests without a trace ID are skipped.
pub fn chosen(history: &History, log: &EventLog) -> Vec<Trace> {
    let steps: Vec<(&ClientOp, &Step)> = history.all().flat_map(|o| o.steps.iter().map(move |s| (o, s))).filter(|(_, s)| s.trace != 0).collect();
    let mut out = Vec::new();
    let slowest_of = |writes_only: bool| {
        steps
            .iter()
            .filter(|(_, s)| s.outcome.class() == OutcomeClass::Ok && (!writes_only || log.traced.contains_key(&s.trace)))
            .max_by_key(|(_, s)| (s.completed - s.invoked, std::cmp::Reverse(s.invoked)))
    };
    let write = slowest_of(true);
    if let Some((op, s)) = write {
        out.push(Trace { trace: s.trace, why: Why::SlowestWrite, spans: spans_of(op, s, log) });
    }
    if let Some((op, s)) = slowest_of(false).filter(|(_, s)| write.is_none_or(|(_, w)| w.trace != s.trace)) {
        out.push(Trace { trace: s.trace, why: Why::Slowest, spans: spans_of(op, s, log) });
    }
    let mut failed: Vec<&(&ClientOp, &Step)> = steps.iter().filter(|(_, s)| s.outcome.class() != OutcomeClass::Ok).collect();
    failed.sort_by_key(|(_, s)| (s.invoked, s.trace));
    for (op, s) in failed.into_iter().take(FAILED_TRACES_MAX) {
        let why = if s.outcome.class() == OutcomeClass::Fail { Why::Failed } else { Why::Unknown };
        out.push(Trace { trace: s.trace, why, spans: spans_of(op, s, log) });
    }
    out
}

/// An SVG waterfall of a trace: one row per span, bars on a common time axis (for the report).
pub fn waterfall_svg(t: &Trace) -> String {
    use std::fmt::Write as _;
    let start = t.spans.iter().map(|s| s.timestamp).min().unwrap_or(0);
    let end = t.spans.iter().map(|s| s.timestamp + s.duration).max().unwrap_or(start + 1).max(start + 1);
    let (label_w, bar_w, row_h) = (300.0, 900.0, 22.0);
    let height = row_h * (t.spans.len() as f64 + 1.5);
    let x = |ts: u64| label_w + (ts - start) as f64 / (end - start) as f64 * bar_w;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"waterfall\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" font-family=\"sans-serif\" font-size=\"13\">",
        label_w + bar_w + 120.0,
        label_w + bar_w + 120.0
    );
    for (i, s) in t.spans.iter().enumerate() {
        let y = row_h * i as f64 + 4.0;
        let colour = if s.tags.contains_key("error") {
            "#d73027"
        } else if s.parent_id.is_none() {
            "#4e79a7"
        } else if s.name == "apply" {
            "#59a14f"
        } else {
            "#f28e2b"
        };
        let label = format!("{} · {}", s.local_endpoint.service_name, s.name);
        let (x0, x1) = (x(s.timestamp), x(s.timestamp + s.duration));
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\">{}</text><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{} {} µs</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{:.3} ms</text>",
            y + 14.0,
            html_escape(&label),
            (x1 - x0).max(2.0),
            row_h - 6.0,
            html_escape(&label),
            s.duration,
            x1.max(x0 + 2.0) + 6.0,
            y + 14.0,
            s.duration as f64 / 1e3
        );
    }
    let _ = write!(svg, "<text x=\"{label_w}\" y=\"{:.1}\" fill=\"#555\">0 … {:.3} ms after the request was sent</text></svg>", height - 6.0, (end - start) as f64 / 1e3);
    svg
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ids_are_fixed_by_trace_and_position_and_never_zero() {
        assert_eq!(span_id(7, 0), span_id(7, 0));
        assert_ne!(span_id(7, 0), span_id(7, 1));
        assert_ne!(span_id(7, 0), span_id(8, 0));
        assert_eq!(span_id(0, 0).len(), 16);
        assert_ne!(span_id(0, 0), "0000000000000000");
    }
}
