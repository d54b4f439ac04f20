//! Applies a compiled schedule's actions to a running simulated cluster, and records each as a
//! fault line in the event log. Symbolic nodes (`leader`, `follower`) are resolved when the fault
//! fires, from what the nodes have reported; an undo acts on the nodes its fault was applied to.

use crate::cluster::SimCluster;
use crate::eventlog::ClockChange;
use crate::faults::{describe_fault, Action};
use crate::scenario::{Fault, NodeRef};
use detcd_node::durable::disk::CrashMode;
use madsim::net::NetSim;
use std::time::Duration;

/// How many fsyncs fail after a `disk-fsync-fail` fault: one is enough to stop the node (the WAL
/// refuses all work after a failed fsync), a few more also fail its first attempts to write on
/// restart if the fault is still in force.
pub const FSYNC_FAILURES: u32 = 3;

/// madsim's default latency range, restored when a latency fault is undone.
const BASE_LATENCY: std::ops::Range<Duration> = Duration::from_millis(1)..Duration::from_millis(10);

/// Applies actions in order; remembers how symbolic nodes were resolved.
pub struct Injector<'c> {
    cluster: &'c SimCluster,
    resolved: Vec<(Fault, Vec<usize>)>,
}

impl<'c> Injector<'c> {
    pub fn new(cluster: &'c SimCluster) -> Self {
        Injector { cluster, resolved: Vec::new() }
    }

    fn nodes(&self) -> usize {
        self.cluster.hosts.len()
    }

    fn resolve(&self, r: &NodeRef) -> Option<usize> {
        match r {
            NodeRef::Node(i) => Some(i - 1),
            NodeRef::Leader => self.cluster.leader(),
            NodeRef::Follower => {
                let leader = self.cluster.leader();
                (0..self.nodes()).find(|i| Some(*i) != leader)
            }
        }
    }

    fn resolve_all(&self, refs: &[NodeRef]) -> Option<Vec<usize>> {
        refs.iter().map(|r| self.resolve(r)).collect()
    }

    fn note(&self, text: String) {
        self.cluster.note_fault(text);
    }

    /// Records node `i`'s clock as it reads now, after a change (for the lease checks).
    fn note_clock(&self, i: usize, jumped: bool) {
        let clock = &self.cluster.clocks[i];
        let change = ClockChange { at: self.cluster.elapsed(), node: i, local_ns: clock.now().0, rate: clock.rate(), jumped };
        self.cluster.log.lock().expect("log").clock_changes.push(change);
    }

    pub fn apply(&mut self, action: &Action) {
        match action {
            Action::Do(f) => self.inject(f),
            Action::Undo(f) => self.undo(f),
            Action::Clog(i) => {
                self.cluster.set_clogged(*i, true);
                self.note(format!("clog n{} (swizzle)", i + 1));
            }
            Action::Unclog(i) => {
                self.cluster.set_clogged(*i, false);
                self.note(format!("unclog n{} (swizzle)", i + 1));
            }
            Action::PowerCut(i) => {
                let text = match self.cluster.crash(*i, CrashMode::Torn) {
                    Some(lost) => format!("power cut n{} (lost {lost} unsynced bytes, torn writes kept)", i + 1),
                    None => format!("power cut n{} (no effect: already down)", i + 1),
                };
                self.note(text);
                self.resolved.push((Fault::Crash { node: NodeRef::Node(i + 1) }, vec![*i]));
            }
        }
    }

    fn inject(&mut self, f: &Fault) {
        let n = self.nodes();
        let all: Vec<usize> = (0..n).collect();
        let skipped = |why: &str| format!("{} skipped: {why}", describe_fault(f));
        let mut touched = Vec::new();
        match f {
            Fault::Partition { groups } => {
                let Some(mut groups) = groups.iter().map(|g| self.resolve_all(g)).collect::<Option<Vec<_>>>() else {
                    return self.note(skipped("no leader to place"));
                };
                let named: Vec<usize> = groups.iter().flatten().copied().collect();
                let rest: Vec<usize> = all.iter().copied().filter(|i| !named.contains(i)).collect();
                if !rest.is_empty() {
                    groups.push(rest);
                }
                for (a, ga) in groups.iter().enumerate() {
                    for (b, gb) in groups.iter().enumerate() {
                        if a != b {
                            self.cluster.cut_between(ga, gb);
                        }
                    }
                }
                let text = groups
                    .iter()
                    .map(|g| format!("[{}]", g.iter().map(|i| format!("n{}", i + 1)).collect::<Vec<_>>().join(",")))
                    .collect::<Vec<_>>()
                    .join(" | ");
                self.note(format!("partition {text}"));
            }
            Fault::Isolate { node } => match self.resolve(node) {
                Some(i) => self.cluster.isolate(i, ""),
                None => self.note(skipped("no leader")),
            },
            Fault::IsolateLeader => match self.cluster.leader() {
                Some(l) => self.cluster.isolate(l, " (the leader)"),
                None => self.note(skipped("no leader")),
            },
            Fault::IsolateLeaderWithMinority => {
                let Some(l) = self.cluster.leader() else { return self.note(skipped("no leader")) };
                let minority = (n - 1) / 2;
                let side: Vec<usize> = std::iter::once(l).chain(all.iter().copied().filter(|&i| i != l).take(minority.saturating_sub(1))).collect();
                let other: Vec<usize> = all.iter().copied().filter(|i| !side.contains(i)).collect();
                self.cluster.cut_between(&side, &other);
                self.cluster.cut_between(&other, &side);
                let names = |v: &[usize]| v.iter().map(|i| format!("n{}", i + 1)).collect::<Vec<_>>().join(",");
                self.note(format!("isolate the leader with a minority: [{}] | [{}]", names(&side), names(&other)));
            }
            Fault::OneWay { from, to } => {
                let (Some(a), Some(b)) = (self.resolve_all(from), self.resolve_all(to)) else {
                    return self.note(skipped("no leader"));
                };
                self.cluster.cut_between(&a, &b);
                self.note(describe_fault(f));
            }
            Fault::Bridge { middle } => {
                let Some(m) = self.resolve(middle) else { return self.note(skipped("no leader")) };
                let others: Vec<usize> = all.iter().copied().filter(|&i| i != m).collect();
                let (a, b) = others.split_at(others.len() / 2);
                self.cluster.cut_between(a, b);
                self.cluster.cut_between(b, a);
                self.note(format!("bridge: only n{} joins the two halves", m + 1));
            }
            Fault::Heal => self.cluster.heal_all(),
            Fault::Latency { ms, jitter_ms } => {
                let lo = BASE_LATENCY.start + Duration::from_millis(*ms);
                let hi = BASE_LATENCY.end + Duration::from_millis(ms + jitter_ms);
                NetSim::current().update_config(|c| c.send_latency = lo..hi);
                self.note(describe_fault(f));
            }
            Fault::Loss { rate } => {
                NetSim::current().update_config(|c| c.packet_loss_rate = *rate);
                self.note(describe_fault(f));
            }
            Fault::Crash { node } => {
                let Some(i) = self.resolve(node) else { return self.note(skipped("no leader")) };
                self.note(match self.cluster.crash(i, CrashMode::LoseUnsynced) {
                    Some(lost) => format!("crash n{} (lost {lost} unsynced bytes)", i + 1),
                    None => format!("crash n{} (no effect: already so)", i + 1),
                });
                touched.push(i);
            }
            Fault::Restart { node } | Fault::Pause { node } | Fault::Resume { node } => {
                let Some(i) = self.resolve(node) else { return self.note(skipped("no leader")) };
                let done = match f {
                    Fault::Restart { .. } => self.cluster.restart(i),
                    Fault::Pause { .. } => self.cluster.set_paused(i, true),
                    _ => self.cluster.set_paused(i, false),
                };
                let verb = describe_fault(f).split(' ').next().unwrap_or_default().to_string();
                self.note(if done { format!("{verb} n{}", i + 1) } else { format!("{verb} n{} (no effect: already so)", i + 1) });
                touched.push(i);
            }
            Fault::ClockJump { node, ms } => {
                let Some(i) = self.resolve(node) else { return self.note(skipped("no leader")) };
                self.cluster.clocks[i].jump(*ms as i128 * 1_000_000);
                self.note_clock(i, true);
                self.note(format!("clock of n{} jumps {ms:+}ms", i + 1));
                touched.push(i);
            }
            Fault::ClockDrift { node, rate } => {
                let Some(i) = self.resolve(node) else { return self.note(skipped("no leader")) };
                self.cluster.clocks[i].set_rate(*rate);
                self.note_clock(i, false);
                self.note(format!("clock of n{} runs at {rate:.3}x", i + 1));
                touched.push(i);
            }
            Fault::DiskFsyncFail { node } => {
                let Some(i) = self.resolve(node) else { return self.note(skipped("no leader")) };
                self.cluster.fail_fsync(i, FSYNC_FAILURES);
                self.note(format!("the next {FSYNC_FAILURES} fsyncs of n{} fail", i + 1));
                touched.push(i);
            }
            Fault::DiskSlow { node, ms } => {
                let Some(i) = self.resolve(node) else { return self.note(skipped("no leader")) };
                self.cluster.slow_disk(i, Duration::from_millis(*ms));
                self.note(format!("disk of n{} slow: {ms}ms per operation", i + 1));
                touched.push(i);
            }
            Fault::Flapping { .. } | Fault::SwizzleClog { .. } | Fault::RollingRestart { .. } | Fault::PowerLoss { .. } => {
                unreachable!("compound faults are expanded by Schedule::compile")
            }
        }
        self.resolved.push((f.clone(), touched));
    }

    fn undo(&mut self, f: &Fault) {
        let touched = self
            .resolved
            .iter()
            .rposition(|(g, _)| g == f)
            .map(|p| self.resolved.remove(p).1)
            .unwrap_or_default();
        match f {
            Fault::Crash { .. } => {
                for i in touched {
                    let done = self.cluster.restart(i);
                    self.note(if done { format!("restart n{}", i + 1) } else { format!("restart n{} (no effect: running)", i + 1) });
                }
            }
            Fault::Pause { .. } => {
                for i in touched {
                    self.cluster.set_paused(i, false);
                    self.note(format!("resume n{}", i + 1));
                }
            }
            Fault::ClockDrift { .. } => {
                for i in touched {
                    self.cluster.clocks[i].set_rate(1.0);
                    self.note_clock(i, false);
                    self.note(format!("clock of n{} back to 1x", i + 1));
                }
            }
            Fault::Latency { .. } => {
                NetSim::current().update_config(|c| c.send_latency = BASE_LATENCY);
                self.note("latency back to normal".into());
            }
            Fault::Loss { .. } => {
                NetSim::current().update_config(|c| c.packet_loss_rate = 0.0);
                self.note("packet loss back to 0".into());
            }
            Fault::DiskFsyncFail { .. } => {
                for i in touched {
                    self.cluster.fail_fsync(i, 0);
                    // A node that stopped on the failed fsync is restarted, as a supervisor would.
                    let then = if self.cluster.restart_exited(i) { format!("; restart n{}", i + 1) } else { String::new() };
                    self.note(format!("fsyncs of n{} work again{then}", i + 1));
                }
            }
            Fault::DiskSlow { .. } => {
                for i in touched {
                    self.cluster.slow_disk(i, Duration::ZERO);
                    self.note(format!("disk of n{} back to normal speed", i + 1));
                }
            }
            Fault::ClockJump { .. } | Fault::Restart { .. } | Fault::Resume { .. } => {}
            _ => self.cluster.heal_all(),
        }
    }
}
