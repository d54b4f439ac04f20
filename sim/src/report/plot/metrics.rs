//! The metrics figure: what each node's own metrics said over the run (its `/metrics` registry,
//! sampled at its events): mean WAL fsync time, proposals waiting to apply, and bytes sent to
//! peers per second, one line per node, over the same fault windows.

use super::*;
use crate::node_metrics::{intervals, Interval, MetricSample};

pub struct MetricsFigure<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub story: &'a Story,
    pub raft: &'a RaftSummary,
    pub samples: &'a [MetricSample],
    pub nodes: usize,
}

const METRICS_HEIGHT: u32 = 900;

pub fn metrics_svg(f: &MetricsFigure) -> Result<String, PlotError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, METRICS_HEIGHT)).into_drawing_area();
        draw_metrics(&root, f).and_then(|_| root.present().map_err(err)).map_err(|why| PlotError { figure: "metrics", why })?;
    }
    Ok(s)
}

pub fn metrics_png(path: &std::path::Path, f: &MetricsFigure) -> Result<(), PlotError> {
    register_font();
    let root = BitMapBackend::new(path, (WIDTH, METRICS_HEIGHT)).into_drawing_area();
    draw_metrics(&root, f).and_then(|_| root.present().map_err(err)).map_err(|why| PlotError { figure: "metrics", why })
}

/// One node's points of one series, split where the series has no value (a gap stays a gap).
type Lines = Vec<Vec<(f64, f64)>>;

/// Splits `points` by node; `None` ends a node's current line.
fn per_node(points: impl Iterator<Item = (usize, Option<(f64, f64)>)>, nodes: usize) -> Vec<Lines> {
    let mut out: Vec<Lines> = vec![vec![Vec::new()]; nodes];
    for (node, p) in points {
        let Some(lines) = out.get_mut(node) else { continue };
        match p {
            Some(p) => lines.last_mut().expect("one line at least").push(p),
            None if lines.last().is_some_and(|l| !l.is_empty()) => lines.push(Vec::new()),
            None => {}
        }
    }
    out
}

/// One point per interval (at its end), with a break where a node's intervals are not contiguous
/// (it was down, or restarted).
fn interval_points(iv: &[Interval], value: &dyn Fn(&Interval) -> Option<f64>) -> Vec<(usize, Option<(f64, f64)>)> {
    let mut last_end: std::collections::BTreeMap<usize, Duration> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for i in iv {
        if last_end.insert(i.node, i.end).is_some_and(|e| e != i.start) {
            out.push((i.node, None));
        }
        out.push((i.node, value(i).map(|v| (secs(i.end), v))));
    }
    out
}

fn draw_lines<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, Y>>, lines: &[Lines]) -> R<()> {
    for (node, runs) in lines.iter().enumerate() {
        let colour = node_colour(node);
        for run in runs.iter().filter(|r| !r.is_empty()) {
            if run.len() == 1 {
                chart.draw_series([Circle::new(run[0], 3, colour.filled())]).map_err(err)?;
            } else {
                chart.draw_series([PathElement::new(run.clone(), colour.stroke_width(2))]).map_err(err)?;
            }
        }
    }
    Ok(())
}

fn draw_metrics<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &MetricsFigure) -> R<()> {
    root.fill(&WHITE).map_err(err)?;
    draw_title(root, f.title, f.subtitle)?;
    let (_, rest) = root.split_vertically(96);
    let (fsync_area, rest) = rest.split_vertically(260);
    let (pending_area, rest) = rest.split_vertically(240);
    let (sent_area, legend_area) = rest.split_vertically(240);
    let end_s = secs(f.story.end).max(0.001);
    let iv = intervals(f.samples);

    // Mean fsync per interval (log scale: a slow disk stands out by orders of magnitude).
    let fsync_ms = interval_points(&iv, &|i| i.fsync_mean.map(|d| (d.as_secs_f64() * 1e3).max(0.01)));
    let max_ms = fsync_ms.iter().filter_map(|(_, p)| p.map(|p| p.1)).fold(1.0, f64::max);
    let mut fsync = time_chart(&fsync_area, "WAL write + fsync, mean per sample interval (etcd_disk_wal_fsync_duration_seconds; log scale)")
        .build_cartesian_2d(0f64..end_s, (0.01f64..max_ms * 2.0).log_scale())
        .map_err(err)?;
    time_mesh(&mut fsync, end_s, 8, &|y| if *y >= 1.0 { format!("{y:.0}ms") } else { format!("{y:.2}ms") })?;
    fault_bands(&mut fsync, f.story, f.raft, 0.01, max_ms * 2.0)?;
    draw_lines(&mut fsync, &per_node(fsync_ms.into_iter(), f.nodes))?;

    // Proposals waiting to be applied.
    // A line breaks where a node restarted (a new registry).
    let mut incarnation: std::collections::BTreeMap<usize, u32> = std::collections::BTreeMap::new();
    let mut pending: Vec<(usize, Option<(f64, f64)>)> = Vec::new();
    for s in f.samples {
        if incarnation.insert(s.node, s.incarnation).is_some_and(|i| i != s.incarnation) {
            pending.push((s.node, None));
        }
        pending.push((s.node, Some((secs(s.at), s.proposals_pending as f64))));
    }
    let max_pending = pending.iter().filter_map(|(_, p)| p.map(|p| p.1)).fold(1.0, f64::max);
    let mut pend = time_chart(&pending_area, "proposals pending (etcd_server_proposals_pending)").build_cartesian_2d(0f64..end_s, 0f64..max_pending * 1.2).map_err(err)?;
    time_mesh(&mut pend, end_s, 6, &|y| format!("{y:.0}"))?;
    fault_bands(&mut pend, f.story, f.raft, 0.0, max_pending * 1.2)?;
    draw_lines(&mut pend, &per_node(pending.into_iter(), f.nodes))?;

    // Bytes sent to peers per second.
    let sent = interval_points(&iv, &|i| Some(i.sent_bytes_per_s / 1024.0));
    let max_sent = sent.iter().filter_map(|(_, p)| p.map(|p| p.1)).fold(1.0, f64::max);
    let mut out = time_chart(&sent_area, "sent to peers (etcd_network_peer_sent_bytes_total, KiB/s)").build_cartesian_2d(0f64..end_s, 0f64..max_sent * 1.2).map_err(err)?;
    time_mesh(&mut out, end_s, 6, &|y| format!("{y:.0}"))?;
    fault_bands(&mut out, f.story, f.raft, 0.0, max_sent * 1.2)?;
    draw_lines(&mut out, &per_node(sent.into_iter(), f.nodes))?;

    let mut x = 24;
    let y = 26;
    for node in 0..f.nodes {
        let label = format!("n{}", node + 1);
        legend_area.draw(&Rectangle::new([(x, y - 3), (x + 24, y + 3)], node_colour(node).filled())).map_err(err)?;
        legend_area.draw_text(&label, &text_style(16.0, INK, HPos::Left, VPos::Center), (x + 30, y)).map_err(err)?;
        x += 44 + 9 * label.chars().count() as i32;
    }
    for (label, c) in [("network fault", FAULT_RED.mix(0.25)), ("no leader", NO_LEADER.mix(0.8)), ("node crashed", DOWN_BAND.mix(0.3))] {
        legend_area.draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], c.filled())).map_err(err)?;
        legend_area.draw_text(label, &text_style(16.0, INK, HPos::Left, VPos::Center), (x + 30, y)).map_err(err)?;
        x += 44 + 9 * label.chars().count() as i32;
    }
    Ok(())
}
