//! Durability: everything a member keeps on disk, below the driver.
//!
//! - [`log_store`]: the [`LogStore`](log_store::LogStore) trait, what the driver needs from the
//!   Raft log's storage, and [`MemLog`](log_store::MemLog) for tests;
//! - [`disk`]: the disk seam (the only code that touches files), real and simulated;
//! - [`wal`]: the write-ahead log (checksummed records in segment files);
//! - [`snapshot`]: snapshot files, written atomically;
//! - [`wal_log`]: [`WalLog`](wal_log::WalLog), the durable `LogStore` over the WAL and snapshot
//!   files, with recovery.
//!
//! Nothing here knows what an entry or a snapshot's bytes mean: that is [`crate::state`]'s.

pub mod disk;
pub mod log_store;
pub mod snapshot;
pub mod wal;
pub mod wal_log;
