//! The crate's I/O seam: the only module that reads the clock or the file system.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::linearizability::Deadline;

/// A deadline on the wall clock.
pub struct WallClockDeadline {
    at: Option<Instant>,
}

impl WallClockDeadline {
    /// Expires `budget` from now. A budget too large to represent never expires.
    pub fn after(budget: Duration) -> Self {
        WallClockDeadline {
            at: Instant::now().checked_add(budget),
        }
    }
}

impl Deadline for WallClockDeadline {
    fn expired(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }
}

/// Reads a whole history file.
pub(crate) fn read_text(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}
