//! When a search must give up and answer "unknown".
//!
//! The search never reads a clock itself: it asks a [`Deadline`] every few hundred steps. The
//! wall-clock deadline lives in the crate's I/O seam ([`crate::io::WallClockDeadline`]); tests
//! use the fixed ones here and stay deterministic.

/// Something the search polls to learn whether its time is up.
pub trait Deadline: Sync {
    fn expired(&self) -> bool;
}

/// Never expires: the search runs to an answer however long it takes.
pub struct NoDeadline;

impl Deadline for NoDeadline {
    fn expired(&self) -> bool {
        false
    }
}

/// Has already expired: any search that has work to do answers "unknown".
pub struct Expired;

impl Deadline for Expired {
    fn expired(&self) -> bool {
        true
    }
}
