//! What both disks must do alike, short of crashing (crash semantics are `SimDisk`'s own tests).

use super::{Disk, DiskError, RealDisk, SimDisk};

fn each_disk(test: impl Fn(&dyn Disk)) {
    let tmp = tempfile::tempdir().unwrap();
    test(&RealDisk::open(tmp.path()).unwrap());
    test(&SimDisk::new(0));
}

#[test]
fn files_are_created_appended_read_and_listed_sorted() {
    each_disk(|d| {
        d.create("b").unwrap();
        d.create("a").unwrap();
        d.append("a", b"12").unwrap();
        d.append("a", b"34").unwrap();
        d.sync("a").unwrap();
        d.sync_dir().unwrap();
        assert_eq!(d.read("a").unwrap(), b"1234");
        assert_eq!(d.read("b").unwrap(), b"");
        assert_eq!(d.list().unwrap(), vec!["a".to_string(), "b".to_string()]);
    });
}

#[test]
fn create_refuses_an_existing_name() {
    each_disk(|d| {
        d.create("a").unwrap();
        assert!(matches!(d.create("a"), Err(DiskError::AlreadyExists { op: "create", .. })));
    });
}

#[test]
fn missing_files_are_not_found() {
    each_disk(|d| {
        assert!(matches!(d.read("nope"), Err(DiskError::NotFound { .. })));
        assert!(matches!(d.append("nope", b"x"), Err(DiskError::NotFound { .. })));
        assert!(matches!(d.remove("nope"), Err(DiskError::NotFound { .. })));
        assert!(matches!(d.rename("nope", "other"), Err(DiskError::NotFound { .. })));
    });
}

#[test]
fn truncate_then_append_continues_at_the_new_end() {
    each_disk(|d| {
        d.create("w").unwrap();
        d.append("w", b"abcdef").unwrap();
        d.truncate("w", 2).unwrap();
        d.append("w", b"Z").unwrap();
        d.sync("w").unwrap();
        assert_eq!(d.read("w").unwrap(), b"abZ");
    });
}

#[test]
fn rename_replaces_the_target_and_remove_deletes() {
    each_disk(|d| {
        d.create("t").unwrap();
        d.append("t", b"old").unwrap();
        d.create("t.tmp").unwrap();
        d.append("t.tmp", b"new").unwrap();
        d.rename("t.tmp", "t").unwrap();
        assert_eq!(d.read("t").unwrap(), b"new");
        assert_eq!(d.list().unwrap(), vec!["t".to_string()]);
        // Appending after a rename goes to the renamed file.
        d.append("t", b"!").unwrap();
        assert_eq!(d.read("t").unwrap(), b"new!");
        d.remove("t").unwrap();
        d.sync_dir().unwrap();
        assert!(d.list().unwrap().is_empty());
        assert_eq!(d.take_latency(), std::time::Duration::ZERO);
    });
}

#[test]
#[should_panic(expected = "bad file name")]
fn path_separators_are_refused() {
    SimDisk::new(0).create("../escape").unwrap();
}
