//! [`RealDisk`]: the disk seam over `std::fs`, one directory.

use super::{check_name, Disk, DiskError};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Files open for appending at most; past this the least recently opened is closed. The WAL keeps
/// one segment open, the snapshot store one temporary file, so a handful is plenty.
const OPEN_FILES_MAX: usize = 8;

/// A directory on a real file system.
///
/// Appends go through file handles kept open between calls (opening a file per WAL append would
/// cost more than the write). A handle is dropped when its file is renamed or removed.
#[derive(Debug)]
pub struct RealDisk {
    root: PathBuf,
    open: Mutex<Handles>,
}

/// Open append handles by file name, each with the order it was opened in (for eviction).
#[derive(Debug, Default)]
struct Handles {
    files: BTreeMap<String, (u64, File)>,
    opened: u64,
}

impl Handles {
    fn insert(&mut self, name: &str, file: File) {
        if self.files.len() >= OPEN_FILES_MAX {
            let oldest = self.files.iter().min_by_key(|(_, (at, _))| *at).map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                self.files.remove(&oldest);
            }
        }
        self.opened += 1;
        self.files.insert(name.to_string(), (self.opened, file));
    }
}

impl RealDisk {
    /// Opens the directory `root`, creating it (and its parents) if needed. A created directory is
    /// made durable in its parent.
    ///
    /// # Errors
    /// `DiskError::Io` if the directory cannot be created or synced.
    pub fn open(root: impl Into<PathBuf>) -> Result<RealDisk, DiskError> {
        let root = root.into();
        let shown = root.display().to_string();
        if !root.is_dir() {
            // Private, as etcd makes its data directory (0700; files 0600, see `create`).
            fs::DirBuilder::new().recursive(true).mode(0o700).create(&root).map_err(|e| io_err("create_dir", &shown, e))?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir_at(parent).map_err(|e| io_err("sync_dir", &parent.display().to_string(), e))?;
            }
        }
        Ok(RealDisk { root, open: Mutex::new(Handles::default()) })
    }

    /// The directory this disk lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        check_name(name);
        self.root.join(name)
    }

    /// Runs `f` on the cached append handle of `name`, opening it first if needed.
    fn with_handle<T>(&self, op: &'static str, name: &str, f: impl FnOnce(&mut File) -> io::Result<T>) -> Result<T, DiskError> {
        let mut open = self.open.lock().expect("disk lock");
        if !open.files.contains_key(name) {
            let file = OpenOptions::new().append(true).open(self.path(name)).map_err(|e| io_err(op, name, e))?;
            open.insert(name, file);
        }
        let (_, file) = open.files.get_mut(name).expect("handle just inserted");
        f(file).map_err(|e| io_err(op, name, e))
    }

    fn forget(&self, name: &str) {
        self.open.lock().expect("disk lock").files.remove(name);
    }
}

fn io_err(op: &'static str, name: &str, source: io::Error) -> DiskError {
    match source.kind() {
        io::ErrorKind::NotFound => DiskError::NotFound { op, name: name.to_string() },
        io::ErrorKind::AlreadyExists => DiskError::AlreadyExists { op, name: name.to_string() },
        _ => DiskError::Io { op, name: name.to_string(), source },
    }
}

/// fsync of a directory: on Linux, open it read-only and `fsync` the descriptor.
fn sync_dir_at(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Disk for RealDisk {
    fn list(&self) -> Result<Vec<String>, DiskError> {
        let shown = self.root.display().to_string();
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| io_err("list", &shown, e))? {
            let entry = entry.map_err(|e| io_err("list", &shown, e))?;
            let is_file = entry.file_type().map_err(|e| io_err("list", &shown, e))?.is_file();
            // Names that are not UTF-8 are not ours; leave them alone.
            if let (true, Ok(name)) = (is_file, entry.file_name().into_string()) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn create(&self, name: &str) -> Result<(), DiskError> {
        let file =
            OpenOptions::new().append(true).create_new(true).mode(0o600).open(self.path(name)).map_err(|e| io_err("create", name, e))?;
        self.open.lock().expect("disk lock").insert(name, file);
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, DiskError> {
        fs::read(self.path(name)).map_err(|e| io_err("read", name, e))
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<(), DiskError> {
        self.with_handle("append", name, |f| f.write_all(data))
    }

    fn truncate(&self, name: &str, len: u64) -> Result<(), DiskError> {
        self.with_handle("truncate", name, |f| {
            let now = f.metadata()?.len();
            assert!(len <= now, "truncate {name} to {len} bytes, longer than its {now} bytes");
            f.set_len(len)
        })
    }

    fn sync(&self, name: &str) -> Result<(), DiskError> {
        // fdatasync also flushes the file length, which is all the metadata reading the data back
        // needs; mtime is not worth a journal commit.
        self.with_handle("sync", name, |f| f.sync_data())
    }

    fn sync_dir(&self) -> Result<(), DiskError> {
        sync_dir_at(&self.root).map_err(|e| io_err("sync_dir", &self.root.display().to_string(), e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        self.forget(from);
        self.forget(to);
        fs::rename(self.path(from), self.path(to)).map_err(|e| io_err("rename", from, e))
    }

    fn remove(&self, name: &str) -> Result<(), DiskError> {
        self.forget(name);
        fs::remove_file(self.path(name)).map_err(|e| io_err("remove", name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_nested_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = RealDisk::open(tmp.path().join("a/b/member")).unwrap();
        assert!(disk.root().is_dir());
        assert_eq!(disk.list().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn many_files_evict_handles_and_still_append() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = RealDisk::open(tmp.path()).unwrap();
        let names: Vec<String> = (0..3 * OPEN_FILES_MAX).map(|i| format!("f{i:02}")).collect();
        for name in &names {
            disk.create(name).unwrap();
        }
        for round in 0..2u8 {
            for name in &names {
                disk.append(name, &[round]).unwrap();
                disk.sync(name).unwrap();
            }
        }
        for name in &names {
            assert_eq!(disk.read(name).unwrap(), vec![0, 1], "{name}");
        }
        assert!(disk.open.lock().unwrap().files.len() <= OPEN_FILES_MAX);
    }

    #[test]
    fn files_written_through_the_disk_are_plain_files() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = RealDisk::open(tmp.path()).unwrap();
        disk.create("x.tmp").unwrap();
        disk.append("x.tmp", b"hello").unwrap();
        disk.sync("x.tmp").unwrap();
        disk.rename("x.tmp", "x").unwrap();
        disk.sync_dir().unwrap();
        assert_eq!(fs::read(tmp.path().join("x")).unwrap(), b"hello");
        assert!(!tmp.path().join("x.tmp").exists());
    }
}
