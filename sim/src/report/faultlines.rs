//! Reading the event log's fault lines back into structure.
//!
//! The injector records each fault as one line of text ([`crate::eventlog::Entry::Fault`]), with
//! symbolic nodes (`leader`) already resolved to `n<i>`. The report needs to know which nodes a
//! fault touched and when it ended, so it parses those lines here, and nowhere else. A line it
//! does not recognise becomes [`FaultLine::Other`]: shown in the fault list and as a mark on the
//! plot, never dropped. The recognised texts (one per fault verb, as `inject.rs` and `cluster.rs`
//! write them) are pinned by this module's tests.
//!
//! ```text
//!   isolate the leader with a minority: [n2] | [n1,n3]   -> Split { [[1], [0, 2]] }
//!   heal: every node reaches every node                  -> Heal
//!   crash n2 / restart n2                                 -> Crash(1) / Restart(1)
//!   clock of n3 runs at 1.500x                            -> ClockRate { node: 2, rate: 1.5 }
//! ```

/// One fault line, understood.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultLine {
    /// Every link between two different groups is cut, both directions (partition, isolate,
    /// isolate-with-minority, bridge). Nodes in no group keep their links.
    Split { groups: Vec<Vec<usize>> },
    /// Messages from `from` to `to` are dropped.
    OneWay { from: Vec<usize>, to: Vec<usize> },
    /// Every link works again (and clogged nodes are unclogged).
    Heal,
    Clog(usize),
    Unclog(usize),
    Crash(usize),
    Restart(usize),
    Pause(usize),
    Resume(usize),
    ClockJump { node: usize, ms: i64 },
    ClockRate { node: usize, rate: f64 },
    ClockNormal(usize),
    /// A disk fault starts on a node (`what` for the label).
    Disk { node: usize, what: String },
    /// A node's disk works normally again; `restarted`: the node, stopped by the fault, was
    /// restarted too.
    DiskEnd { node: usize, restarted: bool },
    /// A cluster-wide network knob (latency, loss) is turned on (`on`) or back to normal.
    Degraded { on: bool, what: String },
    /// Anything else (skipped faults, faults with no effect, texts this module does not know).
    Other,
}

/// `n3` -> 2 (0-based), if it names one of `nodes` nodes.
fn node(s: &str, nodes: usize) -> Option<usize> {
    let i: usize = s.trim().strip_prefix('n')?.parse().ok()?;
    (1..=nodes).contains(&i).then(|| i - 1)
}

/// `n1,n3` -> [0, 2].
fn node_list(s: &str, nodes: usize) -> Option<Vec<usize>> {
    s.split(',').map(|n| node(n, nodes)).collect()
}

/// `[n1] | [n2,n3]` -> [[0], [1, 2]].
fn groups(s: &str, nodes: usize) -> Option<Vec<Vec<usize>>> {
    s.split('|')
        .map(|g| node_list(g.trim().strip_prefix('[')?.strip_suffix(']')?, nodes))
        .collect()
}

/// Reads one fault line of a run of `nodes` nodes.
pub fn parse(text: &str, nodes: usize) -> FaultLine {
    parse_known(text, nodes).unwrap_or(FaultLine::Other)
}

fn parse_known(text: &str, nodes: usize) -> Option<FaultLine> {
    use FaultLine::*;
    if text.contains("skipped") || text.contains("no effect") {
        return None;
    }
    let all: Vec<usize> = (0..nodes).collect();
    let one = |rest: &str| node(rest, nodes);
    if let Some(rest) = text.strip_prefix("isolate the leader with a minority: ") {
        return Some(Split { groups: groups(rest, nodes)? });
    }
    if let Some(rest) = text.strip_prefix("isolate ") {
        // `isolate n2` or `isolate n2 (the leader)`.
        let i = one(rest.split(' ').next()?)?;
        let others: Vec<usize> = all.iter().copied().filter(|&j| j != i).collect();
        return Some(Split { groups: vec![vec![i], others] });
    }
    if let Some(rest) = text.strip_prefix("partition ") {
        return Some(Split { groups: groups(rest, nodes)? });
    }
    if let Some(rest) = text.strip_prefix("bridge: only ") {
        // As the injector builds it: the others in order, split in two halves.
        let m = one(rest.split(' ').next()?)?;
        let others: Vec<usize> = all.iter().copied().filter(|&j| j != m).collect();
        let (a, b) = others.split_at(others.len() / 2);
        return Some(Split { groups: vec![a.to_vec(), b.to_vec()] });
    }
    if let Some(rest) = text.strip_prefix("one-way cut ") {
        let (from, to) = rest.split_once(" -> ")?;
        return Some(OneWay { from: node_list(from, nodes)?, to: node_list(to, nodes)? });
    }
    if text.starts_with("heal") {
        return Some(Heal);
    }
    if let Some(rest) = text.strip_prefix("clog ") {
        return Some(Clog(one(rest.split(' ').next()?)?));
    }
    if let Some(rest) = text.strip_prefix("unclog ") {
        return Some(Unclog(one(rest.split(' ').next()?)?));
    }
    // `crash n2`, `crash n2 (lost 120 unsynced bytes)`, `power cut n1 (...)`, `restart n2`.
    type Make = fn(usize) -> FaultLine;
    let verbs: [(&str, Make); 5] = [("crash ", Crash), ("power cut ", Crash), ("restart ", Restart), ("pause ", Pause), ("resume ", Resume)];
    for (verb, make) in verbs {
        if let Some(rest) = text.strip_prefix(verb) {
            return Some(make(one(rest.split(' ').next()?)?));
        }
    }
    if let Some(rest) = text.strip_prefix("clock of ") {
        let (n, what) = rest.split_once(' ')?;
        let node = one(n)?;
        if let Some(ms) = what.strip_prefix("jumps ").and_then(|m| m.strip_suffix("ms")) {
            return Some(ClockJump { node, ms: ms.trim_start_matches('+').parse().ok()? });
        }
        if let Some(rate) = what.strip_prefix("runs at ").and_then(|r| r.strip_suffix('x')) {
            return Some(ClockRate { node, rate: rate.parse().ok()? });
        }
        if what == "back to 1x" {
            return Some(ClockNormal(node));
        }
        return None;
    }
    if let Some(rest) = text.strip_prefix("fsync fails on ") {
        return Some(Disk { node: one(rest)?, what: "fsync fails".into() });
    }
    if let Some(rest) = text.strip_prefix("the next ") {
        // `the next 3 fsyncs of n2 fail`
        let n = rest.split_once(" of ")?.1.split(' ').next()?;
        return Some(Disk { node: one(n)?, what: "fsyncs fail".into() });
    }
    if let Some(rest) = text.strip_prefix("fsyncs of ") {
        // `fsyncs of n2 work again` or `fsyncs of n2 work again; restart n2`
        let node = one(rest.split(' ').next()?)?;
        return Some(DiskEnd { node, restarted: rest.contains("; restart") });
    }
    if let Some(rest) = text.strip_prefix("disk of ") {
        let (n, what) = rest.split_once(' ')?;
        let node = one(n)?;
        if what.starts_with("back to normal") {
            return Some(DiskEnd { node, restarted: false });
        }
        return Some(Disk { node, what: format!("disk {}", what.trim_start_matches(':').trim()) });
    }
    if text.starts_with("latency") || text.starts_with("packet loss") {
        let on = !(text.contains("back to"));
        return Some(Degraded { on, what: text.to_string() });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::FaultLine::*;
    use super::*;

    #[test]
    fn every_verb_the_injector_writes_is_understood() {
        let p = |t| parse(t, 3);
        assert_eq!(p("isolate the leader with a minority: [n2] | [n1,n3]"), Split { groups: vec![vec![1], vec![0, 2]] });
        assert_eq!(p("isolate n2 (the leader)"), Split { groups: vec![vec![1], vec![0, 2]] });
        assert_eq!(p("isolate n3"), Split { groups: vec![vec![2], vec![0, 1]] });
        assert_eq!(p("partition [n1] | [n2,n3]"), Split { groups: vec![vec![0], vec![1, 2]] });
        assert_eq!(p("bridge: only n2 joins the two halves"), Split { groups: vec![vec![0], vec![2]] });
        assert_eq!(p("one-way cut n1 -> n2,n3"), OneWay { from: vec![0], to: vec![1, 2] });
        assert_eq!(p("heal: every node reaches every node"), Heal);
        assert_eq!((p("clog n1 (swizzle)"), p("unclog n3 (swizzle)")), (Clog(0), Unclog(2)));
        assert_eq!((p("crash n2"), p("restart n2"), p("pause n1"), p("resume n1")), (Crash(1), Restart(1), Pause(0), Resume(0)));
        assert_eq!(p("clock of n2 jumps -300ms"), ClockJump { node: 1, ms: -300 });
        assert_eq!(p("clock of n2 jumps +4000ms"), ClockJump { node: 1, ms: 4000 });
        assert_eq!(p("clock of n3 runs at 1.500x"), ClockRate { node: 2, rate: 1.5 });
        assert_eq!(p("clock of n3 back to 1x"), ClockNormal(2));
        assert_eq!(p("crash n2 (lost 120 unsynced bytes)"), Crash(1));
        assert_eq!(p("power cut n3 (lost 0 unsynced bytes, torn writes kept)"), Crash(2));
        assert_eq!(p("disk of n1 slow by 5ms"), Disk { node: 0, what: "disk slow by 5ms".into() });
        assert_eq!(p("disk of n1 slow: 5ms per operation"), Disk { node: 0, what: "disk slow: 5ms per operation".into() });
        assert_eq!(p("disk of n1 back to normal speed"), DiskEnd { node: 0, restarted: false });
        assert_eq!(p("fsync fails on n1"), Disk { node: 0, what: "fsync fails".into() });
        assert_eq!(p("the next 3 fsyncs of n2 fail"), Disk { node: 1, what: "fsyncs fail".into() });
        assert_eq!(p("fsyncs of n2 work again; restart n2"), DiskEnd { node: 1, restarted: true });
        assert_eq!(p("fsyncs of n2 work again"), DiskEnd { node: 1, restarted: false });
        assert!(matches!(p("latency +50ms (jitter 10ms)"), Degraded { on: true, .. }));
        assert!(matches!(p("latency back to normal"), Degraded { on: false, .. }));
        assert!(matches!(p("packet loss 0.2"), Degraded { on: true, .. }));
        assert!(matches!(p("packet loss back to 0"), Degraded { on: false, .. }));
    }

    #[test]
    fn skipped_faults_and_unknown_texts_are_other() {
        assert_eq!(parse("isolate the leader skipped: no leader", 3), Other);
        assert_eq!(parse("crash n2 (no effect: already so)", 3), Other);
        assert_eq!(parse("power cut n2 (no effect: already down)", 3), Other);
        assert_eq!(parse("one-way cut leader -> n2", 3), Other);
        assert_eq!(parse("crash n7", 3), Other, "n7 is not in a 3-node cluster");
        assert_eq!(parse("the moon falls", 3), Other);
    }
}
