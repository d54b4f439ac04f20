//! Real-mode crash recovery: a 3-member cluster of the server under test on the demo ports, a
//! stream of `etcdctl put`s, and SIGKILLs of two members, then of all three, at random moments.
//! Each killed member is restarted from its data dir. Every put that etcdctl acknowledged (exit
//! 0) must be readable afterwards, and the cluster must serve again.
//!
//! The moments are drawn from a seed printed at the start; `DETCD_CRASH_SEED=<n>` replays one.
//! A small `--snapshot-count` makes members snapshot and compact during the test, so restarts
//! also load snapshots.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use detcd_e2e::*;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Kill rounds: two members in the first ones, all three in the last.
const ROUNDS: usize = 3;

/// SplitMix64: enough randomness for choosing moments, and reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// Puts `k{n}=v{n}` one at a time through every endpoint until stopped, recording what etcdctl
/// acknowledged.
fn writer(ctl: Etcdctl, stop: Arc<AtomicBool>, acked: Arc<Mutex<BTreeMap<String, String>>>, first: usize) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut n = first;
        while !stop.load(Ordering::Relaxed) {
            let (k, v) = (format!("k{n:06}"), format!("v{n:06}"));
            let out = ctl.run(&["--dial-timeout=1s", "--command-timeout=2s", "put", &k, &v], b"");
            if out.ok() {
                assert_eq!(out.stdout.trim(), "OK", "put {k}: {out:?}");
                acked.lock().unwrap().insert(k, v);
            }
            n += 1;
        }
        n
    })
}

/// Every key with prefix `k` and its value, read linearizably (retried while the cluster settles).
fn read_all(ctl: &Etcdctl) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ctl.run(&["--command-timeout=5s", "get", "k", "--prefix"], b"");
        if out.ok() {
            let lines: Vec<&str> = out.stdout.lines().collect();
            return lines.chunks(2).map(|kv| (kv[0].to_string(), kv.get(1).unwrap_or(&"").to_string())).collect();
        }
        assert!(Instant::now() < deadline, "the cluster does not serve reads: {out:?}");
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_acknowledged_put_survives_sigkill_of_two_members_or_all_three() {
    let _serial = serial();
    let seed = std::env::var("DETCD_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("crash moments from seed {seed} (replay with DETCD_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let bin = server_bin();
    let mut cluster = Cluster::start_with(&bin, &["--snapshot-count=40"]);
    cluster.wait_for_leader(STARTUP_TIMEOUT);
    let ctl = cluster.etcdctl();
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let mut next_key = 0;

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let w = writer(ctl.clone(), stop.clone(), acked.clone(), next_key);
        thread::sleep(rng.millis(800, 2500));
        let mut victims: Vec<usize> = vec![0, 1, 2];
        if round + 1 < ROUNDS {
            victims.remove((rng.next() % 3) as usize);
        }
        for &v in &victims {
            eprintln!("round {round}: SIGKILL {}", cluster.members[v].name);
            cluster.kill(v);
            thread::sleep(rng.millis(0, 400));
        }
        // Writes keep going (and failing, or not) while members are down.
        thread::sleep(rng.millis(100, 800));
        for &v in &victims {
            cluster.restart(v);
        }
        stop.store(true, Ordering::Relaxed);
        next_key = w.join().expect("writer");
        cluster.wait_for_leader(STARTUP_TIMEOUT);

        let acked_now = acked.lock().unwrap().clone();
        let found = read_all(&ctl);
        let missing: Vec<&String> = acked_now.iter().filter(|(k, v)| found.get(*k) != Some(v)).map(|(k, _)| k).collect();
        assert!(
            missing.is_empty(),
            "round {round} (seed {seed}): {} of {} acknowledged puts are missing or changed, first {:?}\n{}",
            missing.len(),
            acked_now.len(),
            &missing[..missing.len().min(5)],
            cluster.log_tails()
        );
        eprintln!("round {round}: all {} acknowledged puts present ({} keys)", acked_now.len(), found.len());
    }

    // detcd says how each restart recovered: with --snapshot-count=40, some from a snapshot.
    if bin.file_name().is_some_and(|n| n.to_string_lossy().starts_with("detcd")) {
        let logs: String = cluster.members.iter().map(|m| std::fs::read_to_string(&m.log).unwrap_or_default()).collect();
        let recoveries: Vec<&str> = logs.lines().filter(|l| l.contains("recovered the log")).collect();
        assert!(recoveries.len() >= 7, "every restart recovered its log: {recoveries:#?}");
        assert!(
            recoveries.iter().any(|l| !l.contains("snapshot_index=0 ")),
            "no restart loaded a snapshot: {recoveries:#?}"
        );
    }

    // The cluster serves writes and reads again, on every member.
    assert!(acked.lock().unwrap().len() > 10 * ROUNDS, "too few puts were acknowledged to prove anything");
    assert_eq!(ctl.run_ok(&["put", "after", "crashes"]).trim(), "OK");
    for m in &cluster.members {
        let one = Etcdctl::new(m.endpoint());
        assert_eq!(one.run_ok(&["get", "after", "--print-value-only"]).trim(), "crashes", "{}", m.name);
    }
}
