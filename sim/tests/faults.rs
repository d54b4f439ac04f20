//! Story tests, one per fault verb: each asserts that the fault really happened in the run, not
//! merely that the run finished.
#![cfg(madsim)]

use detcd_node::config::RaftTiming;
use detcd_node::events::Role;
use detcd_node::pb::etcdserverpb::kv_client::KvClient;
use detcd_node::pb::etcdserverpb::{PutRequest, RangeRequest};
use detcd_sim::cluster::{node_ip, SimCluster};
use detcd_sim::eventlog::{Entry, EventLog};
use detcd_sim::run::run_log;
use detcd_sim::scenario::find;
use detcd_sim::seeds::Seeds;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Leaders reported in `[from, to)`, as (node, term).
fn leaders_between(log: &EventLog, from: f64, to: f64) -> Vec<(usize, u64)> {
    log.lines
        .iter()
        .filter(|(at, _)| *at >= secs(from) && *at < secs(to))
        .filter_map(|(_, e)| match e {
            Entry::Role { node, term, role: Role::Leader, .. } => Some((*node, term.0)),
            _ => None,
        })
        .collect()
}

fn events_of(log: &EventLog, n: usize, from: f64, to: f64) -> usize {
    log.lines
        .iter()
        .filter(|(at, e)| *at >= secs(from) && *at < secs(to) && matches!(e, Entry::Role { node, .. } if *node == n))
        .count()
}

fn fault_lines(log: &EventLog) -> Vec<String> {
    log.lines.iter().filter_map(|(_, e)| if let Entry::Fault(f) = e { Some(f.clone()) } else { None }).collect()
}

fn first_leader(log: &EventLog) -> usize {
    leaders_between(log, 0.0, 2.0).last().expect("a leader before the first fault").0
}

/// A write sent to a leader cut off with a minority never commits: it is not visible on the
/// majority during the partition nor anywhere after the heal.
#[test]
fn minority_leader_cannot_commit_after_partition() {
    let seeds = Seeds::derive(11, 3);
    let rt = madsim::runtime::Runtime::with_seed_and_config(seeds.runtime, madsim::Config::default());
    rt.block_on(async move {
        let cluster = SimCluster::start(&seeds.nodes, RaftTiming::default());
        let client = madsim::runtime::Handle::current().create_node().name("client").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))).build();
        madsim::time::sleep(secs(1.0)).await;
        let old = cluster.leader().expect("leader");
        let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        // The client stays connected to the old leader: only the links between members are cut.
        cluster.cut_between(&[old], &others);
        cluster.cut_between(&others, &[old]);
        let (old_url, new_url) = (format!("http://{}:2379", node_ip(old)), format!("http://{}:2379", node_ip(others[0])));
        client
            .spawn(async move {
                let mut c = KvClient::connect(old_url).await.expect("connect");
                let put = PutRequest { key: b"lost".to_vec(), value: b"x".to_vec(), ..Default::default() };
                let r = madsim::time::timeout(secs(3.0), c.put(put)).await;
                assert!(!matches!(r, Ok(Ok(_))), "the isolated leader acknowledged a write");
                let mut m = KvClient::connect(new_url).await.expect("connect majority");
                let got = m.range(RangeRequest { key: b"lost".to_vec(), ..Default::default() }).await.expect("majority read");
                assert!(got.into_inner().kvs.is_empty(), "a minority write became visible on the majority");
            })
            .await
            .unwrap();
        cluster.heal_network();
        madsim::time::sleep(secs(2.0)).await;
        for n in 0..3 {
            let url = format!("http://{}:2379", node_ip(n));
            let got = client
                .spawn(async move {
                    let mut c = KvClient::connect(url).await.expect("connect");
                    c.range(RangeRequest { key: b"lost".to_vec(), ..Default::default() }).await.expect("read").into_inner()
                })
                .await
                .unwrap();
            assert!(got.kvs.is_empty(), "n{}: the uncommitted write survived the heal", n + 1);
        }
    });
}

/// A clock running at 1.5x really runs fast, and one at 0.7x slow, by the node's own clock.
#[test]
fn skewed_clock_really_runs_fast_or_slow() {
    let seeds = Seeds::derive(3, 3);
    let rt = madsim::runtime::Runtime::with_seed_and_config(seeds.runtime, madsim::Config::default());
    rt.block_on(async move {
        let cluster = SimCluster::start(&seeds.nodes, RaftTiming::default());
        cluster.clocks[0].set_rate(1.5);
        cluster.clocks[1].set_rate(0.7);
        let before: Vec<_> = cluster.clocks.iter().map(|c| c.now()).collect();
        madsim::time::sleep(secs(4.0)).await;
        let ran: Vec<f64> = cluster.clocks.iter().zip(&before).map(|(c, b)| c.now().since(*b).as_secs_f64()).collect();
        assert!((ran[0] - 6.0).abs() < 0.01, "fast clock ran {ran:?}");
        assert!((ran[1] - 2.8).abs() < 0.01, "slow clock ran {ran:?}");
        assert!((ran[2] - 4.0).abs() < 0.01, "true clock ran {ran:?}");
        // The cluster still has exactly one leader per term, whatever the clocks do.
        assert!(cluster.leader().is_some());
    });
}

/// leader-crash: the killed leader reports nothing while down, the others elect a new leader in a
/// higher term, and the restarted node rejoins as a follower of it.
#[test]
fn crashed_leader_is_replaced_and_rejoins_as_follower() {
    let log = run_log(&find("leader-crash").unwrap(), 42);
    let story = log.render();
    let old = first_leader(&log);
    assert_eq!(events_of(&log, old, 2.0, 6.0), 0, "a crashed node reported events:\n{story}");
    let new = leaders_between(&log, 2.0, 6.0);
    assert!(new.iter().any(|(n, t)| *n != old && *t > 1), "no new leader while the old one was down:\n{story}");
    let (_, role, leader) = log.latest_roles()[&old];
    assert_eq!(role, Role::Follower, "{story}");
    assert_eq!(leader, Some(new.last().unwrap().0), "{story}");
}

/// process-pause: a paused leader is replaced; after resuming it learns of the higher term and
/// follows.
#[test]
fn paused_leader_is_replaced_and_steps_down_on_resume() {
    let log = run_log(&find("process-pause").unwrap(), 42);
    let story = log.render();
    let old = first_leader(&log);
    assert_eq!(events_of(&log, old, 2.0, 5.0), 0, "a paused node reported events:\n{story}");
    assert!(leaders_between(&log, 2.0, 5.0).iter().any(|(n, _)| *n != old), "no new leader during the pause:\n{story}");
    assert!(events_of(&log, old, 5.0, 12.0) > 0, "the resumed node never noticed the new term:\n{story}");
    assert_eq!(log.latest_roles()[&old].1, Role::Follower, "{story}");
}

/// asymmetric-partition: a leader that can send but not hear loses its quorum (check-quorum) and a
/// follower becomes leader in a higher term during the cut.
#[test]
fn leader_that_cannot_hear_steps_down() {
    let log = run_log(&find("asymmetric-partition").unwrap(), 42);
    let story = log.render();
    let old = first_leader(&log);
    let during = leaders_between(&log, 2.0, 7.0);
    assert!(during.iter().any(|(n, _)| *n != old), "no other leader during the one-way cut:\n{story}");
    assert!(
        log.lines.iter().any(|(at, e)| *at >= secs(2.0) && *at < secs(7.0)
            && matches!(e, Entry::Role { node, role: Role::Follower, .. } if *node == old)),
        "the deaf leader did not step down:\n{story}"
    );
}

/// swizzle-clog: every node is clogged at once at the peak, so no new leader can be elected then;
/// after the last unclog the cluster has a leader again.
#[test]
fn swizzle_clog_clogs_every_node_then_recovers() {
    let log = run_log(&find("swizzle-clog").unwrap(), 5);
    let story = log.render();
    let faults = fault_lines(&log);
    assert_eq!(faults.iter().filter(|f| f.starts_with("clog")).count(), 5, "{story}");
    assert_eq!(faults.iter().filter(|f| f.starts_with("unclog")).count(), 5, "{story}");
    // All five clogged from 4.0 s (the fifth clog) to 4.5 s (the first unclog).
    assert!(leaders_between(&log, 4.0, 4.5).is_empty(), "a leader was elected while every node was clogged:\n{story}");
    assert!(log.current_leader().is_some(), "no leader at the end:\n{story}");
}

/// bridge: with 5 nodes split into halves joined only by n3, the cluster keeps (or regains) a
/// leader during the bridge, and ends with exactly one.
#[test]
fn bridge_keeps_a_leader() {
    let log = run_log(&find("bridge").unwrap(), 42);
    let story = log.render();
    assert!(fault_lines(&log).iter().any(|f| f.contains("only n3 joins")), "{story}");
    let roles = log.latest_roles();
    let leaders: Vec<_> = roles.values().filter(|(_, r, _)| *r == Role::Leader).collect();
    assert!(!leaders.is_empty(), "no leader at the end:\n{story}");
}

/// rolling-restart and power-loss: each crash is followed by a restart, the restarted nodes report
/// again, and the cluster ends with a leader.
#[test]
fn restarts_bring_every_node_back() {
    for name in ["rolling-restart", "power-loss"] {
        let log = run_log(&find(name).unwrap(), 42);
        let story = log.render();
        let faults = fault_lines(&log);
        let crashes = faults.iter().filter(|f| f.starts_with("crash") || f.starts_with("power cut")).count();
        let restarts = faults.iter().filter(|f| f.starts_with("restart")).count();
        assert_eq!((crashes, restarts), (3, 3), "{name}:\n{story}");
        // Each restarted node comes back: after its restart it reports a role with a leader known.
        let restarts: Vec<(Duration, usize)> = log
            .lines
            .iter()
            .filter_map(|(at, e)| match e {
                Entry::Fault(f) => f.strip_prefix("restart n")?.trim().parse::<usize>().ok().map(|n| (*at, n - 1)),
                _ => None,
            })
            .collect();
        assert_eq!(restarts.len(), 3, "{name}:\n{story}");
        for (restarted, n) in restarts {
            let back = log.lines.iter().any(|(at, e)| *at >= restarted && matches!(e, Entry::Role { node, leader: Some(_), .. } if *node == n));
            assert!(back, "{name}: n{} never came back after its restart at {restarted:?}:\n{story}", n + 1);
        }
        assert!(log.current_leader().is_some(), "{name}: no leader at the end:\n{story}");
    }
}

/// clock-skew and random-nemesis runs keep Raft's one-leader-per-term rule.
#[test]
fn clock_faults_and_nemesis_keep_one_leader_per_term() {
    for (name, seed) in [("clock-skew", 42), ("random-nemesis", 1), ("random-nemesis", 2), ("flapping-partitions", 3)] {
        let log = run_log(&find(name).unwrap(), seed);
        let mut by_term = std::collections::BTreeMap::new();
        for (node, term) in leaders_between(&log, 0.0, 1e9) {
            let prev = by_term.insert(term, node);
            assert!(prev.is_none() || prev == Some(node), "{name} seed {seed}: two leaders in term {term}\n{}", log.render());
        }
        assert!(!fault_lines(&log).is_empty(), "{name}: no fault happened");
    }
}
