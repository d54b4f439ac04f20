//! The run's page: one self-contained HTML file (inline CSS, SVG and script; nothing fetched).
//!
//! The page reports its own health for the browser check (`scripts/browser-check.sh`): a script
//! at the top collects every JavaScript error into `#js-errors`, and when the page's scripts
//! have run, `<html>` gets `data-report-ready="1"` and `data-js-errors="<count>"`; the timeline
//! canvas gets `data-drawn-ops` (operations drawn).

use super::{timeline, verdict_word, Analysis, COMMIT, VERSION};
use crate::checks::Verdict;
use std::fmt::Write as _;

static CSS: &str = include_str!("report.css");
static TIMELINE_JS: &str = include_str!("timeline.js");

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A verdict's CSS class, word and reason.
pub fn verdict_parts(v: &Verdict) -> (&'static str, &'static str, String) {
    match v {
        Verdict::Pass => ("pass", "pass", String::new()),
        Verdict::Fail(w) => ("fail", "FAIL", w.clone()),
        Verdict::LivenessFail(w) => ("fail", "FAIL (liveness)", w.clone()),
        Verdict::Unknown(w) => ("unknown", "unknown", w.clone()),
        Verdict::Skipped(w) => ("skipped", "skipped", w.clone()),
    }
}

fn badge_class(code: u8) -> &'static str {
    match code {
        0 => "pass",
        3 => "unknown",
        _ => "fail",
    }
}

/// Collects JavaScript errors (before any other script runs).
const ERROR_TRAP: &str = r#"<script>
window.__reportErrors = [];
window.addEventListener("error", function (e) {
  window.__reportErrors.push(String(e.message || e));
  var el = document.getElementById("js-errors");
  if (el) el.textContent = "JavaScript errors:\n" + window.__reportErrors.join("\n");
  document.documentElement.setAttribute("data-js-errors", String(window.__reportErrors.length));
});
</script>"#;

const READY: &str = r#"<script>
(function () {
  var n = window.__reportErrors.length;
  var el = document.getElementById("js-errors");
  if (n && el) el.textContent = "JavaScript errors:\n" + window.__reportErrors.join("\n");
  document.documentElement.setAttribute("data-js-errors", String(n));
  document.documentElement.setAttribute("data-report-ready", "1");
})();
</script>"#;

fn inline_svg(svg: &str, id: &str, label: &str) -> String {
    let svg = svg.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").trim_start();
    match svg.strip_prefix("<svg ") {
        Some(rest) => format!("<svg id=\"{id}\" class=\"plot\" role=\"img\" aria-label=\"{}\" {rest}", esc(label)),
        None => svg.to_string(),
    }
}

/// A figure inline (`svg#<name>-plot`), with links to its `<name>.png` and `<name>.svg` files.
fn figure(h: &mut String, svg: &str, name: &str, alt: &str) {
    let _ = writeln!(h, "<div class=\"figure\">{}</div>", inline_svg(svg, &format!("{name}-plot"), alt));
    let _ = writeln!(h, "<p class=\"figure-links\">Also as <a href=\"{name}.png\">{name}.png</a> and <a href=\"{name}.svg\">{name}.svg</a>.</p>");
}

/// The run's page.
pub fn page(a: &Analysis, raft_svg: &str, clients_svg: Option<&str>, metrics_svg: &str, traces: &[crate::zipkin::Trace]) -> String {
    let d = a.data;
    let code = a.exit_code();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} — detcd report</title>\n<style>\n{CSS}</style>\n{ERROR_TRAP}\n</head>\n<body>\n",
        esc(&a.title())
    );
    h.push_str("<pre id=\"js-errors\"></pre>\n");
    let _ = writeln!(
        h,
        "<h1>detcd correctness report: {} <span class=\"badge verdict-big {}\" id=\"overall-verdict\">{}</span></h1>",
        esc(&a.title()),
        badge_class(code),
        verdict_word(code)
    );
    let _ = writeln!(h, "<p class=\"lead\">{}</p>", esc(&d.scenario.description));
    header_table(&mut h, a);
    verdicts(&mut h, a);
    let _ = writeln!(h, "<h2 id=\"raft\">Terms and leaders</h2>");
    let _ = writeln!(
        h,
        "<p>Simulated time across. <b>network</b>: network faults in force; <b>leader</b>: the leader a majority acknowledged; then one lane per node, coloured by role, with its term; ★ a node becoming leader, ▼ a leader stepping down. Red hatching: the node cannot reach a majority. Below: each node's term.</p>"
    );
    figure(&mut h, raft_svg, "raft", "term and leader per node with fault windows");
    raft_summary(&mut h, a);
    let _ = writeln!(h, "<h2 id=\"clients\">Throughput and latency</h2>");
    match clients_svg {
        Some(svg) => {
            if let Some((s, e)) = a.stall {
                let _ = writeln!(
                    h,
                    "<p>The longest stretch without a successful operation: <b>{:.2} s</b>, from {:.3} s to {:.3} s.</p>",
                    (e - s).as_secs_f64(),
                    s.as_secs_f64(),
                    e.as_secs_f64()
                );
            }
            figure(&mut h, svg, "clients", "throughput and latency over time");
        }
        None => h.push_str("<p>This scenario has no client workload.</p>\n"),
    }
    let _ = writeln!(h, "<h2 id=\"metrics\">Each node's metrics</h2>");
    let _ = writeln!(
        h,
        "<p>What each node's own Prometheus registry (the one a real member serves at <code>/metrics</code>) said over the run, sampled at the node's events at most every 100 ms: the mean WAL write + fsync per interval, the proposals waiting to apply, and the bytes sent to peers per second. A restarted node starts counting again. A simulated disk costs no time unless a disk fault slows it: its fsyncs then lie on the chart's floor.</p>"
    );
    figure(&mut h, metrics_svg, "metrics", "each node's metrics over time");
    trace_section(&mut h, traces);
    history_section(&mut h, a);
    faults_section(&mut h, a);
    let _ = writeln!(h, "<h2 id=\"events\">Event log</h2>\n<details><summary>The run's story ({} lines)</summary><pre>{}</pre></details>", d.log.lines.len(), esc(&d.log.render()));
    h.push_str(READY);
    h.push_str("\n</body>\n</html>\n");
    h
}

fn header_table(h: &mut String, a: &Analysis) {
    let d = a.data;
    h.push_str("<table id=\"header\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row("scenario", esc(&d.scenario.name));
    row("seed", d.seed.to_string());
    row("detcd", format!("{} (commit <code>{}</code>)", esc(VERSION), esc(COMMIT)));
    row("reproduce", format!("<code id=\"reproduce\">{}</code>", esc(&a.reproduce())));
    row("nodes / duration", format!("{} nodes, {:.1} s simulated", d.scenario.nodes, d.scenario.duration_s));
    h.push_str("</table>\n");
    let _ = writeln!(h, "<details open><summary>Derived options (everything below follows from the seed)</summary><pre id=\"derived\">{}</pre></details>", esc(d.header));
}

fn verdicts(h: &mut String, a: &Analysis) {
    let _ = writeln!(h, "<h2 id=\"verdicts\">Checks</h2>");
    if a.data.verdicts.is_empty() {
        h.push_str("<p>No check applies to this scenario.</p>\n");
        return;
    }
    h.push_str("<table id=\"verdicts-table\">\n<tr><th>check</th><th>verdict</th><th>reason</th></tr>\n");
    for (name, v) in a.data.verdicts {
        let (class, word, reason) = verdict_parts(v);
        let reason = if reason.is_empty() { String::new() } else { format!("<pre>{}</pre>", esc(&reason)) };
        let _ = writeln!(h, "<tr><td>{}</td><td><span class=\"badge {class}\">{word}</span></td><td>{reason}</td></tr>", esc(name));
    }
    h.push_str("</table>\n");
}

fn secs(d: std::time::Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn raft_summary(h: &mut String, a: &Analysis) {
    let r = &a.raft;
    let _ = writeln!(h, "<h2 id=\"raft-summary\">Raft summary</h2>");
    let _ = writeln!(
        h,
        "<p>{} leader(s) elected, {} leader change(s), highest term {}. Time without a leader acknowledged by a majority: <b>{}</b> in {} stretch(es){}.</p>",
        r.leaders_elected,
        r.leader_changes,
        r.max_term,
        secs(r.leaderless_total()),
        r.leaderless.len(),
        r.longest_leaderless().map(|(s, e)| format!(", the longest {} (from {} to {})", secs(e - s), secs(s), secs(e))).unwrap_or_default()
    );
    h.push_str("<table id=\"elections\">\n<tr><th>term</th><th>candidates</th><th>campaign started</th><th>winner</th><th>elected at</th><th>took</th></tr>\n");
    for e in &r.elections {
        let names = e.candidates.iter().map(|c| format!("n{}", c + 1)).collect::<Vec<_>>().join(", ");
        let (winner, at) = match e.winner {
            Some((n, t)) => (format!("n{}", n + 1), secs(t)),
            None => ("nobody".into(), "–".into()),
        };
        let took = match (e.campaign_at, e.winner) {
            (Some(c), Some((_, t))) if t >= c => secs(t - c),
            _ => "–".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td>{names}</td><td class=\"num\">{}</td><td>{winner}</td><td class=\"num\">{at}</td><td class=\"num\">{took}</td></tr>",
            e.term,
            e.campaign_at.map(secs).unwrap_or_else(|| "–".into())
        );
    }
    h.push_str("</table>\n");
    h.push_str("<table id=\"applied\">\n<tr><th>node</th><th>last applied index</th><th>its term</th><th>applied at</th><th>role at the end</th></tr>\n");
    for (i, last) in r.applied.iter().enumerate() {
        let role = a.story.spans.iter().rfind(|s| s.node == i).map(|s| format!("{} (term {})", s.role.as_str(), s.term)).unwrap_or_else(|| "–".into());
        match last {
            Some(l) => {
                let _ = writeln!(h, "<tr><td>n{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{role}</td></tr>", i + 1, l.index, l.term, secs(l.at));
            }
            None => {
                let _ = writeln!(h, "<tr><td>n{}</td><td>nothing applied</td><td></td><td></td><td>{role}</td></tr>", i + 1);
            }
        }
    }
    h.push_str("</table>\n<p class=\"figure-links\">The commit index is not in the nodes' reports; a node's applied index is at most its commit index, and equal once it has caught up.</p>\n");
}

fn history_section(h: &mut String, a: &Analysis) {
    let _ = writeln!(h, "<h2 id=\"history\">Client history</h2>");
    let Some(history) = a.data.history else {
        h.push_str("<p>This scenario has no client workload.</p>\n");
        return;
    };
    if let Some(stats) = &a.stats {
        h.push_str("<table id=\"op-counts\">\n<tr><th>operation</th><th>ok</th><th>failed</th><th>unknown</th></tr>\n");
        for (kind, c) in &stats.by_kind {
            let name = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let _ = writeln!(h, "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>", esc(&name), c.ok, c.fail, c.info);
        }
        h.push_str("</table>\n");
    }
    if let Some(first) = &a.named.first {
        let _ = writeln!(
            h,
            "<p><b>Not linearizable.</b> Offending operations have a magenta frame; the operations of the longest linearizable prefix that the checker lists have a black frame (the full evidence is in the linearizability verdict above). First offending: <code>{}</code></p>",
            esc(first)
        );
    }
    h.push_str(
        "<p>One lane per client, one bar per operation from invoke to completion. Wheel: zoom at the cursor; drag: pan; hover: the operation.</p>\n\
         <div class=\"controls\"><button id=\"tl-out\">− zoom out</button><button id=\"tl-in\">+ zoom in</button><button id=\"tl-fit\">whole run</button>\
         <button id=\"tl-prev\">◀ earlier</button><button id=\"tl-next\">later ▶</button> window <input id=\"tl-seconds\" type=\"number\" min=\"0.001\" step=\"0.5\" value=\"2\"> s <button id=\"tl-window\">apply</button>",
    );
    if !a.named.offending.is_empty() {
        h.push_str(" <button id=\"tl-violation\">first offending operation</button>");
    }
    h.push_str(
        "</div>\n<div class=\"controls\">kinds:<span id=\"timeline-kinds\"></span> · outcome: <span class=\"swatch sw-fail\"></span>failed <span class=\"swatch sw-info\"></span>unknown \
         <span class=\"swatch sw-off\"></span>offending <span class=\"swatch sw-prefix\"></span>in the prefix · background: red network fault, grey no leader, blue a node down</div>\n\
         <div id=\"timeline-box\"><canvas id=\"timeline\" data-drawn-ops=\"0\"></canvas><div id=\"timeline-tip\" hidden></div></div>\n<p id=\"timeline-status\" class=\"figure-links\"></p>\n",
    );
    let doc = timeline::document(history, &a.story, &a.raft, &a.named);
    // `</` cannot appear inside a script element; JSON allows `\/` for `/`.
    let json = doc.to_string().replace("</", "<\\/");
    let _ = writeln!(h, "<script type=\"application/json\" id=\"timeline-data\">{json}</script>");
    let _ = writeln!(h, "<script>\n{TIMELINE_JS}</script>");
}

fn faults_section(h: &mut String, a: &Analysis) {
    let _ = writeln!(h, "<h2 id=\"faults\">Faults</h2>");
    if a.story.faults.is_empty() {
        h.push_str("<p>No fault was injected.</p>\n");
        return;
    }
    h.push_str("<table id=\"fault-list\">\n<tr><th>at</th><th>fault</th></tr>\n");
    for (at, text) in &a.story.faults {
        let _ = writeln!(h, "<tr><td class=\"num\">{}</td><td>{}</td></tr>", secs(*at), esc(text));
    }
    h.push_str("</table>\n");
}

/// The request traces: the slowest as a waterfall, every trace file listed (Zipkin v2 JSON, for the
/// Zipkin UI's "Upload JSON").
fn trace_section(h: &mut String, traces: &[crate::zipkin::Trace]) {
    let _ = writeln!(h, "<h2 id=\"traces\">Request traces</h2>");
    let Some(first) = traces.first() else {
        h.push_str("<p>No client request carried a trace ID in this run.</p>\n");
        return;
    };
    let _ = writeln!(
        h,
        "<p>Where a request spent its time: the client's call, then each member's WAL write + fsync of its entry and each member's apply of it. A member without a span never wrote the entry while the request was open (cut off, down, or behind). The {} (trace <code>{:032x}</code>):</p>",
        first.why.as_str(),
        first.trace
    );
    let _ = writeln!(h, "<div class=\"figure\" id=\"trace-waterfall\">{}</div>", crate::zipkin::waterfall_svg(first));
    h.push_str("<p>Each file is Zipkin v2 JSON, one trace per file (open it with the Zipkin UI's <i>Upload JSON</i>):</p>\n<ul class=\"traces\">\n");
    for t in traces {
        let root = t.spans.iter().find(|s| s.parent_id.is_none());
        let (name, ms) = root.map_or(("?", 0.0), |r| (r.name.as_str(), r.duration as f64 / 1e3));
        let _ = writeln!(h, "<li><a href=\"traces/{}\">{}</a>: {}, {} {:.3} ms, {} spans</li>", t.file_name(), t.file_name(), t.why.as_str(), esc(name), ms, t.spans.len());
    }
    h.push_str("</ul>\n");
}
