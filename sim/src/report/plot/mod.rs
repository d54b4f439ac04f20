//! The report's figures, drawn with plotters on any backend: SVG text for the page, PNG files to
//! attach to a bug. The same drawing code feeds both, so they show the same picture.
//!
//! - **Raft** ([`raft_svg`], [`raft_png`]): simulated time across; a `network` row with the
//!   network fault windows, a `leader` row with the leader a majority acknowledged, then one lane
//!   per node coloured by role with its term written in, leader changes starred, step-downs
//!   marked, and the node's own faults over its lane (cut off from the majority: red hatching;
//!   crashed: dark; paused: grey hatching; clock and disk faults: a strip under the lane). Below
//!   it, each node's term as a step line over the same time axis.
//! - **Clients** ([`clients_svg`], [`clients_png`]): operations completed per second (ok, failed,
//!   unknown) and latency percentiles, over the same fault windows and leaderless stretches,
//!   with the longest stretch without a successful operation called out.
//! - **Metrics** ([`metrics_svg`], [`metrics_png`]): each node's own `/metrics` registry over the
//!   run: mean WAL fsync per sample interval, proposals pending, bytes sent to peers per second.
//!
//! PNG text needs a font: [`register_font`] registers the DejaVu Sans shipped in `sim/assets/`
//! (no system fonts are read).

use super::raft::RaftSummary;
use super::story::{Story, WindowKind};
use crate::history::Stats;
use detcd_node::events::Role;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::time::Duration;

/// The font every figure uses, shipped with the project (licence beside it).
static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the shipped font for plotters (idempotent; needed before any PNG is drawn).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            panic!("the shipped DejaVu Sans is a valid TrueType font");
        }
    });
}

pub const WIDTH: u32 = 1600;
const LANE_PX: u32 = 64;
const TERM_CHART_PX: u32 = 260;
const LABEL_AREA_PX: u32 = 120;

pub const ROLE_COLOURS: [(Role, RGBColor); 4] = [
    (Role::Follower, RGBColor(158, 188, 218)),
    (Role::PreCandidate, RGBColor(254, 217, 118)),
    (Role::Candidate, RGBColor(244, 109, 67)),
    (Role::Leader, RGBColor(26, 152, 80)),
];
/// One colour per node (Tableau 10), for the term lines and the leader row.
pub const NODE_COLOURS: [RGBColor; 9] = [
    RGBColor(78, 121, 167),
    RGBColor(225, 87, 89),
    RGBColor(89, 161, 79),
    RGBColor(242, 142, 43),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
];
const FAULT_RED: RGBColor = RGBColor(215, 48, 39);
const DOWN: RGBColor = RGBColor(64, 64, 64);
/// Behind the time charts, a crashed node (distinct from the grey of "no leader").
const DOWN_BAND: RGBColor = RGBColor(49, 54, 149);
const PAUSED: RGBColor = RGBColor(120, 120, 120);
const CLOCK: RGBColor = RGBColor(118, 42, 131);
const DISK: RGBColor = RGBColor(140, 81, 10);
const DEGRADED: RGBColor = RGBColor(253, 174, 97);
const NO_LEADER: RGBColor = RGBColor(189, 189, 189);
const INK: RGBColor = RGBColor(33, 33, 33);

pub fn role_colour(r: Role) -> RGBColor {
    ROLE_COLOURS.iter().find(|(x, _)| *x == r).map_or(BLACK, |(_, c)| *c)
}

pub fn node_colour(i: usize) -> RGBColor {
    NODE_COLOURS[i % NODE_COLOURS.len()]
}

/// A figure that could not be drawn (a plotters backend error, as text).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {figure} figure: {why}")]
pub struct PlotError {
    pub figure: &'static str,
    pub why: String,
}

type R<T> = Result<T, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn text_style(size: f64, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle { font: (FAMILY, size).into_font(), color: colour.to_backend_color(), pos: Pos::new(h, v) }
}

/// What the raft figure needs.

/// A chart over simulated time, aligned with the others (same margins and label area).
fn time_chart<'a, 'b, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>, caption: &str) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin_left(16).margin_right(40).margin_top(8).x_label_area_size(36).y_label_area_size(LABEL_AREA_PX).caption(caption, (FAMILY, 20));
    b
}

/// The grid and axis labels of a [`time_chart`].
fn time_mesh<DB: DrawingBackend, Y: Ranged + ValueFormatter<Y::ValueType>>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, Y>>,
    end_s: f64,
    y_labels: usize,
    y_format: &dyn Fn(&Y::ValueType) -> String,
) -> R<()> {
    chart
        .configure_mesh()
        .x_labels((end_s.ceil() as usize + 1).clamp(2, 25))
        .x_label_formatter(&|x| format!("{x:.1}s"))
        .y_labels(y_labels)
        .y_label_formatter(y_format)
        .y_label_style(text_style(15.0, INK, HPos::Right, VPos::Center))
        .x_label_style(text_style(15.0, INK, HPos::Center, VPos::Top))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(220, 220, 220))
        .draw()
        .map_err(err)
}

/// What the clients figure needs.

fn draw_title<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, subtitle: &str) -> R<()> {
    root.draw_text(title, &text_style(30.0, INK, HPos::Left, VPos::Top), (24, 16)).map_err(err)?;
    let sub: String = subtitle.chars().take(190).collect();
    root.draw_text(&sub, &text_style(17.0, RGBColor(90, 90, 90), HPos::Left, VPos::Top), (24, 56)).map_err(err)?;
    Ok(())
}

/// The network fault windows, crashed nodes and leaderless stretches, as bands behind a chart.
fn fault_bands<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, Y>>,
    story: &Story,
    raft: &RaftSummary,
    y_lo: f64,
    y_hi: f64,
) -> R<()> {
    for w in story.windows_of(WindowKind::Network) {
        chart.draw_series([Rectangle::new([(secs(w.start), y_lo), (secs(w.end), y_hi)], FAULT_RED.mix(0.10).filled())]).map_err(err)?;
    }
    for w in story.windows_of(WindowKind::Down) {
        chart.draw_series([Rectangle::new([(secs(w.start), y_lo), (secs(w.end), y_hi)], DOWN_BAND.mix(0.10).filled())]).map_err(err)?;
    }
    for (a, b) in &raft.leaderless {
        chart.draw_series([Rectangle::new([(secs(*a), y_lo), (secs(*b), y_hi)], NO_LEADER.mix(0.45).filled())]).map_err(err)?;
    }
    Ok(())
}

mod clients;
mod metrics;
mod raft;

pub use clients::{clients_png, clients_svg, ClientsFigure};
pub use metrics::{metrics_png, metrics_svg, MetricsFigure};
pub use raft::{raft_png, raft_svg, RaftFigure};
