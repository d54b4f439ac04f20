//! The clients figure: throughput by outcome and latency percentiles over the fault windows.

use super::*;

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
