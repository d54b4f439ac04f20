//! `sim shrink`: the smallest run that still fails the same way, written as a regression file.
//!
//! Greedy delta debugging over a [`Scenario`] value. [`candidates`] lists every one-step
//! simplification of a scenario, biggest first: drop a fault step or the nemesis, shorten a fault
//! window, fewer nodes, clients, keys or operation kinds, a lower rate, a shorter run. Each
//! candidate is run with the same seed (and bug); the first one whose run still fails *the same
//! check* (by name: a liveness failure does not stand in for a linearizability one) replaces the
//! scenario, and the passes start again. Shrinking stops when no candidate keeps the failure, or
//! after [`RUNS_MAX`] candidates (a candidate costs one run, or two when the clean run must keep
//! passing too). The search is a pure function of (scenario, seed, bug): the same
//! input shrinks to the same file.
//!
//! What a shrunk file proves: its run (scenario, pinned seed, bug) fails the recorded check, as the
//! regression test replays; nothing in it was needed for the failure that shrinking could remove
//! one step at a time (it is 1-minimal for these steps, not globally minimal).

use crate::scenario::{Fault, Regression, Scenario};

/// The most candidates one shrink may try.
pub const RUNS_MAX: usize = 400;

/// The shortest run a candidate may ask for, in seconds: time to elect a leader and do something.
const DURATION_S_MIN: f64 = 2.0;

/// Every one-step simplification of `s`, biggest first, each with a line saying what it removed.
/// Candidates that break the scenario's rules (e.g. a fault naming a node that no longer exists)
/// are left out.
pub fn candidates(s: &Scenario) -> Vec<(String, Scenario)> {
    let mut out: Vec<(String, Scenario)> = Vec::new();
    let mut push = |what: String, c: Scenario| {
        if c != *s && c.validate().is_ok() {
            out.push((what, c));
        }
    };
    if s.nemesis.is_some() {
        push("drop the nemesis".into(), Scenario { nemesis: None, ..s.clone() });
    }
    for i in 0..s.faults.len() {
        let mut c = s.clone();
        let f = c.faults.remove(i);
        push(format!("drop fault {} ({} at {}s)", i, fault_name(&f.fault), f.at_s), c);
    }
    if s.nodes > 1 {
        for n in [1, s.nodes.div_ceil(2).max(1), s.nodes - 1] {
            push(format!("{n} nodes"), Scenario { nodes: n, ..s.clone() });
        }
    }
    if let Some(w) = &s.workload {
        for clients in [1, w.clients / 2, w.clients.saturating_sub(1)] {
            if clients >= 1 && clients < w.clients {
                let mut c = s.clone();
                c.workload.as_mut().expect("workload").clients = clients;
                push(format!("{clients} clients"), c);
            }
        }
        for kind in w.mix.keys() {
            let mut c = s.clone();
            c.workload.as_mut().expect("workload").mix.remove(kind);
            push(format!("no {kind:?} operations"), c);
        }
        if w.keys > 1 {
            let mut c = s.clone();
            c.workload.as_mut().expect("workload").keys = w.keys / 2;
            push(format!("{} keys", w.keys / 2), c);
        }
        if w.rate_per_s > 1.0 {
            let mut c = s.clone();
            c.workload.as_mut().expect("workload").rate_per_s = (w.rate_per_s / 2.0).max(1.0);
            push(format!("rate {}/s", (w.rate_per_s / 2.0).max(1.0)), c);
        }
    }
    for (i, step) in s.faults.iter().enumerate() {
        if let Some(f) = step.for_s {
            let mut c = s.clone();
            c.faults[i].for_s = Some(round_ms(f / 2.0));
            push(format!("fault {i} lasts {}s", round_ms(f / 2.0)), c);
        }
        if let Some((what, shorter)) = shorter_fault(&step.fault) {
            let mut c = s.clone();
            c.faults[i].fault = shorter;
            push(format!("fault {i}: {what}"), c);
        }
    }
    // A shorter run: first cut right after the last fault (plus the liveness bound), then halve.
    let last_fault = s.faults.iter().map(|f| f.at_s + f.for_s.unwrap_or(0.0)).fold(0.0, f64::max);
    let tail = s.checks.liveness_s.unwrap_or(1.0) + 1.0;
    for d in [round_ms(last_fault + tail), round_ms(s.duration_s / 2.0), round_ms(s.duration_s - 1.0)] {
        if d >= DURATION_S_MIN && d < s.duration_s {
            let mut c = Scenario { duration_s: d, ..s.clone() };
            if let Some(w) = c.workload.as_mut() {
                w.stop_s = w.stop_s.map(|t| t.min(d - 1.0));
            }
            push(format!("run {d}s"), c);
        }
    }
    out
}

/// A milder form of a compound fault (shorter down time, fewer steps), if it has one.
fn shorter_fault(f: &Fault) -> Option<(String, Fault)> {
    match f {
        Fault::PowerLoss { down_s } if *down_s > 0.1 => {
            Some((format!("power off {}s", round_ms(down_s / 2.0)), Fault::PowerLoss { down_s: round_ms(down_s / 2.0) }))
        }
        Fault::RollingRestart { gap_s, down_s } if *down_s > 0.1 => Some((
            format!("each node down {}s", round_ms(down_s / 2.0)),
            Fault::RollingRestart { gap_s: *gap_s, down_s: round_ms(down_s / 2.0) },
        )),
        _ => None,
    }
}

fn fault_name(f: &Fault) -> String {
    toml::to_string(&crate::scenario::FaultStep { at_s: 0.0, for_s: None, fault: f.clone() })
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("do = ").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "fault".into())
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// The result of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// What each accepted step removed, in order.
    pub steps: Vec<String>,
    /// Candidates tried.
    pub runs: usize,
}

/// Shrinks `s` while `fails(candidate)` holds (module doc). `fails(s)` must hold on entry.
pub fn shrink(s: &Scenario, mut fails: impl FnMut(&Scenario) -> bool, progress: &dyn Fn(&str)) -> Shrunk {
    let mut best = s.clone();
    let mut steps = Vec::new();
    let mut runs = 0;
    'passes: loop {
        for (what, c) in candidates(&best) {
            if runs >= RUNS_MAX {
                progress(&format!("stopping after {RUNS_MAX} candidates"));
                break 'passes;
            }
            runs += 1;
            if fails(&c) {
                progress(&format!("kept failing: {what}"));
                steps.push(what);
                best = c;
                continue 'passes;
            }
        }
        break;
    }
    Shrunk { scenario: best, steps, runs }
}

/// The regression file for `s` pinned to `regression`: TOML that [`Scenario::parse`] loads back
/// to the same scenario, named `name`.
pub fn regression_file(s: &Scenario, name: &str, regression: Regression) -> String {
    let s = Scenario { name: name.to_string(), regression: Some(regression), ..s.clone() };
    let body = toml::to_string(&s).expect("a scenario serializes to TOML");
    format!(
        "# A regression written by `sim shrink` and replayed by sim/tests/regressions.rs.\n\
         # Reproduce: cargo sim run scenarios/regressions/{name}.toml --seed {}{}\n\n{body}",
        s.regression.as_ref().expect("set").seed,
        s.regression.as_ref().and_then(|r| r.bug.as_ref()).map(|b| format!(" --bug {b}")).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario() -> Scenario {
        Scenario::parse(
            Path::new("x.toml"),
            r#"
            description = "d"
            duration_s = 10
            [workload]
            clients = 4
            mix = { get = 1, put = 1 }
            [[fault]]
            at_s = 2
            for_s = 2
            do = "crash"
            node = "n3"
            [[fault]]
            at_s = 3
            do = "power-loss"
            down_s = 1
            "#,
        )
        .unwrap()
    }

    /// A fake "run": fails while a power loss remains and at least 2 clients do.
    fn fails(s: &Scenario) -> bool {
        s.faults.iter().any(|f| matches!(f.fault, Fault::PowerLoss { .. })) && s.workload.as_ref().is_some_and(|w| w.clients >= 2)
    }

    #[test]
    fn shrinking_keeps_what_the_failure_needs_and_drops_the_rest() {
        let out = shrink(&scenario(), fails, &|_| {});
        let s = out.scenario;
        assert_eq!(s.faults.len(), 1, "the crash is not needed: {:?}", out.steps);
        assert!(matches!(s.faults[0].fault, Fault::PowerLoss { down_s } if down_s < 0.2));
        assert_eq!(s.workload.as_ref().unwrap().clients, 2);
        assert_eq!(s.workload.as_ref().unwrap().mix.len(), 1);
        assert_eq!(s.nodes, 1);
        assert!(s.duration_s < 10.0);
        assert!(fails(&s));
    }

    #[test]
    fn every_candidate_is_a_valid_scenario_and_differs_from_the_original() {
        let s = scenario();
        let c = candidates(&s);
        assert!(c.len() > 8, "{}", c.len());
        for (what, c) in c {
            assert!(c.validate().is_ok() && c != s, "{what}");
        }
    }

    #[test]
    fn a_regression_file_parses_back_to_the_same_scenario() {
        let reg = Regression { seed: 7, bug: Some("ack-before-fsync".into()), check: "linearizability".into(), passes_without_bug: true, shrunk_from: "x".into() };
        let text = regression_file(&scenario(), "r", reg.clone());
        let back = Scenario::parse(Path::new("r.toml"), &text).unwrap();
        assert_eq!(back, Scenario { name: "r".into(), regression: Some(reg), ..scenario() });
    }

    #[test]
    fn shrinking_is_deterministic() {
        let (a, b) = (shrink(&scenario(), fails, &|_| {}), shrink(&scenario(), fails, &|_| {}));
        assert_eq!((a.scenario, a.steps), (b.scenario, b.steps));
    }
}
