use super::*;
use crate::durable::disk::{CrashMode, SimDisk};
use crate::durable::disk::sim::SimLatency;
use raft::{RawNode, StateRole};

fn opts() -> WalLogOptions {
    WalLogOptions { wal: WalOptions { segment_bytes_max: 400, ..WalOptions::default() }, catch_up_entries: 3, snapshot_count: 10 }
}

fn open(disk: &SimDisk) -> Opened {
    open_on(Arc::new(disk.clone()))
}

fn open_on(disk: Arc<dyn Disk>) -> Opened {
    WalLog::open(disk, opts(), &[1]).unwrap_or_else(|e| panic!("open: {e}"))
}

/// A one-member Raft group over a `WalLog`, driven as `driver.rs` drives it.
struct Member {
    raw: RawNode<WalLog>,
    /// Data of every normal entry applied, in order.
    applied: Vec<Vec<u8>>,
}

impl Member {
    fn start(disk: &SimDisk) -> (Member, Opened2) {
        Member::start_on(Arc::new(disk.clone()))
    }

    fn start_on(disk: Arc<dyn Disk>) -> (Member, Opened2) {
        let opened = open_on(disk);
        let restored = opened.snapshot.clone();
        let applied_index = restored.as_ref().map_or(0, |s| s.get_metadata().index);
        let cfg = raft::Config { id: 1, election_tick: 10, heartbeat_tick: 1, applied: applied_index, ..Default::default() };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&cfg, opened.log, &logger).unwrap();
        (Member { raw, applied: vec![] }, Opened2 { snapshot: restored, report: opened.report })
    }

    /// A started, elected member that has applied puts 1..=n.
    fn running(disk: &SimDisk, n: u32) -> Member {
        let (mut m, _) = Member::start(disk);
        m.elect();
        for p in puts(1..=n) {
            m.put(&p);
        }
        m
    }

    fn elect(&mut self) {
        self.raw.campaign().unwrap();
        self.ready();
        assert_eq!(self.raw.raft.state, StateRole::Leader);
    }

    fn put(&mut self, data: &[u8]) {
        self.raw.propose(vec![], data.to_vec()).unwrap();
        self.ready();
    }

    /// persist -> (send) -> apply -> advance, as the driver does.
    fn ready(&mut self) {
        while self.raw.has_ready() {
            let mut rd = self.raw.ready();
            let store = self.raw.mut_store();
            if !rd.snapshot().is_empty() {
                store.apply_snapshot(rd.snapshot().clone()).unwrap();
            }
            store.append(rd.entries()).unwrap();
            if let Some(hs) = rd.hs() {
                store.set_hard_state(hs.clone()).unwrap();
            }
            store.persist().unwrap();
            self.apply(rd.take_committed_entries());
            let mut light = self.raw.advance(rd);
            if let Some(commit) = light.commit_index() {
                self.raw.mut_store().set_commit(commit).unwrap();
            }
            self.apply(light.take_committed_entries());
            self.raw.advance_apply();
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        self.applied.extend(entries.into_iter().filter(|e| !e.data.is_empty()).map(|e| e.data.to_vec()));
    }

    fn store(&mut self) -> &mut WalLog {
        self.raw.mut_store()
    }
}

struct Opened2 {
    snapshot: Option<Snapshot>,
    report: OpenReport,
}

fn puts(range: std::ops::RangeInclusive<u32>) -> Vec<Vec<u8>> {
    range.map(|i| format!("put {i}").into_bytes()).collect()
}

#[test]
fn a_fresh_log_holds_the_initial_configuration() {
    let disk = SimDisk::new(1);
    let opened = open(&disk);
    assert!(opened.report.created);
    assert!(opened.snapshot.is_none());
    let log = opened.log;
    let state = log.initial_state().unwrap();
    assert_eq!(state.conf_state.voters, vec![1]);
    assert_eq!((log.first_index().unwrap(), log.last_index().unwrap(), log.term(0).unwrap()), (1, 0, 0));
    assert!(matches!(log.snapshot(0, 2), Err(raft::Error::Store(raft::StorageError::SnapshotTemporarilyUnavailable))));
}

#[test]
fn a_member_recovers_its_term_and_every_acknowledged_put_after_a_crash() {
    let disk = SimDisk::new(2);
    let m = Member::running(&disk, 10);
    assert_eq!(m.applied, puts(1..=10));
    let term = m.raw.raft.term;
    drop(m);
    disk.crash(CrashMode::LoseUnsynced);

    let (mut m, opened) = Member::start(&disk);
    assert_eq!(opened.report.torn_tail, None);
    assert_eq!(m.raw.raft.term, term, "the term survives");
    assert_eq!(m.raw.raft.vote, 1, "and the vote");
    assert_eq!(m.raw.raft.raft_log.last_index(), 11, "the leader's empty entry and ten puts");
    m.elect();
    m.put(b"after restart");
    // Everything applied before the crash is applied again (the state machine lives in memory),
    // then the new put.
    let mut expected = puts(1..=10);
    expected.push(b"after restart".to_vec());
    assert_eq!(m.applied, expected);
}

#[test]
fn unpersisted_entries_are_lost_and_nothing_else() {
    let disk = SimDisk::new(3);
    let mut m = Member::running(&disk, 0);
    m.put(b"durable");
    // Written to the WAL buffer but never persisted: a crash before the fsync.
    m.raw.propose(vec![], b"lost".to_vec()).unwrap();
    let mut rd = m.raw.ready();
    m.store().append(rd.entries()).unwrap();
    let _ = rd.take_messages();
    drop(m);
    disk.crash(CrashMode::LoseUnsynced);
    let m = Member::running(&disk, 0);
    assert_eq!(m.applied, vec![b"durable".to_vec()]);
}

#[test]
fn a_snapshot_compacts_the_log_and_a_restart_resumes_from_it() {
    let disk = SimDisk::new(4);
    let mut m = Member::running(&disk, 20);
    let applied = m.raw.raft.raft_log.applied;
    let segments_before = m.store().wal().segments().len();
    m.store().save_snapshot(applied, b"state at 21".to_vec()).unwrap();
    assert_eq!(m.store().snapshot_index(), 21);
    assert_eq!(m.store().first_index().unwrap(), 21 - 3 + 1, "catch-up entries stay in memory");
    assert!(m.store().wal().segments().len() < segments_before, "covered segments are released: {:?}", m.store().wal());
    for p in puts(21..=25) {
        m.put(&p);
    }
    drop(m);
    disk.crash(CrashMode::LoseUnsynced);

    let (mut m, opened) = Member::start(&disk);
    let snap = opened.snapshot.expect("a snapshot to restore");
    assert_eq!((snap.get_metadata().index, snap.data.as_ref()), (21, &b"state at 21"[..]));
    assert_eq!(m.store().first_index().unwrap(), 22);
    m.elect();
    assert_eq!(m.applied, puts(21..=25), "only entries after the snapshot are applied again");
    let files = disk.list().unwrap();
    assert_eq!(files.iter().filter(|f| f.ends_with(".snap")).count(), 1, "{files:?}");
}

#[test]
fn the_newest_snapshot_is_what_a_lagging_follower_gets_and_it_installs_durably() {
    let leader_disk = SimDisk::new(5);
    let mut leader = Member::running(&leader_disk, 10);
    leader.store().save_snapshot(11, b"leader state".to_vec()).unwrap();
    let snap = leader.store().snapshot(0, 2).unwrap();
    assert_eq!(snap.get_metadata().index, 11);
    assert!(matches!(leader.store().snapshot(12, 2), Err(raft::Error::Store(raft::StorageError::SnapshotTemporarilyUnavailable))));

    let follower_disk = SimDisk::new(6);
    let mut follower = open(&follower_disk).log;
    follower.append(&[entry(1, 1, b"stale")]).unwrap();
    follower.apply_snapshot(snap.clone()).unwrap();
    follower.persist().unwrap();
    assert_eq!((follower.first_index().unwrap(), follower.last_index().unwrap(), follower.term(11).unwrap()), (12, 11, snap.get_metadata().term));
    drop(follower);
    follower_disk.crash(CrashMode::LoseUnsynced);
    let opened = open(&follower_disk);
    assert_eq!(opened.snapshot.as_ref(), Some(&snap));
    assert_eq!(opened.log.last_index().unwrap(), 11);
    assert_eq!(opened.log.initial_state().unwrap().hard_state.commit, 11);
}

#[test]
fn a_snapshot_saved_but_not_yet_marked_is_ignored_and_removed() {
    let disk = SimDisk::new(7);
    let m = Member::running(&disk, 5);
    // The crash came between saving the file and syncing the WAL marker.
    let mut snap = Snapshot::default();
    snap.mut_metadata().index = 6;
    snap.mut_metadata().term = m.raw.raft.term;
    crate::durable::snapshot::SnapshotStore::new(Arc::new(disk.clone())).save(&snap).unwrap();
    drop(m);
    disk.crash(CrashMode::LoseUnsynced);
    let (mut m, opened) = Member::start(&disk);
    assert!(opened.snapshot.is_none());
    assert!(!disk.list().unwrap().iter().any(|f| f.ends_with(".snap")));
    m.elect();
    assert_eq!(m.applied, puts(1..=5));
}

#[test]
fn a_missing_snapshot_file_refuses_to_start() {
    let disk = SimDisk::new(8);
    let mut m = Member::running(&disk, 0);
    m.put(b"x");
    m.store().save_snapshot(2, b"s".to_vec()).unwrap();
    drop(m);
    disk.remove(&crate::durable::snapshot::file_name(2, 1)).unwrap();
    let err = WalLog::open(Arc::new(disk.clone()), opts(), &[1]).unwrap_err();
    assert!(matches!(err, StorageError::Snapshot(SnapshotError::Missing { index: 2, .. })), "{err}");
}

#[test]
fn torn_crashes_never_lose_a_persisted_put() {
    for seed in 0..30 {
        let disk = SimDisk::new(seed);
        let n = 5 + seed as u32 % 7;
        let mut m = Member::running(&disk, n);
        if seed % 3 == 0 {
            let applied = m.raw.raft.raft_log.applied;
            m.store().save_snapshot(applied, format!("snap {seed}").into_bytes()).unwrap();
        }
        drop(m);
        disk.crash(CrashMode::Torn);
        let (mut m, opened) = Member::start(&disk);
        m.elect();
        let restored = usize::from(opened.snapshot.is_some()) * n as usize;
        assert_eq!(m.applied, puts(restored as u32 + 1..=n), "seed {seed}");
    }
}

#[test]
fn a_failed_fsync_fails_persist_and_every_later_write() {
    let disk = SimDisk::new(9);
    let mut m = Member::running(&disk, 0);
    disk.fail_syncs(1);
    m.raw.propose(vec![], b"x".to_vec()).unwrap();
    let rd = m.raw.ready();
    m.store().append(rd.entries()).unwrap();
    assert!(matches!(m.store().persist(), Err(StorageError::Wal(_))));
    assert!(m.store().append(&[entry(3, 2, b"y")]).is_err());
}

#[test]
fn simulated_disk_latency_is_handed_to_the_driver() {
    let disk = SimDisk::new(10);
    let (mut m, _) = Member::start(&disk);
    disk.set_latency(SimLatency { op: Duration::ZERO, sync: Duration::from_millis(5) });
    m.elect();
    assert!(m.store().take_io_delay() >= Duration::from_millis(5));
    assert_eq!(m.store().take_io_delay(), Duration::ZERO);
}

#[test]
fn a_member_restarts_from_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    let real = || -> Arc<dyn Disk> { Arc::new(crate::durable::disk::RealDisk::open(dir.path().join("member")).unwrap()) };
    let (mut m, _) = Member::start_on(real());
    m.elect();
    for p in puts(1..=30) {
        m.put(&p);
    }
    m.store().save_snapshot(20, b"state at 20".to_vec()).unwrap();
    for p in puts(31..=40) {
        m.put(&p);
    }
    drop(m);
    let (mut m, opened) = Member::start_on(real());
    assert_eq!(opened.snapshot.map(|s| s.data.to_vec()), Some(b"state at 20".to_vec()));
    m.elect();
    assert_eq!(m.applied, puts(20..=40), "entry 20 is put 19: the leader's empty entry came first");
}

fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
    Entry { index, term, data: data.to_vec().into(), ..Default::default() }
}
