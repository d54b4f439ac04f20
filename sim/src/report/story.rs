//! The run's story as intervals: what each node's role and term were, and when which fault held,
//! derived from the event log alone. Plots, summaries and the page all read this.
//!
//! Worked example (split-brain, 3 nodes): n2 leads term 1; at 2 s it is cut off with a minority.
//!
//! ```text
//!   lines                                       story
//!   0.218s n2 term 1 leader                     span n2 [0.218, 2.176) leader t1, mark: n2 leads t1
//!   2.000s fault: isolate ... [n2] | [n1,n3]    window cut-off n2 [2.000, 8.000)
//!                                               window network (all) [2.000, 8.000) "isolate ..."
//!   2.176s n2 term 1 follower                   span n2 [2.176, ...) follower t1, mark: n2 steps down
//!   2.317s n1 term 2 leader                     mark: n1 leads t2
//!   8.000s fault: heal                          (the windows above close)
//! ```
//!
//! Spans of one node never overlap and are in time order; a crashed node has no span until it
//! reports again after its restart.

use super::faultlines::{self, FaultLine};
use crate::eventlog::{Entry, EventLog};
use detcd_node::events::Role;
use std::collections::BTreeSet;
use std::time::Duration;

/// A node's role and term over an interval.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleSpan {
    pub node: usize,
    pub start: Duration,
    pub end: Duration,
    pub role: Role,
    pub term: u64,
    pub leader: Option<usize>,
}

/// What a fault window shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WindowKind {
    /// Some network fault is in force (any link cut): the whole cluster's band.
    Network,
    /// Latency or packet loss raised, cluster-wide.
    Degraded,
    /// The node cannot exchange messages with a majority (itself included).
    CutOff,
    /// Some of the node's links are cut, but it still reaches a majority.
    LinksCut,
    Down,
    Paused,
    /// The node's clock runs at another rate.
    ClockRate,
    /// The node's clock was stepped (an instant: `start == end`).
    ClockJump,
    Disk,
}

/// A fault over an interval; `node` is None for a cluster-wide one.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub kind: WindowKind,
    pub node: Option<usize>,
    pub start: Duration,
    pub end: Duration,
    pub label: String,
}

/// A moment worth a marker.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    BecameLeader { at: Duration, node: usize, term: u64 },
    SteppedDown { at: Duration, node: usize, term: u64, to: Role },
    /// The first term change of a node after it was cut off or down: it learned the new term.
    Rejoined { at: Duration, node: usize, term: u64, leader: Option<usize> },
    /// A fault line the report did not understand (or a skipped fault): shown, not interpreted.
    Unparsed { at: Duration, text: String },
}

/// The intervals of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Story {
    pub nodes: usize,
    /// The end of the run (the plots' right edge).
    pub end: Duration,
    pub spans: Vec<RoleSpan>,
    pub windows: Vec<Window>,
    pub marks: Vec<Mark>,
    /// Every fault line, in order, with its time.
    pub faults: Vec<(Duration, String)>,
}

/// The network as the fault lines left it.
#[derive(Default)]
struct Net {
    /// Directed links (from, to) that drop every message.
    cut: BTreeSet<(usize, usize)>,
    clogged: BTreeSet<usize>,
}

impl Net {
    fn link_ok(&self, a: usize, b: usize) -> bool {
        !self.cut.contains(&(a, b)) && !self.clogged.contains(&a) && !self.clogged.contains(&b)
    }

    fn faulty(&self) -> bool {
        !self.cut.is_empty() || !self.clogged.is_empty()
    }

    /// What node `i`'s links look like: cut off from a majority, some links cut, or fine.
    fn state_of(&self, i: usize, nodes: usize) -> Option<WindowKind> {
        let both = |j: usize| self.link_ok(i, j) && self.link_ok(j, i);
        let reach = (0..nodes).filter(|&j| j == i || both(j)).count();
        if reach < nodes / 2 + 1 {
            Some(WindowKind::CutOff)
        } else if (0..nodes).any(|j| j != i && !both(j)) {
            Some(WindowKind::LinksCut)
        } else {
            None
        }
    }
}

/// Open windows by key, closed into the story's list.
struct Open {
    open: Vec<Window>,
    done: Vec<Window>,
}

impl Open {
    fn start(&mut self, kind: WindowKind, node: Option<usize>, at: Duration, label: String) {
        self.open.push(Window { kind, node, start: at, end: at, label });
    }

    fn is_open(&self, kind: WindowKind, node: Option<usize>) -> bool {
        self.open.iter().any(|w| w.kind == kind && w.node == node)
    }

    fn end(&mut self, kind: WindowKind, node: Option<usize>, at: Duration) {
        let (closing, rest): (Vec<Window>, Vec<Window>) = std::mem::take(&mut self.open).into_iter().partition(|w| w.kind == kind && w.node == node);
        self.open = rest;
        self.done.extend(closing.into_iter().map(|w| Window { end: at, ..w }));
    }
}

impl Story {
    /// Builds the story of `log` for a run of `nodes` nodes that lasted until `end` (events after
    /// `end` extend it).
    pub fn build(log: &EventLog, nodes: usize, end: Duration) -> Story {
        let end = log.lines.iter().map(|(t, _)| *t).chain(log.applied.iter().map(|a| a.at)).fold(end, Duration::max);
        let mut spans: Vec<RoleSpan> = Vec::new();
        let mut current: Vec<Option<RoleSpan>> = vec![None; nodes];
        let mut marks = Vec::new();
        let mut faults = Vec::new();
        let mut net = Net::default();
        let mut windows = Open { open: Vec::new(), done: Vec::new() };
        let mut net_labels: Vec<String> = Vec::new();
        for (at, e) in &log.lines {
            let at = *at;
            match e {
                Entry::Role { node, term, role, leader } if *node < nodes => {
                    let prev = current[*node].take();
                    if let Some(p) = prev.clone() {
                        spans.push(RoleSpan { end: at, ..p });
                    }
                    if *role == Role::Leader && prev.as_ref().is_none_or(|p| p.role != Role::Leader || p.term != term.0) {
                        marks.push(Mark::BecameLeader { at, node: *node, term: term.0 });
                    }
                    if let Some(p) = prev.filter(|p| p.role == Role::Leader && *role != Role::Leader) {
                        marks.push(Mark::SteppedDown { at, node: *node, term: p.term.max(term.0), to: *role });
                    }
                    current[*node] = Some(RoleSpan { node: *node, start: at, end: at, role: *role, term: term.0, leader: *leader });
                }
                Entry::Note(text) => {
                    // `n2 stopped: <why>` (a storage error stops the node) and `n2 refused to
                    // start: <why>`: the process is gone until something restarts it.
                    if let Some(i) = stopped_node(text, nodes) {
                        if let Some(p) = current[i].take() {
                            spans.push(RoleSpan { end: at, ..p });
                        }
                        if !windows.is_open(WindowKind::Down, Some(i)) {
                            windows.start(WindowKind::Down, Some(i), at, "stopped".into());
                        }
                    }
                }
                Entry::Role { .. } => {}
                Entry::Fault(text) => {
                    faults.push((at, text.clone()));
                    let line = faultlines::parse(text, nodes);
                    match &line {
                        FaultLine::Crash(i) => {
                            // A crashed leader leads no more; the down window shows why.
                            if let Some(p) = current[*i].take() {
                                spans.push(RoleSpan { end: at, ..p });
                            }
                            windows.end(WindowKind::Paused, Some(*i), at);
                            windows.end(WindowKind::Down, Some(*i), at);
                            windows.start(WindowKind::Down, Some(*i), at, "crashed".into());
                        }
                        FaultLine::Restart(i) => windows.end(WindowKind::Down, Some(*i), at),
                        FaultLine::Pause(i) => windows.start(WindowKind::Paused, Some(*i), at, "paused".into()),
                        FaultLine::Resume(i) => windows.end(WindowKind::Paused, Some(*i), at),
                        FaultLine::ClockJump { node, ms } => {
                            windows.done.push(Window { kind: WindowKind::ClockJump, node: Some(*node), start: at, end: at, label: format!("clock {ms:+}ms") })
                        }
                        FaultLine::ClockRate { node, rate } => {
                            windows.end(WindowKind::ClockRate, Some(*node), at);
                            windows.start(WindowKind::ClockRate, Some(*node), at, format!("clock {rate:.2}x"));
                        }
                        FaultLine::ClockNormal(i) => windows.end(WindowKind::ClockRate, Some(*i), at),
                        FaultLine::Disk { node, what } => {
                            windows.end(WindowKind::Disk, Some(*node), at);
                            windows.start(WindowKind::Disk, Some(*node), at, what.clone());
                        }
                        FaultLine::DiskEnd { node, restarted } => {
                            windows.end(WindowKind::Disk, Some(*node), at);
                            if *restarted {
                                windows.end(WindowKind::Down, Some(*node), at);
                            }
                        }
                        FaultLine::Degraded { on, what } => {
                            windows.end(WindowKind::Degraded, None, at);
                            if *on {
                                windows.start(WindowKind::Degraded, None, at, what.clone());
                            }
                        }
                        FaultLine::Other => marks.push(Mark::Unparsed { at, text: text.clone() }),
                        FaultLine::Split { .. } | FaultLine::OneWay { .. } | FaultLine::Heal | FaultLine::Clog(_) | FaultLine::Unclog(_) => {}
                    }
                    if apply_network(&mut net, &line) {
                        network_windows(&net, nodes, at, text, &mut net_labels, &mut windows);
                    }
                }
            }
        }
        for p in current.into_iter().flatten() {
            spans.push(RoleSpan { end, ..p });
        }
        for w in std::mem::take(&mut windows.open) {
            windows.done.push(Window { end, ..w });
        }
        let mut windows = windows.done;
        windows.sort_by_key(|w| (w.start, w.kind, w.node));
        spans.sort_by_key(|s| (s.node, s.start));
        marks.extend(rejoins(&spans, &windows, end));
        Story { nodes, end, spans, windows, marks, faults }
    }

    /// The windows of one kind.
    pub fn windows_of(&self, kind: WindowKind) -> impl Iterator<Item = &Window> {
        self.windows.iter().filter(move |w| w.kind == kind)
    }

    /// The highest term any node reported.
    pub fn max_term(&self) -> u64 {
        self.spans.iter().map(|s| s.term).max().unwrap_or(0)
    }
}

/// After each cut-off or down window that ends before the run does: the node's first report, if
/// it is in a higher term than the node had: it caught up with the cluster.
fn rejoins(spans: &[RoleSpan], windows: &[Window], end: Duration) -> Vec<Mark> {
    let mut out = Vec::new();
    for w in windows.iter().filter(|w| matches!(w.kind, WindowKind::CutOff | WindowKind::Down) && w.end < end) {
        let Some(i) = w.node else { continue };
        let mine = || spans.iter().filter(move |s| s.node == i);
        let before = mine().filter(|s| s.start <= w.end).map(|s| s.term).max().unwrap_or(0);
        // Only the node's first report after the window: a later term change is ordinary Raft.
        if let Some(s) = mine().find(|s| s.start >= w.end).filter(|s| s.term > before) {
            out.push(Mark::Rejoined { at: s.start, node: i, term: s.term, leader: s.leader });
        }
    }
    out
}

/// The node a `n<i> stopped: ...` or `n<i> refused to start: ...` note names.
pub(crate) fn stopped_node(text: &str, nodes: usize) -> Option<usize> {
    let (name, rest) = text.split_once(' ')?;
    if !(rest.starts_with("stopped") || rest.starts_with("refused to start")) {
        return None;
    }
    let i: usize = name.strip_prefix('n')?.parse().ok()?;
    (1..=nodes).contains(&i).then(|| i - 1)
}

/// Applies a network fault line to `net`; true if it was one.
fn apply_network(net: &mut Net, line: &FaultLine) -> bool {
    match line {
        FaultLine::Split { groups } => {
            for (a, ga) in groups.iter().enumerate() {
                for (b, gb) in groups.iter().enumerate() {
                    if a != b {
                        net.cut.extend(ga.iter().flat_map(|&x| gb.iter().filter(move |&&y| y != x).map(move |&y| (x, y))));
                    }
                }
            }
        }
        FaultLine::OneWay { from, to } => net.cut.extend(from.iter().flat_map(|&x| to.iter().filter(move |&&y| y != x).map(move |&y| (x, y)))),
        FaultLine::Heal => *net = Net::default(),
        FaultLine::Clog(i) => {
            net.clogged.insert(*i);
        }
        FaultLine::Unclog(i) => {
            net.clogged.remove(i);
        }
        _ => return false,
    }
    true
}

/// Re-derives the network windows after a network fault line at `at`.
fn network_windows(net: &Net, nodes: usize, at: Duration, text: &str, labels: &mut Vec<String>, w: &mut Open) {
    // The cluster-wide band: one window per stretch of time with any fault, labelled with the
    // lines that made it.
    if net.faulty() {
        if !w.is_open(WindowKind::Network, None) {
            labels.clear();
        }
        w.end(WindowKind::Network, None, at);
        labels.push(text.to_string());
        w.start(WindowKind::Network, None, at, labels.join("; "));
    } else {
        w.end(WindowKind::Network, None, at);
        labels.clear();
    }
    for i in 0..nodes {
        let state = net.state_of(i, nodes);
        for kind in [WindowKind::CutOff, WindowKind::LinksCut] {
            let open = w.is_open(kind, Some(i));
            if open && state != Some(kind) {
                w.end(kind, Some(i), at);
            } else if !open && state == Some(kind) {
                let label = if kind == WindowKind::CutOff { "cut off from the majority" } else { "some links cut" };
                w.start(kind, Some(i), at, label.into());
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use detcd_node::types::{MemberId, Term};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A small split-brain: n2 leads t1, is cut off at 2 s, steps down; n1 leads t2; heal at 8 s.
    pub(crate) fn split_brain_log() -> EventLog {
        let mut l = EventLog::new(&[MemberId(11), MemberId(12), MemberId(13)]);
        let role = |l: &mut EventLog, t: u64, node: usize, term: u64, role: Role, leader: Option<usize>| {
            l.record(ms(t), Entry::Role { node, term: Term(term), role, leader })
        };
        role(&mut l, 180, 1, 0, Role::PreCandidate, None);
        role(&mut l, 203, 1, 1, Role::Candidate, None);
        role(&mut l, 210, 0, 1, Role::Follower, None);
        role(&mut l, 215, 2, 1, Role::Follower, None);
        role(&mut l, 218, 1, 1, Role::Leader, Some(1));
        role(&mut l, 226, 2, 1, Role::Follower, Some(1));
        role(&mut l, 227, 0, 1, Role::Follower, Some(1));
        l.record(ms(2000), Entry::Fault("isolate the leader with a minority: [n2] | [n1,n3]".into()));
        role(&mut l, 2167, 2, 1, Role::PreCandidate, None);
        role(&mut l, 2176, 1, 1, Role::Follower, None);
        role(&mut l, 2281, 0, 1, Role::PreCandidate, None);
        role(&mut l, 2303, 0, 2, Role::Candidate, None);
        role(&mut l, 2313, 2, 2, Role::Follower, None);
        role(&mut l, 2317, 0, 2, Role::Leader, Some(0));
        role(&mut l, 2328, 2, 2, Role::Follower, Some(0));
        role(&mut l, 2366, 1, 1, Role::PreCandidate, None);
        l.record(ms(8000), Entry::Fault("heal: every node reaches every node".into()));
        role(&mut l, 8013, 1, 2, Role::Follower, Some(0));
        l.record(ms(9000), Entry::Fault("crash n3".into()));
        l.record(ms(9500), Entry::Fault("restart n3".into()));
        role(&mut l, 9600, 2, 2, Role::Follower, Some(0));
        l.record(ms(10000), Entry::Fault("clock of n1 jumps +250ms".into()));
        l.record(ms(10050), Entry::Note("n3 stopped: storage: fsync failed".into()));
        l.record(ms(10100), Entry::Fault("isolate the leader skipped: no leader".into()));
        for (i, node) in [(1, 1), (1, 0), (1, 2), (2, 0), (2, 2), (3, 0), (3, 2), (2, 1), (3, 1)] {
            l.applied.push(crate::eventlog::AppliedEntry { at: ms(300 + 1000 * i), node, index: i, term: if i == 1 { 1 } else { 2 }, digest: i });
        }
        l
    }

    #[test]
    fn spans_follow_each_node_and_faults_become_windows() {
        let s = Story::build(&split_brain_log(), 3, ms(12000));
        let n2: Vec<(u64, Role, u64)> = s.spans.iter().filter(|p| p.node == 1).map(|p| (p.start.as_millis() as u64, p.role, p.term)).collect();
        assert_eq!(n2, vec![(180, Role::PreCandidate, 0), (203, Role::Candidate, 1), (218, Role::Leader, 1), (2176, Role::Follower, 1), (2366, Role::PreCandidate, 1), (8013, Role::Follower, 2)]);
        let cut: Vec<_> = s.windows_of(WindowKind::CutOff).map(|w| (w.node, w.start, w.end)).collect();
        assert_eq!(cut, vec![(Some(1), ms(2000), ms(8000))], "only n2 is cut off from the majority");
        assert_eq!(s.windows_of(WindowKind::LinksCut).count(), 2, "n1 and n3 lose their link to n2");
        let net: Vec<_> = s.windows_of(WindowKind::Network).collect();
        assert_eq!((net.len(), net[0].start, net[0].end), (1, ms(2000), ms(8000)));
        let down: Vec<_> = s.windows_of(WindowKind::Down).map(|w| (w.node, w.start, w.end)).collect();
        assert_eq!(down, vec![(Some(2), ms(9000), ms(9500)), (Some(2), ms(10050), ms(12000))]);
        assert_eq!(s.windows_of(WindowKind::ClockJump).next().map(|w| w.label.as_str()), Some("clock +250ms"));
        // n3's span stops at the crash and starts again with its report after the restart.
        assert!(s.spans.iter().any(|p| p.node == 2 && p.end == ms(9000)) && s.spans.iter().any(|p| p.node == 2 && p.start == ms(9600)));
    }

    #[test]
    fn leader_changes_and_step_downs_are_marked() {
        let s = Story::build(&split_brain_log(), 3, ms(12000));
        let leaders: Vec<_> = s.marks.iter().filter_map(|m| if let Mark::BecameLeader { node, term, .. } = m { Some((*node, *term)) } else { None }).collect();
        assert_eq!(leaders, vec![(1, 1), (0, 2)]);
        assert!(s.marks.contains(&Mark::SteppedDown { at: ms(2176), node: 1, term: 1, to: Role::Follower }));
        assert!(s.marks.contains(&Mark::Rejoined { at: ms(8013), node: 1, term: 2, leader: Some(0) }), "n2 learns term 2 after the heal");
        assert!(s.marks.iter().any(|m| matches!(m, Mark::Unparsed { text, .. } if text.contains("skipped"))));
        assert_eq!((s.max_term(), s.end), (2, ms(12000)));
    }
}
