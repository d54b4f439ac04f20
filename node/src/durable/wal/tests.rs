use super::*;
use crate::durable::disk::{CrashMode, SimDisk};

pub(super) fn voters() -> ConfState {
    ConfState::from((vec![1, 2, 3], vec![]))
}

pub(super) fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
    Entry { index, term, data: data.to_vec().into(), ..Default::default() }
}

pub(super) fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState { term, vote, commit, ..Default::default() }
}

pub(super) fn meta(index: u64, term: u64) -> SnapshotMetadata {
    SnapshotMetadata { index, term, conf_state: Some(voters()).into(), ..Default::default() }
}

fn small() -> WalOptions {
    WalOptions { segment_bytes_max: 300, ..WalOptions::default() }
}

pub(super) fn open(disk: &SimDisk, opts: WalOptions) -> Result<(Wal, Recovered, OpenReport), WalError> {
    Wal::open(Arc::new(disk.clone()), opts, &voters())
}

/// Writes a whole file onto `disk`, synced and named durably.
pub(super) fn put_file(disk: &SimDisk, name: &str, bytes: &[u8]) {
    disk.create(name).unwrap();
    disk.append(name, bytes).unwrap();
    disk.sync(name).unwrap();
    disk.sync_dir().unwrap();
}

fn indexes(r: &Recovered) -> Vec<(u64, u64)> {
    r.entries.iter().map(|e| (e.index, e.term)).collect()
}

/// A WAL with entries 1..=n (term 1, data `e{i}`) and commit n, all synced.
pub(super) fn wal_with(disk: &SimDisk, opts: WalOptions, n: u64) -> Wal {
    let (mut wal, _, _) = open(disk, opts).unwrap();
    wal.set_hard_state(&hs(1, 1, 0)).unwrap();
    for i in 1..=n {
        wal.append(&[entry(i, 1, format!("e{i}").as_bytes())]).unwrap();
        wal.set_hard_state(&hs(1, 1, i)).unwrap();
        wal.sync().unwrap();
    }
    wal
}

#[test]
fn a_fresh_wal_starts_with_the_initial_configuration() {
    let disk = SimDisk::new(1);
    let (wal, rec, report) = open(&disk, WalOptions::default()).unwrap();
    assert!(report.created);
    assert_eq!(rec.snapshot, meta(0, 0));
    assert_eq!(rec.hard_state, HardState::default());
    assert!(rec.entries.is_empty());
    assert_eq!(wal.segments(), &[SegmentId { seq: 1, first_index: 1 }]);
    // The new WAL survives a crash right away: created, synced, directory synced.
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (_, rec2, report2) = open(&disk, WalOptions::default()).unwrap();
    assert!(!report2.created);
    assert_eq!(rec2, rec);
}

#[test]
fn entries_and_hard_state_round_trip_including_arbitrary_bytes() {
    let disk = SimDisk::new(2);
    let (mut wal, _, _) = open(&disk, WalOptions::default()).unwrap();
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut framed_lookalike = Vec::new();
    record::encode(Kind::SegmentHeader, &SegmentId { seq: 1, first_index: 1 }.header_payload(Identity::default()), &mut framed_lookalike);
    let entries = vec![entry(1, 1, b""), entry(2, 1, &all_bytes), entry(3, 2, &framed_lookalike), entry(4, 2, &[0; 1024])];
    wal.append(&entries).unwrap();
    wal.set_hard_state(&hs(2, 3, 4)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (wal, rec, report) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(report, OpenReport::default());
    assert_eq!(rec.entries, entries);
    assert_eq!(rec.hard_state, hs(2, 3, 4));
    assert_eq!(wal.last_index(), 4);
}

#[test]
fn unsynced_records_are_lost_in_a_crash_and_synced_ones_kept() {
    let disk = SimDisk::new(3);
    let mut wal = wal_with(&disk, WalOptions::default(), 3);
    wal.append(&[entry(4, 1, b"never synced")]).unwrap();
    wal.set_hard_state(&hs(2, 2, 3)).unwrap();
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (_, rec, _) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(indexes(&rec), vec![(1, 1), (2, 1), (3, 1)]);
    assert_eq!(rec.hard_state, hs(1, 1, 3));
}

#[test]
fn a_torn_tail_at_every_byte_of_the_last_record_is_cut_off() {
    let disk = SimDisk::new(4);
    drop(wal_with(&disk, WalOptions::default(), 3));
    let info = inspect(&disk).unwrap();
    let seg = &info[0];
    let bytes = disk.read(&seg.name).unwrap();
    let &(last_at, last_len, last_kind) = seg.records.last().unwrap();
    assert_eq!(last_kind, Kind::HardState as u8);
    for cut in last_at + 1..last_at + last_len {
        let torn = SimDisk::new(cut);
        put_file(&torn, &seg.name, &bytes[..cut as usize]);
        let (mut wal, rec, report) = open(&torn, WalOptions::default()).unwrap();
        let tail = report.torn_tail.unwrap_or_else(|| panic!("cut at {cut}: no tear reported"));
        assert_eq!((tail.file.as_str(), tail.offset, tail.bytes_cut), (seg.name.as_str(), last_at, cut - last_at), "cut at {cut}");
        assert_eq!(indexes(&rec), vec![(1, 1), (2, 1), (3, 1)], "cut at {cut}");
        assert_eq!(rec.hard_state, hs(1, 1, 2), "the torn HardState is gone, cut at {cut}");
        // Repaired for good: the WAL goes on, and the next open finds nothing to repair.
        wal.append(&[entry(4, 1, b"after repair")]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        torn.crash(CrashMode::LoseUnsynced);
        let (_, rec, report) = open(&torn, WalOptions::default()).unwrap();
        assert_eq!(report.torn_tail, None, "cut at {cut}");
        assert_eq!(rec.entries.len(), 4, "cut at {cut}");
    }
}

#[test]
fn zeros_after_the_last_record_are_cut_off() {
    let disk = SimDisk::new(5);
    drop(wal_with(&disk, WalOptions::default(), 2));
    let name = SegmentId { seq: 1, first_index: 1 }.file_name();
    let len = disk.read(&name).unwrap().len() as u64;
    disk.append(&name, &[0; 4096]).unwrap();
    disk.sync(&name).unwrap();
    let (_, rec, report) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(report.torn_tail.map(|t| (t.offset, t.bytes_cut, t.why)), Some((len, 4096, "zero-filled tail")));
    assert_eq!(rec.entries.len(), 2);
}

#[test]
fn a_bad_checksum_in_the_middle_refuses_to_start_naming_file_and_offset() {
    let disk = SimDisk::new(6);
    drop(wal_with(&disk, WalOptions::default(), 5));
    let seg = &inspect(&disk).unwrap()[0];
    let (at, len, _) = seg.records[5];
    for byte in [at, at + 4, at + 9, at + len - 1] {
        disk.clear_read_faults();
        disk.corrupt_read(&seg.name, byte, 0x40);
        let err = open(&disk, WalOptions::default()).unwrap_err();
        match &err {
            WalError::Corrupt { file, offset, .. } => assert_eq!((file, *offset), (&seg.name, at), "byte {byte}"),
            other => panic!("byte {byte}: {other}"),
        }
        let text = err.to_string();
        assert!(text.contains(&seg.name) && text.contains(&format!("offset {at}")), "{text}");
    }
}

#[test]
fn a_complete_last_record_with_a_bad_checksum_is_corruption_not_a_tear() {
    let disk = SimDisk::new(7);
    drop(wal_with(&disk, WalOptions::default(), 2));
    let seg = &inspect(&disk).unwrap()[0];
    let (at, len, _) = *seg.records.last().unwrap();
    disk.corrupt_read(&seg.name, at + len - 1, 0x01);
    assert!(matches!(open(&disk, WalOptions::default()), Err(WalError::Corrupt { offset, .. }) if offset == at));
}

#[test]
fn segments_close_at_the_size_limit_and_replay_spans_them() {
    let disk = SimDisk::new(8);
    drop(wal_with(&disk, small(), 20));
    let info = inspect(&disk).unwrap();
    assert!(info.len() > 3, "{info:?}");
    for (n, seg) in info.iter().enumerate() {
        assert_eq!(SegmentId::parse(&seg.name).unwrap().seq, n as u64 + 1);
        assert_eq!(seg.damage, None);
        let kinds: Vec<u8> = seg.records.iter().take(3).map(|r| r.2).collect();
        assert_eq!(kinds, vec![Kind::SegmentHeader as u8, Kind::Snapshot as u8, Kind::HardState as u8], "preamble of {}", seg.name);
    }
    disk.crash(CrashMode::LoseUnsynced);
    let (wal, rec, _) = open(&disk, small()).unwrap();
    assert_eq!(rec.entries.len(), 20);
    assert_eq!(rec.hard_state, hs(1, 1, 20));
    assert_eq!(wal.segments().len(), info.len());
}

#[test]
fn a_snapshot_marker_releases_covered_segments_and_replay_starts_after_it() {
    let disk = SimDisk::new(9);
    let mut wal = wal_with(&disk, small(), 20);
    let before = wal.segments().len();
    wal.mark_snapshot(&meta(15, 1)).unwrap();
    wal.sync().unwrap();
    let after = wal.segments().to_vec();
    assert!(after.len() < before, "{before} -> {after:?}");
    // Every remaining segment but the oldest starts past the snapshot; the oldest is still needed.
    assert!(after[1..].iter().all(|s| s.first_index > 15) || after.len() == 1);
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (_, rec, report) = open(&disk, small()).unwrap();
    assert_eq!(report.removed, Vec::<String>::new());
    assert_eq!(rec.snapshot, meta(15, 1));
    assert_eq!(indexes(&rec), (16..=20).map(|i| (i, 1)).collect::<Vec<_>>());
    assert_eq!(rec.hard_state.commit, 20);
}

#[test]
fn an_unsynced_snapshot_marker_releases_nothing() {
    let disk = SimDisk::new(10);
    let mut wal = wal_with(&disk, small(), 20);
    let before = wal.segments().to_vec();
    wal.mark_snapshot(&meta(15, 1)).unwrap();
    assert_eq!(wal.segments(), &before[..]);
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (_, rec, _) = open(&disk, small()).unwrap();
    assert_eq!(rec.snapshot.index, 0);
    assert_eq!(rec.entries.len(), 20);
}

#[test]
fn a_snapshot_install_replaces_the_whole_log() {
    let disk = SimDisk::new(11);
    let mut wal = wal_with(&disk, WalOptions::default(), 5);
    wal.mark_snapshot_install(&meta(100, 3)).unwrap();
    wal.append(&[entry(101, 3, b"x")]).unwrap();
    wal.set_hard_state(&hs(3, 0, 100)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (wal, rec, _) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(rec.snapshot, meta(100, 3));
    assert_eq!(indexes(&rec), vec![(101, 3)]);
    assert_eq!(wal.last_index(), 101);
}

#[test]
fn an_overwritten_suffix_replays_as_overwritten() {
    let disk = SimDisk::new(12);
    let mut wal = wal_with(&disk, small(), 6);
    wal.append(&[entry(4, 2, b"new 4"), entry(5, 2, b"new 5")]).unwrap();
    wal.sync().unwrap();
    // Rotate past the overwrite, then overwrite again below the new segment's first index.
    for i in 6..=12 {
        wal.append(&[entry(i, 2, b"filler")]).unwrap();
        wal.sync().unwrap();
    }
    wal.append(&[entry(8, 3, b"newer 8")]).unwrap();
    wal.sync().unwrap();
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (_, rec, _) = open(&disk, small()).unwrap();
    let expect: Vec<(u64, u64)> = vec![(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2), (7, 2), (8, 3)];
    assert_eq!(indexes(&rec), expect);
    assert_eq!(rec.entries[7].data.as_ref(), b"newer 8");
}

#[test]
fn a_segment_whose_creation_a_crash_interrupted_is_dropped() {
    let disk = SimDisk::new(13);
    drop(wal_with(&disk, WalOptions::default(), 3));
    // What a rotation leaves when the crash comes after the directory entry reached the disk but
    // before the preamble did: a name, and a few bytes of the header.
    let unborn = SegmentId { seq: 2, first_index: 4 };
    let mut preamble = Vec::new();
    record::encode(Kind::SegmentHeader, &unborn.header_payload(Identity::default()), &mut preamble);
    for keep in [0, 5, preamble.len()] {
        put_file(&disk, &unborn.file_name(), &preamble[..keep]);
        let (mut wal, rec, report) = open(&disk, WalOptions::default()).unwrap();
        assert_eq!(report.removed, vec![unborn.file_name()], "keep {keep}");
        assert_eq!(rec.entries.len(), 3);
        assert_eq!(wal.segments().len(), 1);
        wal.sync().unwrap();
    }
}

#[test]
fn a_torn_record_in_a_closed_segment_is_corruption() {
    let disk = SimDisk::new(14);
    drop(wal_with(&disk, small(), 10));
    let first = &inspect(&disk).unwrap()[0];
    let len = disk.read(&first.name).unwrap().len() as u64;
    disk.truncate(&first.name, len - 3).unwrap();
    let err = open(&disk, small()).unwrap_err();
    assert!(matches!(&err, WalError::Corrupt { file, why, .. } if *file == first.name && why.contains("closed segment")), "{err}");
}

#[test]
fn a_missing_middle_segment_refuses_to_start() {
    let disk = SimDisk::new(15);
    drop(wal_with(&disk, small(), 20));
    let info = inspect(&disk).unwrap();
    // Losing segment 2 makes 1 a leftover: replay starts at 3, whose entries do not reach back to
    // the (index 0) snapshot.
    disk.remove(&info[1].name).unwrap();
    let err = open(&disk, small()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn leftovers_of_an_interrupted_release_are_removed() {
    let disk = SimDisk::new(16);
    let mut wal = wal_with(&disk, small(), 20);
    let all = wal.segments().to_vec();
    wal.mark_snapshot(&meta(18, 1)).unwrap();
    wal.sync().unwrap();
    let kept = wal.segments().to_vec();
    drop(wal);
    // Put the oldest released segment back, as if only its later siblings' removal had reached
    // the disk: seqs now have a gap after it.
    let released = all.len() - kept.len();
    assert!(released >= 2, "{all:?} -> {kept:?}");
    let fresh = SimDisk::new(17);
    for name in std::iter::once(all[0]).chain(kept.iter().copied()).map(|s| s.file_name()) {
        let bytes = if name == all[0].file_name() { b"left over".to_vec() } else { disk.read(&name).unwrap() };
        put_file(&fresh, &name, &bytes);
    }
    let (wal, rec, report) = open(&fresh, small()).unwrap();
    assert_eq!(report.removed, vec![all[0].file_name()]);
    assert_eq!(rec.snapshot.index, 18);
    assert_eq!(wal.segments(), &kept[..]);
}

#[test]
fn a_commit_only_hard_state_is_written_without_an_fsync() {
    let disk = SimDisk::new(18);
    let mut wal = wal_with(&disk, WalOptions::default(), 2);
    let syncs = disk.stats().syncs;
    wal.set_hard_state(&hs(1, 1, 1)).unwrap_or_else(|e| panic!("{e}"));
    wal.sync().unwrap();
    assert_eq!(disk.stats().syncs, syncs, "commit alone costs no fsync");
    assert!(disk.unsynced_bytes() > 0, "but it is written");
    wal.set_hard_state(&hs(2, 0, 2)).unwrap();
    wal.sync().unwrap();
    assert_eq!(disk.stats().syncs, syncs + 1, "a new term must be durable");
    assert_eq!(disk.unsynced_bytes(), 0);
}

#[test]
fn one_sync_covers_a_whole_batch() {
    let disk = SimDisk::new(19);
    let (mut wal, _, _) = open(&disk, WalOptions::default()).unwrap();
    let syncs = disk.stats().syncs;
    for i in 1..=100 {
        wal.append(&[entry(i, 1, b"proposal")]).unwrap();
    }
    wal.set_hard_state(&hs(1, 1, 0)).unwrap();
    wal.sync().unwrap();
    assert_eq!(disk.stats().syncs, syncs + 1);
}

#[test]
fn a_failed_fsync_stops_the_wal_for_good() {
    let disk = SimDisk::new(20);
    let mut wal = wal_with(&disk, WalOptions::default(), 1);
    disk.fail_syncs(1);
    wal.append(&[entry(2, 1, b"x")]).unwrap();
    assert!(matches!(wal.sync(), Err(WalError::Disk(_))));
    assert!(matches!(wal.sync(), Err(WalError::Failed(_))));
    assert!(matches!(wal.append(&[entry(3, 1, b"y")]), Err(WalError::Failed(_))));
    drop(wal);
    disk.crash(CrashMode::LoseUnsynced);
    let (_, rec, _) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(rec.entries.len(), 1);
}

#[test]
fn an_entry_too_large_for_a_record_is_refused_before_anything_is_buffered() {
    let disk = SimDisk::new(21);
    let (mut wal, _, _) = open(&disk, WalOptions::default()).unwrap();
    let big = vec![0u8; BODY_BYTES_MAX];
    let err = wal.append(&[entry(1, 1, b"ok"), entry(2, 1, &big)]).unwrap_err();
    assert!(matches!(err, WalError::RecordTooLarge { .. }));
    assert_eq!(wal.last_index(), 0);
    wal.append(&[entry(1, 1, b"ok")]).unwrap();
    wal.sync().unwrap();
}

#[test]
fn the_wal_survives_torn_crashes_at_random_moments() {
    for seed in 0..40 {
        let disk = SimDisk::new(seed);
        let opts = WalOptions { segment_bytes_max: 2000, ..WalOptions::default() };
        let (mut wal, _, _) = open(&disk, opts.clone()).unwrap();
        let mut synced = 0;
        let mut index = 0;
        for round in 0..(seed % 7 + 3) {
            let n = round % 4 + 1;
            let batch: Vec<Entry> = (1..=n).map(|k| entry(index + k, 1, &vec![round as u8; 300])).collect();
            wal.append(&batch).unwrap();
            index += n;
            if round % 3 != 2 {
                wal.sync().unwrap();
                synced = index;
            }
        }
        drop(wal);
        disk.crash(CrashMode::Torn);
        let (_, rec, _) = open(&disk, opts.clone()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let got = rec.entries.len() as u64;
        assert!(got >= synced && got <= index, "seed {seed}: {got} entries, {synced} synced, {index} written");
        for (k, e) in rec.entries.iter().enumerate() {
            assert_eq!(e.index, k as u64 + 1, "seed {seed}");
        }
    }
}

#[test]
fn worked_example_offsets_hold() {
    let disk = SimDisk::new(22);
    let (mut wal, _, _) = open(&disk, WalOptions { segment_bytes_max: 130, ..WalOptions::default() }).unwrap();
    wal.append(&[entry(1, 2, b"")]).unwrap();
    wal.set_hard_state(&hs(2, 1, 0)).unwrap();
    wal.sync().unwrap();
    wal.append(&[entry(2, 2, b"put")]).unwrap();
    wal.set_hard_state(&hs(2, 1, 1)).unwrap();
    wal.sync().unwrap();
    let info = inspect(&disk).unwrap();
    let names: Vec<&str> = info.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["0000000000000001-0000000000000001.wal", "0000000000000002-0000000000000003.wal"]);
    let offsets: Vec<(u64, u64)> = info[0].records.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(offsets, vec![(0, 57), (57, 21), (78, 13), (91, 17), (108, 17), (125, 22), (147, 19)]);
    let second: Vec<u64> = info[1].records.iter().map(|r| r.0).collect();
    assert_eq!(second, vec![0, 57, 78]);
}

#[test]
fn a_wal_written_by_another_member_or_cluster_is_refused() {
    let disk = SimDisk::new(5);
    let mine = Identity { member: 0xa, cluster: 0xc };
    let (mut wal, _, _) = open(&disk, WalOptions { owner: mine, ..small() }).unwrap();
    wal.append(&[entry(1, 1, b"x")]).unwrap();
    wal.sync().unwrap();
    for stranger in [Identity { member: 0xb, cluster: 0xc }, Identity { member: 0xa, cluster: 0xd }] {
        let err = open(&disk, WalOptions { owner: stranger, ..small() }).map(|_| ()).unwrap_err();
        assert!(matches!(err, WalError::NotOurs { found, .. } if found == mine), "{err}");
        assert!(err.to_string().contains("another member's data directory"), "{err}");
    }
    // The owner itself, and an opener that does not check, read it.
    assert_eq!(open(&disk, WalOptions { owner: mine, ..small() }).unwrap().1.entries.len(), 1);
    assert_eq!(open(&disk, small()).unwrap().1.entries.len(), 1);
}
