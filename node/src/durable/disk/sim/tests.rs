use super::*;

/// A disk holding `name` with `synced` bytes synced (name included) and `unsynced` more appended.
fn disk_with(name: &str, synced: &[u8], unsynced: &[u8], seed: u64) -> SimDisk {
    let disk = SimDisk::new(seed);
    disk.create(name).unwrap();
    disk.append(name, synced).unwrap();
    disk.sync(name).unwrap();
    disk.sync_dir().unwrap();
    disk.append(name, unsynced).unwrap();
    disk
}

#[test]
fn crash_loses_unsynced_appends_and_keeps_synced_ones() {
    let disk = disk_with("wal", b"durable", b" and not", 1);
    assert_eq!(disk.read("wal").unwrap(), b"durable and not");
    assert_eq!(disk.unsynced_bytes(), 8);
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("wal").unwrap(), b"durable");
    assert_eq!(disk.stats().bytes_lost, 8);
    assert_eq!(disk.unsynced_bytes(), 0);
}

#[test]
fn synced_file_whose_directory_was_not_synced_is_lost() {
    let disk = SimDisk::new(2);
    disk.create("seg").unwrap();
    disk.append("seg", b"data").unwrap();
    disk.sync("seg").unwrap();
    assert_eq!(disk.durable_len("seg"), None);
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.list().unwrap(), Vec::<String>::new());
    assert!(matches!(disk.read("seg"), Err(DiskError::NotFound { .. })));
}

#[test]
fn directory_sync_makes_a_created_file_survive_with_its_synced_contents() {
    let disk = SimDisk::new(3);
    disk.create("seg").unwrap();
    disk.sync_dir().unwrap();
    disk.append("seg", b"data").unwrap();
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("seg").unwrap(), b"", "name survived, unsynced contents did not");
}

#[test]
fn removal_without_directory_sync_is_undone_by_a_crash() {
    let disk = disk_with("old", b"kept", b"", 4);
    disk.remove("old").unwrap();
    assert_eq!(disk.list().unwrap(), Vec::<String>::new());
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("old").unwrap(), b"kept");
    disk.remove("old").unwrap();
    disk.sync_dir().unwrap();
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.list().unwrap(), Vec::<String>::new());
}

#[test]
fn rename_is_durable_only_after_directory_sync_and_replaces_atomically() {
    let disk = disk_with("snap", b"old", b"", 5);
    disk.create("snap.tmp").unwrap();
    disk.append("snap.tmp", b"new").unwrap();
    disk.sync("snap.tmp").unwrap();
    disk.rename("snap.tmp", "snap").unwrap();
    assert_eq!(disk.list().unwrap(), vec!["snap".to_string()]);
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("snap").unwrap(), b"old", "unsynced rename undone");
    assert_eq!(disk.list().unwrap(), vec!["snap".to_string()]);

    disk.create("snap.tmp").unwrap();
    disk.append("snap.tmp", b"new").unwrap();
    disk.sync("snap.tmp").unwrap();
    disk.rename("snap.tmp", "snap").unwrap();
    disk.sync_dir().unwrap();
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("snap").unwrap(), b"new");
    assert_eq!(disk.list().unwrap(), vec!["snap".to_string()]);
}

#[test]
fn torn_crash_keeps_a_prefix_ending_at_a_sector_boundary() {
    let synced = vec![1u8; 700];
    let unsynced = vec![2u8; 2000];
    let mut seen = BTreeSet::new();
    for seed in 0..200 {
        let disk = disk_with("wal", &synced, &unsynced, seed);
        disk.crash(CrashMode::Torn);
        let data = disk.read("wal").unwrap();
        let len = data.len();
        assert!(len == 700 || len == 2700 || (len > 700 && len % SECTOR_BYTES == 0), "seed {seed}: kept {len} bytes");
        assert_eq!(data[..700], synced[..], "synced bytes are never touched");
        assert!(data[700..].iter().all(|b| *b == 2));
        // What survived a crash is durable: a second crash keeps it.
        disk.crash(CrashMode::LoseUnsynced);
        assert_eq!(disk.read("wal").unwrap().len(), len);
        seen.insert(len);
    }
    // Boundaries 1024, 1536, 2048, 2560 plus both ends: every outcome shows up.
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![700, 1024, 1536, 2048, 2560, 2700]);
}

#[test]
fn torn_crash_reverts_a_file_changed_other_than_by_appending() {
    for seed in 0..20 {
        let disk = disk_with("wal", b"abcdef", b"", seed);
        disk.truncate("wal", 3).unwrap();
        disk.append("wal", b"XYZW").unwrap();
        disk.crash(CrashMode::Torn);
        assert_eq!(disk.read("wal").unwrap(), b"abcdef", "seed {seed}");
    }
}

#[test]
fn torn_crash_keeps_a_prefix_of_directory_operations() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..100 {
        let disk = SimDisk::new(seed);
        for name in ["a", "b", "c"] {
            disk.create(name).unwrap();
        }
        disk.crash(CrashMode::Torn);
        let names = disk.list().unwrap().join("");
        assert!(["", "a", "ab", "abc"].contains(&names.as_str()), "seed {seed}: {names}");
        outcomes.insert(names);
    }
    assert_eq!(outcomes.len(), 4);
}

#[test]
fn same_seed_same_crash() {
    let run = |seed| {
        let disk = disk_with("wal", &[0; 100], &[1; 5000], seed);
        disk.create("x").unwrap();
        disk.crash(CrashMode::Torn);
        (disk.read("wal").unwrap().len(), disk.list().unwrap())
    };
    for seed in 0..20 {
        assert_eq!(run(seed), run(seed));
    }
}

#[test]
fn failed_sync_leaves_the_data_unsynced() {
    let disk = disk_with("wal", b"a", b"b", 6);
    disk.fail_syncs(2);
    assert!(matches!(disk.sync("wal"), Err(DiskError::Injected { op: "sync", .. })));
    disk.create("new").unwrap();
    assert!(matches!(disk.sync_dir(), Err(DiskError::Injected { op: "sync_dir", .. })));
    assert_eq!(disk.stats().syncs_failed, 2);
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("wal").unwrap(), b"a");
    assert_eq!(disk.list().unwrap(), vec!["wal".to_string()]);
    // The fault is used up: syncs work again.
    disk.append("wal", b"c").unwrap();
    disk.sync("wal").unwrap();
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("wal").unwrap(), b"ac");
}

#[test]
fn corrupt_read_flips_bits_in_what_is_read_until_cleared() {
    let disk = disk_with("seg", b"hello", b"", 7);
    disk.corrupt_read("seg", 1, 0x01);
    disk.corrupt_read("seg", 99, 0xff); // beyond the end: no effect
    assert_eq!(disk.read("seg").unwrap(), b"hdllo");
    disk.crash(CrashMode::LoseUnsynced);
    assert_eq!(disk.read("seg").unwrap(), b"hdllo", "a bad sector stays bad across a crash");
    disk.clear_read_faults();
    assert_eq!(disk.read("seg").unwrap(), b"hello");
}

#[test]
fn latency_is_owed_per_operation_and_taken_once() {
    let disk = SimDisk::new(8);
    disk.set_latency(SimLatency { op: Duration::from_micros(10), sync: Duration::from_millis(2) });
    disk.create("f").unwrap();
    disk.append("f", b"x").unwrap();
    disk.sync("f").unwrap();
    disk.sync_dir().unwrap();
    assert_eq!(disk.take_latency(), Duration::from_micros(40) + Duration::from_millis(4));
    assert_eq!(disk.take_latency(), Duration::ZERO);
}

#[test]
fn removed_files_are_freed_once_the_directory_is_synced() {
    let disk = disk_with("a", &[0; 10], b"", 9);
    disk.remove("a").unwrap();
    disk.sync_dir().unwrap();
    assert!(disk.lock().inodes.is_empty());
}
