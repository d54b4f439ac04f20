//! The report stage: a run's data rendered for a person (scenario -> cluster + faults -> history
//! -> check -> **report**).
//!
//! Pure rendering: from the run's header (derived options), event log, client history and
//! verdicts, plus the scenario and seed, it produces
//!
//! ```text
//!   reports/<scenario>-seed<N>/
//!     index.html     self-contained page: header, verdicts, figures (inline SVG), Raft summary,
//!                    client history timeline (canvas + inline script), fault list, event log
//!     report.md      the same header, verdicts and summary, with the PNGs
//!     raft.svg/png   term and leader per node, fault windows over it
//!     clients.svg/png  throughput and latency over time, fault windows and leaderless stretches
//!     metrics.svg/png  each node's own metrics over time (fsync, pending proposals, peer traffic)
//!     traces/<trace ID>.json  Zipkin v2 traces of the slowest request and every failed or unknown
//!                    one (`crate::zipkin`), the slowest drawn as a waterfall on the page
//! ```
//!
//! and, for a sweep, `reports/index.html` ([`sweep`]). Same run, same bytes: nothing reads the
//! wall clock, iteration orders are fixed, and the page fetches nothing.
//!
//! Layout: [`faultlines`] reads fault lines back into structure; [`story`] turns the event log
//! into intervals; [`raft`] summarises elections, leaderless time and applied indexes;
//! [`timeline`] prepares the client history for the page's script; [`plot`] draws the figures;
//! [`html`] and [`markdown`] assemble the documents.

pub mod faultlines;
pub mod html;
pub mod markdown;
pub mod plot;
pub mod raft;
pub mod story;
pub mod sweep;
pub mod timeline;

use crate::checks::Verdict;
use crate::eventlog::EventLog;
use crate::history::{History, OutcomeClass, Stats};
use crate::scenario::Scenario;
use raft::RaftSummary;
use std::path::Path;
use std::time::Duration;
use story::Story;

/// detcd's version, from Cargo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the simulator was built from (`build.rs`), or "unknown".
pub const COMMIT: &str = match option_env!("DETCD_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// Everything a run's report is made from.
pub struct RunData<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    /// The derived options, as `sim run` prints them.
    pub header: &'a str,
    pub log: &'a EventLog,
    pub history: Option<&'a History>,
    pub verdicts: &'a [(&'static str, Verdict)],
    /// The injected bug the run had switched on, if any (by name).
    pub bug: Option<&'a str>,
}

#[cfg(madsim)]
impl<'a> RunData<'a> {
    pub fn of(scenario: &'a Scenario, seed: u64, run: &'a crate::run::RunOutput, bug: Option<&'a str>) -> RunData<'a> {
        RunData { scenario, seed, header: &run.header, log: &run.log, history: run.history.as_ref(), verdicts: &run.verdicts, bug }
    }
}

/// A stall worth calling out on the clients figure: at least this long without a success.
pub const STALL_SHOWN_MIN: Duration = Duration::from_millis(300);

/// What the documents are made from, derived once.
pub struct Analysis<'a> {
    pub data: &'a RunData<'a>,
    pub story: Story,
    pub raft: RaftSummary,
    pub stats: Option<Stats>,
    /// The longest stretch without a successful client operation.
    pub stall: Option<(Duration, Duration)>,
    /// Operations a failed linearizability verdict names.
    pub named: timeline::Named,
}

impl<'a> Analysis<'a> {
    pub fn new(data: &'a RunData<'a>) -> Analysis<'a> {
        let story = Story::build(data.log, data.scenario.nodes, data.scenario.duration());
        let raft = RaftSummary::build(data.log, &story);
        let stats = data.history.map(|h| h.stats(bucket_for(story.end)));
        let stall = data.history.and_then(longest_stall);
        let named = data
            .verdicts
            .iter()
            .find_map(|(name, v)| match v {
                Verdict::Fail(text) if *name == "linearizability" => Some(timeline::named_in_violation(text)),
                _ => None,
            })
            .unwrap_or_default();
        Analysis { data, story, raft, stats, stall, named }
    }

    /// The command that reproduces the run.
    pub fn reproduce(&self) -> String {
        self.data.scenario.reproduce(self.data.seed, self.data.bug)
    }

    /// The most severe verdict's exit code (safety 1 > liveness 4 > unknown 3 > pass 0).
    pub fn exit_code(&self) -> u8 {
        worst(self.data.verdicts.iter().map(|(_, v)| v.exit_code()))
    }

    pub fn title(&self) -> String {
        format!("{} · seed {}", self.data.scenario.name, self.data.seed)
    }

    /// The figures' title: the run and its verdict.
    pub fn figure_title(&self) -> String {
        format!("{} · {}", self.title(), verdict_word(self.exit_code()))
    }
}

/// The most severe of some exit codes (safety 1 > liveness 4 > unknown 3 > usage 2 > pass 0).
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    let codes: Vec<u8> = codes.into_iter().collect();
    [1, 4, 3, 2].into_iter().find(|c| codes.contains(c)).unwrap_or(0)
}

/// Words for an exit code.
pub fn verdict_word(code: u8) -> &'static str {
    match code {
        0 => "PASS",
        1 => "FAIL (safety)",
        4 => "FAIL (liveness)",
        3 => "UNKNOWN",
        _ => "CANNOT RUN",
    }
}

/// A bucket size for throughput: about 120 buckets over the run, a round number of ms.
pub fn bucket_for(run: Duration) -> Duration {
    const NICE_MS: [u64; 12] = [50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 120_000];
    let raw_ms = run.as_millis() as u64 / 120;
    Duration::from_millis(NICE_MS.into_iter().find(|&n| n >= raw_ms).unwrap_or(120_000))
}

/// The longest interval without a successful operation completing, from the first invocation to
/// the last completion, if at least [`STALL_SHOWN_MIN`].
pub fn longest_stall(h: &History) -> Option<(Duration, Duration)> {
    let start = h.all().map(|o| o.invoked()).min()?;
    let end = h.all().map(|o| o.completed()).max()?;
    let mut ok: Vec<Duration> = h.all().filter(|o| o.outcome() == OutcomeClass::Ok && o.watch.is_none()).map(|o| o.completed()).collect();
    ok.sort_unstable();
    let points: Vec<Duration> = std::iter::once(start).chain(ok).chain(std::iter::once(end)).collect();
    points
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by_key(|(a, b)| (*b - *a, std::cmp::Reverse(*a)))
        .filter(|(a, b)| *b - *a >= STALL_SHOWN_MIN)
}

/// A report that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
}

/// The rendered text documents of a run (the PNGs are drawn by [`Rendered::write`]).
pub struct Rendered<'a> {
    pub analysis: Analysis<'a>,
    pub raft_svg: String,
    pub clients_svg: Option<String>,
    pub metrics_svg: String,
    /// The request traces the report carries (`crate::zipkin::chosen`).
    pub traces: Vec<crate::zipkin::Trace>,
    pub html: String,
    pub markdown: String,
}

/// Renders a run's report.
///
/// # Errors
/// [`ReportError::Plot`] if a figure cannot be drawn.
pub fn render<'a>(data: &'a RunData<'a>) -> Result<Rendered<'a>, ReportError> {
    plot::register_font();
    let analysis = Analysis::new(data);
    let title = analysis.figure_title();
    let raft_svg = plot::raft_svg(&raft_figure(&analysis, &title))?;
    let clients_svg = clients_figure(&analysis, &title).map(|f| plot::clients_svg(&f)).transpose()?;
    let metrics_svg = plot::metrics_svg(&metrics_figure(&analysis, &title))?;
    let traces = data.history.map(|h| crate::zipkin::chosen(h, data.log)).unwrap_or_default();
    let html = html::page(&analysis, &raft_svg, clients_svg.as_deref(), &metrics_svg, &traces);
    let markdown = markdown::document(&analysis);
    Ok(Rendered { analysis, raft_svg, clients_svg, metrics_svg, traces, html, markdown })
}

fn raft_figure<'a>(a: &'a Analysis, title: &'a str) -> plot::RaftFigure<'a> {
    plot::RaftFigure { title, subtitle: &a.data.scenario.description, story: &a.story, raft: &a.raft }
}

fn clients_figure<'a>(a: &'a Analysis, title: &'a str) -> Option<plot::ClientsFigure<'a>> {
    Some(plot::ClientsFigure {
        title,
        subtitle: "what the clients saw: throughput and latency, with the fault windows and the stretches without a leader",
        story: &a.story,
        raft: &a.raft,
        stats: a.stats.as_ref()?,
        stall: a.stall,
    })
}

fn metrics_figure<'a>(a: &'a Analysis, title: &'a str) -> plot::MetricsFigure<'a> {
    plot::MetricsFigure {
        title,
        subtitle: "what each node's own metrics said (its /metrics registry, sampled at its events)",
        story: &a.story,
        raft: &a.raft,
        samples: &a.data.log.metrics,
        nodes: a.data.scenario.nodes,
    }
}

/// The files of a run's report, by name (`clients.*` only when the scenario has a workload).
pub const FILES: [&str; 8] = ["index.html", "report.md", "raft.svg", "raft.png", "clients.svg", "clients.png", "metrics.svg", "metrics.png"];

impl Rendered<'_> {
    /// Writes the report's files into `dir` (created if missing).
    ///
    /// # Errors
    /// [`ReportError::Write`] naming the file; [`ReportError::Plot`] if a PNG cannot be drawn.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |error| ReportError::Write { path, error }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let put = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).map_err(io(&dir.join(name)));
        put("index.html", self.html.as_bytes())?;
        put("report.md", self.markdown.as_bytes())?;
        put("raft.svg", self.raft_svg.as_bytes())?;
        let title = self.analysis.figure_title();
        plot::raft_png(&dir.join("raft.png"), &raft_figure(&self.analysis, &title))?;
        if let (Some(svg), Some(f)) = (&self.clients_svg, clients_figure(&self.analysis, &title)) {
            put("clients.svg", svg.as_bytes())?;
            plot::clients_png(&dir.join("clients.png"), &f)?;
        }
        put("metrics.svg", self.metrics_svg.as_bytes())?;
        if !self.traces.is_empty() {
            let traces = dir.join("traces");
            std::fs::create_dir_all(&traces).map_err(io(&traces))?;
            for t in &self.traces {
                put(&format!("traces/{}", t.file_name()), t.json().as_bytes())?;
            }
        }
        plot::metrics_png(&dir.join("metrics.png"), &metrics_figure(&self.analysis, &title))?;
        Ok(())
    }
}

/// Renders and writes a run's report into `dir`; returns the run's row for a sweep's index
/// (without a link: the caller knows where the index is).
///
/// # Errors
/// As [`render`] and [`Rendered::write`].
pub fn write_run_report(dir: &Path, data: &RunData) -> Result<sweep::Row, ReportError> {
    let r = render(data)?;
    r.write(dir)?;
    Ok(sweep::Row::of(&r.analysis, None))
}

#[cfg(test)]
mod tests;
