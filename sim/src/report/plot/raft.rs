//! The Raft figure: a network row, a leader row, one lane per node, and the terms chart.

use super::*;
use crate::report::story::{Mark, RoleSpan};

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
