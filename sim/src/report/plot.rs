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
//!
//! PNG text needs a font: [`register_font`] registers the DejaVu Sans shipped in `sim/assets/`
//! (no system fonts are read).

use super::raft::RaftSummary;
use super::story::{Mark, RoleSpan, Story, WindowKind};
use crate::history::Stats;
use detcd_node::events::Role;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::time::Duration;

/// The font every figure uses, shipped with the project (licence beside it).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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
pub struct RaftFigure<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub story: &'a Story,
    pub raft: &'a RaftSummary,
}

fn raft_height(nodes: usize) -> u32 {
    110 + (nodes as u32 + 2) * LANE_PX + 50 + TERM_CHART_PX + 80
}

pub fn raft_svg(f: &RaftFigure) -> Result<String, PlotError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, raft_height(f.story.nodes))).into_drawing_area();
        draw_raft(&root, f).and_then(|_| root.present().map_err(err)).map_err(|why| PlotError { figure: "raft", why })?;
    }
    Ok(s)
}

pub fn raft_png(path: &std::path::Path, f: &RaftFigure) -> Result<(), PlotError> {
    register_font();
    let root = BitMapBackend::new(path, (WIDTH, raft_height(f.story.nodes))).into_drawing_area();
    draw_raft(&root, f).and_then(|_| root.present().map_err(err)).map_err(|why| PlotError { figure: "raft", why })
}

fn draw_title<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, subtitle: &str) -> R<()> {
    root.draw_text(title, &text_style(30.0, INK, HPos::Left, VPos::Top), (24, 16)).map_err(err)?;
    let sub: String = subtitle.chars().take(190).collect();
    root.draw_text(&sub, &text_style(17.0, RGBColor(90, 90, 90), HPos::Left, VPos::Top), (24, 56)).map_err(err)?;
    Ok(())
}

/// Diagonal hatching inside a pixel rectangle.
fn hatch<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, (x0, y0): (i32, i32), (x1, y1): (i32, i32), colour: RGBAColor, gap: i32) -> R<()> {
    let (x0, x1, y0, y1) = (x0.min(x1), x0.max(x1), y0.min(y1), y0.max(y1));
    let mut c = x0 + y0 + gap / 2;
    let mut lines = Vec::new();
    while c < x1 + y1 {
        // The line x + y = c, inside the rectangle.
        let xa = x0.max(c - y1);
        let xb = x1.min(c - y0);
        if xa < xb {
            lines.push(PathElement::new(vec![(xa, c - xa), (xb, c - xb)], colour.stroke_width(2)));
        }
        c += gap;
    }
    for l in lines {
        root.draw(&l).map_err(err)?;
    }
    Ok(())
}

type Lanes<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn draw_raft<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &RaftFigure) -> R<()> {
    let story = f.story;
    let n = story.nodes;
    let rows = n + 2;
    let end_s = secs(story.end).max(0.001);
    root.fill(&WHITE).map_err(err)?;
    draw_title(root, f.title, f.subtitle)?;
    let (_, rest) = root.split_vertically(100);
    let (lanes_area, rest) = rest.split_vertically(rows as u32 * LANE_PX + 50);
    let (term_area, legend_area) = rest.split_vertically(TERM_CHART_PX);

    // Row r from the top (0 network, 1 leader, 2.. nodes) spans y in [rows-r-1, rows-r].
    let row_name = |r: usize| -> String {
        match r {
            0 => "network".into(),
            1 => "leader".into(),
            r => format!("n{}", r - 1),
        }
    };
    let mut chart = ChartBuilder::on(&lanes_area)
        .margin_left(16)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(LABEL_AREA_PX)
        .build_cartesian_2d(0f64..end_s, 0f64..rows as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(((end_s).ceil() as usize + 1).clamp(2, 25))
        .x_label_formatter(&|x| format!("{x:.1}s"))
        .x_label_style(text_style(15.0, INK, HPos::Center, VPos::Top))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(err)?;
    // Lane names, left of the lanes (drawn on the root: the chart clips to its plotting area).
    for r in 0..rows {
        let (x, y) = chart.backend_coord(&(0.0, rows as f64 - r as f64 - 0.5));
        root.draw_text(&row_name(r), &text_style(19.0, INK, HPos::Right, VPos::Center), (x - 12, y)).map_err(err)?;
    }
    let row_y0 = |r: usize| rows as f64 - r as f64 - 1.0;
    let node_row = |i: usize| i + 2;

    // Lane backgrounds.
    chart
        .draw_series((0..rows).map(|r| {
            let c = if r % 2 == 0 { RGBColor(250, 250, 250) } else { RGBColor(243, 243, 243) };
            Rectangle::new([(0.0, row_y0(r)), (end_s, row_y0(r) + 1.0)], c.filled())
        }))
        .map_err(err)?;

    draw_network_row(root, &mut chart, story, row_y0(0))?;
    draw_leader_row(&mut chart, f.raft, row_y0(1))?;
    for i in 0..n {
        let y0 = row_y0(node_row(i));
        draw_node_lane(root, &mut chart, story, i, y0)?;
    }
    // Leader changes: a dashed rule down through every lane.
    for m in &story.marks {
        if let Mark::BecameLeader { at, .. } = m {
            let x = secs(*at);
            chart
                .draw_series(dashed(x, 0.0, row_y0(1) + 1.0, RGBAColor(26, 152, 80, 0.55)))
                .map_err(err)?;
        }
    }
    draw_terms(&term_area, story, f.raft, end_s)?;
    draw_raft_legend(&legend_area)?;
    Ok(())
}

/// A vertical dashed rule at `x` from `y0` to `y1` (data coordinates).
fn dashed(x: f64, y0: f64, y1: f64, colour: RGBAColor) -> Vec<PathElement<(f64, f64)>> {
    let steps = ((y1 - y0) * 8.0).ceil() as usize;
    (0..steps)
        .step_by(2)
        .map(|k| {
            let a = y0 + k as f64 / 8.0;
            PathElement::new(vec![(x, a), (x, (a + 1.0 / 8.0).min(y1))], colour.stroke_width(2))
        })
        .collect()
}

fn px_width<DB: DrawingBackend>(chart: &Lanes<DB>, a: f64, b: f64) -> i32 {
    chart.backend_coord(&(b, 0.0)).0 - chart.backend_coord(&(a, 0.0)).0
}

/// Keeps as much of `s` as fits `px` pixels at about `char_px` per character.
fn fit(s: &str, px: i32, char_px: i32) -> Option<String> {
    let max = (px / char_px.max(1)) as usize;
    let n = s.chars().count();
    if max >= n {
        Some(s.to_string())
    } else if max >= 8 {
        Some(s.chars().take(max - 1).collect::<String>() + "…")
    } else {
        None
    }
}

fn draw_network_row<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &mut Lanes<DB>, story: &Story, y0: f64) -> R<()> {
    let pad = label_pad(story);
    for w in story.windows_of(WindowKind::Degraded) {
        let (a, b) = (secs(w.start), secs(w.end));
        chart.draw_series([Rectangle::new([(a, y0 + 0.08), (b, y0 + 0.92)], DEGRADED.mix(0.45).filled())]).map_err(err)?;
    }
    for w in story.windows_of(WindowKind::Network) {
        let (a, b) = (secs(w.start), secs(w.end));
        chart.draw_series([Rectangle::new([(a, y0 + 0.08), (b, y0 + 0.92)], FAULT_RED.mix(0.16).filled())]).map_err(err)?;
        chart.draw_series([Rectangle::new([(a, y0 + 0.08), (b, y0 + 0.92)], FAULT_RED.stroke_width(2))]).map_err(err)?;
        let p0 = chart.backend_coord(&(a, y0 + 0.92));
        let p1 = chart.backend_coord(&(b, y0 + 0.08));
        hatch(root, p0, p1, FAULT_RED.mix(0.25), 14)?;
        if let Some(label) = fit(&w.label, px_width(chart, a, b) - 12, 9) {
            chart
                .draw_series([Text::new(label, ((a + b) / 2.0, y0 + 0.5), text_style(16.0, RGBColor(140, 20, 20), HPos::Center, VPos::Center))])
                .map_err(err)?;
        }
    }
    for w in story.windows_of(WindowKind::Network).filter(|w| w.end < story.end) {
        let b = secs(w.end);
        chart.draw_series([Text::new("healed".to_string(), (b + pad, y0 + 0.5), text_style(15.0, RGBColor(140, 20, 20), HPos::Left, VPos::Center))]).map_err(err)?;
    }
    for w in story.windows_of(WindowKind::Degraded) {
        let (a, b) = (secs(w.start), secs(w.end));
        // The whole line if it fits, else its first word (`latency`, `packet`).
        let w_px = px_width(chart, a, b) - 8;
        let short = w.label.split(' ').next().unwrap_or_default();
        if let Some(label) = fit(&w.label, w_px, 9).or_else(|| (w_px >= 8 * short.len() as i32).then(|| short.to_string())) {
            chart.draw_series([Text::new(label, ((a + b) / 2.0, y0 + 0.25), text_style(14.0, INK, HPos::Center, VPos::Center))]).map_err(err)?;
        }
    }
    // Fault lines the report could not place: a tick and the text.
    for m in &story.marks {
        if let Mark::Unparsed { at, text } = m {
            let x = secs(*at);
            chart.draw_series([PathElement::new(vec![(x, y0 + 0.1), (x, y0 + 0.9)], INK.stroke_width(2))]).map_err(err)?;
            if let Some(t) = fit(text, 260, 8) {
                chart.draw_series([Text::new(t, (x, y0 + 0.8), text_style(13.0, INK, HPos::Left, VPos::Center))]).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// A few pixels of room between a marker and its label, in seconds.
fn label_pad(story: &Story) -> f64 {
    secs(story.end) * 0.004
}

fn draw_leader_row<DB: DrawingBackend>(chart: &mut Lanes<DB>, raft: &RaftSummary, y0: f64) -> R<()> {
    for (a, b, who) in &raft.leadership {
        let (a, b) = (secs(*a), secs(*b));
        let (fill, label) = match who {
            Some((n, t)) => (node_colour(*n).mix(0.85), format!("n{} leads term {t}", n + 1)),
            None => (NO_LEADER.mix(0.9), "no leader".to_string()),
        };
        chart.draw_series([Rectangle::new([(a, y0 + 0.18), (b, y0 + 0.82)], fill.filled())]).map_err(err)?;
        let colour = if who.is_some() { WHITE } else { INK };
        let short = match who {
            Some((n, t)) => format!("n{} t{t}", n + 1),
            None => "none".into(),
        };
        let w = px_width(chart, a, b) - 8;
        let text = fit(&label, w, 9).or_else(|| (w >= 7 * short.len() as i32).then_some(short));
        if let Some(t) = text {
            chart.draw_series([Text::new(t, ((a + b) / 2.0, y0 + 0.5), text_style(16.0, colour, HPos::Center, VPos::Center))]).map_err(err)?;
        }
    }
    Ok(())
}

fn draw_node_lane<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &mut Lanes<DB>, story: &Story, i: usize, y0: f64) -> R<()> {
    let pad = label_pad(story);
    // The role bar occupies [0.16, 0.6] of the lane; the strip above is for labels, the strip
    // below for clock and disk faults.
    let (bar0, bar1) = (y0 + 0.16, y0 + 0.6);
    let spans: Vec<&RoleSpan> = story.spans.iter().filter(|s| s.node == i).collect();
    for s in &spans {
        let (a, b) = (secs(s.start), secs(s.end));
        let c = role_colour(s.role);
        chart.draw_series([Rectangle::new([(a, bar0), (b, bar1)], c.filled())]).map_err(err)?;
        if s.role == Role::Leader {
            chart.draw_series([Rectangle::new([(a, bar0), (b, bar1)], RGBColor(0, 90, 40).stroke_width(2))]).map_err(err)?;
        }
    }
    // Term labels: once per run of equal terms, where there is room.
    let mut k = 0;
    while k < spans.len() {
        let term = spans[k].term;
        let mut j = k;
        while j + 1 < spans.len() && spans[j + 1].term == term && spans[j + 1].start == spans[j].end {
            j += 1;
        }
        let (a, b) = (secs(spans[k].start), secs(spans[j].end));
        let label = format!("term {term}");
        let text = fit(&label, px_width(chart, a, b) - 6, 9).or_else(|| (px_width(chart, a, b) >= 26).then(|| format!("t{term}")));
        if let Some(t) = text {
            let colour = if spans[k..=j].iter().all(|s| s.role == Role::Leader) { WHITE } else { INK };
            chart.draw_series([Text::new(t, ((a + b) / 2.0, (bar0 + bar1) / 2.0), text_style(15.0, colour, HPos::Center, VPos::Center))]).map_err(err)?;
        }
        k = j + 1;
    }
    let mine = |kind| story.windows_of(kind).filter(move |w| w.node == Some(i));
    for w in mine(WindowKind::LinksCut) {
        let (a, b) = (secs(w.start), secs(w.end));
        chart.draw_series([Rectangle::new([(a, y0 + 0.04), (b, y0 + 0.96)], FAULT_RED.mix(0.5).stroke_width(1))]).map_err(err)?;
    }
    for w in mine(WindowKind::CutOff) {
        let (a, b) = (secs(w.start), secs(w.end));
        chart.draw_series([Rectangle::new([(a, y0 + 0.04), (b, y0 + 0.96)], FAULT_RED.mix(0.12).filled())]).map_err(err)?;
        let p0 = chart.backend_coord(&(a, y0 + 0.96));
        let p1 = chart.backend_coord(&(b, y0 + 0.04));
        hatch(root, p0, p1, FAULT_RED.mix(0.35), 12)?;
        chart.draw_series([Rectangle::new([(a, y0 + 0.04), (b, y0 + 0.96)], FAULT_RED.stroke_width(3))]).map_err(err)?;
        if let Some(t) = fit(&format!("n{} {}", i + 1, w.label), px_width(chart, a, b) - 10, 9) {
            chart.draw_series([Text::new(t, ((a + b) / 2.0, y0 + 0.8), text_style(16.0, RGBColor(150, 20, 20), HPos::Center, VPos::Center))]).map_err(err)?;
        }
    }
    for w in mine(WindowKind::Down) {
        let (a, b) = (secs(w.start), secs(w.end));
        chart.draw_series([Rectangle::new([(a, y0 + 0.1), (b, y0 + 0.66)], DOWN.filled())]).map_err(err)?;
        if let Some(t) = fit(&w.label, px_width(chart, a, b) - 4, 8) {
            chart.draw_series([Text::new(t, ((a + b) / 2.0, y0 + 0.38), text_style(15.0, WHITE, HPos::Center, VPos::Center))]).map_err(err)?;
        }
    }
    for w in mine(WindowKind::Paused) {
        let (a, b) = (secs(w.start), secs(w.end));
        chart.draw_series([Rectangle::new([(a, bar0), (b, bar1)], PAUSED.mix(0.35).filled())]).map_err(err)?;
        hatch(root, chart.backend_coord(&(a, bar1)), chart.backend_coord(&(b, bar0)), PAUSED.mix(0.8), 8)?;
        if let Some(t) = fit("paused", px_width(chart, a, b) - 4, 8) {
            chart.draw_series([Text::new(t, ((a + b) / 2.0, y0 + 0.8), text_style(15.0, INK, HPos::Center, VPos::Center))]).map_err(err)?;
        }
    }
    for (kind, colour) in [(WindowKind::ClockRate, CLOCK), (WindowKind::Disk, DISK)] {
        for w in mine(kind) {
            let (a, b) = (secs(w.start), secs(w.end));
            chart.draw_series([Rectangle::new([(a, y0 + 0.03), (b, y0 + 0.13)], colour.filled())]).map_err(err)?;
            if let Some(t) = fit(&w.label, px_width(chart, a, b) - 4, 8) {
                chart.draw_series([Text::new(t, (a, y0 + 0.8), text_style(14.0, colour, HPos::Left, VPos::Center))]).map_err(err)?;
            }
        }
    }
    for w in mine(WindowKind::ClockJump) {
        let x = secs(w.start);
        let p = chart.backend_coord(&(x, y0 + 0.08));
        root.draw(&Polygon::new(vec![(p.0, p.1 - 7), (p.0 + 7, p.1), (p.0, p.1 + 7), (p.0 - 7, p.1)], CLOCK.filled())).map_err(err)?;
        chart.draw_series([Text::new(w.label.clone(), (x, y0 + 0.8), text_style(14.0, CLOCK, HPos::Left, VPos::Center))]).map_err(err)?;
    }
    for m in &story.marks {
        match m {
            Mark::BecameLeader { at, node, term } if *node == i => {
                let x = secs(*at);
                chart
                    .draw_series([Text::new(format!("★ leader, term {term}"), (x, y0 + 0.8), text_style(16.0, RGBColor(0, 110, 50), HPos::Left, VPos::Center))])
                    .map_err(err)?;
            }
            Mark::SteppedDown { at, node, .. } if *node == i => {
                let x = secs(*at);
                let p = chart.backend_coord(&(x, bar1));
                root.draw(&Polygon::new(vec![(p.0 - 7, p.1 - 12), (p.0 + 7, p.1 - 12), (p.0, p.1 - 2)], INK.filled())).map_err(err)?;
                chart.draw_series([Text::new("steps down".to_string(), (x + pad, y0 + 0.8), text_style(15.0, INK, HPos::Left, VPos::Center))]).map_err(err)?;
            }
            Mark::Rejoined { at, node, term, leader } if *node == i => {
                let x = secs(*at);
                let p = chart.backend_coord(&(x, bar1));
                root.draw(&Polygon::new(vec![(p.0 - 7, p.1 - 2), (p.0 + 7, p.1 - 2), (p.0, p.1 - 12)], RGBColor(49, 130, 189).filled())).map_err(err)?;
                let text = match leader {
                    Some(l) => format!("rejoins: term {term}, follows n{}", l + 1),
                    None => format!("rejoins: term {term}"),
                };
                chart.draw_series([Text::new(text, (x + pad, y0 + 0.8), text_style(15.0, RGBColor(8, 69, 148), HPos::Left, VPos::Center))]).map_err(err)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn draw_terms<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, story: &Story, raft: &RaftSummary, end_s: f64) -> R<()> {
    let max_term = story.max_term().max(1) as f64;
    let mut chart = time_chart(area, "term per node").build_cartesian_2d(0f64..end_s, -0.3f64..max_term + 0.6).map_err(err)?;
    let term_label = |y: &f64| if y.fract().abs() < 1e-9 && *y >= 0.0 { format!("term {}", *y as u64) } else { String::new() };
    time_mesh(&mut chart, end_s, (max_term as usize + 2).min(12), &term_label)?;
    fault_bands(&mut chart, story, raft, -0.3, max_term + 0.6)?;
    for i in 0..story.nodes {
        // Offset each node a little so that equal terms stay visible side by side.
        let dy = (i as f64 - (story.nodes as f64 - 1.0) / 2.0) * 0.07;
        let spans: Vec<&RoleSpan> = story.spans.iter().filter(|s| s.node == i).collect();
        let mut path: Vec<(f64, f64)> = Vec::new();
        let mut flush = |path: &mut Vec<(f64, f64)>| -> R<()> {
            if path.len() > 1 {
                chart.draw_series([PathElement::new(std::mem::take(path), node_colour(i).stroke_width(3))]).map_err(err)?;
            }
            path.clear();
            Ok(())
        };
        for (k, s) in spans.iter().enumerate() {
            let y = s.term as f64 + dy;
            let contiguous = k > 0 && spans[k - 1].end == s.start;
            if !contiguous {
                flush(&mut path)?;
            }
            path.push((secs(s.start), y));
            path.push((secs(s.end), y));
        }
        flush(&mut path)?;
        let label = format!("n{}", i + 1);
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], node_colour(i).stroke_width(4)));
    }
    for m in &story.marks {
        if let Mark::BecameLeader { at, node, term } = m {
            chart
                .draw_series([Text::new("★".to_string(), (secs(*at), *term as f64 + 0.02), text_style(22.0, node_colour(*node), HPos::Center, VPos::Center))])
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .label_font(text_style(15.0, INK, HPos::Left, VPos::Center))
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw_raft_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> R<()> {
    let mut x = 24;
    let y = 30;
    let mut item = |label: &str, draw: &dyn Fn(i32) -> R<()>| -> R<()> {
        draw(x)?;
        area.draw_text(label, &text_style(16.0, INK, HPos::Left, VPos::Center), (x + 30, y)).map_err(err)?;
        x += 44 + 9 * label.chars().count() as i32;
        Ok(())
    };
    let swatch = |c: RGBAColor| move |x: i32| area.draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], c.filled())).map_err(err);
    for (role, c) in ROLE_COLOURS {
        item(role.as_str(), &swatch(c.to_rgba()))?;
    }
    item("cut off from the majority", &|x| {
        area.draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], FAULT_RED.mix(0.2).filled())).map_err(err)?;
        hatch(area, (x, y - 9), (x + 24, y + 9), FAULT_RED.mix(0.5), 7)?;
        area.draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], FAULT_RED.stroke_width(2))).map_err(err)
    })?;
    item("some links cut", &|x| area.draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], FAULT_RED.mix(0.5).stroke_width(1))).map_err(err))?;
    item("crashed", &swatch(DOWN.to_rgba()))?;
    item("paused", &swatch(PAUSED.mix(0.5)))?;
    item("clock fault", &swatch(CLOCK.to_rgba()))?;
    item("disk fault", &swatch(DISK.to_rgba()))?;
    item("no leader", &swatch(NO_LEADER.to_rgba()))?;
    Ok(())
}

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
pub struct ClientsFigure<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub story: &'a Story,
    pub raft: &'a RaftSummary,
    pub stats: &'a Stats,
    /// The longest stretch without a successful operation, if worth showing.
    pub stall: Option<(Duration, Duration)>,
}

const CLIENTS_HEIGHT: u32 = 760;

pub fn clients_svg(f: &ClientsFigure) -> Result<String, PlotError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, CLIENTS_HEIGHT)).into_drawing_area();
        draw_clients(&root, f).and_then(|_| root.present().map_err(err)).map_err(|why| PlotError { figure: "clients", why })?;
    }
    Ok(s)
}

pub fn clients_png(path: &std::path::Path, f: &ClientsFigure) -> Result<(), PlotError> {
    register_font();
    let root = BitMapBackend::new(path, (WIDTH, CLIENTS_HEIGHT)).into_drawing_area();
    draw_clients(&root, f).and_then(|_| root.present().map_err(err)).map_err(|why| PlotError { figure: "clients", why })
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

fn draw_clients<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &ClientsFigure) -> R<()> {
    root.fill(&WHITE).map_err(err)?;
    draw_title(root, f.title, f.subtitle)?;
    let (_, rest) = root.split_vertically(96);
    let (ops_area, rest) = rest.split_vertically(340);
    let (lat_area, legend_area) = rest.split_vertically(270);
    let end_s = secs(f.story.end).max(0.001);
    let bucket_s = secs(f.stats.bucket).max(1e-6);
    let per_s = |n: u64| n as f64 / bucket_s;
    let peak = f.stats.series.iter().map(|b| per_s(b.ok + b.fail + b.info)).fold(1.0, f64::max);
    let y_hi = peak * 1.25;
    let caption = format!("operations completed per second ({} ms buckets)", f.stats.bucket.as_millis());
    let mut chart = time_chart(&ops_area, &caption).build_cartesian_2d(0f64..end_s, 0f64..y_hi).map_err(err)?;
    time_mesh(&mut chart, end_s, 10, &|y| format!("{y:.0}/s"))?;
    fault_bands(&mut chart, f.story, f.raft, 0.0, y_hi)?;
    let ok_c = RGBColor(26, 152, 80);
    let fail_c = FAULT_RED;
    let info_c = RGBColor(253, 141, 60);
    for b in &f.stats.series {
        let x0 = secs(b.start);
        let x1 = x0 + bucket_s * 0.92;
        let (ok, fail, info) = (per_s(b.ok), per_s(b.fail), per_s(b.info));
        let bars = [(0.0, ok, ok_c), (ok, ok + fail, fail_c), (ok + fail, ok + fail + info, info_c)];
        chart
            .draw_series(bars.into_iter().filter(|(a, b, _)| b > a).map(|(a, b, c)| Rectangle::new([(x0, a), (x1, b)], c.filled())))
            .map_err(err)?;
    }
    for (a, b) in &f.raft.leaderless {
        let w = chart.backend_coord(&(secs(*b), 0.0)).0 - chart.backend_coord(&(secs(*a), 0.0)).0;
        if w > 70 {
            chart.draw_series([Text::new("no leader", ((secs(*a) + secs(*b)) / 2.0, y_hi * 0.95), text_style(14.0, INK, HPos::Center, VPos::Top))]).map_err(err)?;
        }
    }
    if let Some((a, b)) = f.stall {
        let (a, b) = (secs(a), secs(b));
        let y = y_hi * 0.84;
        chart.draw_series([PathElement::new(vec![(a, y), (b, y)], INK.stroke_width(2))]).map_err(err)?;
        for x in [a, b] {
            chart.draw_series([PathElement::new(vec![(x, y - y_hi * 0.03), (x, y + y_hi * 0.03)], INK.stroke_width(2))]).map_err(err)?;
        }
        let label = format!("no successful operation for {:.2} s", b - a);
        let right = b > end_s * 0.75;
        let hpos = if right { HPos::Right } else { HPos::Left };
        let x = if right { a } else { b };
        let pad = if right { -0.01 * end_s } else { 0.01 * end_s };
        chart.draw_series([Text::new(label, (x + pad, y), text_style(17.0, INK, hpos, VPos::Center))]).map_err(err)?;
    }

    // Latency (log scale).
    let max_ms = f.stats.series.iter().filter_map(|b| b.p99).map(|d| d.as_secs_f64() * 1e3).fold(10.0, f64::max);
    let mut lat = time_chart(&lat_area, "latency of successful requests (p50, p99; log scale)")
        .build_cartesian_2d(0f64..end_s, (0.5f64..max_ms * 2.0).log_scale())
        .map_err(err)?;
    time_mesh(&mut lat, end_s, 10, &|y| if *y >= 1000.0 { format!("{:.1}s", y / 1e3) } else { format!("{y:.0}ms") })?;
    fault_bands(&mut lat, f.story, f.raft, 0.5, max_ms * 2.0)?;
    for (name, pick, colour) in [("p50", 0, RGBColor(49, 130, 189)), ("p99", 1, RGBColor(117, 107, 177))] {
        let points: Vec<Option<(f64, f64)>> = f
            .stats
            .series
            .iter()
            .map(|b| {
                let v = if pick == 0 { b.p50 } else { b.p99 };
                v.map(|d| (secs(b.start) + bucket_s / 2.0, (d.as_secs_f64() * 1e3).max(0.5)))
            })
            .collect();
        // One line per run of buckets that have a value: a gap stays a gap.
        for run in points.split(|p| p.is_none()).filter(|r| !r.is_empty()) {
            let run: Vec<(f64, f64)> = run.iter().flatten().copied().collect();
            if run.len() == 1 {
                lat.draw_series([Circle::new(run[0], 3, colour.filled())]).map_err(err)?;
            } else {
                lat.draw_series([PathElement::new(run, colour.stroke_width(2))]).map_err(err)?;
            }
        }
        lat.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
    }
    lat.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .label_font(text_style(15.0, INK, HPos::Left, VPos::Center))
        .draw()
        .map_err(err)?;

    let mut x = 24;
    let y = 26;
    for (label, c) in [
        ("ok", ok_c.to_rgba()),
        ("failed", fail_c.to_rgba()),
        ("unknown outcome", info_c.to_rgba()),
        ("network fault", FAULT_RED.mix(0.25)),
        ("no leader", NO_LEADER.mix(0.8)),
        ("node crashed", DOWN_BAND.mix(0.3)),
    ] {
        legend_area.draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], c.filled())).map_err(err)?;
        legend_area.draw_text(label, &text_style(16.0, INK, HPos::Left, VPos::Center), (x + 30, y)).map_err(err)?;
        x += 44 + 9 * label.chars().count() as i32;
    }
    Ok(())
}
