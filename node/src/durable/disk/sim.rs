//! [`SimDisk`]: a simulated disk that forgets what was not synced, and other faults.
//!
//! madsim's own file system makes every write durable at once (STACK.md), so it cannot show whether
//! a node syncs what it must. This disk keeps, for every file, what reads see apart from what
//! survives a crash, and the directory as the running node sees it apart from the directory as of
//! the last `sync_dir`. The simulator owns each node's `SimDisk` (a cheap `Clone` of one shared
//! state) and hands the same disk to every incarnation of the node, as a machine's disk outlives its
//! process.
//!
//! # Fault contract
//! What it injects:
//! - **Crash** ([`SimDisk::crash`], called after the simulator kills the node). With
//!   [`CrashMode::LoseUnsynced`], every file reverts to its last synced contents and the directory
//!   to its last synced entries: a file created (or renamed) since the last `sync_dir` is gone, a
//!   file removed since then is back. With [`CrashMode::Torn`], some of the unsynced work survives,
//!   as on a real machine whose page cache was partly written back: each file whose unsynced change
//!   is an append keeps its synced bytes plus a prefix of the appended ones that ends at a 512-byte
//!   sector boundary (possibly none, possibly all); a file changed in any other way reverts; and a
//!   prefix of the unsynced directory operations (in the order they were made) survives. Every
//!   choice comes from the RNG seeded by the caller.
//! - **Failed fsync** ([`SimDisk::fail_syncs`]): the next `n` calls of `sync` or `sync_dir` return
//!   an error; what they would have made durable stays unsynced.
//! - **Corrupt reads** ([`SimDisk::corrupt_read`]): reads of a file return one byte XORed with a
//!   mask, as a disk that returns bad data without an error would; the stored bytes are untouched
//!   and the fault lasts (across crashes) until [`SimDisk::clear_read_faults`].
//! - **Latency** ([`SimDisk::set_latency`]): each operation owes simulated time, which the caller
//!   sleeps off through [`Disk::take_latency`] (see the `disk` module doc).
//!
//! What the cluster must survive:
//! - Any node, any subset of nodes, or all nodes crashing at any moment in either mode, any number
//!   of times: no write acknowledged to a client is lost, no node breaks a Raft promise (a vote, an
//!   acknowledged append), and each restarted node recovers from what it had synced, cutting off a
//!   torn record at the end of its log.
//! - A failed fsync: the node stops instead of going on with data it cannot vouch for; restarted, it
//!   recovers from what is durable.
//! - A corrupt read of a WAL record or snapshot: the node refuses to start with an error naming the
//!   file and offset; it never starts with silently wrong data. The cluster stays available while a
//!   majority of nodes is healthy.
//! - Latency: the cluster only gets slower.
//!
//! Out of scope:
//! - Corruption that the CRC-32C checksums miss (about 1 in 2^32 per record).
//! - Misdirected or lost writes (a write landing at the wrong place, or acknowledged but never
//!   done), and a disk whose fsync lies: nothing defends against these on every node at once.
//! - Unsynced sectors of one file persisting out of order (a later sector durable while an earlier
//!   one is not): a crash keeps a prefix. The WAL would see such a hole as corruption and refuse
//!   to start (safe, but not exercised here).
//! - Write errors (disk full): `append`, `create`, `rename` and `remove` always succeed.
//! - Loss of a whole disk (that node would have to rejoin as a new member; membership changes are
//!   not supported yet).
//!
//! Deterministic: `BTreeMap`s only, no clock, and randomness only from the seed given to
//! [`SimDisk::new`].

use super::{check_name, Disk, DiskError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The unit a torn write is cut at, in bytes.
pub const SECTOR_BYTES: usize = 512;

/// What survives a crash beyond what was synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Nothing: every unsynced change is lost.
    LoseUnsynced,
    /// A random, sector-aligned prefix of each file's unsynced appends and a random prefix of the
    /// unsynced directory operations (module doc).
    Torn,
}

/// Simulated time each kind of operation takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimLatency {
    /// Every operation (read, append, create, rename, ...).
    pub op: Duration,
    /// Added for each `sync` and `sync_dir`.
    pub sync: Duration,
}

/// What a disk has been through, for reports and assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimDiskStats {
    pub syncs: u64,
    pub syncs_failed: u64,
    pub crashes: u64,
    /// Unsynced bytes that crashes threw away.
    pub bytes_lost: u64,
    /// Unsynced bytes that crashes kept (torn writes).
    pub bytes_torn_kept: u64,
}

/// A simulated disk: one directory. `Clone` shares the disk (see the module doc).
#[derive(Clone, Debug)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// The directory as the running node sees it.
    names: BTreeMap<String, u64>,
    /// The directory as of the last `sync_dir`: what a crash restores.
    names_durable: BTreeMap<String, u64>,
    /// Directory operations since the last `sync_dir`, oldest first.
    /// Invariant: applying them in order to `names_durable` gives `names`.
    dir_ops: Vec<DirOp>,
    rng: StdRng,
    syncs_to_fail: u32,
    read_faults: Vec<ReadFault>,
    latency: SimLatency,
    owed: Duration,
    stats: SimDiskStats,
}

/// A file's contents.
/// - `data` is what reads see; `durable` is what a crash leaves (as of the last successful sync).
#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Create { name: String, inode: u64 },
    Rename { from: String, to: String, inode: u64 },
    Remove { name: String },
}

impl DirOp {
    fn apply(&self, names: &mut BTreeMap<String, u64>) {
        match self {
            DirOp::Create { name, inode } => {
                names.insert(name.clone(), *inode);
            }
            DirOp::Rename { from, to, inode } => {
                names.remove(from);
                names.insert(to.clone(), *inode);
            }
            DirOp::Remove { name } => {
                names.remove(name);
            }
        }
    }
}

#[derive(Clone, Debug)]
struct ReadFault {
    name: String,
    offset: u64,
    xor: u8,
}

impl SimDisk {
    /// An empty disk whose crash choices come from `seed`.
    pub fn new(seed: u64) -> SimDisk {
        SimDisk {
            state: Arc::new(Mutex::new(State {
                inodes: BTreeMap::new(),
                next_inode: 1,
                names: BTreeMap::new(),
                names_durable: BTreeMap::new(),
                dir_ops: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
                syncs_to_fail: 0,
                read_faults: Vec::new(),
                latency: SimLatency::default(),
                owed: Duration::ZERO,
                stats: SimDiskStats::default(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("sim disk lock")
    }

    /// The machine lost power: drops what was not synced (module doc). Call it after the node's
    /// process is gone; the next incarnation sees the disk as a rebooted machine would.
    pub fn crash(&self, mode: CrashMode) {
        let mut s = self.lock();
        let s = &mut *s;
        s.stats.crashes += 1;
        let kept_ops = match mode {
            CrashMode::LoseUnsynced => 0,
            CrashMode::Torn => s.rng.gen_range(0..=s.dir_ops.len()),
        };
        let mut names = s.names_durable.clone();
        for op in &s.dir_ops[..kept_ops] {
            op.apply(&mut names);
        }
        s.dir_ops.clear();
        s.names_durable = names.clone();
        s.names = names;
        let live: BTreeSet<u64> = s.names.values().copied().collect();
        for (ino, inode) in &s.inodes {
            if !live.contains(ino) {
                s.stats.bytes_lost += inode.data.len().saturating_sub(inode.durable.len()) as u64;
            }
        }
        s.inodes.retain(|ino, _| live.contains(ino));
        for inode in s.inodes.values_mut() {
            let synced = inode.durable.len();
            let keep = if mode == CrashMode::Torn && inode.data.len() > synced && inode.data.starts_with(&inode.durable) {
                tear_point(&mut s.rng, synced, inode.data.len())
            } else {
                synced
            };
            if inode.data.len() > synced && inode.data.starts_with(&inode.durable) {
                s.stats.bytes_torn_kept += (keep - synced) as u64;
                s.stats.bytes_lost += (inode.data.len() - keep) as u64;
                inode.data.truncate(keep);
            } else {
                inode.data = inode.durable.clone();
            }
            inode.durable = inode.data.clone();
        }
        s.owed = Duration::ZERO;
    }

    /// Makes the next `n` calls of `sync` or `sync_dir` fail.
    pub fn fail_syncs(&self, n: u32) {
        self.lock().syncs_to_fail = n;
    }

    /// From now on, reads of `name` return the byte at `offset` XORed with `xor` (module doc).
    ///
    /// # Panics
    /// If `xor` is 0 (that would corrupt nothing).
    pub fn corrupt_read(&self, name: &str, offset: u64, xor: u8) {
        check_name(name);
        assert_ne!(xor, 0, "a corrupt read must flip at least one bit");
        self.lock().read_faults.push(ReadFault { name: name.to_string(), offset, xor });
    }

    /// Removes every read fault.
    pub fn clear_read_faults(&self) {
        self.lock().read_faults.clear();
    }

    /// Sets the simulated time operations take from now on.
    pub fn set_latency(&self, latency: SimLatency) {
        self.lock().latency = latency;
    }

    /// What this disk has been through.
    pub fn stats(&self) -> SimDiskStats {
        self.lock().stats
    }

    /// The length a crash now would leave `name` at with [`CrashMode::LoseUnsynced`], or `None` if
    /// a crash now would leave no file of that name.
    pub fn durable_len(&self, name: &str) -> Option<u64> {
        let s = self.lock();
        let ino = s.names_durable.get(name)?;
        Some(s.inodes[ino].durable.len() as u64)
    }

    /// Bytes that a crash now would lose from files still named after it (unsynced appends).
    pub fn unsynced_bytes(&self) -> u64 {
        let s = self.lock();
        s.inodes.values().map(|i| i.data.len().saturating_sub(i.durable.len()) as u64).sum()
    }
}

/// Where a torn write ends: the synced length, a sector boundary strictly inside the unsynced
/// bytes, or their end, each equally likely.
fn tear_point(rng: &mut StdRng, synced: usize, len: usize) -> usize {
    let first_boundary = (synced / SECTOR_BYTES + 1) * SECTOR_BYTES;
    let mut points = vec![synced];
    points.extend((first_boundary..len).step_by(SECTOR_BYTES));
    points.push(len);
    points[rng.gen_range(0..points.len())]
}

impl State {
    fn charge(&mut self, sync: bool) {
        self.owed += self.latency.op;
        if sync {
            self.owed += self.latency.sync;
        }
    }

    fn ino(&self, op: &'static str, name: &str) -> Result<u64, DiskError> {
        check_name(name);
        self.names.get(name).copied().ok_or_else(|| DiskError::NotFound { op, name: name.to_string() })
    }

    /// The file called `name`, after charging one operation's latency.
    fn inode_mut(&mut self, op: &'static str, name: &str) -> Result<&mut Inode, DiskError> {
        self.charge(false);
        let ino = self.ino(op, name)?;
        Ok(self.inodes.get_mut(&ino).expect("every name has an inode"))
    }

    /// Whether this sync is one the test asked to fail.
    fn sync_fails(&mut self) -> bool {
        self.stats.syncs += 1;
        if self.syncs_to_fail > 0 {
            self.syncs_to_fail -= 1;
            self.stats.syncs_failed += 1;
            true
        } else {
            false
        }
    }

    fn dir_op(&mut self, op: DirOp) {
        op.apply(&mut self.names);
        self.dir_ops.push(op);
    }
}

impl Disk for SimDisk {
    fn list(&self) -> Result<Vec<String>, DiskError> {
        let mut s = self.lock();
        s.charge(false);
        Ok(s.names.keys().cloned().collect())
    }

    fn create(&self, name: &str) -> Result<(), DiskError> {
        check_name(name);
        let mut s = self.lock();
        s.charge(false);
        if s.names.contains_key(name) {
            return Err(DiskError::AlreadyExists { op: "create", name: name.to_string() });
        }
        let inode = s.next_inode;
        s.next_inode += 1;
        s.inodes.insert(inode, Inode::default());
        s.dir_op(DirOp::Create { name: name.to_string(), inode });
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, DiskError> {
        let mut s = self.lock();
        let mut data = s.inode_mut("read", name)?.data.clone();
        for f in s.read_faults.iter().filter(|f| f.name == name) {
            if let Some(b) = usize::try_from(f.offset).ok().and_then(|o| data.get_mut(o)) {
                *b ^= f.xor;
            }
        }
        Ok(data)
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<(), DiskError> {
        self.lock().inode_mut("append", name)?.data.extend_from_slice(data);
        Ok(())
    }

    fn truncate(&self, name: &str, len: u64) -> Result<(), DiskError> {
        let mut s = self.lock();
        let inode = s.inode_mut("truncate", name)?;
        let len = usize::try_from(len).expect("length fits in memory");
        assert!(len <= inode.data.len(), "truncate {name} to {len} bytes, longer than its {} bytes", inode.data.len());
        inode.data.truncate(len);
        Ok(())
    }

    fn sync(&self, name: &str) -> Result<(), DiskError> {
        let mut s = self.lock();
        s.charge(true);
        let ino = s.ino("sync", name)?;
        if s.sync_fails() {
            return Err(DiskError::Injected { op: "sync", name: name.to_string() });
        }
        let inode = s.inodes.get_mut(&ino).expect("every name has an inode");
        inode.durable = inode.data.clone();
        Ok(())
    }

    fn sync_dir(&self) -> Result<(), DiskError> {
        let mut s = self.lock();
        s.charge(true);
        if s.sync_fails() {
            return Err(DiskError::Injected { op: "sync_dir", name: ".".to_string() });
        }
        s.names_durable = s.names.clone();
        s.dir_ops.clear();
        // Files no name reaches any more, now or after a crash, are gone for good.
        let State { inodes, names, .. } = &mut *s;
        let live: BTreeSet<u64> = names.values().copied().collect();
        inodes.retain(|ino, _| live.contains(ino));
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        check_name(from);
        check_name(to);
        let mut s = self.lock();
        s.charge(false);
        let inode = *s.names.get(from).ok_or_else(|| DiskError::NotFound { op: "rename", name: from.to_string() })?;
        if from != to {
            s.dir_op(DirOp::Rename { from: from.to_string(), to: to.to_string(), inode });
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), DiskError> {
        check_name(name);
        let mut s = self.lock();
        s.charge(false);
        if !s.names.contains_key(name) {
            return Err(DiskError::NotFound { op: "remove", name: name.to_string() });
        }
        s.dir_op(DirOp::Remove { name: name.to_string() });
        Ok(())
    }

    fn take_latency(&self) -> Duration {
        std::mem::take(&mut self.lock().owed)
    }
}

#[cfg(test)]
mod tests;
