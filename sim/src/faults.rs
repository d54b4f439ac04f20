//! The fault schedule: a scenario's timeline and nemesis, compiled into a flat, time-ordered list of
//! primitive actions before the run starts. Everything random (nemesis draws, flapping partitions,
//! swizzle orders) is drawn here from the run's fault seed, so the schedule is a pure function of
//! (scenario, seed) and is printed with the run's derived options.
//!
//! Fault contract (what the cluster must survive, what is out of scope):
//! - network: any partition, one-way cut, bridge, latency and loss; messages are lost or delayed,
//!   never corrupted (gRPC/TCP checksums). After a heal every link works again.
//! - process: crash, restart from disk, pause and resume (a stalled process whose clock keeps
//!   running). A crash kills the process and then the machine loses everything its disk had not
//!   synced (as a power loss would; a mere process crash keeps the page cache, which is milder).
//!   Power loss cuts every node at once and may also *tear* each node's unsynced writes: a
//!   sector-aligned prefix of them survives, and a prefix of its unsynced directory operations.
//!   No write acknowledged to a client may be lost, no Raft promise (a vote, an acknowledged
//!   append) broken; each node restarts from what it synced, cutting off a torn WAL tail.
//! - clock: per-node steps and rate changes through the node's clock seam. Raft's safety must not
//!   depend on clocks; lease expiry may (that is what the lease checks look at).
//! - disk, through each node's simulated disk (`detcd_node::durable::disk::sim` states its full contract):
//!   `disk-fsync-fail` makes the node's next fsyncs fail; the node must stop rather than go on
//!   with data it cannot vouch for, and when the fault is undone it is restarted (as a supervisor
//!   would) and recovers from what is durable. `disk-slow` makes every disk operation of the node
//!   take longer; the cluster only gets slower. A corrupted WAL record (the simulator's
//!   `corrupt_wal` verb, used by tests) must make the node refuse to start, naming file and
//!   offset; the others keep serving.
//! - out of scope: Byzantine behaviour, corrupted messages, membership changes, loss of a whole
//!   disk, and the disk faults the simulated disk's contract leaves out (undetectable corruption,
//!   lying fsyncs, write errors).

use crate::scenario::{Fault, NemesisSpec, NodeRef, Scenario};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// One primitive step of the schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Inject a fault (compound faults are expanded: never `Flapping`, `SwizzleClog`,
    /// `RollingRestart` or `PowerLoss` here).
    Do(Fault),
    /// Undo a fault injected earlier (network faults heal, crash restarts, pause resumes, drift
    /// returns to rate 1, latency and loss return to madsim's defaults, disk faults clear).
    Undo(Fault),
    /// Clog one node completely (swizzle-clog's step).
    Clog(usize),
    /// Unclog one node.
    Unclog(usize),
    /// Node `i`'s machine loses power: the process dies and unsynced writes are lost or torn
    /// (power loss's step; undone by `Undo(Crash)` of the node).
    PowerCut(usize),
}

/// The compiled schedule of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    pub steps: Vec<(Duration, Action)>,
    /// What a swarm nemesis drew for this seed, as one line (None without swarm).
    pub swarm: Option<String>,
}

impl Schedule {
    /// Compiles the scenario's timeline and nemesis with the fault seed.
    pub fn compile(s: &Scenario, seed: u64) -> Schedule {
        let mut rng = StdRng::seed_from_u64(seed);
        let end = s.duration_s;
        let mut steps: Vec<(f64, Action)> = Vec::new();
        let mut swarm_line = None;
        for step in &s.faults {
            let until = step.for_s.map(|f| (step.at_s + f).min(end));
            expand(&step.fault, step.at_s, until, end, s.nodes, &mut rng, &mut steps);
        }
        if let Some(n) = &s.nemesis {
            let n = if n.swarm {
                let (drawn, line) = swarm(n, &mut rng);
                swarm_line = Some(line);
                drawn
            } else {
                n.clone()
            };
            nemesis(&n, s.nodes, end, &mut rng, &mut steps);
        }
        // Stable sort: steps at the same time keep their order of declaration.
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        Schedule { steps: steps.into_iter().map(|(t, a)| (Duration::from_secs_f64(t), a)).collect(), swarm: swarm_line }
    }

    /// The schedule as text, one step a line (printed with the derived options).
    pub fn render(&self) -> String {
        let swarm = self.swarm.as_ref().map(|l| format!("  swarm: {l}\n")).unwrap_or_default();
        swarm + &self.steps.iter().map(|(t, a)| format!("  at {:>8.3}s  {}\n", t.as_secs_f64(), describe(a))).collect::<String>()
    }
}

fn n(i: usize) -> NodeRef {
    NodeRef::Node(i + 1)
}

/// Expands one timeline fault into primitive steps.
fn expand(f: &Fault, at: f64, until: Option<f64>, end: f64, nodes: usize, rng: &mut StdRng, out: &mut Vec<(f64, Action)>) {
    match f {
        Fault::Flapping { period_s } => {
            let stop = until.unwrap_or(end);
            let mut t = at;
            while t < stop {
                out.push((t, Action::Do(random_partition(nodes, rng))));
                t += period_s.max(0.01);
            }
            out.push((stop, Action::Undo(Fault::Heal)));
        }
        Fault::SwizzleClog { step_s } => {
            let mut order: Vec<usize> = (0..nodes).collect();
            order.shuffle(rng);
            let mut t = at;
            for &i in &order {
                out.push((t, Action::Clog(i)));
                t += step_s;
            }
            order.shuffle(rng);
            for &i in &order {
                out.push((t, Action::Unclog(i)));
                t += step_s;
            }
        }
        Fault::RollingRestart { gap_s, down_s } => {
            let mut t = at;
            for i in 0..nodes {
                out.push((t, Action::Do(Fault::Crash { node: n(i) })));
                out.push((t + down_s, Action::Undo(Fault::Crash { node: n(i) })));
                t += down_s + gap_s;
            }
        }
        Fault::PowerLoss { down_s } => {
            for i in 0..nodes {
                out.push((at, Action::PowerCut(i)));
            }
            for i in 0..nodes {
                out.push((at + down_s, Action::Undo(Fault::Crash { node: n(i) })));
            }
        }
        other => {
            out.push((at, Action::Do(other.clone())));
            if let Some(u) = until {
                out.push((u, Action::Undo(other.clone())));
            }
        }
    }
}

/// Two non-empty groups, drawn from the seed.
fn random_partition(nodes: usize, rng: &mut StdRng) -> Fault {
    let mut ids: Vec<usize> = (0..nodes).collect();
    ids.shuffle(rng);
    let cut = if nodes > 1 { rng.gen_range(1..nodes) } else { 1 };
    Fault::Partition { groups: vec![ids[..cut].iter().map(|&i| n(i)).collect(), ids[cut..].iter().map(|&i| n(i)).collect()] }
}

/// Swarm testing: the nemesis this seed runs with. Each kind is on with probability 1/2, and the
/// intervals between faults are scaled by 1/2 (hard), 1 or 2 (calm). Returns it and a line for
/// the run's header.
fn swarm(spec: &NemesisSpec, rng: &mut StdRng) -> (NemesisSpec, String) {
    let kinds: Vec<String> = spec.kinds.iter().filter(|_| rng.gen_bool(0.5)).cloned().collect();
    let (scale, how) = [(0.5, "hard"), (1.0, "as written"), (2.0, "calm")][rng.gen_range(0..3)];
    let interval_s = [spec.interval_s[0] * scale, spec.interval_s[1] * scale];
    let line = if kinds.is_empty() {
        "no fault family drawn for this seed (a fault-free run)".to_string()
    } else {
        format!("{} ({how}: every {:.2}-{:.2}s)", kinds.join(", "), interval_s[0], interval_s[1])
    };
    (NemesisSpec { kinds, interval_s, swarm: false, ..spec.clone() }, line)
}

/// The randomized nemesis: faults of the given kinds at random intervals, each undone after a
/// random duration; everything is undone by `stop_s`.
fn nemesis(spec: &NemesisSpec, nodes: usize, end: f64, rng: &mut StdRng, out: &mut Vec<(f64, Action)>) {
    let stop = spec.stop_s.unwrap_or(end * 0.75).min(end);
    let mut t = spec.start_s.unwrap_or(1.0);
    loop {
        t += rng.gen_range(spec.interval_s[0]..=spec.interval_s[1]);
        if t >= stop || spec.kinds.is_empty() {
            break;
        }
        let kind = spec.kinds[rng.gen_range(0..spec.kinds.len())].as_str();
        let node = n(rng.gen_range(0..nodes));
        let fault = match kind {
            "partition" => random_partition(nodes, rng),
            "kill" => Fault::Crash { node },
            "pause" => Fault::Pause { node },
            "clock" => {
                if rng.gen_bool(0.5) {
                    Fault::ClockDrift { node, rate: rng.gen_range(0.5..2.0) }
                } else {
                    Fault::ClockJump { node, ms: rng.gen_range(-5000..5000) }
                }
            }
            "disk" => Fault::DiskSlow { node, ms: rng.gen_range(1..50) },
            "latency" => Fault::Latency { ms: rng.gen_range(10..200), jitter_ms: rng.gen_range(0..50) },
            "loss" => Fault::Loss { rate: rng.gen_range(0.05..0.4) },
            other => unreachable!("validated nemesis kind {other}"),
        };
        let until = (t + rng.gen_range(spec.duration_s[0]..=spec.duration_s[1])).min(stop);
        out.push((t, Action::Do(fault.clone())));
        if !matches!(fault, Fault::ClockJump { .. }) {
            out.push((until, Action::Undo(fault)));
        }
        t = until;
    }
}

/// One line for a step.
pub fn describe(a: &Action) -> String {
    match a {
        Action::Do(f) => describe_fault(f),
        Action::Undo(f) => format!("undo {}", describe_fault(f)),
        Action::Clog(i) => format!("clog n{}", i + 1),
        Action::Unclog(i) => format!("unclog n{}", i + 1),
        Action::PowerCut(i) => format!("power cut n{}", i + 1),
    }
}

fn refs(v: &[NodeRef]) -> String {
    v.iter().map(|r| String::from(r.clone())).collect::<Vec<_>>().join(",")
}

pub fn describe_fault(f: &Fault) -> String {
    match f {
        Fault::Partition { groups } => {
            format!("partition {}", groups.iter().map(|g| format!("[{}]", refs(g))).collect::<Vec<_>>().join(" | "))
        }
        Fault::Isolate { node } => format!("isolate {}", String::from(node.clone())),
        Fault::IsolateLeader => "isolate the leader".into(),
        Fault::IsolateLeaderWithMinority => "isolate the leader with a minority".into(),
        Fault::OneWay { from, to } => format!("one-way cut {} -> {}", refs(from), refs(to)),
        Fault::Bridge { middle } => format!("bridge through {}", String::from(middle.clone())),
        Fault::Flapping { period_s } => format!("flapping partitions every {period_s}s"),
        Fault::SwizzleClog { step_s } => format!("swizzle-clog, {step_s}s steps"),
        Fault::Latency { ms, jitter_ms } => format!("latency +{ms}ms (jitter {jitter_ms}ms)"),
        Fault::Loss { rate } => format!("packet loss {rate}"),
        Fault::Heal => "heal the network".into(),
        Fault::Crash { node } => format!("crash {}", String::from(node.clone())),
        Fault::Restart { node } => format!("restart {}", String::from(node.clone())),
        Fault::Pause { node } => format!("pause {}", String::from(node.clone())),
        Fault::Resume { node } => format!("resume {}", String::from(node.clone())),
        Fault::RollingRestart { gap_s, down_s } => format!("rolling restart (down {down_s}s, gap {gap_s}s)"),
        Fault::PowerLoss { down_s } => format!("power loss (down {down_s}s)"),
        Fault::ClockJump { node, ms } => format!("clock of {} jumps {ms:+}ms", String::from(node.clone())),
        Fault::ClockDrift { node, rate } => format!("clock of {} runs at {rate:.3}x", String::from(node.clone())),
        Fault::DiskFsyncFail { node } => format!("fsync fails on {}", String::from(node.clone())),
        Fault::DiskSlow { node, ms } => format!("disk of {} slow by {ms}ms", String::from(node.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("t.toml"), text).unwrap()
    }

    #[test]
    fn same_seed_same_schedule_and_seeds_differ() {
        let s = scenario(
            "description = \"d\"\nduration_s = 30\n[nemesis]\nkinds = [\"partition\", \"kill\", \"clock\"]\ninterval_s = [1, 3]\nduration_s = [0.5, 2]\n",
        );
        let a = Schedule::compile(&s, 1);
        assert_eq!(a, Schedule::compile(&s, 1));
        assert_ne!(a, Schedule::compile(&s, 2));
        assert!(a.steps.len() >= 4, "{}", a.render());
        // Every fault ends by the nemesis's stop time (3/4 of the run).
        assert!(a.steps.iter().all(|(t, _)| t.as_secs_f64() <= 22.5), "{}", a.render());
    }

    #[test]
    fn timed_faults_are_undone_and_compound_faults_expand() {
        let s = scenario(
            "description = \"d\"\nduration_s = 20\nnodes = 3\n\
             [[fault]]\nat_s = 1\nfor_s = 2\ndo = \"pause\"\nnode = \"n2\"\n\
             [[fault]]\nat_s = 5\ndo = \"power-loss\"\ndown_s = 1\n\
             [[fault]]\nat_s = 10\ndo = \"swizzle-clog\"\nstep_s = 0.5\n",
        );
        let sch = Schedule::compile(&s, 9);
        let text = sch.render();
        assert!(text.contains("at    1.000s  pause n2") && text.contains("at    3.000s  undo pause n2"), "{text}");
        assert_eq!(sch.steps.iter().filter(|(_, a)| matches!(a, Action::PowerCut(_))).count(), 3, "{text}");
        assert_eq!(sch.steps.iter().filter(|(_, a)| matches!(a, Action::Undo(Fault::Crash { .. }))).count(), 3, "{text}");
        assert_eq!(sch.steps.iter().filter(|(_, a)| matches!(a, Action::Clog(_))).count(), 3, "{text}");
        assert_eq!(sch.steps.iter().filter(|(_, a)| matches!(a, Action::Unclog(_))).count(), 3, "{text}");
        assert!(sch.steps.windows(2).all(|w| w[0].0 <= w[1].0), "sorted by time");
    }
}
