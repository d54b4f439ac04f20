//! Durability stories on the simulated disk: crashes that lose unsynced data, a corrupted WAL, a
//! torn WAL tail, a follower caught up by snapshot, failing and slow disks. Clients run throughout
//! and their history must stay linearizable: an acknowledged write that a crash lost would show up
//! there as a read that does not see it.
#![cfg(madsim)]

use detcd_check::linearizability::NoDeadline;
use detcd_check::{check_text, Format, ModelKind, Verdict as L};
use detcd_node::config::RaftTiming;
use detcd_node::durable::disk::{CrashMode, Disk};
use detcd_node::durable::wal;
use detcd_sim::checks::Verdict;
use detcd_sim::cluster::SimCluster;
use detcd_sim::eventlog::{Entry, EventLog};
use detcd_sim::history::{History, OutcomeClass};
use detcd_sim::run::{run, RunOutput};
use detcd_sim::scenario::{find, OpKind, WorkloadSpec};
use detcd_sim::seeds::Seeds;
use detcd_sim::workload;
use madsim::time::sleep;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Writes and reads on few keys, so reads see (or miss) recent writes.
fn writes_and_reads() -> WorkloadSpec {
    WorkloadSpec {
        clients: 5,
        keys: 8,
        rate_per_s: 40.0,
        timeout_ms: 1000,
        mix: [(OpKind::Put, 4), (OpKind::Get, 4), (OpKind::TxnCas, 2)].into(),
        stop_s: None,
    }
}

struct Run {
    history: History,
    log: EventLog,
}

/// Three members under [`writes_and_reads`] for `run_s` simulated seconds (clients stop one
/// second before the end) while `script` acts on the cluster; returns the run and what the script
/// returned.
fn simulate<T, F, Fut>(seed: u64, run_s: u64, script: F) -> (Run, T)
where
    F: FnOnce(Rc<SimCluster>) -> Fut,
    Fut: Future<Output = T>,
{
    let seeds = Seeds::derive(seed, 3);
    let rt = madsim::runtime::Runtime::with_seed_and_config(seeds.runtime, madsim::Config::default());
    rt.block_on(async move {
        let cluster = Rc::new(SimCluster::start(&seeds.nodes, RaftTiming::default()));
        let clients = workload::start(&writes_and_reads(), seeds.workload, 3, cluster.start_instant(), secs(run_s as f64 - 1.0));
        let out = script(cluster.clone()).await;
        sleep(secs(run_s as f64).saturating_sub(cluster.elapsed())).await;
        let history = clients.finish().await;
        let log = cluster.log.lock().unwrap().clone();
        (Run { history, log }, out)
    })
}

fn assert_linearizable(h: &History) {
    let jsonl = h.to_jsonl();
    let verdict = check_text(&jsonl, ModelKind::Etcd, Some(Format::Ours), &NoDeadline).expect("the history parses").verdict;
    assert_eq!(verdict, L::Ok, "{jsonl}");
}

fn notes(log: &EventLog) -> Vec<(Duration, String)> {
    log.lines
        .iter()
        .filter_map(|(at, e)| match e {
            Entry::Note(n) | Entry::Fault(n) => Some((*at, n.clone())),
            Entry::Role { .. } => None,
        })
        .collect()
}

fn has_note(log: &EventLog, starts_with: &str) -> bool {
    notes(log).iter().any(|(_, n)| n.starts_with(starts_with))
}

/// Successful writes completed after `t`.
fn writes_ok_after(h: &History, t: Duration) -> usize {
    h.all().filter(|o| o.kind == OpKind::Put && o.outcome() == OutcomeClass::Ok && o.invoked() > t).count()
}

/// The highest index node `n` applied after `t`, if any.
fn applied_after(log: &EventLog, n: usize, t: Duration) -> Option<u64> {
    log.applied.iter().filter(|a| a.node == n && a.at > t).map(|a| a.index).max()
}

fn assert_all_pass(out: &RunOutput) {
    for (name, v) in &out.verdicts {
        assert!(matches!(v, Verdict::Pass | Verdict::Skipped(_)), "{name}: {v}\n{}", out.text());
    }
}

/// Waits (up to 5 s) until node `i`'s disk holds written but unsynced bytes, so that a crash now
/// really loses data.
async fn until_unsynced(cluster: &SimCluster, i: usize) {
    for _ in 0..5000 {
        if cluster.disks[i].unsynced_bytes() > 0 {
            return;
        }
        sleep(Duration::from_millis(1)).await;
    }
    panic!("n{} never had unsynced bytes", i + 1);
}

#[test]
fn a_crashed_leader_loses_its_unsynced_writes_but_no_acknowledged_write() {
    let (run, (n, restarted_at)) = simulate(21, 10, |cluster| async move {
        sleep(secs(2.0)).await;
        let leader = cluster.leader().expect("a leader");
        until_unsynced(&cluster, leader).await;
        let lost = cluster.crash(leader, CrashMode::LoseUnsynced).expect("it was up");
        assert!(lost > 0, "the crash lost nothing");
        sleep(secs(2.0)).await;
        assert!(cluster.restart(leader));
        (leader, cluster.elapsed())
    });
    let story = run.log.render();
    assert!(has_note(&run.log, &format!("n{} recovered from its disk", n + 1)), "{story}");
    assert!(applied_after(&run.log, n, restarted_at).is_some(), "the restarted node applies again:\n{story}");
    assert!(writes_ok_after(&run.history, restarted_at) > 20, "the cluster serves after the restart");
    assert_linearizable(&run.history);
}

#[test]
fn every_node_losing_power_at_once_loses_no_acknowledged_write() {
    let mut lost_total = 0u64;
    for seed in 1..=3 {
        let out = run(&find("power-loss").unwrap(), seed).unwrap();
        assert_all_pass(&out);
        let log = &out.log;
        for n in 1..=3 {
            assert!(has_note(log, &format!("n{n} recovered from its disk")), "seed {seed}:\n{}", out.text());
        }
        // "power cut nK (lost N unsynced bytes, ...)"
        lost_total += notes(log)
            .iter()
            .filter_map(|(_, t)| t.strip_prefix("power cut n")?.split("(lost ").nth(1)?.split(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
        // The three cuts happen at one instant.
        let cuts: Vec<Duration> = notes(log).iter().filter(|(_, t)| t.starts_with("power cut")).map(|(at, _)| *at).collect();
        assert!(cuts.len() == 3 && cuts.iter().all(|t| *t == cuts[0]), "seed {seed}: {cuts:?}");
    }
    assert!(lost_total > 0, "no power cut lost unsynced data: the test proves nothing");
}

#[test]
fn a_corrupted_record_in_the_middle_of_the_wal_refuses_to_start_naming_file_and_offset() {
    let (run, (f, file, offset, refused_at)) = simulate(22, 9, |cluster| async move {
        sleep(secs(3.0)).await;
        let leader = cluster.leader().expect("a leader");
        let f = (0..3).find(|i| *i != leader).unwrap();
        cluster.crash(f, CrashMode::LoseUnsynced).expect("it was up");
        let (file, offset) = cluster.corrupt_wal(f).expect("the WAL has entries to corrupt");
        assert!(cluster.restart(f));
        sleep(secs(1.0)).await;
        assert!(cluster.has_exited(f), "a node with a corrupt WAL is not running");
        (f, file, offset, cluster.elapsed())
    });
    let story = run.log.render();
    let expected = format!("n{} refused to start: WAL file {file} is corrupt at offset {offset}: record body checksum mismatch", f + 1);
    assert!(has_note(&run.log, &expected), "expected {expected:?} in:\n{story}");
    assert!(applied_after(&run.log, f, refused_at).is_none(), "{story}");
    assert!(writes_ok_after(&run.history, refused_at) > 20, "the other two keep serving");
    assert_linearizable(&run.history);
}

#[test]
fn a_torn_wal_tail_is_cut_off_and_the_node_rejoins() {
    let (run, (f, file, end, cut, restarted_at)) = simulate(23, 9, |cluster| async move {
        sleep(secs(2.0)).await;
        let leader = cluster.leader().expect("a leader");
        let f = (0..3).find(|i| *i != leader).unwrap();
        cluster.crash(f, CrashMode::LoseUnsynced).expect("it was up");
        // What a power cut in the middle of the last write leaves: the newest segment ends in the
        // first part of a record (here a copy of its last record without its last byte), durable.
        let disk = &cluster.disks[f];
        let newest = wal::inspect(disk).unwrap().pop().expect("a segment");
        let &(offset, len, _) = newest.records.last().unwrap();
        let bytes = disk.read(&newest.name).unwrap();
        let end = bytes.len() as u64;
        disk.append(&newest.name, &bytes[offset as usize..(offset + len - 1) as usize]).unwrap();
        disk.sync(&newest.name).unwrap();
        assert!(cluster.restart(f));
        (f, newest.name, end, len - 1, cluster.elapsed())
    });
    let story = run.log.render();
    let expected = format!("torn tail cut: {file} at offset {end}: {cut} bytes cut (incomplete record body)");
    assert!(notes(&run.log).iter().any(|(_, n)| n.starts_with(&format!("n{} recovered", f + 1)) && n.contains(&expected)), "expected {expected:?} in:\n{story}");
    let last = |n: usize| run.log.applied.iter().filter(|a| a.node == n).map(|a| a.index).max().unwrap();
    assert!(applied_after(&run.log, f, restarted_at).is_some(), "{story}");
    assert_eq!(last(f), (0..3).map(last).max().unwrap(), "the repaired node caught up:\n{story}");
    assert_linearizable(&run.history);
}

#[test]
fn a_lagging_follower_catches_up_by_snapshot_after_the_leader_compacted() {
    let out = run(&find("lagging-follower-snapshot").unwrap(), 1).unwrap();
    assert_all_pass(&out);
    let log = &out.log;
    let story = out.text();
    let isolated: usize = notes(log)
        .iter()
        .find_map(|(_, t)| t.strip_prefix("isolate n")?.parse().ok())
        .expect("a follower was isolated");
    let f = isolated - 1;
    let installed: Vec<u64> = notes(log)
        .iter()
        .filter(|(at, _)| *at >= secs(8.0))
        .filter_map(|(_, t)| t.strip_prefix(&format!("n{isolated} installed a snapshot from the leader at index "))?.split(' ').next()?.parse().ok())
        .collect();
    assert!(!installed.is_empty(), "n{isolated} was not caught up by snapshot:\n{story}");
    let others_saved = log.snapshots_saved.iter().filter(|(at, n, _)| *n != f && *at < secs(8.0)).count();
    assert!(others_saved >= 2, "the others compacted while it was away ({others_saved} snapshots)");
    // Before the cut it applied entries; after the heal it applied entries past the snapshot, up to
    // the same last index as everyone.
    let last = |n: usize| log.applied.iter().filter(|a| a.node == n).map(|a| a.index).max().unwrap();
    assert!(applied_after(log, f, secs(8.0)).unwrap() > installed[0], "{story}");
    assert_eq!(last(f), (0..3).map(last).max().unwrap(), "{story}");
}

#[test]
fn a_failed_fsync_stops_the_node_and_a_slow_disk_only_slows_it() {
    let out = run(&find("disk-faults").unwrap(), 1).unwrap();
    assert_all_pass(&out);
    let story = out.text();
    let log = &out.log;
    let stopped = notes(log)
        .into_iter()
        .find(|(_, t)| t.contains(" stopped: storage failed") && t.contains("injected fault"))
        .unwrap_or_else(|| panic!("no node stopped on the failed fsync:\n{story}"));
    let n = &stopped.1[..2];
    assert!(stopped.0 < secs(2.1), "it stopped at once: {stopped:?}");
    assert!(has_note(log, &format!("fsyncs of {n} work again; restart {n}")), "{story}");
    assert!(has_note(log, &format!("{n} recovered from its disk")), "{story}");
    assert!(notes(log).iter().any(|(_, t)| t.starts_with("disk of n") && t.ends_with("slow: 20ms per operation")), "{story}");
    assert!(notes(log).iter().any(|(_, t)| t.starts_with("disk of n") && t.ends_with("back to normal speed")), "{story}");
}

/// madsim's own checker, on a run with every disk verb: crash (both modes), a failed fsync, a
/// slow disk, a corrupted WAL, restarts.
#[test]
fn madsim_finds_no_nondeterminism_with_disk_faults() {
    madsim::runtime::Runtime::check_determinism(5, madsim::Config::default(), || async {
        let cluster = SimCluster::start(&Seeds::derive(5, 3).nodes, RaftTiming::default());
        let clients = workload::start(&writes_and_reads(), 5, 3, cluster.start_instant(), secs(5.0));
        sleep(secs(1.0)).await;
        cluster.slow_disk(0, Duration::from_millis(3));
        cluster.fail_fsync(1, 1);
        sleep(secs(1.0)).await;
        cluster.crash(2, CrashMode::Torn);
        cluster.restart_exited(1);
        sleep(secs(1.0)).await;
        cluster.restart(2);
        cluster.crash(0, CrashMode::LoseUnsynced);
        cluster.corrupt_wal(0);
        cluster.restart(0);
        clients.finish().await;
    });
}
